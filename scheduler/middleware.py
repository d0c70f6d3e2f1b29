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


class RejectNulMiddleware:
    """A NUL character in the path or a query parameter is a 400 naming it.

    PostgreSQL cannot hold NUL in text, so such a value reaching a filter or a
    lookup would fail as a server error (SQLite would accept it: the answer must
    not depend on the database). The protocol's arguments are checked in
    ``scheduler.views.check_storable``."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        where = None
        if "\x00" in request.path:
            where = "the path"
        else:
            for name, values in request.GET.lists():
                if "\x00" in name or any("\x00" in value for value in values):
                    where = f"query parameter {name!r}"
                    break
        if where is not None:
            return JsonResponse(
                {"error": "invalid argument", "detail": f"{where} contains a NUL character"},
                status=400,
            )
        return self.get_response(request)
