"""`rtask worker --processes N`: the supervisor runs N children, replaces one
that dies, forwards SIGTERM, and does not restart a child with a config error."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from rtask import JobStatus
from tests.faults._harness import (
    APP_SPEC,
    REPO,
    Harness,
    children_of,
    group_members,
    wait_until,
)

CONFIG_ERROR = 2
SLOW_SUPERVISOR = "tests.faults.slow_supervisor"


def _both_children_run_jobs(h: Harness, name: str) -> set[int]:
    """Enqueue 2 barrier jobs that each wait for the other; with --concurrency 1
    per child they can only complete if both children run one. Their pids."""
    jobs = h.app.tasks["barrier"].enqueue_many_sync([(2, name)] * 2)
    h.wait(
        lambda: all(i.status is JobStatus.SUCCEEDED for i in h.infos(jobs)),
        20,
        f"both barrier jobs {name!r} to succeed",
    )
    return {i.result for i in h.infos(jobs)}


def test_supervisor_replaces_a_killed_child_and_stops_on_sigterm(harness: Harness) -> None:
    h = harness
    sup = h.worker("--processes", "2", "--concurrency", "1", "--lease", "2", "--grace", "5")

    first = h.wait(lambda: len(c := children_of(sup.pid)) == 2 and c, 20, "2 worker children")
    # Each child registers in the workers zset with its first heartbeat.
    h.wait(lambda: first <= h.worker_pids(), 20, "both children to heartbeat")
    assert _both_children_run_jobs(h, "before") == first

    victim = min(first)
    survivor = max(first)
    h.r.delete(h.keys.workers)  # so only heartbeats from now on count
    os.kill(victim, signal.SIGKILL)
    second = h.wait(
        lambda: len(c := children_of(sup.pid)) == 2 and victim not in c and c,
        20,
        "a replacement child",
    )
    assert survivor in second
    (replacement,) = second - {survivor}
    h.wait(lambda: replacement in h.worker_pids(), 20, "the replacement to heartbeat")
    assert _both_children_run_jobs(h, "after") == {survivor, replacement}
    assert sup.alive

    sup.send(signal.SIGTERM)
    assert sup.wait_exit(15) == 0
    assert not group_members(sup.pid)  # the children exited before the supervisor
    out = sup.output()
    assert f"worker process {victim} exited with -9; restarting" in out
    assert out.count("restarting") == 1


def test_sigterm_during_restart_backoff_stops_everything(harness: Harness) -> None:
    """SIGTERM right after a child died, while the supervisor waits before
    restarting it: no new child may be started, and the supervisor exits."""
    h = harness
    sup = h.worker("--processes", "2", "--concurrency", "1", "--lease", "2", "--grace", "5")
    first = h.wait(lambda: len(c := children_of(sup.pid)) == 2 and c, 20, "2 worker children")
    h.wait(lambda: first <= h.worker_pids(), 20, "both children to heartbeat")

    victim = min(first)
    os.kill(victim, signal.SIGKILL)
    # The supervisor logs the death, then backs off 0.1 s before restarting.
    wait_until(
        lambda: f"worker process {victim} exited" in sup.output(),
        10,
        "the supervisor to notice the death",
        interval=0.001,
    )
    sup.send(signal.SIGTERM)
    assert sup.wait_exit(15) == 0
    assert not group_members(sup.pid)  # no child started after SIGTERM is left running


def test_config_error_exits_2_without_restart_loop(harness: Harness) -> None:
    h = harness
    sup = h.worker("--processes", "2", "--queues", "bad queue!")
    assert sup.wait_exit(20) == CONFIG_ERROR
    out = sup.output()
    messages = [line for line in out.splitlines() if line.startswith("rtask worker: ")]
    assert messages, out
    assert all("invalid queue name 'bad queue!'" in m for m in messages), out
    assert 1 <= len(messages) <= 2, out  # one per child at most: never restarted
    assert "restarting" not in out


def test_config_error_exits_2_when_children_exit_together(harness: Harness) -> None:
    """A supervisor slow to react (busy machine): by the time it handles the
    first child's exit, the second child has exited too. Still exit code 2,
    no traceback."""
    h = harness
    sup = h.worker("--processes", "2", "--queues", "bad queue!", module=SLOW_SUPERVISOR)
    code = sup.wait_exit(20)
    out = sup.output()
    assert code == CONFIG_ERROR, out
    assert "Traceback" not in out
    assert out.count("rtask worker: invalid queue name 'bad queue!'") == 2, out


def test_config_error_single_process_exits_2(harness: Harness) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "rtask", "worker", APP_SPEC, "--queues", "bad queue!"],
        cwd=REPO,
        env=harness.env(),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert run.returncode == CONFIG_ERROR
    assert run.stderr.startswith("rtask worker: invalid queue name 'bad queue!'"), run.stderr
    assert "Traceback" not in run.stderr
    assert run.stdout == ""
