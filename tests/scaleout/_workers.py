"""Worker processes of the scale-out tests (`python -m rtask worker tests.scaleout.apps:app`)."""

from __future__ import annotations

import os
from pathlib import Path

from tests.faults._harness import REPO, WorkerProcess

APP_SPEC = "tests.scaleout.apps:app"


def start_worker(
    url: str,
    prefix: str,
    record_url: str,
    log: Path,
    *options: str,
    queues: str = "",
    global_options: tuple[str, ...] = (),
) -> WorkerProcess:
    """A worker process of the scale-out App on `url` (runs recorded on `record_url`)."""
    env = dict(
        os.environ,
        RTASK_TEST_URL=url,
        RTASK_TEST_PREFIX=prefix,
        RTASK_TEST_RECORD_URL=record_url,
        RTASK_TEST_QUEUES=queues,
        PYTHONUNBUFFERED="1",
        PYTHONPATH=os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p),
    )
    return WorkerProcess([*global_options, "worker", APP_SPEC, *options], env, log)
