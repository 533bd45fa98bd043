"""The Kubernetes runtime without a cluster (none can run on these machines): its manifests checked against the
``kubernetes`` client's own models, its create-or-replace and status logic against an in-memory API that keeps
the API server's rules that matter here (409 on create of an existing object, optimistic concurrency on
resourceVersion, a Service's immutable clusterIP), and the real clients against an address where nothing listens.
"""

from __future__ import annotations

import copy
import os
import re
from pathlib import Path
from typing import Any

import docker
import docker.errors
import pytest
from kubernetes import client as k8s
from kubernetes.client.rest import ApiException

from deployments.runtimes.base import DeploymentSpec, RuntimeFailure
from deployments.runtimes.kubernetes import KubernetesRuntime, render_manifests, resource_name

DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
API = k8s.ApiClient()
MODELS = {"Deployment": "V1Deployment", "Service": "V1Service", "Pod": "V1Pod"}


def typed(data: dict[str, Any], kind: str) -> Any:
    """What the client returns for ``data``: its model object (unknown keys would be dropped here)."""
    return API._ApiClient__deserialize(copy.deepcopy(data), MODELS[kind])


def spec(name: str = "iris--prod", **fields: Any) -> DeploymentSpec:
    return DeploymentSpec(deployment_id=fields.pop("deployment_id", 7), name=name, model_dir=Path("/m"), **fields)


@pytest.fixture
def manifests() -> list[dict[str, Any]]:
    options = {"namespace": "models", "cpu": "500m", "memory": "1Gi", "image_pull_secret": "regcred"}
    return render_manifests(
        spec(instances=3, environment={"B": "2", "A": "1"}), "reg.example/studio-model:abc", options
    )


# --- rendering --------------------------------------------------------------------------------------------------


def test_manifests_round_trip_through_the_clients_models(manifests: list[dict[str, Any]]) -> None:
    assert [m["kind"] for m in manifests] == ["Deployment", "Service"]
    for manifest in manifests:
        model = typed(manifest, manifest["kind"])
        # A misspelt or misplaced field is dropped by the model: the round trip would differ.
        assert API.sanitize_for_serialization(model) == manifest


def test_selectors_match_the_pod_labels_and_the_service_finds_the_port(manifests: list[dict[str, Any]]) -> None:
    deployment, service = manifests
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"] == {"studio.deployment": "7"}
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert service["spec"]["selector"].items() <= pod_labels.items()
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    [port] = container["ports"]
    assert (port["name"], port["containerPort"]) == ("http", 8080)
    assert service["spec"]["ports"] == [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]
    assert service["spec"]["type"] == "ClusterIP"
    assert deployment["metadata"]["namespace"] == service["metadata"]["namespace"] == "models"


