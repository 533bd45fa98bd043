"""Endpoints and their keys: names like URL slugs, keys made with ``secrets``, kept only as hashes, checked in
constant time."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Literal

from django.db import IntegrityError, transaction
from django.db.models import F, OuterRef, Prefetch, QuerySet, Subquery
from django.db.models.functions import Coalesce

from deployments.models import Deployment, DeploymentEvent, DeploymentStatus, Endpoint
from registry.models import RegisteredModel
from studio.auth.permissions import EVERYTHING, Visibility
from studio.errors import StudioError, already_exists, invalid, not_found

# A DNS label of 3 to 32 characters (Azure's rule for endpoint names): it becomes part of URLs, process, container
# and Kubernetes object names.
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9-]{1,30}[a-z0-9]$")
KEY_PREFIX = "sk-"
KEY_PREFIX_SHOWN = 10  # characters of a key kept in clear to tell keys apart ("sk-" and 7 random ones)
Slot = Literal["primary", "secondary"]


def validate_name(kind: str, name: object) -> str:
    """An endpoint or deployment name: 3-32 lower-case letters, digits and dashes, starting with a letter."""
    if not isinstance(name, str) or not NAME_PATTERN.match(name) or "--" in name:
        raise invalid(
            f"Invalid {kind} name {name!r}: use 3 to 32 lower-case letters, digits and single dashes, starting with "
            "a letter and ending with a letter or digit"
        )
    return name


def new_key() -> str:
    """A scoring key: 256 random bits."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    """SHA-256 is enough for keys of 256 random bits (no dictionary to try), and cheap on every request."""
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class CreatedEndpoint:
    """A new endpoint with its two keys in clear, which are never shown again."""

    endpoint: Endpoint
    primary_key: str
    secondary_key: str


def create_endpoint(*, name: str, description: str = "", user: str = "") -> CreatedEndpoint:
    """Create an endpoint with fresh primary and secondary keys; a taken name is RESOURCE_ALREADY_EXISTS."""
    validate_name("endpoint", name)
    primary, secondary = new_key(), new_key()
    try:
        with transaction.atomic():
            endpoint = Endpoint.objects.create(
                name=name,
                description=description or "",
                user_id=user or "",
                primary_key_hash=hash_key(primary),
                secondary_key_hash=hash_key(secondary),
                primary_key_prefix=primary[:KEY_PREFIX_SHOWN],
                secondary_key_prefix=secondary[:KEY_PREFIX_SHOWN],
            )
    except IntegrityError:
        if Endpoint.objects.filter(name=name, deleting=True).exists():
            raise already_exists(f"Endpoint '{name}' is being deleted: its name is free once its servers are "
                                 "removed, in a few seconds") from None  # fmt: skip
        raise already_exists(f"Endpoint '{name}' already exists") from None
    return CreatedEndpoint(endpoint=endpoint, primary_key=primary, secondary_key=secondary)


def get_endpoint(*, name: str, for_update: bool = False) -> Endpoint:
    """An endpoint by name (one being deleted counts as gone)."""
    query = Endpoint.objects.filter(name=name, deleting=False)
    if for_update:
        query = query.select_for_update()
    endpoint = query.first()
    if endpoint is None:
        raise not_found(f"Endpoint '{name}' does not exist")
    return endpoint


def get_deployment(*, endpoint: str, name: str, for_update: bool = False) -> Deployment:
    """A deployment by endpoint and deployment name, with its endpoint."""
    query = Deployment.objects.select_related("endpoint").filter(
        endpoint__name=endpoint, endpoint__deleting=False, name=name
    )
    if for_update:
        query = query.select_for_update(of=("self",))
    deployment = query.first()
    if deployment is None:
        raise not_found(f"Deployment '{name}' of endpoint '{endpoint}' does not exist")
    return deployment


def with_served_model(query: QuerySet[Deployment]) -> QuerySet[Deployment]:
    """Deployments with ``served_model_id``: the registered model each serves, by its version (by the model's name
    when the version row is gone; None when the model is gone too), in the same query."""
    by_name = RegisteredModel.objects.filter(name=OuterRef("model_name")).values("pk")[:1]
    return query.annotate(served_model_id=Coalesce(F("model_version__registered_model_id"), Subquery(by_name)))


def served_models(*, endpoint: str) -> list[int]:
    """The registered models an endpoint's deployments serve (none for an endpoint that does not exist)."""
    query = with_served_model(Deployment.objects.filter(endpoint__name=endpoint, endpoint__deleting=False))
    return sorted({pk for pk in query.values_list("served_model_id", flat=True) if pk is not None})


