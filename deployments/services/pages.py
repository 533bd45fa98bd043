"""What the deployments pages need beyond the verbs: an endpoint with the request its Test console starts from (the
model's own input example, in the scoring server's format) and the curl command that calls it."""

from __future__ import annotations

import json
import posixpath
import shlex
from dataclasses import dataclass, field

from django.db.models import Prefetch

from deployments.models import Deployment, Endpoint
from deployments.services.endpoints import get_endpoint
from registry import mlmodel
from registry.models import ModelVersion
from registry.views.versions import store_reader

# MLflow writes the example twice beside the MLmodel file: as given (input_example.json) and wrapped the way the
# scoring server reads it (serving_input_example.json, named by saved_input_example_info.serving_input_path).
SERVING_EXAMPLE = "serving_input_example.json"
EXAMPLE_MAX_BYTES = 1_000_000  # a larger example is no starting point for a hand-edited request
CURL_INLINE_CHARS = 400  # a longer body goes into a file in the curl example
FALLBACK_REQUEST = {"dataframe_split": {"columns": ["x"], "data": [[1.0]]}}


@dataclass(frozen=True)
class EndpointPage:
    """An endpoint with its deployments and a scoring request per deployment (from its model version's example)."""

    endpoint: Endpoint
    deployments: list[Deployment]
    examples: dict[str, str] = field(default_factory=dict)  # deployment name -> request body, "" without example

    @property
    def example(self) -> str:
        """The request of the deployment with the most traffic that has an example, else a generic one."""
        ranked = sorted(self.deployments, key=lambda d: (-d.traffic_weight, d.name))
        found = next((self.examples[d.name] for d in ranked if self.examples.get(d.name)), "")
        return found or json.dumps(FALLBACK_REQUEST, indent=2)

    @property
    def has_example(self) -> bool:
        """Whether any deployment's model version has an input example."""
        return any(self.examples.values())


def endpoint_page(*, name: str) -> EndpointPage:
    """The endpoint page's data: the endpoint, its deployments (with their model versions) and their examples."""
    endpoint = get_endpoint(name=name)
    query = Deployment.objects.select_related("model_version").order_by("name")
    endpoint = Endpoint.objects.prefetch_related(Prefetch("deployments", queryset=query)).get(pk=endpoint.pk)
    deployments = list(endpoint.deployments.all())
    examples: dict[tuple[int, int], str] = {}
    for deployment in deployments:
        key = (deployment.model_version_id or 0, deployment.model_version_number)
        if key not in examples:
            examples[key] = scoring_example(deployment.model_version)
    by_name = {d.name: examples[(d.model_version_id or 0, d.model_version_number)] for d in deployments}
    return EndpointPage(endpoint=endpoint, deployments=deployments, examples=by_name)


def scoring_example(version: ModelVersion | None) -> str:
    """A version's input example as a scoring request (pretty JSON), "" when it has none or no files of its own."""
    if version is None or not version.storage_path:
        return ""
    read = store_reader(version.storage_path)
    info = _example_info(read)
    serving = info.get("serving_input_path") if isinstance(info.get("serving_input_path"), str) else SERVING_EXAMPLE
    request = _json_file(read, serving)
    if request is None and isinstance(info.get("artifact_path"), str):
        request = _as_request(_json_file(read, info["artifact_path"]), info)
    return json.dumps(request, indent=2, ensure_ascii=False) if request is not None else ""


def _example_info(read: mlmodel.FileReader) -> dict:
    """The MLmodel file's ``saved_input_example_info`` ({} when there is no readable file or no example)."""
    data = read(mlmodel.MLMODEL, mlmodel.MLMODEL_MAX_BYTES + 1)
    if data is None or len(data) > mlmodel.MLMODEL_MAX_BYTES:
        return {}
    try:
        model = mlmodel.parse_mlmodel(data.decode("utf-8"), [])
    except UnicodeDecodeError:
        return {}
    info = model.saved_input_example_info if model is not None else None
    return info if isinstance(info, dict) else {}


def _json_file(read: mlmodel.FileReader, name: str) -> object | None:
    data = read(posixpath.normpath(name), EXAMPLE_MAX_BYTES + 1)
    if data is None or len(data) > EXAMPLE_MAX_BYTES:
        return None
    try:
        return json.loads(data)
    except ValueError:
        return None


def _as_request(example: object | None, info: dict) -> dict | None:
    """An example saved by an MLflow older than 2.16 (no serving file) wrapped as the scoring server reads it."""
    if example is None:
        return None
    params = None
    if info.get("params") and isinstance(example, dict) and "data" in example:
        example, params = example["data"], example.get("params")
    if info.get("type") == "dataframe":
        orient = "dataframe_records" if info.get("pandas_orient") == "records" else "dataframe_split"
        request: dict = {orient: example}
    else:
        request = {"inputs": example}
    if isinstance(params, dict):
        request["params"] = params
    return request


def curl_example(*, url: str, body: str) -> str:
    """A curl command that scores ``body`` at ``url`` with a key (a long body is read from a file)."""
    try:
        compact = json.dumps(json.loads(body), separators=(",", ":"), ensure_ascii=False)
    except ValueError:
        compact = body
    data = shlex.quote(compact) if len(compact) <= CURL_INLINE_CHARS else "@request.json"
    return (
        f"curl -X POST {shlex.quote(url)} \\\n"
        '  -H "Authorization: Bearer <key>" \\\n'
        '  -H "Content-Type: application/json" \\\n'
        f"  --data {data}"
    )
