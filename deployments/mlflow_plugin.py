"""Studio's ``mlflow.deployments`` plugin: ``get_deploy_client("studio")`` manages Studio's endpoints and deployments
through its REST API (``/api/2.0/studio/``), and ``mlflow deployments … -t studio`` does from the shell.

Requests go through MLflow's own ``http_request`` with the tracking server's credentials, so that
``MLFLOW_TRACKING_TOKEN``, ``MLFLOW_TRACKING_USERNAME``/``PASSWORD`` and the TLS settings apply exactly as for
tracking; Studio's ``{"error_code", "message"}`` errors become ``MlflowException`` with that code. The module imports
no Django: it runs in the user's Python, next to the ``mlflow`` client.

MLflow's other targets treat a deployment as standalone. So does this one when no ``endpoint`` is given: the endpoint
is named like the deployment, created by ``create_deployment`` when missing (its keys are then in the returned dict,
shown once) and deleted by ``delete_deployment`` when it holds no other deployment.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from typing import Any
from urllib.parse import quote, urlparse

import mlflow
from mlflow.deployments import BaseDeploymentClient, PredictionsResponse
from mlflow.exceptions import MlflowException, RestException
from mlflow.protos.databricks_pb2 import (
    DEADLINE_EXCEEDED,
    ENDPOINT_NOT_FOUND,
    INVALID_PARAMETER_VALUE,
    INVALID_STATE,
    NOT_IMPLEMENTED,
    RESOURCE_ALREADY_EXISTS,
    RESOURCE_DOES_NOT_EXIST,
    ErrorCode,
)
from mlflow.utils.credentials import get_default_host_creds
from mlflow.utils.rest_utils import http_request, verify_rest_response

log = logging.getLogger(__name__)

TARGET = "studio"
API = "/api/2.0/studio/"
FLAVOR = "python_function"
# A create or an update that Studio processed must not be sent again (a second create finds the name taken): retry
# only answers that say the request was not processed. Scoring is retried while no deployment can answer (503).
NOT_PROCESSED = frozenset({408, 429})
SCORING_RETRIES = frozenset({408, 429, 503})
POLL_FIRST, POLL_MAX = 0.25, 2.0  # seconds between two looks at a deployment: doubling from the first to the max
DETAILS_MAX = 8_000  # characters of a failure's details (an installer's output) kept in the exception's message

# The config keys of each verb and their types. The CLI passes every value as a string (``-C instances=2``).
CREATE_OPTIONS = {"runtime": str, "instances": int, "traffic_weight": int, "mirror": bool, "wait": bool,
                  "timeout": float}  # fmt: skip
UPDATE_OPTIONS = {"instances": int, "wait": bool, "timeout": float}
DELETE_OPTIONS = {"wait": bool, "timeout": float}
ENDPOINT_CREATE_OPTIONS = {"description": str}
ENDPOINT_UPDATE_OPTIONS = {"description": str, "traffic": dict, "mirror": str}
RUN_LOCAL_OPTIONS = {"port": int, "host": str, "workers": int, "timeout": int, "env_manager": str, "block": bool}
DEFAULT_TIMEOUT = 900.0


def invalid(message: str) -> MlflowException:
    return MlflowException(message, error_code=INVALID_PARAMETER_VALUE)


def studio_uri(target_uri: str | None) -> str:
    """The Studio server a target names: ``studio`` (or ``studio:/``) the tracking URI, ``studio://host:port[/path]``
    that server over HTTP, ``studio:https://host[/path]`` (or ``studio:http://…``) that URL."""
    target = target_uri or TARGET
    rest = target[len(TARGET) :] if target.startswith(TARGET) else None
    if rest in ("", ":", ":/"):
        uri = mlflow.get_tracking_uri()
    elif rest is not None and rest.startswith("://"):
        uri = "http" + rest
    elif rest is not None and rest.startswith((":http://", ":https://")):
        uri = rest[1:]
    else:
        raise invalid(f"Not a Studio target: {target_uri!r}. Use 'studio', 'studio://host:port' or "
                      "'studio:https://host'")  # fmt: skip
    if urlparse(uri).scheme not in ("http", "https") or not urlparse(uri).netloc:
        raise invalid(f"The 'studio' target needs a Studio server, not the tracking URI {uri!r}: set "
                      "MLFLOW_TRACKING_URI=http://<host>:<port> (or mlflow.set_tracking_uri), or use the target "
                      "'studio://<host>:<port>'")  # fmt: skip
    return uri.rstrip("/")


