"""The scheduler's state. The database is the one source of truth: nothing about
tasks, workers or resources lives only in a server process's memory.

Times are floats, seconds since the epoch on the server's clock, as in Luigi's
protocol (they go on the wire unchanged).
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.db.models.functions import Left

from .status import Status

ID_LENGTH = 1024


def visible_params(params: dict | None, visibilities: dict | None) -> dict:
    """The public parameters (visibility 0); hidden ones are not shown."""
    visibilities = visibilities or {}
    return {k: v for k, v in (params or {}).items() if visibilities.get(k, 0) == 0}


class Worker(models.Model):
    worker_id = models.CharField(primary_key=True, max_length=ID_LENGTH)
    info = models.JSONField(default=dict, blank=True)
    host = models.CharField(max_length=255, null=True, blank=True)
    started = models.FloatField()
    # Written by nearly every call of the worker: in no index, so that those updates
    # are HOT (PostgreSQL writes no index entry for them). The queries on them
    # (silent workers, recent askers) read the small worker table whole.
    last_active = models.FloatField()
    last_get_work = models.FloatField(null=True, blank=True)
    disabled = models.BooleanField(default=False)
    # Queued RPC messages, handed over (and cleared) on the next ping.
    messages = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-started"]

    def __str__(self) -> str:
        return self.worker_id

    @property
    def assistant(self) -> bool:
        return bool(self.info.get("assistant"))

    @property
    def processes(self) -> int:
        try:
            return int(self.info.get("workers", 1))
        except (TypeError, ValueError):
            return 1

    @property
    def state(self) -> str:
        return "disabled" if self.disabled else "active"


class WorkerCounters(models.Model):
    """count_pending's counters over the tasks a worker may run that are PENDING or
    FAILED, kept current by scheduler.service.counters so get_work does not count
    them anew (upstream-disabled ones are subtracted when asked).

    A table of their own: other workers' status changes update these rows, while a
    worker's own calls update its Worker row, so the two never wait on each other.
    """

    worker = models.OneToOneField(
        Worker, primary_key=True, on_delete=models.CASCADE, related_name="counters"
    )
    n_pending = models.IntegerField(default=0)
    n_unique = models.IntegerField(default=0)
    n_last_scheduled = models.IntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.worker_id}: {self.n_pending}/{self.n_unique}/{self.n_last_scheduled}"


class Task(models.Model):
    task_id = models.CharField(primary_key=True, max_length=ID_LENGTH)
    family = models.CharField(max_length=255, blank=True, default="")
    # Family(k=v, ...) over the public params, sorted: shown and searched.
    display_name = models.TextField(blank=True, default="")
    module = models.CharField(max_length=255, null=True, blank=True)
    # Every parameter a worker sent (hidden and insignificant ones included).
    params = models.JSONField(default=dict, blank=True)
    param_visibilities = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    priority = models.FloatField(default=0)
    resources = models.JSONField(default=dict, blank=True)
    has_resources = models.BooleanField(default=False)
    resources_running = models.JSONField(null=True, blank=True)
    worker_running = models.CharField(max_length=ID_LENGTH, null=True, blank=True)
    time_running = models.FloatField(null=True, blank=True)
    # When the scheduler first saw the task (Luigi's `time`, shown as start_time).
    time = models.FloatField()
    # Last status change.
    updated = models.FloatField()
    # When a FAILED task becomes PENDING again.
    retry_at = models.FloatField(null=True, blank=True)
    # When an orphaned task (no stakeholders) may be deleted.
    remove_at = models.FloatField(null=True, blank=True)
    expl = models.TextField(null=True, blank=True)
    status_message = models.TextField(null=True, blank=True)
    progress_percentage = models.FloatField(null=True, blank=True)
    tracking_url = models.TextField(null=True, blank=True)
    accepts_messages = models.BooleanField(default=False)
    batchable = models.BooleanField(default=False)
    batch_id = models.CharField(max_length=64, null=True, blank=True)
    retry_policy = models.JSONField(default=dict, blank=True)
    # Failure timestamps still inside the disable window.
    failures = models.JSONField(default=list, blank=True)
    first_failure_time = models.FloatField(null=True, blank=True)
    # Set when the scheduler (not a worker) disabled the task.
    scheduler_disable_time = models.FloatField(null=True, blank=True)
    runnable = models.BooleanField(default=False)
    # Dependencies that are missing or not DONE; 0 means the task may be scheduled.
    unmet_deps = models.IntegerField(default=0)
    # How many workers may run it, and which one was added last (RunnableBy). Every
    # registration by another worker changes both: in no index, so that it is a
    # HOT update when nothing else changes.
    n_workers = models.IntegerField(default=0)
    last_worker = models.CharField(max_length=ID_LENGTH, null=True, blank=True)
    message_responses = models.JSONField(default=dict, blank=True)

    class Meta:
        indexes = [
            # get_work: ready PENDING tasks, highest priority first, then oldest.
            models.Index(
                "unmet_deps",
                models.F("priority").desc(),
                "time",
                "task_id",
                name="pl_task_ready_rank",
                condition=Q(status=Status.PENDING),
            ),
            models.Index(fields=["status", "updated"], name="pl_task_status_updated"),
            # get_work's "does any PENDING task need resources": a tiny index that no
            # plan passes over for a walk of every PENDING task.
            models.Index(
                fields=["status"], name="pl_task_needs_resources", condition=Q(has_resources=True)
            ),
            models.Index(
                fields=["worker_running"],
                name="pl_task_worker_running",
                condition=Q(status__in=[Status.RUNNING, Status.BATCH_RUNNING]),
            ),
            models.Index(
                fields=["remove_at"], name="pl_task_remove_at", condition=Q(remove_at__isnull=False)
            ),
            models.Index(
                fields=["retry_at"], name="pl_task_retry_at", condition=Q(status=Status.FAILED)
            ),
            # The REST API's task list orderings (the list must not sort every task).
            models.Index(fields=["updated", "task_id"], name="pl_task_updated"),
            models.Index(fields=["priority", "task_id"], name="pl_task_priority"),
            # A prefix: a btree entry has a size limit, a display name has none.
            models.Index(Left("display_name", 200), "task_id", name="pl_task_name"),
            # Declared here rather than with db_index, which on PostgreSQL adds a
            # second (LIKE) index per text column that no query uses: every index is
            # written on each insert, and on each update that is not HOT.
            models.Index(fields=["family"], name="pl_task_family"),
            # Partial, so that most rows are in neither: a status change is never a
            # HOT update (the status is indexed), and it writes every index that the
            # row's new version is in.
            models.Index(
                fields=["batch_id"], name="pl_task_batch", condition=Q(batch_id__isnull=False)
            ),
        ]
        permissions = [
            (
                "operate_scheduler",
                "Can operate the scheduler (re-enable, retry, mark done, disable)",
            ),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(unmet_deps__gte=0), name="pl_task_unmet_deps_gte_0"),
            models.CheckConstraint(
                condition=Q(status__in=Status.values), name="pl_task_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.task_id

    @property
    def public_params(self) -> dict:
        return visible_params(self.params, self.param_visibilities)

    def pretty_id(self) -> str:
        params = self.public_params
        inner = ", ".join(f"{k}={params[k]}" for k in sorted(params))
        return f"{self.family}({inner})"

    @property
    def re_enable_able(self) -> bool:
        return self.status == Status.DISABLED and self.scheduler_disable_time is not None


class Dependency(models.Model):
    """An edge: `task` requires `dep_id` (which may not be registered yet)."""

    # Indexed by the unique constraint's (task, dep_id).
    task = models.ForeignKey(
        Task, on_delete=models.CASCADE, related_name="dep_edges", db_index=False
    )
    dep_id = models.CharField(max_length=ID_LENGTH)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["task", "dep_id"], name="pl_dependency_unique"),
        ]
        indexes = [models.Index(fields=["dep_id"], name="pl_dependency_dep_id")]

    def __str__(self) -> str:
        return f"{self.task_id} -> {self.dep_id}"


class Stakeholder(models.Model):
    """A worker that cares about a task; a task with stakeholders is never pruned."""

    # Indexed by the unique constraint's (task, worker) and by pl_stakeholder_worker.
    task = models.ForeignKey(
        Task, on_delete=models.CASCADE, related_name="stakeholder_links", db_index=False
    )
    worker = models.ForeignKey(
        Worker, on_delete=models.CASCADE, related_name="stakes", db_index=False
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["task", "worker"], name="pl_stakeholder_unique"),
        ]
        indexes = [models.Index(fields=["worker"], name="pl_stakeholder_worker")]

    def __str__(self) -> str:
        return f"{self.worker_id} cares about {self.task_id}"


class RunnableBy(models.Model):
    """A worker allowed to run a task (Luigi's task.workers and the worker's task set).

    The auto id keeps Luigi's insertion order of task.workers.
    """

    # Indexed by the unique constraint's (task, worker) and by (worker, task).
    task = models.ForeignKey(
        Task, on_delete=models.CASCADE, related_name="runnable_links", db_index=False
    )
    worker = models.ForeignKey(
        Worker, on_delete=models.CASCADE, related_name="runnable_links", db_index=False
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["task", "worker"], name="pl_runnable_unique"),
        ]
        indexes = [models.Index(fields=["worker", "task"], name="pl_runnable_worker_task")]

    def __str__(self) -> str:
        return f"{self.worker_id} may run {self.task_id}"


class Batcher(models.Model):
    """A worker's batching settings for a task family (add_task_batcher)."""

    worker = models.ForeignKey(Worker, on_delete=models.CASCADE, related_name="batchers")
    family = models.CharField(max_length=255)
    batched_args = models.JSONField(default=list)
    # None means unlimited (Luigi's Infinity).
    max_batch_size = models.IntegerField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["worker", "family"], name="pl_batcher_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.worker_id}: {self.family}"


