"""The live task feed over a WebSocket (``/ws/tasks/``).

Protocol (JSON text frames):

Client -> server, at any time (a new subscription replaces the previous one)::

    {"subscribe": "all"}
    {"subscribe": "family", "family": "MyTask"}
    {"subscribe": "task", "task_id": "MyTask_2024_01_abc"}     # its dependency graph
    ... optionally with "since": <seq> to catch up after a reconnect,
    and "snapshot": false for an opening without the tasks (just the seq)

Server -> client:

- ``{"type": "snapshot", "subscribe": ..., "seq": S, "tasks": {task_id: task}}``:
  the scope's tasks now, serialized like Luigi's task objects (graph nodes for
  a task subscription); ``"num_tasks": n`` instead of them beyond
  ``max_shown_tasks``; no ``tasks`` when the client sent ``"snapshot": false``.
  Every event with a seq above ``S`` follows.
- ``{"type": "catchup", "subscribe": ..., "since": N, "seq": S, "events": [...]}``:
  instead of a snapshot when ``since`` was given and the outbox still holds
  every event after it: the scope's events with ``N < seq <= S``.
- ``{"type": "events", "events": [event, ...]}``: committed status changes in
  increasing ``seq``; each event is ``{"seq", "at", "task_id", "family",
  "old_status", "new_status", "cause", "worker", "host", "user"}``, plus
  ``"late": true`` on the rare event that committed after later ones had been
  sent (see ``visualiser.sequencer``).
- ``{"type": "tasks", "tasks": {...}}``: tasks that joined a task's graph.
- ``{"type": "progress", "tasks": {task_id: {"progress_percentage",
  "status_message", "tracking_url"}}}``: running tasks of the scope whose
  progress fields changed (polled, at most every ``LIVE_PROGRESS_INTERVAL`` s).
- ``{"type": "resync", "reason": ...}`` then a new snapshot: the client fell too
  far behind, or the database was replaced.
- ``{"type": "error", "error": ..., "detail": ...}``: a message that could not be
  acted on; the socket stays open.

A client remembers the highest ``seq`` it has applied and, after a reconnect,
subscribes with ``"since"`` set to it: nothing is lost as long as the outbox
keeps the events (``event_retention``); otherwise it gets a fresh snapshot.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from scheduler.service import Ctx
from scheduler.service import feed as outbox

from .feed import Feed, get_feed, max_message_size
from .subscriptions import BadRequest, Scope, Subscription, opening

logger = logging.getLogger(__name__)


def _encode(message: dict[str, Any]) -> str:
    return json.dumps(message, allow_nan=False, separators=(",", ":"))


class TaskEventsConsumer(AsyncWebsocketConsumer):
    # Events come from this process's feed, not from the channel layer: no layer
    # channel (and no blocking Redis read) per socket.
    channel_layer_alias = "__no_layer__"

    async def connect(self) -> None:
        self.feed: Feed | None = None
        self.subscription: Subscription | None = None
        self.relay: asyncio.Task | None = None
        await self.accept()

    async def disconnect(self, code: int) -> None:
        await self._stop_relay()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        try:
            message = json.loads(text_data if text_data is not None else bytes_data or b"")
            scope, since = Scope.parse(message)
        except ValueError as exc:  # JSONDecodeError and BadRequest
            detail = str(exc) if isinstance(exc, BadRequest) else f"not JSON: {exc}"
            await self._send({"type": "error", "error": "bad request", "detail": detail})
            return
        await self._stop_relay()
        self.relay = asyncio.get_running_loop().create_task(self._run(scope, since))

    async def _stop_relay(self) -> None:
        if self.relay is not None:
            self.relay.cancel()
            await asyncio.gather(self.relay, return_exceptions=True)
            self.relay = None
        if self.feed is not None and self.subscription is not None:
            self.feed.remove(self.subscription)
        self.subscription = None

    async def _send(self, message: dict[str, Any]) -> None:
        text = _encode(message)  # ASCII: as many bytes as characters
        limit = max_message_size()
        if len(text) > limit and message.get("type") == "snapshot" and message.get("tasks"):
            # As beyond max_shown_tasks: the count, not the tasks (a larger message
            # would fail the socket); clients page through the REST API instead.
            count = len(message["tasks"])
            logger.warning(
                "snapshot of %d tasks for %s is %d bytes, over LIVE_MAX_MESSAGE_SIZE (%d): "
                "sending its task count",
                count,
                self.subscription.scope if self.subscription else "?",
                len(text),
                limit,
            )
            text = _encode({**message, "tasks": {}, "num_tasks": count})
        await self.send(text_data=text)

    async def _open(self, scope: Scope, since: int | None) -> Subscription:
        self.feed = await get_feed()
        subscription = self.subscription = Subscription(scope)
        seq = self.feed.add(subscription)
        message = await database_sync_to_async(opening)(scope, since, seq)
        members = message.pop("_members")
        if members is not None:
            subscription.set_members(members)
        await self._send(message)
        return subscription

    async def _run(self, scope: Scope, since: int | None) -> None:
        try:
            subscription = await self._open(scope, since)
            while True:
                due = subscription.refresh_due()
                if due != 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(subscription.wakeup.wait(), due)
                subscription.wakeup.clear()
                if subscription.overflow or subscription.restarted:
                    reason = "too far behind" if subscription.overflow else "outbox restarted"
                    await self._send({"type": "resync", "reason": reason})
                    assert self.feed is not None
                    self.feed.remove(subscription)
                    subscription = await self._open(scope, None)
                    continue
                events = subscription.take()
                if events:
                    await self._send({"type": "events", "events": events})
                changes = subscription.take_progress()
                if changes:
                    await self._send({"type": "progress", "tasks": changes})
                if subscription.refresh_due() == 0:
                    await self._refresh(subscription)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("live feed subscription %s failed", scope)
            await self.close(code=1011)

    async def _refresh(self, subscription: Subscription) -> None:
        graph = await database_sync_to_async(outbox.snapshot_graph)(
            Ctx.make(), subscription.scope.key or ""
        )
        joined = subscription.refreshed(set(graph))
        if joined:
            await self._send({"type": "tasks", "tasks": {t: graph[t] for t in sorted(joined)}})
