"""Bad input over raw HTTP: a clear 4xx naming the problem, no state change, still serving.

luigid answers 500 (or silently accepts and corrupts its state) for most of
these, so the status and state assertions apply to our backend only; the
"still serving" check applies to both.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
import requests

from tests.live.harness import BACKEND, LiveServer, skip_on_luigid

WORKER = "bad-input-worker"


def send(server: LiveServer, verb: str, method: str, data: str | None) -> requests.Response:
    fields = {} if data is None else {"data": data}
    if verb == "GET":
        return requests.get(server.api_url(method), params=fields, timeout=10)
    return requests.post(server.api_url(method), data=fields, timeout=10)


def assert_still_serving(server: LiveServer) -> None:
    assert server.call("ping", worker=f"{WORKER}-after") == {"rpc_messages": []}


def task(**fields: Any) -> dict:
    return {"worker": WORKER, "task_id": f"Bad_{uuid.uuid4().hex[:10]}", **fields}


# (id, verb, method, data: raw text or an object to JSON-encode, what the error must name)
BAD_INPUT = [
    ("malformed-json", "POST", "ping", '{"worker": ', "json"),
    ("malformed-json-get", "GET", "task_list", "{status: PENDING}", "json"),
    ("data-not-an-object", "POST", "ping", "[1, 2]", "data"),
    ("add_task-without-worker", "POST", "add_task", {"task_id": "NoWorker_1"}, "worker"),
    ("get_work-without-worker", "POST", "get_work", {"host": "h"}, "worker"),
    ("worker-not-a-string", "POST", "ping", {"worker": ["a", "b"]}, "worker"),
    ("priority-not-a-number", "POST", "add_task", task(priority="high"), "priority"),
    ("deps-not-a-list", "GET", "add_task", task(deps="Other_1"), "deps"),
    ("resources-not-integers", "POST", "add_task", task(resources={"gpu": "lots"}), "resources"),
    ("unknown-status", "POST", "add_task", task(status="BOGUS"), "status"),
    ("params-not-an-object", "POST", "add_task", task(params=["a"]), "params"),
    ("fetch_error-without-task_id", "GET", "fetch_error", {}, "task_id"),
]


@pytest.mark.parametrize(
    ("verb", "method", "data", "names"),
    [pytest.param(*row[1:], id=row[0]) for row in BAD_INPUT],
)
def test_bad_input_is_rejected_and_the_server_keeps_serving(
    live_scheduler, verb: str, method: str, data: str | dict, names: str
):
    server = live_scheduler(isolate="bad-input")  # some of these corrupt luigid's state
    raw = data if isinstance(data, str) else json.dumps(data)

    reply = send(server, verb, method, raw)

    if BACKEND != "luigid":  # luigid: 500 with an HTML page, or a silent 200
        assert reply.status_code == 400, (reply.status_code, reply.text[:500])
        assert reply.headers["Content-Type"].startswith("application/json")
        assert names.lower() in json.dumps(reply.json()).lower(), reply.text[:500]
        if isinstance(data, dict) and method == "add_task" and "task_id" in data:
            # Rejected before any change: the task was not created.
            unknown = server.call("fetch_error", task_id=data["task_id"])
            assert unknown == {"taskId": data["task_id"], "error": ""}
    assert_still_serving(server)


@pytest.mark.parametrize("verb", ["GET", "POST"])
def test_unknown_method_is_404(live_scheduler, verb: str):
    server = live_scheduler()
    reply = send(server, verb, "no_such_method", json.dumps({"worker": WORKER}))
    assert reply.status_code == 404
    assert_still_serving(server)


@skip_on_luigid("exposes its internal update_metrics_task_started hook (spec §2.8)")
def test_internal_hook_is_not_exposed(live_scheduler):
    server = live_scheduler()
    reply = send(server, "POST", "update_metrics_task_started", json.dumps({"task": {}}))
    assert reply.status_code == 404


@skip_on_luigid("answers 500 for an empty data field (spec §1.4)")
@pytest.mark.parametrize("verb", ["GET", "POST"])
def test_empty_data_means_no_arguments(live_scheduler, verb: str):
    server = live_scheduler()
    reply = send(server, verb, "is_paused", "")
    assert reply.status_code == 200, reply.text[:500]
    assert reply.json() == {"response": {"paused": False}}
    reply = send(server, verb, "worker_list", "")
    assert reply.status_code == 200, reply.text[:500]
    assert isinstance(reply.json()["response"], list)


@pytest.mark.parametrize("verb", ["GET", "POST"])
def test_missing_data_means_no_arguments(live_scheduler, verb: str):
    server = live_scheduler()
    reply = send(server, verb, "is_paused", None)
    assert reply.status_code == 200, reply.text[:500]
    assert reply.json() == {"response": {"paused": False}}


def test_infinity_in_json_is_accepted(live_scheduler):
    """Luigi workers send ``"max_batch_size": Infinity`` for batchable task classes."""
    server = live_scheduler()
    worker = f"{WORKER}-{uuid.uuid4().hex[:8]}"
    family = f"Batchy{uuid.uuid4().hex[:8]}"
    arguments = {"worker": worker, "task_family": family, "batched_args": ["d"]}
    payload = json.dumps({**arguments, "max_batch_size": float("inf")})
    assert "Infinity" in payload  # what Python's json (and so every Luigi worker) writes
    reply = send(server, "POST", "add_task_batcher", payload)
    assert reply.status_code == 200, reply.text[:500]
    assert reply.json() == {"response": None}

    # The batcher works: two batchable tasks go out together as one batch.
    for value in ("a", "b"):
        server.call(
            "add_task",
            worker=worker,
            task_id=f"{family}_{value}",
            family=family,
            params={"d": value},
            param_visibilities={"d": 0},
            batchable=True,
            runnable=True,
        )
    work = server.call("get_work", worker=worker, current_tasks=[])
    assert work["task_id"] is None
    assert sorted(work["batch_task_ids"]) == [f"{family}_a", f"{family}_b"]
    assert sorted(work["task_params"]["d"]) == ["a", "b"]
    assert_still_serving(server)
