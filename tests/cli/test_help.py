"""`aidpack --help` and every command's help load the CLI alone: the engine, the ORM and the web app are imported by
the commands that use them (`aidpack --help` took 1.5-2.3 s when it imported them all, 0.3-0.5 s without)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

#: What only a command's work needs: the solvers, the arrays, the database, the web server.
HEAVY = ("numpy", "scipy", "highspy", "ortools", "sqlalchemy", "fastapi", "uvicorn", "aidpack.db")

SCRIPT = (
    "import atexit, sys\n"
    f"heavy = {HEAVY!r}\n"
    "atexit.register(lambda: print('loaded:', *sorted(m for m in heavy if m in sys.modules)))\n"
    "from aidpack.cli.main import main\n"
    "sys.argv = ['aidpack', *sys.argv[1:]]\n"
    "main()\n"
)


@pytest.mark.parametrize(
    "command",
    [(), ("allocate",), ("plan", "accept"), ("receive",), ("user", "add"), ("report",), ("export",), ("serve",)],
)
def test_help_imports_no_engine_orm_or_web_app(tmp_path: Path, command: tuple[str, ...]) -> None:
    env = {**os.environ, "AIDPACK_DATABASE_URL": f"sqlite:///{tmp_path / 'aidpack.db'}", "COLUMNS": "200"}
    done = subprocess.run([sys.executable, "-c", SCRIPT, *command, "--help"], capture_output=True, text=True, env=env,
                          timeout=120, check=False)

    assert done.returncode == 0, done.stderr
    assert "Usage: aidpack" in done.stdout
    assert done.stdout.splitlines()[-1] == "loaded:"  # none of HEAVY
    assert not (tmp_path / "aidpack.db").exists()  # nor was the database opened


def test_a_command_still_loads_what_it_needs(tmp_path: Path) -> None:
    env = {**os.environ, "AIDPACK_DATABASE_URL": f"sqlite:///{tmp_path / 'aidpack.db'}", "COLUMNS": "200"}
    done = subprocess.run([sys.executable, "-c", SCRIPT, "plan", "show", "--json"], capture_output=True, text=True,
                          env=env, timeout=120, check=False)

    assert done.returncode == 1  # no plan yet
    assert '"error": "PLAN_NOT_FOUND"' in done.stdout
    assert "sqlalchemy" in done.stdout.splitlines()[-1]


def test_a_plan_alone_imports_no_importer(tmp_path: Path) -> None:
    # `aidpack allocate` needs the importers only for --what-if FILE (0.16 s of every plan's command otherwise).
    url = f"sqlite:///{tmp_path / 'aidpack.db'}"
    script = (
        "import atexit, sys\n"
        "atexit.register(lambda: print('ingest:', 'aidpack.ingest.service' in sys.modules))\n"
        "from aidpack.cli.main import main\n"
        "sys.argv = ['aidpack', 'allocate', '--json']\n"
        "main()\n"
    )
    env = {**os.environ, "AIDPACK_DATABASE_URL": url}
    subprocess.run([sys.executable, "-m", "aidpack.cli.main", "init"], capture_output=True, text=True, env=env,
                   timeout=120, check=False)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120,
                          check=False)

    assert done.stdout.splitlines()[-1] == "ingest: False", done.stderr
