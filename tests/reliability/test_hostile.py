"""Hostile input against a live server (daphne, the protocol's fast path and
Django): a clear 4xx naming the problem, or stored verbatim and never acted on;
never a 5xx, and the server keeps serving."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
import requests

from scheduler.models import Task as TaskRow
from scheduler.service.invariants import violations

WORKER = "hostile-worker"


@pytest.fixture
def server(live_servers, transactional_db):
    return live_servers.get()


def post(server, method: str, body: bytes | dict, **kwargs) -> requests.Response:
    """POST a form (``{"data": text}``) or raw bytes to /api/<method>."""
    return requests.post(server.api_url(method), data=body, timeout=30, **kwargs)


def data(text: str) -> dict:
    return {"data": text}


def args(**arguments) -> dict:
    return {"data": json.dumps(arguments)}


def assert_still_serving(server) -> None:
    assert server.call("ping", worker=WORKER) == {"rpc_messages": []}


def nested(depth: int) -> str:
    return '{"worker": "w", "info": ' + "[" * depth + "]" * depth + "}"


# (id, method, form body or raw bytes, what the answer must name)
REJECTED = [
    ("deeply-nested-json", "add_worker", data(nested(100_000)), "nested"),
    ("nested-past-the-limit", "add_worker", data(nested(40)), "nested"),
    ("lone-surrogate", "add_task", data('{"worker": "w", "task_id": "T_\\ud800"}'), "surrogate"),
    ("nul-in-a-value", "set_task_status_message", data('{"status_message": "\\u0000"}'), "nul"),
    ("integer-past-64-bits", "add_task", args(worker="w", task_id="T", priority=10**30), "64 bits"),
    ("resource-past-32-bits", "update_resources", args(gpu=2**40), "gpu"),
    ("invalid-utf8-body", "ping", b"data=%7B%7D\xff\xfe", "utf-8"),
    ("task-id-too-long", "add_task", args(worker="w", task_id="T" * 5000), "task_id"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("method", "body", "names"), [pytest.param(*row[1:], id=row[0]) for row in REJECTED]
)
def test_hostile_payloads_are_rejected_with_a_clear_400(server, method, body, names):
    headers = (
        {"Content-Type": "application/x-www-form-urlencoded"} if isinstance(body, bytes) else {}
    )
    reply = post(server, method, body, headers=headers)
    assert reply.status_code == 400, (reply.status_code, reply.text[:300])
    assert names in reply.text.lower(), reply.text[:300]
    assert TaskRow.objects.count() == 0  # nothing half-stored
    assert_still_serving(server)


def test_oversized_body_is_413_and_the_server_keeps_serving(server):
    from django.conf import settings

    body = b"data=" + b"x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)
    reply = requests.post(
        server.api_url("ping"),
        data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=60,
    )
    assert reply.status_code == 413, reply.text[:300]
    assert "larger than the server accepts" in reply.json()["detail"]
    assert_still_serving(server)


HOSTILE_IDS = [
    "Evil_../../../../etc/passwd",
    "Evil_'); DROP TABLE pipelines_scheduler_task; --",
    'Evil_" OR 1=1 --',
    "Evil_%_%",
    "Evil_$(touch {sentinel})",
    "Evil_<script>alert(1)</script>",
    "Evil_\u202e\u00e9\u4e2d\U0001f600",
]


def test_sql_strings_path_traversal_and_huge_values_are_stored_verbatim(server, tmp_path: Path):
    sentinel = tmp_path / "executed"
    ids = [task_id.format(sentinel=sentinel) for task_id in HOSTILE_IDS]
    huge = "v" * 1_000_000
    for task_id in ids:
        server.call(
            "add_task",
            worker=WORKER,
            task_id=task_id,
            family="Evil",
            module="os",  # a module name is data to the scheduler, never imported
            params={"target": "../../../etc/shadow", "cmd": f"; rm -rf {sentinel}", "big": huge},
            status="FAILED",
            expl=json.dumps(f"$(touch {sentinel})"),
            deps=[f"{task_id}/../dep"],
        )
    listed = server.task_list("FAILED")
    assert set(ids) <= set(listed)
    for task_id in ids:
        assert listed[task_id]["params"]["target"] == "../../../etc/shadow"
        assert listed[task_id]["params"]["big"] == huge
        assert server.call("fetch_error", task_id=task_id)["taskId"] == task_id
    # LIKE wildcards in a search are plain characters.
    assert set(server.call("task_search", task_str="%_%")["FAILED"]) == {"Evil_%_%"}
    assert set(server.call("task_search", task_str="' OR '1'='1").get("FAILED", {})) == set()
    assert TaskRow.objects.filter(task_id__in=ids).count() == len(ids)  # the table is there
    assert not sentinel.exists()
    assert violations() == []


@pytest.mark.parametrize(
    "path",
    [
        "api/..%2F..%2Fetc%2Fpasswd",
        "api/%2E%2E/%2E%2E/pipelines_project/settings.py",
        "static/..%2F..%2Fpipelines_project%2Fsettings.py",
        "static/../.env",
        "api/v1/history/runs/..%2F..%2F..%2Fetc%2Fpasswd/",
        "api/v1/history/runs/?task_id=%27%20OR%201%3D1%20--&family=%FF%FE",
        "api/v1/history/runs/?page=99999999999999999999999",
        "api/task_list?data=%FF%FE",
    ],
)
def test_hostile_urls_are_4xx_or_harmless_and_never_leak(server, path):
    reply = requests.get(server.url + path, timeout=30)
    assert reply.status_code < 500, (reply.status_code, reply.text[:300])
    assert "SECRET_KEY" not in reply.text
    assert "root:" not in reply.text
    if reply.status_code == 200:
        assert reply.headers["Content-Type"].startswith("application/json")
    assert_still_serving(server)


@pytest.mark.parametrize(
    "path",
    [
        "api/v1/history/runs/?family=a%00b",
        "api/v1/history/runs/?task_id=%00",
        "api/v1/history/runs/%00/",
        "api/v1/history/families/?search=x%00",
    ],
)
def test_nul_in_urls_is_a_400_on_every_database(server, path):
    # PostgreSQL cannot store or compare NUL in text (it was a 500 there).
    reply = requests.get(server.url + path, timeout=30)
    assert reply.status_code == 400, (reply.status_code, reply.text[:300])
    assert "NUL character" in reply.json()["detail"]


def test_unknown_ids_in_every_reader_are_answered_not_crashed(server):
    task_id = f"Missing_{uuid.uuid4().hex}"
    assert server.call("fetch_error", task_id=task_id) == {"taskId": task_id, "error": ""}
    for method in ("dep_graph", "inverse_dep_graph"):
        assert server.call(method, task_id=task_id) == {}
    assert_still_serving(server)
