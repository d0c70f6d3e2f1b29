"""History of runs made by real Luigi workers through /api/, read back over HTTP."""

from __future__ import annotations

import json
import socket

import pytest
import requests
from luigi.execution_summary import LuigiStatusCode

from tests.live import pipelines
from tests.live.harness import BACKEND, LiveServer

pytestmark = [
    pytest.mark.live,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(BACKEND != "django", reason="our history API; luigid has none"),
]


def get(server: LiveServer, path: str, **params) -> requests.Response:
    return requests.get(server.url + path.lstrip("/"), params=params, timeout=30)


def runs_of(server: LiveServer, root: str, **filters) -> list[dict]:
    data = json.dumps({"root": root})
    reply = get(server, "api/v1/history/runs/", data=data, page_size=1000, **filters)
    assert reply.status_code == 200, reply.text
    return reply.json()["results"]


def detail(server: LiveServer, run: dict) -> dict:
    return get(server, f"api/v1/history/runs/{run['id']}/").json()


def test_a_luigi_build_is_recorded_run_by_run(live_scheduler, run_build, tmp_path):
    server = live_scheduler()
    root = str(tmp_path)
    assert server.call("has_task_history") is True

    result = run_build(server, [pipelines.Load(root=root)])

    assert result.status == LuigiStatusCode.SUCCESS, result.summary_text
    runs = runs_of(server, root)
    assert sorted(run["family"] for run in runs) == ["Extract", "Load", "Transform"]
    for run in runs:
        assert (run["status"], run["outcome"]) == ("DONE", "DONE"), run
        assert run["host"] == socket.gethostname()
        assert run["worker"].startswith("Worker(")
        assert run["duration"] >= 0
        events = [(e["old_status"], e["status"], e["cause"]) for e in detail(server, run)["events"]]
        # The root is new when registered ("" -> PENDING); its dependencies are
        # UNKNOWN placeholders until their own registration.
        first = "" if run["family"] == "Load" else "UNKNOWN"
        registered = [(first, "PENDING", "add_task")]
        assert events == [
            *registered,
            ("PENDING", "RUNNING", "get_work"),
            ("RUNNING", "DONE", "add_task"),
        ]
    # The newest activity first: Load finished last.
    assert runs[0]["family"] == "Load"

    page = get(server, "/history/by_params/Extract", data=json.dumps({"root": root}))
    assert page.status_code == 200
    assert "Extract" in page.text
    stats = get(server, "api/v1/history/families/Load/").json()
    assert stats["succeeded"] >= 1


def test_a_failure_and_its_retry_are_two_runs(live_scheduler, run_build, tmp_path):
    server = live_scheduler(retry_delay=1)
    task = pipelines.FlakyOnce(root=str(tmp_path))

    result = run_build(server, [task], keep_alive=True)

    assert result.status == LuigiStatusCode.SUCCESS_WITH_RETRY, result.summary_text
    second, first = runs_of(server, str(tmp_path), task_id=task.task_id)
    failed = detail(server, first)
    assert failed["outcome"] == "FAILED"
    assert "RuntimeError: first attempt fails on purpose" in failed["error"]
    assert "Traceback (most recent call last):\n" in failed["error"]  # decoded, not JSON
    events = detail(server, second)["events"]
    assert [(e["old_status"], e["status"]) for e in events] == [
        ("FAILED", "PENDING"),
        ("PENDING", "RUNNING"),
        ("RUNNING", "DONE"),
    ]
    assert second["outcome"] == "DONE"
    page = get(server, f"/history/by_id/{first['id']}")
    assert "first attempt fails on purpose" in page.text


def test_operator_rpc_through_api_is_recorded(live_scheduler, run_build, tmp_path):
    server = live_scheduler()
    failing = pipelines.Fails(root=str(tmp_path))
    result = run_build(server, [failing])
    assert result.status == LuigiStatusCode.FAILED, result.summary_text

    server.call("forgive_failures", task_id=failing.task_id, user="mallory")

    latest = runs_of(server, str(tmp_path), task_id=failing.task_id)[0]
    (event,) = detail(server, latest)["events"]
    # A remote caller cannot claim to be an operator: "user" is reserved.
    assert (event["status"], event["cause"], event["user"]) == (
        "PENDING",
        "forgive_failures",
        None,
    )
