"""Studio extensions to the tracking API, mounted under /api/2.0/studio/ and /ajax-api/2.0/studio/."""

urlpatterns: list = []
