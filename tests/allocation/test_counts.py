"""Whole packs in a few sizes, too many combinations for patterns: each need gets a count of units of each size
(allocation.counts). The count MIP is a relaxation of the block, so its stages bound every plan; where every
pledge reaches every need its optimum is the block's whole-unit optimum."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aidpack.allocation import counts, first_pass
from aidpack.allocation.counts import CountModel, _complete, _counts, count_model, count_round
from aidpack.allocation.engine import allocate
from aidpack.allocation.flow import FlowBlock, solve_flow_block
from aidpack.allocation.patterns import HallSeparator
from aidpack.allocation.rounding import Rounded, block_tier_values, greedy_round
from aidpack.allocation.solve import SolveOptions
from tests.allocation.builders import T0, TIERS, Instance, N, P, blocks_and_models, only_block
from tests.allocation.test_packs import exact
from tests.allocation.test_patterns import (
    BUDGET,
    OPTIMAL,
    bounded_and_never_worse,
    bounds_hold,
    never_worse,
    overlapping_reach_blocks,
    random_plan,
    reaches_the_optimum,
    two_clinics_between_three_hubs,
)

GENERATOR_SIZES = [5, 30, 100, 176, 1_000]


def clinic_and_school() -> Instance:
    # One 100 kW generator, three of 30 kW and one of 5 kW: 195 kW for a critical clinic of 95 kW and a high-tier
    # school of 100 kW. The 100 kW unit at the clinic wastes 5 kW and leaves the school 95; 30 + 30 + 30 + 5 cover
    # the clinic exactly and the 100 kW unit the school.
    return Instance(
        needs=[N("CLINIC", "POWER-KW", 95, tier="critical", people=950),
               N("SCHOOL", "POWER-KW", 100, tier="high", people=500)],
        pledges=[P("G100", "POWER-KW", 1, factor=100, integer=True), P("G30", "POWER-KW", 3, factor=30, integer=True),
                 P("G5", "POWER-KW", 1, factor=5, integer=True)],
    )


def big_unit_at_the_clinic(block: FlowBlock) -> Rounded:
    units = np.zeros(block.n_arcs)
    for arc in range(block.n_arcs):
        need, size = block.arc_need[arc], block.factor[block.arc_pledge[arc]]
        if (need == 0) == (size == 100):  # CLINIC sorts first: the 100 there, the small ones at the school
            units[arc] = block.units[block.arc_pledge[arc]]
    return Rounded(units=units, tier_values=block_tier_values(block, units), method="greedy")


def test_the_clinic_takes_the_small_generators_and_the_school_the_large_one() -> None:
    block = only_block(clinic_and_school())
    model = count_model(block, min_arcs=0)
    assert model is not None
    start = big_unit_at_the_clinic(block)
    assert start.tier_values.tolist() == pytest.approx([950.0, 475.0, 0.0, 0.0])
    plan = count_round(block, model, start, budget=BUDGET, options=OPTIMAL)
    assert plan.method == "counts"
    assert plan.tier_values.tolist() == pytest.approx([950.0, 500.0, 0.0, 0.0])
    assert plan.stage_bounds is not None
    assert plan.stage_bounds.for_plan(plan.tier_values)[:2] == pytest.approx([950.0, 500.0])
    brought = np.bincount(block.arc_need, weights=plan.units * block.factor[block.arc_pledge], minlength=2)
    assert brought.tolist() == [95.0, 100.0]


def test_a_block_with_loose_units_many_sizes_or_few_arcs_has_no_count_model() -> None:
    loose = Instance(needs=[N("A", "WATER-L", 900)],
                     pledges=[P("DRUM", "WATER-L", 2, factor=200, integer=True), P("LOOSE", "WATER-L", 500)])
    assert count_model(only_block(loose), min_arcs=0) is None
    many = Instance(needs=[N("A", "POWER-KW", 900)],
                    pledges=[P(f"S{size}", "POWER-KW", 2, factor=size, integer=True)
                             for size in (5, 10, 30, 100, 176, 500, 1_000)])
    assert count_model(only_block(many), min_arcs=0) is None
    assert count_model(only_block(clinic_and_school())) is None  # six arcs: the arc MIP is as small


@st.composite
def generator_blocks(draw: st.DrawFn, *, deadlines: bool) -> Instance:
    """Random needs (several tiers) and whole generators of three to five sizes from two hubs; with
    ``deadlines``, some needs are out of reach of the far hub."""
    sizes = draw(st.lists(st.sampled_from(GENERATOR_SIZES), min_size=3, max_size=5, unique=True))
    needs = [
        N(f"N{i}", "POWER-KW", draw(st.sampled_from([12, 95, 138, 380, 937, 1_600])),
          tier=draw(st.sampled_from(TIERS)), people=draw(st.integers(1, 500)), region=draw(st.integers(0, 1)),
          deadline=T0 + dt.timedelta(days=2) if deadlines and draw(st.booleans()) else None)
        for i in range(draw(st.integers(1, 6)))
    ]
    pledges = [
        P(f"P{j}", "POWER-KW", draw(st.integers(1, 5)), factor=draw(st.sampled_from(sizes)), integer=True,
          hub=draw(st.integers(0, 1)))
        for j in range(draw(st.integers(1, 6)))
    ]
    return Instance(needs=needs, pledges=pledges, transit=[[1, 3], [3, 1]])


def modelled(instance: Instance) -> tuple[FlowBlock, CountModel]:
    """The instance's only block and its count model (whatever its size)."""
    block = only_block(instance)
    model = count_model(block, min_arcs=0)
    assert model is not None
    return block, model


