"""A worker killed in the middle of a build, for real: ``studio run --no-worker`` serves, a separate ``studio worker``
builds a model's environment with uv and is SIGKILLed with everything it ran; a second worker's beat finds the
claim's lease run out, takes the deployment over and finishes it, and the gateway answers with the model's
predictions."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deployments.live import Studio, log_model, score, start_studio

pytestmark = pytest.mark.live


@pytest.fixture
def studio(tmp_path: Path, transactional_db: None) -> Iterator[Studio]:
    # A short lease and a fast sweep, so that the takeover happens within seconds instead of a minute or two.
    studio = start_studio(tmp_path / "data", worker=False, STUDIO_DEPLOYMENT_LEASE_SECONDS="3",
                          STUDIO_RECOVERY_INTERVAL="1", STUDIO_PROBE_INTERVAL="3600")  # fmt: skip
    yield studio
    studio.stop_all()


def test_a_worker_killed_mid_build_is_taken_over_and_the_deployment_finishes(studio: Studio) -> None:
    model, frame = log_model(studio.url, "recovered")
    keys = studio.post("endpoints/create", {"name": "recovery"})
    studio.post("deployments/create", {"endpoint": "recovery", "name": "blue", "model_name": "recovered",
                                       "version": "1", "runtime": "local"})  # fmt: skip
    studio.start_worker("worker-1")
    building = studio.wait_deployment("recovery", "blue", lambda d: d["status"] in ("building", "starting"), 300)
    assert building["status"] == "building", building  # killed while uv installs, not after
    studio.kill("worker-1")
    killed_at = time.monotonic()
    # Nobody works on it now: it stays "building" with the dead worker's claim.
    time.sleep(1)
    assert studio.get("deployments/get", endpoint="recovery", name="blue")["deployment"]["status"] == "building"

    studio.start_worker("worker-2")
    healthy = studio.wait_deployment("recovery", "blue", lambda d: d["status"] in ("healthy", "failed"), 600)
    assert healthy["status"] == "healthy", (healthy, studio.tails())
    assert healthy["attempt"] >= 2
    took_over = time.monotonic() - killed_at
    events = studio.get("deployments/events", endpoint="recovery", name="blue")["events"]
    recovered = [e for e in events if e["kind"] == "recovered"]
    assert recovered, events
    assert recovered[0]["message"].startswith("Took over the stale claim of ")
    assert [e["kind"] for e in events].count("healthy") == 1

    body = json.dumps({"dataframe_split": frame.head(8).to_dict(orient="split")}).encode()
    status, headers, answer = score(studio.url, "recovery", keys["primary_key"], body)
    assert status == 200, answer
    assert answer == {"predictions": model.predict(frame.head(8)).tolist()}
    assert headers["X-Studio-Deployment"] == "blue"
    assert took_over < 300

    studio.post("endpoints/delete", {"name": "recovery"})
    deadline = time.monotonic() + 120
    while studio.call("GET", "endpoints/get", name="recovery")[0] != 404:
        assert time.monotonic() < deadline, studio.tails()
        time.sleep(0.2)