def _coerce(key: str, value: Any, kind: type) -> Any:
    """A config value of the type its key wants; strings (from the CLI's ``-C key=value``) are parsed."""
    if kind is bool and isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
        return value.lower() in ("true", "1", "yes")
    if kind in (int, float) and isinstance(value, str):
        try:
            return kind(value)
        except ValueError:
            pass
    if kind is dict and isinstance(value, str):
        with contextlib.suppress(ValueError):
            value = json.loads(value)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return value
    raise invalid(f"config '{key}' must be {'a JSON object' if kind is dict else kind.__name__}, not {value!r}")


def _options(config: dict[str, Any] | None, allowed: dict[str, type], verb: str) -> dict[str, Any]:
    """The config of ``verb``, checked: an unknown key is an error (a typo would otherwise be ignored)."""
    if config is None:
        return {}
    if not isinstance(config, dict):
        raise invalid(f"config must be a dict, not {type(config).__name__}")
    unknown = sorted(set(config) - set(allowed))
    if unknown:
        raise invalid(f"Unknown config key(s) for {verb}: {', '.join(unknown)}. The keys are: {', '.join(allowed)}")
    return {key: _coerce(key, value, allowed[key]) for key, value in config.items() if value is not None}


def _check_flavor(flavor: str | None) -> None:
    if flavor not in (None, FLAVOR):
        raise invalid(f"Studio serves models with MLflow's pyfunc scoring server: flavor must be '{FLAVOR}' (or "
                      f"None), not {flavor!r}")  # fmt: skip


def _is_code(error: MlflowException, *codes: int) -> bool:
    return error.error_code in {ErrorCode.Name(code) for code in codes}


def scoring_payload(inputs: Any) -> str:
    """The scoring server's JSON for ``inputs``: a dict that already is a payload (``dataframe_split``, ``inputs``,
    …) as it is; a dict of equal-length lists as a DataFrame (columns → values); anything else (DataFrame, numpy
    array, list, scalar, a ``(data, params)`` tuple) by MLflow's own conversion, as ``mlflow models predict`` does."""
    import pandas as pd
    from mlflow.models.utils import convert_input_example_to_serving_input
    from mlflow.pyfunc.scoring_server import SUPPORTED_FORMATS
    from mlflow.utils.proto_json_utils import NumpyEncoder

    if inputs is None:
        raise invalid("predict needs inputs: a pandas DataFrame, a dict, a list or a numpy array")
    if isinstance(inputs, dict) and set(inputs) & SUPPORTED_FORMATS:
        return json.dumps(inputs, cls=NumpyEncoder)
    columns = isinstance(inputs, dict) and inputs and all(isinstance(v, (list, tuple)) for v in inputs.values())
    if columns and len({len(v) for v in inputs.values()}) == 1:
        inputs = pd.DataFrame(inputs)
    if isinstance(inputs, pd.Series):
        inputs = inputs.to_frame()
    try:
        payload = convert_input_example_to_serving_input(inputs)
    except Exception as error:
        raise invalid(f"Cannot turn inputs of type {type(inputs).__name__} into a scoring request: {error}") from None
    # MLflow indents its payload (it writes it to a file for people to read): a large frame would double in size.
    return json.dumps(json.loads(payload), separators=(",", ":"))


def _with_flavor(deployment: dict[str, Any]) -> dict[str, Any]:
    """Deployments as MLflow's CLI prints them (``deployment["flavor"]``)."""
    return {**deployment, "flavor": FLAVOR}


