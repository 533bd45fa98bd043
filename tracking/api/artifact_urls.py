"""Routes of the artifact proxy, mounted under /api/2.0/mlflow-artifacts/ and /ajax-api/2.0/mlflow-artifacts/."""

urlpatterns: list = []
