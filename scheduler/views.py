"""HTTP transport of Luigi's protocol: /api/<method> with the arguments as JSON in
the `data` field of the query string or form body, answered as {"response": ...}.

``dispatch`` is the whole behaviour; the Django view below and the ASGI fast
path in ``scheduler.asgi`` are two doors to it.
"""

from __future__ import annotations

import json
import logging

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from . import dbhealth, rpc
from .errors import InvalidArgument, SchedulerError, SchedulerUnavailable

logger = logging.getLogger(__name__)


def parse_data(raw: str | None) -> dict:
    if raw is None or raw.strip() == "":
        return {}
    try:
        # Python's json accepts Infinity, which Luigi workers send for max_batch_size.
        data = json.loads(raw)
    except ValueError as exc:
        raise InvalidArgument("data", f"not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidArgument("data", "a JSON object of arguments is required")
    return data


def error_body(error: str, detail: str) -> dict:
    return {"error": error, "detail": detail}


def dispatch(http_method: str, method: str, raw_data: str | None) -> tuple[int, dict]:
    """Answer one protocol call: (HTTP status, JSON body)."""
    if http_method not in ("GET", "POST"):
        return 405, error_body("method not allowed", "use GET or POST")
    if method not in rpc.METHODS:
        return 404, error_body("unknown method", f"the scheduler has no method {method!r}")
    reason = dbhealth.unavailable()
    if reason is not None:
        return 503, error_body("SchedulerUnavailable", f"database unavailable: {reason}")
    try:
        result = rpc.call(method, parse_data(raw_data))
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
    status, body = dispatch(request.method, method, raw)
    return HttpResponse(encode(body), status=status, content_type="application/json")
