"""Shared pieces of the scheduler service: the call context, locking, transactions."""

from __future__ import annotations

import contextlib
import functools
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from django.db import (
    IntegrityError,
    InterfaceError,
    OperationalError,
    connection,
    transaction,
)

from ..conf import SchedulerConfig, get_config
from ..errors import InvalidArgument, SchedulerUnavailable
from ..models import Task
from . import sql
from .pipelining import pipeline

logger = logging.getLogger("scheduler")

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class Ctx:
    """One scheduler operation: the clock reading and the configuration it runs with."""

    now: float
    config: SchedulerConfig
    changes: list[StatusChange] = field(default_factory=list)

    @classmethod
    def make(cls, now: float | None = None, config: SchedulerConfig | None = None) -> Ctx:
        return cls(now=time.time() if now is None else now, config=config or get_config())


@dataclass(frozen=True)
class StatusChange:
    """One status change, as recorded in the StatusEvent outbox (``seq`` is its id; 0
    until the operation's outbox rows are written, at the end of its transaction)."""

    seq: int
    task_id: str
    family: str
    old_status: str
    new_status: str
    at: float
    cause: str
    worker: str | None = None
    host: str | None = None
    user: str | None = None
    params: dict | None = None


is_postgres = sql.is_postgres


# PostgreSQL deadlocks and serialisation failures, and SQLite's busy timeout
# running out under heavy contention: the whole operation is safe to run again.
_RETRYABLE = ("deadlock detected", "could not serialize access", "database is locked")


def operation(func: F | None = None, *, pipelined: bool = False) -> Any:
    """Run a service function as one transaction; retry it on PostgreSQL deadlocks and
    serialisation failures; turn a lost or locked database into SchedulerUnavailable.

    ``pipelined``: the transaction's statements run in pipeline mode
    (``pipelining``) when it is not part of an outer one. Only for functions that
    read no rows through a server-side cursor (``QuerySet.iterator``), which
    pipeline mode refuses."""
    if func is None:
        return functools.partial(operation, pipelined=pipelined)

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        attempts = 5
        ctx = args[0] if args and isinstance(args[0], Ctx) else None
        mark = len(ctx.changes) if ctx is not None else 0
        outermost = _scope.current is None
        for attempt in range(1, attempts + 1):
            if ctx is not None:
                del ctx.changes[mark:]  # a retried attempt's changes were rolled back
            try:
                if outermost:
                    _scope.current = OperationScope()
                # Pipelined only as a transaction of its own (not a savepoint).
                alone = pipelined and outermost and not connection.in_atomic_block
                with transaction.atomic(), pipeline() if alone else contextlib.nullcontext():
                    result = func(*args, **kwargs)
                    if outermost:
                        _scope.current.finish()
                    return result
            except IntegrityError:
                # Two transactions created the same row at once (e.g. the first
                # add_task of a task from two workers): run again, it now exists.
                if attempt < attempts and not connection.in_atomic_block:
                    continue
                raise
            except OperationalError as exc:
                text = str(exc).lower()
                nested = connection.in_atomic_block
                retryable = any(s in text for s in _RETRYABLE)
                if retryable and attempt < attempts and not nested:
                    logger.debug("%s: retrying after %s", func.__name__, text.splitlines()[0])
                    time.sleep(random.uniform(0.005, 0.02) * attempt)
                    continue
                if "database is locked" in text or "connection" in text or "terminat" in text:
                    raise SchedulerUnavailable(f"database unavailable: {exc}") from exc
                raise
            except InterfaceError as exc:
                raise SchedulerUnavailable(f"database unavailable: {exc}") from exc
            finally:
                if outermost:
                    _scope.current = None
        raise AssertionError("unreachable")

    return wrapper  # type: ignore[return-value]


