"""Schedules: pipelines fired on a cron expression or every N minutes by qcluster.

Each enabled :class:`~workers.models.PipelineSchedule` has a django-q2 schedule
(cron or minutes, kept in step on save) whose function is :func:`fire`, called
with the time it was meant to run (django-q2's ``intended_date_kwarg``):

- missed runs: django-q2 (``catch_up: False``) fires a schedule whose times
  passed while the cluster was down once when it is back. :func:`fire` starts
  that run (policy ``run_once``, like systemd's ``Persistent=true``) or, for
  ``skip``, does nothing when the intended time is more than
  ``PIPELINES_SCHEDULE_GRACE`` seconds ago;
- overlap: no second run of a schedule while one is queued or running. The
  schedule row is locked while firing, and the database refuses a second active
  run (the partial unique constraint ``pl_run_one_active_per_schedule``).

Every firing is recorded on the schedule (``last_fired_at``, ``last_result``);
every run it starts is a PipelineRun with ``trigger="schedule"``.

The same cluster runs maintenance (:func:`maintenance`): the scheduler's pass
(dead workers, retries, stale tasks) and runs whose runner went away.
"""

from __future__ import annotations

import datetime
import logging
from typing import Any

from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from workers import conf
from workers.models import (
    MissedRunPolicy,
    PipelineRun,
    PipelineSchedule,
    RunState,
    RunTrigger,
)
from workers.run_requests import RunRequestError, check

logger = logging.getLogger(__name__)

FIRE = "workers.schedules.fire"
MAINTENANCE = "workers.schedules.maintenance"
MAINTENANCE_NAME = "pipelines: scheduler maintenance"
SETTINGS_KEYS = {"name", "module", "family", "params", "workers", "cron", "interval_minutes"}
SETTINGS_KEYS |= {"missed", "enabled"}


def q_name(schedule: PipelineSchedule) -> str:
    return f"pipeline schedule #{schedule.pk}"


def validate_cron(expression: str) -> None:
    """Raise ValidationError naming what is wrong with a five-field cron expression."""
    from croniter import croniter

    fields = expression.split()
    if len(fields) != 5:
        raise ValidationError(
            f"{expression!r} is not a cron expression: it needs five fields "
            '(minute hour day-of-month month day-of-week), e.g. "0 2 * * *"'
        )
    try:
        croniter(expression)
    except (ValueError, KeyError) as exc:
        raise ValidationError(f"{expression!r} is not a valid cron expression: {exc}") from None


def next_time(schedule: PipelineSchedule, after: datetime.datetime) -> datetime.datetime:
    if schedule.cron:
        from croniter import croniter
        from django_q.utils import localtime

        return croniter(schedule.cron, localtime(after)).get_next(datetime.datetime)
    return after + datetime.timedelta(minutes=schedule.interval_minutes or 1)


# --------------------------------------------------------------------------- django-q2


def sync_q_schedule(schedule: PipelineSchedule) -> None:
    """Create, update or remove the django-q2 schedule that fires ``schedule``."""
    from django_q.models import Schedule

    if not schedule.enabled:
        Schedule.objects.filter(name=q_name(schedule)).delete()
        return
    timing: dict[str, Any] = (
        {"schedule_type": Schedule.CRON, "cron": schedule.cron, "minutes": None}
        if schedule.cron
        else {"schedule_type": Schedule.MINUTES, "cron": None, "minutes": schedule.interval_minutes}
    )
    existing = Schedule.objects.filter(name=q_name(schedule)).first()
    if existing is not None and all(getattr(existing, k) == v for k, v in timing.items()):
        return
    Schedule.objects.update_or_create(
        name=q_name(schedule),
        defaults={
            **timing,
            "func": FIRE,
            "args": repr((schedule.pk,)),
            "repeats": -1,
            "intended_date_kwarg": "intended",
            "next_run": next_time(schedule, timezone.now()),
        },
    )


def drop_q_schedule(schedule: PipelineSchedule) -> None:
    from django_q.models import Schedule

    Schedule.objects.filter(name=q_name(schedule)).delete()


# --------------------------------------------------------------------------- firing


def _lateness(intended: str | None, now: datetime.datetime) -> float:
    when = parse_datetime(intended) if intended else None
    return (now - when).total_seconds() if when else 0.0


