"""What Studio keeps across its apps: the audit log of destructive admin actions, and purge jobs.

A purge job is a row like every job in Studio: the service plans it (one ``PurgeItem`` per thing to remove, with the
bytes it holds and the folders its purge deletes, frozen at creation), the Celery task claims the row and works
through the pending items. Each item is purged idempotently and marked done in its own row, so a job killed halfway
and run again finishes the work and reports the same totals.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class AuditEntry(models.Model):
    """One destructive or restoring admin action: a purge of an item, an artifact deletion, a restore."""

    class Action(models.TextChoices):
        PURGE = "purge"
        RESTORE = "restore"
        DELETE_ARTIFACT = "delete_artifact"
        PURGE_JOB = "purge_job"
        RETENTION = "retention"

    id = models.BigAutoField(primary_key=True)
    timestamp = models.DateTimeField(default=timezone.now, db_index=True)
    user = models.CharField(max_length=256, blank=True, default="")
    action = models.CharField(max_length=20, choices=Action.choices)
    kind = models.CharField(max_length=32, blank=True, default="")  # what was acted on: run, experiment, artifact...
    object_id = models.CharField(max_length=256, blank=True, default="")
    name = models.CharField(max_length=1024, blank=True, default="")
    bytes = models.BigIntegerField(default=0)
    files = models.BigIntegerField(default=0)
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name_plural = "audit entries"
        indexes = [models.Index(fields=["kind", "object_id"], name="audit_object")]

    def __str__(self) -> str:
        return f"{self.action} {self.kind} {self.name or self.object_id}"


class PurgeJobStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"


class PurgeJob(models.Model):
    """A purge of trashed items, executed by a worker; its items say what it removes and how far it got."""

    id = models.BigAutoField(primary_key=True)
    status = models.CharField(max_length=16, choices=PurgeJobStatus.choices, default=PurgeJobStatus.QUEUED)
    description = models.CharField(max_length=1024, blank=True, default="")
    selection = models.JSONField(default=dict, blank=True)  # what was asked for, as the API received it
    created_by = models.CharField(max_length=256, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    total_items = models.PositiveIntegerField(default=0)
    planned_bytes = models.BigIntegerField(default=0)
    planned_files = models.BigIntegerField(default=0)
    log = models.TextField(blank=True, default="")
    # The claim, as for deployments: a conditional UPDATE takes the row; a claim older than the lease is stale.
    claimed_by = models.CharField(max_length=200, blank=True, default="")
    claimed_at = models.DateTimeField(null=True, blank=True)
    attempt = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"purge job {self.pk} ({self.status})"


class PurgeItemState(models.TextChoices):
    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"  # no longer in the trash (restored meanwhile): left alone


class PurgeItem(models.Model):
    """One thing a purge job removes: its rows, then its folders; the bytes and files it held when planned."""

    job = models.ForeignKey(PurgeJob, on_delete=models.CASCADE, related_name="items")
    position = models.PositiveIntegerField()
    kind = models.CharField(max_length=32)
    object_id = models.CharField(max_length=256)
    name = models.CharField(max_length=1024, blank=True, default="")
    parent = models.CharField(max_length=1024, blank=True, default="")
    bytes = models.BigIntegerField(default=0)
    files = models.BigIntegerField(default=0)
    folders = models.JSONField(default=list, blank=True)
    state = models.CharField(max_length=16, choices=PurgeItemState.choices, default=PurgeItemState.PENDING)
    error = models.TextField(blank=True, default="")
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["job", "position"], name="uniq_purge_item_position")]
        indexes = [models.Index(fields=["job", "state"], name="purge_item_state")]

    def __str__(self) -> str:
        return f"{self.kind} {self.name or self.object_id}"


class AccessToken(models.Model):
    """A personal access token for the API (``MLFLOW_TRACKING_TOKEN``), kept only as the SHA-256 of its secret.

    Tokens carry 256 random bits, so a fast hash is as safe as a slow one and lets every request be checked with one
    indexed lookup. Revoking sets ``revoked_at``: the next request with the token is refused.
    """

    id = models.BigAutoField(primary_key=True)
    user = models.ForeignKey("auth.User", on_delete=models.CASCADE, related_name="access_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16)  # the first characters of the token, shown so users can tell them apart
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class Permission(models.Model):
    """What a user or a group may do with one experiment or registered model (MLflow's auth app's levels).

    ``kind`` names the resource ("experiment", "registered_model"), ``object_id`` its primary key; exactly one of
    ``user`` and ``group`` is set. A user's own row wins over their groups' rows, and the best group row over the
    default (``STUDIO_DEFAULT_PERMISSION``).
    """

    class Level(models.IntegerChoices):
        NO_PERMISSIONS = 0
        READ = 1
        EDIT = 2
        MANAGE = 3

    id = models.BigAutoField(primary_key=True)
    kind = models.CharField(max_length=32)
    object_id = models.BigIntegerField()
    user = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    group = models.ForeignKey("auth.Group", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    level = models.PositiveSmallIntegerField(choices=Level.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind", "object_id", "user"], name="uniq_permission_user"),
            models.UniqueConstraint(fields=["kind", "object_id", "group"], name="uniq_permission_group"),
            models.CheckConstraint(
                condition=models.Q(user__isnull=False, group__isnull=True)
                | models.Q(user__isnull=True, group__isnull=False),
                name="permission_user_xor_group",
            ),
        ]
        indexes = [
            models.Index(fields=["user", "kind"], name="permission_user_kind"),
            models.Index(fields=["group", "kind"], name="permission_group_kind"),
        ]

    def __str__(self) -> str:
        who = f"user {self.user_id}" if self.user_id else f"group {self.group_id}"
        return f"{who}: {self.get_level_display()} on {self.kind} {self.object_id}"
