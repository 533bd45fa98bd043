"""An MLmodel file read through ``mlflow.models.Model`` into what the version page's viewer shows: flavors with their
settings, the signature as tables, the input example, the Python environment and requirements, size and ids.

Plain dataclasses, no Django: files come through a ``FileReader`` (a version's files in the artifact store on the
page, a directory in the tests). Reading never raises for what a file holds: a missing, malformed or odd file gives a
result with ``notes`` saying what is wrong, and every read is bounded.
"""

from __future__ import annotations

import importlib.util
import json
import posixpath
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from mlflow.models import Model
from mlflow.models.signature import ModelSignature
from mlflow.models.utils import EXAMPLE_DATA_KEY, EXAMPLE_PARAMS_KEY
from mlflow.types import DataType
from mlflow.types.schema import Schema, TensorSpec
from packaging.requirements import InvalidRequirement, Requirement

MLMODEL = "MLmodel"
MLMODEL_MAX_BYTES = 1_000_000
EXAMPLE_MAX_BYTES = 2_000_000
ENV_MAX_BYTES = 200_000
EXAMPLE_ROWS = 50  # rows of an input example shown; the rest are counted
EXAMPLE_JSON_CHARS = 20_000

# A file's first ``limit`` bytes, or None when there is no such file.
FileReader = Callable[[str, int], "bytes | None"]

# Labels of the flavor settings a reader looks for; others get their key, humanized.
SETTING_LABELS = {
    "loader_module": "Loader module",
    "python_version": "Python version",
    "serialization_format": "Serialization format",
    "pickled_model": "Model file",
    "model_path": "Model path",
    "data": "Data",
    "code": "Code",
    "python_model": "Python model file",
    "predict_fn": "Predict function",
    "streamable": "Streamable",
    "env": "Environment files",
}
FLAVOR_LABELS = {"python_function": "Python function (pyfunc)", "sklearn": "scikit-learn"}


@dataclass(frozen=True)
class Note:
    """Something the reader should know about the file: ``level`` is "warning" (broken) or "info"."""

    text: str
    level: str = "warning"


@dataclass(frozen=True)
class Flavor:
    """One flavor of the model with its settings as (label, value) pairs."""

    name: str
    label: str
    framework_version: str  # e.g. sklearn_version; "" when the flavor names none
    settings: list[tuple[str, str]]
    known: bool = True


@dataclass(frozen=True)
class Column:
    """One input or output of a signature: a named column (type, required) or a tensor (dtype and shape)."""

    name: str
    type: str
    required: bool
    shape: str = ""  # tensors only


@dataclass(frozen=True)
class Param:
    """One inference parameter of a signature, with its default."""

    name: str
    type: str
    default: str
    shape: str = ""


@dataclass(frozen=True)
class Signature:
    """A model signature as tables: inputs, outputs, params; ``tensors`` when the inputs are tensors."""

    inputs: list[Column]
    outputs: list[Column]
    params: list[Param]
    inputs_are_tensors: bool = False
    outputs_are_tensors: bool = False


@dataclass(frozen=True)
class InputExample:
    """The saved input example: a table (``columns`` and ``rows``) or JSON text, with its inference params."""

    path: str
    kind: str  # "table" or "json"
    columns: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    total_rows: int = 0
    json: str = ""
    params: list[tuple[str, str]] = field(default_factory=list)

    @property
    def more_rows(self) -> int:
        """Rows of the example not shown."""
        return max(self.total_rows - len(self.rows), 0)


@dataclass(frozen=True)
class PackageRequirement:
    """One line of a requirements list: the package name and its version specifier (or an option line as is)."""

    line: str
    name: str = ""
    specifier: str = ""


@dataclass(frozen=True)
class EnvFile:
    """One environment file (python_env.yaml, requirements.txt, conda.yaml): its text and what it lists."""

    path: str
    text: str
    python: str = ""
    requirements: list[PackageRequirement] = field(default_factory=list)
    build: list[str] = field(default_factory=list)  # python_env's build_dependencies
    channels: list[str] = field(default_factory=list)  # conda's channels
    conda: list[str] = field(default_factory=list)  # conda's (non-pip) dependencies
    note: str = ""


