"""What the worker builds per job: claimed jobs from a claim reply, argument
decoding, succeeded outcomes; the fast builders equal the plain constructors."""

from __future__ import annotations

import asyncio

import orjson

from rtask._codec import JsonCodec, MsgpackCodec, decode, decode_args, encode, encode_args
from rtask._protocol import (
    ClaimedJob,
    Outcome,
    OutcomeCode,
    _claim_decoder,
    succeeded,
)
from rtask._worker._config import SHORT_JOB_S, WorkerConfig
from rtask._worker._worker import _create_task


def test_claim_reply_jobs_equal_plain_claimed_jobs_and_read_their_state() -> None:
    states = [
        {"t": "add", "c": 7, "a": 1, "m": 3, "to": 2500, "tg": ["x"]},
        {"t": "noop", "c": "12", "a": "2", "m": 5},  # no timeout: 0
    ]
    reply: list[object] = [1000, -1]
    for i, state in enumerate(states):
        reply += [f"j{i}".encode(), orjson.dumps(state), b"payload"]

    decoded = _claim_decoder("q")(reply)

    assert decoded.now_ms == 1000 and decoded.next_due_ms is None
    plain = [ClaimedJob(f"j{i}", "q", s, b"payload") for i, s in enumerate(states)]
    assert decoded.jobs == plain
    assert [repr(j) for j in decoded.jobs] == [repr(j) for j in plain]
    for job in [*decoded.jobs, *plain]:
        assert type(job.token) is str and type(job.attempt) is int
    first, second = decoded.jobs
    assert (first.task, first.token, first.attempt, first.max_attempts, first.timeout_ms) == (
        "add",
        "7",
        1,
        3,
        2500,
    )
    assert (second.task, second.token, second.attempt, second.max_attempts, second.timeout_ms) == (
        "noop",
        "12",
        2,
        5,
        0,
    )


def test_decode_args_equals_decode_and_gives_fresh_values() -> None:
    for codec in (MsgpackCodec(), JsonCodec()):
        for args, kwargs in (((), {}), ((1, "a"), {}), ((), {"k": [1]})):
            payload = encode_args(codec, args, kwargs)
            assert decode_args(payload) == decode(payload) == [list(args), kwargs]
        empty = encode_args(codec, (), {})
        first = decode_args(empty)
        first[0].append(1)
        first[1]["k"] = 2
        assert decode_args(empty) == [[], {}]  # a change to one is not seen by the next
    assert decode_args(encode(MsgpackCodec(), [[], {}, 1])) == [[], {}, 1]


def test_succeeded_equals_the_plain_outcome() -> None:
    fast = succeeded("j1", "9", b"mresult")
    plain = Outcome("j1", "9", OutcomeCode.SUCCEEDED, 0, b"mresult")
    assert fast == plain and repr(fast) == repr(plain)
    assert (fast.delay_ms, fast.next) == (0, None)


def test_job_tasks_are_the_tasks_create_task_makes() -> None:
    async def job() -> str:
        return "done"

    async def main() -> None:
        loop = asyncio.get_running_loop()
        plain = _create_task(loop, job())
        assert isinstance(plain, asyncio.Task) and await plain == "done"
        made: list[asyncio.Task[object]] = []

        def factory(loop: asyncio.AbstractEventLoop, coro: object) -> asyncio.Task[object]:
            task = asyncio.Task(coro, loop=loop)  # type: ignore[arg-type]
            made.append(task)
            return task

        loop.set_task_factory(factory)  # type: ignore[arg-type]
        try:
            task = _create_task(loop, job())
        finally:
            loop.set_task_factory(None)
        assert made == [task] and await task == "done"

    asyncio.run(main())


def test_prefetch_for() -> None:
    auto = WorkerConfig(concurrency=10)
    assert auto.prefetch_for(SHORT_JOB_S / 2) == 20
    assert auto.prefetch_for(SHORT_JOB_S) == 5
    assert WorkerConfig(concurrency=10, prefetch=3).prefetch_for(0.0) == 3
    assert WorkerConfig(concurrency=10, prefetch=0).prefetch_for(10.0) == 0
