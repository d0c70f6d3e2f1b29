"""The viewer rule for WebSockets (the live task feed): a connection from a caller
without the viewer role (and no anonymous reads) is refused before it is accepted."""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async

from ..permissions import can_view


class ViewerRequired:
    """ASGI middleware; goes inside channels' AuthMiddlewareStack (needs scope["user"])."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "websocket" and not await database_sync_to_async(can_view)(
            scope.get("user")
        ):
            message = await receive()
            if message["type"] == "websocket.connect":
                await send({"type": "websocket.close", "code": 4403})
            return
        await self.app(scope, receive, send)
