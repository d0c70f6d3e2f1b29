"""Django-side request rules: body size limit, the viewer rule for the apps' HTML
pages, NUL characters in URLs, and database outages (503, never 500)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse

from . import dbhealth
from .errors import error_body
from .permissions import can_view

# URL namespaces whose pages need the viewer role (REST views check for themselves).
PAGE_NAMESPACES = frozenset({"pipelines_history", "pipelines_visualiser"})
# Their JSON endpoints, which refuse with a JSON 403 of their own.
JSON_VIEWS = frozenset({"graph-layout"})


class BodySizeLimitMiddleware:
    """413, with a JSON error naming the limit, for a declared body over
    ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (before anything reads it)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        from .views import too_large_body

        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        declared = request.META.get("CONTENT_LENGTH") or ""
        if limit is not None and declared.isdigit() and int(declared) > limit:
            return JsonResponse(too_large_body(), status=413)
        return self.get_response(request)


class ViewerRequiredMiddleware:
    """The dashboard's and history's pages need the viewer role (or anonymous reads):
    anonymous callers are sent to the login page, others get 403. The rule only
    covers this project's page namespaces, so a host site's own pages are untouched.
    Luigi's health check (HEAD /) stays open."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view_func: Any, view_args: Any, view_kwargs: Any
    ) -> HttpResponse | None:
        match = request.resolver_match
        if match is None or not PAGE_NAMESPACES.intersection(match.namespaces):
            return None
        if match.url_name == "index" and request.method == "HEAD":
            return None
        if match.url_name in JSON_VIEWS:
            return None  # answers 403 in JSON itself
        if request.path.startswith("/api/") or can_view(request.user):
            return None
        if not request.user.is_authenticated:
            login = settings.LOGIN_URL
            return HttpResponseRedirect(f"{login}?next={quote(request.get_full_path())}")
        return HttpResponse("This page needs the viewer role.", status=403)


def _unavailable(detail: str) -> JsonResponse:
    response = JsonResponse(
        error_body("database unavailable", f"{detail}; retry shortly"), status=503
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
        if "\x00" in request.path:
            return self._refuse("the path", None)
        for name, values in request.GET.lists():
            if "\x00" in name or any("\x00" in value for value in values):
                return self._refuse(f"query parameter {name!r}", name)
        return self.get_response(request)

    @staticmethod
    def _refuse(where: str, field: str | None) -> JsonResponse:
        message = f"{where} contains a NUL character"
        # With a field: the REST API's validation shape.
        extra = {} if field is None else {"fields": {field: [message]}}
        return JsonResponse(error_body("invalid", message, **extra), status=400)
