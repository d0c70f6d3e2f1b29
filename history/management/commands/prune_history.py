"""``manage.py prune_history``: delete history older than the retention now."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from history.retention import BATCH_SIZE, prune_history


class Command(BaseCommand):
    help = "Delete task history older than SCHEDULER_HISTORY_RETENTION_DAYS, in batches."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--days", type=float, help="override the configured retention")
        parser.add_argument("--batch-size", type=int, default=BATCH_SIZE)

    def handle(self, *args: Any, days: float | None, batch_size: int, **options: Any) -> None:
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        deleted = prune_history(retention_days=days, batch_size=batch_size)
        self.stdout.write(f"pruned {deleted} runs")
