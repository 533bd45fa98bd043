"""The local runtime for real: uv builds the model's environment, MLflow's scoring server runs under the supervisor.

The module builds one environment (slow the first time on a machine: uv downloads the model's requirements; seconds
once uv's cache is warm) and every test shares it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import mlflow.sklearn
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from deployments.runtimes.base import DeploymentSpec, RuntimeFailure, RuntimeStatus
from deployments.runtimes.local import LocalRuntime
from deployments.runtimes.local_env import read_model_environment

OUTPUT = Path(os.environ.get("STUDIO_TEST_OUTPUT", Path(__file__).resolve().parents[2] / "test-output"))
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))
TIMINGS: dict[str, float] = {}


def post(url: str, body: bytes, content_type: str) -> Any:
    request = urllib.request.Request(f"{url}/invocations", data=body, headers={"Content-Type": content_type})
    with NO_PROXY.open(request, timeout=30) as response:
        return json.loads(response.read())


def get(url: str) -> tuple[int, str]:
    with NO_PROXY.open(url, timeout=10) as response:
        return response.status, response.read().decode()


def wait_for(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(rng.normal(size=(40, 3)), columns=["a", "b", "c"])


@pytest.fixture(scope="module")
def model(frame: pd.DataFrame) -> LogisticRegression:
    return LogisticRegression().fit(frame, (frame["a"] + frame["b"] > 0).astype(int))


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory, model: LogisticRegression, frame: pd.DataFrame) -> Path:
    path = tmp_path_factory.mktemp("model") / "model"
    mlflow.sklearn.save_model(model, path, input_example=frame.head(3))
    return path


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> LocalRuntime:
    return LocalRuntime(root=tmp_path_factory.mktemp("runtimes"))


@pytest.fixture(scope="module")
def spec(model_dir: Path) -> DeploymentSpec:
    return DeploymentSpec(deployment_id=1, name="iris", model_dir=model_dir, instances=2)


@pytest.fixture(scope="module")
def build(runtime: LocalRuntime, spec: DeploymentSpec) -> dict[str, Any]:
    """Slow the first time on a machine (uv fetches mlflow, scikit-learn, ...); a few seconds with uv's cache warm."""
    began = time.monotonic()
    record = runtime.build(spec, lambda line: None)
    TIMINGS["cold_build_s"] = round(time.monotonic() - began, 2)
    return record


@pytest.fixture(scope="module")
def handle(runtime: LocalRuntime, spec: DeploymentSpec, build: dict[str, Any]) -> Iterator[dict[str, Any]]:
    handle = runtime.start(spec, build, lambda line: None)
    yield handle
    runtime.remove(handle, build)


@pytest.fixture(scope="module", autouse=True)
def _report_timings() -> Iterator[None]:
    yield
    if TIMINGS:
        OUTPUT.mkdir(parents=True, exist_ok=True)
        (OUTPUT / "local-runtime-timings.json").write_text(json.dumps(TIMINGS, indent=2))


def healthy(runtime: LocalRuntime, handle: dict[str, Any], count: int) -> RuntimeStatus | None:
    status = runtime.status(handle)
    return status if status.state == "healthy" and len(status.urls) == count else None


def test_read_model_environment_takes_python_env_and_requirements(model_dir: Path) -> None:
    environment = read_model_environment(model_dir=model_dir)
    assert environment.python.count(".") == 2
    assert any(line.startswith("scikit-learn==") for line in environment.requirements)
    assert any(line.startswith("mlflow==") for line in environment.requirements)


def test_read_model_environment_falls_back_to_conda_yaml(model_dir: Path, tmp_path: Path) -> None:
    copy = shutil.copytree(model_dir, tmp_path / "model")
    (copy / "python_env.yaml").unlink()
    from_conda = read_model_environment(model_dir=copy)
    assert set(read_model_environment(model_dir=model_dir).requirements) == set(from_conda.requirements)


def test_build_creates_an_environment_that_runs_the_server(build: dict[str, Any]) -> None:
    assert build["reused"] is False
    assert Path(build["python"]).exists()
    assert not list(Path(build["env_dir"]).parent.glob(".building-*"))


