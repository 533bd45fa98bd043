"""The scoring gateway: an endpoint's stable URL in front of its deployments' scoring servers.

A request is checked against the endpoint's keys, sent to one deployment chosen by the traffic weights (round robin
over that deployment's instances), and answered with the scoring server's own status, headers and body, so MLflow's
``{"error_code", "message"}`` comes through as the server wrote it. An instance that refuses the connection is
skipped for the next one, then for the next deployment; when none answers, the endpoint is unavailable (503).
A copy of each request goes to the mirror deployment, if there is one, from a small thread pool, and its answer is
only logged. Every request leaves a ``RequestLog`` row, written in batches by a background thread.

The routing table of an endpoint (keys, weights, URLs) is read from the database at most once per
``STUDIO_GATEWAY_CACHE_SECONDS`` (1 s) per process: a change of traffic, keys or health reaches every web process
within that time, and a request costs no query.
"""

from __future__ import annotations

import itertools
import logging
import os
import queue
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

import urllib3
from django.conf import settings
from django.db import close_old_connections, connection

from deployments.models import Deployment, DeploymentStatus, Endpoint, RequestLog
from deployments.services.endpoints import check_key
from studio.errors import StudioError

log = logging.getLogger(__name__)
# A deployment answers while healthy, and while updating: its old servers serve until the new ones take over.
SERVING = frozenset({DeploymentStatus.HEALTHY, DeploymentStatus.UPDATING})
# Headers of the scoring server's answer that the gateway passes on; hop-by-hop ones are the server's business.
PASSED_HEADERS = ("Content-Type",)
DEPLOYMENT_HEADER = "X-Studio-Deployment"


def cache_seconds() -> float:
    return float(getattr(settings, "STUDIO_GATEWAY_CACHE_SECONDS", 1.0))


def request_timeout() -> float:
    """Seconds a scoring server may take to answer one request before the gateway answers 504."""
    return float(getattr(settings, "STUDIO_GATEWAY_TIMEOUT", 60.0))


class GatewayError(StudioError):
    """A request the gateway cannot pass on: no key, a wrong key, no serving deployment, a timeout."""


@dataclass
class Target:
    """One deployment as the gateway routes to it."""

    id: int
    name: str
    weight: int
    urls: list[str]
    status: str
    counter: itertools.count = field(default_factory=itertools.count)

    def next_urls(self) -> list[str]:
        """The instances in round-robin order, starting one further than last time."""
        if not self.urls:
            return []
        start = next(self.counter) % len(self.urls)
        return self.urls[start:] + self.urls[:start]


@dataclass
class Route:
    """An endpoint's routing table: its keys' hashes and its deployments."""

    endpoint: Endpoint
    targets: dict[str, Target]
    mirror: Target | None
    loaded_at: float

    def weighted(self) -> list[Target]:
        """The deployments that take traffic, in the order to try them: one drawn by weight first, then the others
        by weight (the fallbacks when the first one's instances refuse)."""
        candidates = [t for t in self.targets.values() if t.weight > 0 and t.urls and t.status in SERVING]
        if len(candidates) <= 1:
            return candidates
        first = random.choices(candidates, weights=[t.weight for t in candidates])[0]
        rest = sorted((t for t in candidates if t is not first), key=lambda t: -t.weight)
        return [first, *rest]

    def unavailable_message(self) -> str:
        states = ", ".join(f"{t.name} ({t.status})" for t in self.targets.values()) or "none"
        return f"Endpoint '{self.endpoint.name}' has no deployment that can answer now; its deployments: {states}"


