"""Wrong uses of typed tasks: each line marked `# E: <code>` must be a mypy
error with that code, and no other line may be one.

Checked by tests/test_typing.py (not collected by pytest, never run).
"""

from __future__ import annotations

import rtask

app = rtask.App("memory://typing-bad")


@app.task
async def add(x: int, y: int) -> int:
    return x + y


@app.task(queue="math")
def mul(x: int, y: int) -> int:  # a sync task
    return x * y


async def async_task_misuse() -> None:
    await add.enqueue("x", 2)  # E: arg-type
    await add.enqueue(1)  # E: call-arg
    await add.enqueue(1, 2, 3)  # E: call-arg
    await add.enqueue(1, z=2)  # E: call-arg
    job = await add.enqueue(1, 2)
    text: str = await job.result()  # E: assignment
    print(text)
    add.enqueue_sync(1, "y")  # E: arg-type
    sync_text: str = add.enqueue_sync(1, 2).result()  # E: assignment
    print(sync_text)
    await add.options(delay=1).enqueue("x", 2)  # E: arg-type
    bound_text: str = await (await add.options(tags=["t"]).enqueue(1, 2)).result()  # E: assignment
    print(bound_text)
    add.options(delay="soon")  # E: arg-type


async def sync_task_misuse() -> None:
    await mul.enqueue(1.5, 2)  # E: arg-type
    mul.enqueue_sync("x", 2)  # E: arg-type
    text: str = mul.enqueue_sync(1, 2).result()  # E: assignment
    print(text)
    other: str = await (await mul.enqueue(1, 2)).result()  # E: assignment
    print(other)
    mul.options(priority=1).enqueue_sync(1, y="2")  # E: arg-type


async def handle_misuse() -> None:
    typed: rtask.Task[[int, int], int] = app.remote("tests.add")
    await typed.enqueue("x", 2)  # E: arg-type
    job: rtask.Job[str] = await typed.enqueue(1, 2)  # E: assignment
    print(job)
