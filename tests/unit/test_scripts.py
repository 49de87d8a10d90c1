"""The script loader's `-- @include` expansion (rtask/_scripts.py)."""

from __future__ import annotations

from pathlib import Path

from rtask._scripts import _expand, script


def _write(directory: Path, **files: str) -> None:
    for name, text in files.items():
        (directory / f"{name}.lua").write_text(text)


def test_an_include_line_is_replaced_by_the_file_expanded_in_turn(tmp_path: Path) -> None:
    _write(
        tmp_path, core="-- core\nlocal c = 1\n", common="-- common\n-- @include core\nlocal m = 2\n"
    )
    text = "-- top\n-- @include common\nreturn c + m\n"
    assert _expand(text, tmp_path) == (
        "-- top\n-- common\n-- core\nlocal c = 1\n\nlocal m = 2\n\nreturn c + m\n"
    )


def test_a_file_already_included_is_not_included_again(tmp_path: Path) -> None:
    _write(tmp_path, core="local c = 1\n", common="-- @include core\nlocal m = 2\n")
    text = "-- @include common\n-- @include core\nreturn c\n"
    expanded = _expand(text, tmp_path)
    assert expanded.count("local c = 1") == 1
    # the second include line goes, newline and all
    assert expanded == "local c = 1\n\nlocal m = 2\n\nreturn c\n"


def test_an_include_not_at_a_line_start_is_left_as_it_is(tmp_path: Path) -> None:
    _write(tmp_path, core="local c = 1\n")
    text = "local s = '-- @include core'\n  -- @include core\nreturn s"
    assert _expand(text, tmp_path) == text + "\n"


def test_every_shipped_script_is_expanded_without_include_lines_left() -> None:
    claim = script("claim")
    assert not [line for line in claim.source.splitlines() if line.startswith("-- @include ")]
    assert "local function ready_score" in claim.source  # from core.lua, via common.lua
    assert claim.source.count("local function ready_score") == 1
