"""Schedules across worker processes: every tick fires once with three
workers, a SIGKILL neither loses nor doubles a tick, and a fleet stopped for
several ticks follows the missed-time policy when it comes back."""

from __future__ import annotations

import itertools
import json
import signal
import statistics
import time
from typing import Any

import pytest

from rtask import JobNotFound, JobStatus
from tests.faults._harness import Harness, run_counts

pytestmark = pytest.mark.timeout(90)

TICK_MS = 1000


def declare(h: Harness, *schedules: dict[str, Any]) -> None:
    h.extra_env["RTASK_TEST_SCHEDULES"] = json.dumps(list(schedules))


def spans(h: Harness) -> dict[str, tuple[int, int]]:
    """job id -> (start ms, end ms) of its last completed run."""
    out = {}
    for raw in h.r.lrange(h.key("spans"), 0, -1):
        job_id, start, end = raw.decode().split()
        out[job_id] = (int(start), int(end))
    return out


def tick_of(job_id: str) -> int:
    return int(job_id.rsplit(":", 1)[1])


def ticks_of(h: Harness, sid: str) -> list[int]:
    return sorted(tick_of(j) for j in spans(h) if j.startswith(sid + ":"))


def stopped(h: Harness, sid: str) -> bool:
    try:
        return h.app.get_schedule_sync(sid, "default").stopped
    except Exception:  # not stored yet: the workers are starting
        return False


def assert_consecutive(ticks: list[int]) -> None:
    assert ticks, "no tick ran"
    assert all(b - a == TICK_MS for a, b in itertools.pairwise(ticks)), ticks


def test_three_workers_fire_every_tick_exactly_once(harness: Harness) -> None:
    h = harness
    end = time.time() + 9.5
    declare(h, {"id": "beat", "every": 1, "args": [0.05], "end": end})
    for _ in range(3):
        h.worker("--concurrency", "5")
    h.wait(lambda: stopped(h, "beat"), 30, "the schedule to reach its end")

    ticks = ticks_of(h, "beat")
    assert_consecutive(ticks)
    # ticks before the workers were up are skipped (missed="skip"): on a loaded
    # machine starting three worker processes takes seconds, so ask for 4
    assert len(ticks) >= 4 and ticks[-1] < end * 1000 <= ticks[-1] + TICK_MS
    runs = [r for r in h.ran() if r.task == "ticker"]
    assert sorted(run_counts(runs).values()) == [1] * len(ticks)  # none ran twice
    assert len({r.pid for r in runs}) >= 1
    for job_id in spans(h):
        assert h.app.job_sync(job_id).info().status is JobStatus.SUCCEEDED
    late = sorted(start - tick_of(j) for j, (start, _) in spans(h).items())
    assert min(late) >= 0  # never early
    p50 = statistics.median(late)
    p99 = late[min(len(late) - 1, int(len(late) * 0.99))]
    print(f"\ntick lateness over {len(late)} ticks: p50 {p50} ms, p99 {p99} ms")


def test_sigkill_of_the_worker_running_a_tick_loses_and_doubles_nothing(
    harness: Harness,
) -> None:
    h = harness
    end = time.time() + 9.5
    declare(h, {"id": "beat", "every": 1, "args": [0.6], "end": end, "missed": "create"})
    workers = [h.worker("--concurrency", "5", "--lease", "1") for _ in range(3)]

    # kill the worker that is running the second tick, mid-run
    def running_second() -> Any:
        runs = [r for r in h.ran() if r.task == "ticker"]
        return runs[1] if len(runs) >= 2 else None

    victim_run = h.wait(running_second, 20, "the second tick to start", interval=0.005)
    (victim,) = [w for w in workers if w.pid == victim_run.pid]
    victim.send(signal.SIGKILL)
    assert victim.wait_exit(5) == -signal.SIGKILL
    # (on a loaded machine the 0.6 s run may have ended before the kill landed)
    mid_run = victim_run.job_id not in spans(h)
    h.wait(lambda: stopped(h, "beat"), 40, "the schedule to reach its end")

    ticks = ticks_of(h, "beat")
    assert_consecutive(ticks)  # no tick missed (create back-fills)
    assert ticks[-1] < end * 1000 <= ticks[-1] + TICK_MS
    counts = run_counts([r for r in h.ran() if r.task == "ticker"])
    # one job per tick; only the killed run ran again, as attempt 2
    assert len(counts) == len(ticks)
    again = 1 if mid_run else 0
    assert counts[victim_run.job_id] == 1 + again
    assert sum(counts.values()) == len(ticks) + again
    info = h.app.job_sync(victim_run.job_id).info()
    assert (info.status, info.attempt, [e["type"] for e in info.errors]) == (
        JobStatus.SUCCEEDED,
        1 + again,
        ["lost"] * again,
    )
    print(f"\nkilled mid-run: {mid_run}; ticks: {len(ticks)}, runs: {sum(counts.values())}")
    # one job at a time: runs never overlap
    ordered = sorted(spans(h).values())
    assert all(b[0] >= a[1] for a, b in itertools.pairwise(ordered))


def test_fleet_down_for_several_ticks_then_back(harness: Harness) -> None:
    h = harness
    declare(
        h,
        {"id": "skip", "every": 1, "args": [0.01]},
        {"id": "create", "every": 1, "args": [0.01], "missed": "create"},
    )
    first = [h.worker("--concurrency", "5") for _ in range(2)]
    h.wait(lambda: len(ticks_of(h, "create")) >= 2, 20, "two ticks before the stop")
    for w in first:
        w.send(signal.SIGTERM)
    for w in first:
        assert w.wait_exit(10) == 0
    down_at = time.time() * 1000
    skip_before = ticks_of(h, "skip")
    create_before = ticks_of(h, "create")
    # four ticks pass with no worker at all (waiting for time itself)
    h.wait(lambda: time.time() * 1000 > down_at + 4.2 * TICK_MS, 10, "four ticks")
    back_at = time.time() * 1000
    for _ in range(2):
        h.worker("--concurrency", "5")
    h.wait(
        lambda: any(t > back_at for t in ticks_of(h, "create")),
        30,
        "create to catch up past the restart",
    )
    h.wait(lambda: any(t > back_at for t in ticks_of(h, "skip")), 30, "skip to fire again")

    create = ticks_of(h, "create")
    assert_consecutive(create)  # every missed tick ran, in order
    missed_by_create = [t for t in create if down_at < t < back_at]
    assert len(missed_by_create) >= 3

    skip = ticks_of(h, "skip")
    after = [t for t in skip if t not in skip_before]
    # skip: nothing for the ticks of the outage; the next tick after the restart
    assert after and after[0] > back_at - TICK_MS
    assert not [t for t in after if t < back_at - TICK_MS]
    # the job made before the outage was dropped as missed; the ticks of the
    # outage never got a job
    stale = h.app.job_sync(f"skip:{skip_before[-1] + TICK_MS}").info()
    assert stale.status is JobStatus.CANCELLED
    assert stale.errors[-1]["type"] == "missed"
    for t in range(skip_before[-1] + 2 * TICK_MS, after[0], TICK_MS):
        with pytest.raises(JobNotFound):
            h.app.job_sync(f"skip:{t}")
    assert create_before == create[: len(create_before)]
