"""The changes a person asks for (from the API, a page or the ``mlflow.deployments`` client): each one writes the
row, logs an event and enqueues the task that does the work once the transaction commits.

Every change that locks rows locks the endpoint's row first and its deployments' after it, so that two changes of
one endpoint queue behind each other instead of deadlocking (stopping two deployments at once both rebalance).
The workers write one row per statement and take no such locks."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from django.conf import settings
from django.db import transaction

from deployments.models import Deployment, DeploymentEvent, DeploymentStatus, Endpoint
from deployments.runtimes.registry import check_runtime
from deployments.services.endpoints import get_deployment, get_endpoint, validate_name
from registry.models import ModelVersion
from registry.store.versions import get_version_row
from studio.errors import StudioError, already_exists, invalid

Status = DeploymentStatus
Kind = DeploymentEvent.Kind
# Deployments that hold a share of the traffic (or will once healthy); stopped and departing ones hold none.
LIVE = frozenset({Status.QUEUED, Status.BUILDING, Status.STARTING, Status.HEALTHY, Status.FAILED, Status.UPDATING})
# While a worker builds or starts, a new version or a start would race with it: wait for it to finish.
BUSY = frozenset({Status.QUEUED, Status.BUILDING, Status.STARTING, Status.UPDATING})


def max_instances() -> int:
    return int(getattr(settings, "STUDIO_DEPLOYMENT_MAX_INSTANCES", 16))


def record_event(*, deployment: Deployment | int, kind: str, message: str, details: str = "") -> DeploymentEvent:
    """Append an entry to a deployment's event log."""
    deployment_id = deployment if isinstance(deployment, int) else deployment.pk
    return DeploymentEvent.objects.create(deployment_id=deployment_id, kind=kind, message=message, details=details)


def enqueue(task_name: str, deployment_id: int) -> None:
    """Send the task once the row it reads is committed (a worker must never see an older row than the one meant)."""
    from deployments import tasks  # the tasks call these services: imported here, not at the top

    task = getattr(tasks, task_name)
    transaction.on_commit(lambda: task.delay(deployment_id))


def _usable_version(model_name: str, version: str | int) -> ModelVersion:
    row = get_version_row(model_name, version)
    if not row.storage_path:
        raise invalid(
            f"Model version {model_name} v{row.version} has no files of its own in Studio (its source is external: "
            f"{row.storage_uri or row.source}); register it from a run or logged model to deploy it"
        )
    return row


def _check_weight(name: str, weight: object) -> int:
    if isinstance(weight, bool) or not isinstance(weight, int) or not 0 <= weight <= 100:
        raise invalid(f"Traffic weight of '{name}' must be an integer from 0 to 100, not {weight!r}")
    return weight


def _check_instances(instances: object) -> int:
    if isinstance(instances, bool) or not isinstance(instances, int) or not 1 <= instances <= max_instances():
        raise invalid(f"instances must be an integer from 1 to {max_instances()}, not {instances!r}")
    return instances


def _split(deployments: Sequence[Deployment], total: int) -> None:
    """Scale the weights of ``deployments`` to sum to ``total``, keeping their proportions (largest remainders get
    the rounding; all-zero weights split evenly)."""
    if not deployments:
        return
    current = [d.traffic_weight for d in deployments]
    base = sum(current) or len(deployments)
    shares = [(w if sum(current) else 1) * total / base for w in current]
    floors = [int(s) for s in shares]
    order = sorted(range(len(shares)), key=lambda i: shares[i] - floors[i], reverse=True)
    for i in order[: total - sum(floors)]:
        floors[i] += 1
    for deployment, weight in zip(deployments, floors, strict=True):
        deployment.traffic_weight = weight


def _rebalance(endpoint: Endpoint, *, keep: Deployment | None = None) -> None:
    """After a deployment joins or leaves the split: the others (all live, non-mirror ones but ``keep``) share what
    ``keep`` leaves, so that the weights of the live deployments sum to 100 (or 0 when none is live)."""
    live = [d for d in endpoint.deployments.select_for_update() if d.status in LIVE and not d.mirror]
    others = [d for d in live if keep is None or d.pk != keep.pk]
    if keep is not None and not others:
        keep.traffic_weight = 100
    _split(others, 100 - keep.traffic_weight if keep is not None else (100 if others else 0))
    for deployment in [*others, *([keep] if keep is not None else [])]:
        Deployment.objects.filter(pk=deployment.pk).update(traffic_weight=deployment.traffic_weight)
    Deployment.objects.filter(endpoint=endpoint).exclude(pk__in=[d.pk for d in live]).update(traffic_weight=0)


