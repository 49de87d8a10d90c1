"""Graceful shutdown (SIGTERM): running jobs finish within the grace period,
or are handed back without using an attempt; nothing new is claimed."""

from __future__ import annotations

import signal
import time

from rtask import JobStatus
from tests.faults._harness import Harness


def test_sigterm_lets_running_jobs_finish_within_grace(harness: Harness) -> None:
    h = harness
    jobs = h.app.tasks["sleepy"].enqueue_many_sync([(1.0,)] * 8)
    worker = h.worker("--concurrency", "5", "--grace", "20", "--lease", "10")
    h.wait(lambda: h.ran_count() == 5, 15, "5 jobs to start")

    worker.send(signal.SIGTERM)
    assert worker.wait_exit(15) == 0

    started = {r.job_id for r in h.ran()}
    assert len(started) == 5
    for info in h.infos(jobs):
        if info.id in started:  # ran to the end within the grace period
            assert (info.status, info.attempt, info.errors) == (JobStatus.SUCCEEDED, 1, [])
        else:  # not claimed after SIGTERM
            assert (info.status, info.attempt, info.errors) == (JobStatus.QUEUED, 0, [])
    assert h.running_count() == 0
    assert h.ran_count() == 5


def test_sigterm_hands_jobs_back_after_short_grace(harness: Harness) -> None:
    h = harness
    # Async jobs are cancelled; sync jobs run in threads that ignore the flag.
    jobs = [
        *h.app.tasks["sleepy"].enqueue_many_sync([(30.0,)] * 2),
        *h.app.tasks["sleepy_sync"].enqueue_many_sync([(30.0,)] * 2),
    ]
    worker = h.worker("--concurrency", "10", "--grace", "0.3", "--lease", "10")
    h.wait(lambda: h.ran_count() == 4, 15, "4 jobs to start")

    sent = time.monotonic()
    worker.send(signal.SIGTERM)
    code = worker.wait_exit(10)
    elapsed = time.monotonic() - sent
    print(f"\nexit {code} {elapsed:.2f}s after SIGTERM (grace 0.3 s, jobs sleep 30 s)")
    assert code == 0
    assert elapsed < 5  # far less than the jobs' 30 s: they were not waited for

    # Handed back: waiting again, attempt given back, no error recorded.
    for info in h.infos(jobs):
        assert (info.status, info.attempt, info.errors) == (JobStatus.QUEUED, 0, []), info
    assert h.running_count() == 0
    assert h.r.hget(h.keys.active, "sleepy") in (None, b"0")
    assert h.r.hget(h.keys.active, "sleepy_sync") in (None, b"0")

    # Another worker runs them to success, as first attempts.
    h.r.set(h.key("sleep_override"), "0.01")
    h.worker("--concurrency", "10", "--lease", "10")
    h.wait(lambda: h.finished_count() == len(jobs), 20, "the handed-back jobs to finish")
    for info in h.infos(jobs):
        assert (info.status, info.attempt, info.errors) == (JobStatus.SUCCEEDED, 1, []), info
    assert sorted(r.attempt for r in h.ran()) == [1] * 8  # each job started twice, as attempt 1
