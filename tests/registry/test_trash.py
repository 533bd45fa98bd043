"""The registry's trash: deleted models and versions stay restorable until purged, MLflow's client sees them gone,
and nothing a deployment serves can be purged."""

from __future__ import annotations

import base64
from pathlib import Path

import mlflow
import pytest
from django.test import Client
from mlflow.exceptions import MlflowException

from registry import trash
from registry.models import (
    ModelVersion,
    ModelVersionTag,
    RegisteredModel,
    RegisteredModelAlias,
    RegisteredModelTag,
    RegistryEvent,
    Stage,
)
from registry.store.versions import resolve_model_uri, versions_for_run
from studio.cleanup.kinds import Filter, SkipItem, get_kind
from studio.errors import StudioError
from tests.conftest import ApiClient
from tests.registry.conftest import MODEL_FILES, download
from tracking import artifacts

MODELS = trash.RegisteredModelKind()
VERSIONS = trash.ModelVersionKind()
MODEL_BYTES = sum(map(len, MODEL_FILES.values()))


@pytest.fixture
def alice(api: ApiClient) -> ApiClient:
    """The API client, sending the user name ``alice`` the way MLFLOW_TRACKING_USERNAME does."""
    api.client.defaults["HTTP_AUTHORIZATION"] = "Basic " + base64.b64encode(b"alice:secret").decode()
    return api


@pytest.fixture
def in_use(monkeypatch: pytest.MonkeyPatch) -> dict[int, str]:
    """Version pks a test says are still needed (as the deployments' check says of served versions), with reasons;
    only this check is registered while the test runs."""
    served: dict[int, str] = {}
    monkeypatch.setattr(trash, "_IN_USE_CHECKS", [])
    trash.register_in_use_check(lambda pks: {pk: served[pk] for pk in pks if pk in served})
    return served


def _on_disk(settings, store_path: str) -> Path:
    return Path(settings.STUDIO_ARTIFACT_ROOT) / store_path


def _purge_like_a_job(kind, item) -> bool:
    """What a purge job does with one planned item: the rows in one transaction, then its folders."""
    purged = kind.purge(item.object_id)
    for folder in item.folders:
        artifacts.delete_artifacts(folder)
    return purged


def _version(name: str, number: int) -> ModelVersion:
    """A version of the live model called ``name``, deleted or not."""
    return ModelVersion.objects.get(registered_model=RegisteredModel.objects.get(name=name), version=number)


# --- deleting, as MLflow sees it -------------------------------------------------------------------------------------


def test_both_kinds_are_registered():
    assert isinstance(get_kind("registered_model"), trash.RegisteredModelKind)
    assert isinstance(get_kind("model_version"), trash.ModelVersionKind)
    assert (MODELS.label, VERSIONS.label) == ("Registered models", "Model versions")
    assert not MODELS.in_experiments and not VERSIONS.in_experiments


def test_a_trashed_model_never_shows_beside_a_new_one_of_its_name(alice, register, run_id):
    register("m", tags=[{"key": "k", "value": "old"}])
    register("m")
    alice.post("registered-models/set-tag", {"name": "m", "key": "team", "value": "a"})
    alice.post("registered-models/alias", {"name": "m", "alias": "prod", "version": "2"})
    alice.call("DELETE", "registered-models/delete", {"name": "m"})
    old = RegisteredModel.all_objects.get(name="m")
    assert (old.deleted_by, old.deleted_timestamp is not None) == ("alice", True)
    assert not RegisteredModelAlias.objects.exists()
    # The rows stay for a restore.
    assert ModelVersion.objects.filter(registered_model=old).count() == 2
    assert RegisteredModelTag.objects.filter(registered_model=old).exists()
    assert ModelVersionTag.objects.filter(model_version__registered_model=old).exists()

    new = register("m")
    assert new["version"] == "1"
    found = alice.get("model-versions/search", {"filter": "name = 'm'"})["model_versions"]
    assert [(v["name"], v["version"]) for v in found] == [("m", "1")]
    assert "model_versions" not in alice.get("model-versions/search", {"filter": "tags.k = 'old'"})
    assert resolve_model_uri("models:/m/1").registered_model.deleted_timestamp is None
    alice.error("GET", "model-versions/get", {"name": "m", "version": "2"}, 404, "RESOURCE_DOES_NOT_EXIST")
    alice.error("GET", "registered-models/alias", {"name": "m", "alias": "prod"}, 400, "INVALID_PARAMETER_VALUE")
    model = alice.get("registered-models/get", {"name": "m"})["registered_model"]
    assert [v["version"] for v in model["latest_versions"]] == ["1"]
    assert "tags" not in model
    assert [m["name"] for m in alice.get("registered-models/search")["registered_models"]] == ["m"]
    assert [v.registered_model.deleted_timestamp for v in versions_for_run(run_id=run_id)] == [None]