def planned(instance: Instance) -> tuple[FlowBlock, np.ndarray, Rounded, Rounded]:
    """The block, HiGHS's proved whole-unit optimum (the arc MIP), the greedy rounding of its LP, and the
    count MIP's plan started from that rounding."""
    block, model = modelled(instance)
    _, optimum, _ = exact(instance)
    start = greedy_round(block, solve_flow_block(block).amount)
    return block, optimum, start, count_round(block, model, start, budget=BUDGET, options=OPTIMAL)


@settings(max_examples=60, deadline=None)
@given(generator_blocks(deadlines=False))
def test_where_every_pledge_reaches_every_need_the_counts_reach_the_whole_unit_optimum(instance: Instance) -> None:
    reaches_the_optimum(*planned(instance))


@settings(max_examples=60, deadline=None)
@given(generator_blocks(deadlines=True))
def test_the_count_stages_bound_every_plan_and_never_return_a_worse_one(instance: Instance) -> None:
    if not blocks_and_models(instance):
        return  # every pledge out of reach of every need
    bounded_and_never_worse(*planned(instance))


@settings(max_examples=60, deadline=None)
@given(generator_blocks(deadlines=True), st.data())
def test_any_whole_plan_is_counts_within_the_model_with_the_same_coverage(
    instance: Instance, data: st.DataObject
) -> None:
    if not blocks_and_models(instance):
        return
    block, model = modelled(instance)
    units = random_plan(block, data)
    count = _counts(block, model, units)
    assert np.all(count <= model.cap)
    assert np.all(count.sum(axis=0) <= model.units)
    assert np.all(model.hall.use(count) <= model.hall.units + 1e-9)
    brought = np.bincount(block.arc_need, weights=units * block.factor[block.arc_pledge], minlength=block.needs.size)
    assert np.minimum(count @ model.sizes, block.demand) == pytest.approx(np.minimum(brought, block.demand))


@settings(max_examples=100, deadline=None)
@given(generator_blocks(deadlines=True), st.data())
def test_completed_counts_stay_within_the_pledges_reach_and_serve_earlier_needs_first(
    instance: Instance, data: st.DataObject
) -> None:
    if not blocks_and_models(instance):
        return
    block, model = modelled(instance)
    hall = model.hall
    # Any start within the units and the pledges' reach (as the LP's rounded-down counts are).
    count = np.zeros_like(model.cap)
    left, reach_left = model.units.copy(), hall.units.copy()
    for n in range(block.needs.size):
        for s in range(model.sizes.size):
            rows = np.flatnonzero(hall.needs[:, n] & (hall.size == s))
            most = min(model.cap[n, s], left[s], reach_left[rows].min(initial=np.inf))
            count[n, s] = data.draw(st.integers(0, int(most)))
            left[s] -= count[n, s]
            reach_left[rows] -= count[n, s]
    weight = block.people / block.demand
    _complete(block, model, weight, count)
    assert np.all(count >= 0)
    assert np.all(count <= model.cap)
    assert np.all(count.sum(axis=0) <= model.units)
    # Within Hall's rows: no set of pledges gives its needs more units than it has (else HiGHS rejects the plan, and
    # the stage starts from nothing better than the stage before's).
    spare = hall.units - hall.use(count)
    assert np.all(spare >= -1e-9)
    # A need left short has nothing left it could take: every size it may still take is used up, or out of its
    # pledges' reach, and no need after it (in tier, then people per unit) holds a unit it could take over.
    short = np.flatnonzero(count @ model.sizes < block.demand - 1e-9)
    order = np.lexsort((-weight, block.tier))
    rank = np.argsort(order)
    for n in short.tolist():
        for s in np.flatnonzero(count[n] < model.cap[n]).tolist():
            own = hall.needs[:, n] & (hall.size == s)
            assert count[:, s].sum() >= model.units[s] or np.any(spare[own] < 0.5)
            for m in [m for m in range(block.needs.size) if rank[m] > rank[n] and count[m, s] > 0]:
                assert np.any(spare[own & ~hall.needs[:, m]] < 0.5)