def test_second_build_of_same_requirements_reuses_the_environment(
    runtime: LocalRuntime, build: dict[str, Any], model_dir: Path, tmp_path: Path
) -> None:
    other = DeploymentSpec(deployment_id=2, name="other", model_dir=shutil.copytree(model_dir, tmp_path / "m"))
    began = time.monotonic()
    again = runtime.build(other, lambda line: None)
    TIMINGS["cached_build_s"] = round(time.monotonic() - began, 3)
    assert again["reused"] is True
    assert again["env_dir"] == build["env_dir"]
    assert TIMINGS["cached_build_s"] < 5


def test_uninstallable_requirements_fail_with_uv_error(runtime: LocalRuntime, model_dir: Path, tmp_path: Path) -> None:
    """Asks PyPI for a package that does not exist (a second or two)."""
    broken = shutil.copytree(model_dir, tmp_path / "broken")
    with (broken / "requirements.txt").open("a") as requirements:
        requirements.write("\nstudio-no-such-package-4f1c9==1.0\n")
    with pytest.raises(RuntimeFailure) as failure:
        runtime.build(DeploymentSpec(deployment_id=3, name="broken", model_dir=broken), lambda line: None)
    assert "requirements could not be installed" in failure.value.message
    # uv wraps its explanation to the terminal's width: compare with the line breaks folded.
    details = " ".join(failure.value.details.split())
    assert "studio-no-such-package-4f1c9 was not found in the package registry" in details
    digest = read_model_environment(model_dir=broken).digest()
    assert not (runtime.envs / digest).exists()
    assert not list(runtime.envs.glob(f".building-{digest}-*"))


def test_started_instances_answer_like_model_predict(
    runtime: LocalRuntime, handle: dict[str, Any], model: LogisticRegression, frame: pd.DataFrame
) -> None:
    began = time.monotonic()
    status = wait_for(lambda: healthy(runtime, handle, 2), 120, "two healthy instances")
    TIMINGS["start_to_healthy_s"] = round(time.monotonic() - began, 2)
    expected = model.predict(frame.head(5)).tolist()
    data = frame.head(5)
    payloads = [
        (json.dumps({"dataframe_split": data.to_dict(orient="split")}), "application/json"),
        (json.dumps({"dataframe_records": data.to_dict(orient="records")}), "application/json"),
        (json.dumps({"instances": data.to_dict(orient="records")}), "application/json"),
        (json.dumps({"inputs": data.to_dict(orient="list")}), "application/json"),
        (data.to_csv(index=False), "text/csv"),
    ]
    for url in status.urls:
        for body, content_type in payloads:
            assert post(url, body.encode(), content_type) == {"predictions": expected}, (url, body)
        assert get(f"{url}/health")[0] == 200
        assert get(f"{url}/version")[1].strip() == mlflow.__version__


def test_start_again_returns_the_running_deployment(
    runtime: LocalRuntime, spec: DeploymentSpec, build: dict[str, Any], handle: dict[str, Any]
) -> None:
    assert runtime.start(spec, build, lambda line: None) == handle


def test_crashed_instance_is_restarted_and_reported(runtime: LocalRuntime, handle: dict[str, Any]) -> None:
    wait_for(lambda: healthy(runtime, handle, 2), 120, "two healthy instances")
    started = [event for event in runtime.events(handle) if event["event"] in ("started", "restarted")]
    victim = [event for event in started if event["instance"] == 0][-1]["pid"]
    os.kill(victim, signal.SIGKILL)
    restarted = wait_for(
        lambda: [e for e in runtime.events(handle) if e["event"] == "restarted" and e["instance"] == 0], 30, "restart"
    )
    exited = [e for e in runtime.events(handle) if e["event"] == "exited" and e["pid"] == victim]
    assert exited[0]["returncode"] == -signal.SIGKILL
    assert restarted[-1]["pid"] != victim
    began = time.monotonic()
    wait_for(lambda: healthy(runtime, handle, 2), 120, "the restarted instance healthy")
    TIMINGS["restart_to_healthy_s"] = round(time.monotonic() - began, 2)
    assert "starting instance 0" in runtime.logs(handle, tail=50)