def test_the_pages_show_only_the_live_model(api, register, client: Client):
    register("m")
    register("m")
    api.call("DELETE", "registered-models/delete", {"name": "m"})
    assert client.get("/models/m/").status_code == 404
    assert client.get("/models/m/versions/2/").status_code == 404
    register("m")
    html = client.get("/models/m/").content.decode()
    assert "/models/m/versions/1/" in html
    assert "/models/m/versions/2/" not in html
    assert client.get("/models/m/versions/2/").status_code == 404
    listing = client.get("/models/").content.decode()
    assert "m version 1 (newest)" in listing
    assert listing.count("(newest)") == 1


def test_deleting_a_version_keeps_its_files_until_it_is_purged(alice, register, settings):
    register("m")
    register("m")
    alice.post("registered-models/alias", {"name": "m", "alias": "a", "version": "2"})
    alice.call("DELETE", "model-versions/delete", {"name": "m", "version": "2"})
    row = ModelVersion.objects.get(version=2)
    assert (row.current_stage, row.deleted_by) == (Stage.DELETED, "alice")
    assert (_on_disk(settings, row.storage_path) / "model.pkl").is_file()
    [item] = VERSIONS.list(Filter())
    assert (item.kind, item.object_id, item.name, item.parent) == ("model_version", str(row.pk), "m v2", "m")
    assert (item.bytes, item.files, item.folders, item.url, item.blocked) == (
        MODEL_BYTES,
        3,
        [row.storage_path],
        "",
        "",
    )
    assert (item.deleted_at, item.deleted_by) == (row.deleted_timestamp, "alice")


# --- restoring ---------------------------------------------------------------------------------------------------


@pytest.mark.live
def test_client_sees_a_deleted_model_gone_until_it_is_restored(tracking_uri, mlflow_client, settings):
    mlflow.set_experiment("trash")
    runs = {}
    for label in ("first", "second"):
        with mlflow.start_run() as run:
            mlflow.pyfunc.log_model(name="model", python_model=_Constant(label), registered_model_name="iris")
        runs[label] = run.info.run_id
    mlflow_client.set_registered_model_alias("iris", "champion", "1")
    old_paths = [v.storage_path for v in ModelVersion.objects.order_by("version")]
    mlflow_client.delete_registered_model("iris")

    with pytest.raises(MlflowException) as gone:
        mlflow_client.get_registered_model("iris")
    assert gone.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert mlflow_client.search_registered_models() == []
    assert mlflow_client.search_model_versions("name = 'iris'") == []
    with pytest.raises(MlflowException):
        mlflow.pyfunc.load_model("models:/iris/1")
    with pytest.raises(MlflowException):
        mlflow_client.get_model_version_by_alias("iris", "champion")
    for path in old_paths:
        assert (_on_disk(settings, path) / "MLmodel").is_file()

    # The name can be taken again at once; the old model cannot come back while it is.
    with mlflow.start_run() as run:
        mlflow.pyfunc.log_model(name="model", python_model=_Constant("new"), registered_model_name="iris")
    assert mlflow.pyfunc.load_model("models:/iris/1").metadata.run_id == run.info.run_id
    [item] = MODELS.list(Filter())
    with pytest.raises(StudioError) as taken:
        MODELS.restore(item.object_id, user="admin")
    assert taken.value.error_code == "RESOURCE_ALREADY_EXISTS"
    assert "Rename the new one" in taken.value.message

    mlflow_client.delete_registered_model("iris")
    MODELS.restore(item.object_id, user="admin")
    loaded = [mlflow.pyfunc.load_model(f"models:/iris/{n}").metadata.run_id for n in (1, 2)]
    assert loaded == [runs["first"], runs["second"]]
    assert mlflow.pyfunc.load_model("models:/iris@latest").metadata.run_id == runs["second"]
    assert mlflow_client.get_registered_model("iris").aliases == {}  # aliases are gone for good, as in MLflow
    assert {v.run_id for v in mlflow_client.search_model_versions("name = 'iris'")} == set(runs.values())
    # The trash now holds the other "iris", the one deleted to make room.
    assert [(m.name, m.object_id != item.object_id) for m in MODELS.list(Filter())] == [("iris", True)]


