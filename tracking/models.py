"""Tracking data: experiments, runs and what is logged to them, in tables shaped for MLflow's queries.

Metrics are stored three ways, each for one reader: ``MetricPoint`` is the full history; ``MetricSeries`` is one row
per (run, key) holding the latest value (what ``runs/get`` and run search read) and the series' extent;
``MetricBucket`` keeps min/max/last per power-of-8 step bucket, maintained at write time, so that a chart of a
1,000,000-step history reads a few thousand rows instead of a million.
"""

from __future__ import annotations

from django.db import models


class LifecycleStage(models.TextChoices):
    ACTIVE = "active"
    DELETED = "deleted"


class Experiment(models.Model):
    """An MLflow experiment; id 0 is the ``Default`` experiment that fluent ``mlflow.start_run()`` logs to."""

    id = models.BigAutoField(primary_key=True)
    # Names of deleted experiments stay reserved until purged, as in MLflow.
    name = models.CharField(max_length=500, unique=True)
    artifact_location = models.TextField()
    lifecycle_stage = models.CharField(max_length=32, choices=LifecycleStage.choices, default=LifecycleStage.ACTIVE)
    creation_time = models.BigIntegerField()
    last_update_time = models.BigIntegerField()
    deleted_time = models.BigIntegerField(null=True, blank=True)
    deleted_by = models.CharField(max_length=256, blank=True, default="")
    # The experiment's retention rule: its deleted runs, logged models (and itself) are purged this many days after
    # their deletion by the periodic purge; NULL keeps them until someone purges them (or STUDIO_TRASH_RETENTION_DAYS).
    trash_retention_days = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["lifecycle_stage", "last_update_time"])]

    def __str__(self) -> str:
        return self.name


class ExperimentTag(models.Model):
    """A key/value tag on an experiment."""

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="tags")
    key = models.CharField(max_length=250)
    value = models.TextField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["experiment", "key"], name="uniq_experiment_tag")]

    def __str__(self) -> str:
        return f"{self.key}={self.value}"


class RunStatus(models.TextChoices):
    RUNNING = "RUNNING"
    SCHEDULED = "SCHEDULED"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"


class Run(models.Model):
    """An MLflow run; its id is a 32-character hex uuid."""

    run_uuid = models.CharField(max_length=32, primary_key=True)
    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="runs")
    name = models.CharField(max_length=250, blank=True, default="")
    user_id = models.CharField(max_length=256, blank=True, default="")
    status = models.CharField(max_length=20, choices=RunStatus.choices, default=RunStatus.RUNNING)
    start_time = models.BigIntegerField(null=True, blank=True)
    end_time = models.BigIntegerField(null=True, blank=True)
    lifecycle_stage = models.CharField(max_length=32, choices=LifecycleStage.choices, default=LifecycleStage.ACTIVE)
    artifact_uri = models.TextField(blank=True, default="")
    deleted_time = models.BigIntegerField(null=True, blank=True)
    deleted_by = models.CharField(max_length=256, blank=True, default="")

    class Meta:
        indexes = [
            models.Index(fields=["experiment", "lifecycle_stage", "start_time"]),
            # The experiments page's "last activity": the latest end time of each experiment's runs, from the index.
            models.Index(fields=["experiment", "end_time"], name="run_experiment_end_time"),
        ]

    def __str__(self) -> str:
        return self.name or self.run_uuid


class Param(models.Model):
    """A run parameter; immutable once logged."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="params")
    key = models.CharField(max_length=250)
    value = models.TextField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "key"], name="uniq_run_param")]

    def __str__(self) -> str:
        return f"{self.key}={self.value}"


class RunTag(models.Model):
    """A key/value tag on a run (``mlflow.runName``, ``mlflow.parentRunId``, ``mlflow.note.content``, ...)."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="tags")
    key = models.CharField(max_length=250)
    value = models.TextField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "key"], name="uniq_run_tag")]

    def __str__(self) -> str:
        return f"{self.key}={self.value}"


