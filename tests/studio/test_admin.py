"""The Django admin: every model of the four apps shown, read-only, without deletes; the trash, purge jobs and
deployment lifecycle as bulk actions through the services; lists that stay cheap on huge tables."""

from __future__ import annotations

from typing import Any

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Permission, User
from django.db import models
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from deployments.models import Deployment, DeploymentEvent, Endpoint, RequestLog
from registry.models import (
    ModelVersion,
    ModelVersionTag,
    RegisteredModel,
    RegisteredModelAlias,
    RegisteredModelTag,
    RegistryEvent,
)
from studio import admin as studio_admin
from studio import audit
from studio.auth import permissions, tokens
from studio.models import AuditEntry, PurgeItem, PurgeJob
from tests.conftest import ApiClient
from tracking.models import (
    Experiment,
    LifecycleStage,
    MetricBucket,
    MetricPoint,
    MetricSeries,
    Param,
    Run,
    StorageUsage,
    StoredFile,
)

APPS = ("tracking", "registry", "deployments", "studio")


def _models() -> list[type[models.Model]]:
    return [model for name in APPS for model in apps.get_app_config(name).get_models()]


def _composite(model: type[models.Model]) -> bool:
    return isinstance(model._meta.pk, models.CompositePrimaryKey)


REGISTERED = [model for model in _models() if not _composite(model)]


def changelist(model: type[models.Model]) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")


def post_action(client: Client, model: type[models.Model], action: str, *objects: models.Model) -> list[str]:
    """Run a bulk action on these objects as the admin's form does; the messages it left."""
    payload = {"action": action, ACTION_CHECKBOX_NAME: [str(obj.pk) for obj in objects], "index": 0}
    response = client.post(changelist(model), payload, follow=True)
    assert response.status_code == 200
    return [str(message) for message in response.context["messages"]]


@pytest.fixture
def world(api: ApiClient, experiment_id: str, run_id: str) -> dict[str, Any]:
    """One row of every model: tracking through the REST API, the rest as rows (the admin only reads them)."""
    api.post("experiments/set-experiment-tag", {"experiment_id": experiment_id, "key": "team", "value": "ml"})
    created = api.post(
        "logged-models",
        {"experiment_id": experiment_id, "name": "m", "source_run_id": run_id, "params": [{"key": "a", "value": "1"}]},
    )
    model_id = created["model"]["info"]["model_id"]
    api.call("PATCH", f"logged-models/{model_id}/tags", {"tags": [{"key": "k", "value": "v"}]})
    api.post(
        "runs/log-batch",
        {
            "run_id": run_id,
            "params": [{"key": "lr", "value": "0.1"}],
            "tags": [{"key": "t", "value": "x"}],
            "metrics": [
                {"key": "loss", "value": v, "timestamp": 1, "step": s, "model_id": model_id}
                for s, v in enumerate([3.0, 2.0, 1.0])
            ],
        },
    )
    dataset = {"name": "iris", "digest": "abc", "source_type": "local", "source": "{}"}
    api.post("runs/log-inputs", {"run_id": run_id, "datasets": [{"dataset": dataset}]})
    api.post("runs/outputs", {"run_id": run_id, "models": [{"model_id": model_id, "step": 0}]})
    owner = User.objects.create_user("owner")
    tokens.create_token(user=owner, name="laptop")
    permissions.set_permission(kind="experiment", object_id=int(experiment_id), user=owner, level=permissions.READ)
    usage = StorageUsage.objects.create(
        path=f"{experiment_id}/{run_id}/artifacts", kind="run", owner_id=run_id, experiment_id=int(experiment_id),
        bytes=3 * 1024 * 1024, files=2, stale=False,
    )  # fmt: skip
    StoredFile.objects.create(usage=usage, path="model.pkl", size=3 * 1024 * 1024, experiment_id=int(experiment_id))

    registered = RegisteredModel.all_objects.create(name="m", creation_timestamp=1, last_updated_timestamp=1)
    RegisteredModelTag.objects.create(registered_model=registered, key="k", value="v")
    version = ModelVersion.objects.create(
        registered_model=registered, version=1, creation_timestamp=1, last_updated_timestamp=1, source="models:/x",
        run_id=run_id, model_id=model_id, size_bytes=2048, file_count=3, storage_path=f"registry/{registered.pk}/a",
    )  # fmt: skip
    ModelVersionTag.objects.create(model_version=version, key="k", value="v")
    RegisteredModelAlias.objects.create(registered_model=registered, alias="champion", model_version=version)
    RegistryEvent.objects.create(
        timestamp=1, action=RegistryEvent.Action.MODEL_CREATED, registered_model_id=registered.pk, model_name="m"
    )

    endpoint = Endpoint.objects.create(name="prod", primary_key_hash="a" * 64, secondary_key_hash="b" * 64)
    deployment = Deployment.objects.create(
        endpoint=endpoint, name="blue", model_version=version, model_name="m", model_version_number=1,
        runtime="local", status="healthy", traffic_weight=100, urls=["http://127.0.0.1:1"],
    )  # fmt: skip
    DeploymentEvent.objects.create(deployment=deployment, kind="created", message="Created")
    RequestLog.objects.create(
        endpoint=endpoint, deployment=deployment, deployment_name="blue", time=timezone.now(), status=200, latency_ms=2
    )

    audit.record(action=AuditEntry.Action.DELETE_ARTIFACT, user="admin", kind="artifact", object_id=run_id, name="a")
    job = PurgeJob.objects.create(description="1 selected item(s)", total_items=1, planned_bytes=10)
    PurgeItem.objects.create(job=job, position=0, kind="run", object_id=run_id, name="r")
    return {"experiment_id": experiment_id, "run_id": run_id, "model_id": model_id, "deployment": deployment}


