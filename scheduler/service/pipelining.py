"""Pipeline mode for the statements of an operation's transaction (PostgreSQL, psycopg).

Each statement of a call costs a round trip to PostgreSQL: a wait of about 0.2 ms,
during which the call's row locks are held and its thread does nothing. A new
task's add_task is about ten statements, most of them writes whose outcome no one
reads (the task row, its links, history, counters). In psycopg's pipeline mode
such statements (``sql.send``, and the inserts and updates built on it) go out
without waiting and travel with the next statement whose rows are read
(``sql.fetch``), or with the wait at the end of the block.

When the block begins the transaction (an operation's own), the BEGIN and the
COMMIT travel in the pipeline too: psycopg's own BEGIN would wait for its answer
(a sync of its own) and its COMMIT would come after the block's last wait. A
statement whose rows are wanted only at the end (the outbox's ids,
``fetch_after_sync``) is read when that last wait has brought them. A new task's
add_task then waits twice: for its locking read, and at the end.

Every other statement (the ORM's, ``sql.execute``) waits for its own result as
outside a pipeline, so rowcounts stay right and the ORM works unchanged; a
sent statement's error is raised at the next wait, as Django's exception, and the
operation rolls back (and retries, for a deadlock or a duplicate row) as before.
A failing COMMIT raises at the last wait, inside the transaction block, which
Django then rolls back (nothing is left to roll back) without running its
on_commit callbacks. Server-side cursors (``QuerySet.iterator``) are refused in
pipeline mode.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from psycopg import pq

from . import sql


class _State(threading.local):
    #: In a pipeline() block: what to run once its last sync has brought every result.
    after_sync: list[Callable[[], None]] | None = None
    #: In a pipeline() block that began the transaction.
    own: bool = False


_state = _State()


@contextmanager
def pipeline() -> Iterator[None]:
    """Pipeline mode for the statements of this block (inside a transaction), on
    PostgreSQL unless the ``SCHEDULER_DATABASE_PIPELINE`` setting is false;
    elsewhere a no-op. Leaving the block waits for what is still on the way."""
    if not sql.is_postgres() or not getattr(settings, "SCHEDULER_DATABASE_PIPELINE", True):
        yield
        return
    db = connections[DEFAULT_DB_ALIAS]
    db.ensure_connection()
    conn = db.connection
    # Django's atomic block has switched psycopg out of autocommit but sent nothing
    # yet. psycopg goes back to autocommit (outside the pipeline, where the switch
    # costs no wait) and the BEGIN and COMMIT are ours; Django's COMMIT then finds
    # the connection idle and sends nothing.
    own = (
        db.in_atomic_block
        and not conn.autocommit
        and conn.pgconn.transaction_status == pq.TransactionStatus.IDLE
    )
    if own:
        conn.autocommit = True
    outer = _state.after_sync, _state.own
    _state.after_sync, _state.own = [], own
    try:
        with db.wrap_database_errors, conn.pipeline() as pipe:
            if own:
                _control(conn, _begin(conn))

            def wait_unless_deferred(execute: Any, statement, params, many, context) -> Any:
                result = execute(statement, params, many, context)
                if not getattr(context["cursor"], sql.DEFERRED, False):
                    with db.wrap_database_errors:
                        pipe.sync()  # this statement's result, and the errors of any before
                return result

            try:
                with db.execute_wrapper(wait_unless_deferred):
                    yield
                if own:
                    _control(conn, b"ROLLBACK" if db.needs_rollback else b"COMMIT")
            except BaseException:
                # Collect the results the failure aborted now: psycopg's exit would
                # raise on them again, and log that error (a WARNING) while ignoring
                # it, at every retried deadlock or duplicate row. A sync raises the
                # first error among the results it read, perhaps before the last.
                for _ in range(3):
                    try:
                        pipe.sync()
                        break
                    except psycopg.Error:
                        continue
                raise
        for callback in _state.after_sync:
            callback()
    finally:
        _state.after_sync, _state.own = outer
        if own and conn.pgconn.transaction_status == pq.TransactionStatus.IDLE:
            conn.autocommit = False


def fetch_after_sync(
    statement: str, params: Sequence[Any], then: Callable[[list[tuple]], None]
) -> bool:
    """In a ``pipeline()`` block: send ``statement`` now and call ``then`` with its
    rows once the block's last sync has brought them (after the COMMIT, when the
    block began the transaction), before the block is left. False elsewhere: the
    caller fetches them itself."""
    callbacks = _state.after_sync
    if callbacks is None:
        return False
    own = connections[DEFAULT_DB_ALIAS].cursor()
    sql.run_deferred(own, statement, params)

    def deliver() -> None:
        try:
            then(own.fetchall())
        finally:
            own.close()

    callbacks.append(deliver)
    return True


def commit_without_flush() -> None:
    """Let this transaction's COMMIT return before its WAL reaches the disk
    (``synchronous_commit`` off for it alone), when the running ``pipeline()`` block
    began it and the ``SCHEDULER_ASYNC_REGISTRATION_COMMIT`` setting is on.

    For registrations: a PostgreSQL crash (not a restart of it or of the scheduler)
    may then lose those that committed in the last moment (at most three times
    ``wal_writer_delay``, 0.6 s by default, and none older than the latest commit
    that did wait, since the WAL is flushed in order); the database stays
    consistent, and Luigi's workers register their graphs anew on every run. Claims,
    reports and operators' actions keep waiting for the disk."""
    if _state.own and getattr(settings, "SCHEDULER_ASYNC_REGISTRATION_COMMIT", True):
        sql.send("SET LOCAL synchronous_commit TO off")


def _begin(conn: Any) -> bytes:
    """The BEGIN psycopg would send, with the connection's transaction options (a
    host site may set an isolation level in the database OPTIONS)."""
    parts = ["BEGIN"]
    if conn.isolation_level is not None:
        parts.append("ISOLATION LEVEL " + conn.isolation_level.name.replace("_", " "))
    if conn.read_only is not None:
        parts.append("READ ONLY" if conn.read_only else "READ WRITE")
    if conn.deferrable is not None:
        parts.append("DEFERRABLE" if conn.deferrable else "NOT DEFERRABLE")
    return " ".join(parts).encode()


def _control(conn: Any, command: bytes) -> None:
    with conn.cursor() as cursor:
        cursor.execute(command, prepare=False)