def test_the_engine_sends_a_generator_block_to_its_count_mip(monkeypatch: pytest.MonkeyPatch) -> None:
    # Two high-tier needs of 95 and 937 kW; six 100 kW generators, four of 5 kW and one of 176 kW (found by a
    # search over random blocks). The first pass's roundings serve 353.99 people; the count MIP the proved
    # optimum, and its stages prove it.
    monkeypatch.setattr(counts, "MIN_ARCS", 0)  # (a block this small otherwise goes to the arc MIP)
    # (and the first pass would round its pattern LP, which reaches the optimum here)
    monkeypatch.setattr(first_pass, "FIRST_PASS_PATTERNS", 0)
    instance = Instance(
        needs=[N("N0", "POWER-KW", 95, tier="high", people=131), N("N1", "POWER-KW", 937, tier="high", people=337)],
        pledges=[P("P0", "POWER-KW", 3, factor=100, integer=True), P("P1", "POWER-KW", 3, factor=100, integer=True),
                 P("P2", "POWER-KW", 4, factor=5, integer=True), P("P3", "POWER-KW", 1, factor=176, integer=True)],
    )
    rounded = allocate(instance.problem(), SolveOptions(workers=1, integer_budget=0.0))
    assert rounded.tier_served[1] == pytest.approx(353.988, abs=1e-3)
    result = allocate(instance.problem(), SolveOptions(workers=1))
    assert result.figures["block_methods"] == {"counts": 1}
    _, optimum, _ = exact(instance)
    assert result.tier_served == pytest.approx(optimum, abs=1e-6)
    assert result.figures["tier_bound"] == pytest.approx({"critical": 0.0, "high": optimum[1], "medium": 0.0,
                                                          "low": 0.0}, abs=1e-5)


