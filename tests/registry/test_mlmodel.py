"""The MLmodel viewer's reading of MLmodel files: models saved by mlflow itself (sklearn, pyfunc, tensors, params)
and hand-broken files, which must all give a result with notes rather than an exception."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.models import infer_signature
from sklearn.linear_model import LogisticRegression

from registry.mlmodel import MLmodelView, directory_reader, loader_module, parse_requirements, read_mlmodel

# Requirements given, not inferred: inferring them starts a subprocess and takes seconds per model.
EXAMPLE_INFO = "flavors: {{}}\nsaved_input_example_info: {{artifact_path: {}, type: dataframe}}\n"
PIP = ["scikit-learn==1.9.1", "pandas>=2", "numpy"]


def features() -> tuple[pd.DataFrame, np.ndarray]:
    X = pd.DataFrame({"sepal_length": [5.1, 4.9, 6.2, 5.9], "petal_width": [0.2, 0.2, 1.8, 2.1], "code": [1, 2, 3, 4]})
    return X, np.array([0, 0, 1, 1])


class Echo(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return model_input


def read(folder: Path) -> MLmodelView:
    return read_mlmodel(directory_reader(folder))


def write_mlmodel(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "MLmodel").write_text(text)
    return folder


def test_sklearn_model_shows_flavors_signature_example_and_environment(tmp_path: Path) -> None:
    X, y = features()
    model = LogisticRegression().fit(X, y)
    mlflow.sklearn.save_model(model, tmp_path / "m", input_example=X[:3], pip_requirements=PIP)
    view = read(tmp_path / "m")

    assert view.found
    assert [n.text for n in view.notes] == []
    assert [f.name for f in view.flavors] == ["python_function", "sklearn"]
    sklearn = view.flavors[1]
    assert sklearn.label == "scikit-learn"
    assert sklearn.framework_version == "1.9.1"
    settings = dict(sklearn.settings)
    assert settings["Serialization format"] in ("skops", "cloudpickle", "pickle")
    assert settings["Model file"].startswith("model.")
    assert "Code" not in settings  # code: null is left out
    pyfunc = dict(view.flavors[0].settings)
    assert pyfunc["Loader module"] == "mlflow.sklearn"
    assert pyfunc["Python version"].count(".") == 2

    assert view.signature is not None
    assert [(c.name, c.type, c.required) for c in view.signature.inputs] == [
        ("sepal_length", "double", True),
        ("petal_width", "double", True),
        ("code", "long", True),
    ]
    assert view.signature.outputs[0].type == "long"  # inferred from predict() on the example
    assert view.signature.params == []

    example = view.input_example
    assert example is not None and example.kind == "table"
    assert example.columns == ["sepal_length", "petal_width", "code"]
    assert example.rows[0] == ["5.1", "0.2", "1"] and example.total_rows == 3

    files = {f.path: f for f in view.environment}
    assert list(files) == ["python_env.yaml", "requirements.txt", "conda.yaml"]
    requirements = {r.name: r.specifier for r in files["requirements.txt"].requirements}
    assert requirements["scikit-learn"] == "==1.9.1" and requirements["pandas"] == ">=2"
    assert files["python_env.yaml"].python == pyfunc["Python version"]
    assert "pip" in files["python_env.yaml"].build
    assert files["conda.yaml"].channels == ["conda-forge"]
    assert "scikit-learn" in [r.name for r in files["conda.yaml"].requirements]

    assert view.model_size_bytes and view.model_size_bytes > 0
    assert len(view.model_uuid) == 32
    assert view.mlflow_version == mlflow.__version__
    assert view.utc_time_created.startswith("20")
    assert view.loads_with_pyfunc


def test_pyfunc_without_signature_says_so(tmp_path: Path) -> None:
    mlflow.pyfunc.save_model(tmp_path / "m", python_model=Echo(), pip_requirements=["mlflow"])
    view = read(tmp_path / "m")
    assert view.found and view.signature is None and view.input_example is None
    assert [f.name for f in view.flavors] == ["python_function"]
    pyfunc = dict(view.flavors[0].settings)
    assert pyfunc["Loader module"] == "mlflow.pyfunc.model"
    assert pyfunc["Environment files"] == "conda: conda.yaml, virtualenv: python_env.yaml"
    assert view.flavors[0].framework_version == ""  # cloudpickle_version is not a framework's
    assert any("no signature" in n.text for n in view.notes)
    assert all(n.level == "info" for n in view.notes)


def test_tensor_signature_and_example_as_json(tmp_path: Path) -> None:
    array = np.arange(24, dtype="float32").reshape(3, 4, 2)
    signature = infer_signature(array, array[:, 0])
    mlflow.pyfunc.save_model(
        tmp_path / "m", python_model=Echo(), signature=signature, input_example=array[:1], pip_requirements=["numpy"]
    )
    view = read(tmp_path / "m")
    assert view.signature is not None and view.signature.inputs_are_tensors
    (tensor,) = view.signature.inputs
    assert (tensor.type, tensor.shape) == ("float32", "(-1, 4, 2)")
    assert view.signature.outputs[0].shape == "(-1, 2)"
    assert view.input_example is not None and view.input_example.kind == "json"
    assert "[\n" in view.input_example.json and "7.0" in view.input_example.json


def test_signature_with_params_and_example_params(tmp_path: Path) -> None:
    X, y = features()
    model = LogisticRegression().fit(X, y)
    signature = infer_signature(X, y, params={"alpha": 0.5, "labels": ["a", "b"]})
    mlflow.sklearn.save_model(
        model, tmp_path / "m", signature=signature, input_example=(X[:2], {"alpha": 0.5}), pip_requirements=PIP
    )
    view = read(tmp_path / "m")
    assert view.signature is not None
    params = {p.name: p for p in view.signature.params}
    assert (params["alpha"].type, params["alpha"].default, params["alpha"].shape) == ("double", "0.5", "")
    assert (params["labels"].type, params["labels"].shape) == ("string", "(-1,)")
    assert params["labels"].default == '["a", "b"]'
    assert view.input_example is not None and view.input_example.kind == "table"
    assert view.input_example.total_rows == 2
    assert view.input_example.params == [("alpha", "0.5")]


def test_records_example_and_optional_columns(tmp_path: Path) -> None:
    folder = write_mlmodel(
        tmp_path,
        "flavors:\n  python_function: {loader_module: mlflow.pyfunc.model}\n"
        "saved_input_example_info: {artifact_path: ex.json, type: dataframe, pandas_orient: records}\n"
        "signature:\n"
        '  inputs: \'[{"type": "string", "name": "text", "required": false},'
        ' {"type": "array", "items": {"type": "long"}, "name": "ids", "required": true}]\'\n',
    )
    (folder / "ex.json").write_text('[{"text": "hi", "ids": [1, 2]}, {"text": "yo"}]')
    view = read(folder)
    assert [(c.name, c.type, c.required) for c in view.signature.inputs] == [
        ("text", "string", False),
        ("ids", "Array(long)", True),
    ]
    assert view.input_example.columns == ["text", "ids"]
    assert view.input_example.rows == [["hi", "[1, 2]"], ["yo", ""]]


def test_many_example_rows_are_capped(tmp_path: Path) -> None:
    folder = write_mlmodel(
        tmp_path, "flavors: {}\nsaved_input_example_info: {artifact_path: ex.json, type: dataframe}\n"
    )
    rows = ",".join(f"[{i}]" for i in range(500))
    (folder / "ex.json").write_text(f'{{"columns": ["i"], "data": [{rows}]}}')
    example = read(folder).input_example
    assert len(example.rows) == 50 and example.total_rows == 500 and example.more_rows == 450


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("flavors: [unclosed\n", "not valid YAML"),
        ("- just\n- a list\n", "holds a list"),
        ("42\n", "holds a int"),
        ("mlflow_version: 3.0\n", "lists no flavors"),
        ("flavors:\n  sklearn: not-a-mapping\n", "not a mapping"),
        ("flavors: {}\nsignature: {inputs: '[{bad json'}\n", "signature cannot be read"),
        ("flavors: {}\nsignature: nonsense\n", "signature cannot be read"),
        (
            "flavors: {}\nsaved_input_example_info: {artifact_path: gone.json, type: dataframe}\n",
            "gone.json is missing",
        ),
        ("flavors: {}\nsaved_input_example_info: {type: dataframe}\n", "does not name the example"),
    ],
)
def test_broken_files_give_notes_not_exceptions(tmp_path: Path, text: str, expected: str) -> None:
    view = read(write_mlmodel(tmp_path, text))
    assert view.found
    assert any(expected in n.text for n in view.notes), view.notes


def test_unknown_flavor_is_shown_with_a_note(tmp_path: Path) -> None:
    view = read(
        write_mlmodel(tmp_path, "flavors:\n  my_framework:\n    my_framework_version: 0.3\n    weights: w.bin\n")
    )
    (flavor,) = view.flavors
    assert not flavor.known and flavor.framework_version == "0.3"
    assert ("Weights", "w.bin") in flavor.settings
    assert any("my_framework" in n.text for n in view.notes)
    assert any("python_function" in n.text for n in view.notes)  # not loadable with pyfunc


def test_missing_mlmodel_and_bad_example_json(tmp_path: Path) -> None:
    view = read(tmp_path)
    assert not view.found and "no MLmodel" in view.notes[0].text
    folder = write_mlmodel(tmp_path / "m", "flavors: {}\nsaved_input_example_info: {artifact_path: ex.json}\n")
    (folder / "ex.json").write_text("{not json")
    assert any("not valid JSON" in n.text for n in read(folder).notes)
    (folder / "MLmodel").write_bytes(b"\xff\xfe\x00binary")
    assert "not UTF-8" in read(folder).notes[0].text


def test_reader_stays_inside_its_folder(tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text("s")
    folder = write_mlmodel(tmp_path / "m", "flavors: {}\nsaved_input_example_info: {artifact_path: ../secret.txt}\n")
    assert any("missing" in n.text for n in read(folder).notes)


def test_requirements_lines_are_parsed() -> None:
    parsed = parse_requirements(
        "# comment\nmlflow==3.1\nscikit-learn>=1.4,<2 # pinned\n-r other.txt\nrequests[socks]\n"
    )
    assert [(r.name, r.specifier) for r in parsed] == [
        ("mlflow", "==3.1"),
        ("scikit-learn", "<2,>=1.4"),
        ("", ""),
        ("requests[socks]", ""),
    ]
    assert parsed[2].line == "-r other.txt"


@pytest.mark.parametrize(
    ("text", "loader"),
    [
        ("flavors:\n  python_function: {}\n  sklearn: {}\n", "mlflow.pyfunc"),
        ("flavors:\n  sklearn: {}\n", "mlflow.sklearn"),
        ("flavors:\n  nobody_knows: {}\n", "mlflow.pyfunc"),
        ("flavors: [broken\n", "mlflow.pyfunc"),
    ],
)
def test_loader_module_follows_the_flavors(tmp_path: Path, text: str, loader: str) -> None:
    assert loader_module(directory_reader(write_mlmodel(tmp_path, text))) == loader
    assert loader_module(directory_reader(tmp_path / "nothing")) == "mlflow.pyfunc"
