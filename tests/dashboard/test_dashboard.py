"""The dashboard in Chromium against a live runscheduler with a real pipeline's state."""

from __future__ import annotations

import re
import time
from collections import Counter
from typing import Any
from urllib.parse import quote, unquote

import pytest

from .conftest import Site, in_db, open_as, runworker

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

BASE = ["PENDING", "RUNNING", "DONE", "FAILED", "DISABLED"]


def statuses() -> dict[str, str]:
    from scheduler.models import Task

    return dict(Task.objects.values_list("task_id", "status"))


def task_ids(family: str) -> list[str]:
    from scheduler.models import Task

    return sorted(Task.objects.filter(family=family).values_list("task_id", flat=True))


def wait_loaded(page: Any) -> None:
    page.wait_for_selector("body[data-loaded='true']")
    page.wait_for_selector("#live[data-state='live']")


def test_overview_counts_match_the_database(site: Site, browser: Any):
    page = open_as(browser, site)
    page.goto(site.url + "/")
    wait_loaded(page)
    expected = Counter(in_db(statuses).values())
    shown = {
        status: int(page.inner_text(f"#counts [data-status='{status}'] .n").replace(",", ""))
        for status in [*BASE, "UPSTREAM_FAILED", "UPSTREAM_DISABLED"]
    }
    # As in Luigi's visualiser, a pending task with a failed upstream counts as
    # upstream-failed: day 2's Transform and Load, and Report.
    assert shown["UPSTREAM_FAILED"] == 3
    assert shown["PENDING"] + shown["UPSTREAM_FAILED"] == expected["PENDING"] == 3
    for status in ["RUNNING", "DONE", "FAILED", "DISABLED"]:
        assert shown[status] == expected[status], status
    assert expected["DONE"] == 9 and expected["FAILED"] == 1
    rows = page.locator("#tasks tbody tr[data-task-id]")
    assert rows.count() == sum(expected.values())
    page.screenshot(path=site.screenshots / "overview.png", full_page=True)


def rows(page: Any) -> list[dict[str, str]]:
    return page.eval_on_selector_all(
        "#tasks tbody tr[data-task-id]",
        "trs => trs.map(tr => ({id: tr.dataset.taskId, status: tr.dataset.status,"
        " name: tr.querySelector('td.name').innerText}))",
    )


def wait_rows(page: Any, predicate: Any, message: str, timeout: float = 10) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        found = rows(page)
        if predicate(found):
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"{message}; rows: {found}")
        page.wait_for_timeout(100)


def test_filters_and_sorting_narrow_the_table(site: Site, browser: Any):
    page = open_as(browser, site)
    page.goto(site.url + "/")
    wait_loaded(page)
    page.select_option("#filters [name=status]", "FAILED")
    failed = wait_rows(page, lambda r: len(r) == 1, "one failed task")
    assert failed[0]["status"] == "FAILED" and "source=orders" in failed[0]["name"]
    assert "status=FAILED" in page.url  # the filters live in the address

    page.click("#filters button[type=reset]")
    page.fill("#filters [name=family]", "Extract")
    extract = wait_rows(page, lambda r: len(r) == 6, "six Extract tasks")
    assert sorted(r["id"] for r in extract) == in_db(task_ids, "Extract")

    page.fill("#filters [name=search]", "customers")
    customers = wait_rows(page, lambda r: len(r) == 3, "three customers extracts")
    assert all("source=customers" in r["name"] for r in customers)

    page.fill("#filters [name=search]", "")
    page.fill("#filters [name=family]", "")
    page.click("#tasks th[data-sort=name]")
    by_name = wait_rows(page, lambda r: len(r) == 13 and "name" in page.url, "13 tasks by name")
    assert [r["name"] for r in by_name] == sorted(r["name"] for r in by_name)

    page.fill("#filters [name=updated_before]", "2001-01-01T00:00")
    wait_rows(page, lambda r: not r, "nothing updated before 2001")
    assert page.inner_text("#tasks tbody") == "No tasks match."


COLOURS = {
    "DONE": "rgb(46,158,68)",
    "PENDING": "rgb(230,185,30)",
    "RUNNING": "rgb(47,118,210)",
    "FAILED": "rgb(210,59,47)",
    "DISABLED": "rgb(140,140,140)",
}


def graph_nodes(page: Any) -> dict[str, tuple[str, str]]:
    nodes = page.evaluate(
        "() => window.dashboardGraph.nodes().map(n =>"
        " [n.id(), n.data('status'), n.style('background-color')])"
    )
    return {node_id: (status, colour.replace(" ", "")) for node_id, status, colour in nodes}


