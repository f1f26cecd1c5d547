"""Python's own stdout beside HiGHS's: standard library only, so that the console script can call it before any
command (even ``--help``) without importing the engine (NumPy, SciPy, HiGHS)."""

from __future__ import annotations

import io
import os
import sys


def keep_python_stdout() -> None:
    """Give Python's ``sys.stdout`` a file descriptor of its own, a copy of 1, so that :func:`solve.quiet_stdout` (which
    points 1 at /dev/null while any thread runs HiGHS) silences HiGHS's C++ output only. For a long-running process
    whose other threads write to stdout while plans are computed: the web server's request log would otherwise lose
    every line written during a solve. Call it before anything keeps a reference to ``sys.stdout`` (logging
    handlers)."""
    if sys.stdout is None or sys.stdout.closed:
        return
    try:
        if sys.stdout.fileno() != 1:
            return
        sys.stdout.flush()
        copy = os.dup(1)
    except (OSError, ValueError, io.UnsupportedOperation):  # no real stdout (a test's capture, a closed stream)
        return
    sys.stdout = os.fdopen(copy, "w", buffering=1, encoding=sys.stdout.encoding, errors=sys.stdout.errors)
