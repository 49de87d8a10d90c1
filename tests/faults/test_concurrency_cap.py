"""A task's concurrency cap holds across worker processes, without head-of-line blocking."""

from __future__ import annotations

import signal

from rtask import JobStatus
from tests.faults._harness import Harness
from tests.faults.apps import CAP

CAPPED_JOBS = 60
FREE_JOBS = 10


def test_cap_holds_across_two_processes_and_free_task_is_not_blocked(harness: Harness) -> None:
    h = harness
    # Each process holds at most 2 jobs (no prefetch), so reaching the cap of 3
    # takes both processes running capped jobs at the same time.
    workers = [h.worker("--concurrency", "2", "--prefetch", "0", "--lease", "10") for _ in range(2)]
    # Both processes are up before the jobs arrive, so both take part.
    for w in workers:
        h.wait(lambda w=w: "serving default" in w.output(), 20, f"{w!r} to start")
    capped = h.app.tasks["capped"].enqueue_many_sync([(0.05,)] * CAPPED_JOBS)
    free = h.app.tasks["free"].enqueue_many_sync([()] * FREE_JOBS)

    h.wait(lambda: h.finished_count() == CAPPED_JOBS + FREE_JOBS, 30, "every job to finish")

    infos = h.infos(capped + free)
    assert [i.status for i in infos] == [JobStatus.SUCCEEDED] * (CAPPED_JOBS + FREE_JOBS)
    assert all(i.attempt == 1 and i.errors == [] for i in infos)

    # The cap is cluster-wide: never more than CAP runs at once across both
    # processes, and the cap was reached (which needs both of them).
    assert h.r.zscore(h.key("max"), "capped") == CAP
    assert int(h.r.get(h.key("running"))) == 0

    # Both processes ran capped jobs: the cap held across processes.
    runs = h.ran()
    assert len(runs) == CAPPED_JOBS + FREE_JOBS  # each job ran once
    assert {r.pid for r in runs if r.task == "capped"} == {w.pid for w in workers}

    # No head-of-line blocking: the free jobs, enqueued behind 60 capped ones in
    # the same queue, all finished while most capped jobs were still waiting.
    done = [d.decode() for d in h.r.lrange(h.key("done"), 0, -1)]
    last_free = max(i for i, task in enumerate(done) if task == "free")
    capped_before = done[:last_free].count("capped")
    print(f"capped jobs finished before the last free job: {capped_before}/{CAPPED_JOBS}")
    assert capped_before < CAPPED_JOBS // 2

    for w in workers:
        w.send(signal.SIGTERM)
    assert [w.wait_exit(15) for w in workers] == [0, 0]