def list_endpoints(*, visible: Visibility = EVERYTHING) -> list[Endpoint]:
    """Every endpoint (newest change first) with its deployments, in two queries however many there are; only those
    whose every served model is ``visible`` (an endpoint with no deployment serves nothing hidden)."""
    deployments = with_served_model(Deployment.objects.order_by("name"))
    query = Endpoint.objects.filter(deleting=False).order_by("-updated_at", "name")
    endpoints = list(query.prefetch_related(Prefetch("deployments", queryset=deployments)))
    return [
        e
        for e in endpoints
        if all(d.served_model_id is None or visible.allows(d.served_model_id) for d in e.deployments.all())
    ]


def regenerate_key(*, name: str, slot: Slot) -> str:
    """Replace the primary or the secondary key; returns the new key, shown once. The other key keeps working, so
    clients move to the new key without downtime."""
    if slot not in ("primary", "secondary"):
        raise invalid(f"Unknown key {slot!r}: 'primary' or 'secondary'")
    key = new_key()
    updated = Endpoint.objects.filter(name=name, deleting=False).update(
        **{f"{slot}_key_hash": hash_key(key), f"{slot}_key_prefix": key[:KEY_PREFIX_SHOWN]}
    )
    if not updated:
        raise not_found(f"Endpoint '{name}' does not exist")
    return key


def check_key(*, endpoint: Endpoint, key: str) -> bool:
    """Whether ``key`` is one of the endpoint's keys; both are always compared, in constant time."""
    digest = hash_key(key or "")
    primary = hmac.compare_digest(digest, endpoint.primary_key_hash)
    secondary = hmac.compare_digest(digest, endpoint.secondary_key_hash)
    return bool(key) and (primary | secondary)


# An endpoint's state, from its deployments': what the list and the endpoint page show.
EndpointState = Literal["empty", "healthy", "degraded", "updating", "deploying", "unavailable", "stopped", "deleting"]


def endpoint_state(endpoint: Endpoint, deployments: list[Deployment]) -> EndpointState:
    """``healthy`` when every deployment with traffic serves; ``degraded`` when some do; ``deploying``/``updating``
    while the first servers are built or a new version is; ``unavailable`` when none can answer; ``stopped`` when
    every deployment is; ``empty`` with no deployment."""
    if endpoint.deleting:
        return "deleting"
    if not deployments:
        return "empty"
    statuses = {d.status for d in deployments}
    if statuses <= {DeploymentStatus.STOPPED, DeploymentStatus.STOPPING, DeploymentStatus.DELETING}:
        return "stopped"
    weighted = [d for d in deployments if d.traffic_weight > 0]
    serving = [d for d in weighted if d.status in (DeploymentStatus.HEALTHY, DeploymentStatus.UPDATING) and d.urls]
    if DeploymentStatus.UPDATING in statuses and serving:
        return "updating"
    if weighted and len(serving) == len(weighted):
        return "healthy"
    if serving:
        return "degraded"
    if statuses & {DeploymentStatus.QUEUED, DeploymentStatus.BUILDING, DeploymentStatus.STARTING}:
        return "deploying"
    return "unavailable"


EVENTS_MAX = 1_000


def list_events(*, deployment: Deployment, after: int = 0, limit: int = 500) -> list[DeploymentEvent]:
    """A deployment's events after the one with id ``after``, oldest first (the endpoint page polls with the last
    id it has)."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= EVENTS_MAX:
        raise invalid(f"limit must be an integer from 1 to {EVENTS_MAX}, not {limit!r}")
    return list(deployment.events.filter(id__gt=after).order_by("id")[:limit])


def read_logs(*, deployment: Deployment, tail: int = 200) -> str:
    """The last ``tail`` lines its servers wrote, from its runtime ("" when it never started)."""
    from deployments.runtimes.registry import get_runtime  # runtimes load lazily: the web side rarely needs them

    if isinstance(tail, bool) or not isinstance(tail, int) or not 1 <= tail <= 10_000:
        raise invalid(f"tail must be an integer from 1 to 10000, not {tail!r}")
    if not deployment.handle:
        return ""
    try:
        return get_runtime(deployment.runtime).logs(deployment.handle, tail=tail)
    except StudioError:
        raise
    except Exception as error:  # an engine that is down: say so instead of failing the page
        return f"(the {deployment.runtime} runtime cannot read the logs now: {error})"


def update_endpoint(*, name: str, description: str) -> Endpoint:
    """Change an endpoint's description."""
    if not isinstance(description, str) or len(description) > 5_000:
        raise invalid("description must be text of at most 5000 characters")
    with transaction.atomic():
        endpoint = get_endpoint(name=name, for_update=True)
        endpoint.description = description
        endpoint.save(update_fields=["description", "updated_at"])
    return endpoint
