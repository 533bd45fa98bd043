"""Root URLs: the MLflow protocol under both of MLflow's prefixes, probes, and the pages."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path, re_path

from studio import views
from studio.api import endpoint_not_found
from studio.auth import api_urls as auth_api_urls
from studio.auth import permission_urls
from studio.auth import urls as auth_urls
from studio.auth.access import PUBLIC, access
from studio.cleanup import urls as cleanup_urls

urlpatterns = [
    path("health", views.health),
    path("version", views.version),
    path("api/3.0/mlflow/server-info", views.server_info),
    path("ajax-api/3.0/mlflow/server-info", views.server_info),
    path("api/2.0/mlflow/", include(("tracking.api.urls", "tracking-api"), namespace="tracking-api")),
    path("ajax-api/2.0/mlflow/", include(("tracking.api.urls", "tracking-api"), namespace="tracking-ajax-api")),
    path("api/2.0/mlflow/", include(("registry.api.urls", "registry-api"), namespace="registry-api")),
    path("ajax-api/2.0/mlflow/", include(("registry.api.urls", "registry-api"), namespace="registry-ajax-api")),
    path(
        "api/2.0/mlflow-artifacts/", include(("tracking.api.artifact_urls", "artifacts-api"), namespace="artifacts-api")
    ),
    path(
        "ajax-api/2.0/mlflow-artifacts/",
        include(("tracking.api.artifact_urls", "artifacts-api"), namespace="artifacts-ajax-api"),
    ),
    path("api/2.0/studio/", include(("tracking.api.studio_urls", "studio-api"), namespace="studio-api")),
    path("ajax-api/2.0/studio/", include(("tracking.api.studio_urls", "studio-api"), namespace="studio-ajax-api")),
    path(
        "api/2.0/studio/", include(("registry.api.studio_urls", "registry-studio-api"), namespace="registry-studio-api")
    ),
    path(
        "ajax-api/2.0/studio/",
        include(("registry.api.studio_urls", "registry-studio-api"), namespace="registry-studio-ajax-api"),
    ),
    path("api/2.0/studio/", include(("deployments.api.urls", "deployments-api"), namespace="deployments-api")),
    path(
        "ajax-api/2.0/studio/",
        include(("deployments.api.urls", "deployments-api"), namespace="deployments-ajax-api"),
    ),
    path("api/2.0/studio/", include(("studio.cleanup.api", "cleanup-api"), namespace="cleanup-api")),
    path("ajax-api/2.0/studio/", include(("studio.cleanup.api", "cleanup-api"), namespace="cleanup-ajax-api")),
    # MLflow's auth app's API (permissions and users), 2.0 and the 3.x client's users/permissions endpoints.
    path("api/2.0/mlflow/", include(("studio.auth.api_urls", "auth-api"), namespace="auth-api")),
    path("ajax-api/2.0/mlflow/", include(("studio.auth.api_urls", "auth-api"), namespace="auth-ajax-api")),
    path("api/3.0/mlflow/", include((auth_api_urls.v3_urlpatterns, "auth-api-v3"), namespace="auth-api-v3")),
    path("ajax-api/3.0/mlflow/", include((auth_api_urls.v3_urlpatterns, "auth-api-v3"), namespace="auth-ajax-api-v3")),
    path("api/2.0/studio/", include(("studio.openapi_urls", "openapi"), namespace="openapi")),
    path("", include("deployments.views.gateway")),
    path("admin/", admin.site.urls),
    path("", include("tracking.urls")),
    path("", include("registry.urls")),
    path("", include("deployments.urls")),
    # One namespace, ``studio``, for Studio's own pages: the trash, and the sign-in and account pages.
    path("", include(([*cleanup_urls.urlpatterns, *auth_urls.urlpatterns, *permission_urls.urlpatterns], "studio"))),
    path("", views.home, name="home"),
    # Unknown API paths answer MLflow's JSON ENDPOINT_NOT_FOUND, never an HTML page.
    re_path(r"^(?:ajax-)?api/.*$", access(PUBLIC)(endpoint_not_found)),
]