@dataclass
class MLmodelView:
    """Everything the MLmodel tab shows; ``found`` is False when there is no MLmodel file to read."""

    found: bool = False
    notes: list[Note] = field(default_factory=list)
    flavors: list[Flavor] = field(default_factory=list)
    signature: Signature | None = None
    input_example: InputExample | None = None
    environment: list[EnvFile] = field(default_factory=list)
    model_size_bytes: int | None = None
    model_uuid: str = ""
    model_id: str = ""
    run_id: str = ""
    artifact_path: str = ""
    utc_time_created: str = ""
    mlflow_version: str = ""
    metadata: list[tuple[str, str]] = field(default_factory=list)

    @property
    def loads_with_pyfunc(self) -> bool:
        """Whether ``mlflow.pyfunc.load_model`` can load it (it has the python_function flavor)."""
        return any(f.name == "python_function" for f in self.flavors)


def directory_reader(folder: str | Path) -> FileReader:
    """A reader of the files under a local folder (for tests and local tools); nothing outside it is read."""
    root = Path(folder).resolve()

    def read(name: str, limit: int) -> bytes | None:
        path = (root / name).resolve()
        if not path.is_relative_to(root) or not path.is_file():
            return None
        with path.open("rb") as handle:
            return handle.read(limit)

    return read


def _text(value: Any) -> str:
    """A setting's value as a reader wants it: JSON for structures, plain text for the rest."""
    if isinstance(value, dict) and not any(isinstance(v, (dict, list)) for v in value.values()):
        return ", ".join(f"{k}: {v}" for k, v in value.items())  # env: {conda: conda.yaml, virtualenv: ...}
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, default=str)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _read_text(read: FileReader, name: str, limit: int) -> tuple[str | None, str]:
    """A file's text and a note when it is missing, too large or not UTF-8 (text None then, except too large)."""
    data = read(name, limit + 1)
    if data is None:
        return None, f"{name} is missing."
    if len(data) > limit:
        return None, f"{name} is larger than {limit:,} bytes; open the file itself to read it."
    try:
        return data.decode("utf-8"), ""
    except UnicodeDecodeError:
        return None, f"{name} is not UTF-8 text."


def read_mlmodel(read: FileReader) -> MLmodelView:
    """The viewer's model of the MLmodel file (and the files it names) that ``read`` reaches."""
    view = MLmodelView()
    text, problem = _read_text(read, MLMODEL, MLMODEL_MAX_BYTES)
    if text is None:
        missing = read(MLMODEL, 1) is None
        view.notes.append(Note("This version has no MLmodel file at the top of its files." if missing else problem))
        return view
    view.found = True
    model = parse_mlmodel(text, view.notes)
    if model is None:
        return view
    _fill_metadata(view, model)
    view.flavors = _flavors(model.flavors, view.notes)
    view.signature = _signature(model.signature)
    if view.signature is None and not any("signature" in n.text for n in view.notes):
        view.notes.append(
            Note(
                "This model has no signature: nothing says which inputs it expects, and MLflow does not check them "
                "when it scores. Log it with signature=infer_signature(X, y) or an input_example to add one.",
                "info",
            )
        )
    if view.flavors and not view.loads_with_pyfunc:
        view.notes.append(
            Note("No python_function flavor: mlflow.pyfunc.load_model cannot load it; its flavor's own does.", "info")
        )
    view.input_example = _input_example(read, model, view.notes)
    view.environment = _environment(read, model)
    return view


def loader_module(read: FileReader) -> str:
    """The module whose ``load_model`` loads the model: ``mlflow.pyfunc`` unless the MLmodel file, when there is a
    readable one, has no python_function flavor but one of mlflow's own (then ``mlflow.<flavor>``)."""
    text, _ = _read_text(read, MLMODEL, MLMODEL_MAX_BYTES)
    try:
        data = yaml.safe_load(text) if text is not None else None
    except yaml.YAMLError:
        data = None
    flavors = data.get("flavors") if isinstance(data, dict) else None
    if not isinstance(flavors, dict) or not flavors or "python_function" in flavors:
        return "mlflow.pyfunc"
    known = [str(name) for name in flavors if _known_flavor(str(name))]
    return f"mlflow.{known[0]}" if known else "mlflow.pyfunc"


