"""Pipeline mode for the statements of an operation's transaction (PostgreSQL, psycopg).

Each statement of a call costs a round trip to PostgreSQL: a wait of about 0.2 ms,
during which the call's row locks are held and its thread does nothing. A new
task's add_task is about ten statements, most of them writes whose outcome no one
reads (the task row, its links, history, counters). In psycopg's pipeline mode
such statements (``sql.send``, and the inserts and updates built on it) go out
without waiting and travel with the next statement whose rows are read
(``sql.fetch``), or with the wait at the end of the block, just before the COMMIT:
a new task's add_task makes six round trips instead of twelve (psycopg waits for
the BEGIN on its own).

Every other statement (the ORM's, ``sql.execute``) waits for its own result as
outside a pipeline, so rowcounts stay right and the ORM works unchanged; a
sent statement's error is raised at the next wait, as Django's exception, and the
operation rolls back (and retries, for a deadlock or a duplicate row) as before.
Server-side cursors (``QuerySet.iterator``) are refused in pipeline mode.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections

from . import sql


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
    with db.wrap_database_errors, db.connection.pipeline() as pipe:

        def wait_unless_deferred(execute: Any, statement, params, many, context) -> Any:
            result = execute(statement, params, many, context)
            if not getattr(context["cursor"], sql.DEFERRED, False):
                with db.wrap_database_errors:
                    pipe.sync()  # this statement's result, and the errors of any before
            return result

        with db.execute_wrapper(wait_unless_deferred):
            yield
