"""Studio's ``mlflow.deployments`` plugin against a live Studio: ``get_deploy_client("studio")`` and the ``mlflow
deployments`` CLI create, score, update and delete through the REST API, over HTTP, with the tracking credentials.

Most tests use the ``echo`` runtime of test_gateway (real HTTP scoring servers that sum each row) with tasks run
eagerly in the live server's request thread; ``worker`` runs them in a thread of their own instead, as a Celery
worker would, so that the client really waits. The last test deploys a real sklearn model on the local runtime.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from django.db import connection, transaction
from mlflow.deployments import PredictionsResponse, get_deploy_client, run_local
from mlflow.deployments.cli import commands as deployments_cli
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from deployments import tasks
from deployments.mlflow_plugin import StudioDeploymentClient, scoring_payload, studio_uri
from deployments.models import Deployment, Endpoint
from deployments.runtimes.base import DeploymentSpec, Log, RuntimeFailure
from deployments.runtimes.registry import get_runtime
from deployments.services import changes
from tests.deployments.test_gateway import EchoRuntime, echo  # noqa: F401 - fixtures

OUTPUT = Path(os.environ.get("STUDIO_TEST_OUTPUT", Path(__file__).resolve().parents[2] / "test-output"))
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))
TIMINGS: dict[str, float] = {}


class FlakyRuntime(EchoRuntime):
    """The echo runtime whose builds fail while ``failing`` is set, with an installer's output as details."""

    name = "flaky"
    failing = False

    def build(self, spec: DeploymentSpec, log: Log) -> dict[str, Any]:
        if self.failing:
            details = "No solution found when resolving dependencies:\n  nosuch==9 was not found"
            raise RuntimeFailure("the model's requirements could not be installed", details)
        return super().build(spec, log)


def code(error: pytest.ExceptionInfo[MlflowException]) -> str:
    return error.value.error_code


@pytest.fixture
def client(echo: EchoRuntime, tracking_uri: str, monkeypatch: pytest.MonkeyPatch, settings: Any) -> Any:  # noqa: F811
    """The plugin's client for the live Studio, found by MLflow through the entry point; runtimes echo and flaky."""
    settings.STUDIO_RUNTIMES = {"echo": f"{EchoRuntime.__module__}.EchoRuntime", "flaky": f"{__name__}.FlakyRuntime"}
    found = get_deploy_client("studio")  # the tracking URI the fixture set (mlflow.set_tracking_uri)
    assert isinstance(found, StudioDeploymentClient)
    assert found.tracking_uri == tracking_uri
    return found


@pytest.fixture
def model(mlflow_client: MlflowClient, tmp_path: Path) -> str:
    """Registered model "m" with versions 1 and 2 (alias ``champion`` on 2), registered through the mlflow client
    from a run's artifacts."""
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "MLmodel").write_text("flavors:\n  python_function:\n    loader_module: echo\n")
    run = mlflow_client.create_run(mlflow_client.create_experiment("plugin"))
    mlflow_client.log_artifacts(run.info.run_id, str(folder), "model")
    mlflow_client.set_terminated(run.info.run_id)
    mlflow_client.create_registered_model("m")
    for _ in range(2):
        mlflow_client.create_model_version("m", f"runs:/{run.info.run_id}/model", run_id=run.info.run_id)
    mlflow_client.set_registered_model_alias("m", "champion", "2")
    return "m"


@pytest.fixture
def worker(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[threading.Thread]]:
    """Tasks run as a Celery worker runs them: in another thread, a moment after the change is committed."""
    threads: list[threading.Thread] = []

    def work(task_name: str, deployment_id: int) -> None:
        time.sleep(0.3)
        try:
            getattr(tasks, task_name)(deployment_id)  # calling a task runs it in this thread
        finally:
            connection.close()

    def enqueue(task_name: str, deployment_id: int) -> None:
        thread = threading.Thread(target=work, args=(task_name, deployment_id), daemon=True)
        threads.append(thread)
        transaction.on_commit(thread.start)

    monkeypatch.setattr(changes, "enqueue", enqueue)
    yield threads
    for thread in threads:
        if thread.is_alive():
            thread.join(timeout=120)


def echo_frame() -> pd.DataFrame:
    return pd.DataFrame({"a": [1, 3, 10], "b": [2, 4, 0.5]})


# --- targets, help, payloads (no server) ---------------------------------------------------------------------------


