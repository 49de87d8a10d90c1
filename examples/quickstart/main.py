"""rtask quickstart: tasks, enqueue (async, sync, bulk), a worker, results."""

from __future__ import annotations

import asyncio
import os

import rtask

app = rtask.App(os.environ.get("RTASK_REDIS_URL", "memory://quickstart"), prefix="example-qs")


@app.task
async def add(x: int, y: int) -> int:
    return x + y


@app.task(name="greet", max_attempts=3)
def greet(name: str) -> str:  # a sync function: runs in a thread
    return f"hello, {name}"


async def main() -> None:
    worker = app.worker(concurrency=50, handle_signals=False)
    running = asyncio.create_task(worker.run())
    try:
        job = await add.enqueue(1, 2)
        print("add(1, 2) =", await job.result(timeout=10))

        jobs = await add.enqueue_many([(n, n) for n in range(5)])
        print("doubles:", [await j.result(timeout=10) for j in jobs])

        later = await greet.options(delay=0.2, tags=["welcome"]).enqueue("Ada")
        print("greet:", await later.result(timeout=10))
        info = await later.info()
        print("status:", info.status.value, "attempt:", info.attempt, "tags:", info.tags)

        # sync producers (Django, Flask, scripts) use the same tasks
        sync_job = await asyncio.to_thread(add.enqueue_sync, 20, 22)
        print("from sync code:", await asyncio.to_thread(sync_job.result, 10))
    finally:
        worker.stop()
        await running


if __name__ == "__main__":
    asyncio.run(main())
