"""Planner statistics for the task table while it is new and filling fast.

PostgreSQL plans prepared statements from a table's statistics, which autovacuum
refreshes a minute or more after the table changes. A new database's task table
has none, and from the defaults it assumes, get_work's read of the running tasks
was a bitmap scan: it visits every row version that has been RUNNING since the
last vacuum (2.7 ms per get_work after 5,000 finished tasks, against 0.1 ms for
the plain index scan chosen with statistics, which also marks dead entries so that
later scans skip them).

So every ``CHECK_EVERY`` tasks a process inserts, it looks at what the statistics
know of the table and, if they know nothing or fewer rows than were just
inserted, runs ANALYZE (after the commit, outside the registering transaction;
the cached plans are made again from the new statistics).
"""

from __future__ import annotations

import logging
import threading

from django.db import DatabaseError, transaction

from ..models import Task
from . import sql

logger = logging.getLogger("scheduler")

#: Task rows a process inserts between two looks at the statistics.
CHECK_EVERY = 200

_lock = threading.Lock()
_inserted = 0


def tasks_inserted(count: int) -> None:
    """``count`` task rows were inserted by the running transaction (PostgreSQL)."""
    global _inserted
    with _lock:
        _inserted += count
        if _inserted < CHECK_EVERY:
            return
        grown, _inserted = _inserted, 0
    transaction.on_commit(lambda: refresh(grown))


def refresh(grown: int) -> bool:
    """ANALYZE the task table if its statistics know nothing of it or fewer rows
    than ``grown``; whether it did. A failure is logged, never raised: the commit
    it follows has happened."""
    try:
        known = sql.fetch(
            "SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [Task._meta.db_table]
        )[0][0]
        if known >= 0 and known >= grown:
            return False
        sql.execute(f"ANALYZE {sql.table(Task)}")
    except DatabaseError as exc:
        logger.warning("could not refresh the task table's statistics: %s", exc)
        return False
    logger.info("task table statistics refreshed (they knew of %d rows)", max(known, 0))
    return True
