"""The clients on a Redis Cluster: URLs, the Lua scripts on three nodes, NOSCRIPT, pub/sub."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

import pytest
import redis

from rtask import _protocol as proto
from rtask._client import SyncClient, async_client, check_url, sync_client
from rtask._cluster import AsyncClusterClient, SyncClusterClient
from rtask._errors import BackendError, ConfigError
from rtask._keys import QueueKeys, queue_keys
from rtask._scripts import script
from tests._redis_server import unique_prefix
from tests.cluster._cluster import LocalCluster
from tests.lua._state import new_job

NOW = 1_700_000_000_000
LEASE_MS = 30_000
KEEP_ALL = proto.Retention(0, 0, 0, 0, 0, 0)

# ---------------------------------------------------------------- URLs


def test_cluster_urls_are_accepted_and_checked() -> None:
    check_url("redis+cluster://127.0.0.1:7000/")
    check_url("rediss+cluster://u:pw@a.example:7000,b.example:7001,[::1]:7002/0?ssl_cert_reqs=none")
    for bad in (
        "redis+cluster://127.0.0.1/",  # no port
        "redis+cluster://127.0.0.1:7000,:7001/",  # no host
        "redis+cluster://127.0.0.1:7000/1",  # a cluster has only db 0
        "redis+cluster://127.0.0.1:99999/",
    ):
        with pytest.raises(ConfigError):
            check_url(bad)


def test_the_password_stays_out_of_repr_and_errors(cluster_url: str) -> None:
    url = cluster_url.replace("://", "://user:s3cret@", 1)
    # the sync cluster client reads the topology at once: this cluster has no such user
    with pytest.raises(BackendError, match="failed") as failed:
        sync_client(url)
    assert "s3cret" not in str(failed.value)
    assert "user:***@" in str(failed.value)

    async def body() -> None:
        client = async_client(url)  # connects at first use
        try:
            assert isinstance(client, AsyncClusterClient)
            assert "s3cret" not in repr(client)
            assert "user:***@" in repr(client)
            with pytest.raises(BackendError) as failed:
                await client.run(proto.read_job(queue_keys("p", "q"), "id"))
            assert "s3cret" not in str(failed.value)
        finally:
            await client.aclose()

    asyncio.run(body())
    sync = sync_client(cluster_url)
    try:
        assert isinstance(sync, SyncClusterClient)
        assert repr(sync) == f"SyncClusterClient({cluster_url!r})"
    finally:
        sync.close()


def test_plain_urls_keep_the_plain_clients(redis_url: str) -> None:
    client = sync_client(redis_url)
    try:
        assert type(client) is SyncClient
    finally:
        client.close()


# ---------------------------------------------------------------- the scripts


def node_holding(cluster: LocalCluster, keys: QueueKeys, job_id: str) -> int:
    """The port of the one node whose data holds the job's record."""
    ports = []
    for node in cluster.nodes:
        with cluster.client(node) as r:
            try:
                if r.hexists(keys.jobs, job_id):
                    ports.append(node.port)
            except redis.exceptions.MovedError:  # not this node's slot
                pass
    assert len(ports) == 1, ports
    return ports[0]


def lifecycle(client: SyncClient, keys: QueueKeys, queue: str) -> None:
    """enqueue → claim → finish (one success, one retry) on one queue, asserting every reply."""
    jobs = [new_job(f"{queue}-a"), new_job(f"{queue}-b")]
    assert client.run(proto.enqueue(keys, jobs, now_ms=NOW)).stored == [True, True]
    claimed = client.run(
        proto.claim(keys, queue, worker="w1", n=10, lease_ms=LEASE_MS, tasks=[("t", 0)], now_ms=NOW)
    )
    assert [j.id for j in claimed.jobs] == [f"{queue}-a", f"{queue}-b"]
    assert [j.queue for j in claimed.jobs] == [queue, queue]
    assert [j.payload for j in claimed.jobs] == [f"payload-{queue}-a".encode()] * 1 + [
        f"payload-{queue}-b".encode()
    ]
    a, b = claimed.jobs
    outcomes = [
        proto.Outcome(a.id, a.token, proto.OutcomeCode.SUCCEEDED, 0, b"result-a"),
        proto.Outcome(
            b.id,
            b.token,
            proto.OutcomeCode.RETRY,
            0,
            proto.error_entry(attempt=1, type="ValueError", message="boom"),
        ),
    ]
    reply = client.run(
        proto.finish(keys, outcomes, tasks=[("t", 0)], retention=KEEP_ALL, now_ms=NOW + 1)
    )
    assert reply.results == [proto.FinishResult.APPLIED] * 2
    done = client.run(proto.read_job(keys, a.id))
    assert done.state is not None and done.state["s"] == "succeeded"
    assert done.result == b"result-a"
    retried = client.run(proto.read_job(keys, b.id))
    assert retried.state is not None and retried.state["s"] == "retrying"
    assert [e["message"] for e in retried.errors] == ["boom"]


