"""Studio's REST API as an OpenAPI 3.1 document, served at ``/api/2.0/studio/openapi.json``.

The MLflow part is generated from MLflow's own protobuf descriptors: each RPC's ``(mlflow.rpc)`` option names its
endpoints (method, path), and its request and response messages map to JSON Schema the way proto3 JSON does (int64
as an integer or a numeric string, enums as their names, repeated fields as arrays, messages as ``$ref``s, required
fields from ``(validate_required)``). GET takes the fields as query parameters (repeated keys for lists); POST,
PATCH and DELETE take a JSON body. Studio's extensions have no protos: ``EXTENSIONS`` describes their parameters.

Only what Studio routes is described: the URL patterns are walked and every operation is matched against them, so
the document never promises an endpoint that answers ENDPOINT_NOT_FOUND. The ``/ajax-api/`` twins are the same API
and are left out.
"""

from __future__ import annotations

import functools
import importlib.metadata
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.urls import URLPattern, URLResolver, get_resolver, get_urlconf
from django.urls.resolvers import RoutePattern

from studio.api import Args, api_view
from studio.auth.access import PUBLIC, ByMethod, access, rule_of

OPENAPI_VERSION = "3.1.0"
Schema = dict[str, Any]

# ---------------------------------------------------------------------------------------------------------------
# The routes Studio serves


def _walk(patterns: list[Any], prefix: str) -> Iterator[tuple[str, Callable[..., Any]]]:
    for entry in patterns:
        if not isinstance(entry.pattern, RoutePattern):
            continue  # the catch-all ENDPOINT_NOT_FOUND regex, and nothing else under /api/
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, route)
        elif isinstance(entry, URLPattern):
            yield route, entry.callback


def openapi_path(route: str) -> str:
    """A Django route (``api/2.0/x/<str:model_id>``) or an MLflow proto path as an OpenAPI path template."""
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route).lstrip("/")


def routed_api_paths(urlconf: str | None = None) -> dict[str, Callable[..., Any]]:
    """Every routed ``/api/`` URL pattern as an OpenAPI path, with its view (the first pattern wins, as in Django)."""
    routed: dict[str, Callable[..., Any]] = {}
    for route, view in _walk(get_resolver(urlconf).url_patterns, ""):
        if route.startswith("api/"):
            routed.setdefault(openapi_path(route), view)
    return routed


def methods_of(view: Callable[..., Any]) -> set[str] | None:
    """The HTTP methods a view answers, where it says so (``api_view``, or an access rule per method)."""
    methods = getattr(view, "api_methods", None)
    if methods:
        return {m.upper() for m in methods}
    rule = rule_of(view)
    if isinstance(rule, ByMethod):
        return set(rule.rules)
    return None


# ---------------------------------------------------------------------------------------------------------------
# proto3 JSON as JSON Schema

INT64: Schema = {
    "anyOf": [
        {"type": "integer", "minimum": -(2**63), "maximum": 2**63 - 1},
        {"type": "string", "pattern": "^-?[0-9]{1,19}$"},
    ]
}
INT32: Schema = {"type": "integer", "minimum": -(2**31), "maximum": 2**31 - 1}
DOUBLE: Schema = {"anyOf": [{"type": "number"}, {"type": "string", "enum": ["NaN", "Infinity", "-Infinity"]}]}
STRING: Schema = {"type": "string"}
BOOL: Schema = {"type": "boolean"}
ERROR: Schema = {
    "type": "object",
    "description": "MLflow's error envelope.",
    "properties": {"error_code": {"type": "string"}, "message": {"type": "string"}},
    "required": ["error_code", "message"],
}


def _scalar(field: Any) -> Schema:
    from google.protobuf.descriptor import FieldDescriptor as F

    if field.type in (F.TYPE_DOUBLE, F.TYPE_FLOAT):
        return DOUBLE
    if field.type in (F.TYPE_INT64, F.TYPE_UINT64, F.TYPE_SINT64, F.TYPE_FIXED64, F.TYPE_SFIXED64):
        return INT64
    if field.type in (F.TYPE_INT32, F.TYPE_UINT32, F.TYPE_SINT32, F.TYPE_FIXED32, F.TYPE_SFIXED32):
        return INT32
    if field.type == F.TYPE_BOOL:
        return BOOL
    if field.type == F.TYPE_BYTES:
        return {"type": "string", "contentEncoding": "base64"}
    if field.type == F.TYPE_ENUM:
        return {"type": "string", "enum": [value.name for value in field.enum_type.values]}
    return STRING


