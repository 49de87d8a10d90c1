"""rtask adapter -- placeholder until the lead wires it to rtask's public API.

TODO(lead): implement this adapter like the peers' (see base.py and arq.py):
  * define the three tasks (noop / sleep10 / lat) with rtask's task decorator,
    bodies from ``_common`` (noop_async / sleep_async / lat_async or the sync ones);
  * ``aopen``/``aclose``: create/close the producer client from ``self.redis_url``;
  * ``aenqueue_one``: n sequential enqueues; ``aenqueue_bulk``: rtask's batch API
    (and set ``bulk_na = None``);  ``aenqueue_lat``: enqueue ``lat(t_enq)``;
  * ``worker_command(concurrency)``: the ``rtask`` worker CLI (or API) reading
    ``BENCH_REDIS_URL`` / ``BENCH_CONCURRENCY``;
  * then delete the ``raise Unavailable`` in ``__init__``.
Until then the harness records "unavailable: <reason>" for rtask and carries on.
"""

from __future__ import annotations

from pathlib import Path

from .base import AsyncAdapter, Unavailable


class Adapter(AsyncAdapter):
    name = "rtask"
    dist = "rtask"
    drain_concurrency = 10
    concurrency_unit = "TODO"
    bulk_na = "TODO"

    def __init__(self, redis_url: str, logdir: Path) -> None:
        # TODO(lead): remove once the adapter below is implemented.
        raise Unavailable(
            "rtask adapter not implemented yet (TODO in benchmarks/adapters/rtask.py)"
        )
