"""The feed's cross-process path: it joins the layer group and offers what arrives."""

from __future__ import annotations

import asyncio

from channels.layers import InMemoryChannelLayer

from tests.live_updates.conftest import run
from visualiser.feed import GROUP, Feed
from visualiser.sequencer import Sequencer


class Collector:
    def __init__(self) -> None:
        self.events: list[dict] = []

    def deliver(self, events: list[dict]) -> None:
        self.events.extend(events)

    def restart(self) -> None:
        raise AssertionError("no restart expected")

    def deliver_progress(self, changes: dict) -> None:
        pass


def event(seq: int) -> dict:
    return {"seq": seq, "task_id": f"T_{seq}", "old_status": "", "new_status": "PENDING"}


def test_the_feed_joins_the_group_on_a_machine_booted_seconds_ago():
    # The feed's clock is monotonic time, which counts from boot: a feed that took
    # "never joined" for "joined at 0" only joined once the machine had been up for
    # the rejoin period (an hour), and until then heard nothing from other processes.
    async def scenario() -> list[dict]:
        loop = asyncio.get_running_loop()
        feed = Feed(loop)
        feed.clock = lambda: 5.0
        feed.sequencer = Sequencer(0, grace=1.0)
        collector = Collector()
        feed.add(collector)
        layer = InMemoryChannelLayer()
        listening = loop.create_task(feed._listen(layer))
        try:
            for _ in range(200):
                if layer.groups.get(GROUP):
                    break
                await asyncio.sleep(0.01)
            assert layer.groups.get(GROUP), "the feed did not join the group"
            await layer.group_send(GROUP, {"type": "status.events", "events": [event(1)]})
            for _ in range(200):
                if collector.events:
                    break
                await asyncio.sleep(0.01)
        finally:
            listening.cancel()
            await asyncio.gather(listening, return_exceptions=True)
        return collector.events

    assert [e["seq"] for e in run(scenario)] == [1]
