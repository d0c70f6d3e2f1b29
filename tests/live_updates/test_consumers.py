"""The WebSocket feed in-process: subscriptions, snapshots, ordered events, catch-up."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async

from scheduler.models import StatusEvent
from scheduler.signals import task_status_committed
from tests.live_updates.conftest import acall, call, events_until, run, socket
from visualiser import subscriptions
from visualiser.publish import on_status_committed

pytestmark = pytest.mark.usefixtures("live_db")


@pytest.fixture(autouse=True)
def in_memory_layer(settings):
    """These tests are about the consumer; the Redis path is covered by the live
    tests. (A cancelled blocking read of channels_redis on redis-py 8 can outlive
    its cancellation, which would hang asyncio.run at the end of every test.)"""
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


def transitions(events: list[dict]) -> list[tuple[str, str, str]]:
    return [(e["task_id"], e["old_status"], e["new_status"]) for e in events]


def test_all_gets_a_snapshot_then_every_change_in_order():
    call("add_task", task_id="A_1", family="A", worker="W", params={"n": "1"})
    call("add_task", task_id="B_1", family="B", worker="W", status="DONE")
    latest = StatusEvent.objects.order_by("-id").first().id

    async def scenario():
        async with socket() as ws:
            await ws.send_json_to({"subscribe": "all"})
            snap = await ws.receive_json_from(timeout=10)
            assert snap["type"] == "snapshot"
            assert snap["subscribe"] == "all"
            assert snap["seq"] == latest
            assert snap["tasks"]["A_1"]["status"] == "PENDING"
            assert snap["tasks"]["A_1"]["params"] == {"n": "1"}
            assert snap["tasks"]["B_1"]["status"] == "DONE"

            await acall("get_work", worker="W", current_tasks=[])
            await acall("add_task", task_id="A_1", worker="W", status="DONE")
            await acall("add_task", task_id="C_1", family="C", worker="W", status="FAILED")
            events = await events_until(ws, lambda got: len(got) >= 3)
            assert transitions(events) == [
                ("A_1", "PENDING", "RUNNING"),
                ("A_1", "RUNNING", "DONE"),
                ("C_1", "", "FAILED"),  # registered as FAILED
            ]
            assert [e["seq"] for e in events] == sorted(e["seq"] for e in events)
            assert events[0]["seq"] > snap["seq"]
            assert events[1]["cause"] == "add_task"
            assert events[1]["worker"] == "W"
            assert events[1]["family"] == "A"
            assert isinstance(events[1]["at"], float)

    run(scenario)


def test_a_snapshot_over_the_message_size_limit_is_sent_as_its_task_count(settings, caplog):
    # A larger message would fail the socket (daphne refuses to send it).
    for n in range(20):
        call("add_task", task_id=f"A_{n}", family="A", worker="W")
    settings.LIVE_MAX_MESSAGE_SIZE = 2000

    async def scenario():
        async with socket() as ws:
            await ws.send_json_to({"subscribe": "all"})
            snap = await ws.receive_json_from(timeout=10)
            assert snap["type"] == "snapshot"
            assert (snap["tasks"], snap["num_tasks"]) == ({}, 20)
            await ws.send_json_to({"subscribe": "family", "family": "B"})
            small = await ws.receive_json_from(timeout=10)  # under the limit: whole
            assert (small["tasks"], "num_tasks" in small) == ({}, False)
            await acall("add_task", task_id="B_1", family="B", worker="W")
            events = await events_until(ws, lambda got: len(got) >= 1)
            assert transitions(events) == [("B_1", "", "PENDING")]

    run(scenario)
    assert "over LIVE_MAX_MESSAGE_SIZE (2000)" in caplog.text


def test_family_subscription_sees_only_its_family():
    call("add_task", task_id="A_1", family="A", worker="W")
    call("add_task", task_id="B_1", family="B", worker="W")

    async def scenario():
        async with socket() as ws:
            await ws.send_json_to({"subscribe": "family", "family": "B"})
            snap = await ws.receive_json_from(timeout=10)
            assert set(snap["tasks"]) == {"B_1"}
            await acall("add_task", task_id="A_1", worker="W", status="FAILED")
            await acall("add_task", task_id="B_1", worker="W", status="DONE")
            events = await events_until(ws, lambda got: len(got) >= 1)
            assert transitions(events) == [("B_1", "PENDING", "DONE")]

    run(scenario)


def test_task_subscription_follows_its_dependency_graph():
    call("add_task", task_id="Root", family="Root", worker="W", deps=["Mid"])
    call("add_task", task_id="Mid", family="Mid", worker="W", deps=["Leaf"])
    call("add_task", task_id="Leaf", family="Leaf", worker="W")
    call("add_task", task_id="Other", family="Other", worker="W")

    async def scenario():
        async with socket() as ws:
            await ws.send_json_to({"subscribe": "task", "task_id": "Mid"})
            snap = await ws.receive_json_from(timeout=10)
            assert snap["type"] == "snapshot"
            assert set(snap["tasks"]) == {"Mid", "Leaf"}
            assert snap["tasks"]["Mid"]["deps"] == ["Leaf"]
            await acall("add_task", task_id="Other", worker="W", status="DONE")
            await acall("add_task", task_id="Root", worker="W", status="FAILED")
            await acall("add_task", task_id="Leaf", worker="W", status="DONE")
            events = await events_until(ws, lambda got: len(got) >= 1)
            assert transitions(events) == [("Leaf", "PENDING", "DONE")]

    run(scenario)


def test_a_task_graph_that_grows_sends_the_new_members(monkeypatch):
    monkeypatch.setattr(subscriptions, "GRAPH_REFRESH", 0.2)
    call("add_task", task_id="Root", family="Root", worker="W")

    async def scenario():
        async with socket() as ws:
            await ws.send_json_to({"subscribe": "task", "task_id": "Root"})
            snap = await ws.receive_json_from(timeout=10)
            assert set(snap["tasks"]) == {"Root"}
            await acall("get_work", worker="W", current_tasks=[])
            # Dynamic dependencies: the running task goes back to PENDING with new deps.
            await acall("add_task", task_id="Dyn", family="Dyn", worker="W")
            await acall("add_task", task_id="Root", worker="W", status="PENDING", new_deps=["Dyn"])
            seen: dict[str, dict] = {}
            events: list[dict] = []
            while "Dyn" not in seen:
                message = await ws.receive_json_from(timeout=10)
                if message["type"] == "tasks":
                    seen.update(message["tasks"])
                else:
                    events.extend(message["events"])
            assert seen["Dyn"]["status"] == "PENDING"
            await acall("add_task", task_id="Dyn", worker="W", status="DONE")
            later = await events_until(ws, lambda got: any(e["task_id"] == "Dyn" for e in got))
            assert ("Dyn", "PENDING", "DONE") in transitions(later)

    run(scenario)


def test_reconnect_with_since_replays_exactly_what_was_missed():
    call("add_task", task_id="A_1", family="A", worker="W")
    call("add_task", task_id="B_1", family="B", worker="W")

    async def scenario():
        async with socket() as ws:
            await ws.send_json_to({"subscribe": "family", "family": "A"})
            snap = await ws.receive_json_from(timeout=10)
            await acall("add_task", task_id="A_1", worker="W", status="FAILED")
            seen = await events_until(ws, lambda got: len(got) >= 1)
        last = seen[-1]["seq"]
        # While disconnected:
        await acall("add_task", task_id="B_1", worker="W", status="DONE")
        await acall("add_task", task_id="A_1", worker="W", status="PENDING")
        await acall("add_task", task_id="A_2", family="A", worker="W", status="DONE")
        async with socket() as ws:
            await ws.send_json_to({"subscribe": "family", "family": "A", "since": last})
            catchup = await ws.receive_json_from(timeout=10)
            assert catchup["type"] == "catchup"
            assert catchup["since"] == last
            assert transitions(catchup["events"]) == [
                ("A_1", "FAILED", "PENDING"),
                ("A_2", "", "DONE"),
            ]
            assert catchup["seq"] >= catchup["events"][-1]["seq"] > snap["seq"]
            await acall("add_task", task_id="A_2", worker="W", status="FAILED")
            events = await events_until(ws, lambda got: len(got) >= 1)
            assert transitions(events) == [("A_2", "DONE", "FAILED")]

    run(scenario)


def test_since_older_than_the_outbox_gets_a_fresh_snapshot():
    call("add_task", task_id="A_1", family="A", worker="W", status="DONE")
    call("add_task", task_id="A_2", family="A", worker="W", status="DONE")
    first = StatusEvent.objects.order_by("id").first().id
    StatusEvent.objects.filter(id=first).delete()  # trimmed by the maintenance pass

    async def scenario():
        async with socket() as ws:
            await ws.send_json_to({"subscribe": "all", "since": first - 1})
            message = await ws.receive_json_from(timeout=10)
            assert message["type"] == "snapshot"
            assert set(message["tasks"]) == {"A_1", "A_2"}

    run(scenario)


def test_a_snapshot_of_an_emptied_outbox_can_be_caught_up():
    call("add_task", task_id="A_1", family="A", worker="W", status="DONE")
    last = StatusEvent.objects.order_by("-id").first().id
    StatusEvent.objects.all().delete()  # everything pruned

    async def scenario():
        async with socket() as ws:
            await ws.send_json_to({"subscribe": "all"})
            snap = await ws.receive_json_from(timeout=10)
        # The snapshot's seq is where the ids stand, not 0: the next event is last + 1.
        assert snap["type"] == "snapshot"
        assert snap["seq"] == last
        await acall("add_task", task_id="A_2", family="A", worker="W", status="DONE")
        async with socket() as ws:
            await ws.send_json_to({"subscribe": "all", "since": snap["seq"]})
            catchup = await ws.receive_json_from(timeout=10)
            assert catchup["type"] == "catchup"
            assert transitions(catchup["events"]) == [("A_2", "", "DONE")]

    run(scenario)


@pytest.fixture
def no_local_push():
    """Only the tail sees changes, as for a worker process writing to the database."""
    task_status_committed.disconnect(dispatch_uid="visualiser.publish")
    yield
    task_status_committed.connect(on_status_committed, dispatch_uid="visualiser.publish")


@pytest.mark.usefixtures("no_local_push")
def test_changes_made_by_other_processes_arrive_through_the_outbox():
    async def scenario():
        async with socket() as ws:
            await ws.send_json_to({"subscribe": "all"})
            await ws.receive_json_from(timeout=10)
            for n in range(5):
                await acall("add_task", task_id=f"T_{n}", family="T", worker="W", status="DONE")
            events = await events_until(ws, lambda got: len(got) >= 5)
            assert [e["task_id"] for e in events] == [f"T_{n}" for n in range(5)]

    run(scenario)


@pytest.mark.parametrize(
    ("message", "detail"),
    [
        ("not json", "not JSON"),
        ('{"subscribe": "everything"}', "unknown subscription"),
        ('{"subscribe": "task"}', '"task_id"'),
        ('{"subscribe": "family", "family": ""}', '"family"'),
        ('{"subscribe": "all", "since": "yesterday"}', '"since"'),
        ("[1, 2]", '{"subscribe"'),
    ],
)
def test_bad_requests_get_an_error_and_the_socket_stays_open(message, detail):
    async def scenario():
        async with socket() as ws:
            await ws.send_to(text_data=message)
            error = await ws.receive_json_from(timeout=10)
            assert error["type"] == "error"
            assert detail in error["detail"]
            await ws.send_json_to({"subscribe": "all"})
            assert (await ws.receive_json_from(timeout=10))["type"] == "snapshot"

    run(scenario)


def test_a_new_subscription_replaces_the_previous_one():
    call("add_task", task_id="A_1", family="A", worker="W")
    call("add_task", task_id="B_1", family="B", worker="W")

    async def scenario():
        async with socket() as ws:
            await ws.send_json_to({"subscribe": "family", "family": "A"})
            await ws.receive_json_from(timeout=10)
            await ws.send_json_to({"subscribe": "family", "family": "B"})
            snap = await ws.receive_json_from(timeout=10)
            assert set(snap["tasks"]) == {"B_1"}
            await acall("add_task", task_id="A_1", worker="W", status="DONE")
            await acall("add_task", task_id="B_1", worker="W", status="DONE")
            events = await events_until(ws, lambda got: len(got) >= 1)
            assert [e["task_id"] for e in events] == ["B_1"]

    run(scenario)


@pytest.mark.usefixtures("no_local_push")
def test_a_slow_client_is_resynced(monkeypatch):
    monkeypatch.setattr(subscriptions, "MAX_QUEUED", 3)

    async def scenario():
        async with socket() as ws:
            await ws.send_json_to({"subscribe": "all"})
            await ws.receive_json_from(timeout=10)

            def burst():
                from django.db import transaction

                with transaction.atomic():
                    for n in range(6):
                        call("add_task", task_id=f"T_{n}", family="T", worker="W", status="DONE")

            await database_sync_to_async(burst)()
            message = await ws.receive_json_from(timeout=10)
            assert message == {"type": "resync", "reason": "too far behind"}
            snap = await ws.receive_json_from(timeout=10)
            assert snap["type"] == "snapshot"
            assert len(snap["tasks"]) == 6

    run(scenario)
