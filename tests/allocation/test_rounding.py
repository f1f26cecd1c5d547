"""Making indivisible units whole: large packs go whole where they are absorbed, and the plan as a whole
spends its tier gap where it buys most (SPEC §4: each tier within a relative gap of 1e-4)."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import example, given, settings

from aidpack.allocation import first_pass, mip_phase, rounding, transit_phase
from aidpack.allocation.block_state import BlockOutcome, BlockState
from aidpack.allocation.bounds import whole_unit_transit_bound
from aidpack.allocation.choice import choose_roundings
from aidpack.allocation.engine import allocate
from aidpack.allocation.flow import FlowBlock, flow_blocks, solve_flow_block
from aidpack.allocation.mip_phase import _mip_order
from aidpack.allocation.model import candidate_edges
from aidpack.allocation.models import Termination
from aidpack.allocation.problem import FloatArray
from aidpack.allocation.rounding import (
    Rounded,
    block_tier_values,
    coarse_fine_round,
    exact_fine,
    greedy_repair,
    greedy_round,
    matched_round,
    mip_round,
    pack_classes,
    transit_of,
)
from aidpack.allocation.solve import SolveOptions, solve_block
from tests.allocation.builders import EXACT_MIP, T0, Instance, N, P, blocks_and_models, only_block
from tests.allocation.test_bounds import mixed_blocks

NO_MIP = SolveOptions(method="flow", workers=1, integer_budget=0.0)


def tanker_instance() -> Instance:
    # Four village needs of 7,000 litres near hub 0, one town need of 30,000 litres near hub 1. A single
    # 30,000-litre tanker waits at hub 0 and 28,000 loose litres at hub 1: supply equals demand. The LP
    # (nearest first) pours the tanker into the villages and the loose litres into the town; whole, the
    # tanker can only go to one need — the town, where it is absorbed, while the litres go to the villages.
    villages = [N(f"V{i}", "DIESEL-L", 7_000, people=700, region=0) for i in range(4)]
    town = N("TOWN", "DIESEL-L", 30_000, people=3_000, region=1)
    pledges = [
        P("TANKER", "DIESEL-L", 1, factor=30_000, integer=True, hub=0),
        P("LOOSE", "DIESEL-L", 28_000, hub=1),
    ]
    return Instance(needs=[*villages, town], pledges=pledges, transit=[[1, 5], [5, 1]])


def test_a_tanker_goes_whole_to_the_need_that_absorbs_it_not_in_slivers_to_villages() -> None:
    block = only_block(tanker_instance())
    lp = solve_flow_block(block)
    assert lp.tier_values[0] == pytest.approx(5_800.0)  # the LP covers everyone
    slivers = coarse_fine_round(block, lp.amount)  # rounding the LP's slivers wastes most of a tanker
    assert slivers.tier_values[0] < 5_800.0 - 1_000
    whole = matched_round(block, lp.amount)
    assert whole.tier_values[0] == pytest.approx(5_800.0)


def test_without_any_mip_time_the_plan_covers_every_need_with_the_tanker_in_town() -> None:
    instance = tanker_instance()
    result = allocate(instance.problem(), NO_MIP)
    problem = instance.problem()
    lines = {(problem.pledge_refs[p], problem.need_refs[n]): u
             for p, n, u in zip(result.line_pledge, result.line_need, result.line_units, strict=True)}
    assert lines[("TANKER", "TOWN")] == 1.0
    assert result.need_covered == pytest.approx(problem.need_demand)
    assert max(result.figures["tier_gap"].values()) == 0.0  # type: ignore[attr-defined]
    # Transit (unit-days, ε = 0.001): the plain LP pours 28/30 of the tanker into the villages 1 day away, 2/30
    # into the town 5 days away, and the loose litres into the town 1 day away; whole, the tanker and the
    # loose litres each travel 5 days. The whole-unit LP (the tanker brings a village at most the 7,000
    # litres it lacks) proves that no whole-unit plan serving every need travels less, without any MIP.
    lp_transit = 28 / 30 * 1.001 + 2 / 30 * 5.001 + 28_000 * 1.001
    plan_transit = 28_001 * 5.001
    block = only_block(instance)
    bound = whole_unit_transit_bound(block, np.array([5_800.0, 0.0, 0.0, 0.0]))
    assert bound == pytest.approx(plan_transit)
    assert solve_flow_block(block).tier_values[0] == pytest.approx(5_800.0)
    assert lp_transit < plan_transit / 4
    assert result.figures["transit_gap"] <= 1e-6  # type: ignore[operator]
    assert result.termination is Termination.OPTIMAL


def test_with_mip_time_highs_proves_the_whole_unit_transit_and_the_plan_is_optimal() -> None:
    # Same plan; HiGHS's transit stage proves no whole-unit plan that serves every need travels less.
    instance = tanker_instance()
    result = allocate(instance.problem(), SolveOptions(method="flow", workers=1, integer_budget=10.0))
    assert result.need_covered == pytest.approx(instance.problem().need_demand)
    assert result.gap <= 1e-3
    assert result.figures["transit_gap"] <= 1e-3  # type: ignore[operator]
    assert result.termination is Termination.OPTIMAL


def test_a_restricted_mip_also_searches_the_arcs_of_the_other_roundings(monkeypatch: pytest.MonkeyPatch) -> None:
    # Restricted to the LP's support (tanker to the villages, loose litres to the town) and its start's arcs,
    # HiGHS cannot send the tanker to town; given the arcs of another rounding (tanker to town, litres to the
    # villages), it covers everyone.
    monkeypatch.setattr(rounding, "FULL_MIP_ARCS", 0)
    monkeypatch.setattr(rounding, "RESTRICTED_PER_NEED", 0)
    block = only_block(tanker_instance())
    lp = solve_flow_block(block)
    nothing = Rounded(units=np.zeros(block.n_arcs), tier_values=np.zeros(4))
    other = matched_round(block, lp.amount)
    assert other.tier_values[0] == pytest.approx(5_800.0)
    alone = mip_round(block, lp.amount, nothing, budget=5.0, options=SolveOptions())
    assert alone.method == "restricted-mip"
    assert alone.tier_values[0] < 5_800.0 - 1_000
    both = mip_round(block, lp.amount, nothing, budget=5.0, options=SolveOptions(), also=other.units > 0)
    assert both.tier_values[0] == pytest.approx(5_800.0)


def test_critical_remainders_take_an_overshooting_bladder_when_loose_litres_are_too_few() -> None:
    # Two critical needs of 7,000 litres and a high one of 10,000; four 5,000-litre bladders and 2,000 loose
    # litres. Placed without waste, the bladders go one to each critical need and two to the high one, and the
    # loose litres cover only one critical remainder of 2,000. Taking the bladders up to their whole quantity,
    # the critical needs are covered in full (a bladder overshooting each).
    instance = Instance(
        needs=[N("C1", "WATER-L", 7_000, people=100), N("C2", "WATER-L", 7_000, people=100),
               N("H1", "WATER-L", 10_000, tier="high", people=100)],
        pledges=[P("BLADDERS", "WATER-L", 4, factor=5_000, integer=True), P("LOOSE", "WATER-L", 2_000)],
    )
    block = only_block(instance)
    lp = solve_flow_block(block)
    assert lp.tier_values[0] == pytest.approx(200.0)
    plain = matched_round(block, lp.amount)
    assert plain.tier_values[0] < 200.0 - 10
    ceiled = matched_round(block, lp.amount, ceil_tier=0)
    assert ceiled.tier_values[0] == pytest.approx(200.0)


def test_packs_placed_near_serve_every_need_the_same_for_fewer_unit_days() -> None:
    # One tier: a town of 70 litres for 50 people beside the loose litres' hub, a village of 40 litres for 20 people
    # beside the 30-litre packs' hub (1 day within a region, 9 across). Placed by level, both packs go to the town
    # (more people per litre), across the country, and the village's 40 litres come loose across the other way: 388
    # unit-days. Placed where the LP sent them, then near (among the needs of every tier: matched rounding leaves none
    # short), one pack goes to the village: every need still covered, 140 unit-days, the whole-unit optimum.
    instance = Instance(
        needs=[N("TOWN", "WATER-L", 70, people=50, region=0), N("VILLAGE", "WATER-L", 40, people=20, region=1)],
        pledges=[P("LOOSE", "WATER-L", 55, hub=0), P("PACKS", "WATER-L", 2, factor=30, integer=True, hub=1)],
        transit=[[1, 9], [9, 1]],
    )
    block = only_block(instance)
    lp = solve_flow_block(block)
    by_level = matched_round(block, lp.amount)
    near = first_pass._near_round(block, lp, None, short=3)
    assert by_level.tier_values[0] == near.tier_values[0] == pytest.approx(70.0)
    assert transit_of(block, by_level.units) == pytest.approx(388.052)
    assert transit_of(block, near.units) == pytest.approx(140.052)
    assert near.method == "matched-near"


def _stage(block: FlowBlock, bound: list[float], candidates: list[list[float]]) -> BlockState:
    rounded = [Rounded(units=np.full(block.n_arcs, float(i)), tier_values=np.array(v), method=f"c{i}")
               for i, v in enumerate(candidates)]
    outcome = BlockOutcome(block.capability, block.edge_ids, rounded[0].units, np.array(bound))
    return BlockState(block, outcome, np.zeros(block.n_arcs), rounded[0], rounded)


def test_a_block_never_gives_up_people_of_a_tier_for_many_of_the_next() -> None:
    # Lexicographic (SPEC §4), although the plan's high tier of 100,000 people has a gap of 10 that 4 people fit in: a
    # trade within the gap left a critical need of 1,500 people with nothing while high-tier needs took the generators
    # it asked for (QA on the demo), and gave a 1-person critical need's blankets to a high-tier one (QA, 200 random
    # scenarios against an exact lexicographic MIP).
    block = only_block(tanker_instance())
    big = _stage(block, [0, 100_000, 0, 0], [[0, 100_000, 0, 0]])
    cheap = _stage(block, [0, 0, 500, 0], [[0, 0, 100, 0], [0, -4, 500, 0]])
    choose_roundings([big, cheap], tier_gap=1e-4)
    assert cheap.rounded is not None
    assert cheap.rounded.method == "c0"
    assert cheap.outcome.method != "flow+c1"


def town_or_farm_instance() -> Instance:
    # One 30,000-litre tanker, 5,000 loose litres; a medium-tier town lacking 20,000 litres and a low-tier
    # farm lacking 25,000. No need has room for a whole tanker. Spilt where it is absorbed most, the
    # tanker fills the farm and the town gets the loose litres; the town's tier comes first.
    needs = [N("TOWN", "DIESEL-L", 20_000, tier="medium", people=2_000),
             N("FARM", "DIESEL-L", 25_000, tier="low", people=100)]
    pledges = [P("TANKER", "DIESEL-L", 1, factor=30_000, integer=True), P("LOOSE", "DIESEL-L", 5_000)]
    return Instance(needs=needs, pledges=pledges)


def test_a_tanker_that_fits_no_need_spills_first_into_the_tier_whole_units_leave_short() -> None:
    block = only_block(town_or_farm_instance())
    lp = solve_flow_block(block)
    anywhere = matched_round(block, lp.amount, spill=True, second_try=False)
    town_first = matched_round(block, lp.amount, spill=True, spill_tier=2)
    assert anywhere.tier_values[2] == pytest.approx(500.0)  # the farm absorbs more of the tanker
    assert town_first.tier_values[2] == pytest.approx(2_000.0)
    # Spilt anywhere, the town left short gets the tanker on a second try (it is of an earlier tier).
    retried = matched_round(block, lp.amount, spill=True)
    assert retried.tier_values[2] == pytest.approx(2_000.0)
    assert retried.tier_values[3] == pytest.approx(20.0)  # the loose litres go to the farm
    problem = town_or_farm_instance().problem()
    result = allocate(problem, NO_MIP)
    assert result.tier_served[2] == pytest.approx(2_000.0)



def village_and_towns_instance() -> Instance:
    # Two 30,000-litre tankers; 1,000 loose litres that reach only a critical village lacking 1,500 (the
    # towns' deadline is too soon for them). Two medium-tier towns lack 2,000 litres (1,000 people) and 29,000
    # (5,000 people). No need has room for a whole tanker, and the LP uses both.
    soon = T0 + dt.timedelta(days=2)
    needs = [N("VILLAGE", "DIESEL-L", 1_500, people=100, region=1),
             N("SMALL", "DIESEL-L", 2_000, tier="medium", people=1_000, deadline=soon),
             N("BIG", "DIESEL-L", 29_000, tier="medium", people=5_000, deadline=soon)]
    pledges = [P("TANKER-1", "DIESEL-L", 1, factor=30_000, integer=True),
               P("TANKER-2", "DIESEL-L", 1, factor=30_000, integer=True), P("LOOSE", "DIESEL-L", 1_000, hub=1)]
    return Instance(needs=needs, pledges=pledges, transit=[[0, 0], [5, 0]])


def test_a_spill_that_leaves_an_earlier_need_short_gives_it_the_first_pack_on_a_second_try() -> None:
    # Spilt where absorbed most, the tankers fill the big town and the small one (2,000 > the village's 1,500),
    # and the loose litres leave the village 500 short. Without the spill, the leftover tankers go by need
    # level: the village, then the small town (the better ratio of people to litres). The second try gives
    # the village its tanker first, and the other fills the big town.
    block = only_block(village_and_towns_instance())
    lp = solve_flow_block(block)
    spilt = matched_round(block, lp.amount, spill=True, spill_tier=2)
    assert spilt.tier_values[0] == pytest.approx(100.0)
    assert spilt.tier_values[2] == pytest.approx(5_000.0)
    assert matched_round(block, lp.amount).tier_values[2] == pytest.approx(1_000.0)
    result = allocate(village_and_towns_instance().problem(), NO_MIP)
    assert result.tier_served[0] == pytest.approx(100.0)
    assert result.tier_served[2] == pytest.approx(5_000.0)


def test_a_pack_with_room_only_in_a_later_tier_spills_into_the_earlier_one() -> None:
    # One 1,000 kW generator and two of 5 kW; a medium-tier hospital lacks 850 kW, a low-tier depot 1,200.
    # Whole, the large generator has room only at the depot; the LP gives the hospital 850. Placed by room it
    # serves the low tier, the hospital getting 10 kW; spilt into the medium tier first, the hospital.
    needs = [N("HOSPITAL", "POWER-KW", 850, tier="medium", people=1_000),
             N("DEPOT", "POWER-KW", 1_200, tier="low", people=100)]
    pledges = [P("GEN", "POWER-KW", 1, factor=1_000, integer=True), P("SMALL", "POWER-KW", 2, factor=5, integer=True)]
    instance = Instance(needs=needs, pledges=pledges)
    block = only_block(instance)
    lp = solve_flow_block(block)
    plain = matched_round(block, lp.amount)
    assert plain.unplaced == 0
    assert plain.latest_packed_tier == 3
    assert plain.tier_values[2] == pytest.approx(1_000 * 10 / 850)
    assert matched_round(block, lp.amount, spill=True, spill_tier=2).tier_values[2] == pytest.approx(1_000.0)
    assert allocate(instance.problem(), NO_MIP).tier_served[2] == pytest.approx(1_000.0)


def test_a_plan_with_loose_litres_split_by_solver_noise_gets_them_placed_exactly() -> None:
    # HiGHS's kind of plan: two 5-litre drums, one to each critical need (7 litres, 6 litres), and the 2 loose
    # litres split 1.000008 / 0.999992, the tier 1.6e-7 below its optimum. Placed again by the exact flow around
    # the drums, the 6-litre need (more people per litre) gets its litre whole.
    instance = Instance(
        needs=[N("N06", "FUEL", 7.0, region=1), N("N11", "FUEL", 6.0, region=0)],
        pledges=[P("DRUMS", "FUEL", 2.0, factor=5.0, integer=True), P("LOOSE", "FUEL", 2.0)],
        transit=[[1, 0]],
    )
    block = only_block(instance)
    units = np.zeros(block.n_arcs)
    for arc in range(block.n_arcs):
        drums, first_need = block.integer[block.arc_pledge[arc]], block.arc_need[arc] == 0
        units[arc] = 1.0 if drums else (1.000008 if first_need else 0.999992)
    noisy = Rounded(units=units, tier_values=block_tier_values(block, units), method="mip")
    assert noisy.tier_values[0] < 1 + 6 / 7 - 1e-7
    exact = exact_fine(block, noisy)
    assert exact.tier_values[0] == pytest.approx(1 + 6 / 7, abs=1e-12)
    assert np.all(exact.units == np.round(exact.units))


def test_units_a_covered_need_can_spare_go_back_to_a_need_left_short() -> None:
    # The LP rounded down gave the critical need of 127 kW two 30 kW units; short of 67 kW it gets the 100 kW
    # unit, and then needs only one of them: the other serves the high-tier need, not travel for nothing.
    instance = Instance(
        needs=[N("A", "POWER-KW", 127, people=100), N("B", "POWER-KW", 60, tier="high", people=100)],
        pledges=[P("BIG", "POWER-KW", 1, factor=100, integer=True), P("SMALL", "POWER-KW", 2, factor=30, integer=True)],
    )
    block = only_block(instance)
    small_to_a = np.flatnonzero((block.arc_pledge == 1) & (block.arc_need == 0))
    start = np.zeros(block.n_arcs)
    start[small_to_a] = 2.0
    repaired = greedy_repair(block, start)
    brought = np.bincount(block.arc_need, weights=repaired.units * block.factor[block.arc_pledge], minlength=2)
    assert brought.tolist() == [130.0, 30.0]
    assert repaired.tier_values.tolist() == [100.0, 50.0, 0.0, 0.0]


def test_a_later_stage_that_highs_calls_infeasible_keeps_the_stage_before() -> None:
    # HiGHS sends 0.026 loose litres to a medium need (1.7e-4 people), holds that tier 1e-7 below it, and
    # then calls the transit stage infeasible. The classed MIP had fallen back to its greedy start, 0.73
    # high-tier people below the MIP (found by the pack-classes property test, CI on 3fee2b6).
    needs = [N("N0", "WATER-L", 150, tier="medium"), N("N1", "WATER-L", 400), N("N2", "WATER-L", 2500, tier="high"),
             N("N3", "WATER-L", 150, tier="medium"), N("N4", "WATER-L", 150, tier="high", people=10),
             N("N5", "WATER-L", 150, tier="medium"), N("N6", "WATER-L", 900, tier="high"),
             N("N7", "WATER-L", 150, tier="medium")]
    pledges = [P("P0", "WATER-L", 3, factor=1000, integer=True), P("P1", "WATER-L", 2, factor=100, integer=True),
               P("LOOSE", "WATER-L", 200)]
    instance = Instance(needs=needs, pledges=pledges, transit=[[1, 3], [3, 1]])
    ((block, model),) = blocks_and_models(instance)
    lp = solve_flow_block(block)
    plain = solve_block(model, EXACT_MIP, tiers_only=True)
    classed = mip_round(block, lp.amount, greedy_round(block, lp.amount), budget=30.0, options=EXACT_MIP)
    assert plain.tier_values[1] == pytest.approx(11.5)
    assert classed.tier_values == pytest.approx(plain.tier_values, rel=1e-6, abs=1e-2)
    assert classed.method == "mip"


def test_a_block_takes_the_rounding_that_serves_its_earliest_short_tier_best() -> None:
    block = only_block(tanker_instance())
    # The small block starts 6 high-tier people short; its second rounding wins them back, its third would give 4 of
    # them up again for 500 medium-tier people: no trade, the second stays.
    big = _stage(block, [0, 100_000, 0, 0], [[0, 100_000, 0, 0]])
    small = _stage(block, [0, 10, 500, 0], [[0, 4, 0, 0], [0, 10, 0, 0], [0, 6, 500, 0]])
    choose_roundings([big, small], tier_gap=1e-4)
    assert small.rounded is not None
    assert small.rounded.method == "c1"


def test_packs_of_one_size_that_reach_the_same_needs_are_one_class() -> None:
    # A must arrive within 3 days; LATE is available only in 5, so it reaches B alone.
    needs = [N("A", "POWER-KW", 800, people=80, deadline=T0 + dt.timedelta(days=3)),
             N("B", "POWER-KW", 300, people=30, region=1)]
    pledges = [
        P("G1", "POWER-KW", 2, factor=100, integer=True, hub=0),
        P("G2", "POWER-KW", 3, factor=100, integer=True, hub=1),
        P("G3", "POWER-KW", 1, factor=500, integer=True, hub=0),
        P("LATE", "POWER-KW", 4, factor=100, integer=True, hub=0, available=T0 + dt.timedelta(days=5)),
        P("GRID", "POWER-KW", 250.5, hub=0),
    ]
    instance = Instance(needs=needs, pledges=pledges, transit=[[1, 2], [2, 1]])
    block = only_block(instance)
    classes = pack_classes(block, np.arange(block.n_arcs))
    by_pledge = {block.pledges[p]: int(c) for p, c in zip(block.arc_pledge, classes.arc_class, strict=True)}
    refs = instance.problem().pledge_refs
    named = {refs[p]: c for p, c in by_pledge.items()}
    assert named["G1"] == named["G2"]  # 100 kW each, both reach A and B
    assert len({named["G1"], named["G3"], named["LATE"], named["GRID"]}) == 4  # size, reach, divisible
    assert classes.units[named["G1"]] == 5.0
    assert classes.n_classes == 4
    # For transit, G1 (hub 0) and G2 (hub 1) differ: A is 1 day from one and 2 from the other.
    by_hub = pack_classes(block, np.arange(block.n_arcs), by_transit=True)
    hub_class = {refs[block.pledges[p]]: int(c) for p, c in zip(block.arc_pledge, by_hub.arc_class, strict=True)}
    assert hub_class["G1"] != hub_class["G2"]
    assert by_hub.n_classes == 5


def same_within_holds(a: FloatArray, b: FloatArray) -> bool:
    """Whether two plans' tiers are equal (1e-6 relative, 1e-2 people), but where the one serving a tier more gave
    up an earlier tier within the 1e-7 hold of SPEC §4."""
    for tier in range(4):
        if abs(float(a[tier] - b[tier])) <= max(1e-6 * abs(float(b[tier])), 1e-2):
            continue
        more, less = (a, b) if a[tier] > b[tier] else (b, a)
        return any(0.0 < float(less[s] - more[s]) <= 1e-7 * abs(float(less[s])) + 1e-9 for s in range(tier))
    return True


#: Found by a CI run: the plain MIP's high stage spends the critical tier's hold on 0.0047 loose litres.
HOLD_SPENT = Instance(
    needs=[N("N0", "WATER-L", 150, people=1), N("N1", "WATER-L", 150, people=1), N("N2", "WATER-L", 150, people=12),
           N("N3", "WATER-L", 150, tier="high", people=332, region=1),
           N("N4", "WATER-L", 6000, people=2, region=1)],
    pledges=[P("P0", "WATER-L", 2, factor=5000, integer=True, hub=1), P("LOOSE", "WATER-L", 351, hub=0)],
    transit=[[1, 3], [3, 1]],
)


@settings(max_examples=40, deadline=None)
@given(mixed_blocks())
@example(HOLD_SPENT)
def test_the_mip_over_pack_classes_serves_each_tier_as_the_mip_over_pledges(instance: Instance) -> None:
    for block, model in blocks_and_models(instance):
        if not block.is_integer:
            continue
        lp = solve_flow_block(block)
        plain = solve_block(model, EXACT_MIP, tiers_only=True)
        classed = mip_round(block, lp.amount, greedy_round(block, lp.amount), budget=30.0, options=EXACT_MIP)
        # (Both hold each tier 1e-7 below its optimum and see units whole only to 1e-6. Hypothesis seed 34 found
        # the classed MIP 0.005 people above the plain one in the high tier, the critical tier (743) equal to
        # 1e-6; which tolerance gave it was not pinned down, hence 1e-2 people. Hypothesis later found the plain
        # MIP holding 123 critical-tier people 1.2e-5 below (its 1e-7 hold, as SPEC §4 allows) for 0.01 high-tier
        # people more in litres: a later tier may differ where the one serving it more gave up an earlier tier
        # within that hold.)
        # The plain MIP's tiers as its plan serves them: its tier values are its stages' optima, and a later stage may
        # spend the hold below them (a CI run: 0.0047 loose litres moved from a critical need of 6,000 to a high-tier
        # one, 1.57e-6 of 15.68 critical-tier people, the hold, for 0.0104 high-tier people; its tier values showed
        # the critical tier untouched and the classed MIP 0.0104 short).
        units = np.zeros(block.n_arcs)
        units[np.searchsorted(block.edge_ids, model.edge_ids)] = np.maximum(plain.x[: model.n_x], 0.0)
        assert same_within_holds(classed.tier_values, block_tier_values(block, units))
        # Shared out to the pledges: whole units, none beyond a pledge's supply.
        sent = np.bincount(block.arc_pledge, weights=classed.units, minlength=block.pledges.size)
        whole = block.integer[block.arc_pledge]
        assert np.all(classed.units[whole] == np.rint(classed.units[whole]))
        assert np.all(sent <= (block.supply / block.factor) * (1 + 1e-9) + 1e-6)  # (HiGHS's divisible noise)


#: Found by a CI run: with room for every pack, the spill variant of matched rounding travels 4 unit-days more.
SPILL_WORSE = Instance(
    needs=[N("N0", "WATER-L", 150, tier="high", people=1),
           N("N1", "WATER-L", 2500, tier="critical", people=1, region=1),
           N("N2", "WATER-L", 150, tier="high", people=2), N("N3", "WATER-L", 150, tier="critical", people=2, region=1),
           N("N4", "WATER-L", 400, tier="critical", people=3), N("N5", "WATER-L", 150, tier="medium", people=1),
           N("N6", "WATER-L", 150, tier="critical", people=1), N("N7", "WATER-L", 150, tier="critical", people=2),
           N("N8", "WATER-L", 150, tier="medium", people=2)],
    pledges=[P("P0", "WATER-L", 1, factor=500, integer=True), P("P1", "WATER-L", 1, factor=100, integer=True, hub=1),
             P("P2", "WATER-L", 4, factor=100, integer=True), P("P3", "WATER-L", 1, factor=1000, integer=True),
             P("LOOSE", "WATER-L", 350, factor=1.0)],
    transit=[[1, 3], [3, 1]],
)


@settings(max_examples=60, deadline=None)
@given(mixed_blocks())
@example(SPILL_WORSE)
def test_spilling_changes_nothing_when_matched_rounding_found_room_for_every_pack(instance: Instance) -> None:
    # ... and gave none to a need of a tier after the spill's. The engine skips the spill variants then (they
    # cost a rounding each on the largest blocks).
    problem = instance.problem()
    for block in flow_blocks(problem, candidate_edges(problem)):
        if not block.is_integer:
            continue
        lp = solve_flow_block(block)
        plain = matched_round(block, lp.amount)
        for tier in (0, 3):
            spilt = matched_round(block, lp.amount, spill=True, spill_tier=tier)
            if plain.unplaced == 0 and plain.latest_packed_tier <= tier:
                # The same tiers, and no fewer unit-days: skipping the spill loses nothing. (The same plan or one as
                # good, this test said until a CI run found a spill 4 unit-days worse: 465.357 against 461.357, the
                # placement's flow breaking a tie another way; the example below.)
                assert np.allclose(plain.tier_values, spilt.tier_values, rtol=1e-12, atol=1e-9)
                assert transit_of(block, spilt.units) >= transit_of(block, plain.units) * (1 - 1e-12)


@settings(max_examples=60, deadline=None)
@given(mixed_blocks())
def test_each_tier_ends_at_what_its_stage_proved_and_is_held_there(instance: Instance) -> None:
    # Lexicographic (SPEC §4): each tier is held at its optimum (relative tolerance 1e-7) while the later ones are
    # optimised, so none ends below what its stage proved. HiGHS starts from the greedy rounding, as in the engine.
    for block, model in blocks_and_models(instance):
        people = np.array([float(model.tier_cost[t].sum()) for t in range(4)])
        greedy = greedy_round(block, solve_flow_block(block).amount)
        start = greedy.units[np.searchsorted(block.edge_ids, model.edge_ids)]
        result = solve_block(model, EXACT_MIP, initial_x=start)
        for entry in result.log:
            name = str(entry["stage"])
            if name.startswith("tier") and np.isfinite(float(entry["bound"])):
                tier = int(name[4:])
                proved = -float(entry["bound"])
                # HiGHS's integrality noise (solve.MIP_NOISE), and never less than the thousandth of a person that
                # the engine counts as no loss (rounding.tier_gaps): a one-person tier proved at 6.7e-6 was held at
                # 3.3e-6 in a fresh clone's run.
                noise = max(1e-6 * max(people[tier], 1.0), 1e-3)
                assert float(entry["held"]) >= proved - noise
                assert result.tier_values[tier] >= proved - noise


def test_highs_takes_first_the_blocks_that_lost_most_in_the_tiers_the_plan_is_short_of(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    block = only_block(tanker_instance())  # 10 arcs
    bound = [0.0, 100.0, 1_000.0, 0.0]
    high = _stage(replace(block, capability=0), bound, [[0, 40, 1_000, 0]])  # 60 high-tier people: within its gap
    most = _stage(replace(block, capability=1), bound, [[0, 100, 500, 0]])
    fewer = _stage(replace(block, capability=2), bound, [[0, 100, 900, 0]])
    short = np.array([False, False, True, True])  # the plan is short of its medium and low tiers only
    assert [s.block.capability for s in _mip_order([high, most, fewer], short)] == [1, 2, 0]
    # A block too large to solve within the budget waits for the others, whatever it lost.
    small = _stage(replace(only_block(town_or_farm_instance()), capability=3), bound, [[0, 100, 990, 0]])  # 4 arcs
    monkeypatch.setattr(mip_phase, "LARGE_MIP_ARCS", 5)
    assert [s.block.capability for s in _mip_order([high, most, fewer, small], short)] == [3, 1, 2, 0]


def test_the_integer_budget_shrinks_with_size_then_grows_again_at_national_scale() -> None:
    options = SolveOptions()
    assert options.integer_seconds(1_000) == 2.0
    assert options.integer_seconds(100_000) == 0.25
    assert options.integer_seconds(1_000_000) == pytest.approx(0.75)
    assert options.integer_seconds(2_000_000) == pytest.approx(1.5)
    assert options.integer_seconds(10_000_000) == 2.0
    assert SolveOptions(integer_budget=0.1).integer_seconds(2_000_000) == 0.1


def test_a_large_block_gets_mip_only_beyond_a_million_edges_and_a_fraction_of_a_second_then() -> None:
    assert mip_phase.large_mip_seconds(100_000) == 0.0
    assert mip_phase.large_mip_seconds(1_000_000) == 0.0
    assert mip_phase.large_mip_seconds(2_000_000) == pytest.approx(0.5)
    assert mip_phase.large_mip_seconds(3_000_000) == pytest.approx(1.0)


def test_a_block_too_large_for_highs_gets_at_most_its_small_share_of_the_mip_budget(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    budgets: list[float] = []
    real = mip_round

    def recorded(block: FlowBlock, amount: np.ndarray, incumbent: Rounded, **kwargs: object) -> Rounded:
        budgets.append(float(kwargs["budget"]))  # type: ignore[arg-type]
        return real(block, amount, incumbent, **kwargs)  # type: ignore[arg-type]

    for phase in (mip_phase, transit_phase):
        monkeypatch.setattr(phase, "mip_round", recorded)
    problem = town_or_farm_instance().problem()  # rounding leaves the farm short: HiGHS is asked
    allocate(problem, SolveOptions(workers=1, integer_budget=5.0))
    assert budgets
    assert budgets[0] > 0.3
    budgets.clear()
    monkeypatch.setattr(mip_phase, "LARGE_MIP_ARCS", 1)  # now the block counts as large
    allocate(problem, SolveOptions(workers=1, integer_budget=5.0))
    assert not budgets  # a plan of a few edges: a large block's MIP does not pay
    monkeypatch.setattr(mip_phase, "large_mip_seconds", lambda edges: 0.3)  # as in a plan of 1.6e6 edges
    allocate(problem, SolveOptions(workers=1, integer_budget=5.0))
    assert budgets
    assert budgets[0] <= 0.3


def _mip_by_seed(
    monkeypatch: pytest.MonkeyPatch, answer: Callable[[int, Rounded, Rounded], Rounded]
) -> list[int]:
    """HiGHS's MIP in the engine replaced by ``answer(seed, its plan, its start)``; returns the seeds it ran with."""
    seeds: list[int] = []
    real = mip_round

    def seeded(block: FlowBlock, amount: np.ndarray, incumbent: Rounded, **kwargs: object) -> Rounded:
        options = kwargs["options"]
        assert isinstance(options, SolveOptions)
        seeds.append(options.seed)
        return answer(options.seed, real(block, amount, incumbent, **kwargs), incumbent)  # type: ignore[arg-type]

    for phase in (mip_phase, transit_phase):
        monkeypatch.setattr(phase, "mip_round", seeded)
    return seeds


