"""The container runtime: one image per model (Studio's own Dockerfile, see ``dockerfile.py``) and its scoring
servers as containers, through the Docker Engine API. Works against Docker and against podman's Docker-compatible
socket (``scripts/podman-setup.sh`` sets podman up on a machine without Docker).

Which engine: ``spec.options["docker_host"]``, else the runtime's ``docker_host`` (setting ``STUDIO_DOCKER_HOST``),
else ``DOCKER_HOST`` and the rest of Docker's environment. Servers publish on 127.0.0.1 of the engine's host, so the
engine is this machine's (a unix socket): the gateway reaches the servers at ``http://127.0.0.1:<port>``.

Everything the runtime made is found again by labels, never by memory: containers carry ``studio.deployment=<id>``
and ``studio.instance=<n>``, so a retried ``start`` keeps what runs already, and ``stop`` removes even containers a
killed worker started without recording them. Images are tagged by the digest of their build context and shared by
every deployment of an equal model; ``remove`` deletes an image once no container uses it, and ``start`` builds a
missing image again (the same digest, the same tag), so removing one that another deployment was about to start costs
that deployment a rebuild, never a failure.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import time
from collections import deque
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import docker
import docker.errors
import requests.exceptions
from docker.models.containers import Container

from deployments.runtimes.base import DeploymentSpec, Log, Runtime, RuntimeFailure, RuntimeStatus, pings
from deployments.runtimes.dockerfile import SERVER_PORT, BuildContext, build_args, context_archive, render_context
from deployments.runtimes.local_env import locked

DEFAULT_BASE_IMAGE = "python:3.11-slim"
DEFAULTS: dict[str, Any] = {
    "repository": "studio-model",  # the images' name; the tag is the build context's digest
    "build_timeout": 1800,  # seconds the engine may stay silent during a build (a large wheel downloading)
    "startup_grace": 300,  # seconds a container may take to answer /ping before it counts as unhealthy
    "stop_grace": 5,  # seconds between SIGTERM and SIGKILL (init=True: the server gets the SIGTERM)
    "request_timeout": 60,  # MLflow's per-request timeout of the scoring server
}
_PORT = f"{SERVER_PORT}/tcp"
_ENGINE_ERRORS = (docker.errors.DockerException, requests.exceptions.RequestException, OSError)


def setting(name: str, default: Any) -> Any:
    """A Django setting when Django is configured and has it, else the environment variable of that name, else the
    default: the runtime also runs outside Studio (a script, a test) and under a settings.py that lacks the name."""
    from django.conf import settings  # imported when asked: the module itself needs no Django

    if settings.configured and getattr(settings, name, None) not in (None, ""):
        return getattr(settings, name)
    return os.environ.get(name) or default


def _option(spec_or_handle: DeploymentSpec | dict[str, Any], key: str) -> Any:
    """An option of the deployment (``spec.options``, or the copy a handle carries), else its default."""
    options = spec_or_handle.options if isinstance(spec_or_handle, DeploymentSpec) else spec_or_handle
    value = options.get(key)
    return DEFAULTS[key] if value in (None, "") else value


def _started_at(container: Container) -> float:
    """When the container last started, in epoch seconds (the engine gives nanoseconds, Python takes micro)."""
    raw = container.attrs.get("State", {}).get("StartedAt") or ""
    match = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d{1,6})?\d*(Z|[+-]\d\d:\d\d)?$", raw)
    if not match:
        return 0.0
    parsed = datetime.fromisoformat(match.group(1) + (match.group(2) or "") + (match.group(3) or "Z"))
    return parsed.astimezone(UTC).timestamp()


def _host_port(container: Container) -> int | None:
    """The host port the engine chose for the server's port (re-read: it changes when a container restarts)."""
    bindings = (container.attrs.get("NetworkSettings", {}).get("Ports") or {}).get(_PORT) or []
    ports = [int(item["HostPort"]) for item in bindings if item.get("HostPort")]
    return ports[0] if ports else None


