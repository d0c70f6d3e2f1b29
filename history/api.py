"""The history as JSON (DRF), under /api/v1/history/. Each HTML page has a twin:

- /history                        -> GET runs/?<filters>
- /history/by_id/<id>             -> GET runs/<id>/
- /history/by_name/<name>         -> GET families/<name>/ (stats) and runs/?family=<name>
- /history/by_params/<name>?data= -> GET runs/?family=<name>&data=<json>

and GET events/ lists every recorded status change, newest first. Errors and
pagination are the REST API's (``scheduler.api``): ``{"error", "detail"}`` bodies,
``?page=`` and ``?page_size=`` up to 500.
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers, viewsets
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.filters import BaseFilterBackend
from rest_framework.request import Request
from rest_framework.response import Response

from scheduler.api.base import PipelinesApiMixin
from scheduler.api.pagination import ApiPagination
from scheduler.permissions import CanView

from .models import Event, Run
from .queries import FILTERS, BadQuery, family_stats, filter_runs, parse_time, recent_runs
from .serializers import (
    EventSerializer,
    FamilyStatsSerializer,
    RunDetailSerializer,
    RunSerializer,
)


def reject_nul(query: Any) -> None:
    """A NUL character cannot be stored or compared in PostgreSQL text: a 400, not a 500."""
    for name, values in query.lists():
        if any("\x00" in value for value in values):
            raise ValidationError({name: ["contains a NUL character"]})


class _QueryFilter(BaseFilterBackend):
    """Query-string filters from ``history.queries`` (listed in the schema too); a bad
    value is a 400 naming the parameter."""

    filters: dict[str, str] = {}
    integers: frozenset[str] = frozenset()
    list_only = False

    def apply(self, queryset: Any, query: Any) -> Any:
        raise NotImplementedError

    def filter_queryset(self, request: Request, queryset: Any, view: Any) -> Any:
        if self.list_only and getattr(view, "action", None) != "list":
            return queryset
        reject_nul(request.query_params)
        try:
            return self.apply(queryset, request.query_params)
        except BadQuery as exc:
            raise ValidationError({exc.parameter: [exc.message]}) from None

    def get_schema_operation_parameters(self, view: Any) -> list[dict]:
        return [
            {
                "name": name,
                "required": False,
                "in": "query",
                "description": description,
                "schema": {"type": "integer" if name in self.integers else "string"},
            }
            for name, description in self.filters.items()
        ]


class RunFilter(_QueryFilter):
    filters = FILTERS
    list_only = True

    def apply(self, queryset: Any, query: Any) -> Any:
        return filter_runs(queryset, query)


class HistoryPagination(ApiPagination):
    """The REST API's pagination (kept under this name for importers)."""


class RunViewSet(PipelinesApiMixin, viewsets.ReadOnlyModelViewSet):
    """Runs, newest activity first; one run with its events and error."""

    filter_backends = [RunFilter]
    pagination_class = HistoryPagination
    permission_classes = [CanView]

    def get_queryset(self) -> Any:
        if self.action == "retrieve":
            return Run.objects.prefetch_related("events")
        return recent_runs()

    def get_serializer_class(self) -> Any:
        return RunDetailSerializer if self.action == "retrieve" else RunSerializer


class FamilyViewSet(PipelinesApiMixin, viewsets.ViewSet):
    """Success rate and duration percentiles of a task family."""

    lookup_field = "name"
    lookup_value_regex = "[^/]+"
    serializer_class = FamilyStatsSerializer
    permission_classes = [CanView]

    def retrieve(self, request: Request, name: str) -> Response:
        if "\x00" in name:
            raise ValidationError({"name": ["contains a NUL character"]})
        stats = family_stats(name)
        if not stats.runs:
            raise NotFound(f"no runs of task family {name!r} are recorded")
        return Response(FamilyStatsSerializer(stats.as_dict()).data)


# Query parameter -> what it filters, for events/.
EVENT_FILTERS: dict[str, str] = {
    "task_id": "Luigi task id (exact).",
    "run": "Run id.",
    "family": "Task family (exact).",
    "status": "Status the event changed to.",
    "cause": "What made the change (add_task, get_work, forgive_failures, ...).",
    "user": "The operator who acted.",
    "since": "Events at or after this time (ISO 8601 or epoch seconds).",
    "until": "Events before this time (ISO 8601 or epoch seconds).",
}


def filter_events(queryset: Any, query: Any) -> Any:
    for name, lookup in (
        ("task_id", "run__task_id"),
        ("family", "run__family"),
        ("status", "status"),
        ("cause", "cause"),
        ("user", "user"),
    ):
        if query.get(name):
            queryset = queryset.filter(**{lookup: query[name]})
    if query.get("run"):
        queryset = queryset.filter(run_id=_run_id(query["run"]))
    if query.get("since"):
        queryset = queryset.filter(at__gte=parse_time("since", query["since"]))
    if query.get("until"):
        queryset = queryset.filter(at__lt=parse_time("until", query["until"]))
    return queryset


def _run_id(raw: str) -> int:
    """A run id from the query string: a 64-bit integer, the column's range (SQLite
    cannot even compare with a larger one); one no run has matches nothing."""
    try:
        value = int(raw)
    except ValueError:
        raise BadQuery("run", f"{raw!r} is not a run id (an integer)") from None
    if not -(2**63) <= value < 2**63:
        raise BadQuery("run", f"{raw!r} is not a run id (beyond 64 bits)")
    return value


class EventFilter(_QueryFilter):
    filters = EVENT_FILTERS
    integers = frozenset({"run"})

    def apply(self, queryset: Any, query: Any) -> Any:
        return filter_events(queryset, query)


class EventListSerializer(EventSerializer):
    run = serializers.IntegerField(source="run_id", read_only=True)
    task_id = serializers.CharField(source="run.task_id", read_only=True)
    family = serializers.CharField(source="run.family", read_only=True)

    class Meta(EventSerializer.Meta):
        fields = ["id", "run", "task_id", "family", *EventSerializer.Meta.fields[1:]]


class EventViewSet(PipelinesApiMixin, viewsets.ReadOnlyModelViewSet):
    """Status changes as recorded, newest first; one event by id."""

    filter_backends = [EventFilter]
    pagination_class = HistoryPagination
    permission_classes = [CanView]
    serializer_class = EventListSerializer
    queryset = Event.objects.select_related("run").order_by("-id")
