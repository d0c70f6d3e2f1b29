"""A small asyncio client of the live task feed (tests, benchmarks, scripts).

``LiveClient`` is one WebSocket connection (RFC 6455 over asyncio streams, text
frames carrying JSON; autobahn's asyncio flavour cannot load in a process where
daphne loaded its Twisted flavour). ``Follower`` keeps a subscription across
reconnects: it remembers the last seq it applied and resubscribes with
``since``, so it sees every event once, in order (see ``visualiser.consumers``
for the protocol)::

    client = await LiveClient.connect("ws://127.0.0.1:8082/ws/tasks/")
    await client.send({"subscribe": "all"})
    snapshot = await client.receive()
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import os
import struct
from typing import Any
from urllib.parse import urlsplit

CLOSED = {"type": "closed"}
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_TEXT, _BINARY, _CLOSE, _PING, _PONG = 0x1, 0x2, 0x8, 0x9, 0xA


class LiveClient:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.close_code: int | None = None
        self._reading = asyncio.get_running_loop().create_task(self._read_frames())

    @classmethod
    async def connect(
        cls, url: str, *, unix_socket: str | None = None, origin: str | None = None
    ) -> LiveClient:
        """Open ``url`` (ws://host:port/path), over ``unix_socket`` if given."""
        parts = urlsplit(url)
        if unix_socket is not None:
            reader, writer = await asyncio.open_unix_connection(unix_socket)
        else:
            reader, writer = await asyncio.open_connection(parts.hostname, parts.port or 80)
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET {parts.path or '/'} HTTP/1.1\r\n"
            f"Host: {parts.netloc}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Origin: {origin or 'http://' + parts.netloc}\r\n\r\n"
        )
        writer.write(request.encode())
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        status = head.split("\r\n", 1)[0]
        accept = base64.b64encode(hashlib.sha1(key.encode() + _GUID).digest()).decode()
        if " 101 " not in f"{status} " or accept not in head:
            writer.close()
            raise ConnectionError(f"WebSocket refused: {status}")
        return cls(reader, writer)

    async def _read_frames(self) -> None:
        message = b""
        try:
            while True:
                first, second = await self.reader.readexactly(2)
                opcode, length = first & 0x0F, second & 0x7F
                if length == 126:
                    (length,) = struct.unpack("!H", await self.reader.readexactly(2))
                elif length == 127:
                    (length,) = struct.unpack("!Q", await self.reader.readexactly(8))
                mask = await self.reader.readexactly(4) if second & 0x80 else b""
                payload = await self.reader.readexactly(length)
                if mask:
                    payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
                if opcode == _CLOSE:
                    self.close_code = struct.unpack("!H", payload[:2])[0] if payload else 1005
                    with contextlib.suppress(ConnectionError):
                        self._send_frame(_CLOSE, payload[:2])
                    break
                if opcode == _PING:
                    self._send_frame(_PONG, payload)
                    continue
                if opcode == _PONG:
                    continue
                message += payload
                if first & 0x80:
                    self.inbox.put_nowait(json.loads(message))
                    message = b""
        except (asyncio.IncompleteReadError, ConnectionError):
            if self.close_code is None:
                self.close_code = 1006
        finally:
            self.writer.close()
            self.inbox.put_nowait(CLOSED)

    def _send_frame(self, opcode: int, payload: bytes) -> None:
        mask = os.urandom(4)
        length = len(payload)
        if length < 126:
            header = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
        elif length < 1 << 16:
            header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
        else:
            header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.writer.write(header + mask + masked)

    async def send(self, message: dict[str, Any]) -> None:
        self._send_frame(_TEXT, json.dumps(message).encode())
        await self.writer.drain()

    async def receive(self, timeout: float = 10.0) -> dict[str, Any]:
        return await asyncio.wait_for(self.inbox.get(), timeout)

    async def close(self) -> None:
        if not self._reading.done():
            with contextlib.suppress(ConnectionError):
                self._send_frame(_CLOSE, struct.pack("!H", 1000))
            try:
                await asyncio.wait_for(asyncio.shield(self._reading), 5)
            except TimeoutError:
                self._reading.cancel()
        with contextlib.suppress(Exception):
            await self.writer.wait_closed()


class Follower:
    """One subscription's events, in order, across reconnects."""

    def __init__(self, url: str, subscription: dict[str, Any], **connect: Any) -> None:
        self.url = url
        self.subscription = subscription
        self.connect_options = connect
        self.client: LiveClient | None = None
        self.seq: int | None = None
        self.tasks: dict[str, dict] = {}
        self.events: list[dict[str, Any]] = []
        self.openings: list[str] = []

    async def start(self) -> None:
        self.client = await LiveClient.connect(self.url, **self.connect_options)
        request = dict(self.subscription)
        if self.seq is not None:
            request["since"] = self.seq
        await self.client.send(request)

    async def reconnect(self) -> None:
        if self.client is not None:
            await self.client.close()
        await self.start()

    async def step(self, timeout: float = 10.0) -> dict[str, Any]:
        """Receive and apply one message; returns it."""
        assert self.client is not None
        message = await self.client.receive(timeout)
        kind = message.get("type")
        if kind == "snapshot":
            self.openings.append(kind)
            self.tasks = dict(message.get("tasks") or {})
            self.seq = message["seq"]
        elif kind == "catchup":
            self.openings.append(kind)
            self._apply(message["events"])
            self.seq = max(self.seq or 0, message["seq"])
        elif kind == "events":
            self._apply(message["events"])
        elif kind == "tasks":
            self.tasks.update(message["tasks"])
        return message

    def _apply(self, events: list[dict[str, Any]]) -> None:
        for event in events:
            self.events.append(event)
            task = self.tasks.setdefault(event["task_id"], {"name": event["family"]})
            task["status"] = event["new_status"]
            if not event.get("late"):
                self.seq = max(self.seq or 0, event["seq"])

    async def close(self) -> None:
        if self.client is not None:
            await self.client.close()
