"""Names that become Redis keys or hash fields are checked at the API."""

from __future__ import annotations

import pytest

from rtask import InvalidInput
from rtask._keys import check_job_id, check_queue, check_task_name, queue_keys


@pytest.mark.parametrize("job_id", ["a", "user:42", "x.y-z_1", "a" * 128, "a:pe"])
def test_valid_job_ids(job_id: str) -> None:
    assert check_job_id(job_id) == job_id


@pytest.mark.parametrize("job_id", ["", "a b", "a{b}", "a" * 129, "x:p", "x:r", "x:e", "x:x", "é"])
def test_invalid_job_ids(job_id: str) -> None:
    with pytest.raises(InvalidInput):
        check_job_id(job_id)


@pytest.mark.parametrize("queue", ["", "bad queue", "a{b", "q}", "q\n", "x" * 201])
def test_invalid_queue_names(queue: str) -> None:
    with pytest.raises(InvalidInput, match="invalid queue name"):
        check_queue(queue)


def test_task_names_may_hold_locals() -> None:
    assert check_task_name("mod.f.<locals>.g") == "mod.f.<locals>.g"
    with pytest.raises(InvalidInput):
        check_task_name("has space")


def test_every_key_of_a_queue_carries_its_hash_tag() -> None:
    keys = queue_keys("rtask", "emails")
    names = [
        keys.jobs,
        keys.running,
        keys.active,
        keys.tasks,
        keys.succeeded,
        keys.failed,
        keys.cancelled,
        keys.workers,
        keys.recover_gate,
        keys.scheduled("t"),
        keys.ready("t"),
    ]
    assert all(name.startswith("rtask:{emails}:") for name in names)
    assert len(set(names)) == len(names)
