"""The /history pages (Luigi's task history routes, with runs and stats)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse

from .models import Run
from .queries import BadQuery, family_stats, filter_runs, recent_runs
from .status import STATUSES

PAGE_SIZE = 50
FORM_FILTERS = ("family", "task_id", "status", "outcome", "host", "worker", "since", "until")


def _runs_page(
    request: HttpRequest, queryset: Any, context: dict[str, Any], template: str
) -> HttpResponse:
    """Filter, paginate and render a list of runs; a bad filter is a 400 saying why."""
    try:
        queryset = filter_runs(queryset, request.GET)
    except BadQuery as exc:
        return render(
            request,
            "pipelines_history/bad_request.html",
            {"parameter": exc.parameter, "message": exc.message},
            status=400,
        )
    page = Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))
    kept = {k: v for k, v in request.GET.items() if k != "page" and v}
    return render(
        request,
        template,
        {
            **context,
            "page": page,
            "filters": {name: request.GET.get(name, "") for name in FORM_FILTERS},
            "statuses": STATUSES,
            "query": urlencode(kept),
        },
    )


def recent(request: HttpRequest) -> HttpResponse:
    return _runs_page(
        request,
        recent_runs(),
        {"title": "Recent runs", "api": reverse("pipelines_history:run-api-list")},
        "pipelines_history/runs.html",
    )


def by_name(request: HttpRequest, name: str) -> HttpResponse:
    return _runs_page(
        request,
        recent_runs().filter(family=name),
        {
            "title": f"Runs of {name}",
            "family": name,
            "stats": family_stats(name),
            "api": reverse("pipelines_history:family-api-detail", args=[name]),
        },
        "pipelines_history/family.html",
    )


def by_params(request: HttpRequest, name: str) -> HttpResponse:
    if "data" not in request.GET:
        return render(
            request,
            "pipelines_history/bad_request.html",
            {
                "parameter": "data",
                "message": 'required: a JSON object of parameters, e.g. {"date": "2024-01-01"}',
            },
            status=400,
        )
    return _runs_page(
        request,
        recent_runs().filter(family=name),
        {
            "title": f"Runs of {name} with parameters {request.GET['data']}",
            "family": name,
            "api": reverse("pipelines_history:run-api-list")
            + "?"
            + urlencode({"family": name, "data": request.GET["data"]}),
        },
        "pipelines_history/runs.html",
    )


def by_id(request: HttpRequest, run_id: int) -> HttpResponse:
    run = get_object_or_404(Run, pk=run_id)
    events = list(run.events.order_by("id"))
    previous = None
    for event in events:
        event.since_previous = None if previous is None else event.at - previous
        previous = event.at
    others = Run.objects.filter(task_id=run.task_id).exclude(pk=run.pk).order_by("-id")[:20]
    return render(
        request,
        "pipelines_history/run.html",
        {
            "run": run,
            "events": events,
            "others": others,
            "params": sorted((run.params or {}).items()),
            "api": reverse("pipelines_history:run-api-detail", args=[run.id]),
        },
    )


def by_task_id(request: HttpRequest, task_id: str) -> HttpResponse:
    """Luigi's /history/by_task_id: the latest run of that task id."""
    run = Run.objects.filter(task_id=task_id).order_by("-id").first()
    if run is None:
        raise Http404(f"no runs of task {task_id!r} are recorded")
    return redirect("pipelines_history:run", run_id=run.id)
