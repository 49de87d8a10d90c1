"""The sync side of the wire (see `_wire`): `SyncWire`, a free list of
`_Connection`s, each used by one thread at a time for its round trip.
"""

from __future__ import annotations

import os
import select
import socket
from typing import Any, cast

import hiredis
import redis
import redis.exceptions

from ._wire_shared import _CHUNK, _options, _raised, _reader


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
