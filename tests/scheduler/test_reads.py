"""Read methods used by the visualiser and tools."""

import pytest

from scheduler.models import Task


def test_upstream_labels_match_luigi_example(sched):
    # A <- B <- C pending; X failed <- D; F disabled <- E; H running <- G;
    # DONE1 <- K; U unknown <- N; M depends on A, X, F.
    sched.add("C")
    sched.add("B", deps=["C"])
    sched.add("A", deps=["B"])
    sched.add("X", status="FAILED")
    sched.add("D", deps=["X"])
    sched.add("F", status="DISABLED")
    sched.add("E", deps=["F"])
    sched.add("H", worker="runner")
    assert sched.next_id("runner") == "H"
    sched.add("G", deps=["H"])
    sched.add("DONE1", status="DONE")
    sched.add("K", deps=["DONE1"])
    sched("add_task", task_id="N", worker="other", family="N", deps=["U"])
    sched.add("M", deps=["A", "X", "F"])

    def labelled(label):
        return set(sched("task_list", status="PENDING", upstream_status=label))

    assert labelled("UPSTREAM_MISSING_INPUT") == {"A", "B", "C"}
    assert labelled("UPSTREAM_FAILED") == {"D"}
    assert labelled("UPSTREAM_DISABLED") == {"E", "M"}
    assert labelled("UPSTREAM_RUNNING") == {"G"}


def test_task_list_limits(sched):
    for i in range(5):
        sched.add(f"T_{i}")
    assert sched("task_list", status="PENDING", max_shown_tasks=3) == {"num_tasks": 5}
    assert sched(
        "task_list", status="PENDING", max_shown_tasks=3, upstream_status="UPSTREAM_FAILED"
    ) == {"num_tasks": -1}
    assert len(sched("task_list", status="PENDING", max_shown_tasks=3, limit=False)) == 5
    assert len(sched("task_list", status="PENDING", max_shown_tasks=10)) == 5


def test_task_list_search_matches_every_term_in_display_name(sched):
    sched.add("Load_a", family="Load", params={"day": "2024-01-01", "table": "Sales"})
    sched.add("Load_b", family="Load", params={"day": "2024-01-02", "table": "sales"})
    sched.add("Other_c", family="Other", params={"day": "2024-01-01"})
    found = sched("task_list", status="", search="load SALES")
    assert set(found) == {"Load_a", "Load_b"}
    found = sched("task_list", status="", search="2024-01-01 load")
    assert set(found) == {"Load_a"}
    # The search also applies when the unsearched list would be too long.
    assert set(sched("task_list", search="Other", max_shown_tasks=1)) == {"Other_c"}


def test_dep_graph_and_inverse(sched):
    sched.add("Top", deps=["Mid1", "Mid2"])
    sched.add("Mid1", deps=["Leaf"])
    sched.add("Mid2", deps=["Leaf"])
    sched.add("Leaf", status="DONE")
    graph = sched("dep_graph", task_id="Top")
    assert set(graph) == {"Top", "Mid1", "Mid2", "Leaf"}
    assert graph["Top"]["deps"] == ["Mid1", "Mid2"]
    assert "display_name" in graph["Top"]
    assert "display_name" not in graph["Mid1"]
    hidden = sched("dep_graph", task_id="Top", include_done=False)
    assert set(hidden) == {"Top", "Mid1", "Mid2"}
    assert hidden["Mid1"]["deps"] == []
    inverse = sched("inverse_dep_graph", task_id="Leaf")
    assert set(inverse) == {"Leaf", "Mid1", "Mid2", "Top"}
    assert inverse["Leaf"]["deps"] == ["Mid1", "Mid2"]
    assert sched("dep_graph", task_id="missing") == {}


def test_dep_graph_unknown_dependency_node(sched):
    sched(
        "add_task", task_id="Top_x", worker="W", family="Top", deps=["Ghost_1_abc"], assistant=True
    )
    graph = sched("dep_graph", task_id="Top_x")
    assert graph["Ghost_1_abc"] == {
        "deps": [],
        "status": "UNKNOWN",
        "workers": [],
        "start_time": "UNKNOWN",
        "params": {"task_id": "Ghost_1_abc"},
        "name": "Ghost",
        "priority": 0,
    }


def test_dep_graph_truncates_breadth_first(sched):
    sched.configure(max_graph_nodes=3)
    sched.add("R", deps=["A", "B"])
    sched.add("A", deps=["A2"])
    sched.add("B", deps=["B2"])
    graph = sched("dep_graph", task_id="R")
    assert set(graph) == {"R", "A", "B"}


def test_graph_returns_every_task_with_deps(sched):
    sched.add("A", deps=["B"])
    sched.add("B")
    sched.add("C")
    graph = sched("graph")
    assert set(graph) == {"A", "B", "C"}
    assert graph["A"]["deps"] == ["B"]


def test_task_search_is_case_sensitive_on_ids_and_grouped_by_status(sched):
    sched.add("Load_1")
    sched.add("load_2", status="DONE")
    found = sched("task_search", task_str="oad_")
    assert set(found) == {"PENDING", "DONE"}
    assert set(sched("task_search", task_str="Load")) == {"PENDING"}
    assert list(sched("task_search", task_str="Load")["PENDING"]) == ["Load_1"]


def test_worker_list_counts(sched):
    sched("add_worker", worker="X", info=[["host", "h1"], ["first_task", "A"]])
    sched.add("A", worker="X", params={"p": "1"}, family="A")
    sched.add("B", worker="X")
    sched.add("B", worker="Y")
    assert sched.next_id("X") in ("A", "B")
    workers = {w["name"]: w for w in sched("worker_list")}
    x = workers["X"]
    assert x["host"] == "h1"
    assert x["first_task_display_name"] == "A(p=1)"
    assert x["num_running"] == 1
    assert x["num_pending"] == 1
    assert x["state"] == "active"
    assert set(x) >= {"last_active", "started", "num_uniques", "running", "num_unread_rpc_messages"}


def test_resource_list_shows_configured_resources(sched):
    sched.configure(resources={"gpu": 2})
    sched.add("A", resources={"gpu": 1})
    sched.next_id()
    listed = sched("resource_list")
    assert listed == [
        {
            "name": "gpu",
            "num_total": 2,
            "num_used": 1,
            "num_consumer": 1,
            "running": {"A": listed[0]["running"]["A"]},
        }
    ]
    assert listed[0]["running"]["A"]["status"] == "RUNNING"


def test_serialized_task_fields(sched):
    sched.add("A", priority=5, resources={"gpu": 1}, params={"d": "x"})
    row = sched("task_list", status="PENDING")["A"]
    assert set(row) == {
        "display_name",
        "status",
        "workers",
        "worker_running",
        "time_running",
        "start_time",
        "last_updated",
        "params",
        "name",
        "priority",
        "resources",
        "resources_running",
        "tracking_url",
        "status_message",
        "progress_percentage",
    }
    assert row["priority"] == 5 and isinstance(row["priority"], int)
    assert row["workers"] == ["W"]


def test_fetch_error_unknown_task(sched):
    assert sched("fetch_error", task_id="nope") == {"taskId": "nope", "error": ""}


@pytest.mark.parametrize("n", [6000])
def test_large_reads_do_not_hit_sql_parameter_limits(sched, n):
    Task.objects.bulk_create(
        [Task(task_id=f"T_{i}", family="T", time=sched.now, updated=sched.now) for i in range(n)]
    )
    assert len(sched("task_list", status="PENDING")) == n
