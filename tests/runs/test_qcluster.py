"""Runs triggered over REST, executed by a real ``manage.py qcluster`` (ORM broker),
visible in the scheduler and in history like any other tasks."""

from __future__ import annotations

import pytest
from django.urls import reverse

from history.models import Run
from scheduler.models import Task
from tests.runs.cluster import qcluster, wait_for
from workers.models import PipelineRun

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


def finished(run_id: int) -> PipelineRun | None:
    run = PipelineRun.objects.get(pk=run_id)
    return run if run.finished_at else None


def test_runs_triggered_over_rest_are_executed_by_qcluster(as_operator, tmp_path):
    url = reverse("pipelines_workers:run-list")
    good = as_operator.post(
        url,
        {
            "module": "tests.runs.pipelines",
            "family": "Steps",
            "params": {"root": str(tmp_path / "good"), "count": 3},
            "workers": 2,
        },
        content_type="application/json",
    ).json()
    bad = as_operator.post(
        url,
        {"module": "tests.runs.pipelines", "family": "Broken", "params": {"root": str(tmp_path)}},
        content_type="application/json",
    ).json()
    assert good["state"] == bad["state"] == "queued"

    with qcluster(tmp_path) as cluster:
        for run in (good, bad):
            wait_for(lambda r=run: finished(r["id"]), 60, f"run {run['id']}", cluster.log)

    detail = as_operator.get(reverse("pipelines_workers:run-detail", args=[good["id"]])).json()
    assert detail["state"] == "succeeded", detail["log_tail"]
    assert (detail["exit_code"], detail["outcome"]) == (0, "success")
    assert detail["started_at"] and detail["finished_at"]
    assert "Scheduled 4 tasks of which:" in detail["log_tail"]  # runworker's summary
    assert sorted(p.name for p in (tmp_path / "good").iterdir()) == [
        "step-0.txt",
        "step-1.txt",
        "step-2.txt",
    ]
    # The run's tasks are the scheduler's tasks, recorded in history as usual.
    root = Task.objects.get(pk=good["root_task_id"])
    assert root.status == "DONE"
    assert Task.objects.filter(family="Step", status="DONE").count() == 3
    assert Run.objects.filter(task_id=good["root_task_id"], status="DONE").exists()

    failed = as_operator.get(reverse("pipelines_workers:run-detail", args=[bad["id"]])).json()
    assert failed["state"] == "failed"
    assert (failed["exit_code"], failed["outcome"]) == (30, "task_failed")
    assert "broken on purpose" in failed["log_tail"]
    assert Task.objects.get(pk=bad["root_task_id"]).status == "FAILED"
