"""The root ``aidpack`` command. Each domain module registers its own commands; no logic here.

The command modules import the engine, the ORM and the web app inside their commands, not at the top: `aidpack
--help`, or any command's, then loads Typer and Rich only (no NumPy, SciPy, HiGHS, OR-Tools, SQLAlchemy)."""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import sys

import typer

from aidpack.allocation.stdout import keep_python_stdout
from aidpack.cli import allocate, audit, common, demo, export, imports, logistics, report, serve, users

app = typer.Typer(
    name="aidpack",
    help="Run an aid-package mechanism: needs, pledges, optimal allocation plans, deliveries, a trusted record.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
plan_app = typer.Typer(help="Read and decide allocation plans (the latest by default).", no_args_is_help=True)
app.add_typer(plan_app, name="plan")


@app.command()
def init() -> None:
    """Create or migrate the database (every other command does this too when needed)."""
    common.session_factory()
    common.console.print("database ready")


def _register() -> None:
    # Each module adds its commands to the root app (and to `plan` where they decide plans).
    allocate.register(app, plan_app)
    demo.register(app, plan_app)
    imports.register(app, plan_app)
    logistics.register(app, plan_app)
    audit.register(app, plan_app)
    users.register(app, plan_app)
    serve.register(app, plan_app)
    report.register(app, plan_app)
    export.register(app, plan_app)


_register()


#: Exit codes of a usage error: Click's, and SPEC §5's (which keeps 2 for a conflict).
USAGE_ERROR_CLICK = 2
USAGE_ERROR = 1


def main() -> None:
    """The ``aidpack`` console script: the app, then an exit without Python's teardown of every module it
    loaded (SQLAlchemy, NumPy, SciPy, HiGHS, OR-Tools: 0.5 s of a 4 s `aidpack allocate` at 1e5 candidate edges
    on a slow day, a quarter of the time their imports took). What teardown would do that matters is done
    first: the exit handlers run (multiprocessing's, the caller's), logging and both streams are flushed, the
    database's connections are closed. A command that raises keeps Python's usual exit (traceback included).

    Python's stdout gets a file descriptor of its own first (:func:`stdout.keep_python_stdout`): HiGHS's C++ output is
    kept off descriptor 1 while it solves, and neither the progress spinner a terminal shows meanwhile nor the request
    log of `aidpack serve` is."""
    keep_python_stdout()
    try:
        app()
    except SystemExit as done:
        code = done.code
    else:
        code = 0
    if code == USAGE_ERROR_CLICK and not common.conflict_reported:
        # Click's exit code for a usage error (an unknown option, a bad value); SPEC §5 gives 2 to conflicts.
        code = USAGE_ERROR
    if isinstance(code, str):
        print(code, file=sys.stderr)
    common.close_database()
    atexit._run_exitfuncs()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a reader that left (`| head`), or a closed stream
            stream.flush()
    os._exit(code if isinstance(code, int) else int(code is not None))


if __name__ == "__main__":
    main()
