"""Grouping, cutting and laying out big graphs (no database)."""

from __future__ import annotations

import time

from visualiser import graph
from visualiser.layout import layered
from visualiser.progress import ProgressWatch


def node(task_id: str, family: str, status: str = "DONE") -> dict:
    return {"id": task_id, "family": family, "label": task_id, "status": status, "progress": None}


def fan(n: int) -> graph.Graph:
    """Root <- n Load tasks, each <- its own Extract; one Extract failed."""
    g = graph.Graph(root="root")
    g.nodes["root"] = node("root", "Report", "PENDING")
    for i in range(n):
        g.nodes[f"L{i}"] = node(f"L{i}", "Load", "PENDING" if i == 0 else "DONE")
        g.nodes[f"E{i}"] = node(f"E{i}", "Extract", "FAILED" if i == 0 else "DONE")
        g.edges |= {("root", f"L{i}"), (f"L{i}", f"E{i}")}
    g.total_nodes = len(g.nodes)
    return g


def test_big_families_collapse_into_groups_with_their_most_urgent_status():
    g = fan(30)
    graph.group_families(g)
    assert set(g.nodes) == {"root", "family:Load", "family:Extract"}
    assert g.edges == {("root", "family:Load"), ("family:Load", "family:Extract")}
    assert g.nodes["family:Extract"]["status"] == "FAILED"
    assert g.nodes["family:Load"]["status"] == "PENDING"
    assert g.nodes["family:Extract"]["group"] == {
        "count": 30,
        "statuses": {"FAILED": 1, "DONE": 29},
    }
    assert g.nodes["family:Load"]["label"] == "Load \u00d730"
    assert g.grouped and "61 tasks" in g.messages[0]


def test_small_families_stay_as_tasks():
    g = fan(graph.GROUP_MIN - 1)
    graph.group_families(g)
    assert not g.grouped and len(g.nodes) == 2 * (graph.GROUP_MIN - 1) + 1


def test_cut_keeps_the_nearest_nodes_and_says_so():
    g = fan(10)
    graph.cut(g, 11)
    assert set(g.nodes) == {"root", *(f"L{i}" for i in range(10))}
    assert all(a in g.nodes and b in g.nodes for a, b in g.edges)
    assert g.truncated and "11 nodes nearest the task of 21" in g.messages[0]


def test_layout_of_5000_nodes_is_layered_and_fast():
    g = fan(2500)
    started = time.perf_counter()
    positions = layered(list(g.nodes), sorted(g.edges))
    assert time.perf_counter() - started < 2.0  # tens of milliseconds on a quiet machine
    assert positions["root"][1] < positions["L7"][1] < positions["E7"][1]
    assert len({positions[f"L{i}"] for i in range(2500)}) == 2500  # no overlaps


def test_layout_survives_cycles_and_unknown_edges():
    positions = layered(["a", "b"], [("a", "b"), ("b", "a"), ("a", "zzz"), ("a", "a")])
    assert set(positions) == {"a", "b"} and positions["a"] != positions["b"]
    assert layered([], []) == {}


def test_progress_watch_reports_changes_after_its_baseline():
    watch = ProgressWatch()
    blank = {
        "family": "F",
        "progress_percentage": None,
        "status_message": None,
        "tracking_url": None,
    }
    assert watch.changes({"a": {**blank, "progress_percentage": 10}}) == {}  # baseline
    assert watch.changes({"a": {**blank, "progress_percentage": 10}}) == {}
    moved = {**blank, "progress_percentage": 20, "status_message": "half"}
    assert watch.changes({"a": moved, "b": blank}) == {"a": moved}  # b: nothing to show
    assert watch.changes({"b": {**blank, "tracking_url": "http://x"}}) == {
        "b": {**blank, "tracking_url": "http://x"}
    }
