"""Operator actions on many tasks at once (the admin's bulk actions).

Each action is the operator function of the same name (``operations``) applied
to every task, so a task changes exactly as that RPC method would change it,
with the acting user recorded. Tasks go in batches, one transaction per batch
(retried as a whole on a PostgreSQL deadlock); inside a batch the tasks are
taken in id order, so two bulk actions lock rows in the same order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from .base import Ctx, operation
from .operations import disable_task, forgive_failures, mark_as_done, re_enable_task

BATCH_SIZE = 500

ACTIONS: dict[str, Callable[..., Any]] = {
    "re_enable_task": re_enable_task,
    "forgive_failures": forgive_failures,
    "mark_as_done": mark_as_done,
    "disable_task": disable_task,
}


@dataclass(frozen=True)
class BulkResult:
    """How many tasks were asked for, and how many of them changed status."""

    selected: int
    changed: int

    @property
    def unchanged(self) -> int:
        return self.selected - self.changed


@operation
def _batch(
    ctx: Ctx, action: Callable[..., Any], task_ids: list[str], user: str | None
) -> list[Ctx]:
    """One transaction; each task with its own context, so its changes are its own
    (they are in it once the transaction's outbox rows are written, at its end)."""
    contexts = []
    for task_id in task_ids:
        one = Ctx(now=ctx.now, config=ctx.config)
        action(one, task_id=task_id, user=user)
        contexts.append(one)
    return contexts


def apply(
    action: str,
    task_ids: Iterable[str],
    *,
    user: str | None = None,
    ctx: Ctx | None = None,
    batch_size: int = BATCH_SIZE,
) -> BulkResult:
    """Apply one operator action to every task id; a fresh clock reading per batch
    unless ``ctx`` is given (tests), whose ``changes`` then collects every change."""
    func = ACTIONS.get(action)
    if func is None:
        raise ValueError(f"unknown bulk action {action!r}; expected one of {sorted(ACTIONS)}")
    ids = sorted(set(task_ids))
    changed = 0
    for start in range(0, len(ids), batch_size):
        part = ids[start : start + batch_size]
        batch_ctx = Ctx.make() if ctx is None else Ctx(now=ctx.now, config=ctx.config)
        changes = [c for one in _batch(batch_ctx, func, part, user) for c in one.changes]
        # Only the selected tasks count (a batch's members may change along).
        changed += len({c.task_id for c in changes} & set(part))
        if ctx is not None:
            ctx.changes.extend(changes)
    return BulkResult(selected=len(ids), changed=changed)
