"""Task registration and reports from running tasks (spec §2.3, §2.5, §3.3)."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidArgument
from ..models import Batcher, Dependency, RunnableBy, Stakeholder, Task
from ..policy import parse_max_batch_size, retry_policy
from ..status import LEGACY_ALIASES, REPORTABLE, Status
from . import counters, sql
from .base import (
    Ctx,
    bounded_str,
    column_length,
    is_postgres,
    lock_for_share,
    lock_task,
    note_references,
    number,
    operation,
    optional_dict,
    optional_str_list,
    require_str,
    resource_amounts,
)
from .pipelining import commit_without_flush
from .registry import (
    deps_with_state,
    remember_touched,
    touch_statement,
    touch_worker,
    touch_worker_disabled,
    touched_disabled,
    worker_disabled,
)
from .transitions import STATUS_FIELDS, set_status


def _status(value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidArgument("status", "a status string is required")
    value = LEGACY_ALIASES.get(value, value)
    if value not in REPORTABLE:
        raise InvalidArgument(
            "status", f"unknown status {value!r}; expected one of {sorted(REPORTABLE)}"
        )
    return value


def _str_dict(name: str, value: Any) -> dict:
    value = optional_dict(name, value) or {}
    return {str(k): v if isinstance(v, str) else str(v) for k, v in value.items()}


@dataclass
class Registration:
    """One add_task call's arguments, checked and normalised."""

    worker_id: str
    task_id: str
    status: str
    runnable: Any
    deps: list[str] | None
    new_deps: list[str] | None
    expl: str | None
    resources: dict[str, int]
    priority: float
    family: str
    module: Any
    params: dict
    visibilities: dict
    accepts_messages: Any
    assistant: Any
    tracking_url: str | None
    batchable: Any
    batch_id: str | None
    policy_dict: dict | None


_FAMILY = column_length(Task, "family")
_MODULE = column_length(Task, "module")
_BATCH_ID = column_length(Task, "batch_id")


def parse_add_task(
    task_id: Any = None,
    status: Any = Status.PENDING,
    runnable: Any = True,
    deps: Any = None,
    new_deps: Any = None,
    expl: Any = None,
    resources: Any = None,
    priority: Any = 0,
    family: Any = "",
    module: Any = None,
    params: Any = None,
    param_visibilities: Any = None,
    accepts_messages: Any = False,
    assistant: Any = False,
    tracking_url: Any = None,
    worker: Any = None,
    batchable: Any = None,
    batch_id: Any = None,
    retry_policy_dict: Any = None,
    owners: Any = None,
    **_: Any,
) -> Registration:
    """add_task's arguments checked (InvalidArgument names the first bad one)."""
    worker_id = require_str("worker", worker)
    task_id = require_str("task_id", task_id)
    status = _status(status)
    deps = optional_str_list("deps", deps)
    new_deps = optional_str_list("new_deps", new_deps)
    resources = resource_amounts("resources", resources)
    priority = number("priority", priority)
    family = "" if family is None else bounded_str("family", family, _FAMILY)
    module = None if module is None else bounded_str("module", module, _MODULE)
    params = _str_dict("params", params)
    visibilities = optional_dict("param_visibilities", param_visibilities) or {}
    policy_dict = optional_dict("retry_policy_dict", retry_policy_dict)
    if expl is not None and not isinstance(expl, str):
        expl = str(expl)
    if tracking_url is not None and not isinstance(tracking_url, str):
        raise InvalidArgument("tracking_url", "a string or null is required")
    if batch_id is not None and not isinstance(batch_id, str):
        raise InvalidArgument("batch_id", "a string or null is required")
    if batch_id is not None:
        batch_id = bounded_str("batch_id", batch_id, _BATCH_ID)
    return Registration(
        worker_id=worker_id,
        task_id=task_id,
        status=status,
        runnable=runnable,
        deps=deps,
        new_deps=new_deps,
        expl=expl,
        resources=resources,
        priority=priority,
        family=family,
        module=module,
        params=params,
        visibilities=visibilities,
        accepts_messages=accepts_messages,
        assistant=assistant,
        tracking_url=tracking_url,
        batchable=batchable,
        batch_id=batch_id,
        policy_dict=policy_dict,
    )


@operation(pipelined=True)
def add_task(ctx: Ctx, **arguments: Any) -> None:
    registration = parse_add_task(**arguments)
    if registration.status == Status.PENDING:
        commit_without_flush()  # a registration, not a report
    register(ctx, registration)


