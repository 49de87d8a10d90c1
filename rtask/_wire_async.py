"""The async side of the wire (see `_wire`): `AsyncWire`, pipelining an
event loop's callers on one connection (`_Pipe`), and `Parker`, its
blocking pops on a connection of their own.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Any, cast

import hiredis

from . import _redis_errors
from ._wire_connect import Connector
from ._wire_pubsub import AsyncSubscription
from ._wire_shared import _raised, pack


def _lost(message: str) -> Callable[[], Exception]:
    return lambda: _redis_errors.lost(message)


class _Pipe(asyncio.Protocol):
    """One pipelined connection: the replies resolve the callers' futures in
    the order their commands were written.

    Invariant: `_waiting` holds one entry per command written and not yet
    answered, in writing order: (future, 1) for a single command, (future, n)
    for n commands sent together, whose replies gather in `_batch`.
    """

    def __init__(
        self, writer: asyncio.StreamWriter, reader: hiredis.Reader, timeout_s: float | None
    ) -> None:
        self._loop = asyncio.get_running_loop()
        # Kept: a StreamWriter collected while its transport is open closes it.
        self._writer = writer
        self._transport = cast(asyncio.Transport, writer.transport)
        self._reader = reader
        self.timeout_s = timeout_s
        self._waiting: deque[tuple[asyncio.Future[Any], int]] = deque()
        self._batch: list[Any] = []
        self.broken = False
        self.paused = False
        self._writable = asyncio.Event()
        self._writable.set()
        self._closed: asyncio.Future[None] = self._loop.create_future()

    def send(self, command: bytes, count: int) -> asyncio.Future[Any]:
        """Write `command` (`count` commands); the future of its reply (a list if
        `count` > 1), or of a `ConnectionError` if the connection breaks first."""
        if self.broken:
            raise _redis_errors.lost("Connection closed.")
        future = self._loop.create_future()
        self._transport.write(command)
        self._waiting.append((future, count))
        return future

    async def wait_writable(self) -> None:
        """Return once the transport takes more data (it is below its high-water mark)."""
        await self._writable.wait()
        if self.broken:
            raise _redis_errors.lost("Connection closed.")

    def time_out(self, future: asyncio.Future[Any]) -> None:
        """`future` waited longer than `timeout_s`: it fails, the connection is dropped."""
        if not future.done():
            future.set_result(_redis_errors.timed_out("Timeout reading from socket"))
            self._drop(_lost("Connection dropped: a call before timed out"))

    def data_received(self, data: bytes) -> None:
        if self.broken:
            return
        reader, waiting = self._reader, self._waiting
        reader.feed(data)
        try:
            reply = reader.gets()
            while reply is not False:
                future, count = waiting[0]
                if count == 1:
                    waiting.popleft()
                    if not future.done():  # its caller may have been cancelled
                        future.set_result(reply)
                else:
                    self._batch.append(reply)
                    if len(self._batch) == count:
                        waiting.popleft()
                        replies, self._batch = self._batch, []
                        if not future.done():
                            future.set_result(replies)
                reply = reader.gets()
        except (hiredis.ProtocolError, IndexError) as exc:  # garbage, or a reply nobody asked for
            self._drop(_lost(f"Protocol error: {exc!r}"))

    def eof_received(self) -> None:
        self._drop(_lost("Connection closed by server."), abort=False)

    def connection_lost(self, exc: Exception | None) -> None:
        self._drop(_lost(f"Connection lost: {exc}" if exc else "Connection closed."), abort=False)
        if not self._closed.done():
            self._closed.set_result(None)

    def pause_writing(self) -> None:
        self.paused = True
        self._writable.clear()

    def resume_writing(self) -> None:
        self.paused = False
        self._writable.set()

    def _drop(self, error: Callable[[], Exception], abort: bool = True) -> None:
        """Fail every call in flight with `error()` and stop using the connection."""
        if not self.broken:
            self.broken = True
            if abort:
                self._transport.abort()
        waiting, self._waiting, self._batch = self._waiting, deque(), []
        for future, _ in waiting:
            if not future.done():
                future.set_result(error())
        self._writable.set()  # the writers waiting see `broken`

    async def close(self) -> None:
        """Close the connection (calls in flight fail) and wait until it is."""
        if not self.broken:
            self._drop(_lost("Connection closed by the client."), abort=False)
            self._transport.close()
        await self._closed


class AsyncWire:
    """Sends commands from one event loop's tasks, pipelined on one connection."""

    def __init__(self, endpoint: Connector) -> None:
        self._endpoint = endpoint
        self._pipe: _Pipe | None = None
        self._opening = asyncio.Lock()

    async def request(self, command: bytes) -> Any:
        """Send one command; its reply (a reply error is raised)."""
        return _raised(await self._send(command, 1))

    async def request_many(self, commands: bytes, count: int) -> list[Any]:
        """Send `count` commands at once; their replies, reply errors in place."""
        replies: list[Any] = _raised(await self._send(commands, count))
        return replies

    async def _send(self, command: bytes, count: int) -> Any:
        pipe = self._pipe
        if pipe is None or pipe.broken:
            pipe = await self._open()
        if pipe.paused:
            await pipe.wait_writable()
        future = pipe.send(command, count)
        if pipe.timeout_s is None:
            return await future
        timer = asyncio.get_running_loop().call_later(pipe.timeout_s, pipe.time_out, future)
        try:
            return await future
        finally:
            timer.cancel()

    async def _open(self) -> _Pipe:
        async with self._opening:  # one connection at a time, whoever asks
            pipe = self._pipe
            if pipe is not None and not pipe.broken:
                return pipe
            endpoint = self._endpoint
            _, writer = await endpoint.open_async()
            # The streams end here: from now on their transport feeds the pipe.
            pipe = self._pipe = _Pipe(writer, endpoint.reader(), endpoint.timeout_s)
            writer.transport.set_protocol(pipe)
            return pipe

    async def subscribe(self, channels: list[str]) -> AsyncSubscription:
        """A connection of its own, like this one's, subscribed to `channels`."""
        return await AsyncSubscription.open(self._endpoint, channels)

    def parker(self) -> Parker:
        """A connection of its own, like this one's, for blocking pops."""
        return Parker(AsyncWire(self._endpoint))

    @property
    def timeout_s(self) -> float | None:
        """The URL's socket timeout: no reply may take longer."""
        return self._endpoint.timeout_s

    async def aclose(self) -> None:
        """Close the connection; calls in flight fail with `ConnectionError`."""
        pipe, self._pipe = self._pipe, None
        if pipe is not None:
            await pipe.close()


class Parker:
    """Blocking pops (BLPOP) on a connection of their own, for a worker that
    stands ready for hand-offs."""

    def __init__(self, wire: AsyncWire) -> None:
        self._wire = wire

    @property
    def timeout_s(self) -> float | None:
        """The URL's socket timeout: a pop must end well within it."""
        return self._wire.timeout_s

    async def pop(self, keys: list[str], timeout_s: float) -> tuple[str, bytes] | None:
        """(key, entry) of the first entry pushed onto one of `keys` within
        `timeout_s`, or None."""
        reply = await self._wire.request(pack("BLPOP", *keys, f"{timeout_s:.3f}"))
        if reply is None:
            return None
        key, entry = reply
        return (key.decode() if isinstance(key, bytes) else key), entry

    async def aclose(self) -> None:
        await self._wire.aclose()
