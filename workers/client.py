"""Scheduler clients: one interface, two transports.

- :class:`DirectClient` runs each call in this process through the scheduler
  service (``scheduler.rpc.call``), one database transaction per call, so a
  worker needs no server and is still coordinated with every other worker and
  server using the same database. :meth:`SchedulerClient.add_tasks` registers
  many tasks per transaction (the service's ``add_tasks``); a report and the next
  get_work stay two calls (in process there is no round trip to save).
- :class:`RemoteClient` speaks Luigi's HTTP protocol (``POST /api/<method>``,
  form field ``data`` holding the JSON arguments, answer ``{"response": ...}``)
  to this project's server or to a real ``luigid``. It keeps one connection
  alive per thread, retries connection errors and 5xx answers with backoff and
  turns 4xx answers into :class:`SchedulerCallError` carrying the server's message.
  Registration uses this project's ``add_tasks`` method, and falls back to one
  ``add_task`` per task against a server without it (luigid); the same for
  ``report_and_get_work`` (``add_task`` then ``get_work``).
  Credentials: user-info in the URL (Basic, as Luigi's client), else an API
  token (``Authorization: Bearer``) from ``PIPELINES_API_TOKEN`` or ``api_token``
  in the ``[pipelines]`` section of luigi.cfg (never a command-line flag, so it
  stays out of shell history and process listings).
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import threading
import time
import urllib.parse
from collections.abc import Iterable, Iterator
from typing import Any

logger = logging.getLogger(__name__)

#: Registrations per ``add_tasks`` call (one transaction on the server). Each
#: holds this worker's row lock, which its own heartbeat waits for, so a chunk
#: commits well within worker_disconnect_delay.
BULK_CHUNK = 200


class SchedulerClientError(Exception):
    """The scheduler could not be reached, or did not answer in the protocol's shape."""


class SchedulerCallError(SchedulerClientError):
    """The scheduler refused a call (bad arguments, unknown method): not worth retrying."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class SchedulerClient:
    """What the worker runtime needs from a scheduler."""

    #: Short description for logs and the summary ("database", "http://host:port/").
    where: str = ""

    def call(self, method: str, **arguments: Any) -> Any:
        raise NotImplementedError

    def add_tasks(self, payloads: Iterable[dict[str, Any]]) -> None:
        """Register tasks (``add_task`` payloads), in order."""
        for payload in payloads:
            self.call("add_task", **payload)

    def report_and_get_work(self, report: dict[str, Any], **arguments: Any) -> Any:
        """``add_task(**report)``, then ``get_work(**arguments)``; get_work's reply."""
        self.call("add_task", **report)
        return self.call("get_work", **arguments)

    def close(self) -> None:
        """Release what this thread holds (connections)."""

    def after_fork(self) -> None:
        """Called in a forked child before it may use the client."""


class DirectClient(SchedulerClient):
    """Calls the scheduler service in-process (Django must be set up)."""

    where = "database"

    def __init__(self, retries: int = 5, retry_wait: float = 0.5) -> None:
        self.retries = retries
        self.retry_wait = retry_wait

    def call(self, method: str, **arguments: Any) -> Any:
        from django.db import DatabaseError

        from scheduler import rpc
        from scheduler.errors import SchedulerError, SchedulerUnavailable

        for attempt in range(1, self.retries + 1):
            try:
                # One service call is one transaction of its own (the service retries
                # deadlocks and lost races itself).
                return rpc.call(method, arguments)
            except (SchedulerUnavailable, DatabaseError) as exc:
                # DatabaseError: a transaction of the service lost a race (e.g. an
                # integrity error at commit); the call is safe to run again.
                if attempt == self.retries:
                    raise SchedulerClientError(f"{method}: {exc}") from exc
                logger.warning("%s: %s; retrying (attempt %d)", method, exc, attempt)
                self._reset_connection()
                time.sleep(self.retry_wait * attempt)
            except SchedulerError as exc:
                raise SchedulerCallError(f"{method}: {exc}") from exc
        raise AssertionError("unreachable")

    def add_tasks(self, payloads: Iterable[dict[str, Any]]) -> None:
        """Register ``BULK_CHUNK`` tasks per ``add_tasks`` call (one transaction)."""
        for worker, tasks in _chunks(list(payloads)):
            self.call("add_tasks", worker=worker, tasks=tasks)

    def report_and_get_work(self, report: dict[str, Any], **arguments: Any) -> Any:
        """One transaction: a failure rolls the report back too, so a retry sends both."""
        return self.call("report_and_get_work", report=report, **arguments)

    @staticmethod
    def _reset_connection() -> None:
        from django.db import connection

        connection.close_if_unusable_or_obsolete()

    def close(self) -> None:
        from django.db import connection

        connection.close()