class Routes:
    """The per-process cache of routing tables."""

    def __init__(self) -> None:
        self._routes: dict[str, Route] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> Route | None:
        if "\x00" in name:
            return None  # no endpoint has one (and PostgreSQL refuses it in a query)
        route = self._routes.get(name)
        if route is not None and time.monotonic() - route.loaded_at < cache_seconds():
            return route
        route = self._load(name, previous=route)
        with self._lock:
            if route is None:
                self._routes.pop(name, None)
            else:
                self._routes[name] = route
        return route

    def clear(self) -> None:
        with self._lock:
            self._routes.clear()

    @staticmethod
    def _load(name: str, previous: Route | None) -> Route | None:
        endpoint = Endpoint.objects.filter(name=name, deleting=False).first()
        if endpoint is None:
            return None
        targets: dict[str, Target] = {}
        mirror = None
        rows = Deployment.objects.filter(endpoint=endpoint).values_list(
            "id", "name", "traffic_weight", "urls", "status", "mirror"
        )
        for pk, deployment_name, weight, urls, status, is_mirror in rows:
            target = Target(pk, deployment_name, weight, list(urls or []), status)
            if previous is not None and deployment_name in previous.targets:
                target.counter = previous.targets[deployment_name].counter  # keep the round robin going
            targets[deployment_name] = target
            if is_mirror:
                mirror = target
        return Route(endpoint=endpoint, targets=targets, mirror=mirror, loaded_at=time.monotonic())


ROUTES = Routes()


@dataclass(frozen=True)
class Answer:
    """What the gateway answers: the scoring server's status, body and content type, and who answered."""

    status: int
    body: bytes
    content_type: str
    deployment: str


class RequestLogWriter:
    """Collects log records in memory and writes them in batches from one background thread per process (started
    on first use, again after a fork). A full queue drops records rather than slow scoring down."""

    def __init__(self, capacity: int = 50_000, batch: int = 1_000, interval: float = 0.5) -> None:
        self.capacity, self.batch, self.interval = capacity, batch, interval
        self._queue: queue.Queue[RequestLog] = queue.Queue(maxsize=capacity)
        self._pid = 0
        self._lock = threading.Lock()
        self._idle = threading.Event()
        self.dropped = 0

    def add(self, record: RequestLog) -> None:
        self._ensure_thread()
        try:
            self._queue.put_nowait(record)
        except queue.Full:
            self.dropped += 1

    def _ensure_thread(self) -> None:
        if self._pid == os.getpid():
            return
        with self._lock:
            if self._pid != os.getpid():
                self._queue = queue.Queue(maxsize=self.capacity)  # a forked child starts with no records
                threading.Thread(target=self._run, name="studio-request-log", daemon=True).start()
                self._pid = os.getpid()

    def _run(self) -> None:
        while True:
            records = self._take()
            if not records:
                continue
            try:
                close_old_connections()
                self._write(records)
            except Exception:
                log.exception("Could not write %d request log records", len(records))
                connection.close()
            finally:
                for _ in records:
                    self._queue.task_done()

    def _write(self, records: list[RequestLog]) -> None:
        """Insert a batch (the log's foreign keys have no database constraint: see ``RequestLog``)."""
        RequestLog.objects.bulk_create(records, batch_size=self.batch)

    def _take(self) -> list[RequestLog]:
        try:
            records = [self._queue.get(timeout=self.interval)]
        except queue.Empty:
            return []
        while len(records) < self.batch:
            try:
                records.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return records

    def flush(self) -> None:
        """Wait until every record added so far is written (tests and benchmarks)."""
        if self._pid == os.getpid():
            self._queue.join()


REQUEST_LOG = RequestLogWriter()
_pool: urllib3.PoolManager | None = None
_mirror_pool: ThreadPoolExecutor | None = None
_pool_pid = 0
MIRROR_BACKLOG = 64  # mirrored copies waiting at most; more are dropped (the mirror must never slow the endpoint)
_mirror_pending = threading.Semaphore(MIRROR_BACKLOG)


def http() -> urllib3.PoolManager:
    """Keep-alive connections to the scoring servers, one pool per process (a forked child makes its own)."""
    global _pool, _pool_pid
    if _pool is None or _pool_pid != os.getpid():
        _pool = urllib3.PoolManager(num_pools=64, maxsize=32, block=False, retries=False)
        _pool_pid = os.getpid()
    return _pool


def mirror_pool() -> ThreadPoolExecutor:
    global _mirror_pool
    if _mirror_pool is None:
        _mirror_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="studio-mirror")
    return _mirror_pool


