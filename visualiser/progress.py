"""Progress of running tasks for live views: what changed since the last look.

Progress percentages, status messages and tracking URLs are not status changes,
so they are not in the StatusEvent outbox. The feed polls the RUNNING tasks
(few: at most one per worker process) every ``LIVE_PROGRESS_INTERVAL`` seconds
and hands the differences to its subscribers as ``progress`` messages.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from scheduler.models import Task
from scheduler.status import Status

FIELDS = ("progress_percentage", "status_message", "tracking_url")


def interval() -> float:
    return float(getattr(settings, "LIVE_PROGRESS_INTERVAL", 1.0))


def running_progress() -> dict[str, dict[str, Any]]:
    """The running tasks' progress fields, keyed by task id (sync; ORM)."""
    rows = Task.objects.filter(status=Status.RUNNING).values_list("task_id", "family", *FIELDS)
    return {row[0]: {"family": row[1], **dict(zip(FIELDS, row[2:], strict=True))} for row in rows}


class ProgressWatch:
    """Remembers the last answer; ``changes`` says which tasks moved since."""

    def __init__(self) -> None:
        self.known: dict[str, dict[str, Any]] | None = None

    def changes(self, now: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        before, self.known = self.known, now
        if before is None:
            return {}  # the first look is the baseline
        blank = dict.fromkeys(FIELDS)
        return {
            task_id: fields
            for task_id, fields in now.items()
            if any(fields[f] != before.get(task_id, blank).get(f) for f in FIELDS)
        }
