"""A task's rate limit holds across worker processes and uses no attempts."""

from __future__ import annotations

import signal

from rtask import JobStatus
from tests.faults._harness import Harness
from tests.faults.apps import RATE

JOBS = 30


def test_rate_limit_holds_across_two_processes(harness: Harness) -> None:
    h = harness
    limit, period_s = RATE
    period_ms = int(period_s * 1000)
    # Two slots per process, no prefetch: each window's starts are shared
    # by both processes.
    workers = [h.worker("--concurrency", "2", "--prefetch", "0", "--lease", "10") for _ in range(2)]
    for w in workers:
        h.wait(lambda w=w: "serving default" in w.output(), 20, f"{w!r} to start")
    calls_before = _script_calls(h)
    jobs = h.app.tasks["limited"].enqueue_many_sync([()] * JOBS)
    free = h.app.tasks["free"].enqueue_many_sync([()] * 5)

    h.wait(lambda: h.finished_count() == JOBS + 5, 60, "every job to finish")
    script_calls = _script_calls(h) - calls_before

    infos = h.infos(jobs)
    assert [i.status for i in infos] == [JobStatus.SUCCEEDED] * JOBS
    # Held back jobs were never claimed: every job ran once, on attempt 1.
    assert all(i.attempt == 1 and i.errors == [] for i in infos)
    runs = [r for r in h.ran() if r.task == "limited"]
    assert len(runs) == JOBS
    assert {r.pid for r in runs} == {w.pid for w in workers}

    # At most `limit` starts in any window of `period` (claim times on the
    # Redis clock): start i and start i + limit are at least a period apart.
    starts = sorted(int(i.started_at.timestamp() * 1000) for i in infos if i.started_at)
    assert len(starts) == JOBS
    gaps = [starts[k + limit] - starts[k] for k in range(JOBS - limit)]
    assert min(gaps) >= period_ms, gaps

    # No busy-polling: a held-back worker sleeps until claim.lua says the
    # window has room (about 3 script calls per job here, heartbeats and
    # sweeps included; a claim loop would make thousands).
    assert script_calls < 20 * JOBS, script_calls

    # The free task of the same queue was not held back by the limited one.
    assert all(i.status is JobStatus.SUCCEEDED for i in h.infos(free))

    span_s = (starts[-1] - starts[0]) / 1000
    rate = (JOBS - limit) / span_s
    print(
        f"rate limit {limit}/{period_s}s = {limit / period_s:.1f}/s; measured after the first"
        f" burst: {rate:.2f}/s over {span_s:.2f}s; smallest {limit}-start gap {min(gaps)} ms;"
        f" {script_calls} script calls in all"
    )

    for w in workers:
        w.send(signal.SIGTERM)
    assert [w.wait_exit(15) for w in workers] == [0, 0]


def _script_calls(h: Harness) -> int:
    stats = h.r.info("commandstats")
    return sum(
        int(v["calls"]) for k, v in stats.items() if k in ("cmdstat_evalsha", "cmdstat_eval")
    )
