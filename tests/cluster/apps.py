"""The App that worker subprocesses of the cluster tests run.

``python -m rtask worker tests.cluster.apps:app …`` with ``RTASK_TEST_URL``,
``RTASK_TEST_PREFIX`` and ``RTASK_TEST_QUEUES`` (comma-separated) set; the
module attribute ``app`` is built from them on first access. Test code builds
the same App with ``build_app(url, prefix, queues)``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import cache
from typing import Any

from rtask import App, current_job


def build_app(url: str, prefix: str, queues: Sequence[str]) -> App:
    """An App with one task `where.<queue>` per queue: returns (queue, n, pid, attempt)."""
    app = App(url, prefix=prefix)
    for queue in queues:

        @app.task(name=f"where.{queue}", queue=queue, max_attempts=3, backoff=0)
        async def where(n: int, fail_first: bool = False, queue: str = queue) -> list[Any]:
            attempt = current_job().attempt
            if fail_first and attempt == 1:
                raise RuntimeError("first attempt fails")
            return [queue, n, os.getpid(), attempt]

    return app


@cache
def _app() -> App:
    return build_app(
        os.environ["RTASK_TEST_URL"],
        os.environ["RTASK_TEST_PREFIX"],
        os.environ["RTASK_TEST_QUEUES"].split(","),
    )


def __getattr__(name: str) -> Any:
    if name == "app":
        return _app()
    raise AttributeError(name)
