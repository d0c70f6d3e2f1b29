"""The four history pages (and Luigi's by_task_id) and their JSON twins."""

from __future__ import annotations

import json

import pytest

from history.models import Run
from history.queries import BadQuery, nearest_rank, parse_params
from tests.scheduler.conftest import T0
from tests.urls import at


def run_once(sched, task_id: str, seconds: float, status: str = "DONE", **add) -> None:
    sched.add(task_id, **add)
    assert sched.next_id(host="box") == task_id
    sched.advance(seconds)
    sched.finish(task_id, status=status, expl="Traceback: it broke" if status == "FAILED" else None)
    sched.advance(1)


@pytest.fixture
def history(sched):
    run_once(sched, "A_1", 10, params={"date": "2024-01-01", "n": "1"})
    run_once(sched, "A_2", 30, params={"date": "2024-01-02", "n": "1"})
    run_once(sched, "A_3", 5, status="FAILED", params={"date": "2024-01-01", "n": "2"})
    run_once(sched, "B_1", 2, family="B", params={"date": "2024-01-01"})
    return sched


def ids(payload: dict) -> list[str]:
    return [run["task_id"] for run in payload["results"]]


def test_recent_runs_newest_first_and_filterable(history, client):
    page = client.get(at("/history"))
    assert page.status_code == 200
    body = page.content.decode()
    assert body.index("B_1") < body.index("A_3") < body.index("A_1")
    assert "<script" not in body and "http" not in body.split("<body>")[1][:200]

    failed = client.get(at("/history"), {"status": "FAILED"}).content.decode()
    assert "A_3" in failed and "A_1" not in failed

    api = client.get(at("/api/v1/history/runs/")).json()
    assert api["count"] == 4
    assert ids(api) == ["B_1", "A_3", "A_2", "A_1"]
    assert client.get(at("/api/v1/history/runs/"), {"outcome": "FAILED"}).json()["count"] == 1
    assert ids(client.get(at("/api/v1/history/runs/"), {"family": "B"}).json()) == ["B_1"]
    paged = client.get(at("/api/v1/history/runs/"), {"page_size": 3}).json()
    assert len(paged["results"]) == 3 and paged["next"]


def test_time_filters(history, client):
    since = client.get(at("/api/v1/history/runs/"), {"since": T0 + 45}).json()
    assert ids(since) == ["B_1", "A_3"]
    iso = client.get(at("/api/v1/history/runs/"), {"until": "2027-01-16"}).json()
    assert iso["count"] == 4
    bad = client.get(at("/api/v1/history/runs/"), {"since": "yesterday"})
    assert bad.status_code == 400
    assert bad.json()["error"] == "invalid"
    assert "neither an ISO 8601 time" in bad.json()["fields"]["since"][0]
    assert client.get(at("/history"), {"since": "yesterday"}).status_code == 400


def test_run_page_shows_params_host_timings_events_and_error(history, client):
    run = Run.objects.get(task_id="A_3")
    page = client.get(at(f"/history/by_id/{run.id}"))
    assert page.status_code == 200
    body = page.content.decode()
    for text in ("2024-01-01", "box", "Traceback: it broke", "5.0s", "get_work", "FAILED"):
        assert text in body, text

    api = client.get(at(f"/api/v1/history/runs/{run.id}/")).json()
    assert api["error"] == "Traceback: it broke"
    assert api["duration"] == 5
    assert api["params"] == {"date": "2024-01-01", "n": "2"}
    assert [e["status"] for e in api["events"]] == ["PENDING", "RUNNING", "FAILED"]
    assert api["started_at"].startswith("2027-01-15T")
    assert api["page"] == at(f"/history/by_id/{run.id}")


def test_unknown_run_is_a_404(db, client):
    assert client.get(at("/history/by_id/999")).status_code == 404
    assert client.get(at("/api/v1/history/runs/999/")).status_code == 404


def test_by_task_id_goes_to_the_latest_run(history, client):
    run = Run.objects.get(task_id="A_2")
    response = client.get(at("/history/by_task_id/A_2"))
    assert response.status_code == 302
    assert response["Location"] == at(f"/history/by_id/{run.id}")
    assert client.get(at("/history/by_task_id/nope")).status_code == 404


def test_by_name_has_success_rate_and_percentiles(history, client):
    page = client.get(at("/history/by_name/A"))
    assert page.status_code == 200
    body = page.content.decode()
    assert "66.7%" in body and "B_1" not in body
    assert "10s" in body and "30s" in body  # p50, p95 of the successful runs

    stats = client.get(at("/api/v1/history/families/A/")).json()
    assert stats == {
        "family": "A",
        "runs": 3,
        "finished": 3,
        "succeeded": 2,
        "success_rate": pytest.approx(2 / 3),
        "p50_duration": 10.0,
        "p95_duration": 30.0,
    }
    assert client.get(at("/api/v1/history/families/Nope/")).status_code == 404


def test_by_params_matches_every_given_parameter(history, client):
    data = json.dumps({"date": "2024-01-01"})
    body = client.get(at("/history/by_params/A"), {"data": data}).content.decode()
    assert "A_1" in body and "A_3" in body and "A_2" not in body and "B_1" not in body

    both = json.dumps({"date": "2024-01-01", "n": "2"})
    api = client.get(at("/api/v1/history/runs/"), {"family": "A", "data": both}).json()
    assert ids(api) == ["A_3"]
    everything = client.get(at("/api/v1/history/runs/"), {"family": "A", "data": "{}"}).json()
    assert everything["count"] == 3


@pytest.mark.parametrize(
    ("data", "why"),
    [
        ("{not json", "not valid JSON"),
        ('["date"]', "must be a JSON object of parameters, not an array"),
        ("null", "not null"),
        ('{"n": 1}', "the value of parameter 'n' must be a string"),
        ("", "required"),
    ],
)
def test_bad_data_on_by_params_is_a_400_that_says_why(history, client, data, why):
    page = client.get(at("/history/by_params/A"), {"data": data})
    assert page.status_code == 400
    assert why in page.content.decode().replace("&#x27;", "'")

    api = client.get(at("/api/v1/history/runs/"), {"family": "A", "data": data})
    assert api.status_code == 400
    assert why in api.json()["fields"]["data"][0] and why in api.json()["detail"]


def test_by_params_without_data_is_a_400(db, client):
    page = client.get(at("/history/by_params/A"))
    assert page.status_code == 400
    assert "required" in page.content.decode()


def test_parse_params_accepts_an_object_of_strings():
    assert parse_params('{"a": "1", "b": ""}') == {"a": "1", "b": ""}
    with pytest.raises(BadQuery) as error:
        parse_params('{"a": ["x"]}')
    assert error.value.parameter == "data"


@pytest.mark.parametrize(
    ("count", "fraction", "index"),
    [(1, 0.5, 0), (1, 0.95, 0), (2, 0.5, 0), (3, 0.5, 1), (20, 0.95, 18), (100, 0.95, 94)],
)
def test_nearest_rank(count, fraction, index):
    assert nearest_rank(count, fraction) == index


def test_by_params_with_awkward_parameter_names(sched, client):
    run_once(sched, "C_1", 1, family="C", params={"contains": "x", "a__b": "y", "k.v": "z"})
    run_once(sched, "C_2", 1, family="C", params={"contains": "no", "a__b": "y", "k.v": "z"})
    data = json.dumps({"contains": "x", "a__b": "y", "k.v": "z"})
    api = client.get(at("/api/v1/history/runs/"), {"family": "C", "data": data}).json()
    assert ids(api) == ["C_1"]
