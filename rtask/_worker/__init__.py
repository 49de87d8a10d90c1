"""The worker: claim → execute → finish, with heartbeat and recovery loops."""

from ._config import WorkerConfig
from ._worker import Worker

__all__ = ["Worker", "WorkerConfig"]
