"""What the Celery tasks do: claim a deployment with a conditional UPDATE, drive its runtime, record each step.

A claim is ``claimed_by``/``claimed_at`` set by an UPDATE that matches only a row in an expected status with no live
claim (or one older than the lease). So a duplicated task finds nothing to claim, and a worker killed mid-build
leaves a claim that expires: the retried task, or the periodic ``recover_stale_deployments``, takes it over. Every
later write of the worker is conditional on its claim too; the claim is renewed at each step, each line the runtime
reports, each health probe and by a heartbeat thread while the runtime works, so the lease can be short (60 s): a
killed worker's deployment is taken over within a minute or two. A worker whose claim was revoked (a stop or delete
meanwhile) gives up.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import threading
import time
import traceback
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import F, Q
from django.utils import timezone

from deployments.models import Deployment, DeploymentEvent, DeploymentStatus
from deployments.runtimes.base import DeploymentSpec, Runtime, RuntimeFailure, RuntimeStatus
from deployments.runtimes.registry import get_runtime
from deployments.services.changes import enqueue, record_event
from registry.models import ModelVersion, Stage
from studio.errors import StudioError
from tracking.artifacts import ArtifactStore, get_artifact_store

log = logging.getLogger(__name__)
Status = DeploymentStatus
Kind = DeploymentEvent.Kind
RUNNING = frozenset({Status.QUEUED, Status.BUILDING, Status.STARTING, Status.UPDATING})


def lease() -> timedelta:
    """How long a claim holds without renewal before another worker may take the row over."""
    return timedelta(seconds=float(getattr(settings, "STUDIO_DEPLOYMENT_LEASE_SECONDS", 60)))


def heartbeat_interval() -> float:
    """How often a working worker renews its claim: a few times per lease, so one slow write never loses it."""
    return float(getattr(settings, "STUDIO_DEPLOYMENT_HEARTBEAT_SECONDS", 0) or lease().total_seconds() / 4)


def start_timeout() -> float:
    return float(getattr(settings, "STUDIO_DEPLOYMENT_START_TIMEOUT", 300))


def poll_interval() -> float:
    return float(getattr(settings, "STUDIO_DEPLOYMENT_POLL_INTERVAL", 0.5))


class LostClaim(Exception):
    """Another worker, a stop or a delete took the row: this worker stops touching it."""


def claim(*, deployment_id: int, statuses: frozenset[str], worker: str = "") -> str | None:
    """Claim a deployment in one of ``statuses`` with no live claim; the claim's token, or None when not claimed."""
    token = worker or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    now = timezone.now()
    previous = Deployment.objects.filter(pk=deployment_id).values_list("claimed_by", flat=True).first()
    free = Q(claimed_by="") | Q(claimed_at__lt=now - lease())
    claimed = Deployment.objects.filter(free, pk=deployment_id, status__in=statuses).update(
        claimed_by=token, claimed_at=now, attempt=F("attempt") + 1
    )
    if not claimed:
        return None
    if previous:
        record_event(deployment=deployment_id, kind=Kind.RECOVERED, message=f"Took over the stale claim of {previous}")
    return token


