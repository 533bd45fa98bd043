"""Routes of the artifact proxy, mounted under /api/2.0/mlflow-artifacts/ and /ajax-api/2.0/mlflow-artifacts/."""

from __future__ import annotations

from django.urls import path

from studio.api import method_router
from studio.auth.access import access
from tracking.api import artifact_proxy as views

urlpatterns = [
    path("artifacts", views.ListArtifactsApi),
    path(
        "artifacts/<path:artifact_path>",
        access(GET=views.PATH_READ, PUT=views.PATH_EDIT, DELETE=views.PATH_MANAGE)(
            method_router(get=views.DownloadArtifactApi, put=views.UploadArtifactApi, delete=views.DeleteArtifactApi)
        ),
    ),
    path("mpu/create/<path:artifact_path>", views.CreateMultipartUploadApi),
    path("mpu/complete/<path:artifact_path>", views.CompleteMultipartUploadApi),
    path("mpu/abort/<path:artifact_path>", views.AbortMultipartUploadApi),
    # Studio's own: where the part URLs handed out by mpu/create point (a signed token, no auth header).
    path("mpu/part/<str:token>", views.UploadPartApi, name="upload-part"),
]