class StudioDeploymentClient(BaseDeploymentClient):
    """Studio's endpoints and deployments from Python: ``get_deploy_client("studio")``. An endpoint is a stable
    scoring URL with two keys and a traffic split; each deployment in it serves one registered model version."""

    def __init__(self, target_uri: str = TARGET) -> None:
        super().__init__(target_uri)
        self.tracking_uri = studio_uri(target_uri)

    # --- HTTP -------------------------------------------------------------------------------------------------------

    def _request(self, method: str, route: str, **kwargs: Any) -> Any:
        """One request through MLflow's client plumbing (credentials, TLS, retries); Studio's error envelope
        becomes a RestException with its error code."""
        response = http_request(get_default_host_creds(self.tracking_uri), API + route, method, **kwargs)
        try:
            return verify_rest_response(response, API + route)
        except RestException as error:
            if _is_code(error, ENDPOINT_NOT_FOUND):
                raise self._not_studio(route) from error
            raise
        except MlflowException as error:  # an answer that is not Studio's JSON: another server, a proxy
            if response.status_code == 404:
                raise self._not_studio(route) from error
            raise

    def _not_studio(self, route: str) -> MlflowException:
        return MlflowException(f"{self.tracking_uri} has no Studio deployments API ({API}{route}): is it a Studio "
                               "server?", error_code=ENDPOINT_NOT_FOUND)  # fmt: skip

    def _call(self, method: str, route: str, body: dict[str, Any], *, retry_codes: frozenset[int] | None = None) -> Any:
        kwargs: dict[str, Any] = {"params": body} if method == "GET" else {"json": body}
        if retry_codes is not None:
            kwargs["retry_codes"] = retry_codes
        response = self._request(method, route, **kwargs)
        return response.json() if response.content else {}

    # --- endpoints --------------------------------------------------------------------------------------------------

    def create_endpoint(self, name: str, config: dict[str, Any] | None = None) -> dict[str, Any]:
        """Create an endpoint (config: ``description``); the dict holds its ``primary_key`` and ``secondary_key``,
        which Studio never shows again."""
        options = _options(config, ENDPOINT_CREATE_OPTIONS, "create_endpoint")
        created = self._call("POST", "endpoints/create", {"name": name, **options}, retry_codes=NOT_PROCESSED)
        return {**created["endpoint"], "primary_key": created["primary_key"], "secondary_key": created["secondary_key"]}

    def update_endpoint(self, endpoint: str, config: dict[str, Any] | None = None) -> dict[str, Any]:
        """Change an endpoint (config: ``description``; ``traffic`` {deployment: weight} summing to 100 over its
        live deployments; ``mirror``, the deployment that gets a copy of each request, "" for none)."""
        options = _options(config, ENDPOINT_UPDATE_OPTIONS, "update_endpoint")
        if not options:
            raise invalid(f"Nothing to update: config takes {', '.join(ENDPOINT_UPDATE_OPTIONS)}")
        if "traffic" in options:
            options["traffic"] = {str(k): _coerce(f"traffic.{k}", v, int) for k, v in options["traffic"].items()}
        return self._call("POST", "endpoints/update", {"name": endpoint, **options})["endpoint"]

    def delete_endpoint(self, endpoint: str) -> None:
        """Delete an endpoint and its deployments (their servers are removed); an endpoint that is gone is fine."""
        try:
            self._call("POST", "endpoints/delete", {"name": endpoint})
        except MlflowException as error:
            if not _is_code(error, RESOURCE_DOES_NOT_EXIST):
                raise

    def list_endpoints(self) -> list[dict[str, Any]]:
        """Every endpoint with its state, scoring URL and deployments."""
        return self._call("GET", "endpoints/list", {})["endpoints"]

    def get_endpoint(self, endpoint: str) -> dict[str, Any]:
        return self._call("GET", "endpoints/get", {"name": endpoint})["endpoint"]

    # --- deployments ------------------------------------------------------------------------------------------------

    def resolve_model_uri(self, model_uri: str) -> tuple[str, str]:
        """The registered model name and version a ``models:/`` URI names (version, ``@alias``, stage or
        ``latest``), resolved with MlflowClient against this Studio."""
        from mlflow.store.artifact.utils.models import _parse_model_uri

        if not isinstance(model_uri, str) or not model_uri.startswith("models:/"):
            raise invalid(f"Studio deploys registered model versions, not {model_uri!r}: register the model first "
                          "(mlflow.register_model(model_uri, name)) and deploy 'models:/<name>/<version>'")  # fmt: skip
        try:
            parsed = _parse_model_uri(model_uri)
        except MlflowException as error:
            raise invalid(error.message) from None
        if parsed.model_id is not None:
            raise invalid(
                f"{model_uri} names a logged model, not a registered version: register it first "
                f"(mlflow.register_model({model_uri!r}, '<name>')) and deploy 'models:/<name>/<version>'"
            )
        if parsed.version is not None:
            return parsed.name, parsed.version
        client = mlflow.MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)
        if parsed.alias is not None:
            return parsed.name, str(client.get_model_version_by_alias(parsed.name, parsed.alias).version)
        if parsed.stage is None:  # "latest": the highest version, found without the deprecated stage API
            name = parsed.name.replace("'", "\\'")
            latest = client.search_model_versions(f"name = '{name}'", max_results=1, order_by=["version_number DESC"])
        else:
            latest = client.get_latest_versions(parsed.name, [parsed.stage])
        if not latest:
            where = "" if parsed.stage is None else f" in stage '{parsed.stage}'"
            raise MlflowException(f"Registered model '{parsed.name}' has no version{where}",
                                  error_code=RESOURCE_DOES_NOT_EXIST)  # fmt: skip
        return parsed.name, str(max(int(v.version) for v in latest))

    def create_deployment(
        self,
        name: str,
        model_uri: str,
        flavor: str | None = None,
        config: dict[str, Any] | None = None,
        endpoint: str | None = None,
    ) -> dict[str, Any]:
        """Deploy a registered version (``models:/<name>/<version>``, ``@alias``, stage or ``latest``) into
        ``endpoint``; without one, into the endpoint named like the deployment, created when missing (its keys are
        then in the dict). config: ``runtime`` ("local"), ``instances`` (1), ``traffic_weight``, ``mirror``,
        ``wait`` (True: return once healthy, raise if it fails) and ``timeout`` (900 s)."""
        _check_flavor(flavor)
        options = _options(config, CREATE_OPTIONS, "create_deployment")
        wait, timeout = options.pop("wait", True), options.pop("timeout", DEFAULT_TIMEOUT)
        model_name, version = self.resolve_model_uri(model_uri)
        created = self._ensure_endpoint(name) if endpoint is None else None
        body = {"endpoint": endpoint or name, "name": name, "model_name": model_name, "version": version, **options}
        try:
            deployment = self._call("POST", "deployments/create", body, retry_codes=NOT_PROCESSED)["deployment"]
        except MlflowException:
            if created:  # the request was refused: the endpoint made for it must not stay behind, empty
                self.delete_endpoint(name)
            raise
        if wait:
            deployment = self._wait(deployment, timeout=timeout)
        keys = {k: created[k] for k in ("primary_key", "secondary_key")} if created else {}
        return _with_flavor({**deployment, **keys})

    def _ensure_endpoint(self, name: str) -> dict[str, Any] | None:
        """Create the endpoint ``name`` unless it exists; the new endpoint with its keys, or None."""
        try:
            return self.create_endpoint(name)
        except MlflowException as error:
            if _is_code(error, RESOURCE_ALREADY_EXISTS):
                return None
            raise

    def update_deployment(
        self,
        name: str,
        model_uri: str | None = None,
        flavor: str | None = None,
        config: dict[str, Any] | None = None,
        endpoint: str | None = None,
    ) -> dict[str, Any]:
        """Move a deployment to another version and/or instance count (config: ``instances``, ``wait``,
        ``timeout``): the new servers are built while the old ones answer. With ``wait``, a new version that fails
        (Studio then rolls back to the old one) raises."""
        _check_flavor(flavor)
        options = _options(config, UPDATE_OPTIONS, "update_deployment")
        wait, timeout = options.pop("wait", True), options.pop("timeout", DEFAULT_TIMEOUT)
        target = endpoint or name
        if model_uri is not None:
            model_name, version = self.resolve_model_uri(model_uri)
        elif "instances" in options:
            current = self.get_deployment(name, endpoint=endpoint)
            model_name, version = current["model_name"], current["model_version"]
        else:
            raise invalid("Nothing to update: give a model_uri and/or config 'instances'")
        body = {"endpoint": target, "name": name, "model_name": model_name, "version": version, **options}
        deployment = self._call("POST", "deployments/update", body, retry_codes=NOT_PROCESSED)["deployment"]
        if wait:
            deployment = self._wait(deployment, timeout=timeout)
        return _with_flavor(deployment)

    def delete_deployment(self, name: str, config: dict[str, Any] | None = None, endpoint: str | None = None) -> None:
        """Delete a deployment (a missing one is fine); config ``wait`` (True: until its servers are removed) and
        ``timeout``. Without ``endpoint``, the endpoint named like it goes too when it holds no other deployment."""
        options = _options(config, DELETE_OPTIONS, "delete_deployment")
        target = endpoint or name
        try:
            self._call("POST", "deployments/delete", {"endpoint": target, "name": name})
        except MlflowException as error:
            if not _is_code(error, RESOURCE_DOES_NOT_EXIST):
                raise
        if options.get("wait", True):
            self._wait_gone(target, name, timeout=options.get("timeout", DEFAULT_TIMEOUT))
        if endpoint is None:
            try:
                others = [d for d in self.get_endpoint(name)["deployments"] if d["name"] != name]
            except MlflowException as error:
                if _is_code(error, RESOURCE_DOES_NOT_EXIST):
                    return
                raise
            if not others:
                self.delete_endpoint(name)

    def list_deployments(self, endpoint: str | None = None) -> list[dict[str, Any]]:
        """The deployments of ``endpoint``, or of every endpoint (each dict names its ``endpoint``)."""
        found = self._call("GET", "deployments/list", {"endpoint": endpoint})["deployments"]
        return [_with_flavor(d) for d in found]

    def get_deployment(self, name: str, endpoint: str | None = None) -> dict[str, Any]:
        """A deployment (of the endpoint named like it when ``endpoint`` is None): status, version, traffic…"""
        found = self._call("GET", "deployments/get", {"endpoint": endpoint or name, "name": name})
        return _with_flavor(found["deployment"])

    # --- waiting ----------------------------------------------------------------------------------------------------

    def _wait(self, deployment: dict[str, Any], *, timeout: float) -> dict[str, Any]:
        """Poll until the deployment serves what was asked (returned), fails (raised) or ``timeout`` passes."""
        endpoint, name, version = deployment["endpoint"], deployment["name"], deployment["model_version"]
        deadline, delay = time.monotonic() + timeout, POLL_FIRST
        while True:
            deployment = self.get_deployment(name, endpoint=endpoint)
            status = deployment["status"]
            if status == "healthy" and deployment["model_version"] != version:  # a failed update, rolled back
                raise self._failure(deployment, deployment["status_message"])
            if status in ("healthy", "stopped"):  # an update of a stopped deployment only records the version
                return deployment
            if status == "failed":
                raise self._failure(deployment, deployment["status_message"])
            if status in ("stopping", "deleting"):
                raise MlflowException(
                    f"Deployment '{name}' of endpoint '{endpoint}' is {status}: it was stopped "
                    "or deleted while this client waited for it",
                    error_code=INVALID_STATE,
                )
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise MlflowException(
                    f"Deployment '{name}' of endpoint '{endpoint}' is still {status} after {timeout:g} s "
                    f"({deployment['status_message']}). Studio goes on with it: follow it with get_deployment, or "
                    "pass a larger config 'timeout'", error_code=DEADLINE_EXCEEDED,
                )  # fmt: skip
            time.sleep(min(delay, remaining))
            delay = min(delay * 2, POLL_MAX)

    def _failure(self, deployment: dict[str, Any], message: str) -> MlflowException:
        """The error of a failed deployment: Studio's status message and the details (the installer's or the
        server's output) of its last failure event."""
        endpoint, name = deployment["endpoint"], deployment["name"]
        details = self._last_failure_details(endpoint, name)
        if len(details) > DETAILS_MAX:
            details = "…" + details[-DETAILS_MAX:]
        text = f"Deployment '{name}' of endpoint '{endpoint}' failed: {message}"
        return MlflowException(text + (f"\n{details}" if details else ""), error_code=INVALID_STATE)

    def _last_failure_details(self, endpoint: str, name: str) -> str:
        details, after, page = "", 0, 1_000
        while True:
            query = {"endpoint": endpoint, "name": name, "after": after, "limit": page}
            events = self._call("GET", "deployments/events", query)["events"]
            for event in events:
                if event["kind"] == "failed":
                    details = event.get("details") or event["message"]
            if len(events) < page:
                return details
            after = events[-1]["id"]

    def _wait_gone(self, endpoint: str, name: str, *, timeout: float) -> None:
        deadline, delay = time.monotonic() + timeout, POLL_FIRST
        while True:
            try:
                deployment = self.get_deployment(name, endpoint=endpoint)
            except MlflowException as error:
                if _is_code(error, RESOURCE_DOES_NOT_EXIST):
                    return
                raise
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise MlflowException(
                    f"Deployment '{name}' of endpoint '{endpoint}' is not removed after "
                    f"{timeout:g} s ({deployment['status_message']})",
                    error_code=DEADLINE_EXCEEDED,
                )
            time.sleep(min(delay, remaining))
            delay = min(delay * 2, POLL_MAX)

    # --- scoring ----------------------------------------------------------------------------------------------------

    def predict(self, deployment_name: str | None = None, inputs: Any = None, endpoint: str | None = None) -> Any:
        """Score ``inputs`` (DataFrame, dict, list, numpy array) through the endpoint's traffic split, or through
        one deployment when both are given; a deployment name alone names its standalone endpoint."""
        if not deployment_name and not endpoint:
            raise invalid("predict needs an endpoint or a deployment name")
        target = endpoint or deployment_name
        params = {"deployment": deployment_name} if endpoint and deployment_name else None
        response = self._request(
            "POST", f"endpoints/{quote(target, safe='')}/invocations", data=scoring_payload(inputs),
            params=params, extra_headers={"Content-Type": "application/json"}, retry_codes=SCORING_RETRIES,
        )  # fmt: skip
        return PredictionsResponse.from_json(response.text)

    def predict_stream(
        self, deployment_name: str | None = None, inputs: Any = None, endpoint: str | None = None
    ) -> Any:
        raise MlflowException("Studio's endpoints do not stream predictions: use predict", error_code=NOT_IMPLEMENTED)

    def explain(self, deployment_name: str | None = None, df: Any = None, endpoint: str | None = None) -> Any:
        raise MlflowException("Studio does not compute model explanations: its scoring servers answer /invocations "
                              "only", error_code=NOT_IMPLEMENTED)  # fmt: skip


