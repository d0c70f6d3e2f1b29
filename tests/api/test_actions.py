"""Operator actions: POST on a task or worker, PATCH of a resource limit. The same
service functions as the admin and Luigi's methods, so the same effects and history
records (with the acting user)."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from history.models import Event
from scheduler.models import Resource, StatusEvent, Worker
from tests.api.conftest import failed
from tests.urls import at


def post(client, task_id: str, action: str):
    return client.post(at(f"/api/v1/tasks/{quote(task_id, safe='')}/{action}/"))


def last_event(task_id: str) -> StatusEvent:
    return StatusEvent.objects.filter(task_id=task_id).order_by("-id").first()


@pytest.fixture
def auto_disabled(sched):
    """Auto_x: disabled by the scheduler after one failure (retry_count=1)."""
    sched.configure(retry_count=1)
    failed(sched, "Auto_x")
    assert sched.status("Auto_x") == "DISABLED"
    return "Auto_x"


def test_retry_a_failed_task_makes_it_pending_and_records_the_user(sched, operator):
    failed(sched, "Load_a")
    response = post(operator, "Load_a", "retry")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "PENDING"
    assert response.json()["actions"]["retry"] is False
    assert sched.status("Load_a") == "PENDING"
    event = last_event("Load_a")
    assert (event.old_status, event.new_status, event.cause, event.user) == (
        "FAILED",
        "PENDING",
        "forgive_failures",
        "op",
    )
    recorded = Event.objects.filter(run__task_id="Load_a").order_by("-id").first()
    assert (recorded.status, recorded.cause, recorded.user) == ("PENDING", "forgive_failures", "op")
    # The worker gets it again.
    assert sched.next_id() == "Load_a"


def test_retry_a_scheduler_disabled_task_re_enables_it_first(sched, operator, auto_disabled):
    response = post(operator, auto_disabled, "retry")
    assert response.status_code == 200, response.content
    assert sched.status(auto_disabled) == "PENDING"
    causes = list(
        StatusEvent.objects.filter(task_id=auto_disabled)
        .order_by("id")
        .values_list("new_status", "cause", "user")
    )[-2:]
    assert causes == [("FAILED", "re_enable_task", "op"), ("PENDING", "forgive_failures", "op")]


def test_re_enable(sched, operator, auto_disabled):
    detail = operator.get(at(f"/api/v1/tasks/{auto_disabled}/")).json()
    assert detail["scheduler_disabled"] is True and detail["actions"]["re_enable"] is True
    response = post(operator, auto_disabled, "re-enable")
    assert response.status_code == 200
    assert response.json()["status"] == "FAILED" and response.json()["failures"] == 0
    assert last_event(auto_disabled).cause == "re_enable_task"
    again = post(operator, auto_disabled, "re-enable")
    assert again.status_code == 409
    assert again.json()["error"] == "conflict"
    assert "it is FAILED" in again.json()["detail"]


def test_mark_done_and_disable(sched, operator):
    failed(sched, "Load_a")
    sched.add("Wait_b")
    done = post(operator, "Load_a", "mark-done")
    assert done.status_code == 200 and done.json()["status"] == "DONE"
    assert (last_event("Load_a").cause, last_event("Load_a").user) == ("mark_as_done", "op")
    disabled = post(operator, "Wait_b", "disable")
    assert disabled.status_code == 200 and disabled.json()["status"] == "DISABLED"
    assert disabled.json()["actions"] == {
        "re_enable": False,  # an operator's disable is lifted by mark done, not re-enable
        "retry": False,
        "mark_done": True,
        "disable": False,
    }
    assert (last_event("Wait_b").cause, last_event("Wait_b").user) == ("disable_task", "op")


@pytest.mark.parametrize(
    ("action", "words"),
    [
        ("retry", "only a FAILED task"),
        ("re-enable", "only a task the scheduler disabled"),
        ("mark-done", "only a RUNNING, FAILED or DISABLED task"),
    ],
)
def test_actions_that_do_not_apply_are_409s_and_change_nothing(sched, operator, action, words):
    sched.add("Wait_b")
    before = StatusEvent.objects.count()
    response = post(operator, "Wait_b", action)
    assert response.status_code == 409
    assert response.json()["error"] == "conflict"
    assert "it is PENDING" in response.json()["detail"] and words in response.json()["detail"]
    assert StatusEvent.objects.count() == before and sched.status("Wait_b") == "PENDING"


def test_disabling_a_running_task_is_a_409(sched, operator):
    sched.add("Run_a")
    assert sched.next_id() == "Run_a"
    response = post(operator, "Run_a", "disable")
    assert response.status_code == 409 and "it is RUNNING" in response.json()["detail"]


def test_only_operators_act(sched, api, viewer, operator):
    failed(sched, "Load_a")
    # Anonymous: 401 with a challenge (credentials may help); a viewer: 403.
    anonymous = post(api, "Load_a", "retry")
    assert anonymous.status_code == 401 and anonymous.json()["error"] == "not_authenticated"
    assert "WWW-Authenticate" in anonymous.headers
    refused = post(viewer, "Load_a", "retry")
    assert refused.status_code == 403 and refused.json()["error"] == "permission_denied"
    assert "operator role" in refused.json()["detail"]
    assert sched.status("Load_a") == "FAILED"
    assert post(operator, "Nope", "retry").status_code == 404
    wrong_method = operator.get(at("/api/v1/tasks/Load_a/retry/"))
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"] == "method_not_allowed"


def test_disable_worker(sched, api, operator):
    sched.add("Load_a", worker="w1")
    assert post(api, "x", "retry").status_code == 401
    assert api.post(at("/api/v1/workers/w1/disable/")).status_code == 401
    response = operator.post(at("/api/v1/workers/w1/disable/"))
    assert response.status_code == 200, response.content
    assert response.json()["worker_id"] == "w1" and response.json()["disabled"] is True
    assert Worker.objects.get(pk="w1").disabled
    # Like Luigi's disable_worker: it gets no work any more.
    assert sched.next_id("w1") is None
    assert operator.post(at("/api/v1/workers/w1/disable/")).status_code == 409
    unknown = operator.post(at("/api/v1/workers/nobody/disable/"))
    assert unknown.status_code == 404 and not Worker.objects.filter(pk="nobody").exists()


def test_patch_resource_limit(db, api, viewer, operator):
    assert viewer.patch(at("/api/v1/resources/db/"), {"limit": 4}, format="json").status_code == 403
    response = operator.patch(at("/api/v1/resources/db/"), {"limit": 4}, format="json")
    assert response.status_code == 200, response.content
    assert response.json() == {"name": "db", "limit": 4, "in_use": 0, "running": []}
    assert Resource.objects.get(pk="db").amount == 4
    assert api.get(at("/api/v1/resources/db/")).json()["limit"] == 4


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"limit": -1}, "greater than or equal to 0"),
        ({"limit": "many"}, "A valid integer is required"),
        ({"limit": 2**40}, "less than or equal to"),
    ],
)
def test_bad_resource_limits_are_400s(db, operator, body, words):
    response = operator.patch(at("/api/v1/resources/db/"), body, format="json")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid"
    assert response.json()["detail"].startswith("limit: ") and words in response.json()["detail"]
    assert not Resource.objects.exists()


def test_patch_without_a_limit_changes_nothing(db, operator):
    Resource.objects.create(name="db", amount=2)
    response = operator.patch(at("/api/v1/resources/db/"), {}, format="json")
    assert response.status_code == 200 and response.json()["limit"] == 2
    assert operator.patch(at("/api/v1/resources/other/"), {}, format="json").status_code == 404


def test_malformed_json_body_is_a_400(db, operator):
    response = operator.generic(
        "PATCH", at("/api/v1/resources/db/"), "{nope", content_type="application/json"
    )
    assert response.status_code == 400
    assert (
        response.json()["error"] == "parse_error"
        and "JSON parse error" in response.json()["detail"]
    )
