"""run(burst=True) returns once nothing is due, whatever queues it serves."""

from __future__ import annotations

import rtask
from tests.integration._helpers import close, run, worker


def test_burst_returns_with_a_queue_that_has_no_task(backend_url: str, prefix: str) -> None:
    async def body() -> None:
        app = rtask.App(backend_url, prefix=prefix)

        @app.task(queue="busy")
        async def work(n: int) -> int:
            return n

        try:
            job = await work.enqueue(7)
            # "idle" has no task registered and none was ever enqueued on it
            await worker(app, queues=["idle", "busy"]).run(burst=True)
            assert (await job.info()).result == 7
        finally:
            await close(app)

    run(body)
