"""HTTP transport of Luigi's protocol: /api/<method> with the arguments as JSON in
the `data` field of the query string or form body, answered as {"response": ...}.

``dispatch`` is the whole behaviour; the Django view below and the ASGI fast
path in ``scheduler.asgi`` are two doors to it.
"""

from __future__ import annotations

import json
import logging
import time

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe

from . import dbhealth, rpc
from .auth import protocol
from .auth.identity import REALM, BadCredentials, user_for_header
from .errors import InvalidArgument, SchedulerError, SchedulerUnavailable, error_body
from .metrics import collect
from .metrics.rpc import observe
from .permissions import can_view

logger = logging.getLogger(__name__)


# Luigi's arguments nest a few levels at most (params, statistics, worker info).
MAX_DEPTH = 32
MAX_INT = 2**63 - 1


def parse_data(raw: str | None) -> dict:
    if raw is None or raw.strip() == "":
        return {}
    try:
        # Python's json accepts Infinity, which Luigi workers send for max_batch_size.
        data = json.loads(raw)
    except RecursionError:
        raise InvalidArgument("data", f"nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:
        raise InvalidArgument("data", f"not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidArgument("data", "a JSON object of arguments is required")
    check_storable(data)
    return data


def check_storable(data: dict) -> None:
    """Reject values no database column can hold, before any service code sees them:
    nesting past MAX_DEPTH, integers past 64 bits, strings with a NUL character
    (PostgreSQL refuses it) or a lone surrogate (not encodable as UTF-8)."""
    stack: list[tuple[str, object, int]] = [(key, value, 1) for key, value in data.items()]
    while stack:
        name, value, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise InvalidArgument(name, f"nested deeper than {MAX_DEPTH} levels")
        if isinstance(value, dict):
            stack.extend((name, key, depth + 1) for key in value)
            stack.extend((name, item, depth + 1) for item in value.values())
        elif isinstance(value, list):
            stack.extend((name, item, depth + 1) for item in value)
        elif isinstance(value, str):
            if "\x00" in value:
                raise InvalidArgument(name, "contains a NUL character")
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise InvalidArgument(name, "contains a lone surrogate (not UTF-8)") from None
        elif isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT:
            raise InvalidArgument(name, "an integer beyond 64 bits")


def too_large_body() -> dict:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return error_body(
        "payload too large",
        f"the request body is larger than the server accepts ({limit} bytes, "
        "DATA_UPLOAD_MAX_MEMORY_SIZE)",
    )


def dispatch(
    http_method: str, method: str, raw_data: str | None, user: str | None = None
) -> tuple[int, dict]:
    """Answer one protocol call: (HTTP status, JSON body). ``user``: who made an
    operator call, as recorded in history (None: anonymous)."""
    if http_method not in ("GET", "POST"):
        return 405, error_body("method not allowed", "use GET or POST")
    if method not in rpc.METHODS:
        return 404, error_body("unknown method", f"the scheduler has no method {method!r}")
    reason = dbhealth.unavailable()
    if reason is not None:
        return 503, error_body("SchedulerUnavailable", f"database unavailable: {reason}")
    started = time.perf_counter()
    try:
        return _call(method, raw_data, user)
    finally:
        observe(method, time.perf_counter() - started)


def _call(method: str, raw_data: str | None, user: str | None) -> tuple[int, dict]:
    try:
        result = rpc.call(method, parse_data(raw_data), user=user)
    except (OperationalError, InterfaceError) as exc:
        # Reads run outside the retrying transaction wrapper; a database that is
        # away is the server's temporary trouble, not the caller's.
        logger.warning("%s: database unavailable: %s", method, exc)
        dbhealth.note_failure(exc)
        return 503, error_body("SchedulerUnavailable", f"database unavailable: {exc}")
    except SchedulerError as exc:
        if exc.status_code >= 500:
            logger.warning("%s: %s", method, exc)
        if isinstance(exc, SchedulerUnavailable):
            dbhealth.note_failure(exc)
        return exc.status_code, error_body(type(exc).__name__, str(exc))
    return 200, {"response": result}


def encode(body: dict) -> bytes:
    """Strict JSON (the visualiser's JSON.parse rejects NaN and Infinity)."""
    return json.dumps(body, allow_nan=False, separators=(",", ":")).encode()


def _from_page(request: HttpRequest) -> bool:
    """Does a session call show it comes from this site's pages (scheduler.auth.protocol)?"""
    if request.headers.get("X-Requested-With") == "XMLHttpRequest":
        return True
    if request.method != "POST":
        return False
    # Django's own check, as DRF's SessionAuthentication runs it.
    refusal = CsrfViewMiddleware(lambda _request: HttpResponse()).process_view(
        request, None, (), {}
    )
    return refusal is None


def _refusal_response(refusal: protocol.Refusal) -> HttpResponse:
    response = HttpResponse(
        encode(refusal.body), status=refusal.status, content_type="application/json"
    )
    for name, value in refusal.headers.items():
        response[name] = value
    return response


@csrf_exempt
def api(request: HttpRequest, method: str) -> HttpResponse:
    if request.method == "OPTIONS":
        return HttpResponse(status=204)
    try:
        raw = request.POST.get("data") if request.method == "POST" else None
        if raw is None:
            raw = request.GET.get("data")
    except UnicodeDecodeError:
        return JsonResponse(error_body("invalid argument", "the body is not UTF-8"), status=400)
    except RequestDataTooBig:
        return JsonResponse(too_large_body(), status=413)
    access = protocol.check(
        method,
        request.headers.get("Authorization"),
        session_user=getattr(request, "user", None),
        from_page=_from_page(request),
    )
    if isinstance(access, protocol.Refusal):
        return _refusal_response(access)
    status, body = dispatch(request.method, method, raw, user=access.username)
    return HttpResponse(encode(body), status=status, content_type="application/json")


@require_safe
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus exposition (scheduler.metrics): for the viewer role (a token, as
    Prometheus sends with ``authorization`` or ``basic_auth``, or a session), or
    anyone with ``SCHEDULER_METRICS_PUBLIC``."""
    if not getattr(settings, "SCHEDULER_METRICS_PUBLIC", False):
        try:
            user = user_for_header(request.headers.get("Authorization")) or request.user
        except BadCredentials as exc:
            response = JsonResponse(error_body("authentication required", str(exc)), status=401)
            response["WWW-Authenticate"] = REALM
            return response
        if not can_view(user):
            status = 403 if user.is_authenticated else 401
            response = JsonResponse(
                error_body("forbidden", "/metrics needs the viewer role"), status=status
            )
            if status == 401:
                response["WWW-Authenticate"] = REALM
            return response
    return HttpResponse(collect.exposition(), content_type=collect.content_type())
