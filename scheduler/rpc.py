"""Luigi's RPC methods: the explicit registry from method name to service call.

Used by the HTTP view (/api/<method>) and by the in-process client of our own
workers, so both transports behave the same.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import service
from .errors import UnknownMethod
from .models import SchedulerFlag
from .service.base import Ctx
from .service.maintenance import prune_if_due
from .service.registry import flag

# Methods before which the maintenance pass runs if it is due (luigid prunes on a
# timer and before its read methods; with no timer, workers' calls drive it).
_PRUNE_FIRST = {
    "get_work",
    "report_and_get_work",
    "ping",
    "task_list",
    "dep_graph",
    "inverse_dep_graph",
    "graph",
    "task_search",
    "worker_list",
    "resource_list",
}

# Who may call what (scheduler.auth enforces it when authentication is on).
# Reads: the dashboard, Luigi's visualiser and tools (the viewer role).
READ_METHODS = frozenset(
    {
        "get_task_status_message",
        "get_task_progress_percentage",
        "get_running_task_resources",
        "get_scheduler_message_response",
        "task_list",
        "dep_graph",
        "inverse_dep_graph",
        "graph",
        "task_search",
        "fetch_error",
        "worker_list",
        "resource_list",
        "has_task_history",
        "is_pause_enabled",
        "is_paused",
    }
)
# Writes a worker makes while scheduling and running tasks (the worker role).
WORK_METHODS = frozenset(
    {
        "add_task",
        "add_task_batcher",
        "add_worker",
        "announce_scheduling_failure",
        "get_work",
        # A read, but only workers ask it (about themselves).
        "count_pending",
        "ping",
        "set_task_status_message",
        "set_task_progress_percentage",
        "decrease_running_task_resources",
        "report_task_statistics",
        "add_scheduler_message_response",
        # Ours, not Luigi's: a stopping worker hands a running task back,
        # registers many tasks in one call, reports a task and asks for the next.
        "release_task",
        "add_tasks",
        "report_and_get_work",
    }
)
# Writes an operator makes from the visualiser or a script (the operator role).
OPERATE_METHODS = frozenset(
    {
        "send_scheduler_message",
        "re_enable_task",
        "forgive_failures",
        "mark_as_done",
        "disable_worker",
        "set_worker_processes",
        "pause",
        "unpause",
        "update_resource",
        "update_resources",
        "prune",
    }
)
WRITE_METHODS = WORK_METHODS | OPERATE_METHODS

METHODS: dict[str, Callable[..., Any]] = {
    name: getattr(service, name) for name in sorted(READ_METHODS | WRITE_METHODS)
}

# Operator methods that record who acted (the authenticated user, never an argument).
_ATTRIBUTED = {"re_enable_task", "forgive_failures", "mark_as_done"}

# Keys a remote caller may not set: the call context and the operator identity.
_RESERVED = {"ctx", "user"}


class _PruneClock:
    """The last-prune time this process read. Pruning only moves it forward, so
    until it is prune_interval old no process can find a prune due, and calls in
    between need not read it again (one statement less per get_work and ping)."""

    last: float | None = None


def reset_prune_clock() -> None:
    """Forget the last-prune time read (tests that swap databases under a process)."""
    _PruneClock.last = None


def maybe_prune(ctx: Ctx) -> None:
    last = _PruneClock.last
    if last is not None and last <= ctx.now < last + ctx.config.prune_interval:
        return
    last = float(flag(SchedulerFlag.LAST_PRUNE, 0) or 0)
    _PruneClock.last = last
    if ctx.now - last >= ctx.config.prune_interval:
        _PruneClock.last = None  # read again next time: pruning moves it
        prune_if_due(Ctx.make(now=ctx.now, config=ctx.config))


def call(
    method: str, arguments: dict[str, Any], ctx: Ctx | None = None, user: str | None = None
) -> Any:
    func = METHODS.get(method)
    if func is None:
        raise UnknownMethod(f"unknown scheduler method {method!r}")
    ctx = ctx or Ctx.make()
    if method in _PRUNE_FIRST:
        maybe_prune(ctx)
    kwargs = {k: v for k, v in arguments.items() if k not in _RESERVED and k.isidentifier()}
    if user and method in _ATTRIBUTED:
        kwargs["user"] = user
    return func(ctx, **kwargs)
