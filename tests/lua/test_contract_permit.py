"""permit.lua: concurrency permits of a capped task on a sharded queue."""

from __future__ import annotations

from rtask._client import SyncClient
from rtask._keys import QueueKeys
from rtask._permits import acquire_permits, release_permits, renew_permits

TASKS = ("t",)
NOW = 1_700_000_000_000
TTL = 10_000


def acquire(
    client: SyncClient, keys: QueueKeys, tokens: list[str], cap: int = 3, now: int = NOW
) -> list[str]:
    return client.run(acquire_permits(keys, "t", cap=cap, ttl_ms=TTL, tokens=tokens, now_ms=now))


def held(client: SyncClient, keys: QueueKeys) -> dict[str, float]:
    return {
        m.decode(): s for m, s in client.redis.zrange(keys.permits("t"), 0, -1, withscores=True)
    }


def test_acquire_grants_up_to_the_cap(client: SyncClient, keys: QueueKeys) -> None:
    assert acquire(client, keys, ["a:0", "a:1"]) == ["a:0", "a:1"]
    # one room left: the first token asked is granted, the rest refused
    assert acquire(client, keys, ["b:0", "b:1", "b:2"]) == ["b:0"]
    assert acquire(client, keys, ["b:3"]) == []
    assert held(client, keys) == {t: NOW + TTL for t in ("a:0", "a:1", "b:0")}


def test_a_replayed_acquire_takes_no_more_room(client: SyncClient, keys: QueueKeys) -> None:
    assert acquire(client, keys, ["a:0", "a:1", "a:2"]) == ["a:0", "a:1", "a:2"]
    # the reply was lost; the same call again: granted again, still 3 tokens
    assert acquire(client, keys, ["a:0", "a:1", "a:2"], now=NOW + 5) == ["a:0", "a:1", "a:2"]
    assert held(client, keys) == {t: NOW + 5 + TTL for t in ("a:0", "a:1", "a:2")}


def test_expired_tokens_make_room_and_renew_reports_them(
    client: SyncClient, keys: QueueKeys
) -> None:
    assert acquire(client, keys, ["dead:0", "dead:1", "dead:2"]) == ["dead:0", "dead:1", "dead:2"]
    later = NOW + TTL // 2
    assert acquire(client, keys, ["b:0"], now=later) == []
    # a worker that died never renews: one lease later its permits are free
    expired = NOW + TTL
    assert acquire(client, keys, ["b:0", "b:1"], now=expired) == ["b:0", "b:1"]
    # the dead worker comes back: its tokens are gone, so its jobs must stop
    lost = client.run(
        renew_permits(keys, "t", ttl_ms=TTL, tokens=["dead:0", "b:0"], now_ms=expired + 1)
    )
    assert lost == ["dead:0"]
    assert held(client, keys) == {"b:0": expired + 1 + TTL, "b:1": expired + TTL}


def test_release_frees_room_and_the_key_expires(client: SyncClient, keys: QueueKeys) -> None:
    assert acquire(client, keys, ["a:0", "a:1", "a:2"]) == ["a:0", "a:1", "a:2"]
    assert client.run(release_permits(keys, "t", tokens=["a:1", "a:2", "nope"])) == []
    assert held(client, keys) == {"a:0": NOW + TTL}
    assert acquire(client, keys, ["b:0", "b:1", "b:2"]) == ["b:0", "b:1"]
    # the key lives no longer than its newest token
    assert 0 < client.redis.pttl(keys.permits("t")) <= TTL
