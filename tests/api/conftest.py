"""Fixtures of the REST API tests: the scheduler's fake-clock ``sched`` (tasks are
built through the service, as workers build them) and clients in each role."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User
from rest_framework.test import APIClient

from history.setup import OPERATORS_GROUP, VIEWERS_GROUP, post_migrate
from tests.scheduler.conftest import sched  # noqa: F401


@pytest.fixture
def users(db):
    post_migrate()

    def make(name: str, group: str) -> User:
        user = User.objects.create_user(name)
        user.groups.add(Group.objects.get(name=group))
        return user

    return {"viewer": make("viewer", VIEWERS_GROUP), "operator": make("op", OPERATORS_GROUP)}


@pytest.fixture
def api(db) -> APIClient:
    """Anonymous (reads are allowed anonymously by default)."""
    return APIClient()


@pytest.fixture
def viewer(users) -> APIClient:
    client = APIClient()
    client.force_login(users["viewer"])
    return client


@pytest.fixture
def operator(users) -> APIClient:
    client = APIClient()
    client.force_login(users["operator"])
    return client


def failed(scheduler, task_id: str, worker: str = "W", **add) -> None:
    """Register, run and fail a task."""
    scheduler.add(task_id, worker=worker, **add)
    assert scheduler.next_id(worker) == task_id
    scheduler.finish(task_id, worker=worker, status="FAILED", expl=f"Traceback: {task_id} broke")
