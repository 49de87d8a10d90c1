"""Async and sync clients: thin shells that send `_protocol.Call`s.

Both run scripts with EVALSHA and reload them on NOSCRIPT (after a Redis
restart or SCRIPT FLUSH). On one Redis server (`redis://`, `rediss://`,
`unix://`) the calls go through rtask's own lean transport (`_wire`), with
redis-py doing the connection handshake; `redis` (a redis-py client) serves
pub/sub and the few plain commands. `memory://<name>` connects to an
in-process fakeredis server of that name, shared by every client of the process.

`redis+cluster://host:port[,host:port…]/` (`rediss+cluster://` for TLS) talks
to a Redis Cluster through redis-py's cluster clients: EVALSHA is routed by
its first key (every key of a call carries one queue's hash tag, so one call
is one slot), pipelines are split per node by redis-py, and scripts are loaded
on every primary. redis-py's own resending is turned off there, so the rules
below hold on a cluster too: a call refused by the cluster (CLUSTERDOWN,
TRYAGAIN, a slot not covered yet) did not run and is sent again; after a
broken connection only idempotent calls are.

`redis+sentinel://sentinel:port[,…]/db?service_name=…` (`rediss+sentinel://`
for TLS) sends calls to the primary the sentinels name, following a
failover (see `_sentinel`).

One private module per part: `_client_shared` (URL checks, redaction,
memory:// servers, EVALSHA through redis-py, the error and retry rules),
`_client_async` (`AsyncClient`, the wake-up `Subscription`s) and
`_client_sync` (`SyncClient`); this module re-exports them and picks the
client for a URL (`async_client`, `sync_client`).
"""

from __future__ import annotations

from ._client_async import ASYNC_MAX_CONNECTIONS, AsyncClient, PubSubSubscription, Subscription

# Private names that _cluster, _sentinel and pytest_plugin import from here.
from ._client_shared import _CLUSTER_SCHEMES as _CLUSTER_SCHEMES  # noqa: PLC0414
from ._client_shared import _decoded as _decoded  # noqa: PLC0414
from ._client_shared import _evalsha as _evalsha  # noqa: PLC0414
from ._client_shared import _memory_lock as _memory_lock  # noqa: PLC0414
from ._client_shared import _memory_servers as _memory_servers  # noqa: PLC0414
from ._client_shared import check_url, is_cluster, is_memory, is_sentinel, redact
from ._client_sync import SyncClient

__all__ = [
    "ASYNC_MAX_CONNECTIONS",
    "AsyncClient",
    "PubSubSubscription",
    "Subscription",
    "SyncClient",
    "async_client",
    "check_url",
    "is_cluster",
    "is_memory",
    "redact",
    "sync_client",
]


def async_client(url: str) -> AsyncClient:
    """The async client for `url` (a cluster or sentinel client for such a URL)."""
    if is_cluster(url):
        from ._cluster import AsyncClusterClient

        return AsyncClusterClient(url)
    if is_sentinel(url):
        from ._sentinel import AsyncSentinelClient

        return AsyncSentinelClient(url)
    return AsyncClient(url)


def sync_client(url: str) -> SyncClient:
    """The sync client for `url` (a cluster or sentinel client for such a URL)."""
    if is_cluster(url):
        from ._cluster import SyncClusterClient

        return SyncClusterClient(url)
    if is_sentinel(url):
        from ._sentinel import SyncSentinelClient

        return SyncSentinelClient(url)
    return SyncClient(url)