def test_targets_name_the_tracking_server_or_a_studio_of_their_own(monkeypatch: pytest.MonkeyPatch) -> None:
    tracking = {"uri": "http://studio.internal:5000/"}
    monkeypatch.setattr(mlflow, "get_tracking_uri", lambda: tracking["uri"])
    assert studio_uri("studio") == studio_uri("studio:/") == "http://studio.internal:5000"
    assert studio_uri("studio://localhost:8000/p") == "http://localhost:8000/p"
    assert studio_uri("studio:https://studio.example.com/p/") == "https://studio.example.com/p"
    assert get_deploy_client("studio://localhost:8000").tracking_uri == "http://localhost:8000"
    with pytest.raises(MlflowException, match="Not a Studio target") as wrong:
        studio_uri("sagemaker")
    assert code(wrong) == "INVALID_PARAMETER_VALUE"
    tracking["uri"] = "sqlite:///mlflow.db"
    with pytest.raises(MlflowException, match=r"needs a Studio server.*MLFLOW_TRACKING_URI"):
        get_deploy_client("studio")


def test_the_help_names_targets_config_keys_and_examples() -> None:
    result = CliRunner().invoke(deployments_cli, ["help", "-t", "studio"])
    assert result.exit_code == 0, result.output
    for text in ("studio://host:port", "MLFLOW_TRACKING_TOKEN", "traffic_weight", "models:/<name>@<alias>",
                 "env_manager", "mlflow deployments create -t studio"):  # fmt: skip
        assert text in result.output


@pytest.mark.parametrize(
    ("inputs", "payload"),
    [
        (pd.DataFrame({"a": [1, 2], "b": [0.5, None]}), {"dataframe_split": {"columns": ["a", "b"],
                                                                             "data": [[1, 0.5], [2, None]]}}),
        ({"a": [1, 2], "b": [3, 4]}, {"dataframe_split": {"columns": ["a", "b"], "data": [[1, 3], [2, 4]]}}),
        ({"dataframe_records": [{"a": 1}]}, {"dataframe_records": [{"a": 1}]}),
        ({"inputs": np.array([1, 2]), "params": {"k": 1}}, {"inputs": [1, 2], "params": {"k": 1}}),
        ([[1, 2], [3, 4]], {"inputs": [[1, 2], [3, 4]]}),
        (np.array([[1.5, 2.0]]), {"inputs": [[1.5, 2.0]]}),
        ({"text": "hi", "n": 2}, {"inputs": {"text": "hi", "n": 2}}),
        ({"prompt": "hi", "max_tokens": 9}, {"prompt": "hi", "max_tokens": 9}),  # MLflow's LLM payload
        (([[1]], {"temperature": 0.1}), {"inputs": [[1]], "params": {"temperature": 0.1}}),
    ],
)  # fmt: skip
def test_inputs_become_the_scoring_servers_json(inputs: Any, payload: dict) -> None:
    sent = json.loads(scoring_payload(inputs))
    if "dataframe_split" in payload:  # NaN travels as NaN, as MLflow's own client sends it
        sent["dataframe_split"]["data"] = [
            [None if v != v else v for v in row] for row in sent["dataframe_split"]["data"]
        ]
    assert sent == payload


def test_inputs_that_cannot_be_scored_are_refused() -> None:
    with pytest.raises(MlflowException, match="predict needs inputs") as missing:
        scoring_payload(None)
    assert code(missing) == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException, match="Cannot turn inputs of type object"):
        scoring_payload(object())


# --- standalone deployments ----------------------------------------------------------------------------------------


