"""The model registry: registered models, their versions, tags and aliases, and the audit trail of their changes.

A version's files are copied at registration into the artifact root's read-only ``registry/`` folder
(``storage_path``), so a version keeps loading after the run or logged model it came from is deleted and purged.
Lineage (run, logged model, experiment) is kept as plain ids, not foreign keys, for the same reason: the run may be
gone while the version lives on.
"""

from __future__ import annotations

from django.db import models


class Stage(models.TextChoices):
    """MLflow's (deprecated but still used) model version stages; deleted versions keep their number reserved."""

    NONE = "None"
    STAGING = "Staging"
    PRODUCTION = "Production"
    ARCHIVED = "Archived"
    DELETED = "Deleted_Internal"


class VersionStatus(models.TextChoices):
    PENDING = "PENDING_REGISTRATION"
    FAILED = "FAILED_REGISTRATION"
    READY = "READY"


class LiveModelManager(models.Manager["RegisteredModel"]):
    """Registered models that are not in the trash: what every MLflow verb and page sees."""

    def get_queryset(self) -> models.QuerySet[RegisteredModel]:
        return super().get_queryset().filter(deleted_timestamp__isnull=True)


class RegisteredModel(models.Model):
    """A named model in the registry; its versions are numbered from 1 and never reuse a number.

    Deleting a model moves it to the trash (``deleted_timestamp``): to MLflow it is gone and its name is free again,
    but its rows and files stay until it is purged, so an admin can restore it. ``objects`` sees live models only;
    ``all_objects`` sees the trash too.
    """

    id = models.BigAutoField(primary_key=True)
    name = models.CharField(max_length=256)
    description = models.TextField(blank=True, default="")
    user_id = models.CharField(max_length=256, blank=True, default="")
    creation_timestamp = models.BigIntegerField()
    last_updated_timestamp = models.BigIntegerField()
    deployment_job_id = models.CharField(max_length=256, blank=True, default="")
    deleted_timestamp = models.BigIntegerField(null=True, blank=True)
    deleted_by = models.CharField(max_length=256, blank=True, default="")

    objects = LiveModelManager()
    all_objects = models.Manager()  # noqa: DJ012 (a second manager, not a field)

    class Meta:
        base_manager_name = "all_objects"
        constraints = [
            models.UniqueConstraint(
                fields=["name"], condition=models.Q(deleted_timestamp__isnull=True), name="uniq_live_model_name"
            )
        ]
        indexes = [
            models.Index(fields=["last_updated_timestamp"]),
            models.Index(fields=["creation_timestamp"]),
            models.Index(fields=["name"], name="registered_model_name"),
        ]

    def __str__(self) -> str:
        return self.name


class RegisteredModelTag(models.Model):
    """A key/value tag on a registered model (``mlflow.prompt.is_prompt`` marks MLflow's prompts)."""

    registered_model = models.ForeignKey(RegisteredModel, on_delete=models.CASCADE, related_name="tags")
    key = models.CharField(max_length=250)
    value = models.TextField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["registered_model", "key"], name="uniq_registered_model_tag")]
        indexes = [models.Index(fields=["key", "registered_model"], name="rm_tag_key_model")]

    def __str__(self) -> str:
        return f"{self.key}={self.value}"


