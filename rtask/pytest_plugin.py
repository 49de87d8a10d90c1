"""The rtask pytest plugin (registered through the `pytest11` entry point).

Fixtures:

rtask_memory_url  function  a fresh "memory://rtask-test-<random>" URL: an
                            in-process fakeredis server running rtask's real
                            Lua scripts, private to the test
rtask_app         function  `rtask.App(rtask_memory_url)`, closed after the test

Register tasks on `rtask_app` in the test (`@rtask_app.task`), or point your
own App at memory:// instead: build it from `rtask.App.from_env()` and set
`RTASK_REDIS_URL=memory://tests` before it is created (in conftest.py), or
override `rtask_app` in your conftest.py to return your App.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from ._app import App


def _forget_memory_server(url: str) -> None:
    """Drop the fakeredis server behind a memory:// URL, so tests don't pile them up."""
    from . import _client

    servers = getattr(_client, "_memory_servers", None)
    lock = getattr(_client, "_memory_lock", None)
    if servers is None or lock is None:  # pragma: no cover - the client changed
        return
    with lock:
        servers.pop(url[len("memory://") :], None)


@pytest.fixture
def rtask_memory_url() -> Iterator[str]:
    """A memory:// URL of a fresh in-process server, dropped after the test."""
    url = f"memory://rtask-test-{uuid.uuid4().hex[:12]}"
    try:
        yield url
    finally:
        _forget_memory_server(url)


@pytest.fixture
def rtask_app(rtask_memory_url: str) -> Iterator[App]:
    """A fresh `rtask.App` on memory://, with no tasks; closed after the test."""
    from ._app import App

    app = App(rtask_memory_url)
    try:
        yield app
    finally:
        app.close()