def is_required(field: Any) -> bool:
    from mlflow.protos import databricks_pb2

    return bool(field.GetOptions().Extensions[databricks_pb2.validate_required])


class Components:
    """The ``components/schemas`` of the document: one schema per protobuf message, named by its full name."""

    def __init__(self) -> None:
        self.schemas: dict[str, Schema] = {"Error": ERROR}

    def ref(self, message: Any) -> Schema:
        name = message.full_name
        if name not in self.schemas:
            self.schemas[name] = {}  # placed first: a message may (indirectly) contain itself
            self.schemas[name] = self.message(message)
        return {"$ref": f"#/components/schemas/{name}"}

    def message(self, message: Any, *, leave_out: frozenset[str] = frozenset()) -> Schema:
        fields = [f for f in message.fields if f.name not in leave_out]
        schema: Schema = {"type": "object", "properties": {f.name: self.field(f) for f in fields}}
        required = [f.name for f in fields if is_required(f)]
        if required:
            schema["required"] = required
        return schema

    def field(self, field: Any) -> Schema:
        from google.protobuf.descriptor import FieldDescriptor as F

        if field.type == F.TYPE_MESSAGE and field.message_type.GetOptions().map_entry:
            value = field.message_type.fields_by_name["value"]
            return {"type": "object", "additionalProperties": self.single(value)}
        item = self.single(field)
        return {"type": "array", "items": item} if field.is_repeated else item

    def single(self, field: Any) -> Schema:
        from google.protobuf.descriptor import FieldDescriptor as F

        if field.type == F.TYPE_MESSAGE:
            if field.message_type.full_name == "google.protobuf.Value":
                return {}  # any JSON value
            return self.ref(field.message_type)
        return _scalar(field)


# ---------------------------------------------------------------------------------------------------------------
# Operations


@dataclass(frozen=True)
class Operation:
    """One method on one path: its parameters (query or body fields), its reply, and how its bodies are encoded."""

    method: str
    path: str
    operation_id: str
    summary: str
    tag: str
    fields: Schema  # an object schema: query parameters for GET, the JSON body otherwise
    response: Schema
    body: str = "json"  # "json" | "binary" (a raw upload) | "none"
    reply: str = "json"  # "json" | "binary" (a file download)


def _proto_services() -> list[tuple[str, Any]]:
    from mlflow.protos import mlflow_artifacts_pb2, model_registry_pb2, service_pb2

    return [
        ("tracking", service_pb2.MlflowService.DESCRIPTOR),
        ("registry", model_registry_pb2.ModelRegistryService.DESCRIPTOR),
        ("artifacts", mlflow_artifacts_pb2.MlflowArtifactsService.DESCRIPTOR),
    ]


# The artifact proxy streams files: its download and upload have no JSON on that side.
_BINARY = {
    ("GET", "/api/2.0/mlflow-artifacts/artifacts/{artifact_path}"): "reply",
    ("PUT", "/api/2.0/mlflow-artifacts/artifacts/{artifact_path}"): "body",
}


def proto_operations(components: Components, wanted: Callable[[str, str], bool]) -> Iterator[Operation]:
    """The endpoints of MLflow's tracking, registry and artifact services that ``wanted(method, path)``."""
    from mlflow.protos import databricks_pb2

    for tag, service in _proto_services():
        for method in service.methods:
            rpc = method.GetOptions().Extensions[databricks_pb2.rpc]
            for endpoint in rpc.endpoints:
                path = openapi_path(f"api/{endpoint.since.major}.0/{endpoint.path.lstrip('/')}")
                if not wanted(endpoint.method, path):
                    continue  # and its messages stay out of the components
                in_path = frozenset(re.findall(r"{(\w+)}", path))
                binary = _BINARY.get((endpoint.method, path))
                yield Operation(
                    method=endpoint.method,
                    path=path,
                    operation_id=method.name,
                    summary=rpc.rpc_doc_title or method.name,
                    tag=tag,
                    fields=components.message(method.input_type, leave_out=in_path),
                    response={} if binary == "reply" else components.ref(method.output_type),
                    body="binary" if binary == "body" else "json",
                    reply="binary" if binary == "reply" else "json",
                )