class Job:
    """A worker's hold on one claimed deployment: conditional writes and events."""

    def __init__(self, deployment: Deployment, token: str) -> None:
        self.deployment, self.token = deployment, token
        self.lost = False

    def write(self, *, release: bool = False, **fields: Any) -> None:
        """Update the row if the claim is still ours (renewing it, or releasing it), else raise LostClaim."""
        claim_fields = {"claimed_by": "", "claimed_at": None} if release else {"claimed_at": timezone.now()}
        updated = Deployment.objects.filter(pk=self.deployment.pk, claimed_by=self.token).update(
            **fields, **claim_fields, updated_at=timezone.now()
        )
        if not updated:
            raise LostClaim(self.deployment.pk)
        for name, value in fields.items():
            setattr(self.deployment, name, value)

    def renew(self) -> None:
        """Renew the claim only (the heartbeat's write); LostClaim when it is no longer ours."""
        if not Deployment.objects.filter(pk=self.deployment.pk, claimed_by=self.token).update(
            claimed_at=timezone.now()
        ):
            raise LostClaim(self.deployment.pk)

    @contextlib.contextmanager
    def heartbeat(self) -> Iterator[None]:
        """Renew the claim from a thread while the runtime works: a build may print nothing for minutes (a large
        wheel downloading), and the lease can stay short, so that a killed worker's row is taken over soon."""
        stopped = threading.Event()

        def beat() -> None:
            try:
                while not stopped.wait(heartbeat_interval()):
                    try:
                        self.renew()
                    except LostClaim:
                        self.lost = True
                        return
                    except Exception:  # a database hiccup: the next beat tries again, the lease has slack
                        log.warning("Heartbeat of deployment %s failed", self.deployment.pk, exc_info=True)
            finally:
                connection.close()  # this thread's own connection

        thread = threading.Thread(target=beat, name=f"heartbeat-{self.deployment.pk}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stopped.set()
            thread.join()

    def step(self, status: str, kind: str, message: str, **fields: Any) -> None:
        """Move to ``status`` with an event."""
        self.write(status=status, status_message=message, **fields)
        record_event(deployment=self.deployment, kind=kind, message=message)

    def log(self, line: str) -> None:
        """The runtime's progress: an event per line, and the claim renewed. Never raises into the runtime (an
        exception in the middle of an install could leave its process behind): a lost claim stops the lines, and
        the next step's write raises LostClaim once the runtime's call has returned."""
        if self.lost:
            return
        try:
            self.write()
        except LostClaim:
            self.lost = True
            return
        record_event(deployment=self.deployment, kind=Kind.LOG, message=line.rstrip("\n")[:10_000])


def _load(deployment_id: int) -> Deployment:
    return Deployment.objects.select_related("endpoint", "model_version__registered_model").get(pk=deployment_id)


def spec_for(deployment: Deployment, model_dir: Path) -> DeploymentSpec:
    """The runtime's view of a deployment; names cannot hold "--", so ``<endpoint>--<deployment>`` is unique."""
    return DeploymentSpec(
        deployment_id=deployment.pk,
        name=f"{deployment.endpoint.name}--{deployment.name}",
        model_dir=model_dir,
        instances=deployment.instances,
    )


def download_version(version: ModelVersion | None, *, label: str) -> Path:
    """The version's files in a local folder, ``DATA_DIR/models/<storage path>``: a storage path names files that
    never change, so a folder that is there is complete (it appears by an atomic rename) and is reused."""
    trashed = version is not None and version.registered_model.deleted_timestamp is not None
    if version is None or version.current_stage == Stage.DELETED or trashed or not version.storage_path:
        raise RuntimeFailure(f"Model version {label} was deleted from the registry: its files are gone")
    target = Path(settings.DATA_DIR) / "models" / version.storage_path
    if target.is_dir():
        return target
    partial = target.with_name(f".partial-{target.name}-{uuid.uuid4().hex[:8]}")
    try:
        _copy_tree(get_artifact_store(), version.storage_path, partial)
        try:
            partial.rename(target)
        except OSError:
            if not target.is_dir():  # not another worker's finished copy: a real error
                raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return target


def _copy_tree(store: ArtifactStore, folder: str, destination: Path) -> None:
    destination.mkdir(parents=True, exist_ok=True)
    for entry in store.list(folder):
        source = f"{folder}/{entry.name}"
        if entry.is_dir:
            _copy_tree(store, source, destination / entry.name)
            continue
        chunks = store.open(source)
        try:
            with (destination / entry.name).open("wb") as out:
                for chunk in chunks:
                    out.write(chunk)
        finally:
            if close := getattr(chunks, "close", None):
                close()


def run_deployment(*, deployment_id: int) -> str | None:
    """Build and start a queued or updating deployment (or take over a stale one) until healthy or failed; the
    final status, or None when the row was not this worker's to take (a duplicate task) or was taken away."""
    token = claim(deployment_id=deployment_id, statuses=RUNNING)
    if token is None:
        return None
    job = Job(_load(deployment_id), token)
    handle = job.deployment.handle
    try:
        with job.heartbeat():
            handle = _build_and_start(job)
            state = _wait_healthy(get_runtime(job.deployment.runtime), handle, job)
        urls = ", ".join(state.urls)
        job.write(release=True, status=Status.HEALTHY, status_message=state.message or "Healthy", urls=state.urls,
                  previous=None)  # fmt: skip
        record_event(deployment=job.deployment, kind=Kind.HEALTHY, message=f"Healthy at {urls}")
    except LostClaim:
        log.info("Deployment %s was taken from this worker", deployment_id)
        return None
    except (RuntimeFailure, StudioError) as failure:
        _fail_or_roll_back(job, handle, failure.message, getattr(failure, "details", ""))
    except Exception as error:  # a bug or a lost service: fail visibly rather than leave a row that looks busy
        log.exception("Deployment %s failed", deployment_id)
        _fail_or_roll_back(job, handle, f"Internal error: {error}", traceback.format_exc())
    return job.deployment.status


def _fail_or_roll_back(job: Job, handle: dict[str, Any] | None, message: str, details: str) -> None:
    """A failed update of a deployment that was healthy goes back to the version it served; anything else fails."""
    previous = job.deployment.previous
    if not previous:
        _fail(job, handle, message, details)
        return
    deployment = job.deployment
    failed_label = f"{deployment.model_name} v{deployment.model_version_number}"
    record_event(deployment=deployment, kind=Kind.FAILED, message=f"Update to {failed_label} failed: {message}",
                 details=details)  # fmt: skip
    runtime = get_runtime(deployment.runtime)
    try:
        if handle:
            runtime.stop(handle)
        old_label = f"{previous['model_name']} v{previous['model_version_number']}"
        version = ModelVersion.objects.filter(pk=previous["model_version_id"]).first()
        model_dir = download_version(version, label=old_label)
        deployment.instances = previous["instances"]
        job.step(Status.STARTING, Kind.STARTING, f"Rolling back to {old_label}", model_version=version,
                 model_name=previous["model_name"], model_version_number=previous["model_version_number"],
                 instances=previous["instances"], previous=None)  # fmt: skip
        with job.heartbeat():
            build = previous["build"] or runtime.build(spec_for(deployment, model_dir), job.log)
            rolled = runtime.start(spec_for(deployment, model_dir), build, job.log)
            job.write(handle=rolled, build=build)
            state = _wait_healthy(runtime, rolled, job)
    except LostClaim:
        return
    except Exception as error:
        log.exception("Rollback of deployment %s failed", deployment.pk)
        _fail(job, job.deployment.handle, f"{message}; the rollback failed too: {error}",
              getattr(error, "details", "") or traceback.format_exc())  # fmt: skip
        return
    summary = f"Update to {failed_label} failed ({message}); rolled back to {old_label}"
    job.write(release=True, status=Status.HEALTHY, status_message=summary[:2000], urls=state.urls)
    record_event(deployment=deployment, kind=Kind.HEALTHY, message=f"Rolled back to {old_label}, healthy at "
                 f"{', '.join(state.urls)}")  # fmt: skip


def _build_and_start(job: Job) -> dict[str, Any]:
    deployment = job.deployment
    runtime = get_runtime(deployment.runtime)
    label = f"{deployment.model_name} v{deployment.model_version_number}"
    model_dir = download_version(deployment.model_version, label=label)
    record_event(deployment=deployment, kind=Kind.DOWNLOADED, message=f"Files of {label} in {model_dir}")
    spec = spec_for(deployment, model_dir)
    # While updating, the old servers keep answering during the build and the status stays "updating".
    updating = deployment.status == Status.UPDATING
    job.step(Status.UPDATING if updating else Status.BUILDING, Kind.BUILDING, f"Building on {runtime.name}")
    build = runtime.build(spec, job.log)
    job.write(build=build)
    record_event(deployment=deployment, kind=Kind.BUILT, message="Built")
    if updating and deployment.handle:
        job.write(urls=[])  # the gateway stops routing to the old servers before they go
        runtime.stop(deployment.handle)
    job.step(Status.STARTING, Kind.STARTING, f"Starting {deployment.instances} instance(s)")
    handle = runtime.start(spec, build, job.log)
    try:
        job.write(handle=handle)
    except LostClaim:
        runtime.stop(handle)  # stopped or deleted while starting: what was just started must not run on unseen
        raise
    return handle


def _wait_healthy(runtime: Runtime, handle: dict[str, Any], job: Job) -> RuntimeStatus:
    deadline = time.monotonic() + start_timeout()
    while True:
        state = runtime.status(handle)
        if state.state == "healthy":
            return state
        if state.state in ("failed", "stopped"):
            raise RuntimeFailure(f"The server {state.state}: {state.message}", runtime.logs(handle))
        if time.monotonic() > deadline:
            raise RuntimeFailure(f"Not healthy within {start_timeout():g} s: {state.message}", runtime.logs(handle))
        job.write()
        time.sleep(poll_interval())


def _fail(job: Job, handle: dict[str, Any] | None, message: str, details: str) -> None:
    if handle:
        try:
            get_runtime(job.deployment.runtime).stop(handle)
        except Exception:
            log.exception("Could not stop the servers of failed deployment %s", job.deployment.pk)
    try:
        job.write(release=True, status=Status.FAILED, status_message=message, urls=[])
    except LostClaim:
        return
    record_event(deployment=job.deployment, kind=Kind.FAILED, message=message, details=details)


def stop_deployment_now(*, deployment_id: int) -> str | None:
    """Stop a stopping deployment's servers: stopped (or failed, with the error); None when not claimed."""
    token = claim(deployment_id=deployment_id, statuses=frozenset({Status.STOPPING}))
    if token is None:
        return None
    job = Job(_load(deployment_id), token)
    try:
        if job.deployment.handle:
            with job.heartbeat():
                get_runtime(job.deployment.runtime).stop(job.deployment.handle)
        job.write(release=True, status=Status.STOPPED, status_message="Stopped", urls=[])
        record_event(deployment=job.deployment, kind=Kind.STOPPED, message="Stopped")
    except LostClaim:
        return None
    except Exception as error:
        log.exception("Deployment %s did not stop", deployment_id)
        _fail(job, None, f"Stop failed: {error}", traceback.format_exc())
    return job.deployment.status


def delete_deployment_now(*, deployment_id: int) -> bool:
    """Remove a deleting deployment's servers and files, then its row (and its endpoint's, when that is being
    deleted and this was its last deployment). False when not claimed or when the runtime failed (kept for retry)."""
    token = claim(deployment_id=deployment_id, statuses=frozenset({Status.DELETING}))
    if token is None:
        return False
    deployment = _load(deployment_id)
    job = Job(deployment, token)
    try:
        if deployment.handle or deployment.build:
            with job.heartbeat():
                get_runtime(deployment.runtime).remove(deployment.handle, deployment.build)
    except Exception as error:
        log.exception("Deployment %s was not removed", deployment_id)
        job.write(release=True, status_message=f"Remove failed (will be retried): {error}")
        record_event(deployment=deployment, kind=Kind.FAILED, message=f"Remove failed: {error}",
                     details=getattr(error, "details", "") or traceback.format_exc())  # fmt: skip
        return False
    if not Deployment.objects.filter(pk=deployment_id, claimed_by=token).delete()[0]:
        return False
    endpoint = deployment.endpoint
    if endpoint.deleting and not endpoint.deployments.exists():
        endpoint.delete()
    return True


TASKS = {Status.STOPPING: "stop_deployment_task", Status.DELETING: "delete_deployment_task"}


def recover_stale_deployments() -> list[int]:
    """Enqueue again the work of rows left behind: a claim older than the lease (a worker that died), or an
    unclaimed row in a working status untouched for as long (its task was lost). Returns the ids."""
    cutoff = timezone.now() - lease()
    working = [*RUNNING, *TASKS]
    stale = Deployment.objects.filter(status__in=working).filter(
        Q(claimed_by="", updated_at__lt=cutoff) | Q(claimed_at__lt=cutoff)
    )
    rows = list(stale.values_list("pk", "status"))
    for pk, status in rows:
        enqueue(TASKS.get(status, "run_deployment_task"), pk)
    return [pk for pk, _ in rows]


def probe_deployments() -> dict[str, int]:
    """Ask the runtime of every healthy deployment how its servers are (run periodically): the gateway's URLs
    follow the instances that answer, and servers that are gone (a host rebooted, every instance crashed and was
    given up) turn the deployment ``failed`` with the runtime's message, instead of a "healthy" that answers 503.
    Rows a worker holds are left to it. Returns how many were probed, changed and failed."""
    counts = {"probed": 0, "changed": 0, "failed": 0}
    rows = Deployment.objects.filter(status=Status.HEALTHY, claimed_by="").exclude(handle=None)
    for deployment in rows.only("id", "runtime", "handle", "urls", "status"):
        counts["probed"] += 1
        try:
            state = get_runtime(deployment.runtime).status(deployment.handle)
        except Exception:
            log.warning("Could not probe deployment %s", deployment.pk, exc_info=True)
            continue
        unclaimed = Deployment.objects.filter(pk=deployment.pk, status=Status.HEALTHY, claimed_by="")
        if state.state in ("failed", "stopped"):
            message = f"The servers {state.state}: {state.message}"
            if unclaimed.update(status=Status.FAILED, status_message=message[:2000], urls=[],
                                updated_at=timezone.now()):  # fmt: skip
                counts["failed"] += 1
                record_event(deployment=deployment, kind=Kind.FAILED, message=message[:2000])
        elif state.state == "healthy" and state.urls != deployment.urls:
            counts["changed"] += unclaimed.update(urls=state.urls, status_message=state.message)
    return counts


def environment_retention() -> float:
    """Seconds an environment no deployment uses is kept (a redeploy within it builds in seconds)."""
    return float(getattr(settings, "STUDIO_ENV_RETENTION_DAYS", 7)) * 86_400


def prune_environments() -> dict[str, list[str]]:
    """Delete the local runtime's environments that no deployment's build names and that were not used within
    the retention (run periodically); removed hashes by runtime. Every deployment's build counts, stopped and
    failed ones too: they may start again."""
    runtime = get_runtime("local")
    builds = Deployment.objects.filter(runtime="local").exclude(build=None).values_list("build", "previous")
    keep = set()
    for build, previous in builds:
        for record in (build, (previous or {}).get("build")):
            if isinstance(record, dict) and record.get("env_hash"):
                keep.add(record["env_hash"])
    return {"local": runtime.prune(keep=keep, older_than=environment_retention())}
