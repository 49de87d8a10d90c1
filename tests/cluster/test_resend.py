"""What the cluster clients send again while a cluster fails over: a refused
call (it did not run) until `failover_timeout_s`; after a broken connection,
an idempotent call only. Driven by a fake cluster that fails on cue."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import redis

from rtask import _protocol as proto
from rtask._cluster import AsyncClusterClient, ClusterURL
from rtask._errors import BackendError, ConfigError
from rtask._keys import queue_keys
from tests.cluster.test_client import NOW, claims
from tests.lua._state import new_job


class FailingCluster:
    """Raises the given errors in turn, then answers `reply`; counts the sends."""

    def __init__(self, errors: list[Exception], reply: Any) -> None:
        self.errors = errors
        self.reply = reply
        self.sent = 0

    async def execute_command(self, *args: Any) -> Any:
        self.sent += 1
        if self.errors:
            raise self.errors.pop(0)
        return self.reply


def client_with(fake: FailingCluster, timeout_s: float = 30) -> AsyncClusterClient:
    client = AsyncClusterClient(f"redis+cluster://127.0.0.1:1/?failover_timeout_s={timeout_s}")
    client.cluster = fake  # type: ignore[assignment]
    client._loaded = True
    return client


ENQUEUE = proto.enqueue(queue_keys("p", "q"), [new_job("j")], now_ms=NOW)
CLAIM = claims("p", ["q"])[0]
REFUSED = [redis.exceptions.ClusterDownError("CLUSTERDOWN"), redis.exceptions.TryAgainError("TRY")]


@pytest.mark.parametrize("call", [ENQUEUE, CLAIM], ids=["enqueue", "claim"])
def test_a_refused_call_is_sent_again_whatever_it_is(call: proto.Call[Any]) -> None:
    reply = [NOW, 1] if call is ENQUEUE else [NOW, -1]
    fake = FailingCluster(list(REFUSED), reply)
    asyncio.run(client_with(fake).run(call))
    assert fake.sent == 3


def test_after_a_broken_connection_only_idempotent_calls_go_again() -> None:
    broken = [redis.exceptions.ConnectionError("reset")] * 3
    fake = FailingCluster(list(broken), [NOW, 1])
    assert asyncio.run(client_with(fake).run(ENQUEUE)).stored == [True]
    assert fake.sent == 4

    fake = FailingCluster(list(broken), None)
    with pytest.raises(BackendError, match="reset"):
        asyncio.run(client_with(fake).run(CLAIM))
    assert fake.sent == 1  # a claim run twice would strand jobs: never resent


def test_resending_stops_after_the_failover_timeout() -> None:
    fake = FailingCluster([redis.exceptions.ClusterDownError("CLUSTERDOWN")] * 100, None)
    with pytest.raises(BackendError, match="CLUSTERDOWN"):
        asyncio.run(client_with(fake, timeout_s=0).run(ENQUEUE))
    assert fake.sent == 1


def test_the_option_is_rtask_s_own() -> None:
    url = ClusterURL("redis+cluster://a:1,b:2/?socket_timeout=2&failover_timeout_s=5")
    assert url.failover_timeout_s == 5
    assert url.node_url(1) == "redis://b:2/0?socket_timeout=2"  # not passed to redis-py
    with pytest.raises(ConfigError):
        ClusterURL("redis+cluster://a:1/?failover_timeout_s=soon")