# Studio's extensions, and the endpoints MLflow serves without a proto. A field is ``name:type``, with ``!`` for a
# required one and ``[]`` for a list; a type ``a|b`` is one of those strings. Types: TYPES below.
TYPES: dict[str, Schema] = {
    "str": STRING,
    "int": INT64,
    "num": DOUBLE,
    "bool": BOOL,
    "object": {"type": "object"},
    "any": {},
    "items": {
        "type": "array",
        "items": {
            "type": "object",
            "properties": {"kind": STRING, "id": STRING},
            "required": ["kind", "id"],
        },
    },
    "traffic": {
        "anyOf": [
            {"type": "object", "additionalProperties": INT64},
            {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"deployment": STRING, "weight": INT64},
                    "required": ["deployment", "weight"],
                },
            },
        ]
    },
}
_SELECTION = "items:items older_than_days:num kinds:str[] experiment_ids:str[] run_ids:str[]"
_EXPERIMENT_PERMISSION = "experiment_id:str! username:str group_name:str"
_MODEL_PERMISSION = "name:str! username:str group_name:str"
_PERMISSION = "permission:READ|EDIT|MANAGE|NO_PERMISSIONS!"
_RESOURCE = "resource_type:str! resource_id:str! username:str group_name:str"

_SAMPLE = "run_ids:str[]! metric_keys:str[]! points:int start_step:int end_step:int"
_DEPLOYMENT = "endpoint:str! name:str!"

