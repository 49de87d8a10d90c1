"""Pub/sub on the wire (see `_wire`): `AsyncSubscription`, a connection of
its own in pub/sub mode, read through its handshaken streams.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from typing import Any

import hiredis

from . import _redis_errors
from ._wire_connect import Connector
from ._wire_shared import _CHUNK, pack


class AsyncSubscription:
    """A connection of its own in pub/sub mode: the channels of the messages
    published to it, as they arrive (their payloads are not kept)."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, parser: hiredis.Reader
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._parser = parser
        self._channels: deque[str] = deque()

    @classmethod
    async def open(cls, endpoint: Connector, channels: list[str]) -> AsyncSubscription:
        """Connect and subscribe; returns once Redis confirmed every channel."""
        sub = cls(*await endpoint.open_async(), endpoint.reader())
        try:
            sub._writer.write(pack("SUBSCRIBE", *channels))
            confirmed = 0
            while confirmed < len(channels):
                confirmed += sum(1 for reply in await sub._read() if reply[0] == b"subscribe")
        except BaseException:
            await sub.aclose()
            raise
        return sub

    async def get(self, timeout_s: float) -> str | None:
        """The channel of the next message, or None after `timeout_s` without one."""
        try:
            async with asyncio.timeout(timeout_s):
                while not self._channels:
                    for reply in await self._read():
                        if reply[0] == b"message":
                            self._channels.append(reply[1].decode())
        except TimeoutError:
            return None
        return self._channels.popleft()

    async def _read(self) -> list[Any]:
        """The replies of the next chunk read (a cancelled read loses nothing:
        the stream keeps what it did not hand over)."""
        data = await self._reader.read(_CHUNK)
        if not data:
            raise _redis_errors.lost("Connection closed by server.")
        self._parser.feed(data)
        replies = []
        reply = self._parser.gets()
        while reply is not False:
            if isinstance(reply, Exception):
                raise reply
            replies.append(reply)
            reply = self._parser.gets()
        return replies

    async def aclose(self) -> None:
        self._writer.close()
        with contextlib.suppress(OSError):
            await self._writer.wait_closed()
