"""What the dashboard adds to the live feed: openings without tasks, progress messages."""

from __future__ import annotations

import pytest

from scheduler.models import StatusEvent
from tests.live_updates.conftest import acall, call, run, socket

pytestmark = pytest.mark.django_db(transaction=True)  # the feed reads from its own threads


@pytest.fixture(autouse=True)
def fast_progress(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    settings.LIVE_PROGRESS_INTERVAL = 0.05


def test_an_opening_without_tasks_carries_only_the_seq():
    call("add_task", task_id="A_1", family="A", worker="W")
    latest = StatusEvent.objects.order_by("-id").first().id

    async def scenario():
        async with socket() as ws:
            await ws.send_json_to({"subscribe": "all", "snapshot": False})
            opening = await ws.receive_json_from(timeout=10)
            assert opening == {"type": "snapshot", "subscribe": "all", "seq": latest}
            await acall("add_task", task_id="A_1", worker="W", status="DONE")
            message = await ws.receive_json_from(timeout=10)
            assert message["type"] == "events"
            assert [e["new_status"] for e in message["events"]] == ["DONE"]

            await ws.send_json_to({"subscribe": "all", "snapshot": "no"})
            error = await ws.receive_json_from(timeout=10)
            assert error == {
                "type": "error",
                "error": "bad request",
                "detail": '"snapshot" must be true or false',
            }

    run(scenario)


async def changes_until_both_seen(everything) -> dict[str, dict]:
    """Change both tasks until a change of each came through (the first poll after
    someone listens is only a baseline)."""
    seen: dict[str, dict] = {}
    step = 0
    while set(seen) != {"A_1", "B_1"}:
        step += 1
        assert step < 100, seen
        await acall("set_task_progress_percentage", task_id="A_1", progress_percentage=step)
        await acall("set_task_status_message", task_id="B_1", status_message=f"step {step}")
        # (a receive that times out would cancel the consumer)
        if await everything.receive_nothing(timeout=0.3):
            continue
        message = await everything.receive_json_from(timeout=10)
        assert message["type"] == "progress"
        seen.update(message["tasks"])
    return seen


def test_progress_of_running_tasks_reaches_subscribers_of_their_scope():
    for task_id, family, worker in (("A_1", "A", "W1"), ("B_1", "B", "W2")):
        call("add_task", task_id=task_id, family=family, worker=worker)
        assert call("get_work", worker=worker, current_tasks=[])["task_id"] == task_id

    async def scenario():
        async with socket() as everything:
            await everything.send_json_to({"subscribe": "all", "snapshot": False})
            assert (await everything.receive_json_from(timeout=10))["type"] == "snapshot"
            async with socket() as family_b:
                await family_b.send_json_to({"subscribe": "family", "family": "B"})
                assert (await family_b.receive_json_from(timeout=10))["type"] == "snapshot"
                seen = await changes_until_both_seen(everything)
                assert seen["A_1"]["progress_percentage"] >= 1
                assert seen["B_1"]["status_message"].startswith("step ")
                got = await family_b.receive_json_from(timeout=10)
                assert got["type"] == "progress" and set(got["tasks"]) == {"B_1"}
                assert set(got["tasks"]["B_1"]) == {
                    "progress_percentage",
                    "status_message",
                    "tracking_url",
                }

    run(scenario)
