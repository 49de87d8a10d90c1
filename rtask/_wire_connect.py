"""Where the wire's connections go, and their handshake (see `_wire`).

`endpoint(url)` reads a plain `redis://` or `unix://` URL into an `Endpoint`,
which opens sockets and streams itself: connect, then AUTH, CLIENT SETNAME
and SELECT as the URL asks, pipelined in one write, as redis-py's handshake
in RESP2 sends them. No redis-py import on that path (see `_redis_errors`).

Any other URL, or a plain one with an option outside `_OPTIONS` (TLS,
keepalive, retries, a decoding...), gets None: its client builds a redis-py
pool and the wire connects through it (`PoolEndpoint`), which honours every
option redis-py knows.

Both kinds give the same things: a socket (`open_sync`) or a pair of streams
(`open_async`) ready for commands, the socket timeout, and the reply reader.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, cast
from urllib.parse import parse_qsl, unquote, urlsplit

import hiredis

from . import _redis_errors
from ._wire_shared import _CHUNK, pack

# Query options a plain URL may carry for the native path (redis-py's names).
# `protocol` is accepted and ignored: the wire speaks RESP2 whatever it says.
_OPTIONS = frozenset({"db", "socket_timeout", "socket_connect_timeout", "client_name", "protocol"})


class Connector(Protocol):
    """What the wire needs of where it connects (`Endpoint`, `PoolEndpoint`)."""

    @property
    def timeout_s(self) -> float | None:
        """No reply may take longer (the URL's `socket_timeout`)."""

    def reader(self) -> hiredis.Reader:
        """The reader of replies."""

    def open_sync(self) -> tuple[socket.socket, Callable[[], None]]:
        """A connected, handshaken socket, and what closes it."""

    async def open_async(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A connected, handshaken pair of streams."""


def reply_reader(encoding: str | None = None, errors: str = "strict") -> hiredis.Reader:
    """A hiredis reader of replies: reply errors become redis-py's exceptions."""
    if encoding is not None:
        return hiredis.Reader(
            replyError=_redis_errors.reply_error, encoding=encoding, errors=errors
        )
    return hiredis.Reader(replyError=_redis_errors.reply_error)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A Redis server as a plain URL names it (a TCP address or a unix socket)."""

    host: str = "localhost"
    port: int = 6379
    path: str | None = None  # a unix socket
    username: str | None = None
    password: str | None = field(default=None, repr=False)  # kept out of logs
    db: int = 0
    client_name: str | None = None
    socket_timeout: float | None = None
    connect_timeout: float | None = None

    @property
    def timeout_s(self) -> float | None:
        """No reply may take longer (the URL's `socket_timeout`)."""
        return self.socket_timeout

    def reader(self) -> hiredis.Reader:
        """The reader of this server's replies (bytes, as with decode_responses off)."""
        return reply_reader()

    def handshake(self) -> tuple[bytes, int]:
        """The commands a new connection sends first, and how many there are."""
        commands: list[tuple[str, ...]] = []
        if self.username or self.password:
            credentials = [self.username] if self.username else []
            credentials.append(self.password or "")
            commands.append(("AUTH", *credentials))
        if self.client_name:
            commands.append(("CLIENT", "SETNAME", self.client_name))
        if self.db:
            commands.append(("SELECT", str(self.db)))
        return b"".join(pack(*c) for c in commands), len(commands)

    def _where(self) -> str:
        return self.path if self.path is not None else f"{self.host}:{self.port}"

    def _failed(self, exc: OSError) -> Exception:
        if isinstance(exc, TimeoutError):
            return _redis_errors.timed_out(f"Timeout connecting to {self._where()}")
        return _redis_errors.lost(f"Error {exc.errno} connecting to {self._where()}. {exc}.")

    def open_sync(self) -> tuple[socket.socket, Callable[[], None]]:
        """A connected, handshaken socket, and what closes it."""
        try:
            if self.path is not None:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.settimeout(self.connect_timeout or self.socket_timeout)
                sock.connect(self.path)
            else:
                sock = socket.create_connection(
                    (self.host, self.port), self.connect_timeout or self.socket_timeout
                )
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError as exc:
            raise self._failed(exc) from exc
        try:
            sock.settimeout(self.socket_timeout)
            commands, count = self.handshake()
            if count:
                sock.sendall(commands)
                answers = _Answers(self.reader(), count)
                while answers.take(sock.recv(_CHUNK)):
                    pass
        except BaseException as exc:
            sock.close()
            if isinstance(exc, OSError):
                raise self._failed(exc) from exc
            raise
        return sock, sock.close

    async def open_async(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A connected, handshaken pair of streams."""
        try:
            async with asyncio.timeout(self.connect_timeout or self.socket_timeout):
                if self.path is not None:
                    streams = await asyncio.open_unix_connection(self.path)
                else:
                    streams = await asyncio.open_connection(self.host, self.port)
        except OSError as exc:
            raise self._failed(exc) from exc
        stream_reader, writer = streams
        try:
            async with asyncio.timeout(self.socket_timeout):
                commands, count = self.handshake()
                if count:
                    writer.write(commands)
                    answers = _Answers(self.reader(), count)
                    while answers.take(await stream_reader.read(_CHUNK)):
                        pass
        except BaseException as exc:
            writer.close()
            if isinstance(exc, OSError):
                raise self._failed(exc) from exc
            raise
        return stream_reader, writer


class _Answers:
    """The replies to a handshake's `count` commands, as bytes come in."""

    def __init__(self, reader: hiredis.Reader, count: int) -> None:
        self._reader = reader
        self._left = count

    def take(self, data: bytes) -> bool:
        """Read `data`; True while replies are missing. The first reply
        error is raised (a refused AUTH is redis-py's `AuthenticationError`)."""
        if not data:
            raise _redis_errors.lost("Connection closed by server.")
        self._reader.feed(data)
        while self._left and (reply := self._reader.gets()) is not False:
            if isinstance(reply, Exception):
                raise reply
            self._left -= 1
        return self._left > 0


def endpoint(url: str) -> Endpoint | None:
    """The endpoint of a plain `redis://` or `unix://` URL, or None for a URL
    whose connections redis-py must make (see the module docstring).

    Read as redis-py reads it: user and password unquoted, the database from
    the path (`/2`) or the `db` option, host `localhost` and port 6379 unless
    given. A malformed option is left to redis-py too, for its error message.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "unix"):
        return None
    options = dict(parse_qsl(parts.query))
    if not options.keys() <= _OPTIONS:
        return None
    try:
        db = int(options["db"]) if "db" in options else 0
        timeout = _seconds(options.get("socket_timeout"))
        connect_timeout = _seconds(options.get("socket_connect_timeout"))
        port = parts.port
    except ValueError:
        return None
    common: dict[str, Any] = {
        "username": unquote(parts.username) if parts.username else None,
        "password": unquote(parts.password) if parts.password else None,
        "client_name": options.get("client_name"),
        "socket_timeout": timeout,
        "connect_timeout": connect_timeout,
    }
    if parts.scheme == "unix":
        if not parts.path:
            return None
        return Endpoint(path=unquote(parts.path), db=db, **common)
    if parts.path and "db" not in options:
        try:
            db = int(unquote(parts.path).replace("/", "") or "0")
        except ValueError:
            return None
    return Endpoint(
        host=unquote(parts.hostname) if parts.hostname else "localhost",
        port=port or 6379,
        db=db,
        **common,
    )


def _seconds(value: str | None) -> float | None:
    return None if value is None else float(value)


class PoolEndpoint:
    """Connections as a redis-py pool makes them (TLS and every other option
    of its URL), used through their sockets once handshaken."""

    def __init__(self, pool: Any) -> None:
        # RESP2 whatever the URL says: replies decode as they always have
        # (RESP3 would turn some Lua replies into other types).
        self._connection_class = pool.connection_class
        self._options: dict[str, Any] = {**pool.connection_kwargs, "protocol": 2}

    @property
    def timeout_s(self) -> float | None:
        """No reply may take longer (the URL's `socket_timeout`)."""
        timeout: float | None = self._options.get("socket_timeout")
        return timeout

    def reader(self) -> hiredis.Reader:
        """The reader of replies, decoding them if the URL asks."""
        if self._options.get("decode_responses"):
            return reply_reader(
                self._options.get("encoding", "utf-8"),
                self._options.get("encoding_errors", "strict"),
            )
        return reply_reader()

    def open_sync(self) -> tuple[socket.socket, Callable[[], None]]:
        """A connected, handshaken socket, and what closes it."""
        conn = self._connection_class(**self._options)
        conn.connect()
        # the connection is kept by the closer: dropping it would close the socket
        return cast(socket.socket, conn._sock), conn.disconnect

    async def open_async(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A connected, handshaken pair of streams."""
        conn = self._connection_class(**self._options)
        await conn.connect()
        streams = cast(asyncio.StreamReader, conn._reader), cast(asyncio.StreamWriter, conn._writer)
        # The streams are the caller's now. (A redis-py connection still
        # holding them warns "unclosed" when collected.)
        conn._reader = conn._writer = None
        return streams
