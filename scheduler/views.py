"""HTTP transport of Luigi's protocol: /api/<method> with the arguments as JSON in
the `data` field of the query string or form body, answered as {"response": ...}."""

from __future__ import annotations

import json
import logging

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from . import rpc
from .errors import InvalidArgument, SchedulerError

logger = logging.getLogger(__name__)


def _error(status: int, error: str, detail: str) -> JsonResponse:
    return JsonResponse({"error": error, "detail": detail}, status=status)


def parse_data(request: HttpRequest) -> dict:
    raw = request.POST.get("data") if request.method == "POST" else None
    if raw is None:
        raw = request.GET.get("data")
    if raw is None and request.method == "POST" and request.content_type == "application/json":
        raw = request.body.decode("utf-8", errors="strict") or None
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


@csrf_exempt
def api(request: HttpRequest, method: str) -> HttpResponse:
    if request.method == "OPTIONS":
        return HttpResponse(status=204)
    if request.method not in ("GET", "POST"):
        return _error(405, "method not allowed", "use GET or POST")
    if method not in rpc.METHODS:
        return _error(404, "unknown method", f"the scheduler has no method {method!r}")
    try:
        data = parse_data(request)
        result = rpc.call(method, data)
    except UnicodeDecodeError:
        return _error(400, "invalid argument", "the request body is not valid UTF-8")
    except SchedulerError as exc:
        if exc.status_code >= 500:
            logger.warning("%s: %s", method, exc)
        return _error(exc.status_code, type(exc).__name__, str(exc))
    return JsonResponse({"response": result}, json_dumps_params={"allow_nan": False})
