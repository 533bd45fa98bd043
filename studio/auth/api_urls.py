"""MLflow's auth app endpoints: ``urlpatterns`` under ``api/2.0/mlflow/`` and ``ajax-api/2.0/mlflow/``, and
``v3_urlpatterns`` (MLflow 3's per-user grant API) under ``api/3.0/mlflow/`` and ``ajax-api/3.0/mlflow/``."""

from __future__ import annotations

from django.urls import path

from studio.auth import api

urlpatterns = [
    path("experiments/permissions/create", api.CreateExperimentPermissionApi, name="create-experiment-permission"),
    path("experiments/permissions/get", api.GetExperimentPermissionApi, name="get-experiment-permission"),
    path("experiments/permissions/update", api.UpdateExperimentPermissionApi, name="update-experiment-permission"),
    path("experiments/permissions/delete", api.DeleteExperimentPermissionApi, name="delete-experiment-permission"),
    path(
        "registered-models/permissions/create",
        api.CreateRegisteredModelPermissionApi,
        name="create-registered-model-permission",
    ),
    path(
        "registered-models/permissions/get",
        api.GetRegisteredModelPermissionApi,
        name="get-registered-model-permission",
    ),
    path(
        "registered-models/permissions/update",
        api.UpdateRegisteredModelPermissionApi,
        name="update-registered-model-permission",
    ),
    path(
        "registered-models/permissions/delete",
        api.DeleteRegisteredModelPermissionApi,
        name="delete-registered-model-permission",
    ),
    path("users/create", api.CreateUserApi, name="create-user"),
    path("users/get", api.GetUserApi, name="get-user"),
    path("users/update-password", api.UpdateUserPasswordApi, name="update-user-password"),
    path("users/update-admin", api.UpdateUserAdminApi, name="update-user-admin"),
    path("users/delete", api.DeleteUserApi, name="delete-user"),
]

v3_urlpatterns = [
    path("users/permissions/grant", api.GrantUserPermissionApi, name="grant-user-permission"),
    path("users/permissions/revoke", api.RevokeUserPermissionApi, name="revoke-user-permission"),
    path("users/permissions/get", api.GetUserPermissionApi, name="get-user-permission"),
]
