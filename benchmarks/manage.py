"""Figures of job management on a private redis-server:

- Redis commands per call: plain vs unique enqueue (new identity, duplicate,
  debounce replace), finish.lua of 100 outcomes with nobody waiting vs every
  job waited for (INFO commandstats, so commands issued inside scripts count);
- memory per finished job (used_memory over N succeeded jobs, no retention);
- time to list a page of 100 of the N stored jobs (first page, a page deep in
  the set, a filtered page), medians of 5.

    .venv/bin/python benchmarks/manage.py [--n 1000000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import rtask
from rtask import _protocol as proto
from rtask._client import SyncClient
from rtask._keys import queue_keys
from tests._redis_server import RedisServer

KEEP_ALL = proto.Retention(0, 0, 0, 0, 0, 0)
BATCH = 1000


def commands(r: redis.Redis) -> dict[str, int]:
    skip = {"config|resetstat", "info", "evalsha"}
    stats = r.info("commandstats")
    return {k.removeprefix("cmdstat_"): v["calls"] for k, v in stats.items()} | dict.fromkeys(
        skip, 0
    )


def per_call(r: redis.Redis, calls: int) -> float:
    return sum(commands(r).values()) / calls


def enqueue_costs(url: str, r: redis.Redis) -> None:
    app = rtask.App(url, prefix="cost")

    @app.task(name="t")
    def t(n: int) -> None: ...

    t.enqueue_sync(0)
    n = 1000
    cases = {
        "plain": t.enqueue_sync,
        "unique, new identity": lambda k: t.options(unique=rtask.Unique(f"k{k}")).enqueue_sync(k),
        "unique, duplicate": lambda k: t.options(unique=rtask.Unique("same")).enqueue_sync(k),
        "debounce, replaces": lambda k: t.options(
            unique=rtask.Unique.debounce("d"), delay=60
        ).enqueue_sync(k),
    }
    for label, enqueue in cases.items():
        r.config_resetstat()
        for k in range(n):
            enqueue(k)
        print(f"| enqueue: {label} | {per_call(r, n):.1f} |")
    app.close()


def finish_costs(client: SyncClient, r: redis.Redis) -> None:
    from rtask import _protocol_manage as manage

    for label, waited in (("nobody waits", False), ("all 100 waited for", True)):
        keys = queue_keys("cost", "finish-" + str(waited))
        total = 0.0
        for rnd in range(10):
            jobs = [_job(f"{rnd}-{k}") for k in range(100)]
            client.run(proto.enqueue(keys, jobs))
            claim = proto.claim(keys, "q", worker="w", n=100, lease_ms=30_000, tasks=[("t", 0)])
            got = client.run(claim).jobs
            if waited:
                client.run(manage.wait(keys, [j.id for j in got], ttl_ms=60_000))
            outcomes = [proto.Outcome(j.id, j.token, proto.OutcomeCode.SUCCEEDED) for j in got]
            r.config_resetstat()
            client.run(proto.finish(keys, outcomes, tasks=[("t", 0)], retention=KEEP_ALL))
            total += per_call(r, 1)
        print(f"| finish of 100 outcomes: {label} | {total / 10:.1f} |")


def _job(job_id: str, task: str = "t") -> proto.NewJob:
    body = proto.state_body(task=task, max_attempts=3, priority=0, timeout_ms=0, tags=())
    return proto.NewJob(job_id, task, 0, 0, body, b"\x92\x91\x01\x80")


def fill(
    client: SyncClient, n: int, retention: proto.Retention = KEEP_ALL, prefix: str = "fig"
) -> None:
    """n succeeded jobs of tasks a and b (alternating) through the real scripts."""
    keys = queue_keys(prefix, "default")
    tasks = [("a", 0), ("b", 0)]
    for start in range(0, n, BATCH):
        jobs = [_job(f"{start + k:09d}", "ab"[k % 2]) for k in range(min(BATCH, n - start))]
        client.run(proto.enqueue(keys, jobs))
        got = client.run(
            proto.claim(keys, "q", worker="w", n=BATCH, lease_ms=60_000, tasks=tasks)
        ).jobs
        outcomes = [proto.Outcome(j.id, j.token, proto.OutcomeCode.SUCCEEDED) for j in got]
        client.run(proto.finish(keys, outcomes, tasks=tasks, retention=retention))


def timed(fn: object, runs: int = 5) -> float:
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()  # type: ignore[operator]
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples) * 1000


def list_figures(url: str, r: redis.Redis, n: int) -> None:
    client = SyncClient(url)
    before = r.info("memory")["used_memory"]
    t0 = time.perf_counter()
    fill(client, n)
    fill_s = time.perf_counter() - t0
    after = r.info("memory")["used_memory"]
    print(f"| {n:,} succeeded jobs stored in | {fill_s:.1f} s |")
    print(f"| memory per finished job | {(after - before) / n:.0f} bytes |")
    app = rtask.App(url, prefix="fig")
    first = app.jobs_sync(status="succeeded", limit=100)
    first_ms = timed(lambda: app.jobs_sync(status="succeeded", limit=100))
    print(f"| list: first page of 100 | {first_ms:.2f} ms |")
    # a page in the middle: continue after the key of the job ranked n/2
    keys = queue_keys("fig", "default")
    mid_id, mid_score = r.zrange(keys.succeeded, n // 2, n // 2, withscores=True)[0]
    import base64

    import orjson

    token = base64.urlsafe_b64encode(
        orjson.dumps(
            {
                "v": 1,
                "q": "default",
                "s": "succeeded",
                "t": ["a", "b"],
                "f": False,
                "g": [],
                "d": False,
                "i": 0,
                "k": [repr(int(mid_score)), mid_id.decode()],
            }
        )
    ).decode()
    deep = app.jobs_sync(page_token=token, limit=100)
    assert len(deep.jobs) == 100 and first.jobs, (len(deep.jobs), token, deep.next_page_token)
    deep_ms = timed(lambda: app.jobs_sync(page_token=token, limit=100))
    print(f"| list: page of 100 at rank {n // 2:,} | {deep_ms:.2f} ms |")
    by_task = timed(lambda: app.jobs_sync(status="succeeded", tasks=["a"], limit=100))
    print(f"| list: first page of 100 of task a (half the jobs) | {by_task:.2f} ms |")
    print(f"| count succeeded | {timed(lambda: app.count_sync(status='succeeded')):.2f} ms |")
    app.close()
    client.close()


def retention_figures(url: str, r: redis.Redis, n: int) -> None:
    """Memory after n no-op jobs with the default retention (flat: the last
    10,000 succeeded are kept)."""
    client = SyncClient(url)
    before = r.info("memory")["used_memory"]
    fill(client, n, proto.DEFAULT_RETENTION, prefix="flat")
    after = r.info("memory")["used_memory"]
    keys = queue_keys("flat", "default")
    print(
        f"| {n:,} jobs with default retention: memory added | {(after - before) / 2**20:.1f} MiB |"
    )
    print(
        f"| … fields in the jobs hash / succeeded kept | {r.hlen(keys.jobs):,} / "
        f"{r.zcard(keys.succeeded):,} |"
    )
    client.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = RedisServer(dir=Path(tmp))
        server.start()
        try:
            r = redis.Redis.from_url(server.url)
            print("| measure | value |\n|---|---|")
            enqueue_costs(server.url, r)
            finish_costs(SyncClient(server.url), r)
            retention_figures(server.url, r, args.n)
            list_figures(server.url, r, args.n)
        finally:
            server.stop()


if __name__ == "__main__":
    main()
