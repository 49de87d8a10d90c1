"""The sync side of the wire (see `_wire`): `SyncWire`, a free list of
`_Connection`s, each used by one thread at a time for its round trip.
"""

from __future__ import annotations

import os
import select
from typing import Any

import hiredis

from . import _redis_errors
from ._wire_connect import Connector
from ._wire_shared import _CHUNK, _raised


class _Connection:
    """A handshaken connection, used through its socket; one thread at a time."""

    __slots__ = ("buffer", "closer", "generation", "poller", "reader", "sock")

    def __init__(self, endpoint: Connector) -> None:
        self.sock, self.closer = endpoint.open_sync()
        self.reader = endpoint.reader()
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
                    raise _redis_errors.lost("Connection closed by server.")
                reader.feed(buffer, 0, size)  # type: ignore[arg-type]
                reply = reader.gets()
                while reply is not False:
                    replies.append(reply)
                    reply = reader.gets()
        except TimeoutError as exc:
            raise _redis_errors.timed_out("Timeout reading from socket") from exc
        except OSError as exc:
            raise _redis_errors.lost(f"Error while talking to Redis: {exc}") from exc
        except hiredis.ProtocolError as exc:
            raise _redis_errors.invalid_response(str(exc)) from exc
        return replies

    def close(self) -> None:
        self.closer()


class SyncWire:
    """Sends commands from any thread; a connection per concurrent caller, kept for reuse."""

    def __init__(self, endpoint: Connector) -> None:
        self._endpoint = endpoint
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
        conn = _Connection(self._endpoint)
        conn.generation = self._generation
        return conn

    def close(self) -> None:
        """Close the idle connections now and the busy ones when given back."""
        self._generation += 1
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()
