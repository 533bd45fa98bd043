"""The container runtime for real, against the Docker Engine API of podman (``scripts/podman-setup.sh``) or Docker.

Needs an engine at ``DOCKER_HOST``: without one the engine tests are skipped, except under CI (``CI`` set), where
they fail, since CI has to prove the runtime works. The module builds one image (pip fetches mlflow and
scikit-learn from the package index: half a minute to a minute) and every test shares it; every image and container
made here is removed at the end. The context tests at the top need no engine.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tarfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import docker
import docker.errors
import mlflow.sklearn
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from deployments.runtimes.base import DeploymentSpec, RuntimeFailure, RuntimeStatus
from deployments.runtimes.container import ContainerRuntime
from deployments.runtimes.dockerfile import build_args, context_archive, render_context

OUTPUT = Path(os.environ.get("STUDIO_TEST_OUTPUT", Path(__file__).resolve().parents[2] / "test-output"))
BASE_IMAGE = os.environ.get("STUDIO_CONTAINER_BASE_IMAGE") or "localhost/studio-python:3.11"
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))
# Deployment ids of this module's containers: far from a real Studio's, and apart between concurrent runs.
BASE_ID = 900_000 + os.getpid() % 50_000 * 10
TIMINGS: dict[str, float] = {}

# One image build takes a minute: CI runs these in its first pass only (`-m "not container"` in the second).
pytestmark = pytest.mark.container


def wait_for(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def healthy(runtime: ContainerRuntime, handle: dict[str, Any], count: int) -> RuntimeStatus | None:
    status = runtime.status(handle)
    return status if status.state == "healthy" and len(status.urls) == count else None


def predict(url: str, frame: pd.DataFrame) -> Any:
    body = json.dumps({"dataframe_split": frame.to_dict(orient="split")}).encode()
    request = urllib.request.Request(f"{url}/invocations", data=body, headers={"Content-Type": "application/json"})
    with NO_PROXY.open(request, timeout=30) as response:
        return json.loads(response.read())


def save_model(path: Path, frame: pd.DataFrame, *, flip: bool = False) -> LogisticRegression:
    target = (frame["a"] + frame["b"] > 0).astype(int)
    model = LogisticRegression().fit(frame, 1 - target if flip else target)
    mlflow.sklearn.save_model(model, path, input_example=frame.head(3))
    return model


# --- the build context: no engine needed ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(rng.normal(size=(40, 3)), columns=["a", "b", "c"])


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory, frame: pd.DataFrame) -> Path:
    path = tmp_path_factory.mktemp("model") / "model"
    save_model(path, frame)
    return path


@pytest.fixture(scope="module")
def model(model_dir: Path) -> Any:
    return mlflow.sklearn.load_model(str(model_dir))


def test_dockerfile_installs_requirements_before_copying_the_model(model_dir: Path) -> None:
    context = render_context(model_dir=model_dir, base_image="localhost/studio-python:3.11")
    lines = context.dockerfile.splitlines()
    position = {key: next(i for i, line in enumerate(lines) if line.startswith(key)) for key in ("FROM", "COPY", "CMD")}
    install = next(i for i, line in enumerate(lines) if "pip install" in line)
    copy_model = next(i for i, line in enumerate(lines) if line.startswith("COPY model/"))
    assert lines[position["FROM"]] == "FROM localhost/studio-python:3.11"
    assert position["FROM"] < position["COPY"] < install < copy_model < position["CMD"]
    assert "studio/requirements.txt" in lines[position["COPY"]] and "model" not in lines[position["COPY"]]
    assert "--mount" not in context.dockerfile  # BuildKit only
    assert '"0.0.0.0", "--port", "8080"' in lines[position["CMD"]]
    assert any(line.startswith("mlflow==") for line in context.requirements)
    assert any(line.startswith("scikit-learn==") for line in context.requirements)


def test_context_digest_follows_the_model_the_requirements_and_the_base(model_dir: Path, tmp_path: Path) -> None:
    base = "localhost/studio-python:3.11"
    digest = render_context(model_dir=model_dir, base_image=base).digest
    copy = shutil.copytree(model_dir, tmp_path / "copy")
    assert render_context(model_dir=copy, base_image=base).digest == digest  # where it lies does not matter
    assert render_context(model_dir=copy, base_image=base, base_image_id="sha256:1").digest != digest
    assert render_context(model_dir=copy, base_image="python:3.11-slim").digest != digest
    (copy / "extra.txt").write_text("a file of the model")
    with_file = render_context(model_dir=copy, base_image=base)
    assert (
        with_file.digest != digest
        and with_file.requirements == render_context(model_dir=model_dir, base_image=base).requirements
    )
    with (copy / "requirements.txt").open("a") as requirements:
        requirements.write("\ncloudpickle\n")
    assert render_context(model_dir=copy, base_image=base).requirements != with_file.requirements


def test_context_archive_holds_the_dockerfile_requirements_and_model(model_dir: Path) -> None:
    context = render_context(model_dir=model_dir, base_image="localhost/studio-python:3.11")
    with context_archive(context) as spool, tarfile.open(fileobj=spool) as archive:
        names = archive.getnames()
        requirements = archive.extractfile("studio/requirements.txt").read().decode().split()
        assert {member.mtime for member in archive.getmembers()} == {0}  # equal contexts, equal layers
    assert {"Dockerfile", "studio/requirements.txt", "model/MLmodel", "model/python_env.yaml"} <= set(names)
    assert requirements == list(context.requirements)


def test_build_args_pass_pip_and_proxy_settings_that_are_set() -> None:
    environ = {"HTTPS_PROXY": "http://proxy:3128", "PIP_INDEX_URL": "https://mirror/simple", "NO_PROXY": "", "X": "y"}
    assert build_args(environ) == {"HTTPS_PROXY": "http://proxy:3128", "PIP_INDEX_URL": "https://mirror/simple"}


def test_status_of_an_engine_that_does_not_answer_is_unhealthy_not_an_error(tmp_path: Path) -> None:
    runtime = ContainerRuntime(root=tmp_path, docker_host=f"unix://{tmp_path}/none.sock")
    handle = {"runtime": "container", "deployment_id": 1, "containers": [{"id": "x", "name": "studio-x-0", "port": 1}]}
    status = runtime.status(handle | {"docker_host": f"unix://{tmp_path}/none.sock"})
    assert status.state == "unhealthy"
    assert "does not answer" in status.message
    assert "could not give the logs" in runtime.logs(handle | {"docker_host": f"unix://{tmp_path}/none.sock"})


# --- against the engine ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def engine() -> docker.DockerClient:
    host = os.environ.get("DOCKER_HOST")
    reason = ""
    if not host:
        reason = 'DOCKER_HOST is not set (`eval "$(sudo bash scripts/podman-setup.sh)"` sets it)'
    else:
        try:
            # Generous: an engine busy building another image (the suite runs on two processes) answers slowly.
            client = docker.DockerClient(base_url=host, version="auto", timeout=120)
            client.ping()
        except docker.errors.DockerException as error:
            reason = f"no container engine answers at DOCKER_HOST={host}: {error}"
    if reason:
        if os.environ.get("CI", "").lower() not in ("", "0", "false", "no"):
            pytest.fail(f"CI is set, so the container runtime must be proven, but {reason}")
        pytest.skip(reason)
    try:
        client.images.get(BASE_IMAGE)
    except docker.errors.ImageNotFound:
        pytest.fail(f"the base image {BASE_IMAGE} is not on the engine: run scripts/podman-setup.sh")
    return client


@pytest.fixture(scope="module")
def runtime(engine: docker.DockerClient, tmp_path_factory: pytest.TempPathFactory) -> ContainerRuntime:
    return ContainerRuntime(root=tmp_path_factory.mktemp("runtimes"), base_image=BASE_IMAGE)


@pytest.fixture(scope="module")
def made(engine: docker.DockerClient) -> Iterator[list[str]]:
    """Image tags the tests made; removed at the end, with any container of this module's deployments."""
    tags: list[str] = []
    yield tags
    for container in engine.containers.list(all=True, filters={"label": "studio.deployment"}):
        if BASE_ID <= int(container.labels["studio.deployment"]) < BASE_ID + 10:
            container.remove(force=True)
    for tag in tags:
        with contextlib.suppress(docker.errors.NotFound):
            engine.images.remove(tag, force=True)


