"""Retries, snooze, abort and the failed (dead-letter) jobs."""

from __future__ import annotations

import asyncio
import os

import rtask
from rtask import backoff

app = rtask.App(os.environ.get("RTASK_REDIS_URL", "memory://retries"), prefix="example-retries")
calls: dict[str, int] = {}


def count(name: str) -> int:
    calls[name] = calls.get(name, 0) + 1
    return calls[name]


@app.task(name="flaky", max_attempts=5, backoff=backoff.constant(0.05))
async def flaky() -> str:
    if count("flaky") < 3:
        raise ConnectionError("upstream not ready")  # retried after the backoff
    return "ok on attempt 3"


@app.task(name="patient")
async def patient() -> str:
    if count("patient") == 1:
        raise rtask.Snooze(0.05)  # later, without using an attempt
    return f"attempt {rtask.current_job().attempt} after a snooze"


@app.task(name="hopeless", max_attempts=5)
async def hopeless() -> None:
    raise rtask.Abort("the input can never work")  # failed now, no retries


@app.task(name="doomed", max_attempts=3, backoff=0)
async def doomed() -> None:
    raise ValueError(f"failure number {count('doomed')}")


async def main() -> None:
    worker = app.worker(concurrency=10, handle_signals=False)
    running = asyncio.create_task(worker.run())
    try:
        print("flaky:", await (await flaky.enqueue()).result(timeout=10))
        print("patient:", await (await patient.enqueue()).result(timeout=10))
        for task in (hopeless, doomed):
            job = await task.enqueue()
            try:
                await job.result(timeout=10)
            except rtask.JobFailed as exc:
                info = await job.info()
                print(f"{task.name}: {exc.status} after {info.attempt} attempt(s)")
                for error in info.errors:
                    print(f"  attempt {error['attempt']}: {error['type']}: {error['message']}")
        (stats,) = await app.stats(["default"])
        print("dead letter (failed jobs kept):", stats.failed)
    finally:
        worker.stop()
        await running


if __name__ == "__main__":
    asyncio.run(main())
