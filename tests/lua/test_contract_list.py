"""list.lua: pages of one set in its order, filtered, continued after the key
(score, id) of the last job examined — stable under ties and removals (the
`pagination_and_ordering` case of Ora's backend tests, on rtask's sets)."""

from __future__ import annotations

from rtask import _protocol as proto
from rtask import _protocol_manage as manage
from rtask._client import SyncClient
from rtask._keys import QueueKeys
from tests.lua._state import NOW, assert_invariants, claim, enqueue, finish, new_job, outcome

TASKS = ("t", "u")


def pages(
    client: SyncClient,
    keys: QueueKeys,
    set_key: str,
    *,
    size: int,
    descending: bool = False,
    statuses: tuple[str, ...] = ("scheduled",),
    tags: tuple[str, ...] = (),
    tasks: tuple[str, ...] | None = None,
    budget: int = 1000,
    between: object = None,
) -> list[list[str]]:
    out: list[list[str]] = []
    after: tuple[str, str] | None = None
    while True:
        call = manage.list_page(
            keys,
            set_key,
            descending=descending,
            after=after,
            size=size,
            budget=budget,
            tasks=tasks,
            statuses=statuses,
            tags=tags,
            now_ms=NOW,
        )
        reply = client.run(call)
        out.append([i for i, _ in reply.jobs])
        if callable(between):
            between(reply)
        if reply.exhausted:
            return out
        after = (reply.last_score, reply.last_id)


def test_ties_page_in_id_order_both_ways(client: SyncClient, keys: QueueKeys) -> None:
    # ten jobs due at the same time: one score, ordered by id
    enqueue(client, keys, [new_job(f"j{k}", delay_ms=5000) for k in range(10)])
    enqueue(client, keys, [new_job("a", delay_ms=4000), new_job("z", delay_ms=6000)])
    asc = pages(client, keys, keys.scheduled("t"), size=4)
    assert [i for page in asc for i in page] == ["a", *[f"j{k}" for k in range(10)], "z"]
    assert [len(p) for p in asc] == [4, 4, 4, 0]
    desc = pages(client, keys, keys.scheduled("t"), size=5, descending=True)
    assert [i for page in desc for i in page] == ["z", *[f"j{k}" for k in range(9, -1, -1)], "a"]


def test_a_page_continues_after_its_last_job_left_the_set(
    client: SyncClient, keys: QueueKeys
) -> None:
    enqueue(client, keys, [new_job(f"j{k}", delay_ms=5000) for k in range(6)])

    def drop_last_read(reply: manage.ListReply) -> None:
        # the job the next page continues after leaves the set
        client.redis.zrem(keys.scheduled("t"), reply.last_id)
        client.redis.hdel(keys.jobs, reply.last_id, reply.last_id + ":p")
        client.redis.zrem(keys.created, reply.last_id)
        assert_invariants(client, keys, TASKS)

    got = pages(client, keys, keys.scheduled("t"), size=2, between=drop_last_read)
    assert got == [["j0", "j1"], ["j2", "j3"], ["j4", "j5"], []]


def test_filters_by_status_tags_and_task(client: SyncClient, keys: QueueKeys) -> None:
    enqueue(
        client,
        keys,
        [new_job("j1", tags=["x"]), new_job("j2"), new_job("j3", tags=["x", "y"])],
    )
    enqueue(client, keys, [new_job("k1", "u", tags=["x"])])
    a, b = claim(client, keys, 2).jobs  # j1, j2
    finish(client, keys, [outcome(a, proto.OutcomeCode.SUCCEEDED)], now=NOW + 1)
    finish(client, keys, [outcome(b, proto.OutcomeCode.SUCCEEDED)], now=NOW + 1)
    claim(client, keys, 1, tasks=[("u", 0)])

    got = pages(client, keys, keys.succeeded, size=10, statuses=("succeeded",), tags=("x",))
    assert got == [["j1"]]
    got = pages(client, keys, keys.running, size=10, statuses=("running",), tasks=("t",))
    assert got == [[]]
    got = pages(client, keys, keys.ready("t"), size=10, statuses=("queued",), tags=("x", "y"))
    assert got == [["j3"]]


def test_budget_bounds_the_work_and_the_key_resumes(client: SyncClient, keys: QueueKeys) -> None:
    enqueue(
        client, keys, [new_job(f"j{k:02d}", tags=["x"] if k % 5 == 4 else []) for k in range(20)]
    )
    got = pages(client, keys, keys.ready("t"), size=10, statuses=("queued",), tags=("x",), budget=3)
    assert [i for page in got for i in page] == ["j04", "j09", "j14", "j19"]
    assert len(got) >= 7  # 20 members, 3 examined per call


def test_time_ranges_include_the_start_and_exclude_the_end(
    client: SyncClient, keys: QueueKeys
) -> None:
    for k in range(5):
        enqueue(client, keys, [new_job(f"j{k}", delay_ms=10_000)], now=NOW + 100 * k)

    def ids(ranges: dict[str, tuple[int, int]]) -> list[str]:
        call = manage.list_page(
            keys,
            keys.scheduled("t"),
            descending=False,
            after=None,
            size=10,
            budget=100,
            tasks=None,
            statuses=["scheduled"],
            tags=[],
            ranges=ranges,
            now_ms=NOW,
        )
        return [i for i, _ in client.run(call).jobs]

    assert ids({"c": (NOW + 100, NOW + 300)}) == ["j1", "j2"]
    assert ids({"c": (NOW + 200, 0)}) == ["j2", "j3", "j4"]
    assert ids({"d": (0, NOW + 10_100)}) == ["j0"]
    assert ids({"f": (0, 0)}) == []  # never finished: outside any finished range