def test_a_deployment_without_endpoint_brings_and_takes_its_own(client: Any, model: str, echo: EchoRuntime) -> None:  # noqa: F811
    created = client.create_deployment("fraud", "models:/m/1", config={"runtime": "echo", "instances": 2})
    assert created["status"] == "healthy"
    assert (created["name"], created["endpoint"], created["model_version"]) == ("fraud", "fraud", "1")
    assert created["instances"] == 2
    assert created["flavor"] == "python_function"
    assert created["primary_key"].startswith("sk-")
    assert created["primary_key"] != created["secondary_key"]
    endpoint = client.get_endpoint("fraud")
    assert endpoint["state"] == "healthy"
    assert endpoint["primary_key_prefix"] == created["primary_key"][:10]
    assert [d["name"] for d in endpoint["deployments"]] == ["fraud"]
    assert client.get_deployment("fraud")["traffic_weight"] == 100
    assert [(d["endpoint"], d["name"]) for d in client.list_deployments()] == [("fraud", "fraud")]

    predicted = client.predict("fraud", echo_frame())
    assert isinstance(predicted, PredictionsResponse)
    assert predicted["predictions"] == [3, 7, 10.5]
    assert predicted.get_predictions()[0].tolist() == [3, 7, 10.5]
    sent = {"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2], [3, 4], [10, 0.5]]}}
    assert json.loads(echo.seen["fraud--fraud"][-1]) == sent
    assert client.predict("fraud", {"a": [1], "b": [1]})["predictions"] == [2]

    client.delete_deployment("fraud")
    assert not Deployment.objects.exists()
    assert not Endpoint.objects.exists()  # standalone: its endpoint went with it
    with pytest.raises(MlflowException) as gone:
        client.get_endpoint("fraud")
    assert code(gone) == "RESOURCE_DOES_NOT_EXIST"
    client.delete_deployment("fraud")  # deleting what is gone is fine
    assert client.list_endpoints() == []


def test_model_uris_resolve_to_registered_versions(client: Any, model: str, mlflow_client: MlflowClient) -> None:
    mlflow_client.transition_model_version_stage("m", "1", "Production")
    assert client.resolve_model_uri("models:/m/1") == ("m", "1")
    assert client.resolve_model_uri("models:/m@champion") == ("m", "2")
    assert client.resolve_model_uri("models:/m/Production") == ("m", "1")
    assert client.resolve_model_uri("models:/m/latest") == ("m", "2")
    deployed = client.create_deployment("champ", "models:/m@champion", config={"runtime": "echo"})
    assert deployed["model_version"] == "2"

    refused = {
        "runs:/0123/model": ("INVALID_PARAMETER_VALUE", "register the model first"),
        "/tmp/model": ("INVALID_PARAMETER_VALUE", "register the model first"),
        "models:/m-0123456789abcdef": ("INVALID_PARAMETER_VALUE", "names a logged model"),
        "models:/": ("INVALID_PARAMETER_VALUE", "Not a proper models:/ URI"),
        "models:/m/9": ("RESOURCE_DOES_NOT_EXIST", "m"),
        "models:/nope/1": ("RESOURCE_DOES_NOT_EXIST", "nope"),
        "models:/m@nope": ("INVALID_PARAMETER_VALUE", "nope"),
        "models:/m/Staging": ("RESOURCE_DOES_NOT_EXIST", "has no version in stage 'Staging'"),
    }
    for uri, (error_code, words) in refused.items():
        with pytest.raises(MlflowException) as error:
            client.create_deployment("other", uri, config={"runtime": "echo"})
        assert (code(error), words in error.value.message) == (error_code, True), (uri, error.value.message)
    assert [e["name"] for e in client.list_endpoints()] == ["champ"]  # a refused create leaves no endpoint behind


# --- endpoints, traffic, updates ------------------------------------------------------------------------------------


def test_endpoints_split_mirror_and_route_traffic(client: Any, model: str, echo: EchoRuntime) -> None:  # noqa: F811
    created = client.create_endpoint("prod", config={"description": "fraud scoring"})
    assert created["description"] == "fraud scoring"
    assert created["state"] == "empty"
    assert created["primary_key"].startswith("sk-")
    blue = client.create_deployment("blue", "models:/m/1", endpoint="prod", config={"runtime": "echo"})
    assert "primary_key" not in blue
    assert blue["traffic_weight"] == 100
    green = client.create_deployment("green", "models:/m/2", endpoint="prod", config={"runtime": "echo",
                                                                                      "traffic_weight": 0})  # fmt: skip
    assert green["traffic_weight"] == 0
    assert {client.predict(endpoint="prod", inputs=[[1]])["deployment"] for _ in range(5)} == {"prod--blue"}

    split = client.update_endpoint("prod", config={"traffic": {"blue": 50, "green": 50}})
    assert {d["name"]: d["traffic_weight"] for d in split["deployments"]} == {"blue": 50, "green": 50}
    counts = Counter(client.predict(endpoint="prod", inputs=echo_frame())["deployment"] for _ in range(60))
    assert set(counts) == {"prod--blue", "prod--green"}, counts
    assert client.predict("green", echo_frame(), endpoint="prod")["deployment"] == "prod--green"

    client.create_deployment("shadow", "models:/m/2", endpoint="prod", config={"runtime": "echo", "mirror": True})
    mirrored = client.update_endpoint("prod", config={"traffic": '{"blue": 100, "green": "0"}', "mirror": ""})
    assert {d["name"]: (d["traffic_weight"], d["mirror"]) for d in mirrored["deployments"]} == {
        "blue": (100, False), "green": (0, False), "shadow": (0, False)}  # fmt: skip
    mirrored = client.update_endpoint("prod", config={"mirror": "shadow", "description": "v2 in the shadows"})
    assert [d["name"] for d in mirrored["deployments"] if d["mirror"]] == ["shadow"]
    assert client.get_endpoint("prod")["description"] == "v2 in the shadows"
    assert [e["name"] for e in client.list_endpoints()] == ["prod"]
    assert {d["name"] for d in client.list_deployments(endpoint="prod")} == {"blue", "green", "shadow"}

    client.delete_deployment("green", endpoint="prod")
    assert {d["name"] for d in client.get_endpoint("prod")["deployments"]} == {"blue", "shadow"}
    client.delete_endpoint("prod")
    assert client.list_endpoints() == []
    assert not Deployment.objects.exists()
    client.delete_endpoint("prod")  # idempotent


def test_update_moves_to_a_new_version_or_instance_count(client: Any, model: str) -> None:
    client.create_deployment("fraud", "models:/m/1", config={"runtime": "echo"})
    updated = client.update_deployment("fraud", "models:/m@champion")
    assert (updated["status"], updated["model_version"], updated["flavor"]) == ("healthy", "2", "python_function")
    scaled = client.update_deployment("fraud", config={"instances": "3"})  # a string, as the CLI passes it
    assert (scaled["model_version"], scaled["instances"]) == ("2", 3)
    assert client.predict("fraud", echo_frame())["predictions"] == [3, 7, 10.5]
    with pytest.raises(MlflowException, match="Nothing to update") as nothing:
        client.update_deployment("fraud")
    assert code(nothing) == "INVALID_PARAMETER_VALUE"


# --- failures -------------------------------------------------------------------------------------------------------


def test_errors_carry_studios_error_codes(client: Any, model: str, tracking_uri: str) -> None:
    client.create_deployment("blue", "models:/m/1", endpoint=None, config={"runtime": "echo"})

    def error_of(call: Callable[[], Any]) -> tuple[str, str]:
        with pytest.raises(MlflowException) as error:
            call()
        return code(error), error.value.message

    cases = {
        "unknown deployment": (lambda: client.get_deployment("nope"), "RESOURCE_DOES_NOT_EXIST"),
        "unknown endpoint": (lambda: client.get_endpoint("nope"), "RESOURCE_DOES_NOT_EXIST"),
        "taken deployment name": (lambda: client.create_deployment("blue", "models:/m/2", endpoint="blue"),
                                  "RESOURCE_ALREADY_EXISTS"),
        "taken endpoint name": (lambda: client.create_endpoint("blue"), "RESOURCE_ALREADY_EXISTS"),
        "bad name": (lambda: client.create_endpoint("Bad Name"), "INVALID_PARAMETER_VALUE"),
        "unknown runtime": (lambda: client.create_deployment("x-1", "models:/m/1", config={"runtime": "warp"}),
                            "INVALID_PARAMETER_VALUE"),
        "unknown config key": (lambda: client.create_deployment("x-1", "models:/m/1", config={"replicas": 2}),
                               "INVALID_PARAMETER_VALUE"),
        "config of the wrong type": (lambda: client.create_deployment("x-1", "models:/m/1", config={"instances": "x"}),
                                     "INVALID_PARAMETER_VALUE"),
        "another flavor": (lambda: client.create_deployment("x-1", "models:/m/1", flavor="sklearn"),
                           "INVALID_PARAMETER_VALUE"),
        "weights not summing to 100": (lambda: client.update_endpoint("blue", config={"traffic": {"blue": 60}}),
                                       "INVALID_PARAMETER_VALUE"),
        "predict on no endpoint": (lambda: client.predict("nope", [[1]]), "RESOURCE_DOES_NOT_EXIST"),
        "predict on no deployment": (lambda: client.predict("nope", [[1]], endpoint="blue"), "INVALID_PARAMETER_VALUE"),
        "predict without names": (lambda: client.predict(inputs=[[1]]), "INVALID_PARAMETER_VALUE"),
        "explain": (lambda: client.explain("blue", echo_frame()), "NOT_IMPLEMENTED"),
        "not a Studio": (lambda: get_deploy_client(f"studio:{tracking_uri}/elsewhere").list_endpoints(),
                         "ENDPOINT_NOT_FOUND"),
    }  # fmt: skip
    for what, (call, error_code) in cases.items():
        assert error_of(call)[0] == error_code, (what, error_of(call))
    assert "Deployment 'nope' of endpoint 'nope' does not exist" in error_of(lambda: client.get_deployment("nope"))[1]
    assert "is it a Studio server?" in error_of(cases["not a Studio"][0])[1]
    assert "The keys are: runtime, instances" in error_of(cases["unknown config key"][0])[1]


def test_a_deployment_that_fails_raises_with_the_failure_details(client: Any, model: str) -> None:
    get_runtime("flaky").failing = True
    with pytest.raises(MlflowException) as failed:
        client.create_deployment("fraud", "models:/m/1", config={"runtime": "flaky"})
    assert code(failed) == "INVALID_STATE"
    message = failed.value.message
    assert "Deployment 'fraud' of endpoint 'fraud' failed: the model's requirements could not be installed" in message
    assert "nosuch==9 was not found" in message
    assert client.get_deployment("fraud")["status"] == "failed"  # left for a person to read its events


def test_an_update_that_fails_is_rolled_back_and_raises(client: Any, model: str) -> None:
    client.create_deployment("fraud", "models:/m/1", config={"runtime": "flaky"})
    get_runtime("flaky").failing = True
    with pytest.raises(MlflowException) as failed:
        client.update_deployment("fraud", "models:/m/2")
    assert code(failed) == "INVALID_STATE"
    assert "Update to m v2 failed" in failed.value.message
    assert "rolled back to m v1" in failed.value.message
    assert "nosuch==9 was not found" in failed.value.message
    get_runtime("flaky").failing = False
    current = client.get_deployment("fraud")
    assert (current["status"], current["model_version"]) == ("healthy", "1")
    assert client.predict("fraud", echo_frame())["predictions"] == [3, 7, 10.5]


# --- waiting on a worker --------------------------------------------------------------------------------------------


def test_create_update_and_delete_wait_for_a_worker(client: Any, model: str, worker: list[threading.Thread]) -> None:
    began = time.monotonic()
    created = client.create_deployment("fraud", "models:/m/1", config={"runtime": "echo", "instances": 2})
    assert created["status"] == "healthy"
    assert time.monotonic() - began > 0.3  # the worker only started after the create had answered
    updated = client.update_deployment("fraud", "models:/m/2")
    assert (updated["status"], updated["model_version"]) == ("healthy", "2")
    client.delete_deployment("fraud")
    assert not Deployment.objects.exists()
    assert not Endpoint.objects.exists()
    assert len(worker) == 3


def test_without_wait_the_client_returns_at_once_and_a_timeout_says_so(
    client: Any, model: str, worker: list[threading.Thread]
) -> None:
    queued = client.create_deployment("fast", "models:/m/1", config={"runtime": "echo", "wait": "false"})
    assert queued["status"] == "queued"
    worker[-1].join(timeout=30)
    assert client.get_deployment("fast")["status"] == "healthy"

    with pytest.raises(MlflowException) as late:
        client.create_deployment("slow", "models:/m/1", config={"runtime": "echo", "timeout": 0.1})
    assert code(late) == "DEADLINE_EXCEEDED"
    assert "is still queued after 0.1 s" in late.value.message
    client.delete_deployment("slow", config={"wait": False})
    for thread in worker:
        thread.join(timeout=30)
    assert not Deployment.objects.filter(name="slow").exists()
    assert not Endpoint.objects.filter(name="slow").exists()


# --- what travels with the requests ----------------------------------------------------------------------------------


def test_the_tracking_credentials_travel_with_every_request(
    client: Any, model: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "alice")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "secret")
    assert client.create_endpoint("prod")["user_id"] == "alice"
    deployed = client.create_deployment("blue", "models:/m/1", endpoint="prod", config={"runtime": "echo"})
    assert deployed["user_id"] == "alice"


