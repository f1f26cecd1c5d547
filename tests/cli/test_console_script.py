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


def aidpack(tmp_path: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AIDPACK_DATABASE_URL": f"sqlite:///{tmp_path / 'aidpack.db'}", "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-c", SCRIPT, *args], capture_output=True, text=True, env=env,
                          timeout=120, check=False, input=stdin)


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


def test_a_usage_error_exits_1_as_spec_has_it_and_a_conflict_2(tmp_path: Path) -> None:
    unknown = aidpack(tmp_path, "no-such-command")
    assert unknown.returncode == 1  # Click's own code for it is 2, which SPEC §5 keeps for conflicts
    assert "No such command" in unknown.stderr
    for option, value in (("--time-limit", "0"), ("--time-limit", "inf"), ("--with-consumables", "1e12")):
        out_of_range = aidpack(tmp_path, "allocate", option, value)
        assert out_of_range.returncode == 1, (option, value)
        assert option in out_of_range.stderr
        assert "Traceback" not in out_of_range.stderr

    first = aidpack(tmp_path, "user", "add", "a@example.org", "--role", "viewer", "--password-stdin",
                    stdin="long enough password\n")
    assert first.returncode == 0, first.stderr
    again = aidpack(tmp_path, "user", "add", "a@example.org", "--role", "viewer", "--password-stdin",
                    stdin="long enough password\n")
    assert again.returncode == 2, again.stderr
    assert "USER_EXISTS" in again.stderr


def test_output_to_a_pipe_is_wide_enough_for_a_plan_unless_columns_says_otherwise(tmp_path: Path) -> None:
    width = "from aidpack.cli import common; print(common.console.width)"
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    piped = subprocess.run([sys.executable, "-c", width], capture_output=True, text=True, env=env, check=True)
    assert piped.stdout.strip() == "160"  # not Rich's 80, which cut refs and figures to "N-000…", "565,0…"
    told = subprocess.run([sys.executable, "-c", width], capture_output=True, text=True, env={**env, "COLUMNS": "90"},
                          check=True)
    assert told.stdout.strip() == "90"


def test_a_plan_whose_reader_goes_away_is_saved_as_printed(tmp_path: Path) -> None:
    # `aidpack allocate | head -1`: the reader closes the pipe after the first line. The plan whose number that line
    # printed is saved (before, printing inside the transaction rolled it back, and the next plan took its number).
    from tests.cli.test_allocate_cli import write_scenario

    imported = aidpack(tmp_path, "import", str(write_scenario(tmp_path / "turkiye")))
    assert imported.returncode == 0, imported.stderr
    env = {**os.environ, "AIDPACK_DATABASE_URL": f"sqlite:///{tmp_path / 'aidpack.db'}", "COLUMNS": "200"}
    for _ in range(2):
        child = subprocess.Popen([sys.executable, "-c", SCRIPT, "allocate"], stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL, text=True, env=env)
        assert child.stdout is not None
        first = child.stdout.readline()
        child.stdout.close()  # as `head -1` does
        child.wait(timeout=120)
        assert first.startswith("Plan ")
    shown = aidpack(tmp_path, "plan", "show", "--json")
    assert shown.returncode == 0, shown.stderr
    assert '"plan": "2"' in shown.stdout  # both plans saved
