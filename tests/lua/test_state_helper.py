"""The checker itself: `assert_invariants` must notice every kind of broken state."""

from __future__ import annotations

from collections.abc import Callable

import orjson
import pytest
import redis

from rtask._client import SyncClient
from rtask._keys import QueueKeys
from tests.lua._state import NOW, assert_invariants, claim, dump_state, enqueue, new_job

TASKS = ("t",)


def setup_queue(client: SyncClient, keys: QueueKeys) -> None:
    enqueue(client, keys, [new_job("r1"), new_job("r2"), new_job("s1", delay_ms=100)])
    claim(client, keys, 1)  # r1 runs
    assert_invariants(client, keys, TASKS)


CORRUPTIONS: dict[str, tuple[Callable[[redis.Redis, QueueKeys], object], str]] = {
    "in two sets": (lambda r, k: r.zadd(k.scheduled("t"), {"r2": NOW}), "r2 (scheduled)"),
    "in no set": (lambda r, k: r.zrem(k.ready("t"), "r2"), "r2 (scheduled) is in []"),
    "running not in running": (lambda r, k: r.zrem(k.running, "r1"), "active[t] = 1 but 0"),
    "active off": (lambda r, k: r.hincrby(k.active, "t", 1), "active[t] = 2 but 1"),
    "wrong ready score": (lambda r, k: r.zadd(k.ready("t"), {"r2": 5}), "r2: score 5.0"),
    "wrong due score": (lambda r, k: r.zadd(k.scheduled("t"), {"s1": 5}), "s1: score 5.0"),
    "stray key": (lambda r, k: r.set(k.base + "junk", "x"), "unexpected key"),
    "other task's key": (lambda r, k: r.zadd(k.ready("zz"), {"r2": 1}), "unexpected key"),
    "orphan field": (lambda r, k: r.hset(k.jobs, "gone:e", "[]"), "orphan field gone:e"),
    "member without record": (lambda r, k: r.zadd(k.ready("t"), {"x": 1}), "x is in"),
    "no payload": (lambda r, k: r.hdel(k.jobs, "r2:p"), "r2: no payload"),
    "finished not indexed": (
        lambda r, k: r.hset(k.jobs, "s1", _state_of(r, k, "s1", s="succeeded", ft=NOW)),
        "s1 (succeeded)",
    ),
    "wrong type": (lambda r, k: (r.delete(k.tasks), r.set(k.tasks, "t")), "is a string"),
    "identity of another job": (
        lambda r, k: r.hset(k.unique, "t|x", "r2"),
        "unique 't|x' -> r2, whose identity is None",
    ),
    "bad error entry": (lambda r, k: r.hset(k.jobs, "r2:e", '[{"at": 1}]'), "malformed"),
}


def _state_of(r: redis.Redis, keys: QueueKeys, job_id: str, **changes: object) -> bytes:
    state = orjson.loads(r.hget(keys.jobs, job_id) or b"{}")
    return orjson.dumps({**state, **changes})


@pytest.mark.parametrize("name", sorted(CORRUPTIONS))
def test_corruption_is_noticed(client: SyncClient, keys: QueueKeys, name: str) -> None:
    setup_queue(client, keys)
    corrupt, message = CORRUPTIONS[name]
    corrupt(client.redis, keys)

    with pytest.raises(AssertionError, match="invariants broken") as info:
        assert_invariants(client, keys, TASKS)
    assert message in str(info.value)


def test_dump_reads_every_key_type(client: SyncClient, keys: QueueKeys) -> None:
    r = client.redis
    r.set(keys.base + "s", "v")
    r.hset(keys.base + "h", mapping={"a:p": b"\x00", "n": "3"})
    r.zadd(keys.base + "z", {"m2": 2, "m1": 1})
    r.sadd(keys.base + "set", "x", "y")
    r.rpush(keys.base + "l", "a", "b")
    r.set(keys.base[:-1] + "-other", "not under the prefix")

    assert dump_state(r, keys.base) == {
        keys.base + "s": ("string", "v"),
        keys.base + "h": ("hash", {"a:p": b"\x00", "n": 3}),
        keys.base + "z": ("zset", {"m1": 1.0, "m2": 2.0}),
        keys.base + "set": ("set", {"x", "y"}),
        keys.base + "l": ("list", [b"a", b"b"]),
    }