class MetricSeries(models.Model):
    """One metric key of one run: the latest value (highest step, then timestamp) and the history's extent."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="metric_series")
    key = models.CharField(max_length=250)
    # NULL is NaN: SQLite cannot store NaN, and NULL makes every comparison false, which is what a filter wants.
    value = models.FloatField(null=True)
    timestamp = models.BigIntegerField()
    step = models.BigIntegerField()
    count = models.BigIntegerField(default=0)
    min_step = models.BigIntegerField()
    max_step = models.BigIntegerField()

    class Meta:
        verbose_name_plural = "metric series"
        constraints = [models.UniqueConstraint(fields=["run", "key"], name="uniq_run_metric")]
        indexes = [models.Index(fields=["key", "value"], name="series_key_value")]

    def __str__(self) -> str:
        return self.key


class MetricPoint(models.Model):
    """One logged metric value: the full history of a series."""

    # The unique (series, step, timestamp, value) index serves lookups by series; a second index would only slow writes.
    series = models.ForeignKey(MetricSeries, on_delete=models.CASCADE, related_name="points", db_index=False)
    step = models.BigIntegerField()
    timestamp = models.BigIntegerField()
    value = models.FloatField(null=True)

    class Meta:
        # Also MLflow's dedupe rule: logging the same (step, timestamp, value) twice keeps one point.
        constraints = [
            models.UniqueConstraint(fields=["series", "step", "timestamp", "value"], name="uniq_metric_point")
        ]

    def __str__(self) -> str:
        return f"{self.step}: {self.value}"


class MetricBucket(models.Model):
    """Min, max and last value of a series over steps ``[bucket * 8**level, (bucket + 1) * 8**level)``."""

    pk = models.CompositePrimaryKey("series", "level", "bucket")
    series = models.ForeignKey(MetricSeries, on_delete=models.CASCADE, related_name="buckets", db_index=False)
    level = models.SmallIntegerField()
    bucket = models.BigIntegerField()
    min_value = models.FloatField(null=True)
    max_value = models.FloatField(null=True)
    last_step = models.BigIntegerField()
    last_timestamp = models.BigIntegerField()
    last_value = models.FloatField(null=True)
    count = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"L{self.level}#{self.bucket}"


class Dataset(models.Model):
    """A dataset logged with ``mlflow.log_input``; unique per experiment by name and digest."""

    dataset_uuid = models.CharField(max_length=36, primary_key=True)
    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="datasets")
    name = models.CharField(max_length=500)
    digest = models.CharField(max_length=36)
    source_type = models.CharField(max_length=36)
    source = models.TextField()
    schema = models.TextField(blank=True, default="")
    profile = models.TextField(blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["experiment", "name", "digest"], name="uniq_dataset_per_experiment")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.digest})"


class DatasetInput(models.Model):
    """A dataset used by a run, with the input tags (``mlflow.data.context`` and others)."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="dataset_inputs")
    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="inputs")
    tags = models.JSONField(default=list)
    context = models.CharField(max_length=500, blank=True, default="")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "dataset"], name="uniq_run_dataset")]

    def __str__(self) -> str:
        return f"{self.run_id} <- {self.dataset_id}"


class LoggedModelStatus(models.TextChoices):
    PENDING = "LOGGED_MODEL_PENDING"
    READY = "LOGGED_MODEL_READY"
    UPLOAD_FAILED = "LOGGED_MODEL_UPLOAD_FAILED"


class LoggedModel(models.Model):
    """An MLflow 3 logged model (``m-<32 hex>``), with its own artifact root under its experiment."""

    model_id = models.CharField(max_length=40, primary_key=True)
    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="logged_models")
    name = models.CharField(max_length=500)
    source_run = models.ForeignKey(
        Run, on_delete=models.SET_NULL, null=True, blank=True, related_name="logged_models", db_constraint=False
    )
    model_type = models.CharField(max_length=500, blank=True, default="")
    status = models.CharField(max_length=40, choices=LoggedModelStatus.choices, default=LoggedModelStatus.PENDING)
    status_message = models.TextField(blank=True, default="")
    artifact_uri = models.TextField()
    creation_timestamp_ms = models.BigIntegerField()
    last_updated_timestamp_ms = models.BigIntegerField()
    lifecycle_stage = models.CharField(max_length=32, choices=LifecycleStage.choices, default=LifecycleStage.ACTIVE)
    deleted_time = models.BigIntegerField(null=True, blank=True)
    deleted_by = models.CharField(max_length=256, blank=True, default="")

    class Meta:
        indexes = [models.Index(fields=["experiment", "creation_timestamp_ms"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.model_id})"


class LoggedModelTag(models.Model):
    """A tag on a logged model (``mlflow.modelVersions`` among them)."""

    model = models.ForeignKey(LoggedModel, on_delete=models.CASCADE, related_name="tags")
    key = models.CharField(max_length=250)
    value = models.TextField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["model", "key"], name="uniq_logged_model_tag")]

    def __str__(self) -> str:
        return f"{self.key}={self.value}"


