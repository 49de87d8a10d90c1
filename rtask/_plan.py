"""Plans and the shells that drive them.

A plan (see `_admin`, `_manage`, `_list`, `_schedules`) is the pure core of an
operator view: a generator that yields batches of calls, receives their
replies, and returns its value. `drive_sync` and `drive_async` are the thin
shells that send the calls. This module imports no plan, so that the App's
methods can name the shells without importing the modules of the plans.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any, TypeVar

from ._protocol import Call

if TYPE_CHECKING:
    from ._client import AsyncClient, SyncClient

T = TypeVar("T")

# A plan yields batches of calls, receives their replies, and returns its value.
Plan = Generator[list[Call[Any]], list[Any], T]


def drive_sync(client: SyncClient, plan: Plan[T]) -> T:
    """Run `plan`, sending its calls with the sync client."""
    try:
        calls = next(plan)
        while True:
            calls = plan.send(client.run_many(calls))
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]


async def drive_async(client: AsyncClient, plan: Plan[T]) -> T:
    """Run `plan`, sending its calls with the async client."""
    try:
        calls = next(plan)
        while True:
            calls = plan.send(await client.run_many(calls))
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
