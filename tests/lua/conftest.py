"""Fixtures of the Lua contract tests.

`client` is a SyncClient on each backend (`backend_url`) that checks the whole
state of queue "q" after every script call (`assert_invariants` with the test
module's TASKS), so no step of any test escapes the invariants; tests still
call `assert_invariants` themselves to get the state they assert on.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

import pytest

from rtask._client import SyncClient
from rtask._keys import QueueKeys, queue_keys
from rtask._protocol import Call
from tests.lua._state import assert_invariants

T = TypeVar("T")


class CheckedClient(SyncClient):
    """A SyncClient that asserts the queue's invariants after each call."""

    def __init__(self, url: str, keys: QueueKeys, tasks: Sequence[str]) -> None:
        super().__init__(url)
        self.keys = keys
        self.tasks = tuple(tasks)

    def run(self, call: Call[T]) -> T:
        reply = super().run(call)
        assert_invariants(self, self.keys, self.tasks)
        return reply

    def run_many(self, calls: Sequence[Call[Any]]) -> list[Any]:
        replies = super().run_many(calls)
        assert_invariants(self, self.keys, self.tasks)
        return replies


@pytest.fixture
def keys(prefix: str) -> QueueKeys:
    return queue_keys(prefix, "q", index_created=True)


@pytest.fixture
def client(
    backend_url: str, keys: QueueKeys, request: pytest.FixtureRequest
) -> Iterator[SyncClient]:
    tasks: Sequence[str] = request.module.TASKS
    c = CheckedClient(backend_url, keys, tasks)
    try:
        yield c
    finally:
        c.close()
