"""GET /api/v1/history/events/: every recorded status change, filterable; and the
history API shares the REST API's errors, pagination and viewer role."""

from __future__ import annotations

import pytest

from tests.api.conftest import failed
from tests.scheduler.conftest import T0
from tests.urls import at

URL = at("/api/v1/history/events/")


@pytest.fixture
def events(sched, operator):
    failed(sched, "Load_a", family="Load")
    sched.advance(10)
    sched.add("Other_b", family="Other")
    operator.post(at("/api/v1/tasks/Load_a/retry/"))
    return sched


def test_events_newest_first_with_run_and_task(events, api):
    body = api.get(URL).json()
    rows = [(e["task_id"], e["old_status"], e["status"], e["cause"]) for e in body["results"]]
    assert rows == [
        ("Load_a", "FAILED", "PENDING", "forgive_failures"),
        ("Other_b", "", "PENDING", "add_task"),
        ("Load_a", "RUNNING", "FAILED", "add_task"),
        ("Load_a", "PENDING", "RUNNING", "get_work"),
        ("Load_a", "", "PENDING", "add_task"),
    ]
    first = body["results"][0]
    assert first["user"] == "op" and first["family"] == "Load" and isinstance(first["run"], int)
    one = api.get(f"{URL}{first['id']}/").json()
    assert one["id"] == first["id"] and one["cause"] == "forgive_failures"


@pytest.mark.parametrize(
    ("params", "count"),
    [
        ({"task_id": "Load_a"}, 4),
        ({"family": "Other"}, 1),
        ({"status": "PENDING"}, 3),
        ({"cause": "get_work"}, 1),
        ({"user": "op"}, 1),
        ({"since": T0 + 5}, 1),  # the retry's clock is the real one: before T0
        ({"until": T0 + 5}, 4),
        ({"page_size": 2}, 5),
    ],
)
def test_event_filters(events, api, params, count):
    body = api.get(URL, params).json()
    assert body["count"] == count
    if "page_size" in params:
        assert len(body["results"]) == 2 and body["next"]


def test_event_run_filter_and_bad_input(events, api):
    run = api.get(URL, {"task_id": "Other_b"}).json()["results"][0]["run"]
    assert api.get(URL, {"run": run}).json()["count"] == 1
    bad = api.get(URL, {"run": "latest"})
    assert bad.status_code == 400
    assert bad.json() == {
        "error": "invalid",
        "detail": "run: 'latest' is not a run id (an integer)",
        "fields": {"run": ["'latest' is not a run id (an integer)"]},
    }
    for huge in (str(2**63), str(-(2**63) - 1), str(-(2**127))):  # beyond the column
        out_of_range = api.get(URL, {"run": huge})
        assert out_of_range.status_code == 400
        assert out_of_range.json()["fields"] == {
            "run": [f"{huge!r} is not a run id (beyond 64 bits)"]
        }
    assert api.get(URL, {"run": str(2**63 - 1)}).json()["count"] == 0
    assert api.get(URL, {"since": "soon"}).json()["error"] == "invalid"
    missing = api.get(f"{URL}999999/")
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"


def test_history_needs_the_viewer_role_when_anonymous_reads_are_off(events, api, viewer, settings):
    settings.SCHEDULER_ANONYMOUS_READ = False
    for url in (URL, at("/api/v1/history/runs/"), at("/api/v1/tasks/"), at("/api/v1/workers/")):
        refused = api.get(url)
        assert refused.status_code == 401, url  # anonymous: a challenge, not a refusal
        assert refused.json()["error"] in ("not_authenticated", "permission_denied")
        assert viewer.get(url).status_code == 200


def test_nul_in_history_filters_is_a_400(db, api):
    # PostgreSQL text cannot hold NUL: a clear 400, not a database error.
    for params in (
        {"task_id": "a\x00"},
        {"data": '{"\\u0000": "x"}'},
        {"data": '{"a": "\\u0000"}'},
    ):
        response = api.get(at("/api/v1/history/runs/"), params)
        assert response.status_code == 400, params
        assert "NUL" in response.json()["detail"]
    assert api.get(URL, {"cause": "\x00"}).status_code == 400
    assert api.get(at("/api/v1/history/families/a%00b/")).status_code == 400
    lone = api.get(at("/api/v1/history/runs/"), {"data": '{"a": "\\ud800"}'})
    assert lone.status_code == 400 and "surrogate" in lone.json()["detail"]
