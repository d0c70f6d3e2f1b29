"""Child processes that run tasks, and how the worker hears back from them.

The worker forks ``--workers`` long-lived children once (``fork``: the user's
module and Django are already loaded, so a task starts in microseconds) and
hands each one task at a time over its own pipe. A child reports progress
updates and one final result per task. A child that dies (a crash, ``kill
-9``, ``os._exit``) or overruns its timeout is killed if needed and replaced,
and its task is reported FAILED, so the worker never hangs on it.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import multiprocessing
import signal
import time
import traceback
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any

from workers import boundary, events
from workers.dynamic import RunDriver
from workers.task import Task

logger = logging.getLogger(__name__)

_INHERITED: list[Any] = []  # database connections of the parent, never closed in a child


@dataclass
class Result:
    """The outcome of one task run, as the worker reports it to the scheduler."""

    task_id: str
    status: str  # DONE, FAILED or PENDING (waiting for dynamic dependencies)
    expl: str = "null"  # JSON-encoded, as Luigi workers send it
    error: str = ""  # one line for the log and the summary
    new_deps: list[Task] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class Update:
    """A running task told the scheduler something (status message, progress, tracking URL)."""

    task_id: str
    kind: str
    value: Any


# --------------------------------------------------------------------------- child side


def _set_parent_death_signal() -> None:
    """Ask Linux to SIGKILL this child when the worker dies (e.g. ``kill -9``)."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _forget_inherited_connections() -> None:
    """Drop (without closing) the database connections inherited from the worker."""
    try:
        from django.db import connections
    except ImportError:
        return
    for conn in connections.all(initialized_only=True):
        if conn.connection is not None:
            _INHERITED.append(conn.connection)
            conn.connection = None
        # A psycopg pool's idle connections are the parent's sockets too: the child
        # builds a pool of its own (the inherited one is kept, never closed).
        pools = getattr(type(conn), "_connection_pools", None)
        if pools and conn.alias in pools:
            _INHERITED.append(pools.pop(conn.alias))


def _failure_text(task: Task, exc: BaseException) -> str:
    try:
        return task.on_failure(exc)
    except Exception:
        return "Runtime error:\n" + "".join(traceback.format_exception(exc))


def _json(value: Any) -> str:
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return json.dumps(str(value))


def run_task(task: Task, conn: Connection | None = None) -> Result:
    """Run one task: check its requirements, drive run() (dynamic dependencies), fire events."""

    def tell(kind: str) -> Any:
        return lambda value: conn.send(Update(task.task_id, kind, value)) if conn else None

    task.set_status_message = tell("status_message")  # type: ignore[method-assign]
    task.set_progress_percentage = tell("progress_percentage")  # type: ignore[method-assign]
    task.set_tracking_url = tell("tracking_url")  # type: ignore[method-assign]
    start = time.monotonic()
    try:
        missing = [dep.task_id for dep in task.deps() if not boundary.is_complete(dep)]
        if missing:
            raise RuntimeError(f"Unfulfilled dependencies at run time: {', '.join(missing)}")
        events.fire_start(task)
        step = RunDriver(task).step()
        if not step.done:
            return Result(task.task_id, "PENDING", new_deps=step.requested)
        expl = _json(task.on_success())
        events.fire_success(task)
        return Result(task.task_id, "DONE", expl=expl)
    except BaseException as exc:  # SystemExit and KeyboardInterrupt from user code too
        text = _failure_text(task, exc)
        events.fire_failure(task, exc)
        line = f"{type(exc).__name__}: {exc}".splitlines()[0] if str(exc) else type(exc).__name__
        return Result(task.task_id, "FAILED", expl=_json(text), error=line)
    finally:
        seconds = time.monotonic() - start
        events.fire_processing_time(task, seconds)
        for name in Task._RUNTIME_HOOKS:
            task.__dict__.pop(name, None)


def _child_main(conn: Connection) -> None:
    _set_parent_death_signal()
    # The worker decides when its children stop (grace period on SIGTERM, Ctrl-C).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _forget_inherited_connections()
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        started = time.monotonic()
        result = run_task(task, conn)
        result.seconds = round(time.monotonic() - started, 3)
        try:
            conn.send(result)
        except Exception as exc:  # e.g. an unpicklable dynamic dependency
            conn.send(Result(task.task_id, "FAILED", expl=_json(str(exc)), error=str(exc)))
        with contextlib.suppress(Exception):
            from django.db import close_old_connections

            close_old_connections()


