"""Schedules: validation, the django-q2 schedule kept in step, the missed-run policy,
overlap prevention in the database, settings-defined schedules, maintenance."""

from __future__ import annotations

import datetime

import pytest
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django_q.models import OrmQ, Schedule

from workers import schedules
from workers.models import PipelineRun, PipelineSchedule, RunState

pytestmark = pytest.mark.django_db

NOW = datetime.datetime(2026, 11, 21, 9, 0, tzinfo=datetime.UTC)


def make(name="nightly", **fields) -> PipelineSchedule:
    values = {
        "module": "examples.daily",
        "family": "DailyReport",
        "params": {"date": "2026-11-21", "days": 1},
        "cron": "0 2 * * *",
        **fields,
    }
    schedule = PipelineSchedule(name=name, **values)
    schedule.full_clean()
    schedule.save()
    return schedule


def test_saving_a_schedule_keeps_its_django_q_schedule_in_step():
    schedule = make()
    q = Schedule.objects.get(name=schedules.q_name(schedule))
    assert (q.func, q.schedule_type, q.cron, q.args) == (
        "workers.schedules.fire",
        Schedule.CRON,
        "0 2 * * *",
        f"({schedule.pk},)",
    )
    assert q.intended_date_kwarg == "intended"
    assert q.next_run > timezone.now()
    assert (q.next_run.hour, q.next_run.minute) == (2, 0)

    schedule.cron, schedule.interval_minutes = "", 15
    schedule.save()
    q.refresh_from_db()
    assert (q.schedule_type, q.minutes, q.cron) == (Schedule.MINUTES, 15, None)

    schedule.enabled = False
    schedule.save()
    assert not Schedule.objects.filter(name=schedules.q_name(schedule)).exists()
    schedule.enabled = True
    schedule.save()
    schedule.delete()
    assert not Schedule.objects.filter(name=schedules.q_name(schedule)).exists()


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"cron": "0 2 * *"}, "cron", "five fields"),
        ({"cron": "0 25 * * *"}, "cron", "not a valid cron expression"),
        ({"cron": "", "interval_minutes": None}, "__all__", "either a cron expression"),
        ({"cron": "* * * * *", "interval_minutes": 5}, "__all__", "either a cron expression"),
        ({"params": {"date": "someday"}}, "params", "--date expects a date"),
        ({"family": "Nope"}, "family", "'Nope'"),
        ({"module": "os"}, "module", "not in PIPELINES_ALLOWED_MODULES"),
    ],
)
def test_bad_schedules_are_refused_on_save_with_a_clear_message(fields, field, message):
    with pytest.raises(ValidationError) as caught:
        make(**fields)
    assert any(message in m for m in caught.value.message_dict[field])


def test_the_admin_shows_the_validation_errors(admin_client):
    url = reverse("admin:pipelines_workers_pipelineschedule_add")
    form = {
        "name": "bad",
        "module": "examples.daily",
        "family": "DailyReport",
        "params": '{"date": "2026-11-21"}',
        "workers": 1,
        "cron": "61 * * * *",
        "missed": "run_once",
        "enabled": "on",
    }
    page = admin_client.post(url, form)
    assert page.status_code == 200
    assert "not a valid cron expression" in page.content.decode()
    assert admin_client.post(url, {**form, "cron": "*/5 * * * *"}).status_code == 302
    assert PipelineSchedule.objects.get(name="bad").cron == "*/5 * * * *"


def test_a_firing_starts_a_run_linked_to_the_schedule():
    schedule = make()
    result = schedules.fire(schedule.pk, intended=NOW.isoformat(), now=NOW)
    run = PipelineRun.objects.get()
    assert result == f"started run #{run.pk}"
    assert (run.trigger, run.schedule, run.state) == ("schedule", schedule, RunState.QUEUED)
    assert run.requested_by == "schedule nightly"
    assert OrmQ.objects.get().task["args"] == (run.pk,)
    schedule.refresh_from_db()
    assert (schedule.last_fired_at, schedule.last_result) == (NOW, result)


def test_no_second_run_while_one_is_queued_or_running():
    schedule = make()
    schedules.fire(schedule.pk, now=NOW)
    first = PipelineRun.objects.get()
    assert schedules.fire(schedule.pk, now=NOW) == f"skipped: run #{first.pk} is still active"
    first.state = RunState.RUNNING
    first.save()
    assert "still active" in schedules.fire(schedule.pk, now=NOW)
    first.state = RunState.SUCCEEDED
    first.save()
    assert schedules.fire(schedule.pk, now=NOW).startswith("started run #")
    assert PipelineRun.objects.count() == 2