def test_a_block_too_large_to_model_in_a_fraction_of_a_second_has_no_count_model(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    block = only_block(clinic_and_school())
    assert count_model(block, min_arcs=0) is not None
    monkeypatch.setattr(counts, "MAX_COLUMNS", 2 * 3 - 1)  # two needs, three sizes
    assert count_model(block, min_arcs=0) is None
    monkeypatch.setattr(counts, "MAX_COLUMNS", 6)
    monkeypatch.setattr(counts, "MAX_HALL_WORK", 2**2 * 1 - 1)  # two needs, one pledge of each size
    assert count_model(block, min_arcs=0) is None


def test_highs_proves_the_count_model_of_an_out_of_reach_clinic_at_its_whole_unit_optimum() -> None:
    # Found by Hypothesis: two clinics out of reach (their deadline before the generators arrive), a critical need
    # of 380 kW and a high-tier one of 937 kW, eleven 100 kW generators, four of 30 kW and four of 5 kW. The
    # critical need takes 300 + 60 + 20 and the high-tier one 800 + 60 = 860 kW: 38 × 860 / 937 people. Without
    # presolve and at a MIP feasibility tolerance of 1e-9, HiGHS 1.16.0 stopped at 850 kW and proved it "optimal".
    deadline = T0 + dt.timedelta(days=2)
    instance = Instance(
        needs=[N("N0", "POWER-KW", 12, tier="medium", people=1, region=0),
               N("N1", "POWER-KW", 12, tier="critical", people=1, deadline=deadline, region=0),
               N("N2", "POWER-KW", 937, tier="high", people=38, region=0),
               N("N3", "POWER-KW", 12, tier="critical", people=1, deadline=deadline, region=0),
               N("N4", "POWER-KW", 380, tier="critical", people=1, region=0)],
        pledges=[P("P0", "POWER-KW", 3, factor=100, integer=True, hub=1),
                 P("P1", "POWER-KW", 5, factor=100, integer=True, hub=1),
                 P("P2", "POWER-KW", 4, factor=5, integer=True, hub=1),
                 P("P3", "POWER-KW", 3, factor=100, integer=True, hub=1),
                 P("P4", "POWER-KW", 1, factor=30, integer=True, hub=1),
                 P("P5", "POWER-KW", 3, factor=30, integer=True, hub=1)],
        transit=[[1, 3], [3, 1]],
    )
    block, optimum, start, plan = planned(instance)
    assert optimum[:2] == pytest.approx([1.0, 38 * 860 / 937])
    assert plan.tier_values == pytest.approx(optimum, rel=1e-6, abs=1e-6)
    assert never_worse(plan, start)
    assert bounds_hold(plan, optimum)


def test_the_clinics_get_the_three_generators_that_reach_them_and_the_count_model_says_so() -> None:
    block, model = modelled(two_clinics_between_three_hubs())
    separator = HallSeparator(block, model.size_of, ~model.divisible)
    both = np.array([[2], [2], [0]])  # clinics A and B two each: within every row of the model, beyond the pledges
    assert bool(np.all(model.hall.use(both) <= model.hall.units))
    ((size, needs, units),) = separator.violated(both)
    assert (size, needs.tolist(), units) == (0, [True, True, False], 3.0)
    assert separator.violated(np.array([[2], [1], [1]])) == []
    start = greedy_round(block, solve_flow_block(block).amount)
    plan = count_round(block, model, start, budget=BUDGET, options=OPTIMAL)
    # 1,500 critical-tier people (two generators at one clinic, one at the other), the fourth generator at the depot;
    # the critical stage proved at what the pledges can send (without the row: held at 2,000, the counts unsendable).
    assert plan.tier_values.tolist() == pytest.approx([1_500.0, 0.0, 0.0, 10.0])
    assert plan.stage_bounds is not None
    assert plan.stage_bounds.held[0] <= 1_500.0
    assert plan.stage_bounds.for_plan(plan.tier_values)[0] == pytest.approx(1_500.0)


@settings(max_examples=80, deadline=None)
@given(overlapping_reach_blocks())
def test_with_hall_rows_as_needed_the_counts_reach_the_whole_unit_optimum_whatever_the_reach(
    instance: Instance,
) -> None:
    # Counts per need and size can be sent iff each size's pledges meet Hall's condition on every set of needs (a
    # transportation problem per size): with the rows the stages' plans need, the count model is the block's tiers.
    if not blocks_and_models(instance):
        return  # every pledge out of reach of every need
    block, optimum, start, plan = planned(instance)
    reaches_the_optimum(block, optimum, start, plan)
    # What each stage held, its pledges can send: the plan serves it.
    assert plan.stage_bounds is not None
    held = plan.stage_bounds.held
    assert bool(np.all(plan.tier_values >= held - 1e-6 * np.maximum(np.abs(held), 1.0)))


def test_loose_litres_are_a_continuous_count_beside_whole_tankers() -> None:
    # A 1,000-litre tanker and 300 loose litres for a critical clinic of 950 litres and a high-tier school of 300.
    # Tanker at the school (700 litres wasted) and the loose litres at the clinic leave the clinic 650 short; the
    # count model, its loose litres continuous, sends the tanker to the clinic and the litres to the school.
    instance = Instance(
        needs=[N("CLINIC", "DIESEL-L", 950, tier="critical", people=950),
               N("SCHOOL", "DIESEL-L", 300, tier="high", people=300)],
        pledges=[P("TANKER", "DIESEL-L", 1, factor=1_000, integer=True), P("LOOSE", "DIESEL-L", 300)],
    )
    block, optimum, _ = exact(instance)
    assert count_model(block, min_arcs=0) is None  # divisible pledges only where asked for
    model = count_model(block, min_arcs=0, with_divisible=True)
    assert model is not None
    assert model.sizes.tolist() == [1.0, 1_000.0]
    assert model.divisible.tolist() == [True, False]
    units = np.zeros(block.n_arcs)
    for arc in range(block.n_arcs):
        tanker, clinic = bool(block.integer[block.arc_pledge[arc]]), block.arc_need[arc] == 0
        if tanker != clinic:  # CLINIC sorts first: the tanker at the school, the loose litres at the clinic
            units[arc] = block.units[block.arc_pledge[arc]]
    start = Rounded(units=units, tier_values=block_tier_values(block, units), method="greedy")
    assert start.tier_values[0] < optimum[0]
    plan = count_round(block, model, start, budget=BUDGET, options=OPTIMAL)
    assert plan.tier_values.tolist() == pytest.approx(optimum.tolist())
    assert plan.tier_values.tolist() == pytest.approx([950.0, 300.0, 0.0, 0.0])
    sent = np.bincount(block.arc_pledge, weights=plan.units, minlength=block.pledges.size)
    assert np.all(sent <= block.units + 1e-9)
    whole = block.integer[block.arc_pledge]
    assert np.array_equal(plan.units[whole], np.rint(plan.units[whole]))
    assert plan.stage_bounds is not None
    assert np.all(plan.stage_bounds.stage_bound >= optimum - 1e-6)
