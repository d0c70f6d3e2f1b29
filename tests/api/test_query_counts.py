"""No N+1: every list (and the detail) costs the same number of queries for 2 rows
as for 40."""

from __future__ import annotations

from django.db import connection
from django.test.utils import CaptureQueriesContext

from scheduler.models import Resource
from tests.api.conftest import failed
from tests.urls import at


def queries(client, url: str, params: dict | None = None) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, params or {})
    assert response.status_code == 200, response.content
    return len(captured)


def populate(sched, n: int) -> None:
    failed(sched, f"Root_{n}", worker=f"w{n}")
    for i in range(n):
        worker = f"w{i % 7}"
        sched.add(f"T_{n}_{i}", worker=worker, deps=[f"Root_{n}"], resources={"r": 1})
        if i % 3 == 0:
            sched.add(f"T_{n}_{i}", worker="extra")
        Resource.objects.update_or_create(name=f"res{n}_{i}", defaults={"amount": i})
    for i in range(min(n, 5)):
        sched.next_id(f"w{i % 7}")


def test_lists_and_detail_cost_a_fixed_number_of_queries(sched, api):
    urls = [
        (at("/api/v1/tasks/"), {"page_size": 100}),
        (at("/api/v1/tasks/"), {"status": "UPSTREAM_FAILED,PENDING,RUNNING", "search": "T"}),
        (at("/api/v1/tasks/counts/"), {}),
        (at("/api/v1/tasks/counts/"), {"family": "T"}),
        (at("/api/v1/workers/"), {"page_size": 100}),
        (at("/api/v1/resources/"), {"page_size": 100}),
        (at("/api/v1/tasks/Root_2/"), {}),
        (at("/api/v1/tasks/Root_2/graph/"), {"direction": "both"}),
    ]
    populate(sched, 2)
    small = [queries(api, url, params) for url, params in urls]
    populate(sched, 40)
    big = [queries(api, url.replace("Root_2", "Root_40"), params) for url, params in urls]
    assert small == big
    # list: count, page, workers, blocked tasks (the upstream labels); counts: grouped,
    # blocked (+ how many of them match the filters);
    # workers: count, page, running; resources: limits, running tasks;
    # detail: task, deps, dependents, workers (+ labels if PENDING);
    # graph: exists, 2 x edges, rows, labels.
    assert big == [4, 4, 2, 3, 3, 2, 4, 5]
