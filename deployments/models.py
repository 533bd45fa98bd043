"""Endpoints and their deployments, after the model of Azure's managed online endpoints, KServe and Seldon.

An endpoint has a stable scoring URL and two keys; it holds deployments, each one registered model version on one
runtime with an instance count and a traffic weight. A deployment is a job row ("Jobs are rows"): its status moves
through the lifecycle below, a worker claims it with a conditional update before it works on it, and every step is
written to its event log.
"""

from __future__ import annotations

from django.db import models


class DeploymentStatus(models.TextChoices):
    """queued → building → starting → healthy, or failed; updating (a new version is built); stopping → stopped;
    deleting (the runtime removes what it holds, then the row goes)."""

    QUEUED = "queued"
    BUILDING = "building"
    STARTING = "starting"
    HEALTHY = "healthy"
    FAILED = "failed"
    UPDATING = "updating"
    STOPPING = "stopping"
    STOPPED = "stopped"
    DELETING = "deleting"


class Endpoint(models.Model):
    """A stable scoring URL with a primary and a secondary key (stored as SHA-256 hashes, shown once)."""

    id = models.BigAutoField(primary_key=True)
    name = models.CharField(max_length=32, unique=True)
    description = models.TextField(blank=True, default="")
    primary_key_hash = models.CharField(max_length=64)
    secondary_key_hash = models.CharField(max_length=64)
    # The first characters of each key, so that a person can tell which key a client holds.
    primary_key_prefix = models.CharField(max_length=16, blank=True, default="")
    secondary_key_prefix = models.CharField(max_length=16, blank=True, default="")
    # Set by delete_endpoint: the row goes once the runtimes have removed its last deployment.
    deleting = models.BooleanField(default=False)
    user_id = models.CharField(max_length=256, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["-updated_at"], name="endpoint_updated")]

    def __str__(self) -> str:
        return self.name


class Deployment(models.Model):
    """One model version served by one runtime with ``instances`` servers, in an endpoint's traffic split."""

    id = models.BigAutoField(primary_key=True)
    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="deployments")
    name = models.CharField(max_length=32)
    # SET_NULL, not PROTECT: the registry must be able to delete a model without knowing of deployments (they depend
    # on it, never the reverse). The servers keep their own copy of the files; model_name/model_version say what was
    # deployed, and a re-build of a version that is gone fails with a clear message.
    model_version = models.ForeignKey(
        "registry.ModelVersion", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    model_name = models.CharField(max_length=256)
    model_version_number = models.IntegerField()
    runtime = models.CharField(max_length=32)
    instances = models.PositiveIntegerField(default=1)
    traffic_weight = models.PositiveSmallIntegerField(default=0)
    mirror = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=DeploymentStatus.choices, default=DeploymentStatus.QUEUED)
    status_message = models.TextField(blank=True, default="")
    build = models.JSONField(null=True, blank=True)  # what Runtime.build returned
    handle = models.JSONField(null=True, blank=True)  # what Runtime.start returned
    # The base URLs of the instances that answered when the deployment last became healthy; the gateway routes to
    # these. Emptied whenever the servers stop (a stop, an update's switch-over, a failure).
    urls = models.JSONField(default=list, blank=True)
    # Set by an update of a healthy deployment: what it served before (version id and number, model name,
    # instances, build), so that a new version that fails to build or start is rolled back to it.
    previous = models.JSONField(null=True, blank=True)
    # The claim: a worker sets these with a conditional UPDATE before working on the row (see services.claim).
    claimed_by = models.CharField(max_length=200, blank=True, default="")
    claimed_at = models.DateTimeField(null=True, blank=True)
    attempt = models.PositiveIntegerField(default=0)
    user_id = models.CharField(max_length=256, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "name"], name="uniq_deployment_name"),
            models.UniqueConstraint(
                fields=["endpoint"], condition=models.Q(mirror=True), name="one_mirror_per_endpoint"
            ),
            models.CheckConstraint(
                condition=models.Q(traffic_weight__lte=100), name="deployment_traffic_weight_lte_100"
            ),
        ]
        indexes = [
            # The recovery sweep: rows in a working status whose claim is old.
            models.Index(fields=["status", "claimed_at"], name="deployment_status_claim"),
        ]

    def __str__(self) -> str:
        return f"{self.endpoint_id}/{self.name}"


class DeploymentEvent(models.Model):
    """One entry of a deployment's log: a step, a line a runtime reported, a failure with the tool's output."""

    class Kind(models.TextChoices):
        CREATED = "created"
        QUEUED = "queued"
        CLAIMED = "claimed"
        DOWNLOADED = "downloaded"
        BUILDING = "building"
        BUILT = "built"
        STARTING = "starting"
        HEALTHY = "healthy"
        FAILED = "failed"
        UPDATING = "updating"
        STOPPING = "stopping"
        STOPPED = "stopped"
        DELETING = "deleting"
        TRAFFIC = "traffic"
        LOG = "log"
        RECOVERED = "recovered"

    id = models.BigAutoField(primary_key=True)
    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="events")
    time = models.DateTimeField(auto_now_add=True)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    message = models.TextField()
    details = models.TextField(blank=True, default="")

    class Meta:
        # The endpoint page reads a deployment's events in order, and polls for those after the last it has.
        indexes = [models.Index(fields=["deployment", "id"], name="deployment_event_order")]

    def __str__(self) -> str:
        return f"{self.deployment_id} {self.kind}: {self.message[:40]}"


class RequestLog(models.Model):
    """One request through an endpoint's scoring gateway: written in batches by a background thread, never on the
    request path. ``deployment`` is the one that answered (or was tried last); mirrored copies have ``mirror``."""

    id = models.BigAutoField(primary_key=True)
    # No database constraints: a batch of records inserted while an endpoint is deleted would otherwise take key-share
    # locks on its rows at commit, in an order that can deadlock the delete's own locks. The ORM still cascades (and
    # sets the deployment to NULL); a record written just after its endpoint went is an orphan until the retention.
    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="requests", db_constraint=False)
    # SET_NULL: a deleted deployment's traffic history stays with the endpoint under its name.
    deployment = models.ForeignKey(
        Deployment, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", db_constraint=False
    )
    deployment_name = models.CharField(max_length=32, blank=True, default="")
    time = models.DateTimeField()
    status = models.PositiveSmallIntegerField()
    latency_ms = models.FloatField()
    request_bytes = models.PositiveIntegerField(default=0)
    response_bytes = models.PositiveIntegerField(default=0)
    mirror = models.BooleanField(default=False)
    error = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        indexes = [models.Index(fields=["endpoint", "-time"], name="request_log_endpoint_time")]

    def __str__(self) -> str:
        return f"{self.endpoint_id} {self.status} {self.latency_ms:.1f} ms"
