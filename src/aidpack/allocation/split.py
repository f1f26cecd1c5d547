"""Run independent per-block work on two processes: the caller's and one forked child.

OR-Tools' min-cost flow holds the GIL, so threads do not overlap the flow phase (two 400,000-arc flows:
1.21 s one after the other, 1.15 s on two threads, 0.67 s in two forked processes on this machine's two
cores). On the engine's own blocks, once NumPy's BLAS keeps to one thread (:data:`engine.BLAS_THREADS`:
its spinning thread otherwise took the second core), the first pass at 1e6 takes 1.05 s split against
1.90 s in one process, at 1e5 0.165 s against 0.30 s. A forked child sees the blocks without copying them
(copy-on-write) and sends back only its results, pickled through a pipe. The two take items from a shared
counter, heaviest first. When the child fails in any way, the caller does whatever the
child took and did not send back, so the result never depends on whether the split worked.
"""

from __future__ import annotations

import multiprocessing as mp
import pickle
import time
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from multiprocessing.sharedctypes import Synchronized
from typing import Generic, TypeVar

R = TypeVar("R")
#: Seconds to wait for the child after this process has done its share: at least this long, and at least
#: this many times as long as this process's share took.
CHILD_PATIENCE = 30.0
PATIENCE_FACTOR = 10.0
#: Seconds to wait for the shared counter's lock, which is only ever held for an increment.
LOCK_PATIENCE = 5.0


def fork_available() -> bool:
    return "fork" in mp.get_all_start_methods()


def map_split(fn: Callable[[int], R], weights: Sequence[float], *, split: bool) -> list[R]:
    """``[fn(i) for i in range(len(weights))]``; with ``split``, this process and a forked child take the
    items one at a time, heaviest first (by ``weights``), from a shared counter, until none is left: the
    one that drew a heavy item takes fewer of the rest. On the 1e6 bench, each block's first pass timed
    alone, halves fixed in advance by weight held 2.04 s and 1.54 s of work, drawn this way 1.79 s each.
    ``fn``'s results must pickle."""
    n = len(weights)
    if not split or n < 2 or not fork_available():
        return [fn(i) for i in range(n)]
    order = sorted(range(n), key=lambda i: (-weights[i], i))
    ctx = mp.get_context("fork")
    drawn = ctx.Value("l", 0)  # how many of ``order`` have been taken
    receive, send = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_child, args=(fn, order, drawn, send), daemon=True)
    try:
        child.start()
    except (OSError, AssertionError, ValueError):  # no fork here (a daemonic process has no children)
        receive.close()
        send.close()
        return [fn(i) for i in range(n)]
    send.close()
    started = time.perf_counter()
    results: dict[int, R] = {}
    while (i := _draw(drawn, order)) is not None:
        results[i] = fn(i)
    # The child is finishing the item it drew last; one that has not answered long after is stuck (a lock
    # some other thread held when it forked) and is stopped.
    patience = max(CHILD_PATIENCE, PATIENCE_FACTOR * (time.perf_counter() - started))
    theirs: dict[int, R] | None = _receive(receive) if receive.poll(patience) else None
    if theirs is None and child.is_alive():
        child.kill()
    child.join()
    receive.close()
    for i, result in (theirs or {}).items():
        results.setdefault(i, result)
    # Whatever the child drew and did not send back (it failed, died or was stopped) is done here.
    return [results[i] if i in results else fn(i) for i in range(n)]


class Ahead(Generic[R]):
    """``fns`` run in a forked child while this process goes on with other work; :meth:`results` waits for them.
    When the child fails in any way, or cannot be forked (a daemonic process, such as :func:`map_split`'s child,
    has no children), this process runs them itself, so the results never depend on whether the child worked.
    :meth:`cancel` stops a child whose results are not wanted. The results must pickle."""

    def __init__(self, fns: Sequence[Callable[[], R]]) -> None:
        self._fns = list(fns)
        self._started = time.perf_counter()
        self._child: BaseProcess | None = None
        self._receive: Connection | None = None
        if not fork_available() or mp.current_process().daemon:
            return
        ctx = mp.get_context("fork")
        receive, send = ctx.Pipe(duplex=False)
        child = ctx.Process(target=_ahead_child, args=(self._fns, send), daemon=True)
        try:
            child.start()
        except (OSError, AssertionError, ValueError):
            receive.close()
            send.close()
            return
        send.close()
        self._child, self._receive = child, receive

    def results(self) -> list[R]:
        child, receive = self._child, self._receive
        if child is None or receive is None:
            return [fn() for fn in self._fns]
        patience = max(CHILD_PATIENCE, PATIENCE_FACTOR * (time.perf_counter() - self._started))
        theirs: dict[int, R] | None = _receive(receive) if receive.poll(patience) else None
        self._close()
        done = theirs or {}
        return [done[i] if i in done else fn() for i, fn in enumerate(self._fns)]

    def cancel(self) -> None:
        self._close()

    def _close(self) -> None:
        if self._child is not None:
            if self._child.is_alive():  # sent its results and leaving, or not wanted any more
                self._child.kill()
            self._child.join()
        if self._receive is not None:
            self._receive.close()
        self._child, self._receive = None, None


def _ahead_child(fns: list[Callable[[], R]], send: Connection) -> None:
    _send(lambda: {i: fn() for i, fn in enumerate(fns)}, send)


def _draw(drawn: Synchronized[int], order: list[int]) -> int | None:
    """The next item nobody has taken (None when all are taken, or the counter's lock is not free in time:
    a child that died holding it)."""
    lock = drawn.get_lock()
    if not lock.acquire(timeout=LOCK_PATIENCE):
        return None
    try:
        k = drawn.value
        if k >= len(order):
            return None
        drawn.value = k + 1
        return order[k]
    finally:
        lock.release()


def _child(fn: Callable[[int], R], order: list[int], drawn: Synchronized[int], send: Connection) -> None:
    def work() -> dict[int, R]:
        done: dict[int, R] = {}
        while (i := _draw(drawn, order)) is not None:
            done[i] = fn(i)
        return done

    _send(work, send)


def _send(work: Callable[[], dict[int, R]], send: Connection) -> None:
    """A child's results, pickled through ``send``; or, should ``work`` fail, that it failed (the parent does what
    is missing: it only needs to know)."""
    try:
        payload = pickle.dumps(("ok", work()), protocol=pickle.HIGHEST_PROTOCOL)
    except BaseException as error:
        payload = pickle.dumps(("error", repr(error)))
    send.send_bytes(payload)
    send.close()


def _receive(receive: Connection) -> dict[int, R] | None:
    try:
        status, value = pickle.loads(receive.recv_bytes())
    except (EOFError, OSError, pickle.UnpicklingError):
        return None
    if status != "ok" or not isinstance(value, dict):
        return None
    return value