class OperationScope:
    """What the outermost running operation collects for the end of its transaction:
    ``before_commit`` callbacks run as its last statements (inside the transaction,
    so they commit or roll back with it, and cost no commit of their own), and
    ``data`` for their use. A retried attempt starts with a new scope."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}
        self._callbacks: list[tuple[int, int, Callable[[], None]]] = []

    def before_commit(self, callback: Callable[[], None], rank: int = 10) -> None:
        """Run ``callback`` at the end of the transaction: lower ranks first, then in
        the order registered (the order in which their row locks are taken)."""
        self._callbacks.append((rank, len(self._callbacks), callback))

    def finish(self) -> None:
        while self._callbacks:
            self._callbacks.sort(key=lambda entry: entry[:2])
            self._callbacks.pop(0)[2]()


class _ScopeHolder(threading.local):
    current: OperationScope | None = None


_scope = _ScopeHolder()


def operation_scope() -> OperationScope | None:
    """The scope of the operation running in this thread, if any."""
    return _scope.current


_REFERENCES = __name__ + ".references_written"


def note_references() -> None:
    """The running operation wrote rows whose foreign keys PostgreSQL checks at
    commit (deferred), or deleted rows such keys point to: those checks lock the
    rows they reference, and may wait for them."""
    scope = operation_scope()
    if scope is not None:
        scope.data[_REFERENCES] = True


def references_written() -> bool:
    """Whether ``note_references`` was called in the running operation (True outside
    one: nothing is known there). The history's events are not counted: their
    checks lock the runs the same statement wrote, which no one else can hold."""
    scope = operation_scope()
    return scope is None or bool(scope.data.get(_REFERENCES))


def lock_task(task_id: str) -> Task | None:
    """The task row, locked for this transaction (SQLite's IMMEDIATE transactions
    already serialise writers)."""
    from .sql import load

    rows = load(Task, "task_id = %s", [task_id], suffix="FOR UPDATE" if is_postgres() else "")
    return rows[0] if rows else None


def lock_for_share(task_ids: Iterable[str]) -> dict[str, tuple[str, float]]:
    """(status, priority) of these tasks, held against concurrent status changes
    until commit (PostgreSQL; SQLite's IMMEDIATE transactions serialise writers).

    Whoever recounts a task's unmet dependencies from their statuses takes these
    locks first: a concurrent status change then either committed before the read
    or waits, and adjusts the counter after we commit."""
    ids = sorted(set(task_ids))
    if not ids:
        return {}
    result = {}
    for part in sql.chunks(ids):  # locked in task id order
        statement = sql.rows_by_pk(Task, part, "t.task_id, t.status, t.priority", lock="SHARE")
        result.update({row[0]: (row[1], row[2]) for row in sql.fetch(*statement)})
    return result


def require_str(
    name: str, value: Any, *, allow_none: bool = False, max_length: int = 1024
) -> str | None:
    """A non-empty string of at most ``max_length`` characters (its column's size)."""
    if value is None and allow_none:
        return None
    if not isinstance(value, str) or not value:
        raise InvalidArgument(name, "a non-empty string is required")
    bounded_str(name, value, max_length)
    if "\x00" in value:
        raise InvalidArgument(name, "contains a NUL character")
    return value


def column_length(model: Any, field: str) -> int:
    """The size of a text column, for checking values before they reach it."""
    return model._meta.get_field(field).max_length


def bounded_str(name: str, value: Any, max_length: int) -> str:
    """``value`` as text (Luigi clients send strings; others are converted, as
    luigid does), refused if longer than its column."""
    text = value if isinstance(value, str) else str(value)
    if len(text) > max_length:
        raise InvalidArgument(name, f"longer than {max_length} characters")
    return text


def optional_str_list(name: str, value: Any) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) and v for v in value):
        raise InvalidArgument(name, "a list of task id strings is required")
    for v in value:
        require_str(name, v)
    return list(dict.fromkeys(value))


def optional_dict(name: str, value: Any) -> dict | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidArgument(name, "an object is required")
    return value


def number(name: str, value: Any, *, default: float = 0) -> float:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise InvalidArgument(name, "a number is required") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise InvalidArgument(name, "a finite number is required")
    return value


def resource_amounts(name: str, value: Any) -> dict[str, int]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidArgument(name, "an object of resource name to integer amount is required")
    result = {}
    for key, amount in value.items():
        if isinstance(amount, bool) or not isinstance(amount, int | float) or amount != amount:
            raise InvalidArgument(name, f"amount of resource {key!r} must be a number")
        if amount in (float("inf"), float("-inf")):
            raise InvalidArgument(name, f"amount of resource {key!r} must be finite")
        result[str(key)] = int(amount) if float(amount).is_integer() else amount
    return result
