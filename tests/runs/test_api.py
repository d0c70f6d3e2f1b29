"""POST/GET /api/v1/runs/: operators trigger, viewers read, bad input is a 400 naming it."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django_q.models import OrmQ

from workers.models import PipelineRun, RunState

pytestmark = pytest.mark.django_db

DAILY = {"module": "examples.daily", "family": "DailyReport", "params": {"date": "2026-11-21"}}


def runs_url() -> str:
    return reverse("pipelines_workers:run-list")


def post(client, body):
    return client.post(runs_url(), body, content_type="application/json")


def test_an_operator_queues_a_run_in_one_transaction_with_the_queue_entry(as_operator, operator):
    response = post(as_operator, {**DAILY, "workers": 2})
    assert response.status_code == 201, response.content
    body = response.json()
    run = PipelineRun.objects.get(pk=body["id"])
    assert body["state"] == run.state == RunState.QUEUED
    assert body["trigger"] == "api"
    assert body["requested_by"] == "operator"
    assert body["workers"] == 2
    assert body["root_task_id"].startswith("DailyReport_2026_11_21_7_")
    assert body["url"] == reverse("pipelines_workers:run-detail", args=[run.pk])
    assert body["history_url"] == reverse(
        "pipelines_history:by_task_id", args=[body["root_task_id"]]
    )
    queued = OrmQ.objects.get().task
    assert queued["func"] == "workers.runs.execute"
    assert queued["args"] == (run.pk,)
    assert run.q_task_id == queued["id"]


def test_viewers_read_runs_but_may_not_trigger_them(client):
    PipelineRun.objects.create(module="examples.daily", family="DailyReport")
    denied = post(client, DAILY)
    assert denied.status_code == 401  # anonymous: a challenge
    assert denied.json()["error"] == "not_authenticated"
    listed = client.get(runs_url()).json()
    assert listed["count"] == 1 and listed["results"][0]["family"] == "DailyReport"


def test_a_logged_in_user_without_the_operator_role_gets_a_403(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("viewer"))
    denied = post(client, DAILY)
    assert denied.status_code == 403
    assert denied.json() == {
        "error": "permission_denied",
        "detail": "This action needs the operator role (pipelines_scheduler.operate_scheduler).",
    }
    assert not PipelineRun.objects.exists()


@pytest.mark.parametrize(
    ("body", "code", "named"),
    [
        ({**DAILY, "family": "Nope"}, "unknown_family", "'Nope'"),
        ({**DAILY, "params": {"date": "soon"}}, "bad_parameter", "--date expects a date"),
        ({**DAILY, "params": {"date": "2026-11-21", "size": 3}}, "bad_parameter", "--size"),
        ({**DAILY, "module": "subprocess"}, "module_not_allowed", "'subprocess'"),
        ({**DAILY, "workers": 0}, "bad_request", "'workers'"),
        ({**DAILY, "workers": "x"}, "bad_request", "workers"),
        ({"family": "DailyReport"}, "bad_request", "module"),
        ({**DAILY, "params": "date=1"}, "bad_request", "params"),
        ([1, 2], "bad_request", "JSON object"),
    ],
)
def test_bad_requests_get_a_400_naming_the_problem_and_queue_nothing(
    as_operator, body, code, named
):
    response = post(as_operator, body)
    assert response.status_code == 400, response.content
    error = response.json()
    assert error["error"] == code
    assert named in error["detail"]
    assert not PipelineRun.objects.exists()
    assert not OrmQ.objects.exists()


def test_runs_are_filtered_by_state_and_trigger(client):
    PipelineRun.objects.create(module="m", family="A", state=RunState.FAILED)
    PipelineRun.objects.create(module="m", family="B", trigger="schedule")
    failed = client.get(runs_url(), {"state": "failed"}).json()
    assert [r["family"] for r in failed["results"]] == ["A"]
    scheduled = client.get(runs_url(), {"trigger": "schedule"}).json()
    assert [r["family"] for r in scheduled["results"]] == ["B"]
    bad = client.get(runs_url(), {"state": "finished"})
    assert bad.status_code == 400
    assert bad.json()["error"] == "bad_request" and "'finished'" in bad.json()["detail"]


def test_an_unknown_run_is_a_404(client):
    missing = client.get(reverse("pipelines_workers:run-detail", args=[999]))
    assert missing.status_code == 404
    assert missing.json()["error"] == "not_found"


def test_the_openapi_schema_describes_the_runs_endpoints(client):
    import yaml

    from tests.urls import at

    schema = yaml.safe_load(client.get(reverse("pipelines_schema")).content)
    runs = schema["paths"][at("/api/v1/runs/")]
    assert {"get", "post"} <= set(runs)
    assert "PipelineRunRequest" in str(runs["post"]["requestBody"])
    assert "PipelineRun" in str(runs["post"]["responses"]["201"])
