"""The fast path (two min-cost flows per block, rounding, HiGHS MIP where rounding loses) against the
reference path (every block as lexicographic HiGHS LP/MIP solves) on the same instances."""

from __future__ import annotations

import datetime as dt
from typing import cast

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from aidpack.allocation.engine import Allocation, allocate
from aidpack.allocation.flow import _compact, need_levels
from aidpack.allocation.model import UNIT_EPSILON
from aidpack.allocation.models import Termination
from aidpack.allocation.problem import Problem
from aidpack.allocation.solve import TIER_GAP, SolveOptions
from tests.allocation.builders import T0, TIERS, Instance, N, P

FLOW = SolveOptions(method="flow", workers=1)
#: Tests must not depend on the machine's load: a generous budget lets every small MIP finish.
FLOW_PATIENT = SolveOptions(method="flow", workers=1, integer_budget=10.0)
HIGHS = SolveOptions(method="highs", workers=1, mip_stage_budget=10.0)


def transit_cost(problem: Problem, result: Allocation) -> float:
    return float(((result.line_transit + UNIT_EPSILON) * result.line_units).sum())


def test_need_levels_order_tiers_first_then_people_per_unit_with_ties_equal() -> None:
    people = np.array([10.0, 100.0, 50.0, 40.0, 0.0])
    demand = np.array([10.0, 50.0, 25.0, 10.0, 5.0])
    tier = np.array([1, 1, 1, 0, 0])
    rank = need_levels(people, demand, tier)
    # Tier 0 first (4 per unit), then tier 1 at 2 per unit (a tie: same level), then 1 per unit.
    assert rank[3] > rank[1] == rank[2] > rank[0] > 0
    assert rank[4] == 0  # nobody served: no weight


@given(st.lists(st.integers(0, 30), max_size=60))
def test_a_blocks_pledges_and_needs_are_numbered_as_np_unique_numbers_them(ids: list[int]) -> None:
    seen = np.zeros(31, dtype=bool)
    array = np.array(ids, dtype=np.int64)
    unique, inverse = _compact(array, seen)
    expected, expected_inverse = np.unique(array, return_inverse=True)
    assert np.array_equal(unique, expected)
    assert np.array_equal(inverse, expected_inverse)
    assert not seen.any()  # left clean for the next block


@st.composite
def divisible_instances(draw: st.DrawFn) -> Instance:
    n_hubs, n_regions = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    transit = [[draw(st.integers(0, 6)) for _ in range(n_regions)] for _ in range(n_hubs)]
    caps = ("FUEL", "KIT", "WATER")
    needs = [
        N(
            ref=f"N{i:02}", capability=draw(st.sampled_from(caps)), quantity=float(draw(st.integers(1, 500))),
            tier=draw(st.sampled_from(TIERS)), people=float(draw(st.integers(1, 3000))),
            deadline=draw(st.one_of(st.none(), st.integers(0, 8).map(lambda d: T0 + dt.timedelta(days=d)))),
            region=draw(st.integers(0, n_regions - 1)),
        )
        for i in range(draw(st.integers(0, 14)))
    ]
    pledges = []
    for j in range(draw(st.integers(0, 10))):
        capability = draw(st.sampled_from(caps))
        # Divisible, or indivisible single units (factor 1): the flow optimum is then whole and exact, unless
        # a divisible pledge's decimals make the flow's scale finer than a unit.
        integer = capability == "KIT" or draw(st.booleans())
        pledges.append(P(
            ref=f"P{j:02}", capability=capability, units=float(draw(st.integers(0, 400))),
            factor=1.0 if integer else float(draw(st.sampled_from([1, 2.5, 10]))), integer=integer,
            available=draw(st.one_of(st.none(), st.integers(-2, 4).map(lambda d: T0 + dt.timedelta(days=d)))),
            hub=draw(st.integers(0, n_hubs - 1)),
        ))
    return Instance(needs=needs, pledges=pledges, transit=transit)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(divisible_instances())
