"""The history as JSON (DRF), under /api/v1/history/. Each HTML page has a twin:

- /history                        -> GET runs/?<filters>
- /history/by_id/<id>             -> GET runs/<id>/
- /history/by_name/<name>         -> GET families/<name>/ (stats) and runs/?family=<name>
- /history/by_params/<name>?data= -> GET runs/?family=<name>&data=<json>
"""

from __future__ import annotations

from typing import Any

from rest_framework import viewsets
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.filters import BaseFilterBackend
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response

from .models import Run
from .queries import FILTERS, BadQuery, family_stats, filter_runs, recent_runs
from .serializers import FamilyStatsSerializer, RunDetailSerializer, RunSerializer


class RunFilter(BaseFilterBackend):
    """The query-string filters of ``history.queries`` (in the schema too)."""

    def filter_queryset(self, request: Request, queryset: Any, view: Any) -> Any:
        if getattr(view, "action", None) != "list":
            return queryset
        try:
            return filter_runs(queryset, request.query_params)
        except BadQuery as exc:
            raise ValidationError({exc.parameter: [exc.message]}) from None

    def get_schema_operation_parameters(self, view: Any) -> list[dict]:
        return [
            {
                "name": name,
                "required": False,
                "in": "query",
                "description": description,
                "schema": {"type": "string"},
            }
            for name, description in FILTERS.items()
        ]


class HistoryPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 1000


class RunViewSet(viewsets.ReadOnlyModelViewSet):
    """Runs, newest activity first; one run with its events and error."""

    filter_backends = [RunFilter]
    pagination_class = HistoryPagination

    def get_queryset(self) -> Any:
        if self.action == "retrieve":
            return Run.objects.prefetch_related("events")
        return recent_runs()

    def get_serializer_class(self) -> Any:
        return RunDetailSerializer if self.action == "retrieve" else RunSerializer


class FamilyViewSet(viewsets.ViewSet):
    """Success rate and duration percentiles of a task family."""

    lookup_field = "name"
    lookup_value_regex = "[^/]+"
    serializer_class = FamilyStatsSerializer

    def retrieve(self, request: Request, name: str) -> Response:
        stats = family_stats(name)
        if not stats.runs:
            raise NotFound(f"no runs of task family {name!r} are recorded")
        return Response(FamilyStatsSerializer(stats.as_dict()).data)
