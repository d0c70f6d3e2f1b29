"""What ``/metrics`` serves, read at scrape time."""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from ..models import Worker
from ..service import Ctx
from ..service.reads import resource_list, status_counts
from . import store
from .models import MetricValue
from .rpc import RPC_DURATION

_HELP = {
    store.STARTED: "Tasks handed to a worker by get_work.",
    store.DONE: "Transitions to DONE.",
    store.FAILED: "Transitions to FAILED.",
    store.DISABLED: "Transitions to DISABLED.",
}


class DatabaseCollector:
    """Task counters, durations and the scheduler's current state, from the database."""

    def collect(self) -> Iterator[Metric]:
        ctx = Ctx.make()
        yield from self._task_metrics()
        tasks = GaugeMetricFamily("pipelines_tasks", "Tasks per status.", labels=["status"])
        for status, count in sorted(status_counts(ctx).items()):
            tasks.add_metric([status], count)
        yield tasks
        alive = Worker.objects.filter(
            disabled=False, last_active__gte=ctx.now - ctx.config.worker_disconnect_delay
        ).count()
        yield GaugeMetricFamily(
            "pipelines_workers_alive",
            "Workers (not disabled) heard from within worker_disconnect_delay.",
            value=alive,
        )
        in_use = GaugeMetricFamily(
            "pipelines_resource_in_use",
            "Units of a resource held by running tasks.",
            labels=["resource"],
        )
        limit = GaugeMetricFamily(
            "pipelines_resource_limit", "Capacity of a resource.", labels=["resource"]
        )
        for resource in resource_list(ctx):
            in_use.add_metric([resource["name"]], resource["num_used"])
            limit.add_metric([resource["name"]], resource["num_total"])
        yield in_use
        yield limit

    @staticmethod
    def _task_metrics() -> Iterator[Metric]:
        counters = {
            name: CounterMetricFamily(name.removesuffix("_total"), _HELP[name], labels=["family"])
            for name in store.COUNTERS
        }
        execution = GaugeMetricFamily(
            store.EXECUTION_TIME,
            "Run time of the task that last finished, per family.",
            labels=["family"],
        )
        buckets: dict[str, dict[str, float]] = defaultdict(dict)
        for name, family, bucket, value in MetricValue.objects.values_list(
            "name", "family", "bucket", "value"
        ).order_by("name", "family"):
            if name in counters:
                counters[name].add_metric([family], value)
            elif name == store.EXECUTION_TIME:
                execution.add_metric([family], value)
            elif name == store.DURATION:
                buckets[family][bucket] = value
        yield from counters.values()
        yield execution
        duration = HistogramMetricFamily(
            store.DURATION, "Run time of finished tasks, per family.", labels=["family"]
        )
        for family, values in sorted(buckets.items()):
            cumulative, running = [], 0.0
            for bound in store.DURATION_BUCKETS:
                label = store.bucket_label(bound)
                running += values.get(label, 0)
                cumulative.append((label, running))
            duration.add_metric([family], cumulative, sum_value=values.get("sum", 0))
        yield duration


class _ProcessRpcCollector:
    def collect(self) -> Iterator[Metric]:
        return RPC_DURATION.collect()


def exposition() -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector())
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client.multiprocess import MultiProcessCollector

        MultiProcessCollector(registry)
    else:
        registry.register(_ProcessRpcCollector())
    return generate_latest(registry)


def content_type() -> str:
    from prometheus_client import CONTENT_TYPE_LATEST

    return CONTENT_TYPE_LATEST
