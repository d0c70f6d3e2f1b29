"""Database state owned by the worker side: completion markers for DatabaseTarget."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class TargetMarker(models.Model):
    """One row per completed database output: "``update_id`` has been written to ``target_table``".

    Luigi's SQL targets keep the same kind of marker table (``table_updates``).
    """

    update_id = models.CharField(max_length=512)
    target_table = models.CharField(max_length=255, default="")
    inserted_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["target_table", "update_id"], name="pl_target_marker_unique"
            ),
        ]
        verbose_name = "target marker"

    def __str__(self) -> str:
        where = f" in {self.target_table}" if self.target_table else ""
        return f"{self.update_id}{where}"


class RunState(models.TextChoices):
    """Where a pipeline run is; QUEUED and RUNNING are the active states."""

    #: accepted and handed to django-q2's queue, not picked up yet
    QUEUED = "queued"
    #: a qcluster worker is running ``runworker`` for it
    RUNNING = "running"
    #: ``runworker`` ended with exit code 0
    SUCCEEDED = "succeeded"
    #: ``runworker`` ended with another exit code, or could not be started
    FAILED = "failed"
    #: the process running it went away without a result (found by maintenance)
    LOST = "lost"


ACTIVE_RUN_STATES = (RunState.QUEUED, RunState.RUNNING)


class RunTrigger(models.TextChoices):
    API = "api", "REST API"
    SCHEDULE = "schedule", "schedule"
    MANUAL = "manual", "admin"


class PipelineRun(models.Model):
    """One on-demand or scheduled run of a pipeline: ``runworker`` in a qcluster worker."""

    module = models.CharField(max_length=255)
    family = models.CharField(max_length=255)
    #: task parameters as given ({"date": "2026-11-21", "days": 3})
    params = models.JSONField(default=dict, blank=True)
    workers = models.PositiveSmallIntegerField(default=1)
    trigger = models.CharField(max_length=16, choices=RunTrigger.choices, default=RunTrigger.API)
    schedule = models.ForeignKey(
        "PipelineSchedule",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="runs",
    )
    state = models.CharField(max_length=16, choices=RunState.choices, default=RunState.QUEUED)
    #: runworker's exit code and its [retcode] name ("success", "task_failed", ...)
    exit_code = models.IntegerField(null=True, blank=True)
    outcome = models.CharField(max_length=64, blank=True, default="")
    requested_by = models.CharField(max_length=150, blank=True, default="")
    #: the root task's id (computed as the scheduler computes it), for history links
    root_task_id = models.CharField(max_length=1024, blank=True, default="")
    q_task_id = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    #: the end of runworker's output (summary, errors)
    log_tail = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["state", "created_at"], name="pl_run_state_created")]
        constraints = [
            # Overlap prevention for schedules, in the database: at most one active
            # run per schedule, whichever process tries to start a second one.
            models.UniqueConstraint(
                fields=["schedule"],
                condition=models.Q(state__in=["queued", "running"]),
                name="pl_run_one_active_per_schedule",
            ),
            models.CheckConstraint(
                condition=models.Q(workers__gte=1), name="pl_run_workers_positive"
            ),
        ]
        verbose_name = "pipeline run"

    def __str__(self) -> str:
        return f"#{self.pk} {self.module}.{self.family} ({self.state})"

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_RUN_STATES


class MissedRunPolicy(models.TextChoices):
    """What a schedule does about a time it missed (the cluster was down)."""

    #: run once when the cluster is back, however many times were missed
    #: (systemd's Persistent=true)
    RUN_ONCE = "run_once", "run once on catch-up"
    #: wait for the next time
    SKIP = "skip", "skip missed runs"


class PipelineSchedule(models.Model):
    """A pipeline run on a cron expression or every N minutes, fired by qcluster."""

    name = models.CharField(max_length=100, unique=True)
    module = models.CharField(max_length=255)
    family = models.CharField(max_length=255)
    params = models.JSONField(default=dict, blank=True)
    workers = models.PositiveSmallIntegerField(default=1)
    cron = models.CharField(
        max_length=100, blank=True, default="", help_text='e.g. "0 2 * * *" (in TIME_ZONE)'
    )
    interval_minutes = models.PositiveIntegerField(
        null=True, blank=True, help_text="instead of cron: every N minutes"
    )
    missed = models.CharField(
        max_length=16, choices=MissedRunPolicy.choices, default=MissedRunPolicy.RUN_ONCE
    )
    enabled = models.BooleanField(default=True)
    #: defined in PIPELINES_SCHEDULES (kept in step on migrate) or in the admin
    from_settings = models.BooleanField(default=False, editable=False)
    last_fired_at = models.DateTimeField(null=True, blank=True, editable=False)
    #: what the last firing did: "started run #N", "skipped: ..."
    last_result = models.CharField(max_length=255, blank=True, default="", editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    (~models.Q(cron="") & models.Q(interval_minutes__isnull=True))
                    | (models.Q(cron="") & models.Q(interval_minutes__gte=1))
                ),
                name="pl_schedule_cron_xor_interval",
            ),
            models.CheckConstraint(
                condition=models.Q(workers__gte=1), name="pl_schedule_workers_positive"
            ),
        ]
        verbose_name = "pipeline schedule"

    def __str__(self) -> str:
        return self.name

    @property
    def when(self) -> str:
        return self.cron or f"every {self.interval_minutes} min"

    def clean(self) -> None:
        """Refuse a bad cron expression, both or neither timing, or a run that cannot start."""
        from django.core.exceptions import ValidationError

        from workers.run_requests import RunRequestError, check
        from workers.schedules import validate_cron

        self.cron = (self.cron or "").strip()
        if bool(self.cron) == (self.interval_minutes is not None):
            raise ValidationError("Give either a cron expression or an interval in minutes.")
        if self.cron:
            try:
                validate_cron(self.cron)
            except ValidationError as exc:
                raise ValidationError({"cron": exc.messages}) from None
        if self.interval_minutes is not None and self.interval_minutes < 1:
            raise ValidationError({"interval_minutes": "The interval is at least 1 minute."})
        try:
            check(self.module, self.family, self.params, self.workers)
        except RunRequestError as exc:
            field = {
                "module_not_allowed": "module",
                "unknown_module": "module",
                "unknown_family": "family",
                "bad_parameter": "params",
            }.get(exc.code)
            raise ValidationError({field: exc.message} if field else exc.message) from None
