"""The audit trail (a Studio extension): who changed what and when, and which version an alias named at any time."""

from __future__ import annotations

import base64

from registry.models import RegistryEvent
from tests.conftest import ApiClient

studio = ApiClient("/api/2.0/studio/")


def _as(user: str) -> dict:
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(f"{user}:secret".encode()).decode()}


def test_every_change_is_recorded_with_who(api, register):
    register("m")
    register("m")
    api.client.post(
        "/api/2.0/mlflow/registered-models/alias",
        b'{"name": "m", "alias": "champion", "version": "1"}',
        content_type="application/json",
        **_as("alice"),
    )
    api.post("registered-models/alias", {"name": "m", "alias": "champion", "version": "2"})
    api.post("registered-models/set-tag", {"name": "m", "key": "k", "value": "1"})
    api.post("model-versions/set-tag", {"name": "m", "version": "1", "key": "q", "value": "x"})
    api.post("model-versions/transition-stage", {"name": "m", "version": "2", "stage": "Production"})
    api.call("PATCH", "model-versions/update", {"name": "m", "version": "2", "description": "best"})
    api.call("DELETE", "registered-models/delete-tag", {"name": "m", "key": "k"})
    api.post("registered-models/rename", {"name": "m", "new_name": "m2"})

    found = studio.get("registry/events", {"name": "m2"})["events"]
    actions = [(e["action"], e.get("version"), e.get("alias"), e.get("key")) for e in reversed(found)]
    assert actions == [
        ("registered_model_created", None, None, None),
        ("model_version_created", "1", None, None),
        ("model_version_created", "2", None, None),
        ("alias_set", "1", "champion", None),
        ("alias_set", "2", "champion", None),
        ("registered_model_tag_set", None, None, "k"),
        ("model_version_tag_set", "1", None, "q"),
        ("model_version_stage_transitioned", "2", None, None),
        ("model_version_updated", "2", None, "description"),
        ("registered_model_tag_deleted", None, None, "k"),
        ("registered_model_renamed", None, None, None),
    ]
    moved = [e for e in found if e["action"] == "alias_set"]
    assert (moved[1]["user_id"], moved[1]["new_value"]) == ("alice", "1")
    assert (moved[0]["old_value"], moved[0]["new_value"]) == ("1", "2")
    stage = next(e for e in found if e["action"] == "model_version_stage_transitioned")
    assert (stage["old_value"], stage["new_value"]) == ("None", "Production")
    assert all(e["timestamp"] > 0 for e in found)


def test_events_filter_and_page(api, register):
    register("m")
    for value in "abcde":
        api.post("model-versions/set-tag", {"name": "m", "version": "1", "key": "k", "value": value})
    tags = studio.get("registry/events", {"name": "m", "action": "model_version_tag_set", "max_results": 2})
    assert [e["new_value"] for e in tags["events"]] == ["e", "d"]
    rest = studio.get(
        "registry/events", {"name": "m", "action": "model_version_tag_set", "page_token": tags["next_page_token"]}
    )
    assert [e["new_value"] for e in rest["events"]] == ["c", "b", "a"]
    assert "next_page_token" not in rest
    assert {e["version"] for e in studio.get("registry/events", {"name": "m", "version": "1"})["events"]} == {"1"}
    studio.error("GET", "registry/events", {"name": "m", "action": "bogus"}, 400, "INVALID_PARAMETER_VALUE")
    studio.error("GET", "registry/events", {"name": "nope"}, 404, "RESOURCE_DOES_NOT_EXIST")
    studio.error("GET", "registry/events", {}, 400, "INVALID_PARAMETER_VALUE")


def test_which_version_was_champion_at_a_time(api, register):
    for _ in range(3):
        register("m")
    api.post("registered-models/alias", {"name": "m", "alias": "champion", "version": "1"})
    api.post("registered-models/alias", {"name": "m", "alias": "champion", "version": "2"})
    api.post("registered-models/alias", {"name": "m", "alias": "champion", "version": "2"})  # no move: no event
    api.call("DELETE", "registered-models/alias", {"name": "m", "alias": "champion"})
    api.post("registered-models/alias", {"name": "m", "alias": "champion", "version": "3"})
    # Spread the events over known times, as if days had passed between them.
    for day, event in enumerate(RegistryEvent.objects.filter(alias="champion").order_by("id"), start=1):
        RegistryEvent.objects.filter(pk=event.pk).update(timestamp=day * 86_400_000)

    history = studio.get("registered-models/alias-history", {"name": "m", "alias": "champion"})["history"]
    assert [(h["version"], h["start_timestamp"], h.get("end_timestamp")) for h in history] == [
        ("1", 86_400_000, 2 * 86_400_000),
        ("2", 2 * 86_400_000, 3 * 86_400_000),
        ("3", 4 * 86_400_000, None),
    ]

    def at(day: float) -> str | None:
        body = studio.call(
            "GET",
            "registered-models/alias-history",
            {"name": "m", "alias": "champion", "at": int(day * 86_400_000)},
            status=None,
        )
        return body.get("alias", {}).get("version")

    assert [at(0.5), at(1.5), at(2.5), at(3.5), at(4.5)] == [None, "1", "2", None, "3"]


def test_history_survives_deleting_the_version_and_the_model(api, register):
    register("m")
    api.post("registered-models/alias", {"name": "m", "alias": "a", "version": "1"})
    api.call("DELETE", "model-versions/delete", {"name": "m", "version": "1"})
    api.call("DELETE", "registered-models/delete", {"name": "m"})
    history = studio.get("registered-models/alias-history", {"name": "m", "alias": "a"})["history"]
    assert len(history) == 1 and history[0]["version"] == "1" and "end_timestamp" in history[0]
    actions = [e["action"] for e in studio.get("registry/events", {"name": "m"})["events"]]
    assert actions[:3] == ["registered_model_deleted", "model_version_deleted", "alias_deleted"]


def test_lineage_links_both_ways(api, register, run_id, experiment_id, logged_model):
    register("m")
    lineage = studio.get("model-versions/lineage", {"name": "m", "version": "1"})
    assert lineage["run"]["run_id"] == run_id
    assert lineage["logged_model"]["info"]["model_id"] == logged_model["model_id"]
    assert lineage["experiment"]["experiment_id"] == experiment_id
    assert lineage["storage"]["file_count"] == 3
    assert lineage["storage"]["artifact_uri"].startswith("mlflow-artifacts:/registry/")
    made = studio.get("runs/model-versions", {"run_id": run_id})["model_versions"]
    assert [(v["name"], v["version"]) for v in made] == [("m", "1")]
    assert studio.get("runs/model-versions", {"run_id": "f" * 32}) == {}