def test_scripts_run_on_three_nodes(
    cluster: LocalCluster, spread_queues: Callable[[], list[str]]
) -> None:
    prefix = unique_prefix()
    queues = spread_queues()
    client = sync_client(cluster.url)
    try:
        for queue in queues:
            lifecycle(client, queue_keys(prefix, queue), queue)
        # each queue's data lives on its own node
        holders = [node_holding(cluster, queue_keys(prefix, q), f"{q}-a") for q in queues]
        assert holders == [node.port for node in cluster.nodes]
    finally:
        client.close()


def spread_calls(prefix: str, queues: Sequence[str]) -> list[proto.Call[proto.EnqueueReply]]:
    return [
        proto.enqueue(queue_keys(prefix, q), [new_job(f"{q}-{i}") for i in range(3)], now_ms=NOW)
        for q in queues
    ]


def claims(prefix: str, queues: Sequence[str]) -> list[proto.Call[proto.ClaimReply]]:
    return [
        proto.claim(
            queue_keys(prefix, q),
            q,
            worker="w1",
            n=10,
            lease_ms=LEASE_MS,
            tasks=[("t", 0)],
            now_ms=NOW,
        )
        for q in queues
    ]


def test_run_many_spans_nodes_sync(
    cluster: LocalCluster, spread_queues: Callable[[], list[str]]
) -> None:
    prefix = unique_prefix()
    queues = spread_queues() + spread_queues()  # two queues per node
    client = sync_client(cluster.url)
    try:
        replies = client.run_many(spread_calls(prefix, queues))
        assert [r.stored for r in replies] == [[True] * 3] * len(queues)
        claimed = client.run_many(claims(prefix, queues))
        assert [[j.id for j in r.jobs] for r in claimed] == [
            [f"{q}-{i}" for i in range(3)] for q in queues
        ]
    finally:
        client.close()


def test_run_many_spans_nodes_async(
    cluster: LocalCluster, spread_queues: Callable[[], list[str]]
) -> None:
    prefix = unique_prefix()
    queues = spread_queues() + spread_queues()

    async def body() -> None:
        client = async_client(cluster.url)
        try:
            replies = await client.run_many(spread_calls(prefix, queues))
            assert [r.stored for r in replies] == [[True] * 3] * len(queues)
            claimed = await client.run_many(claims(prefix, queues))
            assert [[j.id for j in r.jobs] for r in claimed] == [
                [f"{q}-{i}" for i in range(3)] for q in queues
            ]
            # and one at a time, concurrently
            again = await asyncio.gather(
                *(client.run(proto.read_job(queue_keys(prefix, q), f"{q}-0")) for q in queues)
            )
            assert [r.state and r.state["s"] for r in again] == ["running"] * len(queues)
        finally:
            await client.aclose()

    asyncio.run(body())


# ---------------------------------------------------------------- NOSCRIPT


def flush_scripts(cluster: LocalCluster) -> None:
    for node in cluster.nodes:
        with cluster.client(node) as r:
            assert r.script_flush()


def scripts_everywhere(cluster: LocalCluster, sha: str) -> list[bool]:
    out = []
    for node in cluster.nodes:
        with cluster.client(node) as r:
            out.extend(r.script_exists(sha))
    return out


def test_scripts_are_reloaded_after_script_flush_sync(
    cluster: LocalCluster, spread_queues: Callable[[], list[str]]
) -> None:
    prefix = unique_prefix()
    queues = spread_queues()
    sha = script("enqueue").sha
    client = sync_client(cluster.url)
    try:
        client.run_many(spread_calls(prefix, queues[:2]))
        assert scripts_everywhere(cluster, sha) == [True] * 3
        flush_scripts(cluster)
        assert scripts_everywhere(cluster, sha) == [False] * 3
        # one call: NOSCRIPT, reload on every primary, resend
        reply = client.run(
            proto.enqueue(queue_keys(prefix, queues[2]), [new_job("solo")], now_ms=NOW)
        )
        assert reply.stored == [True]
        assert scripts_everywhere(cluster, sha) == [True] * 3
        flush_scripts(cluster)
        # a pipeline over three nodes: every call bounced and was sent again, once
        claimed = client.run_many(claims(prefix, queues))
        assert [[j.id for j in r.jobs] for r in claimed] == [
            [f"{queues[0]}-{i}" for i in range(3)],
            [f"{queues[1]}-{i}" for i in range(3)],
            ["solo"],
        ]
        assert [j.attempt for r in claimed for j in r.jobs] == [1] * 7
    finally:
        client.close()


