"""The admin: read-only staff look, operators act, and every action goes through
the scheduler service (recorded in history with the user, pushed after commit)."""

from __future__ import annotations

import pytest
from django.contrib.admin.utils import quote
from django.contrib.auth.models import Group, User

from history.models import Event
from history.setup import OPERATORS_GROUP, VIEWERS_GROUP, post_migrate
from scheduler.models import Resource, Task, Worker
from scheduler.service import Ctx, bulk
from scheduler.signals import task_status_committed
from scheduler.status import Status
from tests.scheduler.conftest import T0

TASKS = "/admin/pipelines_scheduler/task/"


@pytest.fixture
def users(db):
    post_migrate()

    def make(name: str, group: str) -> User:
        user = User.objects.create_user(name, is_staff=True)
        user.groups.add(Group.objects.get(name=group))
        return user

    return {"viewer": make("viewer", VIEWERS_GROUP), "operator": make("op", OPERATORS_GROUP)}


@pytest.fixture
def as_viewer(client, users):
    client.force_login(users["viewer"])
    return client


@pytest.fixture
def as_operator(client, users):
    client.force_login(users["operator"])
    return client


def failed_tasks(sched, *task_ids: str) -> None:
    for task_id in task_ids:
        sched.add(task_id)
        assert sched.next_id() == task_id
        sched.finish(task_id, status="FAILED", expl=f"{task_id} broke")


def act(client, action: str, *task_ids: str, url: str = TASKS, **extra):
    data = {"action": action, "_selected_action": list(task_ids), "index": 0, **extra}
    return client.post(url, data, follow=True)


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def user_events(task_id: str) -> list[tuple[str, str, str]]:
    return list(
        Event.objects.filter(run__task_id=task_id, user__isnull=False)
        .order_by("id")
        .values_list("status", "cause", "user")
    )


def test_viewer_sees_tasks_but_no_actions(sched, as_viewer):
    failed_tasks(sched, "A_1")
    sched.add("B_1", deps=["A_1"])

    page = as_viewer.get(TASKS, {"status__exact": "FAILED"})
    assert page.status_code == 200
    assert b"A_1" in page.content
    assert b'value="mark_done"' not in page.content
    detail = as_viewer.get(f"{TASKS}{quote('B_1')}/change/")
    assert detail.status_code == 200
    assert b"A_1" in detail.content  # its dependency, linked
    assert b"Save" not in detail.content


def test_viewer_cannot_act_even_by_posting(sched, as_viewer):
    failed_tasks(sched, "A_1")
    response = act(as_viewer, "mark_done", "A_1")
    assert response.status_code in (200, 403)
    assert sched.status("A_1") == Status.FAILED
    assert not Event.objects.filter(user__isnull=False).exists()


def test_operator_marks_done_and_is_told_how_many_changed(sched, as_operator):
    failed_tasks(sched, "A_1", "A_2")
    sched.add("A_3")  # PENDING: mark_as_done leaves it alone

    page = as_operator.get(TASKS)
    assert b'value="mark_done"' in page.content
    response = act(as_operator, "mark_done", "A_1", "A_2", "A_3")

    assert [sched.status(t) for t in ("A_1", "A_2", "A_3")] == ["DONE", "DONE", "PENDING"]
    (message,) = messages_of(response)
    assert message.startswith("Marked as done 2 of 3 selected tasks. 1 unchanged:")
    assert user_events("A_1") == [("DONE", "mark_as_done", "op")]


def test_operator_retries_disables_and_re_enables(sched, as_operator):
    sched.configure(retry_count=1)
    failed_tasks(sched, "A_1", "A_2")  # the one failure disables them (retry_count=1)
    assert sched.status("A_1") == Status.DISABLED
    sched.configure(retry_count=999)

    act(as_operator, "re_enable", "A_1")
    assert sched.status("A_1") == Status.FAILED
    act(as_operator, "retry", "A_1")
    assert sched.status("A_1") == Status.PENDING
    act(as_operator, "disable", "A_1")
    assert sched.status("A_1") == Status.DISABLED

    assert user_events("A_1") == [
        ("FAILED", "re_enable_task", "op"),
        ("PENDING", "forgive_failures", "op"),
        ("DISABLED", "disable_task", "op"),
    ]
    assert sched.status("A_2") == Status.DISABLED