def register(ctx: Ctx, r: Registration) -> None:
    """add_task inside the caller's transaction."""
    worker_id, task_id, status = r.worker_id, r.task_id, r.status
    deps, new_deps, expl, resources = r.deps, r.new_deps, r.expl, r.resources
    priority, family, module, params = r.priority, r.family, r.module, r.params
    visibilities, accepts_messages, assistant = r.visibilities, r.accepts_messages, r.assistant
    tracking_url, batchable, batch_id = r.tracking_url, r.batchable, r.batch_id
    runnable, policy_dict = r.runnable, r.policy_dict

    rules = retry_policy(ctx.config, policy_dict)
    disabled = touched_disabled(worker_id)
    if disabled is None and is_postgres():
        # The worker's last_active is set by the statement that locks the task.
        task, linked, stakeholder, has_deps, disabled = _lock_for_registration(
            task_id, worker_id, touch=ctx
        )
        if disabled is None:  # a new worker
            disabled = worker_disabled(ctx, worker_id)  # remembers it
        else:
            remember_touched(worker_id, disabled)
    else:
        if disabled is None:
            disabled = touch_worker_disabled(ctx, worker_id)
        task, linked, stakeholder, has_deps, _ = _lock_for_registration(task_id, worker_id)
    created = task is None
    loaded = None if created else _values(task)
    if task is None:
        if disabled:
            return
        # A new task has no status yet: the status it is registered with is a
        # change from "" (recorded and pushed like any other).
        task = Task(
            task_id=task_id,
            status="",
            priority=priority,
            time=ctx.now,
            updated=ctx.now,
        )
    elif task.status != Status.RUNNING and disabled:
        return

    if (
        status == Status.PENDING
        and task.status == Status.DONE
        and ctx.now - task.updated < ctx.config.stable_done_cooldown_secs
    ):
        return

    if not task.family:
        task.family = family
    if not task.module:
        task.module = module
    if not task.param_visibilities:
        task.param_visibilities = visibilities
    if not task.params:
        task.params = params
    task.display_name = task.pretty_id()

    if batch_id is not None:
        task.batch_id = batch_id
    if status == Status.RUNNING and not task.worker_running:
        task.worker_running = worker_id
        if batch_id:
            first = (
                Task.objects.filter(batch_id=batch_id, status=Status.BATCH_RUNNING)
                .order_by("time")
                .first()
            )
            if first is not None:
                task.resources_running = dict(first.resources_running or {})
        task.time_running = ctx.now

    if accepts_messages is not None:
        task.accepts_messages = bool(accepts_messages)
    members = None
    if task.batch_id is not None:
        members = Task.objects.filter(batch_id=task.batch_id, status=Status.BATCH_RUNNING)
    if tracking_url is not None or task.status != Status.RUNNING:
        task.tracking_url = tracking_url
        if members is not None:
            members.update(tracking_url=tracking_url)
    if batchable is not None:
        task.batchable = bool(batchable)
    task.remove_at = None
    if expl is not None:
        task.expl = expl
        if members is not None:
            members.update(expl=expl)

    not_running = task.status not in (Status.RUNNING, Status.BATCH_RUNNING)
    started_a_run = status in (Status.DONE, Status.FAILED, Status.RUNNING)
    if not_running or (started_a_run and task.worker_running == worker_id) or new_deps:
        set_status(ctx, task, status, cause="add_task", worker=worker_id, save=False)

    # Dependencies: the current edges with their tasks' status and priority.
    current = deps_with_state(task_id) if has_deps else {}
    wanted = set(current) if deps is None else set(deps)
    wanted |= set(new_deps or [])
    removed = set(current) - wanted
    added = wanted - set(current)
    dep_state = current
    if added or removed:
        locked = lock_for_share(wanted | removed)
        dep_state = {d: locked.get(d) for d in wanted}
        if task_id in dep_state:
            # A task depending on itself: its row (if any) still holds the old status.
            dep_state[task_id] = (task.status, task.priority)
        task.unmet_deps = sum(1 for d in wanted if (dep_state[d] or (None,))[0] != Status.DONE)

    task.resources = resources
    task.has_resources = bool(resources)
    task.retry_policy = rules.as_dict()
    may_run = bool(runnable) and status != Status.FAILED and not disabled
    if may_run:
        task.runnable = True
    task.priority = max(task.priority, priority)
    new_link = may_run and not linked
    if new_link:
        counters.link_added(task, worker_id)
    link = (RunnableBy, ("task", "worker"), [(task_id, worker_id)]) if new_link else None
    if created:
        sql.insert(task)
    else:
        # Re-registrations usually change nothing: then no UPDATE at all. Another
        # worker's changes n_workers and last_worker, and adds its runnable link in
        # the same statement.
        changed = [f for f, v in _values(task).items() if loaded[f] != v]
        if changed:
            sql.save_fields(task, changed, also_insert=link)
            link = None

    if removed:
        Dependency.objects.filter(task_id=task_id, dep_id__in=removed).delete()
    sql.insert_ignore(Dependency, ("task", "dep_id"), [(task_id, d) for d in sorted(added)])
    if link is not None:
        sql.insert_ignore(*link)

    lower = [d for d, state in dep_state.items() if state and state[1] < task.priority]
    if not disabled and not assistant:
        missing = sorted(d for d, state in dep_state.items() if state is None)
        if missing:
            sql.insert_many(
                [
                    Task(
                        task_id=d,
                        status=Status.UNKNOWN,
                        priority=priority,
                        time=ctx.now,
                        updated=ctx.now,
                    )
                    for d in missing
                ],
                ignore_conflicts=True,
            )
            if priority < task.priority:
                lower.extend(missing)
        stakes = [t for t in [task_id, *sorted(wanted)] if t != task_id or not stakeholder]
        sql.insert_ignore(Stakeholder, ("task", "worker"), [(t, worker_id) for t in stakes])
    if lower:
        raise_priority(lower, task.priority)


