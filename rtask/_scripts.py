"""The Lua scripts, read from `lua/` (shipped inside the package as `rtask/lua`)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

_INCLUDE = "-- @include "


@cache
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


@cache
def _read(path: Path) -> str:
    return path.read_text()


def _expand(text: str, directory: Path, included: set[str] | None = None) -> str:
    """`text` with each `-- @include <name>` line replaced by `<name>.lua`,
    expanded in turn; a file already included is not included again
    (common.lua includes core.lua, which a script may also include). A
    worker expands every script at start: the lines are found with
    `str.find` (a regex or a loop over lines costs it milliseconds)."""
    included = set() if included is None else included
    parts, pos = [], 0
    while (start := text.find(_INCLUDE, pos)) >= 0:
        end = text.find("\n", start)
        end = len(text) if end < 0 else end
        if start > 0 and text[start - 1] != "\n":  # not at a line's start
            parts.append(text[pos:end])
            pos = end
            continue
        parts.append(text[pos:start])
        name = text[start + len(_INCLUDE) : end].strip()
        if name in included:
            end += 1  # the line goes, its newline too
        else:
            included.add(name)
            parts.append(_expand(_read(directory / f"{name}.lua"), directory, included))
        pos = end
    parts.append(text[pos:])
    out = "".join(parts)
    return out if out.endswith("\n") else out + "\n"


@cache
def script(name: str) -> Script:
    """The script `lua/<name>.lua`, with its includes expanded."""
    directory = lua_dir()
    source = _expand(_read(directory / f"{name}.lua"), directory)
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
