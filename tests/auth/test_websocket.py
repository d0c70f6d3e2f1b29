"""The live feed's WebSocket needs the viewer role when authentication is on."""

from __future__ import annotations

import asyncio

import pytest
from django.contrib.auth.models import AnonymousUser
from django.test import override_settings

from scheduler.auth.websocket import ViewerRequired


async def _connect(user) -> list[dict]:
    sent: list[dict] = []
    reached: list[bool] = []

    async def inner(scope, receive, send):
        reached.append(True)

    async def receive():
        return {"type": "websocket.connect"}

    async def send(message):
        sent.append(message)

    await ViewerRequired(inner)({"type": "websocket", "user": user}, receive, send)
    return sent if not reached else [{"type": "reached"}]


@pytest.mark.django_db(transaction=True)
def test_websocket_refused_without_the_viewer_role(people):
    with override_settings(SCHEDULER_AUTH=True, SCHEDULER_ANONYMOUS_READ=False):
        assert asyncio.run(_connect(AnonymousUser())) == [{"type": "websocket.close", "code": 4403}]
        assert asyncio.run(_connect(people["nobody"]))[0]["type"] == "websocket.close"
        assert asyncio.run(_connect(people["viewer"])) == [{"type": "reached"}]
    assert asyncio.run(_connect(AnonymousUser())) == [{"type": "reached"}]  # auth off