def create_deployment(
    *,
    endpoint: str,
    name: str,
    model_name: str,
    version: str | int,
    runtime: str = "local",
    instances: int = 1,
    traffic_weight: int | None = None,
    mirror: bool = False,
    user: str = "",
) -> Deployment:
    """Deploy a model version into an endpoint; queued when it returns. The new deployment takes ``traffic_weight``
    percent (100 when it is the endpoint's only one, 0 when not given) and the others share the rest in proportion."""
    validate_name("deployment", name)
    row = _usable_version(model_name, version)
    check_runtime(runtime)
    _check_instances(instances)
    weight = _check_weight(name, 0 if traffic_weight is None else traffic_weight)
    if mirror and weight:
        raise invalid("A mirror deployment receives copies of requests, not a share of the traffic: weight 0")
    with transaction.atomic():
        target = get_endpoint(name=endpoint, for_update=True)
        if target.deployments.filter(name=name).exists():
            raise already_exists(f"Deployment '{name}' already exists in endpoint '{endpoint}'")
        if mirror and target.deployments.filter(mirror=True).exists():
            raise invalid(f"Endpoint '{endpoint}' already has a mirror deployment")
        deployment = Deployment.objects.create(
            endpoint=target, name=name, model_version=row, model_name=row.registered_model.name,
            model_version_number=row.version, runtime=runtime, instances=instances, traffic_weight=weight,
            mirror=bool(mirror), user_id=user or "",
        )  # fmt: skip
        if not mirror:
            _rebalance(target, keep=deployment)
        record_event(deployment=deployment, kind=Kind.CREATED, message=f"Deploy {row.registered_model.name} "
                     f"v{row.version} on the {runtime} runtime, {instances} instance(s)")  # fmt: skip
        enqueue("run_deployment_task", deployment.pk)
    deployment.refresh_from_db()
    return deployment


def set_traffic(*, endpoint: str, weights: Mapping[str, int], mirror: str | None = None) -> dict[str, int]:
    """Set the traffic split: a weight per live deployment (missing ones get 0) summing to 100, or to 0 when no
    deployment is live; ``mirror`` names the deployment that gets a copy of each request ("" for none, None keeps)."""
    with transaction.atomic():
        target = get_endpoint(name=endpoint, for_update=True)
        deployments = {d.name: d for d in target.deployments.select_for_update()}
        for name, weight in weights.items():
            if name not in deployments:
                raise invalid(f"Endpoint '{endpoint}' has no deployment '{name}'")
            _check_weight(name, weight)
        mirror_name = next((d.name for d in deployments.values() if d.mirror), "") if mirror is None else mirror
        _check_split(endpoint, deployments, weights, mirror_name)
        for deployment in deployments.values():
            deployment.traffic_weight = weights.get(deployment.name, 0)
            deployment.mirror = deployment.name == mirror_name
        # Mirror flags are cleared before one is set: the one-mirror constraint holds after every statement.
        target.deployments.update(mirror=False)
        Deployment.objects.bulk_update(list(deployments.values()), ["traffic_weight", "mirror"])
        for deployment in deployments.values():
            record_event(deployment=deployment, kind=Kind.TRAFFIC, message=f"Traffic {deployment.traffic_weight}%"
                         + (", mirrored" if deployment.mirror else ""))  # fmt: skip
    return {name: d.traffic_weight for name, d in deployments.items()}


def _check_split(endpoint: str, deployments: dict[str, Deployment], weights: Mapping[str, int], mirror: str) -> None:
    if mirror and mirror not in deployments:
        raise invalid(f"Endpoint '{endpoint}' has no deployment '{mirror}' to mirror to")
    if mirror and (deployments[mirror].status not in LIVE or weights.get(mirror, 0)):
        raise invalid(f"The mirror deployment '{mirror}' must be live and have a traffic weight of 0")
    for name, weight in weights.items():
        if weight and deployments[name].status not in LIVE:
            raise invalid(f"Deployment '{name}' is {deployments[name].status}: it can take no traffic")
    live = [d for d in deployments.values() if d.status in LIVE and d.name != mirror]
    expected = 100 if live else 0
    total = sum(weights.values())
    if total != expected:
        raise invalid(f"Traffic weights of endpoint '{endpoint}' must sum to {expected}, not {total}")


def _change(
    endpoint: str, name: str, allowed: frozenset[str], verb: str, apply: Callable[[Deployment], None]
) -> Deployment:
    """Lock a deployment, check that its status allows ``verb``, and let ``apply`` change and save it."""
    with transaction.atomic():
        get_endpoint(name=endpoint, for_update=True)  # the endpoint's row first, as every change locks them
        deployment = get_deployment(endpoint=endpoint, name=name, for_update=True)
        if deployment.status not in allowed:
            raise StudioError(f"Cannot {verb} deployment '{name}' while it is {deployment.status}", "RESOURCE_CONFLICT")
        apply(deployment)
    return deployment