def run_local(name: str, model_uri: str, flavor: str | None = None, config: dict[str, Any] | None = None) -> Any:
    """Serve ``model_uri`` on this machine with MLflow's pyfunc backend, as ``mlflow models serve`` does (MLflow
    calls this with the target already chosen: ``mlflow.deployments.run_local("studio", name, model_uri, …)``).
    config: ``port`` (5000), ``host`` (127.0.0.1), ``workers`` (1), ``timeout`` (60 s per request),
    ``env_manager`` ("virtualenv", as ``mlflow models serve``; or "uv", "conda", "local") and ``block`` (True: serve
    until interrupted; False: return the server's ``subprocess.Popen``). Nothing of it is recorded in Studio."""
    from mlflow.models.flavor_backend_registry import get_flavor_backend
    from mlflow.utils import env_manager as em

    _check_flavor(flavor)
    options = _options(config, RUN_LOCAL_OPTIONS, "run_local")
    manager = options.get("env_manager", em.VIRTUALENV)
    em.validate(manager)
    backend = get_flavor_backend(model_uri, env_manager=manager, workers=options.get("workers", 1))
    host, port = options.get("host", "127.0.0.1"), options.get("port", 5000)
    log.info("Serving %s as '%s' at http://%s:%s", model_uri, name, host, port)
    block = options.get("block", True)
    process = backend.serve(model_uri=model_uri, port=port, host=host, timeout=options.get("timeout", 60),
                            synchronous=block)  # fmt: skip
    return None if block else process