def test_admin_actions_reach_live_views_after_commit(
    sched, as_operator, django_capture_on_commit_callbacks
):
    failed_tasks(sched, "A_1")
    pushed = []

    def receiver(sender, change, **kwargs):
        pushed.append(change)

    task_status_committed.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            act(as_operator, "retry", "A_1")
    finally:
        task_status_committed.disconnect(receiver)
    assert [(c.task_id, c.new_status, c.user) for c in pushed] == [("A_1", "PENDING", "op")]


def test_bulk_action_on_thousands_selected_across_pages(sched, as_operator):
    Task.objects.bulk_create(
        Task(task_id=f"T_{i:05d}", family="T", status=Status.FAILED, time=T0, updated=T0)
        for i in range(2500)
    )
    response = act(as_operator, "retry", "T_00000", select_across=1)

    assert Task.objects.filter(status=Status.PENDING).count() == 2500
    assert messages_of(response) == ["Retrying 2500 of 2500 selected tasks."]
    assert Event.objects.filter(user="op", cause="forgive_failures").count() == 2500


@pytest.mark.django_db(transaction=True)
def test_bulk_commits_each_batch_on_its_own(monkeypatch):
    ctx = Ctx.make(now=T0)
    Task.objects.bulk_create(
        Task(task_id=f"T_{i}", family="T", status=Status.FAILED, time=T0, updated=T0)
        for i in range(5)
    )
    real = bulk.ACTIONS["forgive_failures"]

    def flaky(ctx, task_id, user):
        if task_id == "T_3":
            raise RuntimeError("database went away")
        return real(ctx, task_id=task_id, user=user)

    monkeypatch.setitem(bulk.ACTIONS, "forgive_failures", flaky)
    with pytest.raises(RuntimeError):
        bulk.apply("forgive_failures", [f"T_{i}" for i in range(5)], ctx=ctx, batch_size=2)

    statuses = dict(Task.objects.values_list("task_id", "status"))
    # The first batch (T_0, T_1) committed; the failing one (T_2, T_3) rolled back.
    assert [statuses[f"T_{i}"] for i in range(5)] == ["PENDING"] * 2 + ["FAILED"] * 3


def test_bulk_rejects_unknown_actions(db):
    with pytest.raises(ValueError, match="unknown bulk action"):
        bulk.apply("delete_everything", ["A_1"])


def test_operator_disables_a_worker_viewer_cannot(sched, client, users):
    sched.add("A_1", worker="W1")
    sched.add("A_2", worker="W1")
    assert sched.next_id("W1") == "A_1"
    url = "/admin/pipelines_scheduler/worker/"

    client.force_login(users["viewer"])
    assert client.get(url).status_code == 200
    act(client, "disable", "W1", url=url)
    assert not Worker.objects.get(pk="W1").disabled

    client.force_login(users["operator"])
    response = act(client, "disable", "W1", url=url)
    assert messages_of(response) == ["Disabled 1 workers."]
    assert Worker.objects.get(pk="W1").disabled
    assert sched.next_id("W1") is None  # no new work
    sched.finish("A_1", worker="W1")  # its running task still finishes
    assert sched.status("A_1") == Status.DONE


def test_operator_edits_resource_limits_viewer_cannot(db, client, users):
    Resource.objects.create(name="gpu", amount=1)
    url = "/admin/pipelines_scheduler/resource/gpu/change/"

    client.force_login(users["viewer"])
    assert client.get(url).status_code == 200
    assert client.post(url, {"amount": 5}).status_code == 403
    assert Resource.objects.get(pk="gpu").amount == 1

    client.force_login(users["operator"])
    response = client.post(url, {"amount": 5})
    assert response.status_code == 302
    assert Resource.objects.get(pk="gpu").amount == 5
    bad = client.post(url, {"amount": -1})
    assert bad.status_code == 200  # the form comes back with the error
    assert Resource.objects.get(pk="gpu").amount == 5
    added = client.post("/admin/pipelines_scheduler/resource/add/", {"name": "db", "amount": 2})
    assert added.status_code == 302
    assert Resource.objects.get(pk="db").amount == 2


def test_history_is_read_only_in_the_admin(sched, client, users):
    failed_tasks(sched, "A_1")
    run_id = Event.objects.first().run_id
    client.force_login(users["operator"])

    page = client.get(f"/admin/pipelines_history/run/{run_id}/change/")
    assert page.status_code == 200
    assert b"A_1 broke" in page.content
    assert client.get("/admin/pipelines_history/run/add/").status_code == 403
    assert client.post(f"/admin/pipelines_history/run/{run_id}/delete/").status_code == 403
    assert client.get("/admin/pipelines_history/event/").status_code == 200
