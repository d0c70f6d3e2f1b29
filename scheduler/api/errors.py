"""The one exception handler of the REST API (scheduler's and history's endpoints).

Every error answers ``{"error": "<short code>", "detail": "<what was wrong>"}``;
validation errors also carry ``fields`` (each field's messages).
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import InterfaceError, OperationalError
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from ..errors import InvalidArgument, NotApplicable, NotFound, SchedulerError, error_body

logger = logging.getLogger(__name__)

_CODES = {
    InvalidArgument: "invalid",
    NotFound: "not_found",
    NotApplicable: "conflict",
}


def _flatten(detail: Any, prefix: str = "") -> list[str]:
    """'field: message' lines of a DRF validation error's nested detail."""
    if isinstance(detail, dict):
        return [
            line
            for key, value in detail.items()
            for line in _flatten(value, f"{prefix}{key}: " if key != "non_field_errors" else prefix)
        ]
    if isinstance(detail, list):
        return [line for item in detail for line in _flatten(item, prefix)]
    return [f"{prefix}{detail}"]


def exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, SchedulerError):
        if exc.status_code >= 500:
            logger.warning("%s", exc)
        code = _CODES.get(type(exc), "unavailable" if exc.status_code >= 500 else "invalid")
        extra = {"fields": {exc.argument: [str(exc)]}} if isinstance(exc, InvalidArgument) else {}
        return Response(error_body(code, str(exc), **extra), status=exc.status_code)
    if isinstance(exc, OperationalError | InterfaceError):
        logger.warning("database unavailable: %s", exc)
        return Response(
            error_body("unavailable", f"database unavailable: {exc}"),
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
        )
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        fields = exc.detail if isinstance(exc.detail, dict) else None
        body = error_body("invalid", "; ".join(_flatten(exc.detail)))
        if fields is not None:
            body["fields"] = fields
    elif isinstance(exc, exceptions.APIException):
        code = exc.get_codes()
        body = error_body(code if isinstance(code, str) else exc.default_code, str(exc.detail))
    else:  # Http404 and PermissionDenied, already turned into API exceptions' answers
        code = "not_found" if response.status_code == 404 else "permission_denied"
        body = error_body(code, str(response.data.get("detail", "")))
    response.data = body
    return response


@csrf_exempt
def not_found(request: Any, *args: Any, **kwargs: Any) -> Any:
    """Any other path under /api/v1/: a 404 in the API's error shape, not an HTML page
    (for every method: it changes nothing, so no CSRF check)."""

    return JsonResponse(
        error_body("not_found", f"no REST API endpoint at {request.path!r}"), status=404
    )
