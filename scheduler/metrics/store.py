"""Luigi's task metrics, kept in the database so every process counts into them.

``task_status_changed`` (inside the transaction) computes what a change adds;
the write is one upsert statement, the last of the scheduler operation's
transaction (so a rolled-back change counts nothing, a committed one is never
lost, and the counter rows stay locked only while that transaction commits).
Changes made outside a scheduler operation are added after their commit.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from django.db import transaction

from ..service import sql
from ..service.base import operation_scope
from ..status import Status
from .models import MetricValue

logger = logging.getLogger(__name__)

STARTED = "luigi_task_started_total"
DONE = "luigi_task_done_total"
FAILED = "luigi_task_failed_total"
DISABLED = "luigi_task_disabled_total"
EXECUTION_TIME = "luigi_task_execution_time_seconds"
DURATION = "pipelines_task_duration_seconds"
COUNTERS = (STARTED, DONE, FAILED, DISABLED)

# Upper bounds (seconds) of the task duration histogram.
DURATION_BUCKETS = (1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400, math.inf)

# After the worker counters (scheduler.service.counters.FLUSH_RANK): one lock order.
METRICS_RANK = 1

_FINISHED = {Status.DONE: DONE, Status.FAILED: FAILED, Status.DISABLED: DISABLED}
_RAN = {Status.RUNNING, Status.BATCH_RUNNING}


def bucket_label(bound: float) -> str:
    return "+Inf" if math.isinf(bound) else repr(float(bound))


def increments(
    old_status: str, new_status: str, cause: str, at: float, time_running: float | None
) -> list[tuple[str, str, float]]:
    """(metric, bucket, amount) a status change adds; as Luigi's Prometheus collector:
    started when get_work hands a task out, one counter per finishing status, and
    the execution time only for tasks that ran."""
    rows: list[tuple[str, str, float]] = []
    if new_status == Status.RUNNING and cause == "get_work":
        rows.append((STARTED, "", 1))
    finished = _FINISHED.get(new_status)
    if finished is None:
        return rows
    rows.append((finished, "", 1))
    if old_status in _RAN and time_running is not None:
        seconds = max(0.0, at - time_running)
        rows.append((EXECUTION_TIME, "", seconds))
        bound = next(b for b in DURATION_BUCKETS if seconds <= b)
        rows.append((DURATION, bucket_label(bound), 1))
        rows.append((DURATION, "sum", seconds))
    return rows


def on_status_changed(sender: Any, change: Any, task: Any = None, **_: Any) -> None:
    """Receiver of ``scheduler.signals.task_status_changed``.

    Inside a scheduler operation the increments are added by one statement at the
    end of its transaction (committed with the change, no commit of their own);
    otherwise after the commit."""
    rows = increments(
        change.old_status,
        change.new_status,
        change.cause,
        change.at,
        getattr(task, "time_running", None),
    )
    if not rows:
        return
    family = change.family or ""
    scope = operation_scope()
    if scope is None:
        transaction.on_commit(lambda: add([(family, rows)]), robust=True)
        return
    pending = scope.data.get(__name__)
    if pending is None:
        pending = scope.data[__name__] = []
        scope.before_commit(lambda: add(pending), rank=METRICS_RANK)
    pending.append((family, rows))


def add(entries: list[tuple[str, list[tuple[str, str, float]]]]) -> None:
    """Add to counters and buckets, set the gauge: one statement, rows in key order
    (two transactions adding to the same rows take their locks in one order)."""
    merged: dict[tuple[str, str, str], float] = {}
    for family, rows in entries:
        for name, bucket, amount in rows:
            key = (name, family, bucket)
            merged[key] = amount if name == EXECUTION_TIME else merged.get(key, 0) + amount
    table = sql.table(MetricValue)
    values = ", ".join(["(%s, %s, %s, %s)"] * len(merged))
    params: list[Any] = []
    for (name, family, bucket), amount in sorted(merged.items()):
        params += [name, family, bucket, amount]
    sql.send(
        f"INSERT INTO {table} (name, family, bucket, value) VALUES {values} "
        "ON CONFLICT (name, family, bucket) DO UPDATE SET value = CASE "
        f"WHEN {table}.name = %s THEN excluded.value "
        f"ELSE {table}.value + excluded.value END",
        [*params, EXECUTION_TIME],
    )