def test_scripts_are_reloaded_after_script_flush_async(
    cluster: LocalCluster, spread_queues: Callable[[], list[str]]
) -> None:
    prefix = unique_prefix()
    queues = spread_queues()
    sha = script("claim").sha

    async def body() -> None:
        client = async_client(cluster.url)
        try:
            await client.run_many(spread_calls(prefix, queues))
            flush_scripts(cluster)
            assert scripts_everywhere(cluster, sha) == [False] * 3
            claimed = await client.run_many(claims(prefix, queues))
            assert [[j.id for j in r.jobs] for r in claimed] == [
                [f"{q}-{i}" for i in range(3)] for q in queues
            ]
            assert [j.attempt for r in claimed for j in r.jobs] == [1] * 9
            assert scripts_everywhere(cluster, sha) == [True] * 3
            flush_scripts(cluster)
            raw = await client.run(proto.read_job(queue_keys(prefix, queues[1]), f"{queues[1]}-2"))
            assert raw.state is not None and raw.state["s"] == "running"
        finally:
            await client.aclose()

    asyncio.run(body())


# ---------------------------------------------------------------- pub/sub, smembers


def test_pubsub_on_one_node_hears_every_queue(
    cluster: LocalCluster, spread_queues: Callable[[], list[str]]
) -> None:
    prefix = unique_prefix()
    queues = spread_queues()

    async def body() -> None:
        client = async_client(cluster.url)
        try:
            await client.load_scripts()
            first, second = client.pubsub(), client.pubsub()
            # deterministic: the primaries in address order, then the next one
            ports = sorted(f"127.0.0.1:{n.port}" for n in cluster.nodes)
            assert first.connection_pool.connection_kwargs["port"] == int(ports[0][10:])
            assert second.connection_pool.connection_kwargs["port"] == int(ports[1][10:])
            await second.aclose()
            channels = [queue_keys(prefix, q).wake_channel for q in queues]
            async with first:
                await first.subscribe(*channels)
                for _ in channels:  # the subscriptions took effect
                    confirmed = await first.parse_response(block=False, timeout=5)
                    assert confirmed is not None and confirmed[0] == b"subscribe"
                for q in queues:  # enqueue publishes on each queue's own node
                    await client.run(
                        proto.enqueue(queue_keys(prefix, q), [new_job(f"{q}-x")], now_ms=NOW)
                    )
                heard: list[str] = []
                for _ in channels:
                    message = await first.parse_response(block=False, timeout=5)
                    assert message is not None, f"heard only {heard}"
                    assert message[0] == b"message"
                    heard.append(message[1].decode())
                assert sorted(heard) == sorted(channels)
            tasks = await client.smembers(queue_keys(prefix, queues[2]).tasks)
            assert tasks == {b"t"}
        finally:
            await client.aclose()

    asyncio.run(body())


# ---------------------------------------------------------------- pipeline replies


def test_pipeline_replies_that_are_sent_again() -> None:
    """What a cluster pipeline's per-call errors lead to (see _cluster_reply)."""
    from rtask._cluster import _RESEND, _cluster_reply

    keys = queue_keys("p", "q")
    enqueue = proto.enqueue(keys, [new_job("j")], now_ms=NOW)
    claim = claims("p", ["q"])[0]
    assert enqueue.idempotent and not claim.idempotent
    for reply in (
        redis.exceptions.NoScriptError("NOSCRIPT"),
        redis.exceptions.ClusterDownError("CLUSTERDOWN"),
        redis.exceptions.TryAgainError("TRYAGAIN"),
    ):  # it did not run: any call goes again
        assert _cluster_reply(enqueue, reply) is _RESEND
        assert _cluster_reply(claim, reply) is _RESEND
    broken = redis.exceptions.ConnectionError("reset by peer")
    assert _cluster_reply(enqueue, broken) is _RESEND  # idempotent: safe to run twice
    with pytest.raises(BackendError, match="reset by peer"):
        _cluster_reply(claim, broken)  # a claim run twice would strand jobs
    with pytest.raises(BackendError, match=r"enqueue\.lua failed"):
        _cluster_reply(enqueue, redis.exceptions.ResponseError("ERR bad"))
    assert _cluster_reply(enqueue, [NOW, 1]).stored == [True]