def update_deployment(
    *, endpoint: str, name: str, version: str | int | None = None, model_name: str | None = None,
    instances: int | None = None,
) -> Deployment:  # fmt: skip
    """Move a deployment to another model version (None keeps its own) and/or instance count: it is built anew while
    the old servers answer, which stop when the new ones start. A stopped deployment only records the change for its
    next start."""
    current = get_deployment(endpoint=endpoint, name=name)
    if version is None and instances is None:
        raise invalid("Nothing to update: give a version, an instance count or both")
    row = _usable_version(
        model_name or current.model_name, current.model_version_number if version is None else version
    )
    if instances is not None:
        _check_instances(instances)

    def apply(deployment: Deployment) -> None:
        # A healthy deployment remembers what it served, to go back to it if the new version fails.
        deployment.previous = (
            {
                "model_version_id": deployment.model_version_id,
                "model_name": deployment.model_name,
                "model_version_number": deployment.model_version_number,
                "instances": deployment.instances,
                "build": deployment.build,
            }
            if deployment.status == Status.HEALTHY
            else None
        )
        deployment.model_version, deployment.model_name = row, row.registered_model.name
        deployment.model_version_number = row.version
        deployment.instances = instances or deployment.instances
        message = f"Update to {row.registered_model.name} v{row.version}, {deployment.instances} instance(s)"
        if deployment.status != Status.STOPPED:
            deployment.status, deployment.status_message = Status.UPDATING, message
            enqueue("run_deployment_task", deployment.pk)
        deployment.save()
        record_event(deployment=deployment, kind=Kind.UPDATING, message=message)

    allowed = frozenset({Status.HEALTHY, Status.FAILED, Status.STOPPED})
    return _change(endpoint, name, allowed, "update", apply)


def stop_deployment(*, endpoint: str, name: str) -> Deployment:
    """Stop a deployment's servers; its traffic goes to the other live deployments. A worker building it meanwhile
    loses its claim and gives up."""

    def apply(deployment: Deployment) -> None:
        deployment.status, deployment.status_message = Status.STOPPING, "Stopping"
        deployment.claimed_by, deployment.claimed_at = "", None  # revoke: the stop task must be able to claim it
        deployment.traffic_weight, deployment.mirror, deployment.urls = 0, False, []
        deployment.previous = None  # an update cut short by a stop is not rolled back at the next start
        deployment.save()
        _rebalance(deployment.endpoint)
        record_event(deployment=deployment, kind=Kind.STOPPING, message="Stop requested")
        enqueue("stop_deployment_task", deployment.pk)

    return _change(endpoint, name, LIVE, "stop", apply)


def start_deployment(*, endpoint: str, name: str) -> Deployment:
    """Start a stopped (or failed) deployment again: queued, built (a cached build is reused) and started."""

    def apply(deployment: Deployment) -> None:
        deployment.status, deployment.status_message = Status.QUEUED, "Queued"
        deployment.save()
        _rebalance(deployment.endpoint, keep=deployment)
        deployment.refresh_from_db(fields=["traffic_weight"])
        record_event(deployment=deployment, kind=Kind.QUEUED, message="Start requested")
        enqueue("run_deployment_task", deployment.pk)

    return _change(endpoint, name, frozenset({Status.STOPPED, Status.FAILED}), "start", apply)


def _mark_deleting(deployment: Deployment) -> None:
    Deployment.objects.filter(pk=deployment.pk).update(
        status=Status.DELETING, status_message="Deleting", claimed_by="", claimed_at=None, traffic_weight=0,
        mirror=False, urls=[],
    )  # fmt: skip
    record_event(deployment=deployment, kind=Kind.DELETING, message="Delete requested")
    enqueue("delete_deployment_task", deployment.pk)


def delete_deployment(*, endpoint: str, name: str) -> None:
    """Delete a deployment: its runtime removes the servers, then the row and its events go."""
    with transaction.atomic():
        get_endpoint(name=endpoint, for_update=True)
        deployment = get_deployment(endpoint=endpoint, name=name, for_update=True)
        _mark_deleting(deployment)
        _rebalance(deployment.endpoint)


def delete_endpoint(*, name: str) -> None:
    """Delete an endpoint with all its deployments; its row goes once the last deployment is removed."""
    with transaction.atomic():
        endpoint = get_endpoint(name=name, for_update=True)
        deployments = list(endpoint.deployments.select_for_update())
        if not deployments:
            endpoint.delete()
            return
        Endpoint.objects.filter(pk=endpoint.pk).update(deleting=True)
        for deployment in deployments:
            _mark_deleting(deployment)
