"""A lean transport for script calls on one Redis server (`redis://`, `rediss://`, `unix://`).

A plain `redis://` or `unix://` URL's connections are opened and
handshaken here (`_wire_connect.Endpoint`: AUTH with its user and password,
SELECT, CLIENT SETNAME, its timeouts), without importing redis-py, which
costs a process 100-200 ms at start (see `_redis_errors`). Any other URL, or
one with an option rtask does not apply itself (TLS, keepalive, ...), is
connected by redis-py (`PoolEndpoint`). After the handshake rtask writes
commands packed by hiredis straight to the socket and parses the replies
with a `hiredis.Reader` of its own, skipping redis-py's per-command layers
(pool, retries, health checks, observability, callbacks).

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

One private module per concern: `_wire_connect` (where connections go and
their handshake, the reply reader), `_wire_shared` (packing, what both sides
share), `_wire_sync` (`SyncWire`), `_wire_async` (`AsyncWire`, `Parker`),
`_wire_pubsub` (`AsyncSubscription`); this module re-exports them.
"""

from __future__ import annotations

from ._wire_async import AsyncWire, Parker
from ._wire_pubsub import AsyncSubscription
from ._wire_shared import pack, pack_evalsha, script_loads
from ._wire_sync import SyncWire

__all__ = [
    "AsyncSubscription",
    "AsyncWire",
    "Parker",
    "SyncWire",
    "pack",
    "pack_evalsha",
    "script_loads",
]
