"""The scoring gateway and the deployments REST API, in front of real HTTP scoring servers.

``EchoRuntime`` is a small real runtime: each instance is an HTTP server thread that answers ``/ping`` and
``/invocations`` the way MLflow's scoring server does (predictions, or ``{"error_code", "message"}`` with 400 for a
body it cannot read), and says which deployment and instance answered. Tasks run eagerly on commit; the tests use
``transactional_db`` because the request log is written by the gateway's own thread and connection.
"""

from __future__ import annotations

import contextlib
import io
import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from deployments import gateway, services, tasks
from deployments.models import Deployment, Endpoint, RequestLog
from deployments.runtimes.base import DeploymentSpec, Log, Runtime, RuntimeStatus
from deployments.runtimes.registry import get_runtime
from studio.celery import app as celery_app
from tests.registry.conftest import logged_model, register  # noqa: F401 - fixtures

API = "/api/2.0/studio/"


def handler_for(name: str, index: int, seen: list[bytes]) -> type[BaseHTTPRequestHandler]:
    class Scoring(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self._send(200 if self.path == "/ping" else 404, b"\n", "text/plain")

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            seen.append(body)
            content_type = self.headers.get("Content-Type", "")
            if content_type.startswith("text/csv"):
                rows = body.decode().strip().splitlines()[1:]
                return self._json(200, {"predictions": [len(rows)], "deployment": name, "instance": index})
            try:
                payload = json.loads(body)
            except ValueError:
                return self._json(400, {"error_code": "BAD_REQUEST", "message": "Invalid input. Ensure the input "
                                         "is a valid JSON format."})  # fmt: skip
            if "sleep" in payload:
                time.sleep(payload["sleep"])
            rows = payload.get("dataframe_split", {}).get("data", [])
            return self._json(200, {"predictions": [sum(r) for r in rows], "deployment": name, "instance": index})

        def _json(self, status: int, payload: dict) -> None:
            self._send(status, json.dumps(payload).encode(), "application/json")

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

    return Scoring


class Server(ThreadingHTTPServer):
    """Keeps its accepted connections, so that a kill closes them as a dying process would (keep-alive
    connections of the gateway's pool would otherwise go on being served)."""

    daemon_threads = True

    def get_request(self) -> Any:
        connection, address = super().get_request()
        self.connections.append(connection)
        return connection, address

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Quiet: a client that gave up (the gateway's timeout) leaves a broken pipe behind."""

    def kill(self) -> None:
        self.shutdown()
        self.server_close()
        for connection in self.connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
            connection.close()


class EchoRuntime(Runtime):
    name = "echo"

    def __init__(self, root: Path) -> None:
        self.root = root
        self.servers: dict[int, Server] = {}
        self.seen: dict[str, list[bytes]] = {}

    def build(self, spec: DeploymentSpec, log: Log) -> dict[str, Any]:
        return {"model": str(spec.model_dir)}

    def start(self, spec: DeploymentSpec, build: dict[str, Any], log: Log) -> dict[str, Any]:
        ports = []
        seen = self.seen.setdefault(spec.name, [])
        for index in range(spec.instances):
            server = Server(("127.0.0.1", 0), handler_for(spec.name, index, seen))
            server.connections = []
            threading.Thread(target=server.serve_forever, daemon=True).start()
            self.servers[server.server_port] = server
            ports.append(server.server_port)
        return {"name": spec.name, "ports": ports}

    def status(self, handle: dict[str, Any]) -> RuntimeStatus:
        urls = [f"http://127.0.0.1:{port}" for port in handle["ports"] if port in self.servers]
        return RuntimeStatus("healthy", urls, "answering") if urls else RuntimeStatus("stopped")

    def logs(self, handle: dict[str, Any], tail: int = 200) -> str:
        return f"log of {handle['name']}"

    def kill(self, port: int) -> None:
        self.servers.pop(port).kill()

    def stop(self, handle: dict[str, Any]) -> None:
        for port in handle["ports"]:
            if port in self.servers:
                self.kill(port)

    def remove(self, handle: dict[str, Any] | None, build: dict[str, Any] | None) -> None:
        if handle:
            self.stop(handle)


@pytest.fixture
def echo(settings: Any, tmp_path: Path, transactional_db: None) -> Iterator[EchoRuntime]:
    settings.DATA_DIR = tmp_path
    settings.STUDIO_RUNTIMES = {"echo": f"{__name__}.EchoRuntime"}
    settings.STUDIO_DEPLOYMENT_POLL_INTERVAL = 0.02
    settings.STUDIO_GATEWAY_CACHE_SECONDS = 0
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    gateway.ROUTES.clear()
    # The writer thread is the process's: records of an earlier test (a mirror's late answer) land before this one.
    gateway.REQUEST_LOG.flush()
    RequestLog.objects.all().delete()
    runtime = get_runtime("echo")
    assert isinstance(runtime, EchoRuntime)
    yield runtime
    celery_app.conf.task_always_eager = previous
    for port in list(runtime.servers):
        runtime.kill(port)
    gateway.REQUEST_LOG.flush()


@pytest.fixture
def keys(echo: EchoRuntime, register: Callable[..., dict]) -> dict[str, str]:  # noqa: F811
    """Endpoint ``prod`` with deployment ``blue`` (v1, 2 instances) healthy, through the REST API."""
    register("m")
    register("m")
    created = post("endpoints/create", {"name": "prod", "description": "fraud"})
    deployment = post("deployments/create", {"endpoint": "prod", "name": "blue", "model_name": "m", "version": "1",
                                             "runtime": "echo", "instances": 2})["deployment"]  # fmt: skip
    assert deployment["status"] in ("queued", "healthy")
    assert Deployment.objects.get(name="blue").status == "healthy"
    return {"primary": created["primary_key"], "secondary": created["secondary_key"]}


def post(endpoint: str, payload: dict, status: int = 200) -> dict:
    response = Client().post(API + endpoint, json.dumps(payload), content_type="application/json")
    assert response.status_code == status, response.content
    return response.json()


def get(api_path: str, status: int = 200, **params: Any) -> dict:
    response = Client().get(API + api_path, params)
    assert response.status_code == status, response.content
    return response.json()


def score(key: str | None, body: Any = None, *, name: str = "prod", path: str = "invocations", **headers: str) -> Any:
    data = body if isinstance(body, (bytes, str)) else json.dumps(body or {"dataframe_split": {"data": [[1, 2]]}})
    if key is not None:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    content_type = headers.pop("content_type", "application/json")
    return Client().post(f"/endpoints/{name}/{path}", data, content_type=content_type, **headers)


# --- keys ------------------------------------------------------------------------------------------------------------


def test_scoring_with_either_key_returns_the_servers_answer(keys: dict[str, str]) -> None:
    for key in keys.values():
        response = score(key, {"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2], [3, 4]]}})
        assert response.status_code == 200, response.content
        assert response.json()["predictions"] == [3, 7]
        assert response["X-Studio-Deployment"] == "blue"
        assert response["Content-Type"] == "application/json"
    assert score(keys["primary"], path="score").json()["predictions"] == [3]


def test_a_missing_or_wrong_key_is_401_in_mlflows_format(keys: dict[str, str]) -> None:
    for key in (None, "", keys["primary"] + "x", "sk-" + "a" * 43):
        response = score(key)
        assert response.status_code == 401
        assert response.json()["error_code"] == "UNAUTHENTICATED"
        assert response["WWW-Authenticate"].startswith("Bearer")
    basic = Client().post("/endpoints/prod/invocations", "{}", content_type="application/json",
                          HTTP_AUTHORIZATION=f"Basic {keys['primary']}")  # fmt: skip
    assert basic.status_code == 401
    assert score(keys["primary"], name="nope").status_code == 404


def test_regenerating_a_key_revokes_it_and_keeps_the_other(keys: dict[str, str]) -> None:
    new = post("endpoints/regenerate-key", {"name": "prod", "key": "primary"})["key"]
    assert score(keys["primary"]).status_code == 401
    assert score(new).status_code == 200
    assert score(keys["secondary"]).status_code == 200
    endpoint = get("endpoints/get", name="prod")["endpoint"]
    assert endpoint["primary_key_prefix"] == new[:10]
    assert new not in json.dumps(endpoint)
    assert post("endpoints/regenerate-key", {"name": "prod", "key": "third"}, status=400)["error_code"] == (
        "INVALID_PARAMETER_VALUE"
    )


# --- what passes through ---------------------------------------------------------------------------------------------


def test_the_servers_error_format_and_csv_pass_through(keys: dict[str, str]) -> None:
    bad = score(keys["primary"], b"{not json")
    assert bad.status_code == 400
    assert bad.json() == {"error_code": "BAD_REQUEST", "message": "Invalid input. Ensure the input is a valid JSON "
                          "format."}  # fmt: skip
    csv = score(keys["primary"], "a,b\n1,2\n3,4\n", content_type="text/csv")
    assert csv.status_code == 200
    assert csv.json()["predictions"] == [2]


def test_get_is_refused_and_a_too_large_body_is_413(keys: dict[str, str], settings: Any) -> None:
    refused = Client().get("/endpoints/prod/invocations", HTTP_AUTHORIZATION=f"Bearer {keys['primary']}")
    assert refused.status_code == 405
    assert refused.json()["error_code"] == "BAD_REQUEST"
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    large = score(keys["primary"], {"dataframe_split": {"data": [[1, 2]] * 100}})
    assert large.status_code == 413
    assert large.json()["error_code"] == "REQUEST_ENTITY_TOO_LARGE"


def test_a_slow_server_is_a_504(keys: dict[str, str], settings: Any) -> None:
    settings.STUDIO_GATEWAY_TIMEOUT = 0.3
    response = score(keys["primary"], {"sleep": 1.0})
    assert response.status_code == 504
    assert response.json()["error_code"] == "DEADLINE_EXCEEDED"
    assert "0.3 s" in response.json()["message"]


# --- routing ---------------------------------------------------------------------------------------------------------


def test_instances_share_the_requests_and_a_dead_one_is_skipped(keys: dict[str, str], echo: EchoRuntime) -> None:
    instances = Counter(score(keys["primary"]).json()["instance"] for _ in range(10))
    assert instances == {0: 5, 1: 5}
    handle = Deployment.objects.get(name="blue").handle
    echo.kill(handle["ports"][0])
    answers = [score(keys["primary"]) for _ in range(6)]
    assert {a.status_code for a in answers} == {200}
    assert {a.json()["instance"] for a in answers} == {1}


def test_a_50_50_split_sends_both_versions_traffic(keys: dict[str, str]) -> None:
    post("deployments/create", {"endpoint": "prod", "name": "green", "model_name": "m", "version": 2,
                                "runtime": "echo"})  # fmt: skip
    assert Deployment.objects.get(name="green").traffic_weight == 0
    assert {score(keys["primary"]).json()["deployment"] for _ in range(10)} == {"prod--blue"}
    endpoint = post("endpoints/update", {"name": "prod", "traffic": {"blue": 50, "green": 50}})["endpoint"]
    assert {d["name"]: d["traffic_weight"] for d in endpoint["deployments"]} == {"blue": 50, "green": 50}
    counts = Counter(score(keys["primary"]).json()["deployment"] for _ in range(200))
    assert set(counts) == {"prod--blue", "prod--green"}
    assert 60 <= counts["prod--green"] <= 140, counts  # binomial(200, 0.5): outside this once in ~10^8
    one = score(keys["primary"], HTTP_X_STUDIO_DEPLOYMENT="green")
    assert one.json()["deployment"] == "prod--green"
    assert score(keys["primary"], HTTP_X_STUDIO_DEPLOYMENT="nope").status_code == 400


def test_traffic_moves_to_the_live_deployment_when_one_stops(keys: dict[str, str]) -> None:
    post("deployments/create", {"endpoint": "prod", "name": "green", "model_name": "m", "version": 2,
                                "runtime": "echo", "traffic_weight": 50})  # fmt: skip
    stopped = post("deployments/stop", {"endpoint": "prod", "name": "blue"})["deployment"]
    assert stopped["traffic_weight"] == 0
    assert {score(keys["primary"]).json()["deployment"] for _ in range(10)} == {"prod--green"}
    post("deployments/stop", {"endpoint": "prod", "name": "green"})
    down = score(keys["primary"])
    assert down.status_code == 503
    assert down.json()["error_code"] == "TEMPORARILY_UNAVAILABLE"
    assert "blue (stopped)" in down.json()["message"]
    assert get("endpoints/get", name="prod")["endpoint"]["state"] == "stopped"
    post("deployments/start", {"endpoint": "prod", "name": "blue"})
    assert score(keys["primary"]).json()["deployment"] == "prod--blue"


def test_the_mirror_gets_a_copy_and_its_answer_is_only_logged(keys: dict[str, str], echo: EchoRuntime) -> None:
    post("deployments/create", {"endpoint": "prod", "name": "shadow", "model_name": "m", "version": 2,
                                "runtime": "echo", "mirror": True})  # fmt: skip
    for i in range(5):
        assert score(keys["primary"], {"dataframe_split": {"data": [[i]]}}).json()["deployment"] == "prod--blue"
    deadline = time.monotonic() + 5
    while len(echo.seen.get("prod--shadow", [])) < 5 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert sorted(json.loads(b)["dataframe_split"]["data"][0][0] for b in echo.seen["prod--shadow"]) == [0, 1, 2, 3, 4]
    time.sleep(0.1)
    gateway.REQUEST_LOG.flush()
    logged = RequestLog.objects.filter(endpoint__name="prod")
    assert logged.filter(mirror=True, deployment_name="shadow", status=200).count() == 5
    assert logged.filter(mirror=False, deployment_name="blue", status=200).count() == 5


def test_every_request_is_logged_off_the_request_path(keys: dict[str, str]) -> None:
    score(keys["primary"], {"dataframe_split": {"data": [[1, 2]]}})
    score(keys["primary"], b"{bad")
    score("sk-wrong")
    gateway.REQUEST_LOG.flush()
    rows = list(RequestLog.objects.order_by("id").values("deployment_name", "status", "request_bytes",
                                                         "response_bytes", "latency_ms", "error"))  # fmt: skip
    assert [(r["deployment_name"], r["status"]) for r in rows] == [("blue", 200), ("blue", 400), ("", 401)]
    assert rows[0]["request_bytes"] == len(b'{"dataframe_split": {"data": [[1, 2]]}}')
    assert rows[0]["response_bytes"] > 20
    assert 0 < rows[0]["latency_ms"] < 5_000
    assert "not a key" in rows[2]["error"]


# --- the REST API ----------------------------------------------------------------------------------------------------


def test_the_rest_api_lists_gets_events_logs_and_predicts(keys: dict[str, str]) -> None:
    listed = get("endpoints/list")["endpoints"]
    assert [e["name"] for e in listed] == ["prod"]
    assert listed[0]["state"] == "healthy"
    assert listed[0]["scoring_url"] == "http://testserver/endpoints/prod/invocations"
    assert listed[0]["deployments"][0]["serving"] is True
    deployment = get("deployments/get", endpoint="prod", name="blue")["deployment"]
    assert deployment["model_version"] == "1"
    assert deployment["instances"] == 2
    events = get("deployments/events", endpoint="prod", name="blue")
    kinds = [e["kind"] for e in events["events"]]
    assert kinds[0] == "created"
    assert kinds[-1] == "healthy"
    after = get("deployments/events", endpoint="prod", name="blue", after=events["events"][-2]["id"])["events"]
    assert [e["kind"] for e in after] == ["healthy"]
    assert get("deployments/logs", endpoint="prod", name="blue")["logs"] == "log of prod--blue"
    assert get("deployments/list", endpoint="prod")["deployments"][0]["name"] == "blue"
    assert "echo" in get("deployments/runtimes")["runtimes"]
    predicted = Client().post(API + "endpoints/prod/invocations", json.dumps({"dataframe_split": {"data": [[5, 5]]}}),
                              content_type="application/json")  # fmt: skip
    assert predicted.json()["predictions"] == [10]


def test_the_rest_api_answers_bad_requests_with_mlflow_errors(keys: dict[str, str]) -> None:
    cases = [
        ("endpoints/create", {"name": "Bad Name"}, 400, "INVALID_PARAMETER_VALUE"),
        ("endpoints/create", {"name": "prod"}, 400, "RESOURCE_ALREADY_EXISTS"),
        ("deployments/create", {"endpoint": "prod", "name": "x-1", "model_name": "m", "version": "9"}, 404,
         "RESOURCE_DOES_NOT_EXIST"),
        ("deployments/create", {"endpoint": "prod", "name": "x-1", "model_name": "m", "version": "1",
                                "runtime": "warp"}, 400, "INVALID_PARAMETER_VALUE"),
        ("deployments/create", {"endpoint": "prod", "name": "x-1", "model_name": "m", "version": "1",
                                "instances": 0}, 400, "INVALID_PARAMETER_VALUE"),
        ("deployments/create", {"endpoint": "prod", "name": "blue", "model_name": "m", "version": 1}, 400,
         "RESOURCE_ALREADY_EXISTS"),
        ("endpoints/update", {"name": "prod", "traffic": {"blue": 70}}, 200, None),
        ("endpoints/update", {"name": "prod", "traffic": {"blue": 60}}, 400, "INVALID_PARAMETER_VALUE"),
        ("endpoints/update", {"name": "prod", "traffic": "all"}, 400, "INVALID_PARAMETER_VALUE"),
        ("deployments/start", {"endpoint": "prod", "name": "blue"}, 409, "RESOURCE_CONFLICT"),
        ("deployments/stop", {"endpoint": "prod", "name": "nope"}, 404, "RESOURCE_DOES_NOT_EXIST"),
        ("endpoints/delete", {}, 400, "INVALID_PARAMETER_VALUE"),
    ]  # fmt: skip
    for path, payload, status, code in cases[:6]:
        assert post(path, payload, status=status).get("error_code") == code, path
    assert post("endpoints/update", {"name": "prod", "traffic": {"blue": 100}})["endpoint"]["name"] == "prod"
    for path, payload, status, code in cases[7:]:
        assert post(path, payload, status=status).get("error_code") == code, (path, payload)
    assert get("deployments/events", 400, endpoint="prod", name="blue", limit=0)["error_code"] == (
        "INVALID_PARAMETER_VALUE"
    )
    bad_json = Client().post(API + "endpoints/create", b"[1", content_type="application/json")
    assert bad_json.status_code == 400


def test_update_and_delete_through_the_api(keys: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    updated = post("deployments/update", {"endpoint": "prod", "name": "blue", "version": "2", "instances": 1})
    assert updated["deployment"]["model_version"] == "2"
    assert Deployment.objects.get(name="blue").status == "healthy"
    assert score(keys["primary"]).status_code == 200
    scaled = post("deployments/update", {"endpoint": "prod", "name": "blue", "instances": 3})["deployment"]
    assert (scaled["model_version"], scaled["instances"]) == ("2", 3)
    assert post("deployments/update", {"endpoint": "prod", "name": "blue"}, status=400)["message"].startswith(
        "Nothing to update"
    )
    post("deployments/delete", {"endpoint": "prod", "name": "blue"})
    assert not Deployment.objects.filter(name="blue").exists()
    assert get("endpoints/get", name="prod")["endpoint"]["state"] == "empty"
    post("deployments/create", {"endpoint": "prod", "name": "last", "model_name": "m", "version": 1,
                                "runtime": "echo"})  # fmt: skip
    queued: list[int] = []  # the delete task is held back: the endpoint stays "deleting" meanwhile
    monkeypatch.setattr(tasks.delete_deployment_task, "delay", queued.append)
    post("endpoints/delete", {"name": "prod"})
    assert get("endpoints/get", 404, name="prod")["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    assert "is being deleted" in post("endpoints/create", {"name": "prod"}, status=400)["message"]
    assert queued == [Deployment.objects.get(name="last").pk]
    services.delete_deployment_now(deployment_id=queued[0])
    assert not Endpoint.objects.exists()
    assert score(keys["primary"]).status_code == 404


# --- the WSGI entry that gunicorn serves ------------------------------------------------------------------------------


def test_the_wsgi_gateway_answers_like_the_view_and_passes_the_rest_on(keys: dict[str, str], settings: Any) -> None:
    from deployments.views.gateway import GatewayApp

    passed: list[str] = []

    def django_app(environ: dict, start_response: Callable) -> list[bytes]:
        passed.append(environ["PATH_INFO"])
        start_response("204 No Content", [])
        return [b""]

    app = GatewayApp(django_app)

    def call(path: str, body: bytes = b"", method: str = "POST", **headers: str) -> tuple[str, dict, Any]:
        environ = {"PATH_INFO": path, "REQUEST_METHOD": method, "CONTENT_TYPE": "application/json",
                   "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body), **headers}  # fmt: skip
        answer: dict[str, Any] = {}
        chunks = app(environ, lambda status, header_list: answer.update(status=status, headers=dict(header_list)))
        data = b"".join(chunks)
        return answer["status"], answer["headers"], json.loads(data) if data else None

    body = json.dumps({"dataframe_split": {"data": [[2, 3]]}}).encode()
    status, headers, answer = call("/endpoints/prod/invocations", body, HTTP_AUTHORIZATION=f"Bearer {keys['primary']}")
    assert (status, answer["predictions"], headers["X-Studio-Deployment"]) == ("200 OK", [5], "blue")
    assert headers["Content-Length"] == str(len(json.dumps(answer, separators=(", ", ": "))))
    status, _, _ = call("/endpoints/prod/score", body, HTTP_AUTHORIZATION=f"Bearer {keys['secondary']}")
    assert status == "200 OK"
    status, headers, answer = call("/endpoints/prod/invocations", body, HTTP_AUTHORIZATION="Bearer sk-nope")
    assert (status, answer["error_code"]) == ("401 Unauthorized", "UNAUTHENTICATED")
    assert headers["WWW-Authenticate"] == 'Bearer realm="prod"'
    status, headers, _ = call("/endpoints/prod/invocations", method="GET")
    assert (status, headers["Allow"]) == ("405 Method Not Allowed", "POST")
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10
    status, _, answer = call("/endpoints/prod/invocations", body, HTTP_AUTHORIZATION=f"Bearer {keys['primary']}")
    assert (status, answer["error_code"]) == ("413 Content Too Large", "REQUEST_ENTITY_TOO_LARGE")
    status, _, _ = call("/endpoints/nope/invocations", body, HTTP_AUTHORIZATION=f"Bearer {keys['primary']}")
    assert status == "404 Not Found"
    assert call("/endpoints/prod/", method="GET")[0] == "204 No Content"
    assert call("/api/2.0/mlflow/experiments/search", method="GET")[0] == "204 No Content"
    assert passed == ["/endpoints/prod/", "/api/2.0/mlflow/experiments/search"]


def test_request_log_records_older_than_the_retention_are_pruned(keys: dict[str, str], settings: Any) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from deployments import tasks

    for _ in range(3):
        score(keys["primary"])
    gateway.REQUEST_LOG.flush()
    old = list(RequestLog.objects.order_by("id").values_list("id", flat=True)[:2])
    RequestLog.objects.filter(id__in=old).update(time=timezone.now() - timedelta(days=31))
    settings.STUDIO_REQUEST_LOG_DAYS = 30
    assert tasks.prune_request_log_task() == 2
    assert RequestLog.objects.count() == 1
    assert tasks.prune_request_log_task() == 0


def test_log_records_of_deleted_rows_are_written(keys: dict[str, str]) -> None:
    from django.utils import timezone

    services.create_endpoint(name="gone")
    gone = Endpoint.objects.get(name="gone")
    blue = Deployment.objects.get(name="blue")
    now = timezone.now()
    records = [
        RequestLog(endpoint_id=blue.endpoint_id, deployment_id=blue.pk, deployment_name="blue", time=now, status=200,
                   latency_ms=1.0),
        RequestLog(endpoint_id=blue.endpoint_id, deployment_id=blue.pk + 1000, deployment_name="old", time=now,
                   status=200, latency_ms=1.0),
        RequestLog(endpoint_id=gone.pk, deployment_name="", time=now, status=401, latency_ms=1.0),
    ]  # fmt: skip
    gone.delete()
    gateway.REQUEST_LOG._write(records)  # no constraint to fail on, no parent row to lock
    mine = RequestLog.objects.filter(pk__in=[r.pk for r in records])  # the writer thread may add others meanwhile
    assert sorted(mine.values_list("deployment_name", flat=True)) == ["", "blue", "old"]
