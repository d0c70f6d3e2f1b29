"""Ordering of status events that arrive from several sources (plain Python).

A server process hears of committed status changes three ways: its own commits
(pushed locally), other processes' commits (pushed through the Redis channel
layer, when there is one), and by tailing the StatusEvent outbox. The same
event may come from all three, in any order. :class:`Sequencer` releases each
event once, in ``seq`` order.

Gaps. On PostgreSQL an outbox id is allocated when the row is inserted, not
when its transaction commits, so event 12 may become visible before event 11.
(Rows are inserted by their transaction's last statement, so such a gap usually
lasts only as long as a commit.)
A gap is held open for ``grace`` seconds (event 12 waits for 11); after that the
sequencer moves past it, because a rolled-back transaction leaves a hole that
never fills. An id given up on is remembered for ``late_horizon`` seconds: if
it shows up after all (a transaction that committed more than ``grace``
seconds after its insert) it is released at once, marked ``"late": True``.
Per task the order still holds: a later change of the same task waits for the
row lock the earlier one holds until its commit, so it cannot be released first.
On SQLite writers are serialised and no gap is ever seen.

Time is passed in (``now``, monotonic seconds), so tests drive the clock.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

Event = dict[str, Any]

# At most this many ids of one skipped gap are remembered for late delivery (a
# sequence jump, e.g. after a database crash, is not worth tracking id by id).
MAX_REMEMBERED = 1000


class Sequencer:
    def __init__(self, last: int, *, grace: float, late_horizon: float = 60.0) -> None:
        self.last = last  # the highest seq released (or skipped past)
        self.grace = grace
        self.late_horizon = late_horizon
        self._held: dict[int, Event] = {}
        self._gap_since: float | None = None
        self._skipped: dict[int, float] = {}

    @property
    def missing(self) -> list[int]:
        """Ids given up on that may still commit late (the tailer asks for them)."""
        return sorted(self._skipped)

    @property
    def held(self) -> int:
        return len(self._held)

    def forget_before(self, seqs: Iterable[int], now: float) -> None:
        """Treat these ids (below ``last``) as skipped gaps: at start-up, the ids
        not yet visible below the current maximum may still commit."""
        for seq in seqs:
            if seq <= self.last:
                self._skipped[seq] = now

    def offer(self, events: Iterable[Event], now: float) -> list[Event]:
        """Take events from any source; return those now releasable, in order."""
        late: list[Event] = []
        for event in events:
            seq = event["seq"]
            if seq > self.last:
                self._held.setdefault(seq, event)
            elif self._skipped.pop(seq, None) is not None:
                late.append({**event, "late": True})
        return late + self._release(now)

    def tick(self, now: float) -> list[Event]:
        """Let time pass: expire remembered gaps, release past a gap whose grace is over."""
        horizon = now - self.late_horizon
        for seq in [s for s, at in self._skipped.items() if at < horizon]:
            del self._skipped[seq]
        return self._release(now)

    def reset(self, last: int) -> None:
        """Start over at ``last`` (the outbox went backwards: a new database)."""
        self.last = last
        self._held.clear()
        self._skipped.clear()
        self._gap_since = None

    def _release(self, now: float) -> list[Event]:
        out: list[Event] = []
        while self._held:
            following = self.last + 1
            event = self._held.pop(following, None)
            if event is not None:
                out.append(event)
                self.last = following
                self._gap_since = None
                continue
            if self._gap_since is None:
                self._gap_since = now
            if now - self._gap_since < self.grace:
                break
            first = min(self._held)
            for seq in range(max(following, first - MAX_REMEMBERED), first):
                self._skipped[seq] = now
            self.last = first - 1
            self._gap_since = None
        if not self._held:
            self._gap_since = None
        return out