def test_flow_equals_highs_on_every_tier_and_transit_for_divisible_and_single_units(instance: Instance) -> None:
    problem = instance.problem()
    fast, reference = allocate(problem, FLOW), allocate(problem, HIGHS)
    assert fast.termination is Termination.OPTIMAL
    # HiGHS's MIP (factor-1 indivisible units) very rarely stalls on a tiny instance: then there is no
    # reference to compare with.
    assume(reference.termination is Termination.OPTIMAL)
    # A factor-1 unit can come out of the flow split when a divisible pledge's decimals make the flow's scale
    # finer than a unit (2.5 litres a unit: tenths); it is rounded, and the plan may then trade within half
    # of a tier's gap (SPEC §4's 1e-4: a CI run found 0.0015 of 29 critical-tier people given for 0.5 high-tier
    # ones). Where every block's flow was whole, the two agree to 1e-6.
    rounded = any(method != "flow" for method in cast(dict[str, int], fast.figures["block_methods"]))
    assert_not_worse(fast, reference, instance, gap=TIER_GAP if rounded else 1e-6)
    # Same last objective (HiGHS may trade its 1e-7 tier slack for a little transit).
    if np.allclose(fast.tier_served, reference.tier_served, rtol=1e-6, atol=1e-3):
        assert transit_cost(problem, fast) <= transit_cost(problem, reference) * (1 + 1e-3) + 1e-3
    # Single units are whole.
    integer = problem.pledge_integer[fast.line_pledge]
    assert np.all(fast.line_units[integer] == np.rint(fast.line_units[integer]))


def assert_not_worse(fast: Allocation, reference: Allocation, instance: Instance, *, gap: float) -> None:
    """Lexicographic comparison: at the first tier where the two differ, the fast path is at most ``gap``
    below the reference (later tiers are not comparable once an earlier one differs)."""
    for tier in range(4):
        a, b = float(fast.tier_served[tier]), float(reference.tier_served[tier])
        if a > b + 1e-12 * max(abs(b), 1.0):
            return  # the fast path is ahead here (HiGHS holds tiers with a 1e-7 slack)
        assert a >= b * (1 - gap) - 1e-6, (tier, fast.tier_served, reference.tier_served, instance)
        if a < b - 1e-9 * max(abs(b), 1.0) - 1e-6:
            # Behind within the gap (units are stored to 6 decimals: at 3,000 people per unit that is a few
            # thousandths of a person): HiGHS may have spent that on a later tier, so stop comparing here.
            return


@st.composite
def pack_instances(draw: st.DrawFn) -> Instance:
    needs = [
        N(ref=f"N{i:02}", capability="POWER-KW", quantity=float(draw(st.integers(5, 400))),
          tier=draw(st.sampled_from(TIERS)), people=float(draw(st.integers(1, 3000))),
          region=draw(st.integers(0, 1)))
        for i in range(draw(st.integers(1, 8)))
    ]
    pledges = [
        P(ref=f"P{j:02}", capability="POWER-KW", units=float(draw(st.integers(0, 8))),
          factor=float(draw(st.sampled_from([5, 30, 100, 176]))), integer=True, hub=draw(st.integers(0, 1)))
        for j in range(draw(st.integers(1, 5)))
    ]
    transit = [[draw(st.integers(1, 5)) for _ in range(2)] for _ in range(2)]
    return Instance(needs=needs, pledges=pledges, transit=transit)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pack_instances())
def test_indivisible_packs_reach_the_mip_optimum_within_the_tier_gap(instance: Instance) -> None:
    problem = instance.problem()
    fast, reference = allocate(problem, FLOW_PATIENT), allocate(problem, HIGHS)
    assume(reference.termination is Termination.OPTIMAL)
    # Whole units may not be provable within the gap against the LP bound; the plan then says so.
    assert fast.termination in (Termination.OPTIMAL, Termination.TIME_LIMIT)
    if fast.termination is Termination.TIME_LIMIT:
        assert fast.gap > FLOW_PATIENT.tier_gap
    assert_not_worse(fast, reference, instance, gap=1e-4)
    assert np.all(fast.line_units == np.rint(fast.line_units))


