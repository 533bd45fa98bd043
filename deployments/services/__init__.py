"""The deployments domain: typed, keyword-only verbs that the REST API, the pages and the Celery tasks all call.

``endpoints`` holds endpoints and their keys, ``changes`` the changes a person asks for (each writes the row and
enqueues a task on commit), ``worker`` what the tasks do (claim the row, call the runtime, record events).
"""

from __future__ import annotations

from deployments.services.changes import (
    create_deployment,
    delete_deployment,
    delete_endpoint,
    record_event,
    set_traffic,
    start_deployment,
    stop_deployment,
    update_deployment,
)
from deployments.services.endpoints import (
    CreatedEndpoint,
    check_key,
    create_endpoint,
    endpoint_state,
    get_deployment,
    get_endpoint,
    list_endpoints,
    list_events,
    read_logs,
    regenerate_key,
    served_models,
    update_endpoint,
    validate_name,
    with_served_model,
)
from deployments.services.traffic import prune_request_log
from deployments.services.worker import (
    claim,
    delete_deployment_now,
    probe_deployments,
    prune_environments,
    recover_stale_deployments,
    run_deployment,
    stop_deployment_now,
)

__all__ = [
    "CreatedEndpoint",
    "check_key",
    "claim",
    "create_deployment",
    "create_endpoint",
    "delete_deployment",
    "delete_deployment_now",
    "delete_endpoint",
    "endpoint_state",
    "get_deployment",
    "get_endpoint",
    "list_endpoints",
    "list_events",
    "probe_deployments",
    "prune_environments",
    "prune_request_log",
    "read_logs",
    "record_event",
    "recover_stale_deployments",
    "regenerate_key",
    "run_deployment",
    "served_models",
    "set_traffic",
    "start_deployment",
    "stop_deployment",
    "stop_deployment_now",
    "update_deployment",
    "update_endpoint",
    "validate_name",
    "with_served_model",
]
