"""Fixtures of the live-updates tests: scheduler calls and WebSocket clients.

Consumer tests run the real ASGI application in this process with channels'
``WebsocketCommunicator``; the feed reads the database from another thread, so
they use ``transactional_db``. The live tests (``test_runscheduler.py``) start
``manage.py runscheduler`` processes through ``tests.live.harness``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import connections

from scheduler import rpc

HEADERS = [(b"origin", b"http://127.0.0.1"), (b"host", b"127.0.0.1")]


def call(method: str, **arguments: Any) -> Any:
    return rpc.call(method, arguments)


acall = database_sync_to_async(call)


def run(scenario: Callable[[], Awaitable[Any]], timeout: float = 30) -> Any:
    """Run an async test scenario on a fresh loop, stopping the live feed after it."""
    from visualiser.feed import stop_feed

    async def main() -> Any:
        try:
            return await asyncio.wait_for(scenario(), timeout)
        finally:
            await stop_feed()
            # The ORM thread's connection would keep the test database from being dropped.
            await sync_to_async(connections.close_all)()

    return asyncio.run(main())


@contextlib.asynccontextmanager
async def socket(path: str = "/ws/tasks/"):
    from pipelines_project.asgi import application

    communicator = WebsocketCommunicator(application, path, headers=HEADERS)
    connected, _ = await communicator.connect()
    assert connected
    try:
        yield communicator
    finally:
        await communicator.disconnect()


async def events_until(
    communicator: WebsocketCommunicator, done: Callable[[list[dict]], bool], timeout: float = 10
) -> list[dict]:
    """Collect events from ``events`` messages until ``done(events)``."""
    events: list[dict] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not done(events):
        left = deadline - loop.time()
        if left <= 0:
            raise AssertionError(f"timed out; got {events}")
        message = await communicator.receive_json_from(timeout=left)
        assert message["type"] == "events", message
        events.extend(message["events"])
    return events


@pytest.fixture
def live_db(transactional_db: None) -> None:
    """The database, visible from the feed's threads."""
