"""GET /api/v1/tasks/<id>/ and /graph/: neighbours, error, actions, odd ids."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from tests.api.conftest import failed
from tests.urls import at

URL = at("/api/v1/tasks/")


def path(task_id: str, suffix: str = "") -> str:
    return URL + quote(task_id, safe="") + "/" + suffix


@pytest.fixture
def chain(sched):
    """Top -> Mid1 -> Leaf (failed), Top -> Mid2 -> Missing (never registered)."""
    failed(sched, "Leaf")
    sched.add("Mid1", deps=["Leaf"])
    sched.add("Mid2", deps=["Missing"])
    sched.add("Top", deps=["Mid1", "Mid2"])
    return sched


def test_detail_has_deps_dependents_error_and_actions(chain, api, operator):
    leaf = api.get(path("Leaf")).json()
    assert leaf["error"] == "Traceback: Leaf broke"
    assert leaf["deps"] == []
    assert leaf["dependents"] == [
        {"task_id": "Mid1", "display_name": "Mid1()", "status": "PENDING"}
    ]
    assert leaf["resources"] == {} and isinstance(leaf["retry_policy"], dict)
    # Anonymous viewers may do nothing; an operator may do what applies to FAILED.
    assert set(leaf["actions"].values()) == {False}
    assert operator.get(path("Leaf")).json()["actions"] == {
        "re_enable": False,
        "retry": True,
        "mark_done": True,
        "disable": True,
    }
    mid2 = api.get(path("Mid2")).json()
    assert mid2["deps"] == [{"task_id": "Missing", "display_name": "Missing", "status": "UNKNOWN"}]
    mid1 = api.get(path("Mid1")).json()
    assert mid1["display_status"] == "UPSTREAM_FAILED" and mid1["error"] is None
    top = api.get(path("Top")).json()
    assert [d["task_id"] for d in top["deps"]] == ["Mid1", "Mid2"]
    assert top["display_status"] == "UPSTREAM_FAILED"


def test_unknown_task_is_a_404(db, api):
    response = api.get(path("Nope"))
    assert response.status_code == 404
    assert response.json() == {"error": "not_found", "detail": "no task with id 'Nope'"}
    assert api.get(path("Nope", "graph/")).status_code == 404


@pytest.mark.parametrize(
    "task_id",
    [
        "data/2024/01/load_abc",
        "with space & ünïcødé ✓",
        "trailing/",
        "counts/x",
        "a?b#c%d",
        "two\nlines",
    ],
)
def test_ids_with_any_character_work_percent_encoded(sched, api, operator, task_id):
    sched.add(task_id, family="Odd", deps=["dep/one"])
    sched.add("dep/one", family="Dep")
    detail = api.get(path(task_id))
    assert detail.status_code == 200, detail.content
    assert detail.json()["task_id"] == task_id
    graph = api.get(path(task_id, "graph/")).json()
    assert graph["root"] == task_id
    assert graph["edges"] == [{"source": task_id, "target": "dep/one"}]
    disabled = operator.post(path(task_id, "disable/"))
    assert disabled.status_code == 200, disabled.content
    assert disabled.json()["status"] == "DISABLED"
    assert sched.status(task_id) == "DISABLED"


def test_nul_in_an_id_is_a_400(db, api):
    response = api.get(path("a\x00b"))
    assert response.status_code == 400 and "NUL" in response.json()["detail"]


def test_graph_upstream_downstream_both(chain, api):
    up = api.get(path("Top", "graph/")).json()
    assert up["root"] == "Top" and up["direction"] == "upstream"
    assert up["nodes"][0]["task_id"] == "Top"
    assert {n["task_id"] for n in up["nodes"]} == {"Top", "Mid1", "Mid2", "Leaf", "Missing"}
    assert sorted((e["source"], e["target"]) for e in up["edges"]) == [
        ("Mid1", "Leaf"),
        ("Mid2", "Missing"),
        ("Top", "Mid1"),
        ("Top", "Mid2"),
    ]
    assert up["truncated"] is False and up["total_nodes"] == 5
    nodes = {n["task_id"]: n for n in up["nodes"]}
    assert nodes["Missing"]["status"] == "UNKNOWN"
    assert nodes["Leaf"]["status"] == "FAILED"
    assert nodes["Mid1"]["display_status"] == "UPSTREAM_FAILED"
    assert set(nodes["Top"]) == {
        "task_id",
        "family",
        "display_name",
        "status",
        "display_status",
        "priority",
        "progress_percentage",
    }

    down = api.get(path("Leaf", "graph/"), {"direction": "downstream"}).json()
    assert {n["task_id"] for n in down["nodes"]} == {"Leaf", "Mid1", "Top"}
    assert {(e["source"], e["target"]) for e in down["edges"]} == {
        ("Mid1", "Leaf"),
        ("Top", "Mid1"),
    }
    both = api.get(path("Mid1", "graph/"), {"direction": "both"}).json()
    # Ancestors and descendants of Mid1, not its siblings (Mid2).
    assert {n["task_id"] for n in both["nodes"]} == {"Mid1", "Leaf", "Top"}


def test_graph_truncates_nearest_first(chain, api):
    small = api.get(path("Top", "graph/"), {"max_nodes": 3}).json()
    assert [n["task_id"] for n in small["nodes"]] == ["Top", "Mid1", "Mid2"]
    assert small["truncated"] is True and small["total_nodes"] == 5
    assert {(e["source"], e["target"]) for e in small["edges"]} == {
        ("Top", "Mid1"),
        ("Top", "Mid2"),
    }


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"direction": "sideways"}, "unknown direction 'sideways'"),
        ({"max_nodes": "ten"}, "'ten' is not an integer"),
        ({"max_nodes": "0"}, "must be between 1 and"),
    ],
)
def test_bad_graph_arguments_are_400s(chain, api, params, words):
    response = api.get(path("Top", "graph/"), params)
    assert response.status_code == 400
    assert words in response.json()["detail"]
