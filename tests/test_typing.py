"""Typed tasks: `Task[P, R]` makes mypy check enqueue arguments and results.

tests/typing/check_tasks.py holds correct uses (mypy --strict must pass);
tests/typing/bad_tasks.py holds wrong ones, each marked `# E: <code>` on the
line mypy must flag with that error code. Neither file is collected or run.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from mypy import api

ROOT = Path(__file__).resolve().parent.parent
GOOD = ROOT / "tests" / "typing" / "check_tasks.py"
BAD = ROOT / "tests" / "typing" / "bad_tasks.py"

_ERROR = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+): error: .*\[(?P<code>[a-z-]+)\]$")
_MARK = re.compile(r"#\s*E:\s*(?P<code>[a-z-]+)\s*$")


def expected_errors(path: Path) -> set[tuple[int, str]]:
    """(line, code) of every line marked `# E: <code>`."""
    marks = set()
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        match = _MARK.search(line)
        if match:
            marks.add((number, match["code"]))
    return marks


@pytest.fixture(scope="module")
def mypy_errors(tmp_path_factory: pytest.TempPathFactory) -> dict[str, set[tuple[int, str]]]:
    """mypy --strict over both files, once: file name → {(line, code)}."""
    cache = tmp_path_factory.mktemp("mypy-cache")
    stdout, stderr, _status = api.run(
        [
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--strict",
            "--no-error-summary",
            "--show-error-codes",
            "--no-pretty",
            "--cache-dir",
            str(cache),
            str(GOOD),
            str(BAD),
        ]
    )
    assert stderr == "", stderr
    errors: dict[str, set[tuple[int, str]]] = {GOOD.name: set(), BAD.name: set()}
    for line in stdout.splitlines():
        if ": note: " in line:
            continue
        match = _ERROR.match(line)
        assert match, f"unexpected mypy output: {line}"
        errors[Path(match["file"]).name].add((int(match["line"]), match["code"]))
    return errors


def test_correct_uses_type_check(mypy_errors: dict[str, set[tuple[int, str]]]) -> None:
    assert mypy_errors[GOOD.name] == set()


def test_every_marked_misuse_is_an_error_and_nothing_else(
    mypy_errors: dict[str, set[tuple[int, str]]],
) -> None:
    expected = expected_errors(BAD)
    assert mypy_errors[BAD.name] == expected


def test_the_misuses_the_design_names_are_marked() -> None:
    """The bad file keeps covering each case DESIGN/STYLE promise."""
    lines = BAD.read_text().splitlines()
    marked = {lines[n - 1].split("#")[0].strip(): code for n, code in expected_errors(BAD)}
    assert marked['await add.enqueue("x", 2)'] == "arg-type"  # async task, wrong arg
    assert marked['add.enqueue_sync(1, "y")'] == "arg-type"
    assert marked['await add.options(delay=1).enqueue("x", 2)'] == "arg-type"
    assert marked["text: str = await job.result()"] == "assignment"  # R is int
    assert marked["sync_text: str = add.enqueue_sync(1, 2).result()"] == "assignment"
    assert marked['mul.enqueue_sync("x", 2)'] == "arg-type"  # sync (def) task
    assert marked["text: str = mul.enqueue_sync(1, 2).result()"] == "assignment"
    assert marked["other: str = await (await mul.enqueue(1, 2)).result()"] == "assignment"
