"""Blocking (sync) tasks in threads beside async ones."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time

import rtask

app = rtask.App(os.environ.get("RTASK_REDIS_URL", "memory://cpu"), prefix="example-cpu")


@app.task(name="hash_rounds", blocking=True, timeout=30)
def hash_rounds(rounds: int) -> str:
    digest = b"rtask"
    for _ in range(rounds):
        if rtask.current_job().cancelled:  # a sync task checks its flag
            raise rtask.Cancel("stopped")
        digest = hashlib.sha256(digest).digest()
    return digest.hex()[:16]


@app.task(name="ping")
async def ping() -> float:
    return time.monotonic()


async def main() -> None:
    worker = app.worker(concurrency=8, threads=2, handle_signals=False)
    running = asyncio.create_task(worker.run())
    try:
        heavy = await hash_rounds.enqueue_many([(1_500_000,)] * 2)
        light = await ping.enqueue()
        await light.result(timeout=10)
        digests = [await j.result(timeout=30) for j in heavy]
        pinged = (await light.info()).finished_at
        hashed = [(await j.info()).finished_at for j in heavy]
        print("digests:", digests)
        first_hash_done = min(t for t in hashed if t is not None)
        print(
            "the async task finished while the blocking ones ran:",
            pinged is not None and pinged < first_hash_done,
        )
    finally:
        worker.stop()
        await running


if __name__ == "__main__":
    asyncio.run(main())
