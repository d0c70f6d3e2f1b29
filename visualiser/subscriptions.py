"""What one WebSocket subscriber sees: its scope, its opening message, its filter.

Scopes: ``all`` tasks, one ``family``, or one ``task``'s dependency graph. The
opening is either a snapshot of the scope's current tasks (serialized like
Luigi's task objects) with the seq it is current to, or, when the client says
``since`` and the outbox still holds everything after it, the missed events.

A task's graph can grow (dynamic dependencies, re-registration). The set of
members is taken with the snapshot; an event of a task outside it, or a member
going back from RUNNING to PENDING (how dynamic dependencies are reported),
marks it stale, and the consumer refreshes it at most every
``GRAPH_REFRESH`` seconds, sending the tasks that joined as a ``tasks`` message.
Events of a joining task from before the refresh are not replayed; its current
state is in that message.

``"snapshot": false`` asks for no tasks in the opening (views that read them
from the REST API, like the dashboard's paginated table): the snapshot message
then carries only the seq. Progress of the scope's running tasks arrives as
``progress`` messages (see ``visualiser.progress``).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from scheduler.service import Ctx
from scheduler.service import feed as outbox

from .sequencer import Event

# More missed events than this and a fresh snapshot is cheaper than the replay.
MAX_CATCHUP = 5000
# A subscriber whose unsent events exceed this is too slow: it gets a resync.
MAX_QUEUED = 20000
GRAPH_REFRESH = 2.0

KINDS = ("all", "family", "task")


class BadRequest(ValueError):
    """A client message the feed cannot act on; the text says what to send instead."""


@dataclass(frozen=True)
class Scope:
    kind: str
    key: str | None = None  # the family or the task id
    tasks: bool = True  # whether the opening snapshot lists the tasks

    @classmethod
    def parse(cls, message: Any) -> tuple[Scope, int | None]:
        """(scope, since) from ``{"subscribe": ..., "task_id"/"family": ..., "since": n}``."""
        if not isinstance(message, dict) or "subscribe" not in message:
            raise BadRequest('send {"subscribe": "all" | "family" | "task", ...}')
        kind = message["subscribe"]
        if kind not in KINDS:
            raise BadRequest(f"unknown subscription {kind!r}; use one of {', '.join(KINDS)}")
        key = None
        if kind != "all":
            field = "task_id" if kind == "task" else "family"
            key = message.get(field)
            if not isinstance(key, str) or not key or len(key) > 1024:
                raise BadRequest(f'a "{kind}" subscription needs "{field}": a non-empty string')
        since = message.get("since")
        if since is not None and (isinstance(since, bool) or not isinstance(since, int)):
            raise BadRequest('"since" must be an integer seq from an earlier message')
        tasks = message.get("snapshot", True)
        if not isinstance(tasks, bool):
            raise BadRequest('"snapshot" must be true or false')
        return cls(kind, key, tasks), since

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"subscribe": self.kind}
        if self.kind != "all":
            data["task_id" if self.kind == "task" else "family"] = self.key
        return data


def snapshot(scope: Scope) -> dict[str, Any]:
    ctx = Ctx.make()
    if scope.kind == "all":
        return outbox.snapshot_all(ctx)
    if scope.kind == "family":
        return outbox.snapshot_family(ctx, scope.key or "")
    return outbox.snapshot_graph(ctx, scope.key or "")


def opening(scope: Scope, since: int | None, seq: int) -> dict[str, Any]:
    """The first message of a subscription current to ``seq`` (sync; ORM)."""
    if since is not None and since <= seq and outbox.retained_since(since):
        members = None
        if scope.kind == "task":
            members = set(outbox.snapshot_graph(Ctx.make(), scope.key or ""))
        events = _replay(scope, since, seq, members)
        if events is not None:
            message = {"type": "catchup", **scope.as_dict(), "since": since, "seq": seq}
            return {**message, "events": events, "_members": members}
    message = {"type": "snapshot", **scope.as_dict(), "seq": seq}
    if not scope.tasks:
        members = set(outbox.snapshot_graph(Ctx.make(), scope.key or "")) if scope.key else None
        return {**message, "_members": members if scope.kind == "task" else None}
    tasks = snapshot(scope)
    if set(tasks) == {"num_tasks"}:
        message["num_tasks"] = tasks["num_tasks"]
        tasks = {}
    members = set(tasks) if scope.kind == "task" else None
    return {**message, "tasks": tasks, "_members": members}


def _replay(scope: Scope, since: int, seq: int, members: set[str] | None) -> list[Event] | None:
    family = scope.key if scope.kind == "family" else None
    found: list[Event] = []
    after = since
    while after < seq:
        page = outbox.events_after(after, upto=seq, limit=MAX_CATCHUP + 1, family=family)
        if not page:
            break
        after = page[-1]["seq"]
        found.extend(e for e in page if members is None or e["task_id"] in members)
        if len(found) > MAX_CATCHUP:
            return None
    return found


class Subscription:
    """The feed's listener for one socket: filters released events and queues them."""

    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self.members: set[str] | None = None
        self.stale_since: float | None = None
        self.last_refresh = 0.0
        self.queued: list[Event] = []
        self.overflow = False
        self.restarted = False
        self.progress: dict[str, dict[str, Any]] = {}
        self.wakeup = asyncio.Event()

    def matches(self, event: Event) -> bool:
        if self.scope.kind == "all":
            return True
        if self.scope.kind == "family":
            return event["family"] == self.scope.key
        if self.members is None:
            return True  # the opening is being read; set_members filters these
        if event["task_id"] not in self.members:
            self._mark_stale()
            return False
        if event["old_status"] == "RUNNING" and event["new_status"] == "PENDING":
            self._mark_stale()
        return True

    def _mark_stale(self) -> None:
        if self.stale_since is None:
            self.stale_since = time.monotonic()
            self.wakeup.set()

    def deliver(self, events: list[Event]) -> None:
        if self.overflow:
            return
        self.queued.extend(e for e in events if self.matches(e))
        if len(self.queued) > MAX_QUEUED:
            self.overflow = True
            self.queued = []
        if self.queued or self.overflow:
            self.wakeup.set()

    def deliver_progress(self, changes: dict[str, dict[str, Any]]) -> None:
        for task_id, fields in changes.items():
            if self.scope.kind == "family" and fields["family"] != self.scope.key:
                continue
            if self.scope.kind == "task" and task_id not in (self.members or ()):
                continue
            self.progress[task_id] = {k: v for k, v in fields.items() if k != "family"}
        if self.progress:
            self.wakeup.set()

    def take_progress(self) -> dict[str, dict[str, Any]]:
        changes, self.progress = self.progress, {}
        return changes

    def set_members(self, members: set[str]) -> None:
        """The graph's members as of the opening; drop queued events of others."""
        self.members = set(members)
        self.last_refresh = time.monotonic()
        self.queued = [e for e in self.queued if self.matches(e)]

    def restart(self) -> None:
        self.restarted = True
        self.queued = []
        self.wakeup.set()

    def take(self) -> list[Event]:
        events, self.queued = self.queued, []
        return events

    def refresh_due(self) -> float | None:
        """Seconds until a graph refresh is due (0: now), None when not stale."""
        if self.stale_since is None:
            return None
        return max(0.0, self.last_refresh + GRAPH_REFRESH - time.monotonic())

    def refreshed(self, members: set[str]) -> set[str]:
        """New members after a refresh; returns the ids that joined."""
        joined = members - (self.members or set())
        self.members = (self.members or set()) | members
        self.stale_since = None
        self.last_refresh = time.monotonic()
        return joined
