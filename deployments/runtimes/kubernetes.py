"""The Kubernetes runtime: the container runtime's image, pushed to a registry, served by a ``Deployment`` behind a
``ClusterIP`` ``Service`` in one namespace.

- build: ``ContainerRuntime.build`` (the same image, the same reuse), then tag it ``<registry>/<repository>:<digest>``
  and push it (``options["registry"]``, else setting ``STUDIO_KUBERNETES_REGISTRY``). Without a registry the local
  tag is used as it is: that suits a one-node cluster that shares the engine's image store, nothing else.
- start: ``render_manifests`` (a pure function) and create-or-replace of each manifest. The objects carry
  ``studio.deployment=<id>``; the Deployment's selector and the Service's are that label alone.
- status: the Deployment's rollout and ready replicas, and its pods' waiting reasons (a bad image, a crash loop);
  healthy once the rollout is complete and a replica is ready, at ``http://<service>.<namespace>.svc.cluster.local``,
  which only resolves inside the cluster: Studio's gateway has to run there to route to it.
- stop scales the Deployment to 0 (the Service stays, a later start scales it up again); remove deletes both, and the
  local tags of the image when no container uses it. Images pushed to the registry stay: registries delete by digest
  and often not at all; their retention is the registry's business.

Cluster access: ``options["kubeconfig"]``/``options["kube_context"]`` (setting ``STUDIO_KUBERNETES_KUBECONFIG``),
else the in-cluster service account when Studio runs in a pod, else ``~/.kube/config``.
"""

from __future__ import annotations

import copy
import hashlib
import math
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import docker.errors
import requests.exceptions
import urllib3.exceptions
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.rest import ApiException
from kubernetes.utils import parse_quantity

from deployments.runtimes.base import DeploymentSpec, Log, Runtime, RuntimeFailure, RuntimeStatus
from deployments.runtimes.container import ContainerRuntime, setting
from deployments.runtimes.dockerfile import SERVER_PORT

CONTAINER_NAME = "server"
DEFAULTS: dict[str, Any] = {
    "namespace": "studio",
    "startup_grace": 300,  # seconds the startup probe allows a server to load its model
    "stop_grace": 10,  # the pods' terminationGracePeriodSeconds
    "image_pull_policy": "IfNotPresent",  # tags are content digests: a tag never changes what it names
}
# A pod waiting for one of these will not get better by waiting.
_HOPELESS = {
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
    "CrashLoopBackOff",
}
_CLUSTER_ERRORS = (urllib3.exceptions.HTTPError, OSError)
_DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


def resource_name(spec: DeploymentSpec) -> str:
    """The Deployment's and Service's name: ``studio-<name>`` made a DNS-1035 label (what a Service's name must be:
    lowercase letters, digits and '-', a letter first, at most 63), with a digest when it had to be shortened."""
    cleaned = re.sub(r"[^a-z0-9-]+", "-", f"studio-{spec.name}".lower()).strip("-")
    if len(cleaned) <= 63 and cleaned == f"studio-{spec.name}":
        return cleaned
    # Cleaned or cut: two names may have become one, and the digest of the original keeps them apart.
    suffix = hashlib.sha256(spec.name.encode()).hexdigest()[:8]
    return f"{cleaned[:54].rstrip('-')}-{suffix}"


def _quantity(value: Any, *, what: str) -> str:
    """A resource quantity as Kubernetes writes it ("500m", "2Gi"), checked here rather than by the API server."""
    text = str(value).strip()
    try:
        parse_quantity(text)
    except ValueError:
        raise RuntimeFailure(f"the {what} '{text}' is not a Kubernetes quantity (like 500m, 2, 512Mi, 4Gi)") from None
    return text


