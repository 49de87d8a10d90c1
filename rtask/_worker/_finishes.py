"""Finishes, worker side: the reply handlers of a round trip's progress
reports and finish calls (what was not sent is kept for the next try)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._protocol import FinishReply, FinishResult, OutcomeCode
from . import _permits
from ._state import QueueState

if TYPE_CHECKING:
    from ._worker import Worker

# Names of the worker's counters, built once (they are bumped per job).
_FINISH_STAT = {r: f"finish.{r.name.lower()}" for r in FinishResult}
_OUTCOME_STAT = {c: f"outcome.{c.name.lower()}" for c in OutcomeCode}


def on_reports(q: QueueState, reports: list[Any]) -> Any:
    def handle(reply: list[int] | None) -> None:
        if reply is None:
            q.reports[:0] = reports  # not sent: they go with the outcomes' retry

    return handle


def on_finish(worker: Worker, q: QueueState, outcomes: list[Any]) -> Any:
    def handle(reply: FinishReply | None) -> None:
        if reply is None:
            q.outcomes[:0] = outcomes  # not sent: keep them for the next try
            return
        if q.pools:
            _permits.finished(q, outcomes)
        stats = worker.stats
        for outcome, result in zip(outcomes, reply.results, strict=True):
            stats[_FINISH_STAT[result]] += 1
            if result is FinishResult.APPLIED:
                stats[_OUTCOME_STAT[outcome.code]] += 1
        q.may_have_work = True  # a retry may be due now, a slot is free
        # a claim sent before this finish ran before it in Redis: its "drained,
        # nothing due" must not undo this (else the retry waits idle_poll_s)
        q.wake_seq += 1

    return handle
