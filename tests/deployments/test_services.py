"""The deployments domain: endpoints and keys, deployments through their lifecycle, claims, traffic, deletes.

The runtime is ``PingRuntime`` below, a small real implementation of the runtime interface that serves ``/ping`` from
an in-process HTTP server, so the service is driven through the same calls a real runtime gets. Tasks run through
Celery's eager mode on commit, as a worker would run them after the web side commits.
"""

from __future__ import annotations

import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from deployments import services, tasks
from deployments.models import Deployment, DeploymentEvent, Endpoint
from deployments.runtimes.base import DeploymentSpec, Log, Runtime, RuntimeFailure, RuntimeStatus
from deployments.runtimes.registry import get_runtime
from deployments.services.worker import lease
from studio.celery import app as celery_app
from studio.errors import StudioError
from tests.registry.conftest import logged_model, register  # noqa: F401 - fixtures

Kind = DeploymentEvent.Kind


class _Ping(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/ping" else 404)
        self.end_headers()
        self.wfile.write(b"\n")

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


class PingRuntime(Runtime):
    """Builds by listing the model's files; each instance is an HTTP server thread answering ``/ping``."""

    name = "ping"

    def __init__(self, root: Path) -> None:
        self.root = root
        self.servers: dict[int, ThreadingHTTPServer] = {}
        self.fail_build = ""  # a test sets this to make the next builds fail
        self.build_seconds = 0.0  # and this to make them slow and silent
        self.removed: list[str] = []

    def build(self, spec: DeploymentSpec, log: Log) -> dict[str, Any]:
        files = sorted(str(p.relative_to(spec.model_dir)) for p in spec.model_dir.rglob("*") if p.is_file())
        log(f"model files: {', '.join(files)}")
        time.sleep(self.build_seconds)
        if self.fail_build:
            raise RuntimeFailure("requirements do not install", self.fail_build)
        return {"files": files}

    def start(self, spec: DeploymentSpec, build: dict[str, Any], log: Log) -> dict[str, Any]:
        ports = []
        for _ in range(spec.instances):
            server = ThreadingHTTPServer(("127.0.0.1", 0), _Ping)
            threading.Thread(target=server.serve_forever, daemon=True).start()
            self.servers[server.server_port] = server
            ports.append(server.server_port)
        log(f"listening on {ports}")
        return {"name": spec.name, "ports": ports}

    def status(self, handle: dict[str, Any]) -> RuntimeStatus:
        if not all(port in self.servers for port in handle["ports"]):
            return RuntimeStatus("stopped", message="not running")
        urls = [f"http://127.0.0.1:{port}" for port in handle["ports"]]
        try:
            for url in urls:
                urllib.request.urlopen(f"{url}/ping", timeout=2).close()
        except OSError as error:
            return RuntimeStatus("unhealthy", message=str(error))
        return RuntimeStatus("healthy", urls, "all instances answer /ping")

    def logs(self, handle: dict[str, Any], tail: int = 200) -> str:
        return f"servers of {handle['name']}"

    def stop(self, handle: dict[str, Any]) -> None:
        for port in handle["ports"]:
            if server := self.servers.pop(port, None):
                server.shutdown()
                server.server_close()

    def remove(self, handle: dict[str, Any] | None, build: dict[str, Any] | None) -> None:
        if handle:
            self.stop(handle)
            self.removed.append(handle["name"])


@pytest.fixture
def runtime(settings: Any, tmp_path: Path) -> Iterator[PingRuntime]:
    settings.DATA_DIR = tmp_path
    settings.STUDIO_RUNTIMES = {"ping": f"{__name__}.PingRuntime"}
    settings.STUDIO_DEPLOYMENT_POLL_INTERVAL = 0.02
    settings.STUDIO_DEPLOYMENT_START_TIMEOUT = 5
    ping = get_runtime("ping")
    assert isinstance(ping, PingRuntime)
    yield ping
    for server in list(ping.servers.values()):
        server.shutdown()
        server.server_close()


@pytest.fixture
def eager() -> Iterator[None]:
    """Tasks sent with ``.delay`` run at once in this process (Celery's own eager mode)."""
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = previous


@pytest.fixture
def version(register: Callable[..., dict]) -> dict:  # noqa: F811
    return register("m")


def deploy(name: str = "blue", endpoint: str = "prod", **fields: Any) -> Deployment:
    if not Endpoint.objects.filter(name=endpoint).exists():
        services.create_endpoint(name=endpoint)
    fields = {"model_name": "m", "version": 1, "runtime": "ping", **fields}
    return services.create_deployment(endpoint=endpoint, name=name, **fields)


def kinds(deployment: Deployment) -> list[str]:
    return list(DeploymentEvent.objects.filter(deployment=deployment).order_by("id").values_list("kind", flat=True))


def row(deployment: Deployment) -> Deployment:
    return Deployment.objects.get(pk=deployment.pk)


# --- endpoints and keys ----------------------------------------------------------------------------------------------


def test_create_endpoint_shows_keys_once_and_stores_only_hashes(db: None) -> None:
    created = services.create_endpoint(name="fraud-scoring", description="d", user="ann")
    endpoint = Endpoint.objects.get(name="fraud-scoring")
    assert created.primary_key != created.secondary_key
    assert created.primary_key.startswith("sk-")
    assert len(created.primary_key) > 40
    stored = [str(value) for value in Endpoint.objects.filter(pk=endpoint.pk).values().get().values()]
    assert created.primary_key not in stored
    assert created.secondary_key not in stored
    assert endpoint.primary_key_prefix == created.primary_key[:10]
    assert endpoint.user_id == "ann"


def test_check_key_accepts_either_key_and_regenerate_replaces_one(db: None) -> None:
    created = services.create_endpoint(name="prod")
    endpoint = Endpoint.objects.get(name="prod")
    assert services.check_key(endpoint=endpoint, key=created.primary_key)
    assert services.check_key(endpoint=endpoint, key=created.secondary_key)
    assert not services.check_key(endpoint=endpoint, key="")
    assert not services.check_key(endpoint=endpoint, key=created.primary_key + "x")
    new_primary = services.regenerate_key(name="prod", slot="primary")
    endpoint.refresh_from_db()
    assert not services.check_key(endpoint=endpoint, key=created.primary_key)
    assert services.check_key(endpoint=endpoint, key=new_primary)
    assert services.check_key(endpoint=endpoint, key=created.secondary_key)
    with pytest.raises(StudioError, match="Unknown key"):
        services.regenerate_key(name="prod", slot="tertiary")  # type: ignore[arg-type]
    with pytest.raises(StudioError) as missing:
        services.regenerate_key(name="nope", slot="primary")
    assert missing.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_create_endpoint_refuses_a_taken_name(db: None) -> None:
    services.create_endpoint(name="prod")
    with pytest.raises(StudioError) as taken:
        services.create_endpoint(name="prod")
    assert taken.value.error_code == "RESOURCE_ALREADY_EXISTS"


@pytest.mark.parametrize(
    "name", ["", "ab", "Upper", "1starts-with-digit", "ends-", "double--dash", "under_score", "a" * 33, "sp ace", 7]
)
def test_names_must_be_slugs(db: None, name: Any) -> None:
    with pytest.raises(StudioError) as bad:
        services.create_endpoint(name=name)
    assert bad.value.error_code == "INVALID_PARAMETER_VALUE"
    services.create_endpoint(name="ok-name")
    with pytest.raises(StudioError, match="Invalid deployment name"):
        services.create_deployment(endpoint="ok-name", name=name, model_name="m", version=1)


@pytest.mark.parametrize("name", ["abc", "a-1", "fraud-scoring-v2", "a" * 32])
def test_slug_names_are_accepted(db: None, name: str) -> None:
    assert services.validate_name("endpoint", name) == name


# --- creating a deployment -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"runtime": "nosuch"}, "Unknown runtime 'nosuch'"),
        ({"instances": 0}, "instances must be an integer from 1 to 16"),
        ({"instances": 17}, "instances must be an integer from 1 to 16"),
        ({"traffic_weight": 101}, "from 0 to 100"),
        ({"traffic_weight": -1}, "from 0 to 100"),
        ({"version": 9}, r"Model Version \(name=m, version=9\) not found"),
        ({"mirror": True, "traffic_weight": 10}, "mirror deployment"),
    ],
)
def test_create_deployment_validates(runtime: PingRuntime, version: dict, fields: dict, message: str) -> None:
    with pytest.raises(StudioError, match=message):
        deploy(**fields)
    assert not Deployment.objects.exists()


