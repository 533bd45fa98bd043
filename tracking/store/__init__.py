"""The tracking domain: verbs named like MLflow's store (``create_run``, ``log_batch``, ``search_runs``).

Every caller (the REST API, the pages, the Celery tasks) goes through these functions. They take and return Python
values and raise ``studio.errors.StudioError``; they know nothing of HTTP or MLflow's JSON.
"""