@pytest.fixture(scope="module")
def spec(model_dir: Path) -> DeploymentSpec:
    return DeploymentSpec(deployment_id=BASE_ID, name=f"ctr{BASE_ID}", model_dir=model_dir, instances=1)


@pytest.fixture(scope="module")
def build(runtime: ContainerRuntime, spec: DeploymentSpec, made: list[str]) -> dict[str, Any]:
    """The module's image: pip installs mlflow and scikit-learn in the dependency layer (cold: about a minute)."""
    lines: list[str] = []
    began = time.monotonic()
    record = runtime.build(spec, lines.append)
    made.append(record["image"])
    TIMINGS["cold_build_s" if not record["reused"] else "build_found_existing_s"] = round(time.monotonic() - began, 2)
    assert any("pip install" in line for line in lines) or record["reused"]
    return record


@pytest.fixture(scope="module", autouse=True)
def _report_timings() -> Iterator[None]:
    yield
    if TIMINGS:
        OUTPUT.mkdir(parents=True, exist_ok=True)
        (OUTPUT / "container-runtime-timings.json").write_text(json.dumps(TIMINGS, indent=2))


def test_build_tags_the_image_by_its_context_and_reuses_it(
    runtime: ContainerRuntime, engine: docker.DockerClient, build: dict[str, Any], spec: DeploymentSpec
) -> None:
    assert build["image"] == f"studio-model:{build['digest']}"
    image = engine.images.get(build["image"])
    assert image.id == build["image_id"]
    assert image.labels["studio.digest"] == build["digest"]
    assert json.loads(json.dumps(build)) == build  # stored as JSON on the deployment's row
    began = time.monotonic()
    again = runtime.build(spec, lambda line: None)
    TIMINGS["reused_build_s"] = round(time.monotonic() - began, 2)
    assert again["reused"] is True
    assert (again["image"], again["image_id"]) == (build["image"], build["image_id"])