def test_create_deployment_refuses_a_version_without_files_of_its_own(
    runtime: PingRuntime,
    register: Callable[..., dict],  # noqa: F811
) -> None:
    register("ext", source="s3://bucket/model")
    with pytest.raises(StudioError, match="has no files of its own"):
        deploy(model_name="ext")


def test_create_deployment_refuses_a_taken_name_and_a_second_mirror(runtime: PingRuntime, version: dict) -> None:
    deploy("blue")
    with pytest.raises(StudioError, match="already exists"):
        deploy("blue")
    deploy("shadow", mirror=True)
    with pytest.raises(StudioError, match="already has a mirror"):
        deploy("shadow-2", mirror=True)


def test_create_deployment_enqueues_on_commit_only(
    runtime: PingRuntime, version: dict, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        deployment = deploy()
    assert len(callbacks) == 1
    assert row(deployment).status == "queued"
    assert kinds(deployment) == [Kind.CREATED]


# --- the lifecycle -------------------------------------------------------------------------------------------------


def test_deploy_through_the_task_becomes_healthy(
    runtime: PingRuntime, version: dict, eager: None, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        deployment = deploy(instances=2)
    deployment = row(deployment)
    assert deployment.status == "healthy", deployment.status_message
    assert deployment.claimed_by == ""
    assert deployment.attempt == 1
    assert deployment.build == {"files": ["MLmodel", "model.pkl", "sub/conda.yaml"]}
    assert deployment.handle["name"] == "prod--blue"
    assert len(deployment.handle["ports"]) == 2
    assert runtime.status(deployment.handle).state == "healthy"
    assert kinds(deployment) == [
        Kind.CREATED, Kind.DOWNLOADED, Kind.BUILDING, Kind.LOG, Kind.BUILT, Kind.STARTING, Kind.LOG, Kind.HEALTHY,
    ]  # fmt: skip
    # The files came from the artifact store into the data dir, byte for byte.
    model_dir = Path(runtime.root).parent / "models" / deployment.model_version.storage_path
    assert (model_dir / "model.pkl").read_bytes() == b"\x80\x04weights"


def test_service_called_directly_builds_and_starts(runtime: PingRuntime, version: dict) -> None:
    deployment = deploy()
    assert services.run_deployment(deployment_id=deployment.pk) == "healthy"
    assert tasks.run_deployment_task(deployment.pk) is None  # the task again: nothing left to claim


def test_a_second_claim_of_the_same_row_does_nothing(runtime: PingRuntime, version: dict) -> None:
    deployment = deploy()
    token = services.claim(deployment_id=deployment.pk, statuses=frozenset({"queued"}), worker="w1")
    assert token == "w1"
    assert services.claim(deployment_id=deployment.pk, statuses=frozenset({"queued"}), worker="w2") is None
    assert services.run_deployment(deployment_id=deployment.pk) is None  # a duplicated task
    assert row(deployment).status == "queued"
    assert row(deployment).claimed_by == "w1"


def test_a_stale_claim_is_taken_over(runtime: PingRuntime, version: dict) -> None:
    deployment = deploy()
    services.claim(deployment_id=deployment.pk, statuses=frozenset({"queued"}), worker="dead-worker")
    # The worker died mid-build: the row says building, with a claim older than the lease.
    old = timezone.now() - lease() - timedelta(seconds=1)
    Deployment.objects.filter(pk=deployment.pk).update(status="building", claimed_at=old, updated_at=old)
    assert services.recover_stale_deployments() == [deployment.pk]
    assert services.run_deployment(deployment_id=deployment.pk) == "healthy"
    assert row(deployment).attempt == 2
    recovered = DeploymentEvent.objects.get(deployment=deployment, kind=Kind.RECOVERED)
    assert "dead-worker" in recovered.message
    assert services.recover_stale_deployments() == []


def test_the_heartbeat_keeps_the_claim_through_a_long_silent_build(
    runtime: PingRuntime, version: dict, settings: Any, transactional_db: None
) -> None:
    settings.STUDIO_DEPLOYMENT_LEASE_SECONDS = 0.6
    runtime.build_seconds = 2.0  # more than three leases without a line of output
    deployment = deploy()
    result: list[str | None] = []
    worker = threading.Thread(target=lambda: result.append(services.run_deployment(deployment_id=deployment.pk)))
    worker.start()
    time.sleep(1.5)
    assert row(deployment).status == "building"
    # Another worker (a duplicated task, the recovery sweep) finds the claim alive.
    assert services.claim(deployment_id=deployment.pk, statuses=frozenset({"building"}), worker="w2") is None
    assert services.recover_stale_deployments() == []
    worker.join(timeout=30)
    assert result == ["healthy"]
    assert row(deployment).attempt == 1
    assert not DeploymentEvent.objects.filter(deployment=deployment, kind=Kind.RECOVERED).exists()


def test_a_runtime_failure_ends_failed_with_its_details(runtime: PingRuntime, version: dict) -> None:
    runtime.fail_build = "ERROR: No matching distribution found for scikit-learn==0.0.1"
    deployment = deploy()
    assert tasks.run_deployment_task(deployment.pk) == "failed"
    deployment = row(deployment)
    assert deployment.status_message == "requirements do not install"
    assert deployment.claimed_by == ""
    failed = DeploymentEvent.objects.get(deployment=deployment, kind=Kind.FAILED)
    assert failed.details == runtime.fail_build
    # Fixed, and started again: it builds anew.
    runtime.fail_build = ""
    services.start_deployment(endpoint="prod", name="blue")
    assert tasks.run_deployment_task(deployment.pk) == "healthy"


def test_a_server_that_never_answers_fails_after_the_timeout(
    runtime: PingRuntime, version: dict, settings: Any
) -> None:
    settings.STUDIO_DEPLOYMENT_START_TIMEOUT = 0.3
    original = runtime.status
    runtime.status = lambda handle: RuntimeStatus("starting", message="loading")  # type: ignore[method-assign]
    try:
        deployment = deploy()
        assert services.run_deployment(deployment_id=deployment.pk) == "failed"
    finally:
        runtime.status = original  # type: ignore[method-assign]
    failed = DeploymentEvent.objects.get(deployment=deployment, kind=Kind.FAILED)
    assert "Not healthy within 0.3 s" in failed.message
    assert failed.details == "servers of prod--blue"
    assert runtime.servers == {}  # what was started is stopped


def test_stop_then_start(
    runtime: PingRuntime, version: dict, eager: None, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        deployment = deploy()
    handle = row(deployment).handle
    with django_capture_on_commit_callbacks(execute=True):
        services.stop_deployment(endpoint="prod", name="blue")
    assert row(deployment).status == "stopped"
    assert runtime.status(handle).state == "stopped"
    with pytest.raises(StudioError, match="Cannot stop deployment 'blue' while it is stopped"):
        services.stop_deployment(endpoint="prod", name="blue")
    with django_capture_on_commit_callbacks(execute=True):
        services.start_deployment(endpoint="prod", name="blue")
    assert row(deployment).status == "healthy"
    assert row(deployment).traffic_weight == 100


def test_stop_during_a_build_revokes_the_builder(runtime: PingRuntime, version: dict) -> None:
    deployment = deploy()
    original = runtime.build

    def build_then_stop(spec: DeploymentSpec, log: Log) -> dict[str, Any]:
        services.stop_deployment(endpoint="prod", name="blue")  # the user clicks Stop while it builds
        return original(spec, log)  # which logs a line: no exception comes back into the runtime

    runtime.build = build_then_stop  # type: ignore[method-assign]
    try:
        assert services.run_deployment(deployment_id=deployment.pk) is None  # the builder gave up
    finally:
        runtime.build = original  # type: ignore[method-assign]
    assert row(deployment).status == "stopping"
    assert services.stop_deployment_now(deployment_id=deployment.pk) == "stopped"
    assert runtime.servers == {}


def test_update_to_another_version_rebuilds(
    runtime: PingRuntime,
    version: dict,
    register: Callable[..., dict],  # noqa: F811
    eager: None,
    django_capture_on_commit_callbacks: Any,
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        deployment = deploy()
    old = row(deployment).handle
    register("m")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        updated = services.update_deployment(endpoint="prod", name="blue", version=2, instances=2)
    assert updated.status == "updating"
    assert row(deployment).status == "updating"
    callbacks[0]()
    deployment = row(deployment)
    assert deployment.status == "healthy"
    assert deployment.model_version_number == 2
    assert len(deployment.handle["ports"]) == 2
    assert runtime.status(old).state == "stopped"  # the old servers went when the new ones started
    assert Kind.UPDATING in kinds(deployment)
    with pytest.raises(StudioError, match="version=7"):
        services.update_deployment(endpoint="prod", name="blue", version=7)


def test_a_failed_update_rolls_back_to_the_version_that_served(
    runtime: PingRuntime,
    version: dict,
    register: Callable[..., dict],  # noqa: F811
    eager: None,
    django_capture_on_commit_callbacks: Any,
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        deployment = deploy(instances=2)
    register("m")
    runtime.fail_build = "ERROR: Could not find a version that satisfies the requirement nope==9"
    with django_capture_on_commit_callbacks(execute=True):
        services.update_deployment(endpoint="prod", name="blue", version=2, instances=1)
    deployment = row(deployment)
    assert deployment.status == "healthy"
    assert (deployment.model_version_number, deployment.instances) == (1, 2)
    assert deployment.previous is None
    assert "rolled back to m v1" in deployment.status_message
    assert runtime.status(deployment.handle).state == "healthy"
    assert len(deployment.urls) == 2
    failed = DeploymentEvent.objects.get(deployment=deployment, kind=Kind.FAILED)
    assert failed.message.startswith("Update to m v2 failed")
    assert "nope==9" in failed.details
    assert kinds(deployment)[-1] == Kind.HEALTHY
    # Without a version to go back to (a failed deployment updated), a failure is a failure.
    runtime.fail_build = "still broken"
    Deployment.objects.filter(pk=deployment.pk).update(status="failed")
    with django_capture_on_commit_callbacks(execute=True):
        services.update_deployment(endpoint="prod", name="blue", version=2)
    assert row(deployment).status == "failed"


def test_probing_follows_the_servers_health(runtime: PingRuntime, version: dict) -> None:
    deployment = deploy(instances=2)
    assert services.run_deployment(deployment_id=deployment.pk) == "healthy"
    assert services.probe_deployments() == {"probed": 1, "changed": 0, "failed": 0}
    handle = row(deployment).handle
    runtime.stop(handle)
    assert tasks.probe_deployments_task() == {"probed": 1, "changed": 0, "failed": 1}
    deployment = row(deployment)
    assert (deployment.status, deployment.urls) == ("failed", [])
    assert "not running" in deployment.status_message
    assert DeploymentEvent.objects.filter(deployment=deployment, kind=Kind.FAILED).count() == 1
    assert services.probe_deployments()["probed"] == 0  # failed rows are not probed again


def test_update_waits_for_a_busy_deployment(runtime: PingRuntime, version: dict) -> None:
    deploy()
    with pytest.raises(StudioError) as busy:
        services.update_deployment(endpoint="prod", name="blue", version=1)
    assert busy.value.error_code == "RESOURCE_CONFLICT"


# --- traffic ---------------------------------------------------------------------------------------------------------


def weights(endpoint: str = "prod") -> dict[str, int]:
    return dict(Deployment.objects.filter(endpoint__name=endpoint).values_list("name", "traffic_weight"))


def test_a_new_deployment_takes_its_share_and_the_others_the_rest(runtime: PingRuntime, version: dict) -> None:
    deploy("blue", traffic_weight=30)  # the only one: all the traffic, whatever was asked
    assert weights() == {"blue": 100}
    deploy("green")
    assert weights() == {"blue": 100, "green": 0}
    deploy("red", traffic_weight=40)
    assert weights() == {"blue": 60, "green": 0, "red": 40}
    deploy("shadow", mirror=True)
    assert weights() == {"blue": 60, "green": 0, "red": 40, "shadow": 0}


def test_set_traffic_validates_the_split(runtime: PingRuntime, version: dict) -> None:
    deploy("blue")
    deploy("green")
    deploy("shadow")
    assert services.set_traffic(endpoint="prod", weights={"blue": 50, "green": 50}) == {
        "blue": 50, "green": 50, "shadow": 0,
    }  # fmt: skip
    for bad, message in [
        ({"blue": 50, "green": 40}, "must sum to 100, not 90"),
        ({"blue": 50, "green": 51}, "must sum to 100, not 101"),
        ({"blue": 100, "nope": 0}, "has no deployment 'nope'"),
        ({"blue": 150, "green": -50}, "from 0 to 100"),
        ({"blue": 100.0}, "from 0 to 100"),
    ]:
        with pytest.raises(StudioError, match=message) as error:
            services.set_traffic(endpoint="prod", weights=bad)
        assert error.value.error_code == "INVALID_PARAMETER_VALUE"
    assert weights() == {"blue": 50, "green": 50, "shadow": 0}
    services.set_traffic(endpoint="prod", weights={"blue": 100}, mirror="shadow")
    assert Deployment.objects.get(name="shadow").mirror
    with pytest.raises(StudioError, match="must be live and have a traffic weight of 0"):
        services.set_traffic(endpoint="prod", weights={"blue": 90, "shadow": 10})
    services.set_traffic(endpoint="prod", weights={"green": 100}, mirror="blue")  # the mirror moves
    assert list(Deployment.objects.filter(mirror=True).values_list("name", flat=True)) == ["blue"]
    services.set_traffic(endpoint="prod", weights={"green": 100}, mirror="")
    assert not Deployment.objects.filter(mirror=True).exists()


def test_stopped_deployments_hold_no_traffic(runtime: PingRuntime, version: dict) -> None:
    deploy("blue")
    deploy("green", traffic_weight=50)
    services.stop_deployment(endpoint="prod", name="green")
    assert weights() == {"blue": 100, "green": 0}
    with pytest.raises(StudioError, match="'green' is stopping: it can take no traffic"):
        services.set_traffic(endpoint="prod", weights={"blue": 50, "green": 50})
    services.stop_deployment(endpoint="prod", name="blue")
    assert weights() == {"blue": 0, "green": 0}
    assert services.set_traffic(endpoint="prod", weights={}) == {"blue": 0, "green": 0}  # none live: sum 0
    with pytest.raises(StudioError, match="'blue' is stopping: it can take no traffic"):
        services.set_traffic(endpoint="prod", weights={"blue": 100})


# --- deletes ---------------------------------------------------------------------------------------------------------


def test_delete_deployment_removes_servers_then_row(
    runtime: PingRuntime, version: dict, eager: None, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        deploy("blue")
        deploy("green", traffic_weight=50)
    with django_capture_on_commit_callbacks(execute=True):
        services.delete_deployment(endpoint="prod", name="green")
    assert weights() == {"blue": 100}
    assert runtime.removed == ["prod--green"]
    assert not DeploymentEvent.objects.filter(deployment__name="green").exists()
    with pytest.raises(StudioError) as gone:
        services.get_deployment(endpoint="prod", name="green")
    assert gone.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_delete_endpoint_cascades_once_runtimes_removed_everything(
    runtime: PingRuntime, version: dict, eager: None, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        deploy("blue")
        deploy("green")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.delete_endpoint(name="prod")
    # Until the tasks run, the endpoint is gone to readers but its row holds the name.
    with pytest.raises(StudioError, match="Endpoint 'prod' does not exist"):
        services.get_endpoint(name="prod")
    assert set(Deployment.objects.values_list("status", flat=True)) == {"deleting"}
    for callback in callbacks:
        callback()
    assert not Endpoint.objects.exists()
    assert not Deployment.objects.exists()
    assert not DeploymentEvent.objects.exists()
    assert sorted(runtime.removed) == ["prod--blue", "prod--green"]
    assert runtime.servers == {}


def test_delete_empty_endpoint_is_immediate(db: None) -> None:
    services.create_endpoint(name="prod")
    services.delete_endpoint(name="prod")
    assert not Endpoint.objects.exists()


def test_a_version_deleted_in_the_registry_fails_the_build(runtime: PingRuntime, version: dict) -> None:
    from registry.store.versions import delete_model_version

    deployment = deploy()
    delete_model_version(name="m", version=1)
    assert services.run_deployment(deployment_id=deployment.pk) == "failed"
    assert "was deleted from the registry" in row(deployment).status_message


# --- lists -----------------------------------------------------------------------------------------------------------


def test_list_endpoints_takes_two_queries(
    runtime: PingRuntime, version: dict, django_assert_max_num_queries: Any
) -> None:
    for n in range(5):
        deploy("blue", endpoint=f"ep-{n}")
        deploy("green", endpoint=f"ep-{n}")
    with django_assert_max_num_queries(2):
        endpoints = services.list_endpoints()
        names = [(e.name, [d.name for d in e.deployments.all()]) for e in endpoints]
    assert len(names) == 5
    assert all(deployments == ["blue", "green"] for _, deployments in names)


def test_recovery_task_reenqueues_a_lost_task(
    runtime: PingRuntime, version: dict, eager: None, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=False):
        deployment = deploy()  # its task is lost: never sent
    old = timezone.now() - lease() - timedelta(seconds=1)
    Deployment.objects.filter(pk=deployment.pk).update(updated_at=old)
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.recover_stale_deployments_task.delay().get() == [deployment.pk]
    assert row(deployment).status == "healthy"


# --- the runtime registry --------------------------------------------------------------------------------------------


def test_get_runtime_loads_the_local_runtime_by_name(settings: Any, tmp_path: Path) -> None:
    from deployments.runtimes.local import LocalRuntime

    settings.DATA_DIR = tmp_path
    local = get_runtime("local")
    assert isinstance(local, LocalRuntime)
    assert local.root == tmp_path / "runtimes"
    assert get_runtime("local") is local  # one per process: it supervises what it started


def test_get_runtime_names_the_missing_ones(settings: Any) -> None:
    with pytest.raises(StudioError, match="Unknown runtime 'nosuch'; the runtimes are: container, kubernetes, local"):
        get_runtime("nosuch")
    settings.STUDIO_RUNTIMES = {"ghost": "deployments.runtimes.ghost.GhostRuntime"}
    with pytest.raises(StudioError, match="The runtime 'ghost' is not available in this installation"):
        get_runtime("ghost")
    settings.STUDIO_RUNTIMES = {"odd": "deployments.models.Endpoint"}
    with pytest.raises(StudioError, match=r"The runtime 'odd' \(deployments.models.Endpoint\) is not a Runtime"):
        get_runtime("odd")


# --- for real: an sklearn model on the local runtime -------------------------------------------------------------


def _register_saved_model(api: Any, experiment_id: str, run_id: str, model_dir: Path) -> None:
    """A logged model holding ``model_dir``'s files, registered as version 1 of "real" (as ``log_model`` does)."""
    from tracking.artifacts import get_artifact_store, proxy_path

    info = api.post("logged-models", {"experiment_id": experiment_id, "name": "model", "source_run_id": run_id})
    info = info["model"]["info"]
    store, root = get_artifact_store(), proxy_path(info["artifact_uri"])
    for path in model_dir.rglob("*"):
        if path.is_file():
            with path.open("rb") as stream:
                store.write(f"{root}/{path.relative_to(model_dir).as_posix()}", stream)
    api.call("PATCH", f"logged-models/{info['model_id']}", {"status": "LOGGED_MODEL_READY"})
    api.call("POST", "registered-models/create", {"name": "real"})
    source = f"models:/{info['model_id']}"
    api.post("model-versions/create", {"name": "real", "source": source, "model_id": info["model_id"]})


@pytest.fixture
def sklearn_model(tmp_path: Path, settings: Any) -> tuple[Any, Any, Path]:
    """A fitted LogisticRegression, its input frame, and the folder ``mlflow.sklearn.save_model`` wrote."""
    import mlflow.sklearn
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    settings.DATA_DIR = tmp_path
    frame = pd.DataFrame(np.random.default_rng(0).normal(size=(40, 3)), columns=["a", "b", "c"])
    model = LogisticRegression().fit(frame, (frame["a"] + frame["b"] > 0).astype(int))
    mlflow.sklearn.save_model(model, tmp_path / "saved", input_example=frame.head(3))
    return model, frame, tmp_path / "saved"


def test_an_sklearn_model_deploys_on_the_local_runtime_and_predicts(
    transactional_db: None, api: Any, experiment_id: str, run_id: str, sklearn_model: tuple, eager: None
) -> None:
    import json

    model, frame, saved = sklearn_model
    _register_saved_model(api, experiment_id, run_id, saved)
    services.create_endpoint(name="real-ep")
    # Autocommit here: the task runs (eagerly) as soon as create_deployment commits.
    deployment = services.create_deployment(endpoint="real-ep", name="blue", model_name="real", version=1)
    deployment = row(deployment)
    try:
        assert deployment.status == "healthy", (deployment.status_message, list(deployment.events.values("message")))
        state = get_runtime("local").status(deployment.handle)
        body = json.dumps({"dataframe_split": frame.head(5).to_dict(orient="split")}).encode()
        request = urllib.request.Request(f"{state.urls[0]}/invocations", body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            assert json.load(response) == {"predictions": model.predict(frame.head(5)).tolist()}
    finally:
        services.delete_deployment(endpoint="real-ep", name="blue")
    assert not Deployment.objects.exists()
    assert get_runtime("local").status(deployment.handle).state == "stopped"


def test_requirements_that_cannot_install_end_failed_with_the_installer_error(
    transactional_db: None, api: Any, experiment_id: str, run_id: str, sklearn_model: tuple, eager: None
) -> None:
    _, _, saved = sklearn_model
    with (saved / "requirements.txt").open("a") as requirements:
        requirements.write("scikit-learn==0.0.0.1\n")  # a version that never existed of a package that does
    _register_saved_model(api, experiment_id, run_id, saved)
    services.create_endpoint(name="broken")
    deployment = services.create_deployment(endpoint="broken", name="blue", model_name="real", version=1)
    assert row(deployment).status == "failed"
    failed = DeploymentEvent.objects.get(deployment=deployment, kind=Kind.FAILED)
    assert "scikit-learn==0.0.0.1" in failed.details, failed.details
    assert row(deployment).claimed_by == ""


def test_pruning_removes_only_environments_nothing_uses(runtime: PingRuntime, version: dict, tmp_path: Path) -> None:
    import fcntl
    import os

    from deployments.runtimes.local_env import READY_MARKER

    envs = tmp_path / "runtimes" / "envs"
    old = time.time() - 30 * 86_400
    for digest in ("kept-by-a-build", "kept-by-a-rollback", "old-unused", "recent-unused", "old-but-building"):
        (envs / digest).mkdir(parents=True)
        (envs / digest / READY_MARKER).write_text("{}")
        if digest != "recent-unused":
            os.utime(envs / digest / READY_MARKER, (old, old))
    partial = envs / ".building-killed-abc123"
    partial.mkdir()
    os.utime(partial, (old, old))
    deployment = deploy()
    Deployment.objects.filter(pk=deployment.pk).update(
        runtime="local", status="stopped", build={"env_hash": "kept-by-a-build"},
        previous={"build": {"env_hash": "kept-by-a-rollback"}},
    )  # fmt: skip
    with (envs / "old-but-building.lock").open("a") as holder:
        fcntl.flock(holder, fcntl.LOCK_EX)  # a worker is building or reusing it right now
        removed = tasks.prune_environments_task()
    assert removed == {"local": ["old-unused"]}
    assert sorted(p.name for p in envs.iterdir() if p.is_dir()) == [
        "kept-by-a-build", "kept-by-a-rollback", "old-but-building", "recent-unused",
    ]  # fmt: skip