def _lock_for_registration(
    task_id: str, worker_id: str, touch: Ctx | None = None
) -> tuple[Task | None, bool, bool, bool, bool | None]:
    """The task row, locked (``lock_task``), with what add_task asks of its links in
    the same statement: is ``worker_id`` one of its runnable workers, one of its
    stakeholders, has it dependencies; None and False for a new task. The answers
    hold until commit: links and edges are added under the task's row lock, which
    this statement takes. (Pruning a silent worker removes its links
    without that lock; a pruned worker is registered anew by its next call.)

    With ``touch`` (PostgreSQL), the same statement sets the worker's last_active
    (``touch_statement``), one statement fewer: the last value is whether the
    worker is disabled (for a new task too), None if the worker has no row. The
    task's row may then be locked before the worker's: an operator's
    disable_worker, which holds the worker's row while its recount updates tasks,
    can meet a registration of that worker in a deadlock, which PostgreSQL breaks
    and ``operation`` retries."""
    links = (
        f"EXISTS (SELECT 1 FROM {sql.table(RunnableBy)} r "
        "WHERE r.task_id = t.task_id AND r.worker_id = %s), "
        f"EXISTS (SELECT 1 FROM {sql.table(Stakeholder)} s "
        "WHERE s.task_id = t.task_id AND s.worker_id = %s), "
        f"EXISTS (SELECT 1 FROM {sql.table(Dependency)} d WHERE d.task_id = t.task_id)"
    )
    if touch is None:
        rows = sql.load_with(
            Task,
            links,
            "t.task_id = %s",
            [worker_id, worker_id, task_id],
            suffix="FOR UPDATE OF t" if is_postgres() else "",
        )
        disabled = None
    else:
        prefix, params = touch_statement(touch, worker_id)
        rows, (disabled,) = sql.lock_with(
            Task,
            links,
            "t.task_id = %s",
            [*params, worker_id, worker_id, task_id],
            prefix=prefix,
            always=["(SELECT disabled FROM touched)"],
        )
    if not rows:
        return None, False, False, False, disabled
    task, (linked, stakeholder, has_deps) = rows[0]
    return task, bool(linked), bool(stakeholder), bool(has_deps), disabled


MUTABLE_FIELDS = list(
    dict.fromkeys(
        [
            "family",
            "module",
            "param_visibilities",
            "params",
            "display_name",
            "batch_id",
            "worker_running",
            "resources_running",
            "time_running",
            "accepts_messages",
            "tracking_url",
            "batchable",
            "remove_at",
            "expl",
            "resources",
            "has_resources",
            "retry_policy",
            "runnable",
            "priority",
            "unmet_deps",
            "n_workers",
            "last_worker",
            *STATUS_FIELDS,
        ]
    )
)


def _values(task: Task) -> dict:
    """The task's mutable fields, dicts and lists copied (so that changes made to them
    in place show); the other values are immutable and kept as they are."""
    values = {}
    for name in MUTABLE_FIELDS:
        value = getattr(task, name)
        values[name] = copy.copy(value) if isinstance(value, (dict, list)) else value
    return values


