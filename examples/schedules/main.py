"""Schedules: cron, every, once and manual; each tick runs once, whatever the
number of workers; stop and trigger from code."""

from __future__ import annotations

import asyncio
import os
import time
from zoneinfo import ZoneInfo

import rtask

app = rtask.App(os.environ.get("RTASK_REDIS_URL", "memory://schedules"), prefix="example-sched")
ticks: list[str] = []


@app.cron("* * * * * *", id="heartbeat")  # six fields: every second (seconds first)
async def heartbeat() -> None:
    ticks.append(rtask.current_job().id)


@app.task(name="report")
async def report(kind: str) -> str:
    ticks.append(rtask.current_job().id)
    return kind


# every 0.3 s for about two seconds, then the schedule stops by itself
app.schedule(report, id="fast", every=0.3, args=("fast",), end=time.time() + 2)
app.schedule(report, id="once", at=time.time() + 0.5, args=("once",))
app.schedule(report, id="on-demand", manual=True, args=("manual",))
app.schedule(report, id="nightly", cron="0 3 * * *", tz="Europe/Paris", args=("nightly",))


async def main() -> None:
    # Two workers, as two pods would be: the schedules are upserted by both,
    # stored once, and every tick runs in exactly one of them.
    workers = [app.worker(concurrency=5, handle_signals=False) for _ in range(2)]
    running = [asyncio.create_task(w.run()) for w in workers]
    try:
        await asyncio.sleep(2.5)  # let a few ticks go by
        job = await app.trigger_schedule("on-demand")
        print("manual run:", await job.result(timeout=10))
        fast = [t for t in ticks if t.startswith("fast:")]
        print("fast ticks, each once:", len(fast) == len(set(fast)) and len(fast) >= 5)
        print("once ran:", sum(t.startswith("once:") for t in ticks))
        print("heartbeat ticks:", len([t for t in ticks if t.startswith("heartbeat:")]) >= 2)
        print("fast stopped by its end:", (await app.get_schedule("fast")).stopped)
        nightly = (await app.get_schedule("nightly")).next_run_at
        assert nightly is not None
        print("nightly runs at (Paris time):", nightly.astimezone(ZoneInfo("Europe/Paris")).time())
        await app.stop_schedule("heartbeat", cancel_active=True)
        page = await app.list_schedules(stopped=False)
        print("active schedules:", sorted(s.id for s in page.items))
    finally:
        for w in workers:
            w.stop()
        await asyncio.gather(*running)
        await app.aclose()


if __name__ == "__main__":
    asyncio.run(main())
