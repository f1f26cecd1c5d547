"""HiGHS's C++ output is kept off stdout while it solves; a server's own log lines written meanwhile are not lost."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import logging, os, sys, threading
    from aidpack.allocation.solve import quiet_stdout
    from aidpack.allocation.stdout import keep_python_stdout  # the console script's
    if sys.argv[1] == "keep":
        keep_python_stdout()
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(message)s")
    solving, done = threading.Event(), threading.Event()

    def solve():
        with quiet_stdout():
            solving.set()
            os.write(1, b"HiGHS banner\\n")  # what HiGHS's C++ writes to file descriptor 1
            done.wait(10)

    worker = threading.Thread(target=solve)
    worker.start()
    solving.wait(10)
    logging.info("GET /plans 200")  # a request logged while the plan is computed
    done.set()
    worker.join()
    logging.info("after the solve")
""")


def _run(mode: str) -> str:
    done = subprocess.run([sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True, timeout=60,
                          check=True)
    return done.stdout


def test_a_log_line_written_while_highs_solves_reaches_stdout_and_highs_output_does_not() -> None:
    out = _run("keep")
    assert out.splitlines() == ["GET /plans 200", "after the solve"]


def test_without_its_own_descriptor_python_output_is_lost_while_highs_solves() -> None:
    # Why the server calls keep_python_stdout: otherwise the request's log line goes where HiGHS's output goes.
    out = _run("plain")
    assert out.splitlines() == ["after the solve"]
