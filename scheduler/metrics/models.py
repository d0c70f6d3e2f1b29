"""Counters and histogram buckets kept in the database (imported into scheduler.models)."""

from __future__ import annotations

from django.db import models


class MetricValue(models.Model):
    """One value of a metric series: a counter, a gauge, or one (non-cumulative)
    histogram bucket (``bucket`` is its upper bound, or "sum")."""

    name = models.CharField(max_length=64)
    family = models.CharField(max_length=255)
    bucket = models.CharField(max_length=16, blank=True, default="")
    value = models.FloatField(default=0)

    class Meta:
        app_label = "pipelines_scheduler"
        constraints = [
            models.UniqueConstraint(fields=["name", "family", "bucket"], name="pl_metric_series"),
        ]

    def __str__(self) -> str:
        bucket = f"[{self.bucket}]" if self.bucket else ""
        return f"{self.name}{{family={self.family!r}}}{bucket} = {self.value}"