class ModelVersion(models.Model):
    """One version of a registered model: where it came from (``source``, lineage ids) and where its files are."""

    registered_model = models.ForeignKey(RegisteredModel, on_delete=models.CASCADE, related_name="versions")
    version = models.IntegerField()
    creation_timestamp = models.BigIntegerField()
    last_updated_timestamp = models.BigIntegerField()
    user_id = models.CharField(max_length=256, blank=True, default="")
    current_stage = models.CharField(max_length=20, choices=Stage.choices, default=Stage.NONE)
    description = models.TextField(blank=True, default="")
    # The source as the client gave it (``models:/m-…``, ``runs:/…``, ``mlflow-artifacts:/…``); shown, never read.
    source = models.TextField()
    # The store path of the version's own copy of its files, or "" for an external source (``storage_uri`` then).
    storage_path = models.TextField(blank=True, default="")
    storage_uri = models.TextField(blank=True, default="")
    file_count = models.BigIntegerField(default=0)
    size_bytes = models.BigIntegerField(default=0)
    run_id = models.CharField(max_length=32, blank=True, default="")
    run_link = models.TextField(blank=True, default="")
    model_id = models.CharField(max_length=40, blank=True, default="")
    experiment_id = models.BigIntegerField(null=True, blank=True)
    status = models.CharField(max_length=24, choices=VersionStatus.choices, default=VersionStatus.READY)
    status_message = models.TextField(blank=True, default="")
    deleted_timestamp = models.BigIntegerField(null=True, blank=True)
    deleted_by = models.CharField(max_length=256, blank=True, default="")
    # A purged version keeps its row (its number stays taken, its history readable) but no longer has files.
    purged_timestamp = models.BigIntegerField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["registered_model", "version"], name="uniq_model_version")]
        indexes = [
            # get-latest-versions and every registered model's latest_versions: max(version) per stage.
            models.Index(fields=["registered_model", "current_stage", "version"], name="mv_model_stage_version"),
            models.Index(fields=["run_id"], name="mv_run"),
            models.Index(fields=["model_id"], name="mv_logged_model"),
            models.Index(fields=["last_updated_timestamp"], name="mv_last_updated"),
        ]

    def __str__(self) -> str:
        return f"{self.registered_model_id} v{self.version}"


class ModelVersionTag(models.Model):
    """A key/value tag on a model version."""

    model_version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="tags")
    key = models.CharField(max_length=250)
    value = models.TextField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["model_version", "key"], name="uniq_model_version_tag")]
        indexes = [models.Index(fields=["key", "model_version"], name="mv_tag_key_version")]

    def __str__(self) -> str:
        return f"{self.key}={self.value}"


class RegisteredModelAlias(models.Model):
    """A named pointer (``champion``) from a registered model to one of its versions."""

    registered_model = models.ForeignKey(RegisteredModel, on_delete=models.CASCADE, related_name="aliases")
    alias = models.CharField(max_length=256)
    model_version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="aliases")

    class Meta:
        verbose_name_plural = "registered model aliases"
        constraints = [models.UniqueConstraint(fields=["registered_model", "alias"], name="uniq_model_alias")]

    def __str__(self) -> str:
        return self.alias


class RegistryEvent(models.Model):
    """One change in the registry, with who made it and when. Rows outlive the model they describe (no foreign
    key), so the history of a deleted or renamed model can still be read."""

    class Action(models.TextChoices):
        MODEL_CREATED = "registered_model_created"
        MODEL_RENAMED = "registered_model_renamed"
        MODEL_UPDATED = "registered_model_updated"
        MODEL_DELETED = "registered_model_deleted"
        MODEL_TAG_SET = "registered_model_tag_set"
        MODEL_TAG_DELETED = "registered_model_tag_deleted"
        VERSION_CREATED = "model_version_created"
        VERSION_UPDATED = "model_version_updated"
        VERSION_DELETED = "model_version_deleted"
        VERSION_TAG_SET = "model_version_tag_set"
        VERSION_TAG_DELETED = "model_version_tag_deleted"
        STAGE_TRANSITIONED = "model_version_stage_transitioned"
        ALIAS_SET = "alias_set"
        ALIAS_DELETED = "alias_deleted"

    id = models.BigAutoField(primary_key=True)
    timestamp = models.BigIntegerField()
    user_id = models.CharField(max_length=256, blank=True, default="")
    action = models.CharField(max_length=40, choices=Action.choices)
    registered_model_id = models.BigIntegerField()
    # The model's name when the event happened.
    model_name = models.CharField(max_length=256)
    version = models.IntegerField(null=True, blank=True)
    alias = models.CharField(max_length=256, blank=True, default="")
    key = models.CharField(max_length=250, blank=True, default="")
    # NULL is "none" (no previous tag, alias unset), which an empty string, a valid tag value, cannot say.
    old_value = models.TextField(null=True, blank=True)  # noqa: DJ001
    new_value = models.TextField(null=True, blank=True)  # noqa: DJ001

    class Meta:
        indexes = [
            models.Index(fields=["registered_model_id", "id"], name="event_model"),
            models.Index(fields=["model_name", "id"], name="event_model_name"),
            models.Index(fields=["timestamp"], name="event_time"),
        ]

    def __str__(self) -> str:
        return f"{self.model_name}: {self.action}"