class LoggedModelParam(models.Model):
    """A parameter of a logged model."""

    model = models.ForeignKey(LoggedModel, on_delete=models.CASCADE, related_name="params")
    key = models.CharField(max_length=250)
    value = models.TextField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["model", "key"], name="uniq_logged_model_param")]

    def __str__(self) -> str:
        return f"{self.key}={self.value}"


class LoggedModelMetric(models.Model):
    """A metric logged with a ``model_id`` (MLflow 3 links run metrics to the model they describe)."""

    model = models.ForeignKey(LoggedModel, on_delete=models.CASCADE, related_name="metrics", db_constraint=False)
    # SET_NULL: purging the run that logged a metric must not take the metric from a model that lives on.
    run = models.ForeignKey(Run, on_delete=models.SET_NULL, related_name="+", null=True, db_constraint=False)
    key = models.CharField(max_length=250)
    value = models.FloatField(null=True)
    timestamp = models.BigIntegerField()
    step = models.BigIntegerField()
    dataset_name = models.CharField(max_length=500, blank=True, default="")
    dataset_digest = models.CharField(max_length=36, blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["model", "key", "step", "timestamp", "run", "dataset_name", "dataset_digest"],
                name="uniq_logged_model_metric",
            )
        ]

    def __str__(self) -> str:
        return f"{self.key}={self.value}"


class RunModelLink(models.Model):
    """A logged model a run produced (``runs/outputs``) or consumed (``runs/log-inputs`` models)."""

    class Direction(models.TextChoices):
        INPUT = "input"
        OUTPUT = "output"

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="model_links")
    model_id = models.CharField(max_length=40)
    direction = models.CharField(max_length=8, choices=Direction.choices)
    step = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "model_id", "direction"], name="uniq_run_model_link")]

    def __str__(self) -> str:
        return f"{self.run_id} {self.direction} {self.model_id}"


class StorageKind(models.TextChoices):
    RUN = "run"
    LOGGED_MODEL = "logged_model"
    MODEL_VERSION = "model_version"


class StorageUsage(models.Model):
    """The bytes and files under one artifact root Studio manages (a run's, a logged model's, a registered version's).

    Kept current without walking the store on page views: a write or delete through Studio marks the row ``stale``
    and a rescan of that root alone brings it up to date; a periodic walk of the whole store catches what bypassed
    Studio. Owners are plain ids (no foreign keys): a row outlives nothing, a purge deletes it with its root.
    """

    path = models.CharField(max_length=1024, unique=True)  # the root's store path
    kind = models.CharField(max_length=20, choices=StorageKind.choices)
    owner_id = models.CharField(max_length=64)
    experiment_id = models.BigIntegerField(null=True, blank=True)
    label = models.CharField(max_length=500, blank=True, default="")
    bytes = models.BigIntegerField(default=0)
    files = models.BigIntegerField(default=0)
    stale = models.BooleanField(default=True)
    scanned_at = models.BigIntegerField(null=True, blank=True)  # ms

    class Meta:
        indexes = [
            models.Index(fields=["kind", "owner_id"], name="usage_owner"),
            models.Index(fields=["experiment_id", "bytes"], name="usage_experiment_bytes"),
            models.Index(fields=["kind", "bytes"], name="usage_kind_bytes"),
            models.Index(fields=["stale"], name="usage_stale", condition=models.Q(stale=True)),
        ]

    def __str__(self) -> str:
        return self.path


class StoredFile(models.Model):
    """One of the largest files of a root (a rescan keeps its root's largest ones), for "largest artifacts first"."""

    usage = models.ForeignKey(StorageUsage, on_delete=models.CASCADE, related_name="largest_files")
    path = models.TextField()  # relative to the root
    size = models.BigIntegerField()
    experiment_id = models.BigIntegerField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["size"], name="stored_file_size"),
            models.Index(fields=["experiment_id", "size"], name="stored_file_experiment_size"),
        ]

    def __str__(self) -> str:
        return self.path
