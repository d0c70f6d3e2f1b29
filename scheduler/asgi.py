"""A fast ASGI path for Luigi's protocol.

Workers call /api/<method> several times a second each. Django's ASGI handler
adapts every synchronous middleware separately (a thread hop per middleware and
direction), which costs more than the scheduler call itself. This wrapper
answers /api/<method> with one hop into the same ``dispatch`` the Django view
uses, after the same access rule (``scheduler.auth.protocol``), and passes
everything else (REST API under /api/v1/, pages, admin, static files) to Django.

Calls run in a pool of ``PROTOCOL_THREADS`` threads of their own, each keeping
its database connection across calls. On PostgreSQL several calls run at once
(a call spends most of its time waiting for the database; row locks keep
concurrent calls correct, as they do across server processes); on SQLite, where
writers take turns anyway, the pool has one thread.

Calls from browsers go to Django too: those with an ``Origin`` header or
``OPTIONS`` (CORS, django-cors-headers) and, with authentication on, those
carrying a session cookie (sessions, CSRF). Workers send neither.
"""

from __future__ import annotations

import asyncio
import binascii
import contextvars
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qs

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.http.request import split_domain_port, validate_host

from .auth import protocol
from .auth.conf import auth_enabled
from .errors import error_body
from .views import dispatch, encode, too_large_body

_ROUTE = re.compile(r"^/api/(?P<method>[A-Za-z_][A-Za-z0-9_]*)/?$")


# A "%" that does not start a two-digit escape: parse_qs keeps it as it is.
_BARE_PERCENT = re.compile(rb"%(?![0-9A-Fa-f]{2})")
# Bytes that a2b_qp would read otherwise than form decoding does.
_QP_SPECIAL = (b"=", b"\r", b"\n", b" ", b"\t")


def data_field(encoded: bytes) -> str | None:
    """The first ``data`` field of a form-encoded body or query string, decoded as
    ``parse_qs(..., keep_blank_values=True)`` does (UTF-8, invalid bytes replaced);
    None without one. Raises UnicodeDecodeError if ``encoded`` itself is not UTF-8.

    Workers send one field, ``data=<the JSON, percent-encoded>``: that value is
    decoded in C (binascii's quoted-printable decoder, after "%XX" became "=XX"),
    about fifteen times faster than parse_qs. Anything else goes to parse_qs."""
    if encoded.startswith(b"data=") and b"&" not in encoded:
        value = encoded[5:]
        if not any(c in value for c in _QP_SPECIAL) and not _BARE_PERCENT.search(value):
            encoded.decode("utf-8")  # the same error parse_qs's caller would raise
            decoded = binascii.a2b_qp(value.replace(b"+", b" ").replace(b"%", b"="))
            return decoded.decode("utf-8", "replace")
    found = parse_qs(encoded.decode("utf-8"), keep_blank_values=True).get("data")
    return found[0] if found else None


def _answer(
    http_method: str, method: str, raw: str | None, authorization: str | None
) -> tuple[int, dict, dict[str, str]]:
    # Each thread of the pool keeps its connection across calls (cheaper than a
    # connection per call); one that failed is replaced.
    _drop_broken_connection()
    try:
        access = protocol.check(method, authorization)
        if isinstance(access, protocol.Refusal):
            return access.status, access.body, access.headers
        status, body = dispatch(http_method, method, raw, user=access.username)
        return status, body, {}
    finally:
        _drop_broken_connection()


_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()
_thread_connections: list[Any] = []  # each pool thread's database connection wrapper


def _remember_connection() -> None:
    with _pool_lock:
        _thread_connections.append(connections[DEFAULT_DB_ALIAS])


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(
                max_workers=settings.PROTOCOL_THREADS,
                thread_name_prefix="luigi-protocol",
                initializer=_remember_connection,
            )
        return _pool


