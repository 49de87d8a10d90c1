"""The pure core: each function builds one script call and knows how to decode
its reply. The clients (`_client.py`) only send; nothing here does I/O.

Each stage has the name of its Lua file: `enqueue`, `claim`, `finish`,
`heartbeat`, `recover`, `cancel`.

One private module per stage: `_enqueue` (enqueue.lua, enqueue_plain.lua),
`_claim` (claim.lua), `_finish` (finish.lua), `_handoff` (park.lua),
`_leases` (heartbeat.lua, recover.lua), `_cancel` (cancel.lua), `_reads`
(read.lua); `_call` holds `Call` and what the stages share.
"""

from __future__ import annotations

from ._call import MAX_BATCH, Call, batches
from ._call import _now_arg as _now_arg
from ._call import _str as _str
from ._cancel import CancelResult, cancel
from ._claim import ClaimedJob, ClaimReply, claim
from ._claim import _claim_decoder as _claim_decoder
from ._enqueue import EnqueueReply, NewJob, PlainEnqueue, enqueue, enqueue_plain, state_body
from ._finish import (
    DEFAULT_RETENTION,
    FinishReply,
    FinishResult,
    Outcome,
    OutcomeCode,
    Retention,
    error_entry,
    finish,
    succeeded,
)
from ._handoff import ParkReply, handed_off, park, park_member
from ._leases import HeartbeatReply, RecoverReply, heartbeat, recover
from ._reads import RawJob, read_job

__all__ = [
    "DEFAULT_RETENTION",
    "MAX_BATCH",
    "Call",
    "CancelResult",
    "ClaimReply",
    "ClaimedJob",
    "EnqueueReply",
    "FinishReply",
    "FinishResult",
    "HeartbeatReply",
    "NewJob",
    "Outcome",
    "OutcomeCode",
    "ParkReply",
    "PlainEnqueue",
    "RawJob",
    "RecoverReply",
    "Retention",
    "batches",
    "cancel",
    "claim",
    "enqueue",
    "enqueue_plain",
    "error_entry",
    "finish",
    "handed_off",
    "heartbeat",
    "park",
    "park_member",
    "read_job",
    "recover",
    "state_body",
    "succeeded",
]