class RemoteClient(SchedulerClient):
    """Luigi's HTTP protocol, over persistent connections (one per thread)."""

    def __init__(
        self,
        url: str,
        timeout: float = 30.0,
        attempts: int = 5,
        retry_wait: float = 0.5,
        token: str | None = None,
    ) -> None:
        parsed = urllib.parse.urlsplit(url if "://" in url else f"http://{url}")
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError(f"scheduler URL must be http(s)://host[:port][/prefix], got {url!r}")
        self.url = url
        self.where = url
        self.scheme = parsed.scheme
        self.host = parsed.hostname
        self.port = parsed.port
        self.prefix = parsed.path.rstrip("/")
        self.auth = None
        if parsed.username:
            import base64

            user = urllib.parse.unquote(parsed.username)
            token = f"{user}:{urllib.parse.unquote(parsed.password or '')}"
            self.auth = "Basic " + base64.b64encode(token.encode()).decode()
        elif token:
            self.auth = f"Bearer {token}"
        self.timeout = timeout
        self.attempts = attempts
        self.retry_wait = retry_wait
        self._local = threading.local()
        self._pid = os.getpid()

    def _connection(self) -> http.client.HTTPConnection:
        if self._pid != os.getpid():  # forked: never share the parent's sockets
            self._local = threading.local()
            self._pid = os.getpid()
        conn = getattr(self._local, "conn", None)
        if conn is None:
            kind = (
                http.client.HTTPSConnection
                if self.scheme == "https"
                else http.client.HTTPConnection
            )
            conn = kind(self.host, self.port, timeout=self.timeout)
            self._local.conn = conn
        return conn

    def _drop_connection(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
        self._local.conn = None

    def _post(self, method: str, body: bytes) -> tuple[int, bytes]:
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "Connection": "keep-alive",
        }
        if self.auth:
            headers["Authorization"] = self.auth
        conn = self._connection()
        conn.request("POST", f"{self.prefix}/api/{method}", body=body, headers=headers)
        reply = conn.getresponse()
        data = reply.read()
        if reply.will_close:
            self._drop_connection()
        return reply.status, data

    def call(self, method: str, **arguments: Any) -> Any:
        body = self._body(arguments)
        problem = ""
        for attempt in range(1, self.attempts + 1):
            try:
                status, data = self._post(method, body)
            except (OSError, http.client.HTTPException) as exc:
                self._drop_connection()
                problem = f"cannot reach the scheduler at {self.url}: {exc}"
            else:
                if status == 200:
                    return self._decode(method, data)
                detail = self._error(data)
                if 400 <= status < 500:
                    raise SchedulerCallError(
                        f"{method}: the scheduler answered {status}: {detail}", status
                    )
                # report_and_get_work is one transaction: a failed one applied
                # nothing, and is sent again whole.
                problem = f"the scheduler at {self.url} answered {status}: {detail}"
            if attempt < self.attempts:
                logger.warning("%s: %s (attempt %d of %d)", method, problem, attempt, self.attempts)
                time.sleep(min(self.retry_wait * 2 ** (attempt - 1), 10.0))
        raise SchedulerClientError(f"{method}: {problem} (gave up after {self.attempts} attempts)")

    @staticmethod
    def _decode(method: str, data: bytes) -> Any:
        try:
            decoded = json.loads(data)
        except ValueError as exc:
            raise SchedulerClientError(f"{method}: the scheduler's answer is not JSON") from exc
        if not isinstance(decoded, dict) or "response" not in decoded:
            raise SchedulerClientError(f"{method}: the scheduler's answer has no 'response'")
        return decoded["response"]

    @staticmethod
    def _body(arguments: dict[str, Any]) -> bytes:
        return urllib.parse.urlencode({"data": json.dumps(arguments)}).encode()

    @staticmethod
    def _error(data: bytes) -> str:
        """An error answer's detail, else its text."""
        text = data.decode("utf-8", errors="replace")
        try:
            decoded = json.loads(text)
        except ValueError:
            return text.strip()[:300] or "(empty body)"
        if isinstance(decoded, dict) and "detail" in decoded:
            return str(decoded["detail"])
        return text.strip()[:300]

    def add_tasks(self, payloads: Iterable[dict[str, Any]]) -> None:
        """``add_tasks`` in chunks where the server has it (this project's), else one
        ``add_task`` call per task: for every chunk against a server without it
        (luigid answers 404 to a method it lacks), for one chunk too large for the
        server's request limit (413)."""
        for worker, tasks in _chunks(list(payloads)):
            if not getattr(self, "_no_bulk", False):
                try:
                    self.call("add_tasks", worker=worker, tasks=tasks)
                    continue
                except SchedulerCallError as exc:
                    if exc.status == 404:
                        logger.info("the scheduler has no add_tasks; registering task by task")
                        self._no_bulk = True
                    elif exc.status != 413:
                        raise
            super().add_tasks(tasks)

    def report_and_get_work(self, report: dict[str, Any], **arguments: Any) -> Any:
        """One call where the server has it (this project's), else the two calls."""
        if not getattr(self, "_no_combined", False):
            try:
                return self.call("report_and_get_work", report=report, **arguments)
            except SchedulerCallError as exc:
                if exc.status != 404:
                    raise
                logger.info("the scheduler has no report_and_get_work; making two calls")
                self._no_combined = True
        return super().report_and_get_work(report, **arguments)

    def close(self) -> None:
        self._drop_connection()

    def after_fork(self) -> None:
        self._local = threading.local()
        self._pid = os.getpid()