# (method, path, operation id, tag, summary, fields[, body kind])
# fmt: off
EXTENSIONS: tuple[tuple[str, ...], ...] = (
    ("GET", "/api/2.0/studio/openapi.json", "getOpenApi", "studio", "This document", ""),
    ("GET", "/api/3.0/mlflow/server-info", "getServerInfo", "tracking", "Server capabilities", ""),
    (
        "GET",
        "/api/2.0/mlflow/metrics/get-history-bulk",
        "getMetricHistoryBulk",
        "tracking",
        "Metric histories of several runs",
        "run_id:str[]! metric_key:str! max_results:int",
    ),
    ("PUT", "/api/2.0/mlflow-artifacts/mpu/part/{token}", "uploadPart", "artifacts", "Upload one part", "", "binary"),
    ("GET", "/api/2.0/studio/metrics/sample", "sampleMetrics", "studio", "Sampled metric histories", _SAMPLE),
    ("POST", "/api/2.0/studio/metrics/sample", "sampleMetricsPost", "studio", "Sampled metric histories", _SAMPLE),
    ("POST", "/api/2.0/studio/runs/delete-artifact", "deleteRunArtifact", "studio", "Delete an artifact of a run",
     "run_id:str! path:str! dry_run:bool"),
    ("POST", "/api/2.0/studio/experiments/set-trash-retention", "setTrashRetention", "studio",
     "Set or remove an experiment's trash retention", "experiment_id:str! days:int"),
    ("GET", "/api/2.0/studio/registry/events", "listRegistryEvents", "studio", "A registered model's audit trail",
     "name:str! version:str alias:str action:str[] since:int until:int max_results:int page_token:int"),
    ("GET", "/api/2.0/studio/registered-models/alias-history", "getAliasHistory", "studio",
     "The versions an alias named", "name:str! alias:str! at:int"),
    ("GET", "/api/2.0/studio/model-versions/lineage", "getModelVersionLineage", "studio",
     "A version with its run, logged model and experiment", "name:str! version:str!"),
    ("GET", "/api/2.0/studio/runs/model-versions", "listRunModelVersions", "studio",
     "Versions registered from a run", "run_id:str!"),
    ("GET", "/api/2.0/studio/endpoints/list", "listEndpoints", "deployments", "Serving endpoints", ""),
    ("POST", "/api/2.0/studio/endpoints/create", "createEndpoint", "deployments", "Create an endpoint",
     "name:str! description:str"),
    ("GET", "/api/2.0/studio/endpoints/get", "getEndpoint", "deployments", "An endpoint", "name:str!"),
    ("POST", "/api/2.0/studio/endpoints/update", "updateEndpoint", "deployments",
     "Change an endpoint's description or traffic split", "name:str! description:str traffic:traffic mirror:str"),
    ("POST", "/api/2.0/studio/endpoints/delete", "deleteEndpoint", "deployments", "Delete an endpoint", "name:str!"),
    ("POST", "/api/2.0/studio/endpoints/regenerate-key", "regenerateEndpointKey", "deployments",
     "A new endpoint key", "name:str! key:primary|secondary!"),
    ("POST", "/api/2.0/studio/endpoints/{name}/invocations", "invokeEndpoint", "deployments",
     "Score through an endpoint (the scoring server's body)", "deployment:str", "scoring"),
    ("POST", "/api/2.0/studio/deployments/create", "createDeployment", "deployments", "Deploy a model version",
     "endpoint:str! name:str! model_name:str! version:str! runtime:str instances:int traffic_weight:int mirror:bool"),
    ("GET", "/api/2.0/studio/deployments/get", "getDeployment", "deployments", "A deployment",
     "endpoint:str! name:str!"),
    ("GET", "/api/2.0/studio/deployments/list", "listDeployments", "deployments", "Deployments", "endpoint:str"),
    ("POST", "/api/2.0/studio/deployments/update", "updateDeployment", "deployments",
     "Roll a deployment to another version or instance count",
     "endpoint:str! name:str! version:str model_name:str instances:int"),
    ("POST", "/api/2.0/studio/deployments/stop", "stopDeployment", "deployments", "Stop a deployment", _DEPLOYMENT),
    ("POST", "/api/2.0/studio/deployments/start", "startDeployment", "deployments", "Start a deployment",
     _DEPLOYMENT),
    ("POST", "/api/2.0/studio/deployments/delete", "deleteDeployment", "deployments", "Delete a deployment",
     _DEPLOYMENT),
    ("GET", "/api/2.0/studio/deployments/events", "listDeploymentEvents", "deployments", "A deployment's events",
     "endpoint:str! name:str! after:int limit:int"),
    ("GET", "/api/2.0/studio/deployments/logs", "getDeploymentLogs", "deployments", "A deployment's server logs",
     "endpoint:str! name:str! tail:int"),
    ("GET", "/api/2.0/studio/deployments/runtimes", "listRuntimes", "deployments", "Available runtimes", ""),
    ("GET", "/api/2.0/studio/trash/list", "listTrash", "trash", "Deleted objects",
     "kind:str older_than_days:num max_results:int"),
    ("POST", "/api/2.0/studio/trash/restore", "restoreTrash", "trash", "Restore a deleted object",
     "kind:str! id:str!"),
    ("POST", "/api/2.0/studio/trash/plan", "planPurge", "trash", "Dry run of a purge", _SELECTION),
    ("POST", "/api/2.0/studio/purge-jobs/create", "createPurgeJob", "trash", "Queue a purge", _SELECTION),
    ("GET", "/api/2.0/studio/purge-jobs/get", "getPurgeJob", "trash", "A purge job", "job_id:str!"),
    ("GET", "/api/2.0/studio/purge-jobs/list", "listPurgeJobs", "trash", "Recent purge jobs", "max_results:int"),
    # MLflow's auth app (mlflow.server.auth) has no protos either; Studio also takes group_name for username.
    ("POST", "/api/2.0/mlflow/experiments/permissions/create", "createExperimentPermission", "permissions",
     "Grant a permission on an experiment", f"{_EXPERIMENT_PERMISSION} {_PERMISSION}"),
    ("GET", "/api/2.0/mlflow/experiments/permissions/get", "getExperimentPermission", "permissions",
     "A permission on an experiment", _EXPERIMENT_PERMISSION),
    ("PATCH", "/api/2.0/mlflow/experiments/permissions/update", "updateExperimentPermission", "permissions",
     "Change a permission on an experiment", f"{_EXPERIMENT_PERMISSION} {_PERMISSION}"),
    ("DELETE", "/api/2.0/mlflow/experiments/permissions/delete", "deleteExperimentPermission", "permissions",
     "Remove a permission on an experiment", _EXPERIMENT_PERMISSION),
    ("POST", "/api/2.0/mlflow/registered-models/permissions/create", "createRegisteredModelPermission",
     "permissions", "Grant a permission on a registered model", f"{_MODEL_PERMISSION} {_PERMISSION}"),
    ("GET", "/api/2.0/mlflow/registered-models/permissions/get", "getRegisteredModelPermission", "permissions",
     "A permission on a registered model", _MODEL_PERMISSION),
    ("PATCH", "/api/2.0/mlflow/registered-models/permissions/update", "updateRegisteredModelPermission",
     "permissions", "Change a permission on a registered model", f"{_MODEL_PERMISSION} {_PERMISSION}"),
    ("DELETE", "/api/2.0/mlflow/registered-models/permissions/delete", "deleteRegisteredModelPermission",
     "permissions", "Remove a permission on a registered model", _MODEL_PERMISSION),
    ("POST", "/api/2.0/mlflow/users/create", "createUser", "users", "Create a user", "username:str! password:str!"),
    ("GET", "/api/2.0/mlflow/users/get", "getUser", "users", "A user and their permissions", "username:str!"),
    ("PATCH", "/api/2.0/mlflow/users/update-password", "updateUserPassword", "users", "Change a user's password",
     "username:str! password:str!"),
    ("PATCH", "/api/2.0/mlflow/users/update-admin", "updateUserAdmin", "users", "Make a user an admin or not",
     "username:str! is_admin:bool!"),
    ("DELETE", "/api/2.0/mlflow/users/delete", "deleteUser", "users", "Delete a user", "username:str!"),
    ("POST", "/api/3.0/mlflow/users/permissions/grant", "grantUserPermission", "users",
     "Grant a user (or group) a permission on a resource", f"{_RESOURCE} {_PERMISSION}"),
    ("POST", "/api/3.0/mlflow/users/permissions/revoke", "revokeUserPermission", "users",
     "Revoke a user's (or group's) permission on a resource", _RESOURCE),
    ("GET", "/api/3.0/mlflow/users/permissions/get", "getUserPermission", "users",
     "A user's effective permission on a resource", "username:str! resource_type:str resource_id:str"),
)
# fmt: on


