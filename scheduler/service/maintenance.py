"""The maintenance pass (spec §4.2): dead workers, dead runners, orphans,
automatic re-enable, retries, deletion.

luigid runs it on a 60 s timer inside its one process. Here any server process
may run it: ``prune_if_due`` runs it lazily when ``prune_interval`` has passed,
and only one process at a time does (the flag row is locked, others skip).
"""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Q

from ..models import RunnableBy, SchedulerFlag, Stakeholder, StatusEvent, Task, Worker
from ..status import Status
from . import counters
from .base import Ctx, is_postgres, logger, note_references, operation
from .transitions import re_enable, set_status, task_deleted


def prune(ctx: Ctx) -> dict[str, int]:
    """One maintenance pass in the caller's transaction; returns what it did."""
    note_references()  # it may delete workers and tasks that foreign keys point to
    config = ctx.config
    stats = {"workers": 0, "dead_runner": 0, "re_enabled": 0, "retried": 0, "removed": 0}

    # Lock the silent workers' rows, skipping any that a live call holds right now:
    # a worker calling in meanwhile touches its row first, so it is either still
    # silent when deleted here, or this pass leaves it alone.
    silent = Worker.objects.filter(last_active__lt=ctx.now - config.worker_disconnect_delay)
    if is_postgres():
        silent = silent.select_for_update(skip_locked=True)
    dead_workers = list(silent.values_list("worker_id", flat=True))
    if dead_workers:
        logger.info(
            "removing %d workers silent for %ss", len(dead_workers), config.worker_disconnect_delay
        )
        affected = list(
            RunnableBy.objects.filter(worker_id__in=dead_workers)
            .values_list("task_id", flat=True)
            .distinct()
        )
        Worker.objects.filter(pk__in=dead_workers).delete()
        counters.recount(affected)
        stats["workers"] = len(dead_workers)

    assistants = [
        w.worker_id for w in Worker.objects.all().only("worker_id", "info") if w.assistant
    ]
    runner_is_stakeholder = Stakeholder.objects.filter(
        task_id=OuterRef("pk"), worker_id=OuterRef("worker_running")
    )
    dead_runs = (
        Task.objects.select_for_update()
        .filter(status__in=[Status.RUNNING, Status.BATCH_RUNNING], worker_running__isnull=False)
        .exclude(Exists(runner_is_stakeholder))
        .exclude(worker_running__in=assistants)
    )
    for task in dead_runs:
        runner = task.worker_running
        task.worker_running = None
        task.save(update_fields=["worker_running"])
        set_status(ctx, task, Status.FAILED, cause="worker disconnected", worker=runner)
        stats["dead_runner"] += 1

    has_stakeholder = Stakeholder.objects.filter(task_id=OuterRef("pk"))
    Task.objects.filter(remove_at__isnull=True).exclude(status=Status.RUNNING).exclude(
        Exists(has_stakeholder)
    ).update(remove_at=ctx.now + config.remove_delay)

    expired = Task.objects.select_for_update().filter(
        status=Status.DISABLED,
        scheduler_disable_time__isnull=False,
        scheduler_disable_time__lt=ctx.now - config.disable_persist,
    )
    for task in expired:
        re_enable(ctx, task, cause="disable_persist expired")
        stats["re_enabled"] += 1

    if config.retry_delay >= 0:
        for task in Task.objects.select_for_update().filter(
            status=Status.FAILED, retry_at__lt=ctx.now
        ):
            set_status(ctx, task, Status.PENDING, cause="retry_delay passed")
            stats["retried"] += 1

    doomed = Task.objects.select_for_update().filter(
        Q(remove_at__isnull=False) & Q(remove_at__lte=ctx.now)
    )
    linked = False
    for task in doomed:
        task_deleted(task)
        linked = linked or task.n_workers > 0
        task.delete()
        stats["removed"] += 1
    if linked:
        counters.recount([])
    stats["events"] = _trim_events(ctx.now - config.event_retention)
    if any(stats.values()):
        logger.info("maintenance pass: %s", stats)
    return stats


def _trim_events(before: float, batch: int = 5000) -> int:
    """Delete outbox rows older than `before`, a bounded batch per pass."""
    oldest = list(
        StatusEvent.objects.filter(at__lt=before)
        .order_by("id")
        .values_list("id", flat=True)[:batch]
    )
    if oldest:
        StatusEvent.objects.filter(id__lte=oldest[-1], at__lt=before).delete()
    return len(oldest)


@operation
def prune_now(ctx: Ctx) -> dict[str, int]:
    stats = prune(ctx)
    SchedulerFlag.objects.update_or_create(pk=SchedulerFlag.LAST_PRUNE, defaults={"value": ctx.now})
    return stats


@operation
def prune_if_due(ctx: Ctx, force: bool = False) -> bool:
    """Run the pass if prune_interval has passed since the last one (by any process)."""
    SchedulerFlag.objects.get_or_create(pk=SchedulerFlag.LAST_PRUNE, defaults={"value": 0})
    rows = SchedulerFlag.objects.filter(pk=SchedulerFlag.LAST_PRUNE)
    if is_postgres():
        rows = rows.select_for_update(skip_locked=True)
    row = rows.first()
    if row is None:
        return False  # another process is pruning right now
    if not force and ctx.now - float(row.value or 0) < ctx.config.prune_interval:
        return False
    prune(ctx)
    row.value = ctx.now
    row.save(update_fields=["value"])
    return True