def _chunks(items: list[dict[str, Any]]) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """(worker, up to ``BULK_CHUNK`` registrations of that worker), in order."""
    for start in range(0, len(items), BULK_CHUNK):
        by_worker: dict[str, list[dict[str, Any]]] = {}
        for payload in items[start : start + BULK_CHUNK]:
            by_worker.setdefault(str(payload.get("worker")), []).append(payload)
        yield from by_worker.items()


def make_client(scheduler_url: str | None) -> SchedulerClient:
    """RemoteClient for a URL, DirectClient (the database) otherwise.

    The HTTP client reads Luigi's ``[core]`` options ``rpc_connect_timeout``,
    ``rpc_retry_attempts`` and ``rpc_retry_wait`` (the first wait; it doubles).
    """
    if not scheduler_url:
        return DirectClient()
    from scheduler import luigi_config

    core = luigi_config.section("core")
    return RemoteClient(
        scheduler_url,
        timeout=float(core.get("rpc_connect_timeout", 30.0)),
        attempts=max(1, int(core.get("rpc_retry_attempts", 5))),
        retry_wait=float(core.get("rpc_retry_wait", 0.5)),
        token=api_token(),
    )


def api_token() -> str | None:
    """The API token for HTTP calls: ``PIPELINES_API_TOKEN``, else ``[pipelines]
    api_token`` in the Luigi config file."""
    from scheduler import luigi_config

    token = os.environ.get("PIPELINES_API_TOKEN", "").strip()
    if not token:
        token = str(luigi_config.section("pipelines").get("api_token", "")).strip()
    return token or None
