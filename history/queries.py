"""Reading history: the filters the pages and the API share, and a family's stats.

Filters come from a query string (``QueryDict`` or any mapping of str to str);
a bad one raises :class:`BadQuery` naming the parameter and what was wrong,
which the pages and the API turn into a 400.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Q, QuerySet, TextField, Value
from django.db.models.fields.json import KeyTextTransform
from django.db.models.lookups import Exact

from .models import Run

# Query parameter -> what it filters (also the API schema's descriptions).
FILTERS: dict[str, str] = {
    "family": "Task family (exact).",
    "task_id": "Luigi task id (exact).",
    "status": "Status after the run's latest event (PENDING, RUNNING, DONE, FAILED, ...).",
    "outcome": "Status the run ended with (DONE, FAILED, DISABLED, PENDING when lost).",
    "host": "Host the run ran on (exact).",
    "worker": "Worker id that ran it (exact).",
    "since": "Only runs with an event at or after this time (ISO 8601 or epoch seconds).",
    "until": "Only runs whose latest event is before this time (ISO 8601 or epoch seconds).",
    "data": 'Parameters to match, a JSON object of strings: {"date": "2024-01-01"}.',
}


_JSON_KINDS = {
    list: "an array",
    str: "a string",
    int: "a number",
    float: "a number",
    bool: "a boolean",
    type(None): "null",
}


class BadQuery(ValueError):
    """A query parameter that cannot be used; the message says why."""

    def __init__(self, parameter: str, message: str):
        super().__init__(f"{parameter}: {message}")
        self.parameter = parameter
        self.message = message


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def parse_params(raw: str | None) -> dict[str, str]:
    """The ``data`` of by_params: a JSON object whose values are strings (Luigi
    sends every parameter serialised as a string)."""
    if raw is None or not raw.strip():
        raise BadQuery("data", 'required: a JSON object of parameters, e.g. {"date": "2024-01-01"}')
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise BadQuery("data", f"not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        kind = _JSON_KINDS.get(type(value), type(value).__name__)
        raise BadQuery("data", f"must be a JSON object of parameters, not {kind}")
    for name, item in value.items():
        for text in (name, item) if isinstance(item, str) else (name,):
            if "\x00" in text:
                raise BadQuery("data", f"parameter {name!r} contains a NUL character")
            if not text.isascii() and not _encodable(text):
                raise BadQuery("data", f"parameter {name!r} contains a lone surrogate (\\ud8xx)")
        if not isinstance(item, str):
            raise BadQuery(
                "data",
                f"the value of parameter {name!r} must be a string "
                f"(parameters are stored as strings), got {json.dumps(item)}",
            )
    return value


def parse_time(parameter: str, raw: str) -> float:
    try:
        return float(raw)
    except ValueError:
        pass
    try:
        moment = dt.datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError:
        raise BadQuery(
            parameter, f"{raw!r} is neither an ISO 8601 time nor seconds since the epoch"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()


def match_params(queryset: QuerySet[Run], params: Mapping[str, str]) -> QuerySet[Run]:
    """Runs whose parameters include every given name with exactly that value."""
    for name, value in sorted(params.items()):
        # An explicit lookup, not params__<name>: a parameter may be called
        # "contains" or have "__" in its name.
        queryset = queryset.filter(
            Exact(KeyTextTransform(name, "params"), Value(value, output_field=TextField()))
        )
    return queryset


def filter_runs(queryset: QuerySet[Run], query: Mapping[str, Any]) -> QuerySet[Run]:
    for name in ("family", "task_id", "status", "outcome", "host", "worker"):
        value = query.get(name)
        if value:
            queryset = queryset.filter(**{name: value})
    if query.get("since"):
        queryset = queryset.filter(updated_at__gte=parse_time("since", query["since"]))
    if query.get("until"):
        queryset = queryset.filter(updated_at__lt=parse_time("until", query["until"]))
    if "data" in query:
        queryset = match_params(queryset, parse_params(query.get("data")))
    return queryset


def recent_runs() -> QuerySet[Run]:
    return Run.objects.order_by("-updated_at", "-id")


@dataclass(frozen=True)
class FamilyStats:
    family: str
    runs: int
    # Runs that started and ended (have an outcome).
    finished: int
    succeeded: int
    # Percentiles of the durations of successful runs, in seconds.
    p50: float | None
    p95: float | None

    @property
    def success_rate(self) -> float | None:
        return self.succeeded / self.finished if self.finished else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "family": self.family,
            "runs": self.runs,
            "finished": self.finished,
            "succeeded": self.succeeded,
            "success_rate": self.success_rate,
            "p50_duration": self.p50,
            "p95_duration": self.p95,
        }


def nearest_rank(count: int, fraction: float) -> int:
    """0-based index of the ``fraction`` percentile among ``count`` sorted values."""
    return max(0, math.ceil(fraction * count) - 1)


def family_stats(family: str) -> FamilyStats:
    runs = Run.objects.filter(family=family)
    counts = runs.aggregate(
        runs=Count("id"),
        finished=Count("id", filter=Q(outcome__isnull=False)),
        succeeded=Count("id", filter=Q(outcome="DONE")),
    )
    # Read through the (family, outcome, duration) index: no sorting in Python.
    durations = runs.filter(outcome="DONE", duration__isnull=False).order_by("duration")
    timed = durations.count()

    def percentile(fraction: float) -> float | None:
        if not timed:
            return None
        return durations.values_list("duration", flat=True)[nearest_rank(timed, fraction)]

    return FamilyStats(family=family, p50=percentile(0.5), p95=percentile(0.95), **counts)