def parse_mlmodel(text: str, notes: list[Note]) -> Model | None:
    """``mlflow.models.Model`` from an MLmodel file's text; None (with a note) when it cannot be read at all. A bad
    signature is dropped with a note, so the rest of the file is still shown."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        notes.append(Note(f"The MLmodel file is not valid YAML: {str(exc).splitlines()[0]}."))
        return None
    if not isinstance(data, dict):
        notes.append(Note(f"The MLmodel file should hold a mapping of fields; it holds a {type(data).__name__}."))
        return None
    data = {str(k): v for k, v in data.items()}
    if not isinstance(data.get("flavors"), dict):
        notes.append(Note("The MLmodel file lists no flavors: nothing says how to load this model."))
        data["flavors"] = {}
    if "signature" in data and data["signature"] is not None:
        try:
            if not isinstance(data["signature"], dict):
                raise TypeError("not a mapping")
            ModelSignature.from_dict(data["signature"])
        except Exception as exc:
            notes.append(Note(f"The signature cannot be read ({type(exc).__name__}: {exc}); it is not shown."))
            data.pop("signature")
    try:
        return Model.from_dict(data)
    except Exception as exc:
        notes.append(Note(f"mlflow cannot read the MLmodel file ({type(exc).__name__}: {exc})."))
        return None


def _fill_metadata(view: MLmodelView, model: Model) -> None:
    """Sizes, ids, times and the free-form ``metadata`` mapping."""
    size = getattr(model, "model_size_bytes", None)
    view.model_size_bytes = size if isinstance(size, int) and not isinstance(size, bool) else None
    view.model_uuid = _text(model.model_uuid or "")
    view.model_id = _text(getattr(model, "model_id", None) or "")
    view.run_id = _text(model.run_id or "")
    view.artifact_path = _text(model.artifact_path or "")
    view.utc_time_created = _text(model.utc_time_created or "")
    view.mlflow_version = _text(model.mlflow_version or "")
    metadata = getattr(model, "metadata", None)
    if isinstance(metadata, dict):
        view.metadata = [(str(k), _text(v)) for k, v in metadata.items()]


def _known_flavor(name: str) -> bool:
    """Whether mlflow ships a module for the flavor (``mlflow.sklearn`` for "sklearn"); nothing is imported."""
    if name == "python_function":
        return True
    if not name.isidentifier():
        return False
    try:
        return importlib.util.find_spec(f"mlflow.{name}") is not None
    except (ImportError, ValueError):
        return False


def _flavors(flavors: dict, notes: list[Note]) -> list[Flavor]:
    """Each flavor with its non-empty settings; pyfunc first, as the loader everything else goes through."""
    result = []
    for name, settings in sorted(flavors.items(), key=lambda item: item[0] != "python_function"):
        name = str(name)
        if not isinstance(settings, dict):
            notes.append(Note(f"The settings of flavor '{name}' are not a mapping; they are shown as they are."))
            settings = {"value": settings} if settings is not None else {}
        known = _known_flavor(name)
        if not known:
            notes.append(Note(f"'{name}' is not a flavor this MLflow ({_mlflow_version()}) knows.", "info"))
        # pyfunc's other *_version keys (cloudpickle_version) are its tools', not a framework's.
        versions = [k for k in settings if str(k).endswith("_version") and k != "python_version"]
        own = f"{name}_version" if f"{name}_version" in settings else ""
        if not own and versions and name != "python_function":
            own = versions[0]
        pairs = [(_label(str(k)), _text(v)) for k, v in settings.items() if v is not None and v != ""]
        result.append(
            Flavor(name, FLAVOR_LABELS.get(name, name), _text(settings[own]) if own else "", pairs, known=known)
        )
    return result


def _mlflow_version() -> str:
    import mlflow

    return mlflow.__version__


def _label(key: str) -> str:
    if key in SETTING_LABELS:
        return SETTING_LABELS[key]
    if key.endswith("_version"):
        return key.removesuffix("_version").replace("_", " ") + " version"
    return key.replace("_", " ").capitalize()


def _type_name(kind: Any) -> str:
    return kind.name if isinstance(kind, DataType) else str(kind)


def _shape(shape: Iterable[Any]) -> str:
    """A shape as Python writes a tuple, ``(-1, 4, 2)``; -1 is any size."""
    return str(tuple(int(d) for d in shape))


def _columns(schema: Schema | None) -> list[Column]:
    if schema is None:
        return []
    columns = []
    for spec in schema.inputs:
        if isinstance(spec, TensorSpec):
            columns.append(Column(spec.name or "", str(spec.type), spec.required, _shape(spec.shape)))
        else:
            columns.append(Column(spec.name or "", _type_name(spec.type), spec.required))
    return columns


def _signature(signature: ModelSignature | None) -> Signature | None:
    """The signature's tables, or None when the model has none."""
    if signature is None:
        return None
    params = []
    if signature.params is not None:
        for spec in signature.params.params:
            shape = _shape(spec.shape) if spec.shape else ""
            params.append(Param(spec.name, _type_name(spec.dtype), json.dumps(spec.default, default=str), shape))
    return Signature(
        inputs=_columns(signature.inputs),
        outputs=_columns(signature.outputs),
        params=params,
        inputs_are_tensors=bool(signature.inputs is not None and signature.inputs.is_tensor_spec()),
        outputs_are_tensors=bool(signature.outputs is not None and signature.outputs.is_tensor_spec()),
    )


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _table(columns: Iterable[Any], rows: list[Any]) -> tuple[list[str], list[list[str]]]:
    return [_cell(c) for c in columns], [[_cell(v) for v in row] for row in rows[:EXAMPLE_ROWS]]


