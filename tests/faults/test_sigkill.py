"""SIGKILL a worker mid-batch: nothing is lost; only the jobs it held run again."""

from __future__ import annotations

import signal

from rtask import JobStatus
from tests.faults._harness import Harness, run_counts

JOBS = 200
CONCURRENCY = 20
PREFETCH = 10


def test_sigkill_mid_batch_loses_nothing(harness: Harness) -> None:
    h = harness
    jobs = h.app.tasks["sleepy"].enqueue_many_sync([(0.02,)] * JOBS)
    # A short lease, so the killed worker's jobs are recovered about 1 s later.
    victim = h.worker(
        "--concurrency", str(CONCURRENCY), "--prefetch", str(PREFETCH), "--lease", "1"
    )

    h.wait(lambda: h.ran_count() >= 30, 15, "the first worker to start 30 jobs", interval=0.005)
    victim.send(signal.SIGKILL)
    assert victim.wait_exit(5) == -signal.SIGKILL

    # Nobody else runs yet: what is in `running` is what the dead worker held,
    # executing or prefetched (claimed ahead of a free slot).
    in_flight = h.running_count()
    started_before_kill = h.ran_count()
    print(f"\nkilled after {started_before_kill} starts; {in_flight} jobs held")
    assert 0 < in_flight <= CONCURRENCY + PREFETCH
    assert h.finished_count() < JOBS  # killed mid-batch

    h.worker("--concurrency", str(CONCURRENCY), "--lease", "10")
    h.wait(lambda: h.finished_count() == JOBS, 30, "every job to finish")

    infos = h.infos(jobs)
    assert [i.status for i in infos] == [JobStatus.SUCCEEDED] * JOBS  # none lost

    lost = [i for i in infos if i.errors]
    # exactly the jobs the dead worker held; a prefetched one that never ran
    # counts its attempt too (recovery cannot tell it from one that ran)
    assert len(lost) == in_flight
    for info in lost:
        assert info.attempt == 2
        assert [e["type"] for e in info.errors] == ["lost"]
        assert info.errors[0]["attempt"] == 1
        assert info.errors[0]["worker"].split(":")[1] == str(victim.pid)
    assert all(i.attempt == 1 for i in infos if not i.errors)

    runs = h.ran()
    counts = run_counts(runs)
    assert set(counts) == {j.id for j in jobs}
    ran_twice = sorted(job_id for job_id, n in counts.items() if n > 1)
    print(f"ran twice: {len(ran_twice)} (in flight at kill: {in_flight})")
    assert max(counts.values()) <= 2
    assert len(runs) == JOBS + len(ran_twice)
    # Only a job the dead worker held may have run twice.
    assert set(ran_twice) <= {i.id for i in lost}
    # Only jobs the dead worker held run twice: executing ones, and finished
    # ones whose outcome had not reached Redis yet (a prefetched job may have
    # started in a slot such a job freed).
    assert len(ran_twice) <= in_flight
