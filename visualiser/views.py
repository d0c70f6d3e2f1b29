"""The dashboard's pages (shells filled by the front-end from the REST API and kept
live over /ws/tasks/), the graph layout they draw, and Luigi's HEAD / health check."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render, resolve_url
from django.urls import NoReverseMatch, reverse
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_safe

from scheduler.errors import InvalidArgument, NotFound, error_body
from scheduler.permissions import can_operate, can_view
from scheduler.service import Ctx
from scheduler.service.reads import status_counts

from . import graph

MAX_ID = 1024


def _admin_url(name: str) -> str | None:
    """The admin's page, where the site has Django's admin at all."""
    try:
        return reverse(f"admin:{name}")
    except NoReverseMatch:
        return None


def _page(request: HttpRequest, template: str, page: str, **context) -> HttpResponse:
    if not can_view(request.user):
        return redirect_to_login(request.get_full_path())
    context.update(
        page=page,
        can_operate=can_operate(request.user),
        admin_url=_admin_url("index"),
        logout_url=_admin_url("logout"),
        login_url=resolve_url(settings.LOGIN_URL),
    )
    return render(request, f"visualiser/{template}", context)


def _task_id(request: HttpRequest) -> str | None:
    task_id = request.GET.get("id", "")
    return task_id if 0 < len(task_id) <= MAX_ID else None


def _missing_id() -> HttpResponse:
    return HttpResponse("Give the task id as ?id=<task id>.", status=400, content_type="text/plain")


@require_safe
@ensure_csrf_cookie
def index(request: HttpRequest) -> HttpResponse:
    if request.method == "HEAD":
        return HttpResponse(status=204)  # luigid's health check
    counts = status_counts(Ctx.make()) if can_view(request.user) else {}
    # Luigi joins "/api/<method>" onto the URL's path: no trailing slash under a prefix.
    scheduler_url = request.build_absolute_uri(reverse("pipelines_visualiser:index"))
    if scheduler_url.count("/") > 3:
        scheduler_url = scheduler_url.rstrip("/")
    return _page(request, "overview.html", "overview", counts=counts, scheduler_url=scheduler_url)


def _task_page(request: HttpRequest, page: str) -> HttpResponse:
    task_id = _task_id(request)
    if task_id is None:
        return _missing_id()
    return _page(request, f"{page}.html", page, task_id=task_id)


@require_safe
@ensure_csrf_cookie
def task(request: HttpRequest) -> HttpResponse:
    return _task_page(request, "task")


@require_safe
@ensure_csrf_cookie
def task_graph(request: HttpRequest) -> HttpResponse:
    return _task_page(request, "graph")


@require_safe
def workers(request: HttpRequest) -> HttpResponse:
    return _page(request, "workers.html", "workers")


@require_safe
def resources(request: HttpRequest) -> HttpResponse:
    return _page(request, "resources.html", "resources")


def _error(status: int, code: str, detail: str) -> JsonResponse:
    return JsonResponse(error_body(code, detail), status=status)


@require_safe
def graph_layout(request: HttpRequest) -> JsonResponse:
    """``GET /dashboard/graph-layout/?id=<task id>&direction=upstream|downstream|both``."""
    if not can_view(request.user):
        return _error(403, "forbidden", "Viewing the scheduler needs the viewer role.")
    task_id = _task_id(request)
    if task_id is None:
        return _error(400, "bad request", f"give the task id as ?id= (1 to {MAX_ID} characters)")
    try:
        drawing = graph.drawing(Ctx.make(), task_id, request.GET.get("direction", "both"))
    except InvalidArgument as exc:
        return _error(400, "bad request", str(exc))
    except NotFound as exc:
        return _error(404, "not found", str(exc))
    return JsonResponse(drawing)
