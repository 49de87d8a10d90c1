"""wait.lua with the notifications of finish.lua, cancel.lua, recover.lua and
cancel_many.lua: ids of registered jobs are published when they finish; when
nobody waits, nothing is published."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import redis

from rtask import _protocol as proto
from rtask import _protocol_manage as manage
from rtask._client import SyncClient
from rtask._keys import QueueKeys
from tests.lua._state import (
    NOW,
    assert_invariants,
    cancel,
    claim,
    enqueue,
    finish,
    new_job,
    outcome,
    recover,
)

TASKS = ("t", "u")


class DoneListener:
    """A subscriber of the done channel that reads up to a marker of its own."""

    def __init__(self, client: SyncClient, keys: QueueKeys) -> None:
        self.redis: redis.Redis = client.redis
        self.channel = keys.done
        self.pubsub = self.redis.pubsub()
        self.pubsub.subscribe(self.channel)
        assert self.pubsub.get_message(timeout=5.0) is not None  # the subscribe confirmation

    def published(self) -> list[bytes]:
        self.redis.publish(self.channel, b"marker")
        got: list[bytes] = []
        while True:
            message = self.pubsub.get_message(ignore_subscribe_messages=True, timeout=5.0)
            assert message is not None, "marker not received within 5 s"
            if message["data"] == b"marker":
                return got
            got.append(message["data"])


@contextmanager
def listening(client: SyncClient, keys: QueueKeys) -> Iterator[DoneListener]:
    listener = DoneListener(client, keys)
    try:
        yield listener
    finally:
        listener.pubsub.close()


def test_wait_registers_unfinished_jobs_until_their_deadline(
    client: SyncClient, keys: QueueKeys
) -> None:
    enqueue(client, keys, [new_job("j1"), new_job("j2")])
    (job,) = claim(client, keys, 1).jobs
    finish(client, keys, [outcome(job, proto.OutcomeCode.SUCCEEDED)], now=NOW + 1)

    reply = client.run(manage.wait(keys, ["j1", "j2", "nope"], ttl_ms=500, now_ms=NOW))
    assert reply.statuses == ["succeeded", "scheduled", ""]
    assert assert_invariants(client, keys, TASKS).zset(keys.done) == {"j2": NOW + 500}
    # a shorter waiter keeps the longer deadline; expired registrations are dropped
    client.run(manage.wait(keys, ["j2"], ttl_ms=100, now_ms=NOW))
    assert assert_invariants(client, keys, TASKS).zset(keys.done) == {"j2": NOW + 500}
    client.run(manage.wait(keys, [], ttl_ms=400, now_ms=NOW + 501))
    assert assert_invariants(client, keys, TASKS).zset(keys.done) == {}


def test_finish_publishes_only_waited_ids(client: SyncClient, keys: QueueKeys) -> None:
    enqueue(client, keys, [new_job("j1"), new_job("j2"), new_job("j3")])
    jobs = claim(client, keys, 3).jobs
    client.run(manage.wait(keys, ["j1", "j3"], ttl_ms=10_000, now_ms=NOW))
    with listening(client, keys) as listener:
        codes = [proto.OutcomeCode.SUCCEEDED, proto.OutcomeCode.FAILED, proto.OutcomeCode.RETRY]
        finish(client, keys, [outcome(j, c) for j, c in zip(jobs, codes, strict=True)], now=NOW + 1)
        # j3 retries: not finished, still registered
        assert listener.published() == [b"j1"]
    assert assert_invariants(client, keys, TASKS).zset(keys.done) == {"j3": NOW + 10_000}


def test_nobody_waiting_means_nothing_published(client: SyncClient, keys: QueueKeys) -> None:
    enqueue(client, keys, [new_job("j1")])
    (job,) = claim(client, keys, 1).jobs
    with listening(client, keys) as listener:
        finish(client, keys, [outcome(job, proto.OutcomeCode.SUCCEEDED)], now=NOW + 1)
        assert listener.published() == []


def test_cancel_recover_and_cancel_many_publish(client: SyncClient, keys: QueueKeys) -> None:
    enqueue(client, keys, [new_job("j1"), new_job("j2", max_attempts=1), new_job("j3")])
    claim(client, keys, 1, now=NOW)  # j1 runs
    client.run(manage.wait(keys, ["j1", "j2", "j3"], ttl_ms=10**7, now_ms=NOW))
    with listening(client, keys) as listener:
        cancel(client, keys, "j3", now=NOW + 1)
        assert listener.published() == [b"j3"]
        call = manage.cancel_many(
            keys, "t", "running", statuses=["running"], reason="stop", now_ms=NOW + 2
        )
        assert client.run(call).requested == ["j1"]
        assert listener.published() == [b"j1"]
        claim(client, keys, 1, now=NOW + 3)  # j2 runs, on its last attempt
        assert recover(client, keys, now=NOW + 10**6).failed == 1
        assert listener.published() == [b"j2"]
