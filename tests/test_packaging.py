"""The wheel ships the Lua scripts (as `rtask/lua/`) and `py.typed`, and the
installed package finds its scripts."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import rtask
from rtask import _scripts

REPO = Path(__file__).resolve().parents[1]
LUA_FILES = sorted(p.name for p in (REPO / "lua").glob("*.lua"))


def _build(outdir: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(outdir), *extra],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built from the source tree: in an isolated environment (build
    dependencies from the index), else with the venv's hatchling (offline)."""
    outdir = tmp_path_factory.mktemp("dist")
    built = _build(outdir)
    if built.returncode != 0:
        print(f"isolated build failed, building without isolation:\n{built.stderr[-2000:]}")
        built = _build(outdir, "--no-isolation")
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    (path,) = outdir.glob("rtask-*.whl")
    return path


def test_source_tree_has_the_scripts() -> None:
    assert set(_scripts.SCRIPT_NAMES) | {"common"} <= {Path(n).stem for n in LUA_FILES}
    assert _scripts.lua_dir() == REPO / "lua"  # not installed: the source tree's lua/


def test_wheel_contains_every_lua_file_and_py_typed(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        for name in LUA_FILES:
            member = f"rtask/lua/{name}"
            assert member in names, f"{member} missing from {wheel.name}"
            assert zf.read(member) == (REPO / "lua" / name).read_bytes(), member
        assert "rtask/py.typed" in names
        shipped = {n for n in names if n.endswith(".lua")}
    assert shipped == {f"rtask/lua/{n}" for n in LUA_FILES}  # nothing else, nothing elsewhere


def test_installed_wheel_finds_its_scripts(wheel: Path, tmp_path: Path) -> None:
    """Unpacked on its own (outside the source tree), rtask loads every script
    from its package directory."""
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(site)
    probe = (
        "import rtask, rtask._scripts as s; "
        "print(rtask.__file__); print(s.lua_dir()); "
        "print(len([s.script(n) for n in s.SCRIPT_NAMES]))"
    )
    run = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    module_file, lua_dir, count = run.stdout.split()
    assert Path(module_file) == site / "rtask" / "__init__.py"
    assert Path(lua_dir) == site / "rtask" / "lua"
    assert int(count) == len(_scripts.SCRIPT_NAMES)
    assert rtask.__version__ in wheel.name
