"""A lean transport for script calls on one Redis server (`redis://`, `rediss://`, `unix://`).

redis-py opens and authenticates each connection (TLS options, ACL user,
database, client name, timeouts: whatever the URL says); after that
handshake rtask writes commands packed by hiredis straight to the socket and
parses the replies with a `hiredis.Reader` of its own, skipping redis-py's
per-command layers (pool, retries, health checks, observability, callbacks).

Replies are what redis-py returns with `decode_responses` off: bytes, ints,
None and nested lists. A reply error is redis-py's exception for it
(`NoScriptError`, `ResponseError`; `BusyLoadingError` is a `ConnectionError`):
`request` raises it, `request_many` puts it in its place, as a redis-py
pipeline does with `raise_on_error=False`.

A broken connection fails every call in flight on it with
`redis.exceptions.ConnectionError` (their replies are unknown: the caller
decides what may be sent again) and is dropped; the next call opens a new
one. A reply that takes longer than the URL's `socket_timeout` is a
`redis.exceptions.TimeoutError` and drops the connection as well, since its
late reply would answer the next call.

`AsyncWire` pipelines every caller of an event loop on one connection: each
writes its command at once and awaits a future; Redis answers a connection
in order, so the replies resolve the futures first in, first out. While the
transport holds more unsent bytes than its high-water mark, new writers
wait (asyncio's flow control), which bounds what a burst of callers queues.
`SyncWire` keeps a free list of connections: a thread takes one for its
round trip and gives it back (list.pop and list.append are atomic).
"""

from __future__ import annotations

import asyncio
import os
import select
import socket
from collections import deque
from collections.abc import Callable
from functools import cache
from typing import Any, cast

import hiredis
import redis
import redis.asyncio
import redis.exceptions
from redis._parsers import BaseParser

from ._protocol import Call
from ._scripts import all_scripts

_EVALSHA = b"EVALSHA"
# Bytes asked of the socket at a time.
_CHUNK = 1 << 16


def pack(*args: str | bytes | int | float) -> bytes:
    """One command in the Redis protocol; `DataError` for an argument of another type."""
    try:
        return hiredis.pack_command(args)  # type: ignore[arg-type,no-any-return]
    except TypeError as exc:
        raise redis.exceptions.DataError(str(exc)) from exc


def pack_evalsha(call: Call[Any]) -> bytes:
    """The EVALSHA command of `call`."""
    if call.packed is not None:
        return call.packed
    return pack(_EVALSHA, call.script.sha, len(call.keys), *call.keys, *call.args)


@cache
def script_loads() -> bytes:
    """SCRIPT LOAD of every script, one command after the other."""
    return b"".join(pack("SCRIPT", "LOAD", s.source) for s in all_scripts())


def _options(pool: redis.ConnectionPool | redis.asyncio.ConnectionPool) -> dict[str, Any]:
    # RESP2 whatever the URL says: replies decode as they always have (RESP3
    # would turn some Lua replies into other types).
    return {**pool.connection_kwargs, "protocol": 2}


def _reader(options: dict[str, Any]) -> hiredis.Reader:
    if options.get("decode_responses"):
        return hiredis.Reader(
            replyError=BaseParser.parse_error,
            encoding=options.get("encoding", "utf-8"),
            errors=options.get("encoding_errors", "strict"),
        )
    return hiredis.Reader(replyError=BaseParser.parse_error)


def _raised(reply: Any) -> Any:
    if isinstance(reply, Exception):
        raise reply
    return reply


# ---------------------------------------------------------------- sync


class _Connection:
    """A handshaken redis-py connection, used through its socket; one thread at a time."""

    __slots__ = ("buffer", "conn", "generation", "poller", "reader", "sock")

    def __init__(self, conn: redis.connection.AbstractConnection, options: dict[str, Any]) -> None:
        conn.connect()  # type: ignore[no-untyped-call]
        self.conn = conn  # kept: dropping it would close the socket
        self.sock = cast(socket.socket, conn._sock)
        self.reader = _reader(options)
        self.buffer = bytearray(_CHUNK)
        self.generation = 0
        self.poller = select.poll()
        self.poller.register(self.sock, select.POLLIN)

    def idle_ok(self) -> bool:
        """False if the server closed the connection (or sent anything) while it was idle.

        Checked before reusing a connection, as redis-py's pool does, so a
        connection Redis dropped while idle (a restart, its `timeout`) costs a
        reconnect, not the call.
        """
        try:
            return not self.poller.poll(0)
        except OSError:
            return False

    def round_trip(self, command: bytes, count: int) -> list[Any]:
        """Send `command` (`count` commands) and read their `count` replies."""
        sock, reader, buffer = self.sock, self.reader, self.buffer
        try:
            sock.sendall(command)
            replies: list[Any] = []
            while len(replies) < count:
                size = sock.recv_into(buffer)
                if not size:
                    raise redis.exceptions.ConnectionError("Connection closed by server.")
                reader.feed(buffer, 0, size)  # type: ignore[arg-type]
                reply = reader.gets()
                while reply is not False:
                    replies.append(reply)
                    reply = reader.gets()
        except TimeoutError as exc:
            raise redis.exceptions.TimeoutError("Timeout reading from socket") from exc
        except OSError as exc:
            raise redis.exceptions.ConnectionError(f"Error while talking to Redis: {exc}") from exc
        except hiredis.ProtocolError as exc:
            raise redis.exceptions.InvalidResponse(str(exc)) from exc
        return replies

    def close(self) -> None:
        self.conn.disconnect()  # type: ignore[no-untyped-call]


