"""Task lifecycle events: Django signals, plus Luigi's ``Task.event_handler`` callbacks.

The runtime calls the ``fire_*`` functions; both kinds of listeners are told.
Receivers get ``sender`` (the task class) and ``task`` keyword arguments:

- ``task_start(task)``: run() is about to be called.
- ``task_success(task)``: run() returned and the task is done.
- ``task_failure(task, exception, traceback)``: run() raised; ``traceback`` is text.
- ``task_processing_time(task, seconds)``: how long run() took, success or failure.

A failing listener is logged and never breaks the run.
"""

from __future__ import annotations

import logging
import traceback as tb
from collections.abc import Callable
from typing import Any

from django.dispatch import Signal

logger = logging.getLogger(__name__)

task_start = Signal()
task_success = Signal()
task_failure = Signal()
task_processing_time = Signal()


class Event:
    """Luigi's event names, for ``@MyTask.event_handler(Event.SUCCESS)``."""

    DEPENDENCY_DISCOVERED = "event.core.dependency.discovered"
    DEPENDENCY_MISSING = "event.core.dependency.missing"
    DEPENDENCY_PRESENT = "event.core.dependency.present"
    BROKEN_TASK = "event.core.task.broken"
    START = "event.core.start"
    PROGRESS = "event.core.progress"
    FAILURE = "event.core.failure"
    SUCCESS = "event.core.success"
    PROCESSING_TIME = "event.core.processing_time"
    TIMEOUT = "event.core.timeout"
    PROCESS_FAILURE = "event.core.process_failure"


# task class -> event name -> callbacks; a callback fires for instances of the class
_handlers: dict[type, dict[str, list[Callable[..., Any]]]] = {}


def add_handler(task_class: type, event: str, callback: Callable[..., Any]) -> None:
    callbacks = _handlers.setdefault(task_class, {}).setdefault(event, [])
    if callback not in callbacks:
        callbacks.append(callback)


def remove_handler(task_class: type, event: str, callback: Callable[..., Any]) -> None:
    _handlers.get(task_class, {}).get(event, []).remove(callback)


def trigger(task: Any, event: str, *args: Any) -> None:
    """Call every Luigi-style handler registered for ``event`` on ``task``'s classes."""
    for task_class, events in list(_handlers.items()):
        if not isinstance(task, task_class):
            continue
        for callback in list(events.get(event, [])):
            try:
                callback(*args)
            except Exception:
                logger.exception("event handler %r for %s failed on %r", callback, event, task)


def _send(signal: Signal, task: Any, **kwargs: Any) -> None:
    for receiver, result in signal.send_robust(sender=type(task), task=task, **kwargs):
        if isinstance(result, Exception):
            logger.error(
                "signal receiver %r failed on %r",
                receiver,
                task,
                exc_info=(type(result), result, result.__traceback__),
            )


def fire_start(task: Any) -> None:
    trigger(task, Event.START, task)
    _send(task_start, task)


def fire_success(task: Any) -> None:
    trigger(task, Event.SUCCESS, task)
    _send(task_success, task)


def fire_failure(task: Any, exception: BaseException) -> None:
    trigger(task, Event.FAILURE, task, exception)
    text = "".join(tb.format_exception(exception))
    _send(task_failure, task, exception=exception, traceback=text)


def fire_processing_time(task: Any, seconds: float) -> None:
    trigger(task, Event.PROCESSING_TIME, task, seconds)
    _send(task_processing_time, task, seconds=seconds)