def test_a_lone_block_for_highs_runs_with_another_seed_on_the_idle_thread_and_keeps_the_better_plan(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The second seed's plan is the incumbent: the first seed's, HiGHS's, must be kept.
    seeds = _mip_by_seed(monkeypatch, lambda seed, plan, start: plan if seed == 0 else start)
    problem = town_or_farm_instance().problem()  # rounding leaves the farm short: HiGHS is asked
    alone = allocate(problem, SolveOptions(workers=1, integer_budget=1.0))
    assert seeds == [0]
    seeds.clear()
    paired = allocate(problem, SolveOptions(workers=2, integer_budget=1.0))
    assert sorted(seeds) == [0, 1]
    assert paired.tier_served.tolist() == pytest.approx(alone.tier_served.tolist())
    entry = next(e for e in paired.figures["log"] if e.get("seeds"))  # type: ignore[attr-defined]
    assert entry["seeds"] == 2


def test_the_idle_threads_seed_starts_from_another_rounding_than_the_first_seeds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # HiGHS's search from one start within a fraction of a second may end where it began whatever its seed (QA's strike
    # shape at 1e5 edges, seed 77: a generator block's second round from its plan found nothing in 2 s, from the
    # first pass's other rounding 439,000 medium-tier people more): the second seed starts elsewhere.
    starts: dict[int, Rounded] = {}

    def answer(seed: int, plan: Rounded, start: Rounded) -> Rounded:
        starts[seed] = start
        return plan

    _mip_by_seed(monkeypatch, answer)
    allocate(town_or_farm_instance().problem(), SolveOptions(workers=2, integer_budget=1.0))
    assert sorted(starts) == [0, 1]
    assert not np.array_equal(starts[0].units, starts[1].units)


def test_on_a_tie_the_first_seeds_plan_is_kept_whichever_finishes_first(monkeypatch: pytest.MonkeyPatch) -> None:
    def tied(seed: int, plan: Rounded, start: Rounded) -> Rounded:
        if seed == 0:
            time.sleep(0.05)  # the second seed's plan comes back first
            return plan
        return replace(plan, method="second-seed")  # the same plan, by its label

    _mip_by_seed(monkeypatch, tied)
    paired = allocate(town_or_farm_instance().problem(), SolveOptions(workers=2, integer_budget=1.0))
    entry = next(e for e in paired.figures["log"] if e.get("seeds"))  # type: ignore[attr-defined]
    assert entry["seeds"] == 2
    assert entry["stage"] != "second-seed"


def test_a_block_beyond_the_whole_unit_reach_gets_a_second_round_where_its_own_model_can_use_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Beyond the whole-unit reach (20,000 edges), a block with its own model (counts or patterns, whose stages' rows are
    # now the block's: Hall's rows as needed) gets a second round for a tier it loses more than 0.5 % of: up to
    # 100,000 edges for any short tier (QA's strike shape at 1e5 edges, seed 79: a 40,974-arc generator block 19,054
    # high-tier people short left 1,111,333 medium-tier ones, 30 % of the tier); beyond, only for the plan's last
    # short tier, where it serves every earlier one at its bound, within the tier gap (where HiGHS's stages stop: seed
    # 77, a 39,262-arc generator block 2 high-tier people short of 3,444,352 left 569,603 medium-tier people).
    monkeypatch.setattr(mip_phase, "WHOLE_UNIT_REACH_ARCS", 0)
    own_model = {"yes": True}
    monkeypatch.setattr(mip_phase, "has_own_model", lambda stage: own_model["yes"])
    block = only_block(tanker_instance())
    hair = _stage(block, [0, 100_000, 50_000, 0], [[0, 99_999.99, 40_000, 0]])
    lost = _stage(block, [0, 100_000, 50_000, 0], [[0, 99_000, 40_000, 0]])
    medium_short = np.array([1.0, 1.0, -1.0, 1.0])

    def extended(stage: BlockState, mip_gap: float = 1e-4) -> bool:
        return mip_phase._to_extend([stage], [stage], medium_short, set(), mip_gap) == [stage]

    assert extended(hair)
    assert extended(lost)  # up to 100,000 edges
    monkeypatch.setattr(mip_phase, "LARGE_MIP_ARCS", 0)  # beyond
    assert extended(hair)
    assert not extended(hair, mip_gap=0.0)  # a hair short is short at a gap of 0
    assert not extended(lost)
    own_model["yes"] = False  # the arc MIP: its bound is the LP's, out of reach
    monkeypatch.setattr(mip_phase, "LARGE_MIP_ARCS", 100_000)
    assert not extended(lost)


def test_highs_plan_is_not_polished_into_a_hair_more_of_a_tier_for_much_less_of_the_next(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # SPEC §4: each tier solved within its gap (1e-4), then held there while the next is optimised. A descent after
    # HiGHS's stages that adds a share of a tier within that gap and takes more than it from a later tier undoes the
    # later stages (QA's strike shape at 1e5 edges, seed 79: 74 more high-tier people of 2,984,755, 1,026,524 fewer
    # medium-tier ones); a gain beyond the gap, or one that costs nothing later, is taken.
    block = only_block(tanker_instance())
    plan = Rounded(units=np.zeros(block.n_arcs), tier_values=np.array([0.0, 100_000.0, 1_000.0, 0.0]), method="counts")

    def descent_to(tiers: list[float]) -> None:
        found = Rounded(units=np.ones(block.n_arcs), tier_values=np.array(tiers), method="descent")
        monkeypatch.setattr(mip_phase, "descend", lambda block, units: found)

    descent_to([0, 100_001, 500, 0])  # +1 high-tier person (1e-5 of the tier), -500 medium-tier ones
    assert mip_phase._polished(block, plan, 1e-4) is plan
    assert mip_phase._polished(block, plan, 0.0).tier_values[1] == 100_001  # a plan solved exactly: every person
    descent_to([0, 100_020, 500, 0])  # +20, beyond the gap: a gain in its own right
    assert mip_phase._polished(block, plan, 1e-4).tier_values[1] == 100_020
    descent_to([0, 100_001, 1_000, 3])  # costs nothing later
    assert mip_phase._polished(block, plan, 1e-4).tier_values[1] == 100_001


def test_what_the_plan_may_still_lose_is_its_tier_gap_less_what_the_roundings_lost() -> None:
    block = only_block(tanker_instance())
    # The plan's high tier: 100,010 people, 10.001 within its gap; the small block's rounding lost 6 of them.
    big = _stage(block, [0, 100_000, 0, 0], [[0, 100_000, 0, 0]])
    short = _stage(block, [0, 10, 500, 0], [[0, 4, 0, 0]])
    budget_left = choose_roundings([big, short], tier_gap=1e-4)
    assert budget_left[1] == pytest.approx(4.001)
    # A rounding that loses 16 of 100,020 is beyond the gap: the tier is short, HiGHS's MIP phase works on it.
    worse = _stage(block, [0, 20, 500, 0], [[0, 4, 0, 0]])
    assert choose_roundings([big, worse], tier_gap=1e-4)[1] == pytest.approx(10.002 - 16)