def target_help() -> str:
    """``mlflow deployments help -t studio``."""
    return HELP


HELP = """\
Studio: the endpoints and deployments of a Studio server (a self-hosted MLflow tracking server and registry).

Target URIs
  studio                      the tracking server (MLFLOW_TRACKING_URI or mlflow.set_tracking_uri) is the Studio
  studio://host:port[/path]   the Studio at http://host:port[/path]
  studio:https://host[/path]  the Studio at that URL (also studio:http://...)
  Requests carry the tracking credentials: MLFLOW_TRACKING_TOKEN, or MLFLOW_TRACKING_USERNAME and
  MLFLOW_TRACKING_PASSWORD, and MLFLOW_TRACKING_INSECURE_TLS / MLFLOW_TRACKING_SERVER_CERT_PATH.

Endpoints and deployments
  An endpoint is a stable scoring URL (/endpoints/<name>/invocations) with two keys and a traffic split; each
  deployment in it serves one registered model version on a runtime. Names: 3 to 32 lower-case letters, digits and
  single dashes. Without --endpoint a deployment is standalone: its endpoint is named like it, created with it
  (create_deployment returns its two keys, shown once; the CLI does not print them: regenerate a key on the
  endpoint's page) and deleted with it when it holds no other deployment.
  Model URIs: models:/<name>/<version>, models:/<name>@<alias>, models:/<name>/<stage>, models:/<name>/latest.
  Other URIs (runs:/, a path) must be registered first: mlflow.register_model(uri, "<name>").
  Flavor: python_function (the default) only.

Config (-C key=value, or config={...})
  create:           runtime (local), instances (1), traffic_weight (0, or 100 for an endpoint's first), mirror
                    (false), wait (true: return once healthy, fail with the build's output), timeout (900 s)
  update:           instances, wait, timeout; --model-uri for a new version (built while the old one answers; a
                    version that fails is rolled back and reported)
  delete:           wait (true: until the servers are removed), timeout
  create-endpoint:  description
  update-endpoint:  description, traffic (JSON {"deployment": weight} summing to 100), mirror (a deployment, or "")
  run-local:        port (5000), host (127.0.0.1), workers (1), timeout (60), env_manager (virtualenv, uv, conda,
                    local), block (true). Serves the model here with MLflow's scoring server; Studio is not involved.

Examples
  mlflow deployments create -t studio --name fraud -m models:/fraud@champion -C instances=2
  mlflow deployments predict -t studio --name fraud -I input.json
  mlflow deployments create -t studio --endpoint fraud --name canary -m models:/fraud/7 -C traffic_weight=10
  mlflow deployments update-endpoint -t studio --endpoint fraud -C 'traffic={"fraud": 50, "canary": 50}'
  mlflow deployments update -t studio --name fraud -m models:/fraud/8

  from mlflow.deployments import get_deploy_client
  client = get_deploy_client("studio")
  client.create_deployment("fraud", "models:/fraud/3", config={"instances": 2})
  client.predict("fraud", pandas_dataframe).get_predictions()
  client.delete_deployment("fraud")
"""
