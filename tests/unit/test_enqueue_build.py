"""Building enqueue calls: job ids, payloads, handles."""

from __future__ import annotations

import re
from typing import Any

import rtask
from rtask._codec import JsonCodec, MsgpackCodec, decode, encode, encode_args, is_builtin
from rtask._job import Job, SyncJob, created_handles, new_job_id, new_job_ids


def test_new_job_ids_are_distinct_time_ordered_and_shaped_like_single_ids() -> None:
    before = new_job_id()
    ids = new_job_ids(5000)
    after = new_job_id()

    assert len(set(ids)) == 5000
    shape = re.compile(r"[0-9a-f]{24}")
    assert all(shape.fullmatch(i) for i in [before, *ids, after])
    # one process, no counter wrap in between: lexicographic = creation order
    if int(before[12:18], 16) < int(after[12:18], 16):
        assert [before, *ids, after] == sorted([before, *ids, after])
    assert {i[18:] for i in ids} == {before[18:]}  # the process suffix


def test_encode_args_gives_the_payload_of_the_arguments() -> None:
    for codec in (MsgpackCodec(), JsonCodec()):
        for args, kwargs in (((), {}), ((1, "a"), {}), ((), {"k": [1]}), ((2,), {"x": None})):
            payload = encode_args(codec, args, kwargs)
            assert payload == encode(codec, [list(args), kwargs])
            assert decode(payload) == [list(args), kwargs]


def test_only_rtask_codecs_are_builtin() -> None:
    app = rtask.App("memory://builtin-codec")
    assert is_builtin(app.codec)
    assert is_builtin(rtask.App("memory://builtin-json", codec="json").codec)

    class Mine:
        tag = b"m"  # the msgpack tag, but not rtask's codec

        def dumps(self, value: Any) -> bytes:
            return b""

        def loads(self, data: bytes) -> Any:
            return None

    assert not is_builtin(Mine())


def test_created_handles_equal_handles_built_by_the_constructor() -> None:
    app = rtask.App("memory://handles")
    ids, created = ["a", "b", "c"], [True, False, True]

    for cls in (Job, SyncJob):
        fast = created_handles(cls, app, ids, "q", "t", created)
        slow = [cls(app, i, "q", "t", c) for i, c in zip(ids, created, strict=True)]
        assert fast == slow
        assert [hash(h) for h in fast] == [hash(h) for h in slow]
        assert [(h.duplicate, h.replaced) for h in fast] == [
            (False, False),
            (True, False),
            (False, False),
        ]


def test_a_one_job_plain_enqueue_comes_packed_as_packing_its_call_would() -> None:
    """The hot path packs one job's EVALSHA from a head built in advance: the
    bytes are those of packing the call's script, keys and args."""
    from rtask import _protocol as proto
    from rtask._keys import queue_keys
    from rtask._wire import pack

    cases = [
        (queue_keys("p", "default"), "noop", 0, 0, b'"q":"default"}'),
        (queue_keys("p:é", "q1", index_created=True), "tâche", 250, -7, b"\x00\r\n}"),
    ]
    for keys, task, delay_ms, priority, body in cases:
        plan = proto.enqueue_plain(keys, task, delay_ms, priority, body)
        for job_id, payload in (("0194aa2b3c4d5e6f7a8b9c0d", b"\x90"), ("ïd-1", b"")):
            call = plan.one(None, job_id, payload)
            unpacked = pack("EVALSHA", call.script.sha, len(call.keys), *call.keys, *call.args)
            assert call.packed == unpacked
        # a clock given (tests): packed when sent
        assert plan.one(1_700_000_000_000, "j", b"x").packed is None
