"""What the registry's trash must keep: versions that a deployment serves, could start again, or rolls back to."""

from __future__ import annotations

from deployments.models import Deployment


def versions_in_use(version_pks: list[int]) -> dict[int, str]:
    """For each of these versions that a deployment still needs, why (every deployment row counts, stopped ones too:
    a start rebuilds from the version's files; so does the rollback target of an update)."""
    wanted = set(version_pks)
    reasons: dict[int, list[str]] = {}
    rows = Deployment.objects.filter(model_version_id__in=wanted).select_related("endpoint")
    for deployment in rows.only("name", "status", "model_version_id", "endpoint__name"):
        reasons.setdefault(deployment.model_version_id, []).append(
            f"served by deployment '{deployment.name}' of endpoint '{deployment.endpoint.name}' ({deployment.status})"
        )
    for deployment in Deployment.objects.filter(previous__isnull=False).select_related("endpoint"):
        pk = (deployment.previous or {}).get("model_version_id")
        if pk in wanted:
            reasons.setdefault(pk, []).append(
                f"the rollback version of deployment '{deployment.name}' of endpoint '{deployment.endpoint.name}'"
            )
    return {pk: "; ".join(found) for pk, found in reasons.items()}