def test_the_mlflow_cli_drives_studio(client: Any, model: str, tmp_path: Path, tracking_uri: str) -> None:
    runner = CliRunner()

    def cli(*args: str) -> str:
        result = runner.invoke(deployments_cli, list(args), catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    assert "python_function deployment fraud is created" in cli(
        "create", "-t", "studio", "--name", "fraud", "-m", "models:/m/1", "-C", "runtime=echo", "-C", "instances=2"
    )
    assert "status: healthy" in cli("get", "-t", "studio", "--name", "fraud")
    assert "'name': 'fraud'" in cli("list", "-t", f"studio:{tracking_uri}")
    payload = tmp_path / "input.json"
    echo_frame().to_json(payload, orient="records")
    assert json.loads(cli("predict", "-t", "studio", "--name", "fraud", "-I", str(payload)))["predictions"] == [
        3, 7, 10.5]  # fmt: skip
    assert "is updated (with flavor python_function)" in cli(
        "update", "-t", "studio", "--name", "fraud", "-m", "models:/m/2", "-C", "wait=true"
    )
    assert client.get_deployment("fraud")["model_version"] == "2"
    cli("update-endpoint", "-t", "studio", "--endpoint", "fraud", "-C", 'traffic={"fraud": 100}')
    cli("delete", "-t", "studio", "--name", "fraud")
    assert client.list_endpoints() == []


# --- for real: an sklearn model on the local runtime -----------------------------------------------------------------


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One data dir for the module (as test_local_runtime shares one runtime root): the model's environment is built
    once, in seconds when uv's cache is warm."""
    return tmp_path_factory.mktemp("plugin-data")


@pytest.fixture(scope="module", autouse=True)
def _report_timings() -> Iterator[None]:
    yield
    if TIMINGS:
        OUTPUT.mkdir(parents=True, exist_ok=True)
        (OUTPUT / "mlflow-plugin-timings.json").write_text(json.dumps(TIMINGS, indent=2))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def answer(url: str, frame: pd.DataFrame) -> Any:
    body = json.dumps({"dataframe_split": frame.to_dict(orient="split")}).encode()
    request = urllib.request.Request(f"{url}/invocations", body, {"Content-Type": "application/json"})
    with NO_PROXY.open(request, timeout=30) as response:
        return json.loads(response.read())


def wait_for_ping(url: str, process: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "the scoring server exited"
        try:
            with NO_PROXY.open(f"{url}/ping", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.25)
    raise AssertionError(f"{url} did not answer /ping within {timeout} s")


@pytest.mark.live
def test_an_sklearn_model_deploys_on_the_local_runtime_and_predicts_like_the_model(
    transactional_db: None,
    tracking_uri: str,
    data_dir: Path,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
    worker: list[threading.Thread],
) -> None:
    """Slow the first time on a machine (uv fetches scikit-learn, mlflow…): about 10-20 s with uv's cache warm."""
    import mlflow.sklearn
    from sklearn.linear_model import LogisticRegression

    settings.DATA_DIR = data_dir
    frame = pd.DataFrame(np.random.default_rng(0).normal(size=(40, 3)), columns=["a", "b", "c"])
    model = LogisticRegression().fit(frame, (frame["a"] + frame["b"] > 0).astype(int))
    began = time.monotonic()
    with mlflow.start_run(experiment_id=MlflowClient().create_experiment("iris")):
        mlflow.sklearn.log_model(model, name="model", input_example=frame.head(3), registered_model_name="iris")
    TIMINGS["log_and_register_s"] = round(time.monotonic() - began, 2)

    client = get_deploy_client("studio")
    began = time.monotonic()
    deployment = client.create_deployment("iris", "models:/iris/latest", config={"instances": 1, "timeout": 600})
    TIMINGS["create_to_healthy_s"] = round(time.monotonic() - began, 2)
    try:
        assert (deployment["status"], deployment["runtime"], deployment["model_version"]) == ("healthy", "local", "1")
        began = time.monotonic()
        predicted = client.predict("iris", frame)
        TIMINGS["first_predict_s"] = round(time.monotonic() - began, 3)
        assert predicted["predictions"] == model.predict(frame).tolist()
        assert client.predict("iris", frame.head(7).to_dict(orient="list"))["predictions"] == (
            model.predict(frame.head(7)).tolist()
        )
        assert predicted.get_predictions()[0].tolist() == model.predict(frame).tolist()
    finally:
        client.delete_deployment("iris", config={"timeout": 120})
    assert client.list_endpoints() == []

    # run_local: MLflow's own scoring server for the same registered version, here, outside Studio's runtimes.
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")  # its uvicorn
    port = free_port()
    began = time.monotonic()
    process = run_local("studio", "iris-here", "models:/iris/1",
                        config={"port": str(port), "env_manager": "local", "block": "false"})  # fmt: skip
    try:
        wait_for_ping(f"http://127.0.0.1:{port}", process, 120)
        TIMINGS["run_local_to_ping_s"] = round(time.monotonic() - began, 2)
        assert answer(f"http://127.0.0.1:{port}", frame) == {"predictions": model.predict(frame).tolist()}
    finally:
        process.terminate()
        process.wait(timeout=30)