class ContainerRuntime(Runtime):
    """Images and containers through the Docker Engine API; see the module docstring."""

    name = "container"

    def __init__(self, root: Path, *, docker_host: str | None = None, base_image: str | None = None) -> None:
        self.root = Path(root).resolve()
        self.locks = self.root / "container"  # build locks: two workers of this host never build one image twice
        self.docker_host = docker_host if docker_host is not None else setting("STUDIO_DOCKER_HOST", None)
        self.base_image = base_image or setting("STUDIO_CONTAINER_BASE_IMAGE", DEFAULT_BASE_IMAGE)
        self._clients: dict[tuple[str | None, float], docker.DockerClient] = {}

    # --- the engine ---------------------------------------------------------------------------------------------

    def host(self, options: dict[str, Any]) -> str | None:
        """The engine's address for a deployment: its option, the runtime's setting, or None (Docker's env)."""
        return options.get("docker_host") or self.docker_host or None

    def client(self, host: str | None, *, timeout: float = 30) -> docker.DockerClient:
        """A client of the engine at ``host`` (None: DOCKER_HOST and Docker's environment); RuntimeFailure when the
        engine does not answer. ``timeout`` bounds each read: a build needs a long one, a probe a short one."""
        key = (host, timeout)
        if key not in self._clients:
            try:
                if host:
                    made = docker.DockerClient(base_url=host, version="auto", timeout=int(timeout))
                else:
                    made = docker.from_env(version="auto", timeout=int(timeout))
            except _ENGINE_ERRORS as error:
                where = host or os.environ.get("DOCKER_HOST") or "Docker's default socket"
                raise RuntimeFailure(f"the container engine does not answer at {where}", str(error)) from None
            self._clients[key] = made
        return self._clients[key]

    @staticmethod
    def _image_id(client: docker.DockerClient, name: str) -> str:
        """The id of the image called ``name`` on the engine, or "" when it has none."""
        try:
            return client.images.get(name).id
        except docker.errors.ImageNotFound:
            return ""

    # --- build --------------------------------------------------------------------------------------------------

    def render(self, spec: DeploymentSpec, client: docker.DockerClient) -> BuildContext:
        """The model's build context on the deployment's base image (its id, when the engine has it, is part of the
        digest: a rebuilt base image makes new model images)."""
        base = spec.options.get("base_image") or self.base_image
        return render_context(
            model_dir=spec.model_dir,
            base_image=base,
            base_image_id=self._image_id(client, base),
            request_timeout=int(_option(spec, "request_timeout")),
        )

    def build(self, spec: DeploymentSpec, log: Log) -> dict[str, Any]:
        """Build the model's image, or find it built (an equal context has the same tag)."""
        host, began = self.host(spec.options), time.monotonic()
        client = self.client(host)
        context = self.render(spec, client)
        tag = context.tag(_option(spec, "repository"))
        timeout = float(_option(spec, "build_timeout"))
        waiting = lambda: log(f"waiting for another build of image {tag}")  # noqa: E731
        with locked(self.locks / f"build-{context.digest}.lock", timeout=timeout * 2, waiting=waiting):
            image_id = self._image_id(client, tag)
            reused = bool(image_id)
            if reused:
                log(f"reusing image {tag}")
            else:
                if not self._image_id(client, context.base_image):
                    log(f"the base image {context.base_image} is not on the engine: the build pulls it")
                log(f"building image {tag} on {context.base_image}")
                self._build_image(host, context, tag=tag, timeout=timeout, log=log)
                image_id = self._image_id(client, tag)
        return {
            "runtime": self.name,
            "image": tag,
            "image_id": image_id,
            "reused": reused,
            "digest": context.digest,
            "base_image": context.base_image,
            "docker_host": host,
            "requirements": list(context.requirements),
            "seconds": round(time.monotonic() - began, 2),
        }

    def _build_image(self, host: str | None, context: BuildContext, *, tag: str, timeout: float, log: Log) -> None:
        """Run the engine's build, each output line to ``log``; RuntimeFailure with the output's tail on failure."""
        api = self.client(host, timeout=timeout).api
        tail: deque[str] = deque(maxlen=80)
        step, error = "", ""
        labels = {"studio.digest": context.digest, "studio.base-image": context.base_image}
        archive = context_archive(context)
        try:
            stream = api.build(
                fileobj=archive, custom_context=True, tag=tag, rm=True, forcerm=True, pull=False,
                buildargs=build_args(), labels=labels, decode=True,
            )  # fmt: skip
            for line in self._lines(stream):
                if line.startswith("\0error:"):
                    error = line.removeprefix("\0error:")
                    continue
                if re.match(r"^(STEP|Step) \d+/\d+ ?:", line):
                    step = line
                tail.append(line)
                log(line)
        except _ENGINE_ERRORS as failure:
            error = error or str(failure)
        finally:
            archive.close()
        if error:
            tail.append(error)
            installing = "pip install" in step
            message = "the model's requirements could not be installed" if installing else "the image build failed"
            raise RuntimeFailure(f"{message}: {error.strip()[:300]}", "\n".join(tail))

    @staticmethod
    def _lines(stream: Iterator[dict[str, Any]]) -> Iterator[str]:
        """The build's output lines; an error chunk comes out as one line ``\\0error:<message>``."""
        for chunk in stream:
            if chunk.get("error") or chunk.get("errorDetail"):
                detail = chunk.get("errorDetail") or {}
                yield "\0error:" + str(chunk.get("error") or detail.get("message") or detail)
            for line in str(chunk.get("stream") or "").splitlines():
                if line.strip():
                    yield line.rstrip()

    def _ensure_image(self, client: docker.DockerClient, spec: DeploymentSpec, build: dict[str, Any], log: Log) -> str:
        """The build's image id; built again when it is gone (another deployment's ``remove`` deleted it)."""
        image_id = self._image_id(client, build.get("image_id") or build.get("image") or "")
        if image_id:
            return image_id
        log(f"the image {build.get('image')} is gone: building it again")
        return self.build(spec, log)["image_id"]

    # --- start --------------------------------------------------------------------------------------------------

    def start(self, spec: DeploymentSpec, build: dict[str, Any], log: Log) -> dict[str, Any]:
        """Run ``spec.instances`` containers; those that already run this image with these settings are kept."""
        host = self.host(spec.options)
        client = self.client(host)
        image_id = self._ensure_image(client, spec, build, log)
        config = self._run_config(spec, image_id)
        fingerprint = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]
        existing = {c.labels.get("studio.instance"): c for c in self._containers(client, spec.deployment_id)}
        running = []
        for index in range(spec.instances):
            container = existing.pop(str(index), None)
            name = f"studio-{spec.name}-{index}"
            if container and container.labels.get("studio.config") == fingerprint and container.name == name:
                if container.status != "running":
                    log(f"starting the stopped container {name}")
                    container.start()
            else:
                if container:
                    log(f"replacing container {container.name}: the image or its settings changed")
                    self._discard(container, grace=float(_option(spec, "stop_grace")))
                container = self._run(client, spec, config=config, index=index, name=name, fingerprint=fingerprint)
            container.reload()
            running.append({"id": container.id, "name": container.name, "port": _host_port(container)})
        for extra in existing.values():  # fewer instances than before
            log(f"removing container {extra.name}")
            self._discard(extra, grace=float(_option(spec, "stop_grace")))
        log(f"{len(running)} container(s) on port(s) {', '.join(str(item['port']) for item in running)}")
        options = {key: spec.options[key] for key in ("startup_grace", "stop_grace") if key in spec.options}
        return {
            "runtime": self.name,
            "deployment_id": spec.deployment_id,
            "containers": running,
            "image": build.get("image"),
            "docker_host": host,
            **options,
        }

    @staticmethod
    def _run_config(spec: DeploymentSpec, image_id: str) -> dict[str, Any]:
        """What a container is made of; a container made of anything else is replaced."""
        config: dict[str, Any] = {"image": image_id, "environment": dict(sorted(spec.environment.items()))}
        if spec.options.get("memory"):
            config["mem_limit"] = str(spec.options["memory"])
        if spec.options.get("cpus"):
            config["nano_cpus"] = int(float(spec.options["cpus"]) * 1e9)
        return config

    def _run(
        self,
        client: docker.DockerClient,
        spec: DeploymentSpec,
        *,
        config: dict[str, Any],
        index: int,
        name: str,
        fingerprint: str,
    ) -> Container:
        """Create and start instance ``index``; a stale container holding its name (left by a deployment of the
        same name that is gone) is removed first, one Studio did not make is an error."""
        with contextlib.suppress(docker.errors.NotFound):
            holder = client.containers.get(name)
            if "studio.deployment" not in holder.labels:
                raise RuntimeFailure(f"a container named {name} exists and is not Studio's", holder.id)
            self._discard(holder, grace=float(_option(spec, "stop_grace")))
        labels = {
            "studio.deployment": str(spec.deployment_id),
            "studio.instance": str(index),
            "studio.config": fingerprint,
        }
        try:
            return client.containers.run(
                detach=True, name=name, labels=labels, init=True, ports={_PORT: ("127.0.0.1", None)}, **config
            )
        except docker.errors.APIError as error:
            raise RuntimeFailure(f"the container {name} could not start", str(error)) from None

    @staticmethod
    def _containers(client: docker.DockerClient, deployment_id: int) -> list[Container]:
        """Every container of the deployment, running or not, found by its label."""
        label = f"studio.deployment={deployment_id}"
        return client.containers.list(all=True, filters={"label": label}, ignore_removed=True)

    @staticmethod
    def _discard(container: Container, *, grace: float) -> None:
        """Stop (SIGTERM, then SIGKILL after ``grace``) and delete a container; one already gone is fine."""
        with contextlib.suppress(docker.errors.NotFound):
            if container.status == "running":
                container.stop(timeout=int(grace))
            container.remove(force=True)

    # --- status and logs ----------------------------------------------------------------------------------------

    def _handle_containers(self, client: docker.DockerClient, handle: dict[str, Any]) -> list[tuple[str, Any]]:
        """(name, container or None when gone) for each container the handle names."""
        found: list[tuple[str, Any]] = []
        for item in handle.get("containers", []):
            try:
                found.append((item["name"], client.containers.get(item["id"])))
            except docker.errors.NotFound:
                found.append((item["name"], None))
        return found

    def status(self, handle: dict[str, Any]) -> RuntimeStatus:
        """The engine's state of each container and its /ping; never raises for a server or an engine that is down."""
        try:
            found = self._handle_containers(self.client(handle.get("docker_host"), timeout=10), handle)
        except RuntimeFailure as failure:
            return RuntimeStatus("unhealthy", [], failure.message)
        except _ENGINE_ERRORS as error:
            return RuntimeStatus("unhealthy", [], f"the container engine failed to answer: {error}")
        present = [(name, container) for name, container in found if container is not None]
        if not present:
            return RuntimeStatus("stopped", [], "no container of this deployment exists")
        running = [c for _, c in present if c.status == "running"]
        ports = [port for c in running if (port := _host_port(c))]
        urls = [url for port in ports if pings(url := f"http://127.0.0.1:{port}")]
        exited = [c for _, c in present if c.status in ("exited", "dead")]
        message = f"{len(urls)} of {len(found)} instances healthy"
        if exited:
            message += "; " + "; ".join(self._exit_message(c) for c in exited)
        if urls:
            return RuntimeStatus("healthy", urls, message)
        if exited:
            return RuntimeStatus("failed", [], message)
        grace = float(_option(handle, "startup_grace"))
        young = [c for c in running if time.time() - _started_at(c) < grace]
        return RuntimeStatus("starting" if young or not running else "unhealthy", [], message)

    @staticmethod
    def _exit_message(container: Container) -> str:
        """Why a container ended: its exit code (and an OOM kill), then its last lines (the server's traceback)."""
        state = container.attrs.get("State", {})
        why = f"{container.name} exited with code {state.get('ExitCode')}"
        if state.get("OOMKilled"):
            why += " (killed: out of memory)"
        try:
            lines = container.logs(tail=12).decode(errors="replace").strip()
        except _ENGINE_ERRORS:
            lines = ""
        return f"{why}:\n{lines}" if lines else why

    def logs(self, handle: dict[str, Any], tail: int = 200) -> str:
        """Each container's last ``tail`` lines, prefixed with its name; what the engine cannot give is said."""
        out: list[str] = []
        try:
            found = self._handle_containers(self.client(handle.get("docker_host"), timeout=10), handle)
            for name, container in found:
                if container is None:
                    out.append(f"{name} | (removed)")
                    continue
                text = container.logs(tail=tail, stdout=True, stderr=True).decode(errors="replace")
                out += [f"{name} | {line}" for line in text.splitlines()]
        except (RuntimeFailure, *_ENGINE_ERRORS) as error:
            out.append(f"(the container engine could not give the logs: {getattr(error, 'message', error)})")
        return "\n".join(out)

    # --- stop and remove ----------------------------------------------------------------------------------------

    def stop(self, handle: dict[str, Any]) -> None:
        """Stop and delete the deployment's containers: those the handle names and any other with its label."""
        client = self.client(handle.get("docker_host"))
        grace = float(_option(handle, "stop_grace"))
        try:
            labelled = self._containers(client, handle["deployment_id"])
            named = [c for _, c in self._handle_containers(client, handle) if c is not None]
            for container in {c.id: c for c in [*labelled, *named]}.values():
                self._discard(container, grace=grace)
        except docker.errors.APIError as error:
            raise RuntimeFailure("the containers could not be stopped", str(error)) from None

    def remove(self, handle: dict[str, Any] | None, build: dict[str, Any] | None) -> None:
        """Delete the containers, then the image when no container (of any deployment) uses it any more."""
        if handle:
            self.stop(handle)
        if build and build.get("image"):
            self.remove_image(build, tags=[build["image"]])

    def remove_image(self, build: dict[str, Any], *, tags: list[str]) -> bool:
        """Untag ``tags`` (the engine deletes the image with its last tag) unless a container uses the image;
        whether it was done."""
        client = self.client(build.get("docker_host"))
        image_id = self._image_id(client, build["image"])  # the tag: a rebuilt image has another id than the record's
        if not image_id:
            return True
        containers = client.containers.list(all=True, ignore_removed=True)
        if any(c.attrs.get("ImageID", c.attrs.get("Image")) == image_id for c in containers):
            return False
        for tag in tags:
            try:
                client.images.remove(tag)
            except docker.errors.NotFound:  # podman's answer for a tag that is gone (Docker's: ImageNotFound)
                continue
            except docker.errors.APIError as error:
                if error.status_code == 409:  # a container made meanwhile: the image stays
                    return False
                raise RuntimeFailure(f"the image {tag} could not be removed", str(error)) from None
        return True