def parse_fields(spec: str, *, leave_out: frozenset[str] = frozenset()) -> Schema:
    """``"run_id:str! keys:str[] key:a|b"`` as an object schema."""
    properties: dict[str, Schema] = {}
    required: list[str] = []
    for token in spec.split():
        name, _, kind = token.partition(":")
        if name in leave_out:
            continue
        if kind.endswith("!"):
            kind = kind[:-1]
            required.append(name)
        many = kind.endswith("[]")
        kind = kind.removesuffix("[]")
        schema = {"type": "string", "enum": kind.split("|")} if "|" in kind else TYPES[kind]
        properties[name] = {"type": "array", "items": schema} if many else schema
    schema = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema


def extension_operations() -> Iterator[Operation]:
    """The operations of ``EXTENSIONS``."""
    for method, path, operation_id, tag, summary, spec, *kind in EXTENSIONS:
        body = kind[0] if kind else ("none" if method == "GET" else "json")
        in_path = frozenset(re.findall(r"{(\w+)}", path))
        yield Operation(
            method=method,
            path=path,
            operation_id=operation_id,
            summary=summary,
            tag=tag,
            fields=parse_fields(spec, leave_out=in_path),
            response={"type": "object"},
            body=body,
        )


# ---------------------------------------------------------------------------------------------------------------
# The document


