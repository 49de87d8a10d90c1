"""Operator views on a Redis Cluster: one stats/workers call per queue, each on its node."""

from __future__ import annotations

from collections.abc import Callable

import pytest

import rtask
from tests.cluster.test_end_to_end import app_on_three_nodes
from tests.integration._helpers import close, run, worker

pytestmark = pytest.mark.timeout(60)


def test_stats_workers_and_job_lookup_across_nodes(
    cluster_url: str, spread_queues: Callable[[], list[str]]
) -> None:
    queues = spread_queues()

    async def body() -> None:
        app, tasks = app_on_three_nodes(cluster_url, queues)
        try:
            jobs = {
                q: await tasks[q].enqueue_many([(n,) for n in range(q_i + 1)])
                for q_i, q in enumerate(queues)
            }
            stats = {s.queue: s for s in await app.stats()}
            assert {q: stats[q].queued for q in queues} == {q: i + 1 for i, q in enumerate(queues)}
            assert stats["default"].queued == 0

            w = worker(app, queues=queues)
            await w.run(burst=True)

            synced = {s.queue: s for s in app.stats_sync(queues)}
            assert {q: synced[q].succeeded for q in queues} == {
                q: i + 1 for i, q in enumerate(queues)
            }
            # registered only if a heartbeat came before the burst ended
            assert {x.id for x in app.workers_sync(queues)} <= {w.id}
            last = jobs[queues[2]][-1]
            found = await app.job(last.id, queue=queues[2])
            assert (await found.info()).status is rtask.JobStatus.SUCCEEDED
        finally:
            await close(app)

    run(body)
