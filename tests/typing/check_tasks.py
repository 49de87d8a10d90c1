"""Correct uses of typed tasks: mypy --strict must accept this file.

Checked by tests/test_typing.py (not collected by pytest, never run).
"""

from __future__ import annotations

from typing import Any, assert_type

import rtask

app = rtask.App("memory://typing")


@app.task
async def add(x: int, y: int) -> int:
    return x + y


@app.task(name="typing.mul", queue="math", max_attempts=3)
def mul(x: int, y: int = 2) -> int:  # a sync task
    return x * y


@app.task(queue="text")
async def shout(text: str, *, times: int = 1) -> str:
    return text.upper() * times


@app.task
def ping() -> None:
    return None


async def producer() -> None:
    job = await add.enqueue(1, 2)
    assert_type(job, rtask.Job[int])
    assert_type(await job.result(timeout=5), int)
    assert_type(await add.enqueue(1, y=2), rtask.Job[int])

    sync_job = add.enqueue_sync(1, 2)
    assert_type(sync_job, rtask.SyncJob[int])
    assert_type(sync_job.result(), int)

    bound: rtask.BoundTask[[int, int], int] = add.options(delay=10, priority=-1, tags=["x"])
    assert_type(await bound.enqueue(1, 2), rtask.Job[int])
    assert_type(bound.enqueue_sync(1, 2), rtask.SyncJob[int])
    assert_type(await bound.options(priority=3).enqueue(5, 6), rtask.Job[int])

    as_plain: rtask.Task[[int, int], int] = mul
    assert_type(as_plain.enqueue_sync(1, 2), rtask.SyncJob[int])
    assert_type(await mul.enqueue(3), rtask.Job[int])
    assert_type(mul.enqueue_sync(3, y=4).result(), int)
    assert_type(await mul.options(delay=1).enqueue(3, 4), rtask.Job[int])

    assert_type(await (await shout.enqueue("hi", times=2)).result(), str)
    assert_type(await ping.enqueue(), rtask.Job[None])

    assert_type(await add.enqueue_many([(1, 2), (3, 4)]), list[rtask.Job[int]])
    assert_type(mul.enqueue_many_sync([(1,), {"x": 2}]), list[rtask.SyncJob[int]])


async def by_name() -> None:
    # A producer without the workers' code: an untyped handle, or an annotated one.
    remote = app.remote("workers.resize", queue="images")
    assert_type(remote, rtask.Task[..., Any])
    await remote.enqueue("a.png", width=100)
    typed: rtask.Task[[int, int], int] = app.remote("tests.add")
    assert_type(await (await typed.enqueue(1, 2)).result(), int)
