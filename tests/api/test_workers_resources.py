"""GET /api/v1/workers/ and /api/v1/resources/ (PATCH of a limit is in test_actions)."""

from __future__ import annotations

import pytest

from scheduler.models import Resource
from tests.urls import at


@pytest.fixture
def busy(sched, settings):
    # The same configured limits for the service calls below and for the API.
    settings.SCHEDULER = {"resources": {"db": 3, "gpu": 1}}
    sched.configure(resources={"db": 3, "gpu": 1})
    sched(
        "add_worker",
        worker="w1",
        info={"host": "box1", "username": "ann", "pid": 4242, "workers": 4},
    )
    sched.add("Load_a", worker="w1", resources={"db": 2})
    sched.add("Load_b", worker="w1", resources={"db": 1})
    sched.add("Idle_c", worker="w2")
    assert sched.next_id("w1", host="box1") == "Load_a"
    assert sched.next_id("w1", host="box1", current_tasks=["Load_a"]) == "Load_b"
    Resource.objects.create(name="slots", amount=7)
    return sched


def test_workers(busy, api, settings):
    busy("disable_worker", worker="w2")
    body = api.get(at("/api/v1/workers/")).json()
    assert body["count"] == 2
    workers = {w["worker_id"]: w for w in body["results"]}
    w1 = workers["w1"]
    assert w1 == {
        "worker_id": "w1",
        "host": "box1",
        "pid": 4242,
        "username": "ann",
        "first_seen": w1["first_seen"],
        "last_seen": busy.now,
        "disabled": False,
        "processes": 4,
        "running": ["Load_a", "Load_b"],
        # The fake clock runs ahead of the real one: last seen "in the future".
        "alive": True,
    }
    assert workers["w2"]["disabled"] is True and workers["w2"]["running"] == []
    assert workers["w2"]["pid"] is None


def test_resources(busy, api):
    body = api.get(at("/api/v1/resources/")).json()
    assert body["count"] == 3 and body["next"] is None
    by_name = {r["name"]: r for r in body["results"]}
    assert by_name["db"] == {"name": "db", "limit": 3, "in_use": 3, "running": ["Load_a", "Load_b"]}
    assert by_name["gpu"] == {"name": "gpu", "limit": 1, "in_use": 0, "running": []}
    # Set at run time (update_resource): listed though not configured.
    assert by_name["slots"] == {"name": "slots", "limit": 7, "in_use": 0, "running": []}
    one = api.get(at("/api/v1/resources/slots/")).json()
    assert one == by_name["slots"]
    assert api.get(at("/api/v1/resources/nope/")).status_code == 404
