"""A sharded queue: one hot logical queue spread over 4 physical queues (hash
tags), so on a Redis Cluster it spreads over the nodes; a capped task's cap
holds across all shards.

Runs on the cluster of RTASK_CLUSTER_URL (`redis+cluster://host:port,…/`),
else on RTASK_REDIS_URL, else on the embedded memory:// mode: sharding works
the same everywhere.
"""

from __future__ import annotations

import asyncio
import os
import uuid

import rtask

URL = (
    os.environ.get("RTASK_CLUSTER_URL")
    or os.environ.get("RTASK_REDIS_URL")
    or "memory://sharded-example"
)
# a fresh prefix per run, so the counts below are this run's
app = rtask.App(URL, prefix=f"example-shards-{uuid.uuid4().hex[:6]}", shards={"mail": 4})

in_flight = 0
peak = 0


@app.task(queue="mail")
async def send_email(to: str) -> str:
    return f"sent to {to}"


@app.task(queue="mail", concurrency=2)  # at most 2 at once, across every shard and worker
async def render_pdf(n: int) -> int:
    global in_flight, peak
    in_flight += 1
    peak = max(peak, in_flight)
    try:
        await asyncio.sleep(0.01)
    finally:
        in_flight -= 1
    return n


async def main() -> None:
    print("backend:", URL.split("://")[0])  # the scheme only: a URL may hold a password
    print("shards:", app.shards("mail"))
    emails = await send_email.enqueue_many([(f"user{n}@example.com",) for n in range(40)])
    pdfs = await render_pdf.enqueue_many([(n,) for n in range(20)])
    print("every shard got jobs:", {j.queue for j in emails + pdfs} == set(app.shards("mail")))

    # two workers, each serving the logical queue: they claim across all shards
    workers = [app.worker(["mail"], concurrency=10, handle_signals=False) for _ in range(2)]
    running = [asyncio.create_task(w.run()) for w in workers]
    try:
        results = [await j.result(timeout=30) for j in emails]
        print(
            "emails sent, in order:", results == [f"sent to user{n}@example.com" for n in range(40)]
        )
        print("pdfs:", [await j.result(timeout=30) for j in pdfs] == list(range(20)))
        print(f"render_pdf cap held across shards: peak {peak} <= 2:", peak <= 2)

        # a job is found by its id alone: the id says which shard holds it
        job = await app.job(emails[7].id, "mail")
        print("found by id in its shard:", job.queue == emails[7].queue)

        stats = (await app.stats(["mail"]))[0]
        per_shard = {s.queue: s.succeeded for s in stats.shards}
        print(f"stats: {stats.succeeded} succeeded over {len(per_shard)} shards")
        print("per shard:", per_shard)
    finally:
        for w in workers:
            w.stop()
        await asyncio.gather(*running)
        await app.aclose()


if __name__ == "__main__":
    asyncio.run(main())
