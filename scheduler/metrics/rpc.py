"""Latency of Luigi's protocol per method, as this server process saw it."""

from __future__ import annotations

from prometheus_client import Histogram

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

# Not in prometheus_client's global registry: /metrics builds its own (scheduler.metrics.collect).
RPC_DURATION = Histogram(
    "pipelines_rpc_duration_seconds",
    "Time to answer a call of Luigi's protocol (/api/<method>), by method.",
    ["method"],
    buckets=BUCKETS,
    registry=None,
)


def observe(method: str, seconds: float) -> None:
    RPC_DURATION.labels(method).observe(seconds)
