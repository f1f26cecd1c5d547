"""Per-block work split over a forked child: the same results as one process, whatever the child does."""

from __future__ import annotations

import multiprocessing as mp
import os
import time
from typing import Any

import numpy as np
import pytest
from threadpoolctl import threadpool_info

from aidpack.allocation import blocks, split
from aidpack.allocation.engine import BLAS_THREADS, allocate
from aidpack.allocation.solve import SolveOptions
from aidpack.allocation.split import fork_available, map_split
from tests.allocation.builders import TIERS, Instance, N, P

needs_fork = pytest.mark.skipif(not fork_available(), reason="the split needs the fork start method")


@needs_fork
def test_both_processes_take_items_until_none_is_left_and_each_item_is_done_once() -> None:
    def work(i: int) -> tuple[int, int]:
        time.sleep(0.02)  # long enough for the child to start while items are left
        return i, os.getpid()

    results = map_split(work, [float(20 - i) for i in range(20)], split=True)
    assert [i for i, _ in results] == list(range(20))
    assert len({pid for _, pid in results}) == 2


@needs_fork
def test_a_forked_child_returns_the_same_results_in_the_same_order() -> None:
    data = [np.arange(n, dtype=np.float64) for n in range(1, 9)]
    parent = os.getpid()
    where: list[int] = []

    def work(i: int) -> tuple[float, int]:
        where.append(os.getpid())
        time.sleep(0.02)  # long enough for the child to start while items are left
        return float(data[i].sum()), os.getpid()

    results = map_split(work, [float(n) for n in range(1, 9)], split=True)
    assert [r[0] for r in results] == [float(d.sum()) for d in data]
    assert {r[1] for r in results} - {parent}  # some of the work ran in the child
    assert all(pid == parent for pid in where)  # the child's own list is not this one


@needs_fork
def test_when_the_child_fails_this_process_does_its_share() -> None:
    parent = os.getpid()

    def work(i: int) -> int:
        if os.getpid() != parent:
            raise RuntimeError("the child breaks")
        return i * i

    assert map_split(work, [1.0] * 6, split=True) == [i * i for i in range(6)]


@needs_fork
def test_when_the_child_dies_this_process_does_its_share() -> None:
    parent = os.getpid()

    def work(i: int) -> int:
        if os.getpid() != parent:
            os._exit(3)
        return i + 1

    assert map_split(work, [1.0] * 5, split=True) == [1, 2, 3, 4, 5]


def test_without_split_everything_runs_here() -> None:
    parent = os.getpid()
    assert map_split(lambda i: (i, os.getpid()), [1.0, 2.0], split=False) == [(0, parent), (1, parent)]


@needs_fork
def test_the_engine_plans_the_same_with_its_first_pass_split_over_two_processes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    needs = [N(f"{c}{i}", c, 40 + 30 * i, tier=TIERS[i % 4], people=10 + i, region=i % 2)
             for c in ("FUEL", "POWER", "WATER") for i in range(6)]
    pledges = [P(f"{c}-P{j}", c, 3 + j, factor=(1.0, 25.0, 60.0)[j % 3], integer=j % 3 > 0, hub=j % 2)
               for c in ("FUEL", "POWER", "WATER") for j in range(4)]
    problem = Instance(needs=needs, pledges=pledges, transit=[[1, 3], [2, 1]]).problem()
    options = SolveOptions(workers=2, integer_budget=0.0)
    one = allocate(problem, options)
    monkeypatch.setattr(blocks, "SPLIT_ARCS", 0)
    split = allocate(problem, options)
    for name in ("line_pledge", "line_need", "line_units"):
        assert getattr(split, name).tolist() == getattr(one, name).tolist()
    assert split.tier_served.tolist() == one.tier_served.tolist()


def test_blas_keeps_to_one_thread_while_the_engine_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """OpenBLAS's spinning thread would take the core the forked child works on (see engine.BLAS_THREADS)."""
    seen: list[int] = []
    first_pass = blocks._first_pass

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.extend(int(pool["num_threads"]) for pool in threadpool_info() if pool["user_api"] == "blas")
        return first_pass(*args, **kwargs)

    monkeypatch.setattr(blocks, "_first_pass", spy)
    needs = [N(f"n{i}", "POWER", 40 + 30 * i, tier=TIERS[i % 4], people=10 + i) for i in range(4)]
    pledges = [P("big", "POWER", 3, factor=25.0, integer=True), P("small", "POWER", 40, factor=1.0, integer=True)]
    allocate(Instance(needs=needs, pledges=pledges).problem(), SolveOptions(workers=1, integer_budget=0.0))
    assert seen
    assert set(seen) == {BLAS_THREADS} == {1}


@needs_fork
def test_a_child_that_never_answers_is_stopped_and_this_process_does_its_share(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(split, "CHILD_PATIENCE", 0.5)
    monkeypatch.setattr(split, "PATIENCE_FACTOR", 1.0)
    parent = os.getpid()

    def work(i: int) -> int:
        if os.getpid() != parent:
            time.sleep(60)  # stuck, as on a lock another thread held at the fork
        return 2 * i

    started = time.perf_counter()
    assert map_split(work, [1.0] * 4, split=True) == [0, 2, 4, 6]
    assert time.perf_counter() - started < 30


@needs_fork
def test_where_no_child_may_be_forked_everything_runs_here(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: object) -> None:
        raise AssertionError("daemonic processes are not allowed to have children")

    monkeypatch.setattr(mp.context.ForkProcess, "start", refuse)
    assert map_split(lambda i: i + 10, [1.0, 1.0, 1.0], split=True) == [10, 11, 12]