def test_every_model_of_the_four_apps_is_registered():
    unregistered = [model.__name__ for model in REGISTERED if model not in admin.site._registry]
    assert not unregistered
    # The admin cannot show a composite primary key: the buckets are on their series' page instead.
    assert [model for model in _models() if _composite(model)] == [MetricBucket]
    assert "buckets" in admin.site._registry[MetricSeries].readonly_fields


@pytest.mark.parametrize("model", REGISTERED, ids=lambda model: model.__name__)
def test_list_and_page_of_every_model_answer_with_the_row(admin_client: Client, world: dict, model: type) -> None:
    obj = model._default_manager.first()
    assert obj is not None, f"the fixture has no {model.__name__}"
    response = admin_client.get(changelist(model))
    assert response.status_code == 200
    assert obj.pk in [row.pk for row in response.context["cl"].result_list]
    actions = response.context["action_form"]
    assert actions is None or "delete_selected" not in dict(actions.fields["action"].choices)

    page = admin_client.get(studio_admin.admin_url(obj))
    assert page.status_code == 200
    assert page.context["original"] == obj
    delete = admin_client.get(studio_admin.admin_url(obj) + "delete/")
    assert delete.status_code == 403


def test_the_pages_show_sizes_dates_and_links(admin_client: Client, world: dict) -> None:
    runs = admin_client.get(changelist(Run)).content.decode()
    assert "3.0\xa0MB" in runs  # the run's recorded storage usage
    assert studio_admin.admin_url(Experiment, world["experiment_id"]) in runs
    experiment = admin_client.get(studio_admin.admin_url(Experiment, world["experiment_id"])).content.decode()
    assert "team" in experiment and "1 runs" in experiment  # the tags inline, the link to its runs
    run = admin_client.get(studio_admin.admin_url(Run, world["run_id"])).content.decode()
    assert "lr" in run and "loss" in run and "iris" in run  # params, metrics and inputs inline
    series = MetricSeries.objects.get(run_id=world["run_id"], key="loss")
    page = admin_client.get(studio_admin.admin_url(series)).content.decode()
    assert "All 3 points" in page and "<th>Level</th>" in page
    endpoint = admin_client.get(studio_admin.admin_url(world["deployment"].endpoint)).content.decode()
    assert "a" * 64 not in endpoint  # key hashes are never shown


