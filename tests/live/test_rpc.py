"""Luigi's own RPC client (luigi.rpc.RemoteScheduler) against a live scheduler."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest
import requests
from luigi.rpc import RemoteScheduler, RPCError

from tests.live.harness import LiveServer, remote_scheduler

# Keys of the serialized task object (spec §2.2) every task_list entry carries.
TASK_KEYS = {
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


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def server(live_scheduler) -> LiveServer:
    return live_scheduler()


@pytest.fixture
def remote(server: LiveServer) -> Iterator[RemoteScheduler]:
    scheduler = remote_scheduler(server.url)
    try:
        yield scheduler
    finally:
        scheduler.close()


def test_add_task_get_work_ping_round_trip(remote: RemoteScheduler, server: LiveServer):
    worker = unique("worker")
    task_id = unique("Fam")
    remote.add_worker(worker, [["host", "livehost"], ["workers", 1], ["salt", "123"]])
    remote.add_task(
        worker=worker,
        task_id=task_id,
        family="Fam",
        module="live.module",
        params={"x": "1"},
        param_visibilities={"x": 0},
        priority=3,
        resources={},
        runnable=True,
    )

    reply = remote.get_work(worker=worker, host="livehost", current_tasks=[])
    assert reply["task_id"] == task_id
    assert reply["task_family"] == "Fam"
    assert reply["task_module"] == "live.module"
    assert reply["task_params"] == {"x": "1"}
    # The counters are taken before the chosen task turns RUNNING (spec §3.7 step 8).
    assert reply["n_pending_tasks"] == 1
    assert reply["n_unique_pending"] == 1
    assert reply["running_tasks"] == []

    running = remote.task_list("RUNNING", "")
    assert task_id in running
    entry = running[task_id]
    assert set(entry) >= TASK_KEYS
    assert "deps" not in entry
    assert entry["status"] == "RUNNING"
    assert entry["worker_running"] == worker
    assert entry["workers"] == [worker]
    assert entry["display_name"] == "Fam(x=1)"
    assert entry["name"] == "Fam"
    assert entry["priority"] == 3
    assert entry["params"] == {"x": "1"}
    assert isinstance(entry["time_running"], float)

    assert remote.ping(worker=worker) == {"rpc_messages": []}

    remote.add_task(worker=worker, task_id=task_id, status="DONE", expl=json.dumps(None))
    assert remote.task_list("DONE", "")[task_id]["status"] == "DONE"
    assert task_id not in remote.task_list("RUNNING", "")

    idle = remote.get_work(worker=worker, host="livehost", current_tasks=[])
    assert idle["task_id"] is None
    assert idle["n_pending_tasks"] == 0

    workers = {item["name"]: item for item in server.call("worker_list")}
    assert workers[worker]["host"] == "livehost"
    assert workers[worker]["workers"] == 1
    assert workers[worker]["state"] == "active"


def test_get_work_resends_a_task_the_worker_did_not_acknowledge(remote: RemoteScheduler):
    worker = unique("worker")
    task_id = unique("Resent")
    remote.add_task(worker=worker, task_id=task_id, family="Resent", runnable=True)
    assert remote.get_work(worker=worker, current_tasks=[])["task_id"] == task_id
    # The worker missed that reply: it is not running the task, so it gets it again.
    assert remote.get_work(worker=worker, current_tasks=[])["task_id"] == task_id
    # Once the worker reports it as running, nothing more is handed out.
    assert remote.get_work(worker=worker, current_tasks=[task_id])["task_id"] is None


def test_task_list_upstream_and_dep_graph_shapes(remote: RemoteScheduler):
    worker = unique("worker")
    top, middle, placeholder = unique("Top"), unique("Middle"), unique("Ghost")
    remote.add_task(worker=worker, task_id=top, family="Top", deps=[middle], runnable=True)
    remote.add_task(
        worker=worker,
        task_id=middle,
        family="Middle",
        params={"day": "2024-01-01"},
        param_visibilities={"day": 0},
        deps=[placeholder],
        runnable=True,
    )

    graph = remote.dep_graph(top)
    assert set(graph) == {top, middle, placeholder}
    assert graph[top]["deps"] == [middle]
    assert graph[top]["display_name"] == "Top()"
    # Only the root keeps display_name (spec §2.7).
    assert "display_name" not in graph[middle]
    assert graph[middle]["deps"] == [placeholder]
    assert graph[middle]["params"] == {"day": "2024-01-01"}
    assert graph[placeholder] == {
        "deps": [],
        "status": "UNKNOWN",
        "workers": [],
        "start_time": "UNKNOWN",
        "params": {"task_id": placeholder},
        "name": "Ghost",
        "priority": 0,
    }
    assert remote.dep_graph(unique("Nobody")) == {}

    pending = remote.task_list("PENDING", "")
    assert {top, middle} <= set(pending)
    assert placeholder not in pending

    # Fail the dependency: both dependants are now blocked by a failure upstream.
    remote.add_task(worker=worker, task_id=middle, status="FAILED", expl=json.dumps("bad"))
    blocked = remote.task_list("PENDING", "UPSTREAM_FAILED")
    assert top in blocked
    assert middle not in blocked
    assert remote.task_list("FAILED", "")[middle]["status"] == "FAILED"

    inverse = remote.inverse_dep_graph(middle)
    assert inverse[middle]["deps"] == [top]


def test_fetch_error_shape(remote: RemoteScheduler):
    worker = unique("worker")
    task_id = unique("Broken")
    expl = json.dumps("Runtime error:\nTraceback (most recent call last):\nRuntimeError: boom")
    remote.add_task(
        worker=worker,
        task_id=task_id,
        family="Broken",
        module="live.module",
        params={"p": "1", "h": "secretish"},
        param_visibilities={"p": 0, "h": 1},
        runnable=True,
    )
    remote.add_task(worker=worker, task_id=task_id, status="FAILED", expl=expl)

    error = remote.fetch_error(task_id)
    assert error == {
        "taskId": task_id,
        "error": expl,
        "displayName": "Broken(p=1)",
        "taskParams": {"p": "1", "h": "secretish"},
        "taskModule": "live.module",
        "taskFamily": "Broken",
    }
    assert remote.task_list("FAILED", "")[task_id]["params"] == {"p": "1"}

    unknown = unique("Unknown")
    assert remote.fetch_error(unknown) == {"taskId": unknown, "error": ""}


def test_unknown_method_is_a_404_and_an_rpc_error(server: LiveServer):
    for verb in ("get", "post"):
        reply = requests.request(verb, server.api_url("no_such_method"), timeout=10)
        assert reply.status_code == 404, (verb, reply.status_code)

    remote = remote_scheduler(server.url, rpc_retry_attempts="1")
    try:
        with pytest.raises(RPCError) as raised:
            remote._request("/api/no_such_method", {"worker": "w"})
        assert isinstance(raised.value.sub_exception, requests.HTTPError)
        assert raised.value.sub_exception.response.status_code == 404
    finally:
        remote.close()
    assert server.call("ping", worker=unique("after")) == {"rpc_messages": []}


def test_work_goes_only_to_workers_that_can_run_it(remote: RemoteScheduler):
    owner, other = unique("owner"), unique("other")
    task_id = unique("Private")
    remote.add_task(worker=owner, task_id=task_id, family="Private", runnable=True)
    remote.add_task(worker=other, task_id=task_id, family="Private", runnable=False)

    assert remote.get_work(worker=other, current_tasks=[])["task_id"] is None
    assert remote.get_work(worker=owner, current_tasks=[])["task_id"] == task_id
    assert remote.task_list("RUNNING", "")[task_id]["workers"] == [owner]


def test_only_the_running_worker_can_finish_a_task(remote: RemoteScheduler):
    runner, bystander = unique("runner"), unique("bystander")
    task_id = unique("Guarded")
    for worker in (runner, bystander):
        remote.add_task(worker=worker, task_id=task_id, family="Guarded", runnable=True)
    assert remote.get_work(worker=runner, current_tasks=[])["task_id"] == task_id

    # Another worker's reports do not touch a task someone else is running.
    for status in ("DONE", "FAILED", "PENDING"):
        remote.add_task(worker=bystander, task_id=task_id, status=status, expl=json.dumps("x"))
        entry = remote.task_list("RUNNING", "")[task_id]
        assert entry["worker_running"] == runner, status
    assert remote.get_work(worker=bystander, current_tasks=[])["task_id"] is None

    remote.add_task(worker=runner, task_id=task_id, status="DONE", expl=json.dumps(None))
    assert task_id in remote.task_list("DONE", "")
