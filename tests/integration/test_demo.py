"""The demo (the README's main command) runs end to end on both backends."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_demo_runs_and_summarises(backend_url: str) -> None:
    env = dict(os.environ, RTASK_REDIS_URL=backend_url)
    done = subprocess.run(
        [sys.executable, "-m", "rtask.demo", "--jobs", "400", "--processes", "1"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    # every job reached a final status: the demo's mix has some that always fail
    assert "jobs            400  (failed: " in out
    assert "succeeded: " in out
    for line in ("enqueue ", "throughput ", "time in queue ", "idle pickup "):
        assert line in out