def test_stop_leaves_no_process_and_remove_keeps_the_environment(
    runtime: LocalRuntime, handle: dict[str, Any], build: dict[str, Any]
) -> None:
    events = runtime.events(handle)
    pids = {event["pid"] for event in events if event.get("pid")}
    runtime.stop(handle)
    # stop() returns once the supervisor let go of its lock and its instances are gone; the supervisor itself may
    # still be in the kernel's exit for a moment on a busy machine.
    deadline = time.monotonic() + 5
    while [pid for pid in pids if alive(pid)] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [pid for pid in pids if alive(pid)] == []
    assert runtime.status(handle).state == "stopped"
    runtime.stop(handle)  # stopping twice is fine
    assert runtime.events(handle)[-1]["event"] == "supervisor_stopped"
    runtime.remove(handle, build)
    assert not Path(handle["dir"]).exists()
    assert Path(build["python"]).exists()


def test_model_that_does_not_load_ends_failed(
    runtime: LocalRuntime, build: dict[str, Any], model_dir: Path, tmp_path: Path
) -> None:
    broken = shutil.copytree(model_dir, tmp_path / "unloadable")
    for name in ("model.pkl", "model.skops"):  # whichever serialization MLmodel names
        (broken / name).write_bytes(b"not a model")
    options = {"max_crashes": 2, "backoff": [0.2, 0.2]}
    spec = DeploymentSpec(deployment_id=4, name="unloadable", model_dir=broken, options=options)
    handle = runtime.start(spec, build, lambda line: None)
    try:
        status = wait_for(lambda: (s := runtime.status(handle)).state == "failed" and s, 90, "the failed state")
        assert "given up" in status.message
        assert [e["event"] for e in runtime.events(handle)].count("gave_up") == 1
        assert "Traceback" in runtime.logs(handle)
    finally:
        runtime.remove(handle, build)


def test_killed_build_leaves_nothing_ready_and_concurrent_builds_share_one(
    runtime: LocalRuntime, model_dir: Path, tmp_path: Path
) -> None:
    """Slow-ish (two builds of a new environment, about 10 s with uv's cache warm): a build process is SIGKILLed
    while uv installs, then two threads build the same requirements at once."""
    variant = shutil.copytree(model_dir, tmp_path / "variant")
    with (variant / "requirements.txt").open("a") as requirements:
        requirements.write("\ncloudpickle\n")  # already required: a new hash, the same packages
    digest = read_model_environment(model_dir=variant).digest()
    spec = DeploymentSpec(deployment_id=5, name="variant", model_dir=variant)
    script = (
        "import sys; from pathlib import Path; from deployments.runtimes.base import DeploymentSpec;"
        "from deployments.runtimes.local import LocalRuntime;"
        f"LocalRuntime(root=Path({str(runtime.root)!r})).build("
        f"DeploymentSpec(deployment_id=5, name='variant', model_dir=Path({str(variant)!r})), print)"
    )
    root = Path(__file__).resolve().parents[2]
    worker = subprocess.Popen([sys.executable, "-c", script], cwd=root, start_new_session=True)
    wait_for(lambda: list(runtime.envs.glob(f".building-{digest}-*/venv/pyvenv.cfg")), 60, "uv creating the venv")
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait()
    assert not (runtime.envs / digest).exists()
    assert list(runtime.envs.glob(f".building-{digest}-*"))  # the half-built folder, which no one takes as ready

    with ThreadPoolExecutor(2) as pool:
        records = list(pool.map(lambda _: runtime.build(spec, lambda line: None), range(2)))
    assert sorted(record["reused"] for record in records) == [False, True]
    assert records[0]["env_dir"] == records[1]["env_dir"] == str(runtime.envs / digest)
    assert not list(runtime.envs.glob(f".building-{digest}-*"))
    shutil.rmtree(runtime.envs / digest)