def _resources(options: dict[str, Any]) -> dict[str, Any]:
    """The container's resources: ``options["resources"]`` as Kubernetes has it, or the shorthands ``cpu`` (a
    request) and ``memory`` (request and limit: a server over its memory is killed rather than swapping its node)."""
    resources: dict[str, dict[str, str]] = {}
    given = options.get("resources") or {}
    for section in ("requests", "limits"):
        for key, value in (given.get(section) or {}).items():
            resources.setdefault(section, {})[key] = _quantity(value, what=f"{section}.{key}")
    if options.get("cpu"):
        resources.setdefault("requests", {})["cpu"] = _quantity(options["cpu"], what="cpu")
    if options.get("memory"):
        memory = _quantity(options["memory"], what="memory")
        resources.setdefault("requests", {})["memory"] = memory
        resources.setdefault("limits", {})["memory"] = memory
    return resources


def _probe(*, period: int, timeout: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": "/ping", "port": "http"},
        "periodSeconds": period,
        "timeoutSeconds": timeout,
        "failureThreshold": failures,
    }


def render_manifests(spec: DeploymentSpec, image: str, options: dict[str, Any]) -> list[dict[str, Any]]:
    """The Deployment and the Service of ``spec`` running ``image``, as the API takes them (plain dicts)."""
    options = {**DEFAULTS, **{key: value for key, value in options.items() if value not in (None, "")}}
    name, namespace = resource_name(spec), str(options["namespace"])
    selector = {"studio.deployment": str(spec.deployment_id)}
    labels = {
        "app.kubernetes.io/name": "studio-model",
        "app.kubernetes.io/instance": name,
        "app.kubernetes.io/managed-by": "studio",
        **selector,
    }
    container: dict[str, Any] = {
        "name": CONTAINER_NAME,
        "image": image,
        "imagePullPolicy": str(options["image_pull_policy"]),
        "ports": [{"name": "http", "containerPort": SERVER_PORT, "protocol": "TCP"}],
        "env": [{"name": key, "value": str(value)} for key, value in sorted(spec.environment.items())],
        # Liveness waits for the startup probe: a model that takes minutes to load is not killed meanwhile.
        "startupProbe": _probe(period=5, timeout=2, failures=max(1, math.ceil(float(options["startup_grace"]) / 5))),
        "readinessProbe": _probe(period=5, timeout=2, failures=3),
        "livenessProbe": _probe(period=10, timeout=5, failures=6),
        "resources": _resources(options),
    }
    pod_spec: dict[str, Any] = {
        "containers": [container],
        "terminationGracePeriodSeconds": int(options["stop_grace"]),
        "enableServiceLinks": False,  # the namespace's services need not appear in the server's environment
    }
    if options.get("image_pull_secret"):
        pod_spec["imagePullSecrets"] = [{"name": str(options["image_pull_secret"])}]
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "replicas": spec.instances,
            "selector": {"matchLabels": selector},
            # A new version's pod is ready before an old one goes: an update never leaves the Service empty.
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": {"metadata": {"labels": labels}, "spec": pod_spec},
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "type": "ClusterIP",
            "selector": selector,
            "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
        },
    }
    return [deployment, service]


def service_url(name: str, namespace: str) -> str:
    """Where the Service answers, inside the cluster."""
    return f"http://{name}.{namespace}.svc.cluster.local"


def _api_error(error: ApiException) -> str:
    """The API server's own message, else the status line."""
    return str(error.body or f"{error.status} {error.reason}")[:4000]