def raise_priority(task_ids: list[str], priority: float) -> None:
    """Priority only grows, and flows to every dependency (iteratively, any depth)."""
    frontier = list(task_ids)
    while frontier:
        Task.objects.filter(pk__in=frontier, priority__lt=priority).update(priority=priority)
        frontier = list(
            Task.objects.filter(
                pk__in=Dependency.objects.filter(task_id__in=frontier).values("dep_id"),
                priority__lt=priority,
            ).values_list("task_id", flat=True)
        )


@operation
def add_task_batcher(
    ctx: Ctx,
    worker: Any = None,
    task_family: Any = None,
    batched_args: Any = None,
    max_batch_size: Any = None,
    **_: Any,
) -> None:
    worker_id = require_str("worker", worker)
    family = require_str("task_family", task_family, max_length=_FAMILY)
    args = optional_str_list("batched_args", batched_args) or []
    touch_worker(ctx, worker_id)
    note_references()  # a new batcher row's worker key is checked at commit
    Batcher.objects.update_or_create(
        worker_id=worker_id,
        family=family,
        defaults={"batched_args": args, "max_batch_size": parse_max_batch_size(max_batch_size)},
    )


def _running_with_members(task_id: str):
    task = lock_task(task_id)
    if task is None:
        return None, Task.objects.none()
    members = Task.objects.none()
    if task.status == Status.RUNNING and task.batch_id:
        members = Task.objects.filter(batch_id=task.batch_id, status=Status.BATCH_RUNNING)
    return task, members


@operation
def set_task_status_message(ctx: Ctx, task_id: Any = None, status_message: Any = None, **_):
    task, members = _running_with_members(require_str("task_id", task_id))
    if task is None:
        return
    message = None if status_message is None else str(status_message)
    task.status_message = message
    task.save(update_fields=["status_message"])
    members.update(status_message=message)


@operation
def set_task_progress_percentage(
    ctx: Ctx, task_id: Any = None, progress_percentage: Any = None, **_
):
    task, members = _running_with_members(require_str("task_id", task_id))
    if task is None:
        return
    value = (
        None if progress_percentage is None else number("progress_percentage", progress_percentage)
    )
    task.progress_percentage = value
    task.save(update_fields=["progress_percentage"])
    members.update(progress_percentage=value)


def get_task_status_message(ctx: Ctx, task_id: Any = None, **_) -> dict:
    task_id = require_str("task_id", task_id)
    task = Task.objects.filter(pk=task_id).only("status_message").first()
    return {"taskId": task_id, "statusMessage": "" if task is None else task.status_message}


def get_task_progress_percentage(ctx: Ctx, task_id: Any = None, **_) -> dict:
    task_id = require_str("task_id", task_id)
    task = Task.objects.filter(pk=task_id).only("progress_percentage").first()
    value = None if task is None else task.progress_percentage
    if value is not None and float(value).is_integer():
        value = int(value)
    return {"taskId": task_id, "progressPercentage": value}


@operation
def decrease_running_task_resources(
    ctx: Ctx, task_id: Any = None, decrease_resources: Any = None, **_
) -> None:
    task_id = require_str("task_id", task_id)
    amounts = resource_amounts("decrease_resources", decrease_resources)
    task, members = _running_with_members(task_id)
    if task is None or task.status != Status.RUNNING:
        return
    for row in [task, *members.select_for_update()]:
        running = dict(row.resources_running or {})
        for name, amount in amounts.items():
            if amount > 0 and name in running:
                running[name] = max(0, running[name] - amount)
        row.resources_running = running
        row.save(update_fields=["resources_running"])


def get_running_task_resources(ctx: Ctx, task_id: Any = None, **_) -> dict:
    task_id = require_str("task_id", task_id)
    task = Task.objects.filter(pk=task_id).only("resources_running").first()
    return {"taskId": task_id, "resources": None if task is None else task.resources_running}


@operation
def add_scheduler_message_response(
    ctx: Ctx, task_id: Any = None, message_id: Any = None, response: Any = None, **_
) -> None:
    task = lock_task(require_str("task_id", task_id))
    if task is None:
        return
    task.message_responses = {**task.message_responses, str(message_id): response}
    task.save(update_fields=["message_responses"])


@operation
def get_scheduler_message_response(
    ctx: Ctx, task_id: Any = None, message_id: Any = None, **_
) -> dict:
    task = lock_task(require_str("task_id", task_id))
    if task is None:
        return {"response": None}
    responses = dict(task.message_responses)
    response = responses.pop(str(message_id), None)
    if response is not None:
        task.message_responses = responses
        task.save(update_fields=["message_responses"])
    return {"response": response}


def report_task_statistics(ctx: Ctx, task_id: Any = None, statistics: Any = None, **_) -> None:
    require_str("task_id", task_id)