def test_container_serves_the_model_and_start_is_idempotent(
    runtime: ContainerRuntime,
    engine: docker.DockerClient,
    build: dict[str, Any],
    spec: DeploymentSpec,
    model: Any,
    frame: pd.DataFrame,
) -> None:
    began = time.monotonic()
    handle = runtime.start(spec, build, lambda line: None)
    [item] = handle["containers"]
    assert item["name"] == f"studio-{spec.name}-0" and item["port"] > 0
    assert runtime.status(handle).state in ("starting", "healthy")
    status = wait_for(lambda: healthy(runtime, handle, 1), 120, "a healthy container")
    TIMINGS["start_to_healthy_s"] = round(time.monotonic() - began, 2)
    assert status.urls == [f"http://127.0.0.1:{item['port']}"]
    assert predict(status.urls[0], frame.head(7)) == {"predictions": model.predict(frame.head(7)).tolist()}

    container = engine.containers.get(item["id"])
    assert container.labels["studio.deployment"] == str(spec.deployment_id)
    assert container.labels["studio.instance"] == "0"
    assert container.attrs["HostConfig"]["Init"] is True
    assert runtime.start(spec, build, lambda line: None) == handle  # a retried task starts nothing new
    assert f"studio-{spec.name}-0 | " in runtime.logs(handle, tail=20)
    assert "Uvicorn running on http://0.0.0.0:8080" in runtime.logs(handle, tail=50)

    began = time.monotonic()
    runtime.stop(handle)
    TIMINGS["stop_s"] = round(time.monotonic() - began, 2)
    assert TIMINGS["stop_s"] < 4  # init=True: SIGTERM ends the server, no wait for the kill
    assert runtime.status(handle).state == "stopped"
    runtime.stop(handle)  # stopping what is gone is fine


def test_start_replaces_containers_whose_settings_changed_and_scales(
    runtime: ContainerRuntime, engine: docker.DockerClient, build: dict[str, Any], spec: DeploymentSpec
) -> None:
    first = runtime.start(spec, build, lambda line: None)
    changed = DeploymentSpec(
        deployment_id=spec.deployment_id,
        name=spec.name,
        model_dir=spec.model_dir,
        instances=2,
        environment={"STUDIO_TEST_FLAG": "on"},
        options={"memory": "1g"},
    )
    lines: list[str] = []
    second = runtime.start(changed, build, lines.append)
    try:
        assert [item["name"] for item in second["containers"]] == [f"studio-{spec.name}-0", f"studio-{spec.name}-1"]
        assert first["containers"][0]["id"] not in {item["id"] for item in second["containers"]}
        assert any("replacing container" in line for line in lines)
        for item in second["containers"]:
            container = engine.containers.get(item["id"])
            assert "STUDIO_TEST_FLAG=on" in container.attrs["Config"]["Env"]
            assert container.attrs["HostConfig"]["Memory"] == 1 << 30
        third = runtime.start(DeploymentSpec(**{**changed.__dict__, "instances": 1}), build, lambda line: None)
        assert third["containers"] == second["containers"][:1]
        assert len(engine.containers.list(all=True, filters={"label": f"studio.deployment={spec.deployment_id}"})) == 1
    finally:
        runtime.stop({**second, "containers": []})  # by label: what a killed worker started unrecorded goes too
    assert engine.containers.list(all=True, filters={"label": f"studio.deployment={spec.deployment_id}"}) == []


