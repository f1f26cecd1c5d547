"""The ``aidpack`` console script in a process of its own: it leaves without Python's module teardown, yet
keeps what a normal exit gives: every line printed, the command's exit code, the exit handlers run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = (
    "import atexit, sys\n"
    "atexit.register(print, 'exit handler ran')\n"
    "from aidpack.cli.main import main\n"
    "sys.argv = ['aidpack', *sys.argv[1:]]\n"
    "main()\n"
    "print('never here')\n"
)


def aidpack(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AIDPACK_DATABASE_URL": f"sqlite:///{tmp_path / 'aidpack.db'}", "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-c", SCRIPT, *args], capture_output=True, text=True, env=env,
                          timeout=120, check=False)


def test_a_command_prints_everything_runs_the_exit_handlers_and_exits_0(tmp_path: Path) -> None:
    done = aidpack(tmp_path, "init")

    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["database ready", "exit handler ran"]
    assert not (tmp_path / "aidpack.db-wal").exists()  # the database was closed, not abandoned


def test_a_user_mistake_keeps_its_message_and_its_exit_code(tmp_path: Path) -> None:
    done = aidpack(tmp_path, "plan", "show", "999999")

    assert done.returncode == 1
    assert "[PLAN_NOT_FOUND] plan 999999 does not exist" in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout.splitlines() == ["exit handler ran"]


def test_a_usage_error_exits_2_as_click_has_it(tmp_path: Path) -> None:
    done = aidpack(tmp_path, "no-such-command")

    assert done.returncode == 2
    assert "No such command" in done.stderr


def test_output_to_a_pipe_is_wide_enough_for_a_plan_unless_columns_says_otherwise(tmp_path: Path) -> None:
    width = "from aidpack.cli import common; print(common.console.width)"
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    piped = subprocess.run([sys.executable, "-c", width], capture_output=True, text=True, env=env, check=True)
    assert piped.stdout.strip() == "160"  # not Rich's 80, which cut refs and figures to "N-000…", "565,0…"
    told = subprocess.run([sys.executable, "-c", width], capture_output=True, text=True, env={**env, "COLUMNS": "90"},
                          check=True)
    assert told.stdout.strip() == "90"
