"""The Lua scripts, read from `lua/` (shipped inside the package as `rtask/lua`)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

_INCLUDE = "-- @include "


def lua_dir() -> Path:
    """Where the scripts are: inside the installed package, else the source tree."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "lua", here.parent / "lua"):
        if (candidate / "claim.lua").is_file():
            return candidate
    raise FileNotFoundError(f"rtask Lua scripts not found next to {here}")


@dataclass(frozen=True, slots=True)
class Script:
    """One script: its name (= file stem), its full source and SHA1."""

    name: str
    source: str
    sha: str


def _expand(text: str, directory: Path, included: set[str] | None = None) -> str:
    """`text` with each `-- @include <name>` replaced by `<name>.lua`, expanded
    in turn; a file already included is not included again (common.lua
    includes core.lua, which a script may also include)."""
    included = set() if included is None else included
    lines = []
    for line in text.splitlines():
        if line.startswith(_INCLUDE):
            name = line[len(_INCLUDE) :].strip()
            if name not in included:
                included.add(name)
                lines.append(_expand((directory / f"{name}.lua").read_text(), directory, included))
        else:
            lines.append(line)
    return "\n".join(lines) + "\n"


@cache
def script(name: str) -> Script:
    """The script `lua/<name>.lua`, with its includes expanded."""
    directory = lua_dir()
    source = _expand((directory / f"{name}.lua").read_text(), directory)
    return Script(name, source, hashlib.sha1(source.encode()).hexdigest())


SCRIPT_NAMES = (
    "enqueue",
    "enqueue_plain",
    "claim",
    "finish",
    "heartbeat",
    "recover",
    "cancel",
    "schedule",
    "plan",
    "trigger",
    "unschedule",
    "schedules",
    "read",
    "stats",
    "workers",
    "progress",
    "permit",
    "park",
    "rerun",
    "update",
    "retry_failed",
    "cancel_many",
    "prune",
    "unique_sweep",
    "wait",
    "tasks",
    "list",
)


def all_scripts() -> list[Script]:
    """Every script, loaded once per client at connect so a broken one fails fast."""
    return [script(name) for name in SCRIPT_NAMES]
