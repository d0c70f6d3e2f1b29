"""Answer 503 at once while the PostgreSQL server is away, instead of queueing.

psycopg's pool lets a request wait up to its timeout for a connection it cannot
make, and under ASGI the synchronous work of every request runs in one thread:
one waiting request would hold up all the others, and clients would see
timeouts instead of a clear "try again". So once a call has failed because the
database is unreachable, calls are refused with 503 straight away; at most every
``PROBE_INTERVAL`` seconds one of them probes the server with a plain connection
(1 s connect timeout), and the first probe that gets through lets calls go to
the pool again. Lock waits and deadlocks are not outages and never trip this.
SQLite never does.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time

from django.db import connection

logger = logging.getLogger(__name__)

PROBE_INTERVAL = 0.5
_MARKERS = (
    "connection",
    "couldn't get a connection",
    "terminating",
    "server closed",
    "shutting down",
    "starting up",
    "recovery mode",
)

_lock = threading.Lock()
_down_since: float | None = None
_last_probe = 0.0
_reason = ""


def is_outage(exc: BaseException) -> bool:
    """Whether a database error means the server is unreachable (not busy)."""
    text = str(exc).lower()
    return connection.vendor == "postgresql" and any(m in text for m in _MARKERS)


def note_failure(exc: BaseException) -> None:
    """A call failed with ``exc``: if the database is unreachable, start refusing."""
    global _down_since, _last_probe, _reason
    if not is_outage(exc):
        return
    with _lock:
        if _down_since is None:
            logger.warning("database unreachable, answering 503 until it is back: %s", exc)
            _down_since = _last_probe = time.monotonic()
        _reason = (str(exc).strip().splitlines() or ["database unreachable"])[0]


def unavailable() -> str | None:
    """None when calls may use the database; otherwise why not (answer 503)."""
    global _down_since, _last_probe
    with _lock:
        if _down_since is None:
            return None
        now = time.monotonic()
        if now - _last_probe < PROBE_INTERVAL:
            return _reason
        _last_probe = now
    if not _probe():
        return _reason
    with _lock:
        if _down_since is not None:
            logger.warning("database reachable again after %.1f s", time.monotonic() - _down_since)
        _down_since = None
    return None


class _PoolErrors(logging.Filter):
    """psycopg's pool reports a failed (re)connection only in its log: take that
    as the first sign of an outage, before any request has waited for the pool."""

    def filter(self, record: logging.LogRecord) -> bool:
        if str(record.msg).startswith("error connecting"):
            note_failure(ConnectionError(record.getMessage()))
        return True


_watcher = _PoolErrors()


def watch_pool() -> None:
    """Install the pool log watcher (idempotent); called when the app is ready."""
    pool_logger = logging.getLogger("psycopg.pool")
    if _watcher not in pool_logger.filters:
        pool_logger.addFilter(_watcher)


def reset() -> None:
    global _down_since, _reason
    with _lock:
        _down_since, _reason = None, ""


def _probe() -> bool:
    import psycopg

    params = dict(connection.get_connection_params())
    params["connect_timeout"] = 1
    try:
        psycopg.connect(**params).close()
    except psycopg.Error:
        return False
    pool = getattr(connection, "pool", None)
    if pool is not None:
        with contextlib.suppress(Exception):
            pool.check()  # refill now rather than after the pool's reconnect backoff
    return True