def test_lists_of_runs_and_metrics_take_a_bounded_number_of_queries(
    admin_client: Client, api: ApiClient, django_assert_max_num_queries: Any
) -> None:
    def log_runs(count: int) -> None:
        for n in range(count):
            experiment = api.post("experiments/create", {"name": f"e{count}-{n}"})["experiment_id"]
            run = api.post("runs/create", {"experiment_id": experiment, "run_name": f"r{n}"})["run"]["info"]
            metrics = [{"key": f"m{k}", "value": 1.0, "timestamp": 1, "step": s} for k in range(3) for s in range(5)]
            api.post(
                "runs/log-batch", {"run_id": run["run_id"], "metrics": metrics, "params": [{"key": "p", "value": "1"}]}
            )

    log_runs(3)
    for model in (Run, MetricSeries, MetricPoint, Param, Experiment):
        with django_assert_max_num_queries(6):
            assert admin_client.get(changelist(model)).status_code == 200
    log_runs(30)  # ten times the rows: the same queries
    for model in (Run, MetricSeries, MetricPoint, Param, Experiment):
        with django_assert_max_num_queries(6):
            response = admin_client.get(changelist(model))
        assert len(response.context["cl"].result_list) > 30


def test_a_run_page_shows_the_first_rows_of_its_tables_in_bounded_queries(
    admin_client: Client, api: ApiClient, run_id: str, django_assert_max_num_queries: Any
) -> None:
    params = [{"key": f"p{n:03}", "value": "1"} for n in range(100)]
    api.post("runs/log-batch", {"run_id": run_id, "params": params})
    api.post("runs/log-batch", {"run_id": run_id, "params": [{"key": f"q{n:03}", "value": "1"} for n in range(50)]})
    metrics = [{"key": f"m{n:03}", "value": 1.0, "timestamp": 1, "step": 0} for n in range(150)]
    api.post("runs/log-batch", {"run_id": run_id, "metrics": metrics})
    with django_assert_max_num_queries(12):
        response = admin_client.get(studio_admin.admin_url(Run, run_id))
    inlines = {inline.formset.prefix: len(inline.formset.forms) for inline in response.context["inline_admin_formsets"]}
    assert inlines["params"] == inlines["metric_series"] == 100
    content = response.content.decode()
    assert "p099" in content and "q000" not in content  # the first 100 by key; the rest behind "All params"
    assert f"{changelist(Param)}?run__exact={run_id}" in content


