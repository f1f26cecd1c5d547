"""Run independent per-block work on two processes: the caller's and one forked child.

OR-Tools' min-cost flow holds the GIL, so threads do not overlap the flow phase (two 400,000-arc flows:
1.21 s one after the other, 1.15 s on two threads, 0.67 s in two forked processes on this machine's two
cores). On the engine's own blocks the gain is smaller: side by side each takes about twice as long as
alone (1e6 bench: first pass 1.88 s -> 1.82 s; 2e6: 3.74 s -> 3.18 s). A forked child sees the blocks
without copying them (copy-on-write) and sends back only its results, pickled through a pipe. When the
child fails in any way, the caller does its share itself, so the result never depends on whether the
split worked.
"""

from __future__ import annotations

import multiprocessing as mp
import pickle
import time
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from typing import TypeVar

R = TypeVar("R")
#: Seconds to wait for the child after this process has done its share: at least this long, and at least
#: this many times as long as this process's share took.
CHILD_PATIENCE = 30.0
PATIENCE_FACTOR = 10.0


def halves(weights: Sequence[float]) -> tuple[list[int], list[int]]:
    """Indices split into two groups of about equal weight (largest first, each to the lighter group);
    each group in increasing index order."""
    groups: tuple[list[int], list[int]] = ([], [])
    load = [0.0, 0.0]
    for i in sorted(range(len(weights)), key=lambda i: (-weights[i], i)):
        g = 0 if load[0] <= load[1] else 1
        groups[g].append(i)
        load[g] += weights[i]
    return sorted(groups[0]), sorted(groups[1])


def fork_available() -> bool:
    return "fork" in mp.get_all_start_methods()


def map_split(fn: Callable[[int], R], weights: Sequence[float], *, split: bool) -> list[R]:
    """``[fn(i) for i in range(len(weights))]``; with ``split``, about half of the work (by ``weights``)
    in a forked child while this process does the rest. ``fn``'s results must pickle."""
    n = len(weights)
    if not split or n < 2 or not fork_available():
        return [fn(i) for i in range(n)]
    mine, theirs = halves(weights)
    ctx = mp.get_context("fork")
    receive, send = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_child, args=(fn, theirs, send), daemon=True)
    try:
        child.start()
    except (OSError, AssertionError, ValueError):  # no fork here (a daemonic process has no children)
        receive.close()
        send.close()
        return [fn(i) for i in range(n)]
    send.close()
    started = time.perf_counter()
    results: dict[int, R] = {i: fn(i) for i in mine}
    # The child's share is about as long as this one; a child that has not answered long after is stuck
    # (a lock some other thread held when it forked) and is stopped.
    patience = max(CHILD_PATIENCE, PATIENCE_FACTOR * (time.perf_counter() - started))
    theirs_results: list[R] | None = _receive(receive, len(theirs)) if receive.poll(patience) else None
    if theirs_results is None and child.is_alive():
        child.kill()
    child.join()
    receive.close()
    if theirs_results is None:
        theirs_results = [fn(i) for i in theirs]
    results.update(zip(theirs, theirs_results, strict=True))
    return [results[i] for i in range(n)]


def _child(fn: Callable[[int], R], indices: list[int], send: Connection) -> None:
    try:
        payload = pickle.dumps(("ok", [fn(i) for i in indices]), protocol=pickle.HIGHEST_PROTOCOL)
    except BaseException as error:  # the parent redoes this share; it only needs to know
        payload = pickle.dumps(("error", repr(error)))
    send.send_bytes(payload)
    send.close()


def _receive(receive: Connection, expected: int) -> list[R] | None:
    try:
        status, value = pickle.loads(receive.recv_bytes())
    except (EOFError, OSError, pickle.UnpicklingError):
        return None
    if status != "ok" or not isinstance(value, list) or len(value) != expected:
        return None
    return value