class Resource(models.Model):
    """A resource capacity set at run time; overrides the configured one."""

    name = models.CharField(primary_key=True, max_length=255)
    amount = models.IntegerField()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=0), name="pl_resource_amount_gte_0"),
        ]

    def __str__(self) -> str:
        return f"{self.name}={self.amount}"


class SchedulerFlag(models.Model):
    """Small global state: the pause flag, the time of the last maintenance pass,
    and a row that serialises resource-aware claims on PostgreSQL."""

    name = models.CharField(primary_key=True, max_length=64)
    value = models.JSONField(default=None, null=True)

    PAUSED = "paused"
    LAST_PRUNE = "last_prune"
    RESOURCE_LOCK = "resource_lock"

    def __str__(self) -> str:
        return f"{self.name}={self.value!r}"


class StatusEvent(models.Model):
    """Every status change, written at the end of the transaction that makes it (an
    outbox; see ``service.outbox``).

    The id orders the events; live views tail this table to learn of changes made
    by any process, and catch up after a reconnect. Old rows are pruned.
    """

    id = models.BigAutoField(primary_key=True)
    at = models.FloatField()
    task_id = models.CharField(max_length=ID_LENGTH)
    family = models.CharField(max_length=255, blank=True, default="")
    old_status = models.CharField(max_length=16)
    new_status = models.CharField(max_length=16)
    cause = models.CharField(max_length=64)
    worker = models.CharField(max_length=ID_LENGTH, null=True, blank=True)
    host = models.CharField(max_length=255, null=True, blank=True)
    user = models.CharField(max_length=150, null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["task_id", "id"], name="pl_status_event_task")]

    def __str__(self) -> str:
        return f"#{self.id} {self.task_id}: {self.old_status} -> {self.new_status}"


from .auth.models import ApiToken  # noqa: E402, F401  (models of this app kept beside their code)
from .metrics.models import MetricValue  # noqa: E402, F401