class _Constant(mlflow.pyfunc.PythonModel):
    """The smallest pyfunc model to register."""

    def __init__(self, word: str) -> None:
        self.word = word

    def predict(self, context, model_input, params=None):
        return self.word


def test_restore_a_model_records_it_and_brings_back_its_deleted_versions_as_they_were(api, register):
    for _ in range(3):
        register("m")
    api.call("DELETE", "model-versions/delete", {"name": "m", "version": "1"})
    api.post("model-versions/transition-stage", {"name": "m", "version": "3", "stage": "Production"})
    api.call("DELETE", "registered-models/delete", {"name": "m"})
    assert VERSIONS.list(Filter()) == []  # they go with their model
    [item] = MODELS.list(Filter())
    MODELS.restore(item.object_id, user="admin")
    versions = api.get("model-versions/search", {"filter": "name = 'm'"})["model_versions"]
    assert sorted((v["version"], v["current_stage"]) for v in versions) == [("2", "None"), ("3", "Production")]
    # The version deleted before the model is back in the trash on its own.
    assert [v.name for v in VERSIONS.list(Filter())] == ["m v1"]
    event = RegistryEvent.objects.latest("id")
    assert (event.action, event.key, event.user_id, event.registered_model_id) == (
        RegistryEvent.Action.MODEL_CREATED,
        "restored",
        "admin",
        int(item.object_id),
    )
    with pytest.raises(StudioError) as again:
        MODELS.restore(item.object_id, user="admin")
    assert again.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_restore_a_version_only_while_its_model_is_live(api, register):
    register("m")
    register("m")
    api.post("model-versions/transition-stage", {"name": "m", "version": "2", "stage": "Production"})
    api.post("registered-models/alias", {"name": "m", "alias": "a", "version": "2"})
    api.call("DELETE", "model-versions/delete", {"name": "m", "version": "2"})
    [item] = VERSIONS.list(Filter())
    api.call("DELETE", "registered-models/delete", {"name": "m"})
    with pytest.raises(StudioError) as refused:
        VERSIONS.restore(item.object_id, user="admin")
    assert "restore the model" in refused.value.message
    MODELS.restore(MODELS.list(Filter())[0].object_id, user="admin")

    VERSIONS.restore(item.object_id, user="admin")
    back = api.get("model-versions/get", {"name": "m", "version": "2"})["model_version"]
    assert back["current_stage"] == "None"  # its old stage is not kept
    assert "aliases" not in back  # nor its aliases
    assert download(api.get("model-versions/get-download-uri", {"name": "m", "version": "2"})["artifact_uri"],
                    "model.pkl") == MODEL_FILES["model.pkl"]  # fmt: skip
    event = RegistryEvent.objects.latest("id")
    assert (event.action, event.version, event.key) == (RegistryEvent.Action.VERSION_CREATED, 2, "restored")
    for missing in (item.object_id, "999999", "nope"):
        with pytest.raises(StudioError) as not_there:
            VERSIONS.restore(missing, user="admin")
        assert not_there.value.error_code == "RESOURCE_DOES_NOT_EXIST"


# --- purging -----------------------------------------------------------------------------------------------------


