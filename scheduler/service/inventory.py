"""Workers and resources as the REST API lists them, in a fixed number of queries."""

from __future__ import annotations

from collections.abc import Sequence

from ..models import Task, Worker
from ..status import ACTIVE, Status
from .base import Ctx
from .registry import capacities
from .sql import chunks


def worker_items(ctx: Ctx, workers: Sequence[Worker]) -> list[dict]:
    """Workers with the tasks each is running (one query per 5,000 workers)."""
    running: dict[str, list[str]] = {}
    for part in chunks(w.worker_id for w in workers):
        rows = (
            Task.objects.filter(worker_running__in=part, status__in=list(ACTIVE))
            .order_by("task_id")
            .values_list("worker_running", "task_id")
        )
        for worker_id, task_id in rows:
            running.setdefault(worker_id, []).append(task_id)
    alive_since = ctx.now - ctx.config.worker_disconnect_delay
    return [
        {
            "worker_id": w.worker_id,
            "host": w.host or w.info.get("host"),
            "pid": _int_or_none(w.info.get("pid")),
            "username": w.info.get("username"),
            "first_seen": w.started,
            "last_seen": w.last_active,
            "disabled": w.disabled,
            "processes": w.processes,
            "running": running.get(w.worker_id, []),
            "alive": w.last_active >= alive_since,
        }
        for w in workers
    ]


def resource_items(ctx: Ctx, name: str | None = None) -> list[dict]:
    """Every resource with a limit (configured or set at run time), or only `name`:
    its limit, the amount running tasks hold and which tasks hold it."""
    limits = capacities(ctx)
    names = sorted(limits) if name is None else [name]
    consumers = Task.objects.filter(status=Status.RUNNING, has_resources=True).order_by("task_id")
    running = list(consumers.values_list("task_id", "resources", "resources_running"))
    items = []
    for resource in names:
        holders = [task_id for task_id, wanted, _ in running if resource in (wanted or {})]
        used = sum((held or {}).get(resource, 0) for _, _, held in running)
        items.append(
            {
                "name": resource,
                "limit": limits.get(resource),
                "in_use": used,
                "running": holders,
            }
        )
    return items


def _int_or_none(value: object) -> int | None:
    try:
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return None
