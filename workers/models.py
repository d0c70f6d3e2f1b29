"""Database state owned by the worker side: completion markers for DatabaseTarget."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class TargetMarker(models.Model):
    """One row per completed database output: "``update_id`` has been written to ``target_table``".

    Luigi's SQL targets keep the same kind of marker table (``table_updates``).
    """

    update_id = models.CharField(max_length=512)
    target_table = models.CharField(max_length=255, default="")
    inserted_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["target_table", "update_id"], name="pl_target_marker_unique"
            ),
        ]
        verbose_name = "target marker"

    def __str__(self) -> str:
        where = f" in {self.target_table}" if self.target_table else ""
        return f"{self.update_id}{where}"
