"""Every example runs on real Redis and on memory://, and prints what it shows."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import redis

ROOT = Path(__file__).resolve().parents[2]

EXPECTED = {
    "quickstart": ["add(1, 2) = 3", "doubles: [0, 2, 4, 6, 8]", "greet: hello, Ada",
                   "status: succeeded attempt: 1 tags: ['welcome']", "from sync code: 42"],
    "retries_and_dead_letter": ["flaky: ok on attempt 3", "patient: attempt 1 after a snooze",
                                "hopeless: failed after 1 attempt(s)",
                                "doomed: failed after 3 attempt(s)",
                                "dead letter (failed jobs kept): 2"],
    "cpu_bound": ["the async task finished while the blocking ones ran: True"],
    "schedules": ["manual run: manual", "fast ticks, each once: True", "once ran: 1",
                  "heartbeat ticks: True", "fast stopped by its end: True",
                  "nightly runs at (Paris time): 03:00:00",
                  "active schedules: ['nightly', 'on-demand']"],
    "sharded_cluster": ["shards: ['mail', 'mail#1', 'mail#2', 'mail#3']",
                        "every shard got jobs: True", "emails sent, in order: True", "pdfs: True",
                        "render_pdf cap held across shards: peak 2 <= 2: True",
                        "found by id in its shard: True", "stats: 60 succeeded over 4 shards"],
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example(name: str, backend_url: str, redis_url: str) -> None:
    env = dict(os.environ, RTASK_REDIS_URL=backend_url)
    env.pop("RTASK_CLUSTER_URL", None)
    if backend_url == redis_url:
        # each example uses a fixed key prefix: clear it on the suite's own server
        client = redis.Redis.from_url(redis_url)
        for key in client.scan_iter(match="example-*"):
            client.delete(key)
    done = subprocess.run(
        [sys.executable, f"examples/{name}/main.py"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    for line in EXPECTED[name]:
        assert line in done.stdout