def test_purge_a_model_removes_its_rows_and_only_its_folder(api, register, settings):
    register("m", tags=[{"key": "k", "value": "v"}])
    register("m")
    register("other")
    api.call("DELETE", "model-versions/delete", {"name": "m", "version": "1"})
    api.call("DELETE", "registered-models/delete", {"name": "m"})
    register("m")  # a new model of the same name is not touched
    other = _on_disk(settings, _version("other", 1).storage_path)
    [item] = MODELS.list(Filter())
    pk = int(item.object_id)
    assert item.folders == [f"registry/{pk}"]
    assert (item.name, item.bytes, item.files) == ("m", 2 * MODEL_BYTES, 6)
    assert _on_disk(settings, item.folders[0]).is_dir()

    assert _purge_like_a_job(MODELS, item) is True
    assert not RegisteredModel.all_objects.filter(pk=pk).exists()
    assert not ModelVersion.objects.filter(registered_model_id=pk).exists()
    assert not ModelVersionTag.objects.filter(model_version__registered_model_id=pk).exists()
    assert not _on_disk(settings, item.folders[0]).exists()
    assert (other / "model.pkl").is_file()
    assert download(api.get("model-versions/get-download-uri", {"name": "m", "version": "1"})["artifact_uri"],
                    "model.pkl") == MODEL_FILES["model.pkl"]  # fmt: skip
    assert MODELS.list(Filter()) == []
    # Run again (a job that was killed after the rows went): nothing more to do.
    assert _purge_like_a_job(MODELS, item) is False
    assert MODELS.purge("nope") is False


def test_purge_a_restored_model_or_version_is_skipped(api, register):
    register("m")
    register("m")
    api.call("DELETE", "model-versions/delete", {"name": "m", "version": "2"})
    [version] = VERSIONS.list(Filter())
    VERSIONS.restore(version.object_id, user="")
    with pytest.raises(SkipItem):
        VERSIONS.purge(version.object_id)
    api.call("DELETE", "registered-models/delete", {"name": "m"})
    [model] = MODELS.list(Filter())
    MODELS.restore(model.object_id, user="")
    with pytest.raises(SkipItem):
        MODELS.purge(model.object_id)
    assert ModelVersion.objects.filter(purged_timestamp__isnull=False).count() == 0
    assert RegisteredModel.objects.get().pk == int(model.object_id)


def test_purge_a_version_keeps_its_row_and_number_and_removes_only_its_folder(api, register, settings):
    register("m")
    register("m")
    api.call("DELETE", "model-versions/delete", {"name": "m", "version": "2"})
    kept, gone = _version("m", 1), _version("m", 2)
    [item] = VERSIONS.list(Filter())
    assert _purge_like_a_job(VERSIONS, item) is True
    row = ModelVersion.objects.get(pk=gone.pk)
    assert (row.purged_timestamp is not None, row.current_stage) == (True, Stage.DELETED)
    assert not _on_disk(settings, gone.storage_path).exists()
    assert (_on_disk(settings, kept.storage_path) / "model.pkl").is_file()
    assert VERSIONS.list(Filter()) == [] and VERSIONS.count(Filter()) == 0
    assert _purge_like_a_job(VERSIONS, item) is False
    with pytest.raises(StudioError):
        VERSIONS.restore(item.object_id, user="")
    assert register("m")["version"] == "3"
    # The model's bytes count only what it still has on disk once it is trashed.
    api.call("DELETE", "registered-models/delete", {"name": "m"})
    assert (MODELS.list(Filter())[0].bytes, MODELS.list(Filter())[0].files) == (2 * MODEL_BYTES, 6)


def test_a_version_in_use_blocks_its_purge_and_its_models(api, register, settings, in_use):
    register("m")
    register("m")
    api.call("DELETE", "model-versions/delete", {"name": "m", "version": "2"})
    served = _version("m", 2)
    in_use[served.pk] = "served by endpoint 'prod'"
    [item] = VERSIONS.list(Filter())
    assert item.blocked == "served by endpoint 'prod'"
    with pytest.raises(StudioError) as refused:
        VERSIONS.purge(item.object_id)
    assert refused.value.error_code == "RESOURCE_CONFLICT"
    assert "served by endpoint 'prod'" in refused.value.message
    assert ModelVersion.objects.get(pk=served.pk).purged_timestamp is None

    api.call("DELETE", "registered-models/delete", {"name": "m"})
    [model] = MODELS.list(Filter())
    assert model.blocked == "version 2: served by endpoint 'prod'"
    with pytest.raises(StudioError) as refused:
        MODELS.purge(model.object_id)
    assert refused.value.error_code == "RESOURCE_CONFLICT"
    assert RegisteredModel.all_objects.filter(pk=model.object_id).exists()
    assert (_on_disk(settings, served.storage_path) / "model.pkl").is_file()

    del in_use[served.pk]  # the endpoint moved on
    assert MODELS.list(Filter())[0].blocked == ""
    assert MODELS.purge(model.object_id) is True


