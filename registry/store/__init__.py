"""The registry domain: verbs named like MLflow's registry store (``create_registered_model``,
``create_model_version``, ``set_registered_model_alias``, ...), shared by the REST API, the pages and the tasks.

They take and return Python values and raise ``studio.errors.StudioError``. Every change is also written to the audit
trail (``registry.store.events``) in the same transaction, with the acting user passed in by the caller.
"""
