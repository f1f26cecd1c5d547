"""Identical pledges are one supply to the solver; the plan still names each pledge and keeps within its units."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import cast

import numpy as np
import pytest

from aidpack.allocation import engine
from aidpack.allocation.blocks import Previous
from aidpack.allocation.engine import allocate
from aidpack.allocation.flow import flow_blocks
from aidpack.allocation.model import candidate_edges
from aidpack.allocation.pooling import pooled_candidate_edges
from aidpack.allocation.problem import Problem
from tests.allocation.builders import T0, Instance, N, P
from tests.allocation.test_fairness import bench_problem


def lines(problem: Problem, plan: engine.Allocation) -> dict[tuple[str, str], float]:
    return {(problem.pledge_refs[p], problem.need_refs[n]): float(u)
            for p, n, u in zip(plan.line_pledge, plan.line_need, plan.line_units, strict=True)}


def kits(*pledges: P) -> Instance:
    return Instance(needs=[N("N1", "KIT", 4, people=40), N("N2", "KIT", 3, people=30)], pledges=list(pledges),
                    transit=[[2], [2]])


def test_pledges_of_one_item_hub_and_day_are_one_pool_and_others_are_not() -> None:
    instance = Instance(
        needs=[N("N1", "KIT", 4)],
        pledges=[P("A", "KIT", 3, integer=True), P("B", "KIT", 5, integer=True),
                 P("C", "KIT", 5, integer=True, hub=1), P("D", "KIT", 5, integer=True, available=T0 + dt.timedelta(2)),
                 P("E", "KIT", 5, factor=10, integer=True), P("F", "KIT", 5)],
        transit=[[2], [2]],
    )
    problem = instance.problem()
    _, pool = pooled_candidate_edges(problem)
    assert pool is not None
    assert pool.problem.pledge_refs == ("A", "C", "D", "E", "F")  # A and B together, each pool by its first ref
    assert pool.problem.pledge_supply.tolist() == [8.0, 5.0, 5.0, 5.0, 5.0]


def test_a_pool_s_units_go_to_its_pledges_in_ref_order_each_within_its_units() -> None:
    problem = kits(P("A", "KIT", 3, integer=True), P("B", "KIT", 5, integer=True)).problem()
    plan = allocate(problem)
    assert plan.tier_served[0] == pytest.approx(70.0)
    sent = lines(problem, plan)
    assert sum(u for (p, _), u in sent.items() if p == "A") == 3.0
    assert sum(u for (p, _), u in sent.items() if p == "B") == 4.0
    assert all(u == int(u) for u in sent.values())


def test_a_re_plan_keeps_the_pledge_of_a_pool_that_the_previous_plan_sent() -> None:
    # Ref order would send A; the previous plan sent B to N1 and A to N2, and nothing changed.
    problem = kits(P("A", "KIT", 4, integer=True), P("B", "KIT", 4, integer=True)).problem()
    previous = Previous(pledge=np.array([1, 0]), need=np.array([0, 1]), units=np.array([4.0, 3.0]))
    plan = allocate(problem, previous=previous)
    assert lines(problem, plan) == {("B", "N1"): 4.0, ("A", "N2"): 3.0}
    assert plan.figures["moved_units"] == 0


def test_a_pooled_national_plan_serves_every_tier_as_the_plan_pledge_by_pledge(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The pooled model is the same model; the roundings may take other paths on it (the 1e6 bench's generator block:
    # 259 low-tier people fewer, 5e-5 of the tier), never beyond the tier gap. Here, at 1e4, the same people.
    problem = bench_problem(tmp_path, 1e4)
    pooled = allocate(problem)
    monkeypatch.setattr(engine, "pooled_candidate_edges", lambda problem: (candidate_edges(problem), None))
    plain = allocate(problem)
    assert cast(int, pooled.figures["pools"]) < problem.n_pledges
    assert pooled.tier_served == pytest.approx(plain.tier_served, rel=1e-4)
    # Every line on a candidate edge, every pledge within its units, whole units where indivisible.
    edges = candidate_edges(problem)
    pairs = set(zip(edges.pledge.tolist(), edges.need.tolist(), strict=True))
    assert all((p, n) in pairs for p, n in zip(pooled.line_pledge.tolist(), pooled.line_need.tolist(), strict=True))
    used = np.bincount(pooled.line_pledge, weights=pooled.line_units, minlength=problem.n_pledges)
    assert np.all(used <= problem.pledge_supply + 1e-6)
    whole = problem.pledge_integer[pooled.line_pledge]
    assert np.all(pooled.line_units[whole] == np.rint(pooled.line_units[whole]))


def test_a_pooled_block_is_as_large_as_the_plan_s_edges_it_stands_for() -> None:
    # Which blocks go to HiGHS, and with what share of the time, is decided by size: pooling makes a block cheaper,
    # not smaller.
    problem = kits(P("A", "KIT", 3, integer=True), P("B", "KIT", 5, integer=True), P("C", "KIT", 5, hub=1)).problem()
    _, pool = pooled_candidate_edges(problem)
    assert pool is not None
    (block,) = flow_blocks(pool.problem, pool.edges, pool.edge_weight)
    assert (block.n_arcs, block.size) == (4, 6)


@pytest.mark.parametrize("size", [1e4, 2e4])
def test_the_pools_edges_built_from_the_pools_are_those_of_pooling_the_candidate_edges(tmp_path: Path,
                                                                                       size: float) -> None:
    # The engine finds each pool's edges once and gives them to its pledges, rather than pooling every pledge's edges:
    # the pooled model is that of the candidate edges with each pledge read as its pool (one capability, pack size,
    # hub and day), and the real edges are the candidate edges (grouped by pooled edge), each for its own pledge.
    problem = bench_problem(tmp_path, size)
    edges = candidate_edges(problem)
    found, built = pooled_candidate_edges(problem)
    assert built is not None
    key = list(zip(problem.pledge_capability.tolist(), problem.pledge_factor.tolist(), problem.pledge_integer.tolist(),
                   problem.pledge_hub.tolist(), problem.pledge_start.tolist(), strict=True))
    index = {ref: i for i, ref in enumerate(problem.pledge_refs)}
    pool_of_key = {key[index[ref]]: k for k, ref in enumerate(built.problem.pledge_refs)}
    pool_of = np.array([pool_of_key[k] for k in key])
    expected = sorted({(int(pool_of[p]), n): (e, t) for p, n, e, t in zip(
        edges.pledge.tolist(), edges.need.tolist(), edges.eta.tolist(), edges.transit.tolist(), strict=True)}.items())
    for name, column in (("pledge", [k[0] for k, _ in expected]), ("need", [k[1] for k, _ in expected]),
                         ("eta", [v[0] for _, v in expected]), ("transit", [v[1] for _, v in expected])):
        assert np.array_equal(getattr(built.edges, name), column), name
    whole = np.where(problem.pledge_integer, np.floor(problem.pledge_supply + 1e-9), problem.pledge_supply)
    assert np.array_equal(built.problem.pledge_supply, np.bincount(pool_of, weights=whole, minlength=len(pool_of_key)))
    assert built.problem.pledge_refs == tuple(problem.pledge_refs[int(np.flatnonzero(pool_of == k)[0])]
                                              for k in range(len(pool_of_key)))
    pooled_key = pool_of[edges.pledge] * problem.n_needs + edges.need
    assert np.array_equal(built.edge_weight, np.unique(pooled_key, return_counts=True)[1])
    old = {(p, n): (e, t) for p, n, e, t in zip(edges.pledge.tolist(), edges.need.tolist(), edges.eta.tolist(),
                                                 edges.transit.tolist(), strict=True)}
    new = {(p, n): (e, t) for p, n, e, t in zip(found.pledge.tolist(), found.need.tolist(), found.eta.tolist(),
                                                 found.transit.tolist(), strict=True)}
    assert new == old
    assert len(found) == len(edges)
    # Each real edge belongs to the pooled edge of its need and its pledge's pool, the pool's pledges in ref order.
    assert np.array_equal(built.real_pledge, found.pledge)
    assert np.array_equal(found.need, built.edges.need[built.edge_pool])
    assert np.array_equal(pool_of[found.pledge], built.edges.pledge[built.edge_pool])
    for k in range(len(built.edges)):
        refs = [problem.pledge_refs[p] for p in found.pledge[built.starts[k]:built.starts[k + 1]].tolist()]
        assert refs == sorted(refs)
        assert refs[0] == built.problem.pledge_refs[int(built.edges.pledge[k])]


def test_a_problem_without_two_pledges_alike_has_no_pools() -> None:
    problem = kits(P("A", "KIT", 3, integer=True), P("B", "KIT", 5, integer=True, hub=1)).problem()
    edges, pool = pooled_candidate_edges(problem)
    assert pool is None
    assert np.array_equal(edges.pledge, candidate_edges(problem).pledge)