def close_connections() -> None:
    """Stop the pool once its calls are answered and close its threads' connections
    (e.g. before a test database is dropped). The next call starts a new pool."""
    global _pool
    with _pool_lock:
        pool, _pool = _pool, None
    if pool is not None:
        pool.shutdown(wait=True)
    with _pool_lock:
        wrappers = list(_thread_connections)
        _thread_connections.clear()
    for wrapper in wrappers:
        # Their threads have ended: closing from here is safe.
        wrapper.inc_thread_sharing()
        try:
            wrapper.close()
        finally:
            wrapper.dec_thread_sharing()


def _drop_broken_connection() -> None:
    # A call that hit a database error (e.g. the server restarted) answered 503;
    # the next one starts on a fresh connection.
    db = connections[DEFAULT_DB_ALIAS]  # one lookup of the thread's connection
    if db.connection is not None and db.errors_occurred:
        db.close()
    db.errors_occurred = False


class LuigiProtocolApp:
    def __init__(self, django_app: Any):
        self.django_app = django_app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        match = _ROUTE.match(scope.get("path", "")) if scope["type"] == "http" else None
        headers = dict(scope.get("headers") or []) if match is not None else {}
        if (
            match is None
            or not self._host_allowed(headers)
            or self._from_browser(scope["method"], headers)
        ):
            await self.django_app(scope, receive, send)
            return
        http_method = scope["method"]
        if self._declared_too_big(headers):
            await self._send(send, 413, too_large_body())
            return
        body, too_big = await self._read_body(receive)
        if too_big:
            await self._send(send, 413, too_large_body())
            return
        try:
            raw = None
            if http_method == "POST" and body:
                raw = data_field(body)
            if raw is None:
                raw = data_field(scope.get("query_string", b""))
        except UnicodeDecodeError:
            await self._send(send, 400, error_body("invalid argument", "the body is not UTF-8"))
            return
        authorization = headers.get(b"authorization")
        # Straight to the pool (asgiref's sync_to_async adds its own bookkeeping to
        # every call); the call runs in a copy of this request's context, as there.
        status, answer, extra = await asyncio.get_running_loop().run_in_executor(
            _executor(),
            contextvars.copy_context().run,
            _answer,
            http_method,
            match["method"],
            raw,
            authorization.decode("latin-1") if authorization else None,
        )
        await self._send(send, status, answer, extra)

    @staticmethod
    def _from_browser(http_method: str, headers: dict[bytes, bytes]) -> bool:
        if http_method == "OPTIONS":
            return True
        if b"origin" in headers:
            return True
        if not auth_enabled():
            return False
        cookie = headers.get(b"cookie", b"")
        return settings.SESSION_COOKIE_NAME.encode() + b"=" in cookie

    @staticmethod
    def _declared_too_big(headers: dict[bytes, bytes]) -> bool:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        declared = headers.get(b"content-length", b"")
        return limit is not None and declared.isdigit() and int(declared) > limit

    @staticmethod
    def _host_allowed(headers: dict[bytes, bytes]) -> bool:
        host = headers.get(b"host", b"").decode("latin-1")
        domain, _port = split_domain_port(host)
        allowed = settings.ALLOWED_HOSTS
        if settings.DEBUG and not allowed:
            allowed = [".localhost", "127.0.0.1", "[::1]"]
        # Unknown hosts go through Django, which answers them with its usual 400.
        return bool(domain) and validate_host(domain, allowed)

    @staticmethod
    async def _read_body(receive: Any) -> tuple[bytes, bool]:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if limit is not None and size > limit:
                return b"", True
            chunks.append(chunk)
            if not message.get("more_body"):
                break
        return b"".join(chunks), False

    @staticmethod
    async def _send(
        send: Any, status: int, body: dict | None, extra: dict[str, str] | None = None
    ) -> None:
        payload = b"" if body is None else encode(body)
        headers = [(b"content-length", str(len(payload)).encode())]
        if body is not None:
            headers.append((b"content-type", b"application/json"))
        for name, value in (extra or {}).items():
            headers.append((name.lower().encode("latin-1"), value.encode("latin-1")))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})