def fire(
    schedule_id: int, intended: str | None = None, now: datetime.datetime | None = None
) -> str:
    """Start the schedule's run unless the policy or a still-active run says not to."""
    now = now or timezone.now()
    with transaction.atomic():
        schedule = PipelineSchedule.objects.select_for_update().filter(pk=schedule_id).first()
        if schedule is None or not schedule.enabled:
            return "skipped: the schedule is gone or disabled"
        late = _lateness(intended, now)
        active = (
            PipelineRun.objects.filter(
                schedule=schedule, state__in=[RunState.QUEUED, RunState.RUNNING]
            )
            .values_list("pk", flat=True)
            .first()
        )
        if late > conf.schedule_grace() and schedule.missed == MissedRunPolicy.SKIP:
            result = f"skipped: missed the run of {intended} ({late:.0f} s late)"
        elif active is not None:
            result = f"skipped: run #{active} is still active"
        else:
            result = _start(schedule)
        schedule.last_fired_at = now
        schedule.last_result = result[:255]
        schedule.save(update_fields=["last_fired_at", "last_result"])
    log = logger.warning if result.startswith("failed") else logger.info
    log("schedule %r: %s", schedule.name, result)
    return result


def _start(schedule: PipelineSchedule) -> str:
    from workers import runs

    try:
        checked = check(schedule.module, schedule.family, schedule.params, schedule.workers)
    except RunRequestError as exc:
        return f"failed: {exc.message}"
    try:
        with transaction.atomic():
            run = runs.start(
                checked,
                trigger=RunTrigger.SCHEDULE,
                schedule=schedule,
                requested_by=f"schedule {schedule.name}",
            )
    except IntegrityError:
        return "skipped: another run of this schedule is active"
    return f"started run #{run.pk}"


# --------------------------------------------------------------------------- settings


def sync_settings_schedules() -> None:
    """Make the schedules marked ``from_settings`` match PIPELINES_SCHEDULES."""
    seen: list[str] = []
    for entry in conf.settings_schedules():
        unknown = set(entry) - SETTINGS_KEYS
        name = entry.get("name")
        if unknown or not name:
            raise ImproperlyConfigured(
                f"PIPELINES_SCHEDULES entry {entry!r}: "
                + (f"unknown keys {sorted(unknown)}" if unknown else "'name' is required")
            )
        fields = {
            "module": entry.get("module", ""),
            "family": entry.get("family", ""),
            "params": entry.get("params") or {},
            "workers": entry.get("workers", 1),
            "cron": entry.get("cron", ""),
            "interval_minutes": entry.get("interval_minutes"),
            "missed": entry.get("missed", MissedRunPolicy.RUN_ONCE),
            "enabled": entry.get("enabled", True),
        }
        schedule = PipelineSchedule.objects.filter(name=name).first() or PipelineSchedule(name=name)
        for key, value in fields.items():
            setattr(schedule, key, value)
        schedule.from_settings = True
        try:
            schedule.full_clean(validate_unique=False)
        except ValidationError as exc:
            raise ImproperlyConfigured(f"PIPELINES_SCHEDULES entry {name!r}: {exc}") from None
        schedule.save()
        seen.append(name)
    for stale in PipelineSchedule.objects.filter(from_settings=True).exclude(name__in=seen):
        stale.delete()


# --------------------------------------------------------------------------- maintenance


def ensure_maintenance_schedule() -> None:
    from django_q.models import Schedule

    Schedule.objects.get_or_create(
        name=MAINTENANCE_NAME,
        defaults={
            "func": MAINTENANCE,
            "schedule_type": Schedule.MINUTES,
            "minutes": 1,
            "repeats": -1,
        },
    )


def lost_runs(now: datetime.datetime) -> int:
    """Runs still RUNNING long after their timeout: their runner went away."""
    timeout = conf.run_timeout()
    if timeout is None:
        return 0
    from workers.runs import STOP_GRACE

    before = now - datetime.timedelta(seconds=timeout + 2 * STOP_GRACE + 60)
    return PipelineRun.objects.filter(state=RunState.RUNNING, started_at__lt=before).update(
        state=RunState.LOST, finished_at=now, outcome="the process running it went away"
    )


def maintenance() -> dict[str, Any]:
    """The scheduler's maintenance pass (if due) and lost runs; run every minute by qcluster."""
    from scheduler.service import Ctx, prune_if_due

    pruned = prune_if_due(Ctx.make())
    lost = lost_runs(timezone.now())
    if lost:
        logger.warning("%d pipeline runs lost (still running past their timeout)", lost)
    return {"scheduler_pruned": bool(pruned), "lost_runs": lost}
