"""The UPSTREAM_* labels three ways (walking up from a page, the database-wide blocked
sets, and the Luigi protocol's own reads.with_upstream_label) agree on a random DAG."""

from __future__ import annotations

import random

import pytest

from scheduler.models import Task
from scheduler.service import queries, upstream
from scheduler.service.reads import with_upstream_label
from scheduler.status import Status, Upstream


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_three_ways_agree(sched, seed):
    rng = random.Random(seed)
    names = [f"T{i:02d}" for i in range(40)]
    for i, name in enumerate(names):
        deps = rng.sample(names[:i], k=min(i, rng.randint(0, 3)))
        status = rng.choices(["PENDING", "FAILED", "DISABLED", "DONE"], [6, 1, 1, 2])[0]
        sched.add(name, deps=deps, status=status)
    pending = list(Task.objects.filter(status=Status.PENDING).values_list("task_id", flat=True))
    reference = {t: Upstream.DISABLED for t in with_upstream_label(Upstream.DISABLED)}
    reference.update({t: Upstream.FAILED for t in with_upstream_label(Upstream.FAILED)})
    assert reference, "the DAG should have blocked tasks"
    walked = queries.upstream_labels(pending)
    assert walked == queries.blocked_tasks().labels(pending) == reference
    # One task at a time (as the detail view asks) gives the same answers.
    for task_id in pending[:10]:
        assert queries.upstream_labels([task_id]) == (
            {task_id: reference[task_id]} if task_id in reference else {}
        )


def test_a_walk_over_the_cap_gives_up(sched):
    sched.add("Bad", status="FAILED")
    sched.add("A", deps=["Bad"])
    sched.add("B", deps=["A"])
    sched.add("C", deps=["B"])
    assert upstream.walk_up(["C"], cap=2) is None
    assert upstream.label_closure(["C"], upstream.walk_up(["C"], cap=3)) == {"C": Upstream.FAILED}


def test_label_closure_rule():
    edges = [
        ("a", "b", "PENDING"),
        ("b", "x", "FAILED"),
        ("a", "y", "DISABLED"),
        ("c", "x", "FAILED"),
        ("d", "z", "DONE"),
    ]
    assert upstream.label_closure(["a", "b", "c", "d"], edges) == {
        "a": Upstream.DISABLED,  # the more severe of its two
        "b": Upstream.FAILED,
        "c": Upstream.FAILED,
    }