class SyncWire:
    """Sends commands from any thread; a connection per concurrent caller, kept for reuse."""

    def __init__(self, pool: redis.ConnectionPool) -> None:
        self._connection_class = pool.connection_class
        self._options = _options(pool)
        self._idle: list[_Connection] = []
        self._pid = os.getpid()
        # close() bumps it: a connection of an older generation is closed when given back.
        self._generation = 0

    def request(self, command: bytes) -> Any:
        """Send one command; its reply (a reply error is raised)."""
        (reply,) = self._round_trip(command, 1)
        return _raised(reply)

    def request_many(self, commands: bytes, count: int) -> list[Any]:
        """Send `count` commands at once; their replies, reply errors in place."""
        return self._round_trip(commands, count)

    def _round_trip(self, command: bytes, count: int) -> list[Any]:
        conn = self._take()
        try:
            replies = conn.round_trip(command, count)
        except BaseException:
            # the replies still to come would answer the next caller
            conn.close()
            raise
        if conn.generation == self._generation:
            self._idle.append(conn)
        else:
            conn.close()
        return replies

    def _take(self) -> _Connection:
        if self._pid != os.getpid():
            # a forked child: the parent's sockets are the parent's
            self._idle = []
            self._pid = os.getpid()
        while self._idle:
            try:
                conn = self._idle.pop()
            except IndexError:  # another thread took the last one
                break
            if conn.idle_ok():
                return conn
            conn.close()
        conn = _Connection(self._connection_class(**self._options), self._options)
        conn.generation = self._generation
        return conn

    def close(self) -> None:
        """Close the idle connections now and the busy ones when given back."""
        self._generation += 1
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


# ---------------------------------------------------------------- async


def _lost(message: str) -> Callable[[], Exception]:
    return lambda: redis.exceptions.ConnectionError(message)


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
            raise redis.exceptions.ConnectionError("Connection closed.")
        future = self._loop.create_future()
        self._transport.write(command)
        self._waiting.append((future, count))
        return future

    async def wait_writable(self) -> None:
        """Return once the transport takes more data (it is below its high-water mark)."""
        await self._writable.wait()
        if self.broken:
            raise redis.exceptions.ConnectionError("Connection closed.")

    def time_out(self, future: asyncio.Future[Any]) -> None:
        """`future` waited longer than `timeout_s`: it fails, the connection is dropped."""
        if not future.done():
            future.set_result(redis.exceptions.TimeoutError("Timeout reading from socket"))
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

    def __init__(
        self, pool: redis.asyncio.ConnectionPool | None = None, *, like: AsyncWire | None = None
    ) -> None:
        """Connections as `pool` makes them, or as the wire `like` does."""
        self._connection_class: Any
        self._options: dict[str, Any]
        if like is not None:
            self._connection_class, self._options = like._connection_class, like._options
        elif pool is not None:
            self._connection_class, self._options = pool.connection_class, _options(pool)
        else:
            raise TypeError("AsyncWire needs a pool or a wire to be like")
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
            conn = self._connection_class(**self._options)
            await conn.connect()
            writer = cast(asyncio.StreamWriter, conn._writer)
            # The streams end here: from now on their transport feeds the pipe.
            # (A redis-py connection still holding them warns "unclosed" when collected.)
            conn._reader = conn._writer = None
            timeout_s = self._options.get("socket_timeout")
            pipe = self._pipe = _Pipe(writer, _reader(self._options), timeout_s)
            writer.transport.set_protocol(pipe)
            return pipe

    async def subscribe(self, channels: list[str]) -> AsyncSubscription:
        """A connection of its own, like this one's, subscribed to `channels`."""
        return await AsyncSubscription.open(self._connection_class, self._options, channels)

    def parker(self) -> Parker:
        """A connection of its own, like this one's, for blocking pops."""
        return Parker(AsyncWire(like=self))

    @property
    def timeout_s(self) -> float | None:
        """The URL's socket timeout: no reply may take longer."""
        timeout: float | None = self._options.get("socket_timeout")
        return timeout

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


# ------------------------------------------------------------- pub/sub


class AsyncSubscription:
    """A connection of its own in pub/sub mode: the channels of the messages
    published to it, as they arrive (their payloads are not kept)."""

    def __init__(self, conn: Any, parser: hiredis.Reader) -> None:
        self._conn = conn  # redis-py's connection, handshaken: its streams are read here
        self._reader = cast(asyncio.StreamReader, conn._reader)
        self._parser = parser
        self._channels: deque[str] = deque()

    @classmethod
    async def open(
        cls, connection_class: Any, options: dict[str, Any], channels: list[str]
    ) -> AsyncSubscription:
        """Connect and subscribe; returns once Redis confirmed every channel."""
        conn = connection_class(**options)
        await conn.connect()
        sub = cls(conn, _reader(options))
        try:
            writer = cast(asyncio.StreamWriter, conn._writer)
            writer.write(pack("SUBSCRIBE", *channels))
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
            raise redis.exceptions.ConnectionError("Connection closed by server.")
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
        await self._conn.disconnect()
