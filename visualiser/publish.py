"""Pushes of committed status changes: to this process's feed, and to other processes.

Connected to ``scheduler.signals.task_status_committed`` in ``VisualiserConfig.ready``,
so it runs in every process that commits status changes: server processes and
workers writing straight to the database alike.

- If this process runs a live feed, the change is handed to it at once.
- With a cross-process channel layer (Redis), the change is queued for a
  publisher thread that sends whatever has accumulated as one ``group_send``
  to ``visualiser.feed.GROUP``. The commit path never waits for Redis; what a
  crash or a full channel loses, the other processes' tails pick up from the
  outbox.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from typing import Any

from . import feed

logger = logging.getLogger(__name__)

# Most changes one published message carries (a burst is split).
BATCH = 500


def change_event(change: Any) -> dict[str, Any]:
    """A StatusChange as the outbox row reads back (see scheduler.service.feed)."""
    return {
        "seq": change.seq,
        "at": change.at,
        "task_id": change.task_id,
        "family": change.family,
        "old_status": change.old_status,
        "new_status": change.new_status,
        "cause": change.cause[:64],
        "worker": change.worker,
        "host": change.host,
        "user": change.user,
    }


def on_status_committed(sender: Any, change: Any, **_: Any) -> None:
    event = change_event(change)
    local = feed.current()
    if local is not None:
        local.offer_threadsafe([event])
    if feed.cross_process_layer() is not None:
        Publisher.instance().put(event)


class Publisher:
    """One daemon thread per process with its own event loop, sending to the layer."""

    _instance: Publisher | None = None
    _lock = threading.Lock()

    def __init__(self) -> None:
        self.queue: queue.SimpleQueue[dict[str, Any]] = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._run, name="live-publisher", daemon=True)
        self.thread.start()

    @classmethod
    def instance(cls) -> Publisher:
        with cls._lock:
            if cls._instance is None or not cls._instance.thread.is_alive():
                cls._instance = cls()
            return cls._instance

    def put(self, event: dict[str, Any]) -> None:
        self.queue.put(event)

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        failures = 0
        try:
            while True:
                batch = [self.queue.get()]
                while len(batch) < BATCH:
                    try:
                        batch.append(self.queue.get_nowait())
                    except queue.Empty:
                        break
                layer = feed.cross_process_layer()
                if layer is None:
                    continue
                try:
                    loop.run_until_complete(
                        layer.group_send(feed.GROUP, {"type": "status.events", "events": batch})
                    )
                    failures = 0
                except Exception:
                    failures += 1
                    if failures in (1, 10) or failures % 100 == 0:
                        logger.exception("publishing %d status changes failed", len(batch))
        finally:
            loop.close()