def authenticate(name: str, authorization: str) -> Route:
    """The endpoint's route if ``authorization`` is ``Bearer <one of its keys>``; 404 for an endpoint that does not
    exist, 401 for a missing or wrong key."""
    route = ROUTES.get(name)
    if route is None:
        raise GatewayError(f"Endpoint '{name}' does not exist", "RESOURCE_DOES_NOT_EXIST")
    scheme, _, key = authorization.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise GatewayError(
            f"Endpoint '{name}' needs a key: send the header 'Authorization: Bearer <key>'", "UNAUTHENTICATED"
        )
    if not check_key(endpoint=route.endpoint, key=key.strip()):
        error = GatewayError(f"The key is not a key of endpoint '{name}'", "UNAUTHENTICATED")
        _record(route, None, error.status, time.perf_counter(), 0, 0, error=error.message)
        raise error
    return route


def route_for(name: str) -> Route:
    """The endpoint's route without a key check, for callers Studio has authenticated itself (its REST API)."""
    route = ROUTES.get(name)
    if route is None:
        raise GatewayError(f"Endpoint '{name}' does not exist", "RESOURCE_DOES_NOT_EXIST")
    return route


def score(route: Route, body: bytes, content_type: str, *, deployment: str = "") -> Answer:
    """Send a scoring request to the endpoint's deployments (or to the one named ``deployment``) and return the
    first answer; log it, and send a copy to the mirror."""
    started = time.perf_counter()
    if deployment:
        target = route.targets.get(deployment)
        if target is None:
            raise GatewayError(f"Endpoint '{route.endpoint.name}' has no deployment '{deployment}'")
        if not (target.urls and target.status in SERVING):
            raise GatewayError(f"Deployment '{deployment}' is {target.status}: it cannot answer now",
                               "TEMPORARILY_UNAVAILABLE")  # fmt: skip
        targets = [target]
    else:
        targets = route.weighted()
    headers = {"Content-Type": content_type or "application/json"}
    tried: Target | None = None
    try:
        for target in targets:
            tried = target
            for url in target.next_urls():
                try:
                    response = http().request(
                        "POST", f"{url}/invocations", body=body, headers=headers,
                        timeout=urllib3.Timeout(connect=2.0, read=request_timeout()), preload_content=True,
                    )  # fmt: skip
                except urllib3.exceptions.ReadTimeoutError:
                    raise GatewayError(
                        f"Deployment '{target.name}' did not answer within {request_timeout():g} s",
                        "DEADLINE_EXCEEDED",
                    ) from None
                except urllib3.exceptions.HTTPError:
                    continue  # refused or reset: the next instance, then the next deployment
                answer = Answer(
                    status=response.status,
                    body=response.data,
                    content_type=response.headers.get("Content-Type", "application/json"),
                    deployment=target.name,
                )
                _record(route, target, answer.status, started, len(body), len(answer.body))
                if route.mirror is not None and route.mirror is not target and not deployment:
                    _send_mirror(route, route.mirror, body, headers)
                return answer
        raise GatewayError(route.unavailable_message(), "TEMPORARILY_UNAVAILABLE")
    except GatewayError as error:
        _record(route, tried, error.status, started, len(body), 0, error=error.message)
        raise


def _record(
    route: Route, target: Target | None, status: int, started: float, size_in: int, size_out: int, *,
    mirror: bool = False, error: str = "",
) -> None:  # fmt: skip
    REQUEST_LOG.add(
        RequestLog(
            endpoint_id=route.endpoint.pk,
            deployment_id=target.id if target else None,
            deployment_name=target.name if target else "",
            time=datetime.now(tz=UTC),
            status=status,
            latency_ms=(time.perf_counter() - started) * 1000,
            request_bytes=size_in,
            response_bytes=size_out,
            mirror=mirror,
            error=error[:200],
        )
    )


def _send_mirror(route: Route, target: Target, body: bytes, headers: dict[str, str]) -> None:
    if not (target.urls and target.status in SERVING) or not _mirror_pending.acquire(blocking=False):
        return

    def send() -> None:
        started = time.perf_counter()
        try:
            url = target.next_urls()[0]
            response = http().request(
                "POST", f"{url}/invocations", body=body, headers=headers,
                timeout=urllib3.Timeout(connect=2.0, read=request_timeout()),
            )  # fmt: skip
            _record(route, target, response.status, started, len(body), len(response.data), mirror=True)
        except urllib3.exceptions.HTTPError as error:
            _record(route, target, 503, started, len(body), 0, mirror=True, error=str(error))
        finally:
            _mirror_pending.release()

    mirror_pool().submit(send)
