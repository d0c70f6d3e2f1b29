"""Retention: old runs are pruned in batches; the schedule and groups exist after migrate."""

from __future__ import annotations

import time

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django_q.models import Schedule

from history import retention
from history.models import Event, Run
from history.setup import OPERATORS_GROUP, VIEWERS_GROUP, post_migrate
from tests.scheduler.conftest import T0

DAY = 86400.0


def make_runs(sched, count: int, prefix: str) -> None:
    for i in range(count):
        sched.add(f"{prefix}_{i}")
        sched.next_id()
        sched.finish(f"{prefix}_{i}")


def test_old_runs_and_their_events_are_pruned_in_batches(sched):
    make_runs(sched, 5, "Old")
    sched.advance(10 * DAY)
    make_runs(sched, 2, "New")
    assert Event.objects.count() == 21  # registered, started, done: 3 events a run

    deleted = retention.prune_history(now=sched.now, retention_days=5, batch_size=2, max_batches=1)
    assert deleted == 2
    deleted = retention.prune_history(now=sched.now, retention_days=5, batch_size=2)

    assert deleted == 3
    assert sorted(Run.objects.values_list("task_id", flat=True)) == ["New_0", "New_1"]
    assert Event.objects.count() == 6


def test_retention_uses_the_configured_days(sched, settings):
    make_runs(sched, 1, "A")
    settings.SCHEDULER = {"history_retention_days": "1"}
    assert retention.prune_history(now=T0 + 0.5 * DAY) == 0
    assert retention.prune_history(now=T0 + 2 * DAY) == 1


def test_zero_days_keeps_everything(sched):
    make_runs(sched, 1, "A")
    assert retention.prune_history(now=T0 + 1000 * DAY, retention_days=0) == 0
    assert Run.objects.count() == 1


def test_management_command(sched, capsys):
    sched.now = time.time() - 2 * DAY
    make_runs(sched, 1, "A")
    call_command("prune_history", "--days", "1")
    assert "pruned 1 runs" in capsys.readouterr().out


@pytest.mark.django_db
def test_migrate_sets_up_the_schedule_and_groups_idempotently():
    post_migrate()
    post_migrate()
    (schedule,) = Schedule.objects.filter(name=retention.SCHEDULE_NAME)
    assert schedule.func == "history.retention.prune_history"
    assert schedule.schedule_type == Schedule.HOURLY
    operators = set(
        Group.objects.get(name=OPERATORS_GROUP).permissions.values_list("codename", flat=True)
    )
    assert {"operate_scheduler", "change_resource", "view_task", "view_run"} <= operators
    viewers = set(
        Group.objects.get(name=VIEWERS_GROUP).permissions.values_list("codename", flat=True)
    )
    assert "operate_scheduler" not in viewers
    assert "view_task" in viewers
