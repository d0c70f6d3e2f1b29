"""The landing page at / (the live dashboard grows here), and Luigi's HEAD / health check."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_safe

from scheduler.service import Ctx
from scheduler.service.reads import status_counts


@require_safe
def index(request: HttpRequest) -> HttpResponse:
    if request.method == "HEAD":
        return HttpResponse(status=204)  # luigid's health check
    counts = status_counts(Ctx.make())
    # Luigi joins "/api/<method>" onto the URL's path: no trailing slash under a prefix.
    scheduler_url = request.build_absolute_uri(reverse("pipelines_visualiser:index"))
    if scheduler_url.count("/") > 3:
        scheduler_url = scheduler_url.rstrip("/")
    return render(
        request, "visualiser/index.html", {"counts": counts, "scheduler_url": scheduler_url}
    )
