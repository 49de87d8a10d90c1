"""`python -m tests.faults.slow_supervisor worker …`: the rtask CLI whose
supervisor is slow to react to a child's exit (as on a busy machine).

Each time the supervisor's `os.waitpid` returns, it pauses for a second before
handling the result, so every other child that is about to exit has exited
(and is waiting to be reaped) by the time the supervisor acts. The children
are ordinary `python -m rtask worker …` processes.
"""

from __future__ import annotations

import os
import time
from typing import Any

PAUSE_S = 1.0
_real_waitpid = os.waitpid


def _slow_waitpid(pid: int, options: int) -> Any:
    result = _real_waitpid(pid, options)
    time.sleep(PAUSE_S)
    return result


if __name__ == "__main__":
    # subprocess.Popen keeps its own reference to the real os.waitpid, so only
    # the supervisor loop's own calls are slowed down.
    os.waitpid = _slow_waitpid
    from rtask._cli import main

    main(prog_name="rtask")