# --------------------------------------------------------------------------- worker side


@dataclass
class Slot:
    process: Any
    conn: Connection
    task: Task | None = None
    started: float = 0.0
    timeout: float | None = None


class ChildPool:
    """``size`` child processes, each running one task at a time."""

    def __init__(self, size: int) -> None:
        self.size = max(1, size)
        self.slots: list[Slot] = []
        self._context = multiprocessing.get_context("fork")

    def _spawn(self) -> Slot:
        with contextlib.suppress(Exception):
            from django.db import connections

            connections.close_all()  # this thread's; children must not share a socket
        parent_end, child_end = self._context.Pipe(duplex=True)
        process = self._context.Process(
            target=_child_main, args=(child_end,), daemon=True, name="runworker-task"
        )
        process.start()
        child_end.close()
        return Slot(process, parent_end)

    def start(self) -> None:
        self.slots = [self._spawn() for _ in range(self.size)]

    @property
    def busy(self) -> list[Slot]:
        return [slot for slot in self.slots if slot.task is not None]

    def running(self) -> dict[str, Task]:
        return {slot.task.task_id: slot.task for slot in self.busy if slot.task is not None}

    def has_idle(self) -> bool:
        return any(slot.task is None for slot in self.slots)

    def submit(self, task: Task, timeout: float | None) -> None:
        slot = next(slot for slot in self.slots if slot.task is None)
        slot.task, slot.started, slot.timeout = task, time.monotonic(), timeout
        try:
            with task.no_unpicklable_properties():
                slot.conn.send(task)
        except Exception as exc:
            slot.task = None
            raise RuntimeError(f"{task.task_id}: cannot hand the task to a child: {exc}") from exc

    def _replace(self, slot: Slot) -> None:
        self._kill(slot)
        index = self.slots.index(slot)
        self.slots[index] = self._spawn()

    @staticmethod
    def _kill(slot: Slot) -> None:
        if slot.process.is_alive():
            slot.process.kill()
        slot.process.join(5)
        slot.conn.close()

    def poll(self, timeout: float) -> list[Result | Update]:
        """Wait up to ``timeout`` s for news from busy children; return it."""
        busy = self.busy
        if not busy:
            if timeout > 0:
                time.sleep(timeout)
            return []
        waitables: list[Any] = [slot.conn for slot in busy] + [
            slot.process.sentinel for slot in busy
        ]
        deadlines = [slot.started + slot.timeout for slot in busy if slot.timeout]
        if deadlines:
            timeout = max(0.0, min(timeout, min(deadlines) - time.monotonic()))
        wait(waitables, timeout)
        found: list[Result | Update] = []
        for slot in busy:
            found.extend(self._collect(slot))
        return found

    def _collect(self, slot: Slot) -> list[Result | Update]:
        found: list[Result | Update] = []
        task = slot.task
        assert task is not None
        try:
            while slot.conn.poll():
                message = slot.conn.recv()
                found.append(message)
                if isinstance(message, Result):
                    slot.task = None
                    return found
        except (EOFError, OSError):
            pass
        if not slot.process.is_alive():
            code = slot.process.exitcode
            how = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
            error = f"the child process running the task died ({how})"
            logger.error("%s: %s", task.task_id, error)
            found.append(Result(task.task_id, "FAILED", expl=_json(error), error=error))
            slot.task = None
            self._replace(slot)
        elif slot.timeout and time.monotonic() - slot.started > slot.timeout:
            error = f"timed out after {slot.timeout:g} s; the child process was killed"
            logger.error("%s: %s", task.task_id, error)
            found.append(Result(task.task_id, "FAILED", expl=_json(error), error=error))
            slot.task = None
            self._replace(slot)
        return found

    def kill_busy(self) -> list[Task]:
        """Kill the children that are running tasks (replacing them); return those tasks."""
        tasks = []
        for slot in self.busy:
            assert slot.task is not None
            tasks.append(slot.task)
            slot.task = None
            self._replace(slot)
        return tasks

    def shutdown(self) -> None:
        for slot in self.slots:
            with contextlib.suppress(Exception):
                if slot.task is None:
                    slot.conn.send(None)
        deadline = time.monotonic() + 2.0
        for slot in self.slots:
            slot.process.join(max(0.0, deadline - time.monotonic()))
            self._kill(slot)
        self.slots = []
