"""``__in_list``: a long id list bound as one parameter, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import pytest
from django.db import connection

from tests.conftest import ApiClient
from tracking.models import Experiment, Run


def test_in_list_matches_ints_strings_and_foreign_keys(api: ApiClient, experiment_id: str) -> None:
    run_ids = [api.post("runs/create", {"experiment_id": experiment_id})["run"]["info"]["run_id"] for _ in range(3)]
    ids = [int(experiment_id), 10**12]
    assert list(Experiment.objects.filter(pk__in_list=ids).values_list("pk", flat=True)) == [int(experiment_id)]
    assert sorted(Run.objects.filter(run_uuid__in_list=[*run_ids[:2], "nope"]).values_list("pk", flat=True)) == sorted(
        run_ids[:2]
    )
    assert Run.objects.filter(experiment__in_list=[int(experiment_id)]).count() == 3
    assert Run.objects.filter(experiment_id__in_list=[]).count() == 0


def test_in_list_binds_one_parameter_for_thousands_of_ids(db: None) -> None:
    bound: list[int] = []

    def count_params(execute, sql, params, many, context):
        bound.append(len(params or ()))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count_params):
        assert Experiment.objects.filter(pk__in_list=list(range(100_000))).count() >= 1  # Default is id 0
    assert bound == [1]


def test_in_list_refuses_values_that_are_not_ids(db: None) -> None:
    with pytest.raises(TypeError):
        list(Experiment.objects.filter(pk__in_list=[1.5]))
    with pytest.raises(TypeError):
        list(Experiment.objects.filter(pk__in_list=[True]))