# --- listing -----------------------------------------------------------------------------------------------------


def test_list_and_count_filter_by_age_and_ids_newest_first(api, register):
    for name in ("a", "b", "c"):
        register(name)
        register(name)
        api.call("DELETE", "model-versions/delete", {"name": name, "version": "2"})
    for name in ("a", "b"):
        api.call("DELETE", "registered-models/delete", {"name": name})
    RegisteredModel.all_objects.filter(name="a").update(deleted_timestamp=1_000)
    RegisteredModel.all_objects.filter(name="b").update(deleted_timestamp=3_000)
    a, b = (RegisteredModel.all_objects.get(name=n).pk for n in "ab")
    assert [i.name for i in MODELS.list(Filter())] == ["b", "a"]
    assert [i.name for i in MODELS.list(Filter(), limit=1)] == ["b"]
    assert [i.name for i in MODELS.list(Filter(older_than_ms=2_000))] == ["a"]
    assert MODELS.count(Filter(older_than_ms=2_000)) == 1
    assert MODELS.count(Filter(older_than_ms=1_000)) == 0
    assert [i.name for i in MODELS.list(Filter(ids=[str(a), "junk", "99999"]))] == ["a"]
    assert MODELS.count(Filter(ids=[str(a), str(b)])) == 2
    assert MODELS.count(Filter(ids=[])) == 0
    # A selection by experiment never reaches the registry.
    assert MODELS.count(Filter(experiment_ids=["0"])) == 0

    # Only "c" is live: its deleted version is the only one listed (those of a and b go with their models).
    assert [i.name for i in VERSIONS.list(Filter())] == ["c v2"]
    c2 = _version("c", 2)
    ModelVersion.objects.filter(pk=c2.pk).update(deleted_timestamp=5_000)
    assert VERSIONS.count(Filter(older_than_ms=5_000)) == 0
    assert VERSIONS.count(Filter(older_than_ms=5_001)) == 1
    assert VERSIONS.count(Filter(ids=[str(c2.pk)])) == 1
    assert VERSIONS.count(Filter(ids=[str(_version("c", 1).pk)])) == 0  # live
    assert VERSIONS.list(Filter(experiment_ids=["0"])) == []


def test_list_answers_in_a_fixed_number_of_queries(api, register, django_assert_max_num_queries, in_use):
    for i in range(5):
        register(f"m{i}")
        register(f"m{i}")
        api.call("DELETE", "model-versions/delete", {"name": f"m{i}", "version": "2"})
        register(f"x{i}")
        api.call("DELETE", "registered-models/delete", {"name": f"x{i}"})
    with django_assert_max_num_queries(2):
        assert len(MODELS.list(Filter())) == 5
    with django_assert_max_num_queries(1):
        assert len(VERSIONS.list(Filter())) == 5


# --- storage usage -----------------------------------------------------------------------------------------------


def test_a_registered_copy_is_tracked_for_storage_usage(register, django_capture_on_commit_callbacks):
    from tracking.models import StorageUsage

    with django_capture_on_commit_callbacks(execute=True):
        register("m")
    version = ModelVersion.objects.get()
    usage = StorageUsage.objects.get(path=version.storage_path)
    assert (usage.kind, usage.owner_id, usage.label) == ("model_version", str(version.pk), "m v1")


def test_an_external_version_has_nothing_to_track_or_delete(api, django_capture_on_commit_callbacks):
    from tracking.models import StorageUsage

    api.post("registered-models/create", {"name": "m"})
    with django_capture_on_commit_callbacks(execute=True):
        api.post("model-versions/create", {"name": "m", "source": "s3://bucket/m"})
    assert not StorageUsage.objects.exists()
    api.call("DELETE", "model-versions/delete", {"name": "m", "version": "1"})
    [item] = VERSIONS.list(Filter())
    assert (item.folders, item.bytes) == ([], 0)
