"""Luigi's protocol fast path (scheduler.asgi) answers calls from a pool of threads."""

import asyncio
import json
from urllib.parse import urlencode

import psycopg
import pytest
from django.conf import settings
from django.db import connection

from pipelines_project.asgi import application
from scheduler import rpc
from scheduler.asgi import close_connections


async def call(method: str, data: dict) -> tuple[int, dict]:
    body = urlencode({"data": json.dumps(data)}).encode()
    scope = {
        "type": "http",
        "method": "POST",
        "path": f"/api/{method}",
        "query_string": b"",
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"content-type", b"application/x-www-form-urlencoded"),
            (b"content-length", str(len(body)).encode()),
        ],
    }
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    await application(scope, receive, send)
    return sent[0]["status"], json.loads(sent[1]["body"])


def _lock_worker_row(worker: str) -> psycopg.Connection:
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    holder = psycopg.connect(**{k: v for k, v in params.items() if k != "prepare_threshold"})
    holder.execute(
        "SELECT 1 FROM pipelines_scheduler_worker WHERE worker_id = %s FOR UPDATE", [worker]
    )
    return holder


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_call_waiting_on_a_lock_does_not_hold_up_the_others():
    assert settings.PROTOCOL_THREADS > 1
    rpc.call("add_worker", {"worker": "stuck", "info": {}})
    holder = _lock_worker_row("stuck")

    async def scenario() -> None:
        # The ping waits for the worker row another transaction holds...
        stuck = asyncio.ensure_future(call("ping", {"worker": "stuck"}))
        await asyncio.sleep(0.3)
        assert not stuck.done()
        # ...while other calls are answered by the pool's other threads.
        status, body = await asyncio.wait_for(call("is_paused", {}), timeout=10)
        assert (status, body) == (200, {"response": {"paused": False}})
        status, _ = await asyncio.wait_for(call("ping", {"worker": "free"}), timeout=10)
        assert status == 200
        assert not stuck.done()
        holder.rollback()
        status, _ = await asyncio.wait_for(stuck, timeout=10)
        assert status == 200

    try:
        asyncio.run(scenario())
    finally:
        holder.close()
        close_connections()


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_arguments_with_reserved_characters_arrive_intact():
    params = {"path": "/in/a+b=c&d%25 é€", "n": "1"}
    status, _ = asyncio.run(
        call(
            "add_task",
            {"worker": "w1", "task_id": "T_reserved", "family": "T", "params": params},
        )
    )
    try:
        assert status == 200
        status, body = asyncio.run(call("task_search", {"task_str": "T_reserved"}))
        assert status == 200
        assert body["response"]["PENDING"]["T_reserved"]["params"] == params
    finally:
        close_connections()