def test_the_database_refuses_a_second_active_run_of_a_schedule():
    schedule = make()
    PipelineRun.objects.create(module="m", family="F", schedule=schedule)
    with pytest.raises(IntegrityError), transaction.atomic():
        PipelineRun.objects.create(module="m", family="F", schedule=schedule, state="running")
    # finished runs and runs of no schedule are not limited
    PipelineRun.objects.create(module="m", family="F", schedule=schedule, state="failed")
    PipelineRun.objects.create(module="m", family="F")
    PipelineRun.objects.create(module="m", family="F")


def test_missed_runs_are_run_once_or_skipped_by_policy(settings):
    settings.PIPELINES_SCHEDULE_GRACE = 300
    late = (NOW - datetime.timedelta(hours=7)).isoformat()
    on_time = (NOW - datetime.timedelta(seconds=40)).isoformat()
    skip = make("skipper", missed="skip")
    assert schedules.fire(skip.pk, intended=late, now=NOW) == (
        f"skipped: missed the run of {late} (25200 s late)"
    )
    assert not PipelineRun.objects.exists()
    assert schedules.fire(skip.pk, intended=on_time, now=NOW).startswith("started run #")

    catch_up = make("catcher", missed="run_once")
    assert schedules.fire(catch_up.pk, intended=late, now=NOW).startswith("started run #")
    assert PipelineRun.objects.filter(schedule=catch_up).count() == 1


def test_a_schedule_whose_run_cannot_start_records_why():
    schedule = make()
    PipelineSchedule.objects.filter(pk=schedule.pk).update(params={"date": "never"})
    result = schedules.fire(schedule.pk, now=NOW)
    assert result.startswith("failed: DailyReport: --date expects a date")
    assert PipelineSchedule.objects.get(pk=schedule.pk).last_result == result
    assert not PipelineRun.objects.exists()


def test_schedules_from_settings_are_created_updated_and_removed(settings):
    entry = {
        "name": "from settings",
        "module": "examples.daily",
        "family": "DailyReport",
        "params": {"date": "2026-11-21"},
        "interval_minutes": 30,
        "missed": "skip",
    }
    settings.PIPELINES_SCHEDULES = [entry]
    schedules.sync_settings_schedules()
    schedule = PipelineSchedule.objects.get(name="from settings")
    assert (schedule.from_settings, schedule.interval_minutes, schedule.missed) == (
        True,
        30,
        "skip",
    )
    assert Schedule.objects.get(name=schedules.q_name(schedule)).minutes == 30
    make("by hand")

    settings.PIPELINES_SCHEDULES = [{**entry, "interval_minutes": None, "cron": "0 3 * * 1"}]
    schedules.sync_settings_schedules()
    assert PipelineSchedule.objects.get(name="from settings").cron == "0 3 * * 1"

    settings.PIPELINES_SCHEDULES = []
    schedules.sync_settings_schedules()
    assert list(PipelineSchedule.objects.values_list("name", flat=True)) == ["by hand"]

    settings.PIPELINES_SCHEDULES = [{**entry, "cron": "bad"}]
    with pytest.raises(ImproperlyConfigured, match="'from settings'"):
        schedules.sync_settings_schedules()
    settings.PIPELINES_SCHEDULES = [{**entry, "colour": "red"}]
    with pytest.raises(ImproperlyConfigured, match="unknown keys"):
        schedules.sync_settings_schedules()


def test_migrate_sets_up_the_maintenance_schedule_and_it_prunes(settings):
    q = Schedule.objects.get(name=schedules.MAINTENANCE_NAME)
    assert (q.func, q.schedule_type, q.minutes) == ("workers.schedules.maintenance", "I", 1)
    settings.PIPELINES_RUN_TIMEOUT = 60
    stuck = PipelineRun.objects.create(
        module="m",
        family="F",
        state=RunState.RUNNING,
        started_at=timezone.now() - datetime.timedelta(hours=1),
    )
    fresh = PipelineRun.objects.create(
        module="m", family="F", state=RunState.RUNNING, started_at=timezone.now()
    )
    assert schedules.maintenance() == {"scheduler_pruned": True, "lost_runs": 1}
    stuck.refresh_from_db()
    fresh.refresh_from_db()
    assert (stuck.state, fresh.state) == (RunState.LOST, RunState.RUNNING)