def test_deployment_runs_the_image_with_probes_resources_and_environment(manifests: list[dict[str, Any]]) -> None:
    deployment = manifests[0]
    assert deployment["spec"]["replicas"] == 3
    pod = deployment["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert container["image"] == "reg.example/studio-model:abc"
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/ping", "port": "http"}
    assert container["startupProbe"]["failureThreshold"] * container["startupProbe"]["periodSeconds"] >= 300
    assert container["resources"] == {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "1Gi"}}
    assert container["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]
    assert pod["imagePullSecrets"] == [{"name": "regcred"}]


def test_resources_are_passed_through_and_checked() -> None:
    resources = {"requests": {"cpu": "2"}, "limits": {"cpu": "4", "nvidia.com/gpu": 1}}
    [deployment, _] = render_manifests(spec(), "img:1", {"resources": resources})
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"] == {"requests": {"cpu": "2"}, "limits": {"cpu": "4", "nvidia.com/gpu": "1"}}
    with pytest.raises(RuntimeFailure, match="'lots' is not a Kubernetes quantity"):
        render_manifests(spec(), "img:1", {"memory": "lots"})


@pytest.mark.parametrize(
    "name",
    ["iris--prod", "Fraud_Detector.v2", "-x-", "a" * 120, "résumé-model", "9lives"],
)
def test_names_are_dns_labels(name: str) -> None:
    rendered = resource_name(spec(name))
    assert DNS_LABEL.match(rendered) and len(rendered) <= 63, rendered
    for manifest in render_manifests(spec(name), "img:1", {}):
        assert manifest["metadata"]["name"] == rendered
        assert manifest["metadata"]["labels"]["app.kubernetes.io/instance"] == rendered  # a label value: <= 63 too


def test_names_that_clean_up_alike_stay_apart() -> None:
    assert resource_name(spec("iris--prod")) == "studio-iris--prod"
    assert resource_name(spec("Iris--prod")) != resource_name(spec("iris_-prod"))
    assert resource_name(spec("a" * 100 + "x")) != resource_name(spec("a" * 100 + "y"))


# --- create or replace, status, stop, remove: an in-memory API server ------------------------------------------


class FakeCluster:
    """The API server's behaviour the runtime relies on, for Deployments, Services and Pods of any namespace."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.pods: list[dict[str, Any]] = []
        self.logs: dict[str, str] = {}
        self.writes: list[tuple[str, str]] = []
        self.interfere = 0  # how many replaces another writer gets in before (each bumps the resourceVersion)
        self.version = 0

    def _next_version(self) -> str:
        self.version += 1
        return str(self.version)

    def _get(self, kind: str, name: str, namespace: str) -> dict[str, Any]:
        if (kind, namespace, name) not in self.objects:
            raise ApiException(status=404, reason="Not Found")
        return self.objects[(kind, namespace, name)]

    def create(self, kind: str, namespace: str, body: dict[str, Any]) -> Any:
        key = (kind, namespace, body["metadata"]["name"])
        if key in self.objects:
            raise ApiException(status=409, reason="AlreadyExists")
        stored = copy.deepcopy(body)
        stored["metadata"] |= {"resourceVersion": self._next_version(), "generation": 1}
        if kind == "Service":
            stored["spec"] |= {"clusterIP": "10.96.0.17", "clusterIPs": ["10.96.0.17"]}
        self.objects[key] = stored
        self.writes.append(("create", kind))
        return typed(stored, kind)

    def read(self, kind: str, name: str, namespace: str) -> Any:
        return typed(self._get(kind, name, namespace), kind)

    def replace(self, kind: str, name: str, namespace: str, body: dict[str, Any]) -> Any:
        stored = self._get(kind, name, namespace)
        if self.interfere:
            self.interfere -= 1
            stored["metadata"]["resourceVersion"] = self._next_version()
        if body["metadata"].get("resourceVersion") != stored["metadata"]["resourceVersion"]:
            raise ApiException(status=409, reason="Conflict")
        if kind == "Service" and body["spec"].get("clusterIP") != stored["spec"]["clusterIP"]:
            raise ApiException(status=422, reason="Invalid: spec.clusterIP: field is immutable")
        new = copy.deepcopy(body)
        generation = stored["metadata"]["generation"] + (new["spec"] != stored["spec"])
        new["metadata"] |= {"resourceVersion": self._next_version(), "generation": generation}
        new["status"] = stored.get("status", {})
        self.objects[(kind, namespace, name)] = new
        self.writes.append(("replace", kind))
        return typed(new, kind)

    def delete(self, kind: str, name: str, namespace: str) -> None:
        self._get(kind, name, namespace)
        del self.objects[(kind, namespace, name)]
        self.writes.append(("delete", kind))


class Apps:
    def __init__(self, cluster: FakeCluster) -> None:
        self.cluster = cluster

    def create_namespaced_deployment(self, namespace: str, body: dict[str, Any]) -> Any:
        return self.cluster.create("Deployment", namespace, body)

    def read_namespaced_deployment(self, name: str, namespace: str) -> Any:
        return self.cluster.read("Deployment", name, namespace)

    def replace_namespaced_deployment(self, name: str, namespace: str, body: dict[str, Any]) -> Any:
        return self.cluster.replace("Deployment", name, namespace, body)

    def patch_namespaced_deployment(self, name: str, namespace: str, body: dict[str, Any]) -> Any:
        stored = self.cluster._get("Deployment", name, namespace)
        stored["spec"] |= body["spec"]
        stored["metadata"]["generation"] += 1
        return typed(stored, "Deployment")

    def delete_namespaced_deployment(self, name: str, namespace: str, body: Any = None) -> None:
        assert body.propagation_policy == "Background"
        self.cluster.delete("Deployment", name, namespace)


class Core:
    def __init__(self, cluster: FakeCluster) -> None:
        self.cluster = cluster

    def create_namespaced_service(self, namespace: str, body: dict[str, Any]) -> Any:
        return self.cluster.create("Service", namespace, body)

    def read_namespaced_service(self, name: str, namespace: str) -> Any:
        return self.cluster.read("Service", name, namespace)

    def replace_namespaced_service(self, name: str, namespace: str, body: dict[str, Any]) -> Any:
        return self.cluster.replace("Service", name, namespace, body)

    def delete_namespaced_service(self, name: str, namespace: str, body: Any = None) -> None:
        self.cluster.delete("Service", name, namespace)

    def list_namespaced_pod(self, namespace: str, label_selector: str) -> Any:
        key, value = label_selector.split("=")
        pods = [p for p in self.cluster.pods if p["metadata"]["labels"].get(key) == value]
        return k8s.V1PodList(items=[typed(p, "Pod") for p in pods])

    def read_namespaced_pod_log(self, name: str, namespace: str, container: str, tail_lines: int) -> str:
        assert container == "server"
        return "\n".join(self.cluster.logs[name].splitlines()[-tail_lines:])


@pytest.fixture
def cluster() -> FakeCluster:
    return FakeCluster()


@pytest.fixture
def runtime(cluster: FakeCluster, tmp_path: Path) -> KubernetesRuntime:
    return KubernetesRuntime(root=tmp_path, namespace="models", apps_api=Apps(cluster), core_api=Core(cluster))


BUILD = {"image": "studio-model:abc123", "remote_image": "reg.example/studio-model:abc123"}


def roll_out(cluster: FakeCluster, *, ready: int) -> None:
    """What the controllers do: the Deployment's status catches up with its spec, ``ready`` replicas ready."""
    for (kind, _, _), stored in cluster.objects.items():
        if kind == "Deployment":
            replicas = stored["spec"]["replicas"]
            generation = stored["metadata"]["generation"]
            stored["status"] = {"observedGeneration": generation, "replicas": replicas, "updatedReplicas": replicas,
                                "readyReplicas": ready}  # fmt: skip


def test_start_creates_then_replaces_and_keeps_the_cluster_ip(runtime: KubernetesRuntime, cluster: FakeCluster) -> None:
    lines: list[str] = []
    handle = runtime.start(spec(instances=2), BUILD, lines.append)
    assert handle["url"] == "http://studio-iris--prod.models.svc.cluster.local"
    assert handle["image"] == BUILD["remote_image"]
    assert cluster.writes == [("create", "Deployment"), ("create", "Service")]
    again = runtime.start(spec(instances=3, environment={"X": "1"}), BUILD, lines.append)
    assert again == handle
    assert cluster.writes[2:] == [("replace", "Deployment"), ("replace", "Service")]
    stored = cluster.objects[("Deployment", "models", "studio-iris--prod")]
    assert stored["spec"]["replicas"] == 3 and stored["metadata"]["generation"] == 2
    assert stored["spec"]["template"]["spec"]["containers"][0]["env"] == [{"name": "X", "value": "1"}]
    assert cluster.objects[("Service", "models", "studio-iris--prod")]["spec"]["clusterIP"] == "10.96.0.17"
    assert "replaced Service models/studio-iris--prod" in lines


def test_replace_that_loses_a_race_reads_again(runtime: KubernetesRuntime, cluster: FakeCluster) -> None:
    runtime.start(spec(), BUILD, lambda line: None)
    cluster.interfere = 2
    runtime.start(spec(instances=4), BUILD, lambda line: None)
    assert cluster.objects[("Deployment", "models", "studio-iris--prod")]["spec"]["replicas"] == 4
    cluster.interfere = 3  # more often than the runtime tries
    with pytest.raises(RuntimeFailure, match="could not be replaced"):
        runtime.start(spec(instances=5), BUILD, lambda line: None)


def test_status_follows_the_rollout(runtime: KubernetesRuntime, cluster: FakeCluster) -> None:
    assert runtime.status({"name": "studio-iris--prod", "namespace": "models", "deployment_id": 7}).state == "stopped"
    handle = runtime.start(spec(instances=2), BUILD, lambda line: None)
    assert runtime.status(handle).state == "starting"  # nothing observed yet
    roll_out(cluster, ready=0)
    assert runtime.status(handle).state == "starting"
    roll_out(cluster, ready=1)
    status = runtime.status(handle)
    assert (status.state, status.urls, status.message) == ("healthy", [handle["url"]], "1 of 2 replicas ready")
    runtime.start(spec(instances=2, environment={"NEW": "1"}), BUILD, lambda line: None)
    assert runtime.status(handle).state == "starting"  # a new generation the controller has not seen yet


def test_status_fails_on_a_pod_that_cannot_get_better(runtime: KubernetesRuntime, cluster: FakeCluster) -> None:
    handle = runtime.start(spec(), BUILD, lambda line: None)
    waiting = {"reason": "ImagePullBackOff", "message": 'Back-off pulling image "reg.example/studio-model:abc123"'}
    cluster.pods.append({
        "metadata": {"name": "studio-iris--prod-5d9c-x2x", "labels": {"studio.deployment": "7"}},
        "status": {"containerStatuses": [{"name": "server", "image": "i", "imageID": "", "ready": False,
                                          "restartCount": 0, "state": {"waiting": waiting}}]},
    })  # fmt: skip
    status = runtime.status(handle)
    assert status.state == "failed"
    assert "studio-iris--prod-5d9c-x2x: ImagePullBackOff: Back-off pulling image" in status.message


def test_logs_stop_and_remove(runtime: KubernetesRuntime, cluster: FakeCluster, tmp_path: Path) -> None:
    handle = runtime.start(spec(), BUILD, lambda line: None)
    cluster.pods.append({"metadata": {"name": "pod-a", "labels": {"studio.deployment": "7"}}, "status": {}})
    cluster.pods.append({"metadata": {"name": "other", "labels": {"studio.deployment": "8"}}, "status": {}})
    cluster.logs["pod-a"] = "loading\nUvicorn running on http://0.0.0.0:8080\nGET /ping 200"
    assert runtime.logs(handle, tail=2) == "pod-a | Uvicorn running on http://0.0.0.0:8080\npod-a | GET /ping 200"
    runtime.stop(handle)
    assert cluster.objects[("Deployment", "models", "studio-iris--prod")]["spec"]["replicas"] == 0
    roll_out(cluster, ready=0)
    assert runtime.status(handle).state == "stopped"
    runtime.start(spec(), BUILD, lambda line: None)  # a stopped deployment starts again
    assert cluster.objects[("Deployment", "models", "studio-iris--prod")]["spec"]["replicas"] == 1
    # The image's tags are not on this test's engine (none is asked): remove deletes only the cluster's objects.
    runtime.remove(handle, None)
    assert cluster.objects == {}
    runtime.remove(handle, None)  # removing what is gone is fine
    runtime.stop(handle)


# --- the real clients --------------------------------------------------------------------------------------------


def nowhere_runtime(tmp_path: Path) -> KubernetesRuntime:
    configuration = k8s.Configuration(host="http://127.0.0.1:9")  # the discard port: nothing listens
    configuration.retries = 0
    api = k8s.ApiClient(configuration)
    return KubernetesRuntime(root=tmp_path, apps_api=k8s.AppsV1Api(api), core_api=k8s.CoreV1Api(api))


def test_a_cluster_that_does_not_answer_is_unhealthy_and_stop_says_so(tmp_path: Path) -> None:
    runtime = nowhere_runtime(tmp_path)
    handle = {"name": "studio-x", "namespace": "studio", "deployment_id": 1, "url": "http://studio-x"}
    status = runtime.status(handle)
    assert status.state == "unhealthy" and "does not answer" in status.message
    assert "could not give the logs" in runtime.logs(handle)
    with pytest.raises(RuntimeFailure, match="the cluster does not answer"):
        runtime.stop(handle)


def test_cluster_access_comes_from_the_kubeconfig_option(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    runtime = KubernetesRuntime(root=tmp_path)
    handle = {"name": "studio-x", "namespace": "studio", "deployment_id": 1, "url": "http://studio-x"}
    assert "no Kubernetes cluster is configured" in runtime.status(handle).message
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: here\n"
        "clusters: [{name: c, cluster: {server: 'http://127.0.0.1:9'}}]\n"
        "contexts: [{name: here, context: {cluster: c, user: u}}]\nusers: [{name: u, user: {token: t}}]\n"
    )
    apps, _ = runtime.apis({"kubeconfig": str(kubeconfig)})
    assert apps.api_client.configuration.host == "http://127.0.0.1:9"
    status = runtime.status({**handle, "kubeconfig": str(kubeconfig)})
    assert status.state == "unhealthy" and "does not answer" in status.message


# --- build: the container runtime's image, pushed --------------------------------------------------------------


def test_push_tags_the_image_for_the_registry_and_reports_the_engines_error(tmp_path: Path) -> None:
    """Needs the container engine (see test_container_runtime.py). No registry is reachable here, so the push goes to
    one where nothing listens and must fail with the engine's own error. Any image does for a push: the test pushes
    the base image under a model image's kind of tag instead of building one (a minute of pip)."""
    host = os.environ.get("DOCKER_HOST")
    try:
        # Generous: the engine may be busy building an image for the container tests running beside this one.
        engine = docker.DockerClient(base_url=host, version="auto", timeout=120) if host else None
        if engine:
            engine.ping()
    except docker.errors.DockerException:
        engine = None
    if engine is None:
        if os.environ.get("CI", "").lower() not in ("", "0", "false", "no"):
            pytest.fail("CI is set, so the push path must be proven, but no container engine answers at DOCKER_HOST")
        pytest.skip("no container engine answers at DOCKER_HOST")
    base = engine.images.get(os.environ.get("STUDIO_CONTAINER_BASE_IMAGE") or "localhost/studio-python:3.11")
    tag = f"studio-push-test:{os.getpid()}"
    base.tag("studio-push-test", tag=str(os.getpid()))
    record = {"image": tag, "image_id": base.id, "docker_host": host}
    remote = f"127.0.0.1:9/studio/studio-push-test:{os.getpid()}"
    runtime = KubernetesRuntime(root=tmp_path, registry="127.0.0.1:9/studio")
    try:
        lines: list[str] = []
        with pytest.raises(RuntimeFailure) as failure:
            runtime.push(record, registry="127.0.0.1:9/studio/", log=lines.append, timeout=60)
        assert "the image could not be pushed to 127.0.0.1:9/studio/studio-push-test" in failure.value.message
        assert "127.0.0.1:9" in failure.value.details
        assert lines[0] == f"pushing {remote}"
        assert engine.images.get(remote).id == base.id
    finally:
        assert runtime.remove(None, {**record, "remote_image": remote}) is None
    for name in (tag, remote):  # the tags are gone, the base image stays
        with pytest.raises(docker.errors.ImageNotFound):
            engine.images.get(name)
    assert engine.images.get(base.id).id == base.id
