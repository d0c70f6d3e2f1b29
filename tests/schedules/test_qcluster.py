"""A cron schedule fired by a real ``manage.py qcluster``: the pipeline runs, the run is
recorded with trigger "schedule", and the same cluster runs the maintenance schedule."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone
from django_q.models import Schedule, Success

from scheduler.models import Task
from tests.runs.cluster import qcluster, wait_for
from workers import schedules
from workers.models import PipelineRun, PipelineSchedule

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


def test_a_cron_schedule_fires_a_pipeline_through_qcluster(tmp_path):
    schedule = PipelineSchedule(
        name="every minute",
        module="tests.runs.pipelines",
        family="Steps",
        params={"root": str(tmp_path / "out"), "count": 2},
        cron="* * * * *",
    )
    schedule.full_clean()
    schedule.save()
    # Due now rather than at the next full minute; a guard cycle of 30 s makes the
    # cluster's scheduler pass run as soon as it starts (then every 30 s).
    due = timezone.now() - datetime.timedelta(seconds=1)
    Schedule.objects.filter(name=schedules.q_name(schedule)).update(next_run=due)

    with qcluster(tmp_path, Q_GUARD_CYCLE="30") as cluster:
        run = wait_for(
            lambda: PipelineRun.objects.filter(
                schedule=schedule, finished_at__isnull=False
            ).first(),
            60,
            "the scheduled run",
            cluster.log,
        )
        maintained = wait_for(
            lambda: Success.objects.filter(func=schedules.MAINTENANCE).first(),
            30,
            "the maintenance schedule",
            cluster.log,
        )

    assert (run.trigger, run.state, run.exit_code) == ("schedule", "succeeded", 0), run.log_tail
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["step-0.txt", "step-1.txt"]
    assert Task.objects.get(pk=run.root_task_id).status == "DONE"
    schedule.refresh_from_db()
    assert schedule.last_result == f"started run #{run.pk}"
    q = Schedule.objects.get(name=schedules.q_name(schedule))
    assert q.next_run > due  # moved on to the next minute
    assert maintained.result["lost_runs"] == 0