class KubernetesRuntime(Runtime):
    """Deployments and Services on a cluster; see the module docstring. ``apps_api``/``core_api`` replace the
    clients made from the cluster configuration (for a caller that has its own)."""

    name = "kubernetes"

    def __init__(
        self,
        root: Path,
        *,
        registry: str | None = None,
        namespace: str | None = None,
        containers: ContainerRuntime | None = None,
        apps_api: Any = None,
        core_api: Any = None,
    ) -> None:
        self.root = Path(root).resolve()
        self.registry = registry if registry is not None else setting("STUDIO_KUBERNETES_REGISTRY", "")
        self.namespace = namespace or setting("STUDIO_KUBERNETES_NAMESPACE", DEFAULTS["namespace"])
        self.containers = containers or ContainerRuntime(root=self.root)
        self._apis: tuple[Any, Any] | None = (apps_api, core_api) if apps_api and core_api else None

    # --- cluster access -----------------------------------------------------------------------------------------

    def apis(self, where: dict[str, Any]) -> tuple[Any, Any]:
        """(AppsV1Api, CoreV1Api) for the cluster that ``where`` (options, or a handle) names."""
        if self._apis:
            return self._apis
        kubeconfig = where.get("kubeconfig") or setting("STUDIO_KUBERNETES_KUBECONFIG", None)
        try:
            if not kubeconfig and os.environ.get("KUBERNETES_SERVICE_HOST"):
                configuration = k8s.Configuration()
                k8s_config.load_incluster_config(client_configuration=configuration)
                api_client = k8s.ApiClient(configuration)
            else:
                api_client = k8s_config.new_client_from_config(
                    config_file=kubeconfig, context=where.get("kube_context") or None, persist_config=False
                )
        except (k8s_config.ConfigException, OSError) as error:
            raise RuntimeFailure("no Kubernetes cluster is configured", str(error)) from None
        return k8s.AppsV1Api(api_client), k8s.CoreV1Api(api_client)

    def _where(self, spec: DeploymentSpec) -> dict[str, Any]:
        """The cluster options of a deployment, as its handle keeps them."""
        where = {"namespace": spec.options.get("namespace") or self.namespace}
        return where | {key: spec.options[key] for key in ("kubeconfig", "kube_context") if spec.options.get(key)}

    # --- build --------------------------------------------------------------------------------------------------

    def build(self, spec: DeploymentSpec, log: Log) -> dict[str, Any]:
        """The container runtime's image, pushed to the registry under the same digest tag."""
        record = self.containers.build(spec, log)
        registry = str(spec.options.get("registry") or self.registry or "").rstrip("/")
        if not registry:
            log("no registry is set (STUDIO_KUBERNETES_REGISTRY): the cluster must find the image under its local tag")
            return {**record, "runtime": self.name, "remote_image": record["image"], "pushed": False}
        timeout = float(spec.options.get("push_timeout", 900))
        return {**self.push(record, registry=registry, log=log, timeout=timeout), "runtime": self.name}

    def push(self, record: dict[str, Any], *, registry: str, log: Log, timeout: float = 900) -> dict[str, Any]:
        """Tag a built image ``<registry>/<repository>:<digest>`` and push it; the record with ``remote_image``."""
        repository, _, tag = record["image"].rpartition(":")
        remote = f"{registry.rstrip('/')}/{repository.rsplit('/', 1)[-1]}"
        client = self.containers.client(record.get("docker_host"), timeout=timeout)
        try:
            client.images.get(record["image_id"]).tag(remote, tag=tag)
        except docker.errors.DockerException as error:
            raise RuntimeFailure(
                f"the image {record['image']} could not be tagged for {registry}", str(error)
            ) from None
        log(f"pushing {remote}:{tag}")
        self._push(client, remote, tag, log)
        return {**record, "remote_image": f"{remote}:{tag}", "pushed": True}

    @staticmethod
    def _push(client: Any, repository: str, tag: str, log: Log) -> None:
        """Push one tag, its progress to ``log`` (each layer's status once, not every progress tick)."""
        said: set[str] = set()
        tail: list[str] = []
        try:
            for chunk in client.images.push(repository, tag=tag, stream=True, decode=True):
                if chunk.get("error") or chunk.get("errorDetail"):
                    detail = chunk.get("errorDetail") or {}
                    error = str(chunk.get("error") or detail.get("message") or detail)
                    raise RuntimeFailure(f"the image could not be pushed to {repository}: {error[:300]}", error)
                line = " ".join(str(chunk[key]) for key in ("id", "status") if chunk.get(key))
                if line and line not in said:
                    said.add(line)
                    tail.append(line)
                    log(line)
        except (docker.errors.DockerException, requests.exceptions.RequestException, OSError) as error:
            details = "\n".join([*tail, str(error)])
            raise RuntimeFailure(f"the image could not be pushed to {repository}", details) from None

    # --- start: create or replace -------------------------------------------------------------------------------

    def start(self, spec: DeploymentSpec, build: dict[str, Any], log: Log) -> dict[str, Any]:
        """Apply the Deployment and the Service (created, or replaced when they exist: a retried start is one)."""
        where = self._where(spec)
        image = build.get("remote_image") or build["image"]
        options = {**spec.options, "namespace": where["namespace"]}
        manifests = render_manifests(spec, image, options)
        apps, core = self.apis(where)
        for manifest in manifests:
            self.apply(manifest, apps=apps, core=core, log=log)
        name = manifests[0]["metadata"]["name"]
        return {
            "runtime": self.name,
            "deployment_id": spec.deployment_id,
            "name": name,
            "image": image,
            "url": service_url(name, where["namespace"]),
            **where,
        }

    def apply(self, manifest: dict[str, Any], *, apps: Any, core: Any, log: Log, attempts: int = 3) -> Any:
        """Create the object, or replace the one that exists (409) with the manifest, at its current
        resourceVersion; a Service keeps its clusterIP (immutable). A write that loses a race to another writer
        (409 on replace) reads again and retries."""
        kind, name = manifest["kind"], manifest["metadata"]["name"]
        namespace = manifest["metadata"]["namespace"]
        api, noun = {"Deployment": (apps, "deployment"), "Service": (core, "service")}[kind]
        try:
            created = getattr(api, f"create_namespaced_{noun}")(namespace, manifest)
            log(f"created {kind} {namespace}/{name}")
            return created
        except ApiException as error:
            if error.status != 409:
                raise RuntimeFailure(f"the {kind} {name} could not be created", _api_error(error)) from None
        for attempt in range(attempts):
            current = getattr(api, f"read_namespaced_{noun}")(name, namespace)
            body = copy.deepcopy(manifest)
            body["metadata"]["resourceVersion"] = current.metadata.resource_version
            if kind == "Service" and current.spec.cluster_ip:
                body["spec"]["clusterIP"] = current.spec.cluster_ip
                body["spec"]["clusterIPs"] = current.spec.cluster_ips or [current.spec.cluster_ip]
            try:
                replaced = getattr(api, f"replace_namespaced_{noun}")(name, namespace, body)
            except ApiException as error:
                if error.status == 409 and attempt + 1 < attempts:
                    continue
                raise RuntimeFailure(f"the {kind} {name} could not be replaced", _api_error(error)) from None
            log(f"replaced {kind} {namespace}/{name}")
            return replaced
        raise AssertionError("unreachable")  # the loop returns or raises

    # --- status and logs ----------------------------------------------------------------------------------------

    def status(self, handle: dict[str, Any]) -> RuntimeStatus:
        """The rollout's state and the ready replicas; never raises for a cluster that is down."""
        try:
            apps, core = self.apis(handle)
            deployment = apps.read_namespaced_deployment(handle["name"], handle["namespace"])
            pods = core.list_namespaced_pod(
                handle["namespace"], label_selector=f"studio.deployment={handle['deployment_id']}"
            ).items
        except ApiException as error:
            if error.status == 404:
                return RuntimeStatus("stopped", [], f"the Deployment {handle['name']} does not exist")
            return RuntimeStatus("unhealthy", [], f"the cluster answered {error.status}: {_api_error(error)[:300]}")
        except (RuntimeFailure, *_CLUSTER_ERRORS) as error:
            return RuntimeStatus("unhealthy", [], f"the cluster does not answer: {getattr(error, 'message', error)}")
        return self._judge(handle, deployment, pods)

    @staticmethod
    def _judge(handle: dict[str, Any], deployment: Any, pods: list[Any]) -> RuntimeStatus:
        """The state a Deployment and its pods are in."""
        wanted = deployment.spec.replicas or 0
        if wanted == 0:
            return RuntimeStatus("stopped", [], "scaled to 0 replicas")
        state = deployment.status or k8s.V1DeploymentStatus()  # none yet: no controller has looked at it
        ready, updated = state.ready_replicas or 0, state.updated_replicas or 0
        message = f"{ready} of {wanted} replicas ready"
        for condition in state.conditions or []:
            if condition.type == "Progressing" and condition.reason == "ProgressDeadlineExceeded":
                return RuntimeStatus("failed", [], f"{message}; the rollout stalled: {condition.message}")
        for pod in pods:
            for container in (pod.status.container_statuses if pod.status else None) or []:
                waiting = container.state.waiting if container.state else None
                if waiting and waiting.reason in _HOPELESS:
                    why = f"pod {pod.metadata.name}: {waiting.reason}: {waiting.message or ''}".strip()
                    return RuntimeStatus("failed", [], f"{message}; {why}")
        current = (state.observed_generation or 0) >= (deployment.metadata.generation or 0)
        if current and updated >= wanted and ready >= 1:
            return RuntimeStatus("healthy", [handle["url"]], message)
        return RuntimeStatus("starting", [], f"{message}; {updated} of {wanted} updated")

    def logs(self, handle: dict[str, Any], tail: int = 200) -> str:
        """Each pod's last ``tail`` lines of the server, prefixed with the pod's name."""
        out: list[str] = []
        try:
            _, core = self.apis(handle)
            selector = f"studio.deployment={handle['deployment_id']}"
            for pod in core.list_namespaced_pod(handle["namespace"], label_selector=selector).items:
                text = core.read_namespaced_pod_log(
                    pod.metadata.name, handle["namespace"], container=CONTAINER_NAME, tail_lines=tail
                )
                out += [f"{pod.metadata.name} | {line}" for line in str(text or "").splitlines()]
        except (ApiException, RuntimeFailure, *_CLUSTER_ERRORS) as error:
            out.append(f"(the cluster could not give the logs: {getattr(error, 'message', error)})")
        return "\n".join(out)

    # --- stop and remove ----------------------------------------------------------------------------------------

    def stop(self, handle: dict[str, Any]) -> None:
        """Scale the Deployment to 0; one that is gone is stopped already."""
        apps, _ = self.apis(handle)
        self._ignoring_missing(
            lambda: apps.patch_namespaced_deployment(handle["name"], handle["namespace"], {"spec": {"replicas": 0}}),
            what=f"scale {handle['name']} to 0",
        )

    def remove(self, handle: dict[str, Any] | None, build: dict[str, Any] | None) -> None:
        """Delete the Deployment and the Service, then the image's local tags when no container uses it."""
        if handle:
            apps, core = self.apis(handle)
            name, namespace = handle["name"], handle["namespace"]
            background = k8s.V1DeleteOptions(propagation_policy="Background")
            self._ignoring_missing(
                lambda: apps.delete_namespaced_deployment(name, namespace, body=background), what=f"delete {name}"
            )
            self._ignoring_missing(
                lambda: core.delete_namespaced_service(name, namespace, body=background), what=f"delete {name}"
            )
        if build and build.get("image"):
            tags = list(dict.fromkeys([build["image"], build.get("remote_image") or build["image"]]))
            self.containers.remove_image(build, tags=tags)

    @staticmethod
    def _ignoring_missing(call: Callable[[], Any], *, what: str) -> None:
        """Run an API call for which a missing object (404) is the wanted outcome already."""
        try:
            call()
        except ApiException as error:
            if error.status != 404:
                raise RuntimeFailure(f"could not {what}", _api_error(error)) from None
        except _CLUSTER_ERRORS as error:
            raise RuntimeFailure(f"could not {what}: the cluster does not answer", str(error)) from None
