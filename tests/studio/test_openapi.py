"""The OpenAPI description: served, valid, generated from MLflow's protos, and covering every routed API URL."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from openapi_spec_validator import validate

from studio.openapi import build_document, methods_of, routed_api_paths

DOCUMENT_URL = "/api/2.0/studio/openapi.json"


@pytest.fixture
def document(db: None) -> dict[str, Any]:
    response = Client().get(DOCUMENT_URL)
    assert response.status_code == 200, response.content
    return response.json()


def test_document_is_served_and_valid(document: dict[str, Any]) -> None:
    validate(document)
    assert document["openapi"].startswith("3.1")
    assert set(document["components"]["securitySchemes"]) == {"bearer", "basic"}


def test_every_routed_api_url_is_described(document: dict[str, Any]) -> None:
    routed = routed_api_paths()
    missing = sorted(set(routed) - set(document["paths"]))
    assert not missing, "API URL patterns missing from studio/openapi.py (add them to EXTENSIONS):\n" + "\n".join(
        missing
    )
    missing_methods = [
        f"{method} {route}"
        for route, view in routed.items()
        for method in sorted(methods_of(view) or ())
        if method.lower() not in document["paths"][route]
    ]
    assert not missing_methods, "Methods missing from the description:\n" + "\n".join(missing_methods)


def test_only_routed_urls_are_described(document: dict[str, Any]) -> None:
    routed = routed_api_paths()
    assert set(document["paths"]) <= set(routed)
    # MLflow's protos have traces and gateway endpoints that Studio does not serve; the ajax twins are left out.
    assert not any("/traces" in p or "/gateway/" in p or p.startswith("/ajax-api/") for p in document["paths"])


def test_mlflow_operations_follow_the_protos(document: dict[str, Any]) -> None:
    paths = document["paths"]
    get_run = paths["/api/2.0/mlflow/runs/get"]["get"]
    assert {p["name"] for p in get_run["parameters"]} == {"run_id", "run_uuid"}
    assert get_run["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/mlflow.GetRun.Response"
    }
    create_model = paths["/api/2.0/mlflow/registered-models/create"]["post"]
    body = create_model["requestBody"]["content"]["application/json"]["schema"]
    assert body["required"] == ["name"]  # (validate_required)
    assert body["properties"]["tags"] == {
        "type": "array",
        "items": {"$ref": "#/components/schemas/mlflow.RegisteredModelTag"},
    }
    log_metric = paths["/api/2.0/mlflow/runs/log-metric"]["post"]["requestBody"]["content"]["application/json"]
    timestamp = log_metric["schema"]["properties"]["timestamp"]
    assert {s["type"] for s in timestamp["anyOf"]} == {"integer", "string"}  # proto3 JSON int64
    run_info = document["components"]["schemas"]["mlflow.RunInfo"]
    assert run_info["properties"]["status"]["enum"] == ["RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED"]
    # GET lists are repeated query keys; path fields are path parameters, not body fields.
    bulk = {p["name"]: p for p in paths["/api/2.0/mlflow/metrics/get-history-bulk-interval"]["get"]["parameters"]}
    assert bulk["run_ids"]["explode"] is True
    tags = paths["/api/2.0/mlflow/logged-models/{model_id}/tags"]["patch"]
    assert [p["in"] for p in tags["parameters"]] == ["path"]
    assert "model_id" not in tags["requestBody"]["content"]["application/json"]["schema"]["properties"]
    assert set(paths["/api/2.0/mlflow/experiments/search"]) == {"get", "post"}


def test_artifact_proxy_streams_bytes(document: dict[str, Any]) -> None:
    artifact = document["paths"]["/api/2.0/mlflow-artifacts/artifacts/{artifact_path}"]
    assert set(artifact) == {"get", "put", "delete"}
    assert "application/octet-stream" in artifact["put"]["requestBody"]["content"]
    assert "application/octet-stream" in artifact["get"]["responses"]["200"]["content"]
    listing = document["paths"]["/api/2.0/mlflow-artifacts/artifacts"]["get"]
    assert [p["name"] for p in listing["parameters"]] == ["path"]


def test_studio_extensions_are_described(document: dict[str, Any]) -> None:
    sample = document["paths"]["/api/2.0/studio/metrics/sample"]
    params = {p["name"]: p for p in sample["get"]["parameters"]}
    assert params["run_ids"]["required"] and params["run_ids"]["schema"]["type"] == "array"
    assert sample["post"]["requestBody"]["content"]["application/json"]["schema"]["required"] == [
        "run_ids",
        "metric_keys",
    ]
    regenerate = document["paths"]["/api/2.0/studio/endpoints/regenerate-key"]["post"]
    key = regenerate["requestBody"]["content"]["application/json"]["schema"]["properties"]["key"]
    assert key["enum"] == ["primary", "secondary"]
    errors = document["paths"]["/api/2.0/studio/trash/list"]["get"]["responses"]["default"]
    assert errors["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}


def test_document_is_public_with_auth_on(settings: Any, db: None) -> None:
    settings.STUDIO_AUTH = True
    response = Client().get(DOCUMENT_URL)
    assert response.status_code == 200
    document = response.json()
    assert document["paths"]["/api/2.0/studio/openapi.json"]["get"]["security"] == []
    assert "security" not in document["paths"]["/api/2.0/mlflow/runs/get"]["get"]  # the global requirement
    refused = Client().get("/api/2.0/mlflow/experiments/search")
    assert refused.status_code == 401


def test_build_document_needs_no_database() -> None:
    # Without the db fixture any query raises: the document comes from the routes and the protos only.
    assert "/api/2.0/mlflow/runs/get" in build_document()["paths"]