def _example_table(data: Any, info: dict) -> tuple[list[str], list[list[str]], int] | None:
    """A dataframe example (split or records orient, or a mapping of equal-length columns) as a table; else None."""
    if isinstance(data, dict) and isinstance(data.get("data"), list) and "columns" in data:
        rows = [r if isinstance(r, list) else [r] for r in data["data"]]
        columns, cells = _table(data.get("columns") or [], rows)
        return columns, cells, len(rows)
    if isinstance(data, list) and data and all(isinstance(r, dict) for r in data):
        names = list(dict.fromkeys(k for r in data for k in r))
        columns, cells = _table(names, [[r.get(k) for k in names] for r in data])
        return columns, cells, len(data)
    if info.get("type") == "dataframe" and isinstance(data, dict) and data:
        values = list(data.values())
        if all(isinstance(v, list) for v in values) and len({len(v) for v in values}) == 1:
            rows = [list(r) for r in zip(*values, strict=True)]
            columns, cells = _table(data.keys(), rows)
            return columns, cells, len(rows)
        if not any(isinstance(v, (dict, list)) for v in values):
            columns, cells = _table(data.keys(), [values])
            return columns, cells, 1
    return None


def _input_example(read: FileReader, model: Model, notes: list[Note]) -> InputExample | None:
    """The example file named by ``saved_input_example_info``, as a table for dataframes and JSON otherwise."""
    info = model.saved_input_example_info
    if not info:
        return None
    if not isinstance(info, dict) or not isinstance(info.get("artifact_path"), str):
        notes.append(Note("saved_input_example_info does not name the example's file."))
        return None
    path = posixpath.normpath(info["artifact_path"])
    text, problem = _read_text(read, path, EXAMPLE_MAX_BYTES)
    if text is None:
        notes.append(Note(f"The input example cannot be shown: {problem}"))
        return None
    try:
        data = json.loads(text)
    except ValueError as exc:
        notes.append(Note(f"The input example {path} is not valid JSON ({exc})."))
        return None
    params: list[tuple[str, str]] = []
    if info.get(EXAMPLE_PARAMS_KEY) and isinstance(data, dict) and EXAMPLE_DATA_KEY in data:
        raw = data.get(EXAMPLE_PARAMS_KEY)
        params = [(str(k), _cell(v)) for k, v in raw.items()] if isinstance(raw, dict) else []
        data = data[EXAMPLE_DATA_KEY]
    table = _example_table(data, info) if info.get("type") in ("dataframe", "json_object", None) else None
    if table is not None:
        columns, rows, total = table
        return InputExample(path, "table", columns, rows, total, params=params)
    dumped = json.dumps(data, indent=2, ensure_ascii=False)
    if len(dumped) > EXAMPLE_JSON_CHARS:
        dumped = dumped[:EXAMPLE_JSON_CHARS] + "\n…"
    return InputExample(path, "json", json=dumped, params=params)


