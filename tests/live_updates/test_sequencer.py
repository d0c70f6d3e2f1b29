"""The ordering of events from several sources (no database)."""

from __future__ import annotations

from visualiser.sequencer import Sequencer


def ev(seq: int, task: str = "T") -> dict:
    return {"seq": seq, "task_id": task}


def seqs(events: list[dict]) -> list[int]:
    return [e["seq"] for e in events]


def test_releases_in_order_once_whatever_the_source_order():
    s = Sequencer(10, grace=1.0)
    assert seqs(s.offer([ev(11), ev(12)], now=0)) == [11, 12]
    assert seqs(s.offer([ev(12), ev(11), ev(13)], now=0)) == [13]  # duplicates from another source
    assert s.last == 13


def test_holds_a_gap_until_it_fills():
    s = Sequencer(10, grace=1.0)
    assert s.offer([ev(12), ev(13)], now=0) == []
    assert s.held == 2
    assert seqs(s.offer([ev(11)], now=0.5)) == [11, 12, 13]
    assert s.held == 0


def test_moves_past_a_gap_after_the_grace_and_delivers_it_late():
    s = Sequencer(10, grace=1.0)
    assert s.offer([ev(13)], now=0) == []
    assert s.tick(now=0.9) == []
    assert seqs(s.tick(now=1.0)) == [13]
    assert s.missing == [11, 12]
    late = s.offer([ev(12), ev(14)], now=2)
    assert [(e["seq"], e.get("late")) for e in late] == [(12, True), (14, None)]
    assert s.missing == [11]
    # A rolled-back id never shows up; it is forgotten after the horizon.
    assert s.tick(now=1.0 + 60.1) == []
    assert s.missing == []


def test_grace_counts_from_when_the_gap_was_first_seen():
    s = Sequencer(0, grace=1.0)
    s.offer([ev(2)], now=5)
    assert s.tick(now=5.5) == []
    assert seqs(s.offer([ev(3)], now=6.0)) == [2, 3]


def test_second_gap_gets_its_own_grace():
    s = Sequencer(0, grace=1.0)
    s.offer([ev(2), ev(4)], now=0)
    assert seqs(s.tick(now=1.0)) == [2]  # past gap 1; gap 3 starts now
    assert s.tick(now=1.5) == []
    assert seqs(s.tick(now=2.0)) == [4]


def test_start_up_gaps_are_watched_for_late_commits():
    s = Sequencer(20, grace=1.0)
    s.forget_before([18], now=0)
    assert [(e["seq"], e.get("late")) for e in s.offer([ev(18), ev(21)], now=0.1)] == [
        (18, True),
        (21, None),
    ]


def test_reset_starts_over():
    s = Sequencer(100, grace=1.0)
    s.offer([ev(102)], now=0)
    s.reset(3)
    assert seqs(s.offer([ev(4)], now=0)) == [4]
