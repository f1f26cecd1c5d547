"""Per-block work split over a forked child: the same results as one process, whatever the child does."""

from __future__ import annotations

import multiprocessing as mp
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from threadpoolctl import threadpool_info

from aidpack.allocation import blocks, first_pass, split
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
    real = first_pass._first_pass

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.extend(int(pool["num_threads"]) for pool in threadpool_info() if pool["user_api"] == "blas")
        return real(*args, **kwargs)

    monkeypatch.setattr(first_pass, "_first_pass", spy)
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


@needs_fork
def test_work_ahead_runs_in_a_child_and_gives_its_results_in_order() -> None:
    parent = os.getpid()
    def square(k: int) -> Callable[[], tuple[int, int]]:
        return lambda: (k * k, os.getpid())

    ahead = split.Ahead([square(k) for k in range(3)])
    results = ahead.results()
    assert [value for value, _ in results] == [0, 1, 4]
    assert {pid for _, pid in results} - {parent}


@needs_fork
def test_work_ahead_that_fails_or_dies_in_the_child_is_done_here() -> None:
    parent = os.getpid()

    def breaks() -> int:
        if os.getpid() != parent:
            raise RuntimeError("the child breaks")
        return 7

    def dies() -> int:
        if os.getpid() != parent:
            os._exit(3)
        return 8

    assert split.Ahead([breaks]).results() == [7]
    assert split.Ahead([dies]).results() == [8]


@needs_fork
def test_work_ahead_where_no_child_may_be_forked_is_done_here(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: object) -> None:
        raise AssertionError("daemonic processes are not allowed to have children")

    monkeypatch.setattr(mp.context.ForkProcess, "start", refuse)
    parent = os.getpid()
    assert split.Ahead([os.getpid]).results() == [parent]


@needs_fork
def test_work_ahead_not_wanted_is_stopped() -> None:
    ahead = split.Ahead([lambda: time.sleep(60)])
    started = time.perf_counter()
    ahead.cancel()
    assert time.perf_counter() - started < 5


@needs_fork
def test_the_engine_plans_the_same_with_a_large_blocks_roundings_made_ahead(monkeypatch: pytest.MonkeyPatch) -> None:
    needs = [N(f"F{i}", "FUEL", 300 + 170 * i, tier=TIERS[i % 4], people=10 + i, region=i % 2) for i in range(12)]
    pledges = [P(f"P{j}", "FUEL", (40, 9, 2)[j % 3], factor=(1.0, 200.0, 1000.0)[j % 3], integer=j % 3 > 0,
                 hub=j % 2) for j in range(9)]
    problem = Instance(needs=needs, pledges=pledges, transit=[[1, 3], [2, 1]]).problem()
    options = SolveOptions(workers=1, integer_budget=0.0)
    made: list[int] = []
    ahead_class = split.Ahead

    def spy(fns: Any) -> Any:
        made.append(len(fns))
        return ahead_class(fns)

    alone = allocate(problem, options)
    monkeypatch.setattr(first_pass, "AHEAD_ARCS", 0)
    monkeypatch.setattr(first_pass, "Ahead", spy)
    ahead = allocate(problem, options)
    assert made  # the block's roundings were made ahead
    for name in ("line_pledge", "line_need", "line_units"):
        assert getattr(ahead, name).tolist() == getattr(alone, name).tolist()
    assert ahead.tier_served.tolist() == alone.tier_served.tolist()