def _env_files(model: Model) -> list[str]:
    """The environment files the pyfunc flavor names, then the usual ones MLflow writes beside the MLmodel."""
    env = (model.flavors.get("python_function") or {}).get("env") if isinstance(model.flavors, dict) else None
    named = [env.get("virtualenv"), "requirements.txt", env.get("conda")] if isinstance(env, dict) else []
    names = [n for n in named if isinstance(n, str)] + ["python_env.yaml", "requirements.txt", "conda.yaml"]
    return list(dict.fromkeys(posixpath.normpath(n) for n in names))


def _environment(read: FileReader, model: Model) -> list[EnvFile]:
    """Each environment file there is, parsed into lists where its format allows."""
    files = []
    for name in _env_files(model):
        text, problem = _read_text(read, name, ENV_MAX_BYTES)
        if text is None:
            if read(name, 1) is not None:
                files.append(EnvFile(name, "", note=problem))
            continue
        if name.endswith((".yaml", ".yml")):
            files.append(_yaml_env(name, text))
        else:
            files.append(EnvFile(name, text, requirements=parse_requirements(text)))
    return files


def parse_requirements(text: str) -> list[PackageRequirement]:
    """A requirements.txt's lines: packages with their specifiers; options (``-r``, ``--index-url``) as they are."""
    result = []
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        try:
            parsed = Requirement(line)
        except InvalidRequirement:
            result.append(PackageRequirement(line))
            continue
        extras = f"[{','.join(sorted(parsed.extras))}]" if parsed.extras else ""
        marker = f"; {parsed.marker}" if parsed.marker else ""
        spec = str(parsed.specifier) or (f"@ {parsed.url}" if parsed.url else "")
        result.append(PackageRequirement(line, parsed.name + extras, spec + marker))
    return result


def _strings(value: Any) -> list[str]:
    return [str(v) for v in value if not isinstance(v, dict)] if isinstance(value, list) else []


def _yaml_env(name: str, text: str) -> EnvFile:
    """python_env.yaml (python, build_dependencies, dependencies) or conda.yaml (channels, dependencies, pip)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        return EnvFile(name, text, note=f"Not valid YAML: {str(exc).splitlines()[0]}.")
    if not isinstance(data, dict):
        return EnvFile(name, text, note="Not a mapping of fields.")
    deps = data.get("dependencies")
    if "channels" in data or ("name" in data and "python" not in data):  # conda
        pip = [d.get("pip") for d in deps if isinstance(d, dict) and "pip" in d] if isinstance(deps, list) else []
        pip_lines = [str(p) for group in pip if isinstance(group, list) for p in group]
        conda = _strings(deps)
        python = next((d.split("=", 1)[1].lstrip("=") for d in conda if d.startswith("python=")), "")
        return EnvFile(
            name,
            text,
            python=python,
            requirements=parse_requirements("\n".join(pip_lines)),
            channels=_strings(data.get("channels")),
            conda=conda,
        )
    return EnvFile(
        name,
        text,
        python=str(data.get("python") or ""),
        requirements=parse_requirements("\n".join(_strings(deps))),
        build=_strings(data.get("build_dependencies")),
    )