def test_graph_shows_the_pipeline_coloured_by_status(site: Site, browser: Any):
    report = in_db(task_ids, "Report")[0]
    page = open_as(browser, site)
    page.goto(f"{site.url}/task/graph/?id={quote(report)}")
    page.wait_for_selector("#graph[data-state='ready']")
    page.wait_for_selector("#live[data-state='live']")
    nodes = graph_nodes(page)
    truth = in_db(statuses)
    assert set(nodes) == set(truth)  # every task is upstream of Report
    for task_id, (status, colour) in nodes.items():
        assert status == truth[task_id]
        assert colour == COLOURS[status], (task_id, status, colour)
    assert page.is_visible(".legend li.FAILED")
    page.screenshot(path=site.screenshots / "graph.png")

    failed = next(t for t, s in truth.items() if s == "FAILED")
    box = page.locator("#graph").bounding_box()
    # Zoom in on the failed task (return nothing: a cytoscape object is huge to serialize).
    page.evaluate(
        "id => { const cy = window.dashboardGraph; cy.zoom(1); cy.center(cy.getElementById(id)); }",
        failed,
    )
    point = page.evaluate(
        "id => window.dashboardGraph.getElementById(id).renderedPosition()", failed
    )
    page.mouse.click(box["x"] + point["x"], box["y"] + point["y"])
    page.wait_for_url(re.compile(r"/task/\?id="))
    assert unquote(page.url.split("id=", 1)[1]) == failed


def test_operator_retries_a_failed_task_and_a_reader_has_no_buttons(site: Site, browser: Any):
    failed = next(t for t, s in in_db(statuses).items() if s == "FAILED")
    url = f"{site.url}/task/?id={quote(failed)}"

    reader = open_as(browser, site, "rita")
    reader.goto(url)
    wait_loaded(reader)
    assert "source orders has no data for day 2" in reader.inner_text("pre.error")
    assert "Traceback (most recent call last):\n" in reader.inner_text("pre.error")
    assert "Transform" in reader.inner_text("ul.dependents")
    assert reader.inner_text("[data-field=status]") == "failed"
    assert reader.locator("#actions button").count() == 0
    assert "rita" in reader.inner_text("header .user")
    reader.screenshot(path=site.screenshots / "task-read-only.png", full_page=True)
    # Nor can the reader act through the API the buttons use.
    assert (
        reader.evaluate(
            "async url => (await fetch(url, {method: 'POST', headers: {'X-CSRFToken':"
            " document.cookie.match(/csrftoken=([^;]+)/)[1]}})).status",
            f"/api/v1/tasks/{quote(failed, safe='')}/retry/",
        )
        == 403
    )

    operator = open_as(browser, site, "olga")
    operator.goto(url)
    wait_loaded(operator)
    operator.wait_for_selector("#actions button[data-action=retry]")
    operator.screenshot(path=site.screenshots / "task-operator.png", full_page=True)
    operator.click("#actions button[data-action=retry]")
    operator.wait_for_selector("[data-field=status][data-status=PENDING]")
    assert in_db(statuses)[failed] == "PENDING"
    # The reader's page follows the change live.
    reader.wait_for_selector("[data-field=status][data-status=PENDING]")


def test_a_runworker_status_change_appears_without_reload(site: Site, browser: Any):
    overview = open_as(browser, site)
    overview.goto(site.url + "/")
    wait_loaded(overview)
    overview.evaluate("() => { window.notReloaded = true; }")
    done_before = int(overview.inner_text("#counts [data-status=DONE] .n"))
    gate_root = site.root / "gate"
    worker = runworker("Gate", "--root", str(gate_root), db_url=site.db_url, log=site.log)
    try:
        deadline = time.monotonic() + 60
        while not in_db(task_ids, "Gate"):
            assert worker.poll() is None and time.monotonic() < deadline, site.log.read_text()
            time.sleep(0.1)
        gate = in_db(task_ids, "Gate")[0]
        row = f"#tasks tr[data-task-id='{gate}']"
        overview.wait_for_selector(f"{row}[data-status=RUNNING]", timeout=30000)
        overview.wait_for_selector(f"{row} .progress:not([hidden]) >> text=50%")

        graph = open_as(browser, site)
        graph.goto(f"{site.url}/task/graph/?id={quote(gate)}")
        graph.wait_for_selector("#graph[data-state='ready']")
        graph.wait_for_selector("#live[data-state='live']")
        graph.evaluate("() => { window.notReloaded = true; }")
        assert graph_nodes(graph)[gate] == ("RUNNING", COLOURS["RUNNING"])

        workers = open_as(browser, site)
        workers.goto(site.url + "/workers/")
        workers.wait_for_selector(f"#workers td >> text={gate}")
        assert str(worker.pid) in workers.inner_text("#workers tbody")
        workers.screenshot(path=site.screenshots / "workers.png", full_page=True)
        resources = open_as(browser, site)
        resources.goto(site.url + "/resources/")
        resources.wait_for_selector("#resources tr[data-resource=db]")
        assert resources.inner_text("#resources tr[data-resource=db] td.limit") == "2"
        resources.screenshot(path=site.screenshots / "resources.png", full_page=True)

        gate_root.mkdir(parents=True, exist_ok=True)
        (gate_root / "open").touch()
        overview.wait_for_selector(f"{row}[data-status=DONE]", timeout=30000)
        overview.wait_for_function(
            f"() => document.querySelector('#counts [data-status=DONE] .n').textContent"
            f" === '{done_before + 1}'"
        )
        graph.wait_for_function(
            "id => window.dashboardGraph.getElementById(id).data('status') === 'DONE'", arg=gate
        )
        assert graph_nodes(graph)[gate] == ("DONE", COLOURS["DONE"])
        assert overview.evaluate("() => window.notReloaded") is True
        assert graph.evaluate("() => window.notReloaded") is True
        assert worker.wait(30) == 0, site.log.read_text()
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