def test_new_model_with_the_same_requirements_reuses_the_dependency_layer(
    runtime: ContainerRuntime,
    engine: docker.DockerClient,
    build: dict[str, Any],
    made: list[str],
    frame: pd.DataFrame,
    tmp_path: Path,
) -> None:
    save_model(tmp_path / "flipped", frame, flip=True)
    spec = DeploymentSpec(deployment_id=BASE_ID + 1, name=f"ctr{BASE_ID + 1}", model_dir=tmp_path / "flipped")
    began = time.monotonic()
    lines: list[str] = []
    record = runtime.build(spec, lines.append)
    made.append(record["image"])
    TIMINGS["rebuild_model_only_change_s"] = round(time.monotonic() - began, 2)
    assert record["reused"] is False and record["image"] != build["image"]
    assert record["requirements"] == build["requirements"]
    old = engine.images.get(build["image"]).attrs["RootFS"]["Layers"]
    new = engine.images.get(record["image"]).attrs["RootFS"]["Layers"]
    assert new[:-1] == old[:-1] and new[-1] != old[-1]  # everything but the model's layer is shared
    assert not any("Collecting" in line for line in lines)  # pip did not run again
    assert TIMINGS["rebuild_model_only_change_s"] < 30


def test_uninstallable_requirements_fail_with_pips_error(
    runtime: ContainerRuntime, engine: docker.DockerClient, model_dir: Path, tmp_path: Path
) -> None:
    """Asks the package index for a package that does not exist (a few seconds: it is the first requirement)."""
    broken = shutil.copytree(model_dir, tmp_path / "broken")
    (broken / "requirements.txt").write_text("studio-no-such-package-4f1c9==1.0\n")
    spec = DeploymentSpec(deployment_id=BASE_ID + 2, name=f"ctr{BASE_ID + 2}", model_dir=broken)
    with pytest.raises(RuntimeFailure) as failure:
        runtime.build(spec, lambda line: None)
    assert "requirements could not be installed" in failure.value.message
    assert "No matching distribution found for studio-no-such-package-4f1c9==1.0" in failure.value.details
    with pytest.raises(docker.errors.ImageNotFound):
        engine.images.get(runtime.render(spec, engine).tag())


def test_model_that_does_not_load_ends_failed_with_its_traceback(
    runtime: ContainerRuntime, build: dict[str, Any], made: list[str], model_dir: Path, tmp_path: Path
) -> None:
    broken = shutil.copytree(model_dir, tmp_path / "unloadable")
    for name in ("model.pkl", "model.skops"):  # whichever serialization MLmodel names
        (broken / name).write_bytes(b"not a model")
    spec = DeploymentSpec(deployment_id=BASE_ID + 3, name=f"ctr{BASE_ID + 3}", model_dir=broken)
    record = runtime.build(spec, lambda line: None)  # the dependency layer is reused: about a second
    made.append(record["image"])
    handle = runtime.start(spec, record, lambda line: None)
    try:
        status = wait_for(lambda: (s := runtime.status(handle)).state == "failed" and s, 90, "the failed state")
        assert f"studio-{spec.name}-0 exited with code 1:" in status.message
        # The end of the server's traceback (the engine may split a line where stderr's writes were split).
        assert "BadZipFile" in status.message
        assert "File is not a zip file" in status.message
        assert "Traceback" in runtime.logs(handle)
    finally:
        runtime.remove(handle, record)
    with pytest.raises(docker.errors.ImageNotFound):
        runtime.client(None).images.get(record["image"])