def test_parallel_and_sequential_runs_give_the_same_plan() -> None:
    rng = np.random.default_rng(3)
    caps = ("FUEL", "KIT", "WATER", "BLANKET")
    instance = Instance(
        needs=[N(f"N{i:03}", caps[i % 4], float(rng.integers(1, 300)), TIERS[int(rng.integers(0, 4))],
                 float(rng.integers(1, 5000)), region=int(rng.integers(0, 3))) for i in range(120)],
        pledges=[P(f"P{j:03}", caps[j % 4], float(rng.integers(1, 400)), hub=int(rng.integers(0, 2)),
                   integer=bool(j % 2)) for j in range(40)],
        transit=[[2, 3, 4], [4, 3, 2]],
    )
    one = allocate(instance.problem(), SolveOptions(workers=1))
    two = allocate(instance.problem(), SolveOptions(workers=2))
    assert np.array_equal(one.line_pledge, two.line_pledge)
    assert np.array_equal(one.line_need, two.line_need)
    assert np.array_equal(one.line_units, two.line_units)


def test_the_lp_bound_is_reported_per_tier_and_the_gap_against_it() -> None:
    # One 100 kW generator, two needs of 60 kW in the same tier: the LP splits it (bound 100 kW worth),
    # whole units cover one need (60 kW worth): the plan reports that loss, not "optimal".
    instance = Instance(
        needs=[N("A", "POWER-KW", 60, people=60), N("B", "POWER-KW", 60, people=60)],
        pledges=[P("G", "POWER-KW", 1, factor=100, integer=True)],
    )
    result = allocate(instance.problem(), FLOW)
    assert result.tier_served[0] == pytest.approx(60.0)
    bound = result.figures["tier_bound"]
    assert isinstance(bound, dict)
    assert bound["critical"] == pytest.approx(60.0)  # HiGHS proved the MIP optimum: the bound tightens
    assert result.termination is Termination.OPTIMAL


def barrels_and_loose_diesel() -> Instance:
    # Diesel in US barrels (158.987295 litres) beside loose litres and 1,000-litre IBCs, all divisible: the flow's
    # amounts are millionths of a litre, which leaves its transit costs a few integers of range.
    needs = [N(f"N{i}", "DIESEL-L", 2_000 + 137 * i, tier=TIERS[i % 4], people=10 + i, region=i % 2)
             for i in range(12)]
    pledges = [P("BARRELS", "DIESEL-L", 60_000, factor=158.987295, hub=0),
               P("BARRELS-B", "DIESEL-L", 3, factor=158.987295, hub=1),
               P("LOOSE", "DIESEL-L", 9_000, hub=1), P("IBC", "DIESEL-L", 30, factor=1_000, hub=1)]
    return Instance(needs=needs, pledges=pledges, transit=[[1, 3], [3, 1]])


def test_a_divisible_plan_of_barrels_is_proved_optimal_in_spite_of_its_coarse_transit_costs() -> None:
    # QA: such a plan, an LP the flows solve exactly, reported "time_limit", gap 2e-3, from the bound on its costs'
    # scaling error alone; its transit is now bounded in whole litres too, and the plan is proved.
    instance = barrels_and_loose_diesel()
    result = allocate(instance.problem(), FLOW)
    assert result.termination is Termination.OPTIMAL
    assert result.gap <= 1e-3
    # The gap it reports is no smaller than its distance from HiGHS's exact optimum.
    reference = allocate(instance.problem(), HIGHS)
    np.testing.assert_allclose(result.tier_served, reference.tier_served, rtol=1e-7)
    ours, best = transit_cost(instance.problem(), result), transit_cost(instance.problem(), reference)
    assert ours <= best * (1 + 1e-3)
    assert ours - best <= result.gap * ours + 1e-6
