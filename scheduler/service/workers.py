"""Workers: registration, heartbeats, messages, disabling (spec §2.4, §2.6, §2.8)."""

from __future__ import annotations

import uuid
from typing import Any

from ..errors import InvalidArgument
from ..models import RunnableBy, Worker
from . import counters
from .base import Ctx, operation, require_str
from .registry import get_or_create_worker, touch_worker

_INFO_SHAPE = "a list of [key, value] pairs or an object is required"


def _info_items(info: Any) -> dict:
    if info is None:
        return {}
    if isinstance(info, dict):
        return dict(info)
    if isinstance(info, list | tuple):
        items = {}
        for pair in info:
            if not isinstance(pair, list | tuple) or len(pair) != 2 or not isinstance(pair[0], str):
                raise InvalidArgument("info", _INFO_SHAPE)
            items[pair[0]] = pair[1]
        return items
    raise InvalidArgument("info", _INFO_SHAPE)


@operation
def add_worker(ctx: Ctx, worker: Any = None, info: Any = None, **_: Any) -> None:
    worker_id = require_str("worker", worker)
    items = _info_items(info)
    w = get_or_create_worker(ctx, worker_id)
    w = Worker.objects.select_for_update().get(pk=w.pk)
    w.info = {**w.info, **items}
    w.save(update_fields=["info"])


@operation
def ping(ctx: Ctx, worker: Any = None, **_: Any) -> dict:
    worker_id = require_str("worker", worker)
    w = touch_worker(ctx, worker_id)
    if not w.messages:
        return {"rpc_messages": []}
    w = Worker.objects.select_for_update().get(pk=worker_id)
    messages, w.messages = w.messages, []
    w.save(update_fields=["messages"])
    return {"rpc_messages": messages}


def _queue(worker_id: str, name: str, **kwargs: Any) -> None:
    w = Worker.objects.select_for_update().get(pk=worker_id)
    w.messages = [*w.messages, {"name": name, "kwargs": kwargs}]
    w.save(update_fields=["messages"])


@operation
def set_worker_processes(ctx: Ctx, worker: Any = None, n: Any = None, **_: Any) -> None:
    worker_id = require_str("worker", worker)
    if isinstance(n, bool) or not isinstance(n, int):
        raise InvalidArgument("n", "an integer number of processes is required")
    get_or_create_worker(ctx, worker_id)
    _queue(worker_id, "set_worker_processes", n=n)


@operation
def send_scheduler_message(
    ctx: Ctx, worker: Any = None, task: Any = None, content: Any = None, **_: Any
) -> dict:
    worker_id = require_str("worker", worker)
    task_id = require_str("task", task)
    if not ctx.config.send_messages:
        return {"message_id": None}
    get_or_create_worker(ctx, worker_id)
    message_id = str(uuid.uuid4())
    _queue(
        worker_id,
        "dispatch_scheduler_message",
        task_id=task_id,
        message_id=message_id,
        content=content,
    )
    return {"message_id": message_id}


@operation
def disable_worker(ctx: Ctx, worker: Any = None, **_: Any) -> None:
    """The worker finishes what it runs and gets nothing new; it keeps its stakes."""
    worker_id = require_str("worker", worker)
    w = get_or_create_worker(ctx, worker_id)
    w.disabled = True
    w.save(update_fields=["disabled"])
    links = RunnableBy.objects.filter(worker_id=worker_id)
    affected = list(links.values_list("task_id", flat=True))
    links.delete()
    if affected:
        counters.recount(affected)