def test_huge_tables_count_at_most_the_paginators_limit(
    admin_client: Client, run_id: str, api: ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    api.post("runs/log-batch", {"run_id": run_id, "params": [{"key": f"p{n}", "value": "1"} for n in range(8)]})
    monkeypatch.setattr(studio_admin.BoundedCountPaginator, "limit", 5)
    response = admin_client.get(changelist(Param))
    assert response.context["cl"].result_count == 5
    assert response.context["cl"].full_result_count is None  # no second COUNT(*) of the whole table


def test_search_and_filters_on_runs_and_experiments(admin_client: Client, api: ApiClient, experiment_id: str) -> None:
    other = api.post("experiments/create", {"name": "other-exp"})["experiment_id"]
    keep = api.post("runs/create", {"experiment_id": experiment_id, "run_name": "keeper"})["run"]["info"]["run_id"]
    gone = api.post("runs/create", {"experiment_id": other, "run_name": "goner"})["run"]["info"]["run_id"]
    api.post("runs/delete", {"run_id": gone})

    def listed(model: type, **query: str) -> set:
        return {row.pk for row in admin_client.get(changelist(model), query).context["cl"].result_list}

    assert listed(Run, q="keeper") == {keep}
    assert listed(Run, q=gone[:8]) == {gone}  # an id's first characters
    assert listed(Run, q="other-exp") == {gone}  # the experiment's name
    assert listed(Run, lifecycle_stage__exact="deleted") == {gone}
    assert listed(Run, experiment__exact=experiment_id) == {keep}
    assert listed(Experiment, q="other") == {int(other)}
    assert listed(Experiment, q=experiment_id) == {int(experiment_id)}
    api.post("experiments/delete", {"experiment_id": other})
    assert listed(Experiment, lifecycle_stage__exact="deleted") == {int(other)}


def test_move_an_experiment_to_the_trash_and_restore_it_with_its_runs(
    admin_client: Client, experiment_id: str, run_id: str
) -> None:
    experiment = Experiment.objects.get(pk=experiment_id)
    messages = post_action(admin_client, Experiment, "move_to_trash", experiment)
    assert messages == ["1 experiment(s) moved to the trash."]
    run = Run.objects.get(pk=run_id)
    assert (run.lifecycle_stage, run.deleted_by) == (LifecycleStage.DELETED, "admin")
    assert Experiment.objects.get(pk=experiment_id).deleted_by == "admin"

    assert post_action(admin_client, Experiment, "restore", experiment) == ["1 experiment(s) restored."]
    assert Run.objects.get(pk=run_id).lifecycle_stage == LifecycleStage.ACTIVE
    assert Experiment.objects.get(pk=experiment_id).lifecycle_stage == LifecycleStage.ACTIVE
    entry = AuditEntry.objects.get(action=AuditEntry.Action.RESTORE)
    assert (entry.user, entry.kind, entry.object_id) == ("admin", "experiment", experiment_id)


def test_refusals_of_the_service_are_shown_and_the_rest_is_done(admin_client: Client, experiment_id: str) -> None:
    default = Experiment.objects.get(pk=0)
    mine = Experiment.objects.get(pk=experiment_id)
    messages = post_action(admin_client, Experiment, "move_to_trash", default, mine)
    assert "1 experiment(s) moved to the trash." in messages
    assert any("Cannot delete the default experiment" in message for message in messages)
    assert Experiment.objects.get(pk=0).lifecycle_stage == LifecycleStage.ACTIVE
    [refused] = post_action(admin_client, Experiment, "restore", default)
    assert refused.startswith("Default: Cannot restore an active experiment")


def test_purge_action_queues_a_purge_job_of_what_is_in_the_trash(
    admin_client: Client, experiment_id: str, run_id: str
) -> None:
    run = Run.objects.get(pk=run_id)
    [refused] = post_action(admin_client, Run, "purge", run)  # still active: the service refuses
    assert "Nothing to purge" in refused
    assert not PurgeJob.objects.exists()

    post_action(admin_client, Run, "move_to_trash", run)
    [queued] = post_action(admin_client, Run, "purge", run)
    job = PurgeJob.objects.get()
    assert (job.created_by, job.status, job.total_items) == ("admin", "queued", 1)
    assert list(job.items.values_list("kind", "object_id")) == [("run", run_id)]
    assert f">{job.pk}</a> queued: 1 item(s)" in queued
    assert studio_admin.admin_url(job) in queued and reverse("studio:trash") in queued
    assert Run.objects.filter(pk=run_id).exists()  # the worker purges, not the request


def test_purge_of_an_experiment_plans_its_runs_first(admin_client: Client, experiment_id: str, run_id: str) -> None:
    experiment = Experiment.objects.get(pk=experiment_id)
    post_action(admin_client, Experiment, "move_to_trash", experiment)
    post_action(admin_client, Experiment, "purge", experiment)
    job = PurgeJob.objects.get()
    assert list(job.items.order_by("position").values_list("kind", "object_id")) == [
        ("run", run_id),
        ("experiment", experiment_id),
    ]
    page = admin_client.get(studio_admin.admin_url(job)).content.decode()
    assert "0 of 2 done" in page and run_id in page


def test_registered_models_in_the_trash_are_listed_restored_and_purged(admin_client: Client, db: None) -> None:
    trashed = RegisteredModel.all_objects.create(
        name="old", creation_timestamp=1, last_updated_timestamp=1, deleted_timestamp=2, deleted_by="bob"
    )
    live = RegisteredModel.all_objects.create(name="new", creation_timestamp=1, last_updated_timestamp=1)
    rows = admin_client.get(changelist(RegisteredModel), {"deleted": "yes"}).context["cl"].result_list
    assert [row.pk for row in rows] == [trashed.pk]
    assert admin_client.get(studio_admin.admin_url(trashed)).status_code == 200

    post_action(admin_client, RegisteredModel, "purge", trashed)
    assert list(PurgeJob.objects.get().items.values_list("kind", "object_id")) == [
        ("registered_model", str(trashed.pk))
    ]
    [refused] = post_action(admin_client, RegisteredModel, "restore", live)
    assert "not in the trash" in refused
    assert post_action(admin_client, RegisteredModel, "restore", trashed) == ["1 registered model(s) restored."]
    assert RegisteredModel.objects.filter(pk=trashed.pk).exists()


def test_stop_and_start_deployments(admin_client: Client, world: dict) -> None:
    deployment = world["deployment"]
    assert post_action(admin_client, Deployment, "stop", deployment) == ["1 deployment(s) stopping."]
    deployment.refresh_from_db()
    assert (deployment.status, deployment.traffic_weight) == ("stopping", 0)
    [refused] = post_action(admin_client, Deployment, "start", deployment)
    assert "Cannot start deployment 'blue' while it is stopping" in refused
    Deployment.objects.filter(pk=deployment.pk).update(status="stopped")
    assert post_action(admin_client, Deployment, "start", deployment) == ["1 deployment(s) queued to start."]
    deployment.refresh_from_db()
    assert deployment.status == "queued"
    assert DeploymentEvent.objects.filter(deployment=deployment, message="Start requested").exists()


def management_forms(page: Any) -> dict[str, object]:
    """The hidden fields of the inline tables of an admin page, which the browser posts back with the form."""
    data = {}
    for inline in page.context["inline_admin_formsets"]:
        form = inline.formset.management_form
        data.update({f"{form.prefix}-{name}": form[name].value() for name in form.fields})
    return data


def test_retention_days_are_the_one_editable_field(admin_client: Client, api: ApiClient, experiment_id: str) -> None:
    api.post("experiments/set-experiment-tag", {"experiment_id": experiment_id, "key": "team", "value": "ml"})
    url = studio_admin.admin_url(Experiment, experiment_id)
    hidden = management_forms(admin_client.get(url))
    response = admin_client.post(url, {**hidden, "trash_retention_days": "0"})
    assert response.status_code == 200
    assert "at least 1 day" in response.content.decode()
    changes = {"trash_retention_days": "7", "name": "renamed", "lifecycle_stage": "deleted"}
    response = admin_client.post(url, {**hidden, **changes})
    assert response.status_code == 302
    experiment = Experiment.objects.get(pk=experiment_id)
    assert (experiment.trash_retention_days, experiment.name, experiment.lifecycle_stage) == (7, "exp", "active")
    admin_client.post(url, {**hidden, "trash_retention_days": ""})
    assert Experiment.objects.get(pk=experiment_id).trash_retention_days is None


def test_read_only_staff_see_no_bulk_actions(client: Client, django_user_model: Any, experiment_id: str) -> None:
    staff = django_user_model.objects.create_user("viewer", password="x", is_staff=True)
    staff.user_permissions.add(*Permission.objects.filter(codename__in=["view_experiment", "view_deployment"]))
    client.force_login(staff)
    response = client.get(changelist(Experiment))
    assert response.status_code == 200
    assert response.context["action_form"] is None
    assert client.get(changelist(Deployment)).context["action_form"] is None
    assert client.get(changelist(Run)).status_code == 403


def test_non_staff_users_are_sent_to_the_admin_login(client: Client, django_user_model: Any) -> None:
    user = django_user_model.objects.create_user("bob", password="x")
    client.force_login(user)
    response = client.get(changelist(Run))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))
