"""Database outages on Django's side (REST API, pages, admin): 503, never 500."""

from __future__ import annotations

from collections.abc import Callable

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse

from . import dbhealth


def _unavailable(detail: str) -> JsonResponse:
    response = JsonResponse(
        {"error": "database unavailable", "detail": f"{detail}; retry shortly"}, status=503
    )
    response["Retry-After"] = "1"
    return response


class DatabaseUnavailableMiddleware:
    """Refuses requests while the database is known to be away, and turns a lost
    connection met by a view into 503 (with Retry-After) instead of a server error."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        reason = dbhealth.unavailable()
        if reason is not None:
            return _unavailable(f"database unavailable: {reason}")
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, OperationalError | InterfaceError) and dbhealth.is_outage(
            exception
        ):
            dbhealth.note_failure(exception)
            return _unavailable(f"database unavailable: {exception}")
        return None
