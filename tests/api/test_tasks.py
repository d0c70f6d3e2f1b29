"""GET /api/v1/tasks/: items, filters, ordering, pagination, counts, bad input."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.api.conftest import failed
from tests.scheduler.conftest import T0
from tests.urls import at

URL = at("/api/v1/tasks/")


def ids(payload: dict) -> list[str]:
    return [item["task_id"] for item in payload["results"]]


@pytest.fixture
def tasks(sched):
    """Load_a (DONE), Load_b (FAILED), Report_c (PENDING, upstream failed: waits on
    Load_b), Report_d (PENDING, upstream disabled: waits on Old_e), Old_e (DISABLED),
    Fresh_f (PENDING, nothing blocks it); each a second apart."""
    sched.add("Load_a", family="Load", params={"day": "2024-01-01", "table": "Sales"})
    assert sched.next_id() == "Load_a"
    sched.advance(1)
    sched.finish("Load_a")
    sched.advance(1)
    failed(sched, "Load_b", family="Load", params={"day": "2024-01-02", "table": "stock"})
    sched.advance(1)
    sched.add("Report_c", family="Report", deps=["Load_b"], priority=5)
    sched.advance(1)
    sched.add("Old_e", family="Old", status="DISABLED")
    sched.advance(1)
    sched.add("Report_d", family="Report", deps=["Old_e"], priority=1)
    sched.advance(1)
    sched.add("Fresh_f", family="Fresh", params={"secret": "x"}, param_visibilities={"secret": 1})
    return sched


def test_item_fields(tasks, api):
    body = api.get(URL, {"search": "Load_b"}).json()
    assert body["count"] == 1 and body["next"] is None and body["previous"] is None
    item = body["results"][0]
    assert item == {
        "task_id": "Load_b",
        "family": "Load",
        "display_name": "Load(day=2024-01-02, table=stock)",
        "status": "FAILED",
        "display_status": "FAILED",
        "priority": 5.0,  # raised by its dependent Report_c, as in Luigi
        "params": {"day": "2024-01-02", "table": "stock"},
        "worker_running": "W",
        "workers": ["W"],
        "status_message": None,
        "progress_percentage": None,
        "tracking_url": None,
        "time_running": item["time_running"],
        "last_updated": T0 + 2,
        "start_time": T0 + 2,
        "failures": 1,
        "retry_at": T0 + 2 + tasks.config.retry_delay,
    }
    hidden = api.get(URL, {"search": "Fresh"}).json()["results"][0]
    assert hidden["params"] == {}


def test_default_order_is_newest_change_first(tasks, api):
    assert ids(api.get(URL).json()) == [
        "Fresh_f",
        "Report_d",
        "Old_e",
        "Report_c",
        "Load_b",
        "Load_a",
    ]


@pytest.mark.parametrize(
    ("ordering", "first", "last"),
    [
        ("updated", "Load_a", "Fresh_f"),
        ("name", "Fresh_f", "Report_d"),
        ("-name", "Report_d", "Fresh_f"),
        # Load_b has its dependent's priority 5; ties go by id.
        ("-priority", "Report_c", "Fresh_f"),
        ("priority", "Fresh_f", "Report_c"),
        # DISABLED, DONE, FAILED, PENDING; newest change first inside a status.
        ("status", "Old_e", "Report_c"),
    ],
)
def test_ordering(tasks, api, ordering, first, last):
    found = ids(api.get(URL, {"ordering": ordering}).json())
    assert (found[0], found[-1]) == (first, last)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("FAILED", {"Load_b"}),
        ("PENDING", {"Fresh_f"}),
        ("UPSTREAM_FAILED", {"Report_c"}),
        ("UPSTREAM_DISABLED", {"Report_d"}),
        ("DONE,DISABLED", {"Load_a", "Old_e"}),
        ("pending, upstream_failed", {"Fresh_f", "Report_c"}),
    ],
)
def test_status_filter_with_derived_statuses(tasks, api, status, expected):
    assert set(ids(api.get(URL, {"status": status}).json())) == expected


def test_display_status_shows_the_upstream_label(tasks, api):
    by_id = {i["task_id"]: i for i in api.get(URL).json()["results"]}
    assert by_id["Report_c"]["status"] == "PENDING"
    assert by_id["Report_c"]["display_status"] == "UPSTREAM_FAILED"
    assert by_id["Report_d"]["display_status"] == "UPSTREAM_DISABLED"
    assert by_id["Fresh_f"]["display_status"] == "PENDING"


def test_family_search_and_time_filters(tasks, api):
    assert set(ids(api.get(URL, {"family": "Load"}).json())) == {"Load_a", "Load_b"}
    assert set(ids(api.get(URL, {"family": "Load,Old"}).json())) == {"Load_a", "Load_b", "Old_e"}
    # Every word must match the display name (params; ignoring case) or the id.
    assert ids(api.get(URL, {"search": "sales 2024-01-01"}).json()) == ["Load_a"]
    assert ids(api.get(URL, {"search": "LOAD(DAY=2024-01-02"}).json()) == ["Load_b"]
    assert ids(api.get(URL, {"search": "Report_d"}).json()) == ["Report_d"]
    assert ids(api.get(URL, {"search": "100%"}).json()) == []
    after = api.get(URL, {"updated_after": T0 + 4}).json()
    assert set(ids(after)) == {"Old_e", "Report_d", "Fresh_f"}
    iso = dt.datetime.fromtimestamp(T0 + 2, tz=dt.UTC).isoformat()
    before = api.get(URL, {"updated_before": iso}).json()
    assert ids(before) == ["Load_a"]
    both = api.get(URL, {"updated_after": T0 + 2, "updated_before": T0 + 4, "family": "Load"})
    assert ids(both.json()) == ["Load_b"]


def test_pagination(tasks, api):
    first = api.get(URL, {"page_size": 4}).json()
    assert first["count"] == 6 and len(first["results"]) == 4
    assert first["previous"] is None and "page=2" in first["next"]
    second = api.get(first["next"]).json()
    assert len(second["results"]) == 2 and second["next"] is None
    assert set(ids(first)) | set(ids(second)) == {
        "Load_a",
        "Load_b",
        "Report_c",
        "Report_d",
        "Old_e",
        "Fresh_f",
    }
    # Past the last page: 404 in the error shape.
    past = api.get(URL, {"page": 9})
    assert past.status_code == 404 and past.json()["error"] == "not_found"
    assert "page 9" in past.json()["detail"]


def test_counts_follow_the_filters_except_status(tasks, api):
    counts = api.get(URL + "counts/", {"status": "DONE"}).json()
    assert counts == {
        "PENDING": 1,
        "RUNNING": 0,
        "BATCH_RUNNING": 0,
        "DONE": 1,
        "FAILED": 1,
        "DISABLED": 1,
        "UNKNOWN": 0,
        "UPSTREAM_FAILED": 1,
        "UPSTREAM_DISABLED": 1,
        "total": 6,
    }
    report = api.get(URL + "counts/", {"family": "Report"}).json()
    assert (report["PENDING"], report["UPSTREAM_FAILED"], report["total"]) == (0, 1, 2)
    assert api.get(URL + "counts/", {"updated_after": T0 + 100}).json()["total"] == 0


@pytest.mark.parametrize(
    ("params", "field", "words"),
    [
        ({"status": "WAITING"}, "status", "unknown status 'WAITING'"),
        ({"ordering": "age"}, "ordering", "unknown ordering 'age'"),
        ({"updated_after": "yesterday"}, "updated_after", "neither an ISO 8601 time"),
        ({"updated_before": "nan"}, "updated_before", "not a finite number"),
        ({"page_size": "lots"}, "page_size", "is not an integer"),
        ({"page_size": "0"}, "page_size", "at least 1"),
        ({"page": "two"}, "page", "is not a page number"),
        ({"search": "a\x00b"}, "search", "NUL"),
    ],
)
def test_bad_filters_are_400s_naming_the_parameter(tasks, api, params, field, words):
    response = api.get(URL, params)
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["error"] == "invalid"
    assert words in body["detail"] and field in body["detail"]
    assert field in body["fields"]


def test_page_size_is_capped_at_500(sched, api):
    for i in range(3):
        sched.add(f"T_{i}")
    assert len(api.get(URL, {"page_size": 100000}).json()["results"]) == 3


def test_search_with_a_non_ascii_word(sched, api):
    sched.add("Weather_z", family="Weather", params={"city": "Zürich"})
    sched.add("Weather_b", family="Weather", params={"city": "Bern"})
    assert ids(api.get(URL, {"search": "zürich"}).json()) == ["Weather_z"]
    assert ids(api.get(URL, {"search": "city=Zü"}).json()) == ["Weather_z"]


def test_lists_answer_304_to_a_matching_etag(tasks, api):
    first = api.get(URL, {"status": "FAILED"})
    etag = first["ETag"]
    assert etag
    again = api.get(URL, {"status": "FAILED"}, HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304 and again.content == b""
    tasks.advance(1)
    tasks.add("Load_b", family="Load", status="DONE")
    changed = api.get(URL, {"status": "FAILED"}, HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200 and changed.json()["count"] == 0
    assert changed["ETag"] != etag