def _parameters(operation: Operation) -> list[Schema]:
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
        for name in re.findall(r"{(\w+)}", operation.path)
    ]
    if operation.method != "GET" and operation.body != "scoring":
        return parameters
    required = set(operation.fields.get("required", ()))
    for name, schema in operation.fields["properties"].items():
        if _is_object(schema):
            continue  # messages are never sent in a query string
        parameter = {"name": name, "in": "query", "required": name in required, "schema": schema}
        if schema.get("type") == "array":
            parameter.update(style="form", explode=True)  # ?run_id=a&run_id=b
        parameters.append(parameter)
    return parameters


def _is_object(schema: Schema) -> bool:
    if "$ref" in schema or schema.get("type") == "object":
        return True
    return schema.get("type") == "array" and _is_object(schema.get("items", {}))


def _request_body(operation: Operation) -> Schema | None:
    if operation.method == "GET" or operation.body == "none":
        return None
    if operation.body == "binary":
        content = {
            "application/octet-stream": {"schema": {"type": "string", "contentMediaType": "application/octet-stream"}}
        }
        return {"required": True, "content": content}
    if operation.body == "scoring":
        return {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}}
    return {"required": False, "content": {"application/json": {"schema": operation.fields}}}


def _responses(operation: Operation) -> Schema:
    if operation.reply == "binary":
        ok: Schema = {"description": "The file", "content": {"application/octet-stream": {"schema": {}}}}
    else:
        ok = {"description": "OK", "content": {"application/json": {"schema": operation.response}}}
    error = {
        "description": "MLflow's error envelope",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    return {"200": ok, "default": error}


def _operation_object(operation: Operation, view: Callable[..., Any], ids: set[str]) -> Schema:
    operation_id = operation.operation_id
    if operation_id in ids:  # searchExperiments answers GET and POST
        operation_id = f"{operation_id}{operation.method.title()}"
    ids.add(operation_id)
    described: Schema = {
        "operationId": operation_id,
        "summary": operation.summary,
        "tags": [operation.tag],
        "parameters": _parameters(operation),
        "responses": _responses(operation),
    }
    body = _request_body(operation)
    if body is not None:
        described["requestBody"] = body
    if _is_public(view, operation.method):
        described["security"] = []
    return described


def _is_public(view: Callable[..., Any], method: str) -> bool:
    rule = rule_of(view)
    if isinstance(rule, ByMethod):
        rule = rule.rules.get(method)
    return rule is PUBLIC


def build_document(urlconf: str | None = None) -> Schema:
    """The OpenAPI document of every routed ``/api/`` operation."""
    routed = routed_api_paths(urlconf)
    components = Components()
    paths: dict[str, dict[str, Schema]] = {}
    ids: set[str] = set()

    def served(method: str, path: str) -> bool:
        view = routed.get(path)
        methods = methods_of(view) if view is not None else set()
        return view is not None and (methods is None or method in methods)

    operations = [*proto_operations(components, served), *extension_operations()]
    for operation in operations:
        if served(operation.method, operation.path):
            view = routed[operation.path]
            paths.setdefault(operation.path, {})[operation.method.lower()] = _operation_object(operation, view, ids)
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "Studio REST API",
            "version": _studio_version(),
            "description": "MLflow's REST API (tracking, model registry, artifact proxy) and Studio's extensions. "
            "Errors are MLflow's envelope {error_code, message}. With STUDIO_AUTH on, send a personal access token "
            "(Bearer) or a user name and password (Basic).",
        },
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": components.schemas,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "A personal access token (stu_…)"},
                "basic": {"type": "http", "scheme": "basic"},
            },
        },
        # The empty requirement: a local Studio (STUDIO_AUTH off) takes requests without credentials.
        "security": [{"bearer": []}, {"basic": []}, {}],
    }


def _studio_version() -> str:
    try:
        return importlib.metadata.version("studio")
    except importlib.metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "0"


@functools.lru_cache(maxsize=8)
def document(urlconf: str) -> Schema:
    """The document for a URL configuration, built once per process (the routes do not change while it runs)."""
    return build_document(urlconf)


@access(PUBLIC)
@api_view("GET")
def OpenApiDocumentApi(request: HttpRequest, args: Args) -> Schema:
    """``GET /api/2.0/studio/openapi.json``: this API's OpenAPI description."""
    return document(get_urlconf() or settings.ROOT_URLCONF)