def test_remove_keeps_an_image_another_deployment_uses(
    runtime: ContainerRuntime, engine: docker.DockerClient, build: dict[str, Any], spec: DeploymentSpec
) -> None:
    other = DeploymentSpec(deployment_id=BASE_ID + 4, name=f"ctr{BASE_ID + 4}", model_dir=spec.model_dir)
    mine, theirs = runtime.start(spec, build, lambda line: None), runtime.start(other, build, lambda line: None)
    try:
        runtime.remove(mine, build)
        assert engine.images.get(build["image"]).id == build["image_id"]  # the other deployment's containers use it
        runtime.remove(theirs, build)
        with pytest.raises(docker.errors.ImageNotFound):
            engine.images.get(build["image"])
        lines: list[str] = []
        again = runtime.start(spec, build, lines.append)  # the image is gone: start builds it again
        assert any("building it again" in line for line in lines)
        assert engine.images.get(build["image"]).id
        runtime.remove(again, build)
    finally:
        runtime.stop(mine)
        runtime.stop(theirs)


# --- through Studio: the service builds and starts a registered version on the container runtime ------------------


@pytest.fixture
def eager() -> Iterator[None]:
    """Tasks sent with ``.delay`` run at once in this process (Celery's own eager mode), as a worker would."""
    from studio.celery import app as celery_app

    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = previous


def register_model_dir(api: Any, experiment_id: str, run_id: str, model_dir: Path, *, name: str) -> None:
    """A logged model holding ``model_dir``'s files, registered as version 1 of ``name`` (as ``log_model`` does)."""
    from tracking.artifacts import get_artifact_store, proxy_path

    info = api.post("logged-models", {"experiment_id": experiment_id, "name": "model", "source_run_id": run_id})
    info = info["model"]["info"]
    store, root = get_artifact_store(), proxy_path(info["artifact_uri"])
    for path in model_dir.rglob("*"):
        if path.is_file():
            with path.open("rb") as stream:
                store.write(f"{root}/{path.relative_to(model_dir).as_posix()}", stream)
    api.call("PATCH", f"logged-models/{info['model_id']}", {"status": "LOGGED_MODEL_READY"})
    api.call("POST", "registered-models/create", {"name": name})
    api.post(
        "model-versions/create", {"name": name, "source": f"models:/{info['model_id']}", "model_id": info["model_id"]}
    )


def test_a_registered_version_deploys_on_the_container_runtime_and_predicts(
    transactional_db: None,
    api: Any,
    experiment_id: str,
    run_id: str,
    eager: None,
    settings: Any,
    build: dict[str, Any],
    model_dir: Path,
    model: Any,
    frame: pd.DataFrame,
    engine: docker.DockerClient,
    runtime: ContainerRuntime,
    tmp_path: Path,
) -> None:
    """The worker's path (download, build, start, poll until healthy) and the delete's (remove), on the module's
    model: its image is on the engine, so the build finds it."""
    from deployments import services
    from deployments.models import Deployment
    from deployments.runtimes.registry import get_runtime

    settings.DATA_DIR = tmp_path
    settings.STUDIO_CONTAINER_BASE_IMAGE = BASE_IMAGE
    register_model_dir(api, experiment_id, run_id, model_dir, name="in-a-container")
    # pytest-django runs this test before or after the others: a container of another deployment keeps the module's
    # image in use, so the delete below leaves it to them (test_remove_keeps_an_image_another_deployment_uses).
    keeper_spec = DeploymentSpec(deployment_id=BASE_ID + 5, name=f"ctr{BASE_ID + 5}", model_dir=model_dir)
    keeper = runtime.start(keeper_spec, build, lambda line: None)
    services.create_endpoint(name="ctr-ep")
    deployment = services.create_deployment(
        endpoint="ctr-ep", name="blue", model_name="in-a-container", version=1, runtime="container"
    )
    deployment = Deployment.objects.get(pk=deployment.pk)
    try:
        assert deployment.status == "healthy", (deployment.status_message, list(deployment.events.values("message")))
        assert deployment.build["image"] == build["image"]  # the same files, the same context: the same tag
        assert deployment.build["reused"] is True
        assert deployment.urls == get_runtime("container").status(deployment.handle).urls
        assert predict(deployment.urls[0], frame.head(4)) == {"predictions": model.predict(frame.head(4)).tolist()}
    finally:
        services.delete_deployment(endpoint="ctr-ep", name="blue")
        for container in engine.containers.list(all=True, filters={"name": "studio-ctr-ep--blue-"}):
            container.remove(force=True)  # only if the delete failed: the test fails, the engine stays clean
        runtime.stop(keeper)
    assert not Deployment.objects.exists()
    assert engine.containers.list(all=True, filters={"label": f"studio.deployment={deployment.pk}"}) == []
