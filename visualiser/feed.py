"""The live feed of one server process: every committed status change, once, in order.

The StatusEvent outbox is the source of truth. Each process that serves
WebSockets runs one :class:`Feed` on its event loop (started by the first
subscriber) and fills it from up to three sources, merged by a
:class:`~visualiser.sequencer.Sequencer`:

- the tail: a query for ``seq > last`` every ``LIVE_POLL_INTERVAL`` seconds
  (default 0.1), which sees every commit of every process, including workers
  writing straight to the database, and is what the embedded default (SQLite,
  in-memory channel layer) relies on;
- local pushes: this process's own commits, handed over right after commit
  (``visualiser.publish``);
- with a cross-process channel layer (``REDIS_URL``), the commits of other
  processes, published by them on commit to the ``GROUP`` group, which every
  feed joins with a channel of its own.

Pushes only lower the latency; a lost push is made up for by the tail.
Progress of running tasks (not status changes, so not in the outbox) is polled
by ``visualiser.progress`` while anyone listens, and delivered the same way.
Subscribers (one per WebSocket subscription) get released events in batches,
synchronously, on the loop; they filter and queue them, so the per-event work
here is a dictionary lookup per subscriber.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any, Protocol

from channels.db import database_sync_to_async
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.conf import settings

from scheduler.service import feed as outbox

from . import progress
from .sequencer import Event, Sequencer

logger = logging.getLogger(__name__)

GROUP = "pipelines.status"
# How far back, at start, ids not yet visible are watched for (PostgreSQL gaps).
START_WINDOW = 1000
# Every this many seconds the tail also checks that the outbox did not go
# backwards (a database recreated under a running server).
RESET_CHECK = 5.0
# Seconds between re-joins of the layer group (channels_redis expires members).
REJOIN = 3600.0


def poll_interval() -> float:
    return float(getattr(settings, "LIVE_POLL_INTERVAL", 0.1))


def gap_grace() -> float:
    return float(getattr(settings, "LIVE_GAP_GRACE", 1.0))


def max_message_size() -> int:
    """Largest WebSocket message (bytes) runscheduler sends or accepts."""
    return int(getattr(settings, "LIVE_MAX_MESSAGE_SIZE", 32 * 1024 * 1024))


def cross_process_layer() -> Any:
    """The channel layer when it reaches other processes (Redis), else None."""
    layer = get_channel_layer()
    if layer is None or isinstance(layer, InMemoryChannelLayer):
        return None
    return layer


class Listener(Protocol):
    def deliver(self, events: list[Event]) -> None: ...

    def restart(self) -> None: ...

    def deliver_progress(self, changes: dict[str, dict[str, Any]]) -> None: ...


class Feed:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.listeners: set[Listener] = set()
        self.sequencer: Sequencer | None = None
        self._tasks: list[asyncio.Task] = []
        self.ready = asyncio.Event()
        self.clock: Callable[[], float] = time.monotonic

    @property
    def last(self) -> int:
        assert self.sequencer is not None
        return self.sequencer.last

    async def start(self) -> None:
        last = await database_sync_to_async(outbox.latest_seq)()
        recent = await database_sync_to_async(outbox.events_after)(
            max(0, last - START_WINDOW), upto=last, limit=START_WINDOW
        )
        self.sequencer = Sequencer(last, grace=gap_grace())
        if recent:
            seen = {e["seq"] for e in recent}
            self.sequencer.forget_before(
                (s for s in range(recent[0]["seq"], last) if s not in seen), self.clock()
            )
        self._tasks.append(self.loop.create_task(self._tail(), name="live-feed-tail"))
        self._tasks.append(self.loop.create_task(self._watch_progress(), name="live-progress"))
        layer = cross_process_layer()
        if layer is not None:
            self._tasks.append(self.loop.create_task(self._listen(layer), name="live-feed-layer"))
        logger.info("live feed started at seq %d (%s)", last, "tail + layer" if layer else "tail")

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        # A blocking Redis read may ignore its cancellation (redis-py); don't hang on it.
        await asyncio.wait(self._tasks, timeout=1.0)
        self._tasks.clear()

    def add(self, listener: Listener) -> int:
        """Register a listener; it gets every event after the returned seq."""
        self.listeners.add(listener)
        return self.last

    def remove(self, listener: Listener) -> None:
        self.listeners.discard(listener)

    def offer(self, events: list[Event]) -> None:
        """Hand in events from any source (on the feed's loop)."""
        if self.sequencer is None or not events:
            return
        self._fan_out(self.sequencer.offer(events, self.clock()))

    def offer_threadsafe(self, events: list[Event]) -> None:
        """Hand in events from another thread (a commit in a sync thread)."""
        if not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.offer, events)

    def _fan_out(self, released: list[Event]) -> None:
        if not released:
            return
        for listener in list(self.listeners):
            try:
                listener.deliver(released)
            except Exception:
                logger.exception("live feed listener failed; dropping it")
                self.listeners.discard(listener)

    async def _tail(self) -> None:
        assert self.sequencer is not None
        read = database_sync_to_async(outbox.events_after)
        latest = database_sync_to_async(outbox.latest_seq)
        next_check = self.clock() + RESET_CHECK
        failures = 0
        while True:
            await asyncio.sleep(poll_interval())
            try:
                events = await read(self.sequencer.last, also=self.sequencer.missing)
                if self.clock() >= next_check:
                    next_check = self.clock() + RESET_CHECK
                    top = await latest()
                    if top < self.sequencer.last:
                        self._reset(top)
                        continue
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception:
                failures += 1
                if failures in (1, 10) or failures % 100 == 0:
                    logger.exception("live feed: reading the outbox failed (%d times)", failures)
                await asyncio.sleep(min(5.0, 0.1 * failures))
                continue
            now = self.clock()
            self._fan_out(self.sequencer.offer(events, now) + self.sequencer.tick(now))

    async def _watch_progress(self) -> None:
        watch = progress.ProgressWatch()
        read = database_sync_to_async(progress.running_progress)
        while True:
            await asyncio.sleep(progress.interval())
            if not self.listeners:
                watch.known = None  # start from a fresh baseline when someone listens
                continue
            try:
                changes = watch.changes(await read())
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("live feed: reading running tasks' progress failed")
                await asyncio.sleep(5.0)
                continue
            if changes:
                for listener in list(self.listeners):
                    try:
                        listener.deliver_progress(changes)
                    except Exception:
                        logger.exception("live feed listener failed; dropping it")
                        self.listeners.discard(listener)

    def _reset(self, top: int) -> None:
        assert self.sequencer is not None
        logger.warning(
            "live feed: the outbox went back from seq %d to %d; restarting subscribers",
            self.sequencer.last,
            top,
        )
        self.sequencer.reset(top)
        for listener in list(self.listeners):
            listener.restart()

    async def _listen(self, layer: Any) -> None:
        # A plain channel name (no "!"): channels_redis then receives directly,
        # without its process-wide receive lock.
        channel = f"live-feed.{uuid.uuid4().hex}"
        joined: float | None = None  # the clock may start near 0 (monotonic: since boot)
        receiving: asyncio.Task | None = None
        try:
            while True:
                if joined is None or self.clock() - joined > REJOIN:
                    await layer.group_add(GROUP, channel)
                    joined = self.clock()
                # The blocking read runs in its own task: a cancelled read of
                # redis-py may go on until its timeout, and stop() must not wait.
                receiving = asyncio.ensure_future(layer.receive(channel))
                try:
                    message = await asyncio.shield(receiving)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    logger.exception("live feed: receiving from the channel layer failed")
                    await asyncio.sleep(1.0)
                    continue
                self.offer(message.get("events") or [])
        finally:
            if receiving is not None and not receiving.done():
                receiving.cancel()
            try:
                await asyncio.wait_for(layer.group_discard(GROUP, channel), 2)
            except Exception:  # shutting down; the membership expires anyway
                logger.debug("live feed: leaving the group failed", exc_info=True)


_feed: Feed | None = None


def current() -> Feed | None:
    """The running feed of this process, if any (any thread)."""
    feed = _feed
    if feed is None or feed.sequencer is None or feed.loop.is_closed():
        return None
    return feed


async def get_feed() -> Feed:
    """This process's feed on the running loop, started on first use."""
    global _feed
    loop = asyncio.get_running_loop()
    feed = _feed
    if feed is None or feed.loop is not loop:
        feed = _feed = Feed(loop)
        try:
            await feed.start()
        except BaseException:
            _feed = None
            feed.ready.set()
            raise
        feed.ready.set()
    await feed.ready.wait()
    if feed.sequencer is None:
        raise RuntimeError("the live feed failed to start")
    return feed


async def stop_feed() -> None:
    """Stop this process's feed (tests; server shutdown)."""
    global _feed
    feed, _feed = _feed, None
    if feed is not None and feed.loop is asyncio.get_running_loop():
        await feed.stop()
