"""Task history: runs and their events, written with every status change.

The model (Luigi keeps one row per task id with every event; we keep one row per
attempt, so durations and success rates mean something):

- A **run** is one attempt at a task. It opens with the first event of a task id
  that does not belong to the task's latest run, and it *starts* at the
  transition into RUNNING (or BATCH_RUNNING), which sets ``started_at``, host
  and worker.
- Events before a start (PENDING, an operator's forgive, a retry) belong to the
  run they lead up to: they open a run that has not started yet, and the next
  RUNNING starts that same run.
- Once started, a run collects every following event until a later PENDING or
  RUNNING opens the next run. Leaving RUNNING *ends* the run: ``ended_at``,
  ``outcome`` (DONE, FAILED, DISABLED, or PENDING when the run was lost) and
  ``duration``. Later events (an operator's mark-as-done after a failure) still
  join it and change ``status`` but not ``outcome``.
- A task reported DONE without running here (already complete) gets a run that
  never started: it has events and a status but no start, end or duration.

Times are floats, seconds since the epoch on the scheduler's clock (as in
``scheduler.models``), so the recorder stores them unconverted and durations are
plain subtraction in SQL; pages and the API show them as dates.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from .formatting import moment

ID_LENGTH = 1024
RUNNING_STATUSES = ("RUNNING", "BATCH_RUNNING")


class Run(models.Model):
    id = models.BigAutoField(primary_key=True)
    task_id = models.CharField(max_length=ID_LENGTH)
    family = models.CharField(max_length=255, blank=True, default="")
    # The task's public parameters when the run was opened.
    params = models.JSONField(default=dict, blank=True)
    host = models.CharField(max_length=255, null=True, blank=True)
    worker = models.CharField(max_length=ID_LENGTH, null=True, blank=True)
    # The task's status after the run's latest event.
    status = models.CharField(max_length=16)
    # The status the run left RUNNING for (null while running or never started).
    outcome = models.CharField(max_length=16, null=True, blank=True)
    # The task's `expl` when a worker reported the run FAILED (or auto-disabled).
    error = models.TextField(null=True, blank=True)
    opened_at = models.FloatField()
    updated_at = models.FloatField()
    started_at = models.FloatField(null=True, blank=True)
    ended_at = models.FloatField(null=True, blank=True)
    # Seconds from started_at to ended_at.
    duration = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["-updated_at", "-id"]
        indexes = [
            # The recorder's hot lookup: the latest run of a task id.
            models.Index(fields=["task_id", "-id"], name="pl_history_run_task_latest"),
            # /history (newest first) and retention pruning (oldest first).
            models.Index(fields=["updated_at", "id"], name="pl_history_run_updated"),
            models.Index(fields=["family", "-updated_at"], name="pl_history_run_family"),
            # Percentiles of a family's successful durations (ORDER BY duration OFFSET k).
            models.Index(
                fields=["family", "outcome", "duration"],
                name="pl_history_run_family_duration",
                condition=Q(duration__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"run #{self.id} of {self.task_id}"

    # The times as aware datetimes, for templates and serializers.
    opened = property(lambda self: moment(self.opened_at))
    updated = property(lambda self: moment(self.updated_at))
    started = property(lambda self: moment(self.started_at))
    ended = property(lambda self: moment(self.ended_at))


class Event(models.Model):
    """One status change of a task, in the run it belongs to."""

    id = models.BigAutoField(primary_key=True)
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="events")
    at = models.FloatField()
    old_status = models.CharField(max_length=16)
    status = models.CharField(max_length=16)
    # What made the change: add_task, get_work, mark_as_done, retry_delay passed, ...
    cause = models.CharField(max_length=64)
    worker = models.CharField(max_length=ID_LENGTH, null=True, blank=True)
    host = models.CharField(max_length=255, null=True, blank=True)
    # The operator who acted (admin or dashboard actions), else null.
    user = models.CharField(max_length=150, null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["run", "id"], name="pl_history_event_run")]

    def __str__(self) -> str:
        return f"{self.old_status} -> {self.status} ({self.cause})"

    time = property(lambda self: moment(self.at))
