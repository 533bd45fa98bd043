"""The build context of a model's image: Studio's own Dockerfile, the model's requirements, the model's files.

Shared by the container and the Kubernetes runtimes. The Dockerfile installs the requirements in a layer of their
own before the model is copied in, so a new version of a model with the same requirements rebuilds in about a second
(the engine reuses the dependency layer). The image is tagged by a digest of the whole context: an equal model with
equal requirements on an equal base image is the same tag, and a build finds it and stops there.

No BuildKit-only syntax (``RUN --mount``): Docker's legacy builder and podman's compat API refuse it. The server is
MLflow's pyfunc scoring server run by uvicorn directly (the command ``mlflow models serve --env-manager local``
runs, see ``mlflow.pyfunc.scoring_server.get_cmd``): one process under the container's init, which ends on SIGTERM;
no nginx, unlike ``mlflow models build-docker``.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from deployments.runtimes.base import RuntimeFailure
from deployments.runtimes.local_env import ModelEnvironment, read_model_environment

CONTEXT_LAYOUT = 1  # bump when the Dockerfile's recipe changes, so images of the old recipe are not reused
MODEL_PATH = "/opt/ml/model"
SERVER_PORT = 8080
# Build arguments the Dockerfile declares (pip reads them from the environment of the install step). The proxy
# variables are Docker's predefined build arguments: passed, they reach RUN steps without a declaration, and stay out
# of the image's history (a proxy URL may hold a password).
PIP_BUILD_ARGS = ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_TRUSTED_HOST", "PIP_DEFAULT_TIMEOUT")
PROXY_BUILD_ARGS = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy")

_DOCKERFILE = """\
# Rendered by Studio (deployments/runtimes/dockerfile.py, layout {layout}).
FROM {base_image}
{pip_args}
WORKDIR /opt/ml
# The dependency layer: only the requirements, so a model-only change reuses it.
COPY studio/requirements.txt studio/check_python.py /opt/ml/studio/
RUN python3 /opt/ml/studio/check_python.py {python} \\
 && python3 -m pip install --no-cache-dir --disable-pip-version-check -r /opt/ml/studio/requirements.txt \\
 && python3 -c "import mlflow.pyfunc.scoring_server, uvicorn"
COPY model/ {model_path}/
ENV __pyfunc_model_path__=file://{model_path} \\
    MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT={request_timeout} \\
    PYTHONUNBUFFERED=1
EXPOSE {port}
CMD ["python3", "-m", "uvicorn", "--host", "0.0.0.0", "--port", "{port}", "mlflow.pyfunc.scoring_server.app:app"]
"""

# A base image's Python of another minor version than the model's usually still loads it, but when it does not, the
# traceback at start says little; this line in the build's output says why.
_CHECK_PYTHON = """\
import sys

wanted = sys.argv[1]
have = "%d.%d" % sys.version_info[:2]
if ".".join(wanted.split(".")[:2]) != have:
    print(f"WARNING: the model was saved with Python {wanted}; the base image has Python {have}")
"""


@dataclass(frozen=True)
class BuildContext:
    """A rendered context: the Dockerfile and requirements Studio wrote, where the model's files are, and the
    digest of all of it (the image's tag)."""

    dockerfile: str
    requirements: tuple[str, ...]
    model_dir: Path
    base_image: str
    digest: str

    def tag(self, repository: str = "studio-model") -> str:
        """The image's name: the repository and the context's digest."""
        return f"{repository}:{self.digest}"


def render_dockerfile(*, base_image: str, environment: ModelEnvironment, request_timeout: int = 60) -> str:
    """Studio's Dockerfile for a model: base image, the dependency layer, the model, the scoring server."""
    return _DOCKERFILE.format(
        layout=CONTEXT_LAYOUT,
        base_image=base_image,
        pip_args="\n".join(f"ARG {name}" for name in PIP_BUILD_ARGS),
        python=environment.python,
        model_path=MODEL_PATH,
        port=SERVER_PORT,
        request_timeout=int(request_timeout),
    )


def _model_files(model_dir: Path) -> Iterator[Path]:
    """The model's regular files, in a stable order (the digest depends on it)."""
    for path in sorted(model_dir.rglob("*")):
        if path.is_symlink() and not path.resolve().is_relative_to(model_dir.resolve()):
            raise RuntimeFailure("the model folder holds a link out of it", str(path))
        if path.is_file():
            yield path


def render_context(
    *, model_dir: Path, base_image: str, base_image_id: str = "", request_timeout: int = 60
) -> BuildContext:
    """The build context for the model in ``model_dir``; its digest covers the recipe, the base image (its name, and
    its id when the engine has it: a rebuilt base makes new model images), the requirements and every file of the
    model (its bytes, names and modes)."""
    model_dir = Path(model_dir)
    if not (model_dir / "MLmodel").is_file():
        raise RuntimeFailure("the model folder has no MLmodel file", str(model_dir))
    environment = read_model_environment(model_dir=model_dir)
    requirements = (*environment.build_dependencies, *environment.requirements)
    dockerfile = render_dockerfile(base_image=base_image, environment=environment, request_timeout=request_timeout)
    digest = hashlib.sha256()
    digest.update(json.dumps([CONTEXT_LAYOUT, dockerfile, base_image_id, requirements]).encode())
    for path in _model_files(model_dir):
        digest.update(f"\0{path.relative_to(model_dir).as_posix()}\0{_mode(path):o}\0".encode())
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    return BuildContext(dockerfile, requirements, model_dir, base_image, digest.hexdigest()[:12])


def _mode(path: Path) -> int:
    """0o755 for an executable file, else 0o644: the only difference in mode that matters in the image."""
    return 0o755 if path.stat().st_mode & stat.S_IXUSR else 0o644


def _add(archive: tarfile.TarFile, name: str, *, data: bytes | None = None, path: Path | None = None) -> None:
    """A file in the archive with fixed owner and time, so equal contexts give the engine equal layers."""
    info = tarfile.TarInfo(name)
    info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
    if path is not None:
        info.size, info.mode = path.stat().st_size, _mode(path)
        with path.open("rb") as handle:
            archive.addfile(info, handle)
    else:
        info.size, info.mode = len(data or b""), 0o644
        archive.addfile(info, io.BytesIO(data or b""))


def context_archive(context: BuildContext) -> IO[bytes]:
    """The context as the tar stream the Docker API's build takes, spooled to disk (a model may be gigabytes)."""
    spool = tempfile.SpooledTemporaryFile(max_size=64 << 20)  # noqa: SIM115 - the caller reads and closes it
    with tarfile.open(fileobj=spool, mode="w") as archive:
        _add(archive, "Dockerfile", data=context.dockerfile.encode())
        _add(archive, "studio/requirements.txt", data=("\n".join(context.requirements) + "\n").encode())
        _add(archive, "studio/check_python.py", data=_CHECK_PYTHON.encode())
        for path in _model_files(context.model_dir):
            _add(archive, f"model/{path.relative_to(context.model_dir).as_posix()}", path=path)
    spool.seek(0)
    return spool


def build_args(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The build arguments to pass: pip's index settings and the proxy variables that are set here (a machine
    behind a proxy, or with its own package index, builds images the same way it installs packages)."""
    environ = os.environ if environ is None else environ
    return {name: environ[name] for name in (*PIP_BUILD_ARGS, *PROXY_BUILD_ARGS) if environ.get(name)}
