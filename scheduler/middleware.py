"""Request limits and the viewer rule for the apps' HTML pages."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse

from .permissions import can_view

# URL namespaces whose pages need the viewer role (REST views check for themselves).
PAGE_NAMESPACES = frozenset({"history", "visualiser"})


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
        if request.path.startswith("/api/") or can_view(request.user):
            return None
        if not request.user.is_authenticated:
            login = settings.LOGIN_URL
            return HttpResponseRedirect(f"{login}?next={quote(request.get_full_path())}")
        return HttpResponse("This page needs the viewer role.", status=403)
