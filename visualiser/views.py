"""The landing page at / (the live dashboard grows here), and Luigi's HEAD / health check."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from scheduler.service import Ctx
from scheduler.service.reads import status_counts


@require_safe
def index(request: HttpRequest) -> HttpResponse:
    if request.method == "HEAD":
        return HttpResponse(status=204)  # luigid's health check
    counts = status_counts(Ctx.make())
    return render(request, "visualiser/index.html", {"counts": counts})
