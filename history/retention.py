"""Retention: runs whose last event is older than ``history_retention_days`` go.

django-q2 runs :func:`prune_history` hourly (the schedule is created on
migrate, see ``history.setup``); ``manage.py prune_history`` runs it by hand.
Each batch is its own short transaction (find up to ``batch_size`` of the
oldest runs through the ``updated_at`` index, delete their events, then them),
so neither table is locked for long and the scheduler's writers interleave.
"""

from __future__ import annotations

import logging
import time

from django.db import transaction

from scheduler.conf import get_config

from .models import Event, Run

logger = logging.getLogger(__name__)

SCHEDULE_NAME = "history: prune old runs"
SCHEDULE_FUNC = "history.retention.prune_history"
BATCH_SIZE = 1000
DAY = 86400.0


def cutoff(now: float, retention_days: float) -> float | None:
    """Runs last updated before this time are pruned; None keeps everything."""
    if retention_days <= 0:
        return None
    return now - retention_days * DAY


def prune_batch(before: float, batch_size: int = BATCH_SIZE) -> int:
    """Delete up to ``batch_size`` of the oldest runs updated before ``before``."""
    with transaction.atomic():
        # Locked (skipping runs a status change holds right now): the recorder
        # cannot add an event to a run between our two deletes.
        ids = list(
            Run.objects.select_for_update(skip_locked=True)
            .filter(updated_at__lt=before)
            .order_by("updated_at", "id")
            .values_list("id", flat=True)[:batch_size]
        )
        if not ids:
            return 0
        Event.objects.filter(run_id__in=ids).delete()
        Run.objects.filter(id__in=ids).delete()
    return len(ids)


def prune_history(
    now: float | None = None,
    retention_days: float | None = None,
    batch_size: int = BATCH_SIZE,
    max_batches: int | None = None,
) -> int:
    """Delete every run (with its events) older than the retention; returns how many."""
    now = time.time() if now is None else now
    days = get_config().history_retention_days if retention_days is None else retention_days
    before = cutoff(now, days)
    if before is None:
        return 0
    total = batches = 0
    while max_batches is None or batches < max_batches:
        deleted = prune_batch(before, batch_size)
        total += deleted
        batches += 1
        if deleted < batch_size:
            break
    if total:
        logger.info("history retention: pruned %d runs older than %s days", total, days)
    return total
