"""Properties that hold for every instance: feasibility, and tier optima equal an independent MILP's."""

from __future__ import annotations

import datetime as dt

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aidpack.allocation.engine import Allocation, allocate
from aidpack.allocation.models import Termination
from aidpack.allocation.solve import SolveOptions
from tests.allocation.builders import T0, TIERS, Instance, N, P, previous_of
from tests.allocation.reference import reference_tier_values

CAPS = ("POWER-KW", "FUEL", "KIT")


@st.composite
def instances(draw: st.DrawFn) -> Instance:
    n_hubs = draw(st.integers(1, 2))
    n_regions = draw(st.integers(1, 3))
    transit = [[draw(st.integers(0, 6)) for _ in range(n_regions)] for _ in range(n_hubs)]
    needs = [
        N(
            ref=f"N{i:02}",
            capability=draw(st.sampled_from(CAPS)),
            quantity=float(draw(st.integers(1, 400))),
            tier=draw(st.sampled_from(TIERS)),
            people=float(draw(st.integers(1, 5000))),
            deadline=draw(st.one_of(st.none(), st.integers(0, 10).map(lambda d: T0 + dt.timedelta(days=d)))),
            region=draw(st.integers(0, n_regions - 1)),
        )
        for i in range(draw(st.integers(0, 9)))
    ]
    pledges = []
    for j in range(draw(st.integers(0, 6))):
        capability = draw(st.sampled_from(CAPS))
        integer = capability == "POWER-KW" or draw(st.booleans())
        pledges.append(
            P(
                ref=f"P{j:02}",
                capability=capability,
                units=float(draw(st.integers(0, 12))) if integer else float(draw(st.integers(0, 300))),
                factor=float(draw(st.sampled_from([1, 5, 30, 100]))) if integer else 1.0,
                integer=integer,
                available=draw(st.one_of(st.none(), st.integers(-3, 5).map(lambda d: T0 + dt.timedelta(days=d)))),
                hub=draw(st.integers(0, n_hubs - 1)),
            )
        )
    return Instance(needs=needs, pledges=pledges, transit=transit)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances())
def test_every_plan_is_feasible_and_each_tier_is_optimal(instance: Instance) -> None:
    problem = instance.problem()
    result = allocate(problem)
    assert result.termination is Termination.OPTIMAL, (instance, result.figures)

    # No pledge over-used; nothing negative; whole units for indivisible items.
    used = np.bincount(result.line_pledge, weights=result.line_units, minlength=problem.n_pledges)
    assert np.all(used <= problem.pledge_supply + 1e-9)
    assert np.all(result.line_units > 0)
    integer = problem.pledge_integer[result.line_pledge]
    assert np.all(result.line_units[integer] == np.round(result.line_units[integer]))
    # Capability matches, no line after its need's deadline, ETA = max(available, T) + τ.
    assert np.all(problem.pledge_capability[result.line_pledge] == problem.need_capability[result.line_need])
    assert np.all(result.line_eta <= problem.need_deadline[result.line_need])
    tau = problem.transit[problem.pledge_hub[result.line_pledge], problem.need_region[result.line_need]]
    assert np.all(result.line_eta == problem.pledge_start[result.line_pledge] + tau)
    # Coverage never above the need.
    assert np.all(result.need_covered <= problem.need_demand + 1e-9)
    # Tiers respected: critical equals the optimum of an independent dense MILP, and every later tier is
    # optimal given what the earlier tiers got (the engine may trade the 1e-7 slack it holds them with).
    expected = reference_tier_values(problem)
    # (HiGHS proves its 1e-4 gap against its own bound and tolerances, hence the 1% margin on the 1e-4.)
    assert result.tier_served[0] >= expected[0] * (1 - 1.01e-4) - 1e-6
    given = reference_tier_values(problem, held=[float(v) for v in result.tier_served])
    for tier in range(4):
        assert result.tier_served[tier] >= given[tier] * (1 - 1.01e-4) - 1e-6, (tier, result.tier_served, given)
        assert result.tier_served[tier] <= given[tier] * (1 + 1e-6) + 1e-6, (tier, result.tier_served, given)
    # Every short need has a reason; every covered need has none.
    short = result.need_covered < problem.need_demand - 1e-6 * np.maximum(problem.need_demand, 1.0)
    assert set(result.shortfalls) == set(np.flatnonzero(short).tolist())


def test_a_trade_is_counted_against_the_bound_highs_proves_not_the_lp() -> None:
    # Found by Hypothesis. Whole 100 kW packs cannot cover the two critical needs (302 and 102) without
    # overshoot; the LP bound of the high tier (15 people, one unit lacking) is 15, the whole-unit optimum
    # within the critical tier's gap is 0.65. HiGHS's slack, counted against the LP's 15, let it stop the
    # high tier 8.4e-5 people short of its proved 0.653: beyond that tier's 1e-4.
    needs = [N(f"N0{i}", "KIT", 1.0) for i in range(3)] + [
        N("N03", "POWER-KW", 302.0), N("N04", "POWER-KW", 1.0, tier="high", people=15.0), N("N05", "POWER-KW", 102.0),
    ]
    pledges = [P("P00", "POWER-KW", 5.0, factor=100.0, integer=True), P("P01", "KIT", 0.0, integer=True),
               P("P02", "POWER-KW", 1.0)]
    check = test_every_plan_is_feasible_and_each_tier_is_optimal.hypothesis.inner_test  # type: ignore[attr-defined]
    check(Instance(needs=needs, pledges=pledges, transit=[[0]]))


def test_the_plans_choice_keeps_a_highs_trade_that_its_proved_bound_still_affords() -> None:
    # Found by Hypothesis, the same shape: HiGHS traded 3.2e-4 critical-tier people (its slack, counted on the
    # LP bound 4.0) for 0.033 high-tier ones; against the bound it proved (3.990) the plan could afford 8e-7
    # fewer, so the plan's choice undid the trade and served the high tier nothing.
    needs = [N(f"N0{i}", "KIT", 1.0) for i in range(3)] + [
        N("N03", "POWER-KW", 302.0, people=3.0), N("N04", "POWER-KW", 1.0, tier="high"), N("N05", "POWER-KW", 102.0),
    ]
    pledges = [P("P00", "POWER-KW", 5.0, factor=100.0, integer=True), P("P01", "KIT", 0.0, integer=True),
               P("P02", "POWER-KW", 1.0)]
    check = test_every_plan_is_feasible_and_each_tier_is_optimal.hypothesis.inner_test  # type: ignore[attr-defined]
    check(Instance(needs=needs, pledges=pledges, transit=[[0]]))


def test_a_tier_given_up_serves_the_next_tier_before_any_later_one() -> None:
    # Found by a larger fuzz. Kits: two packs of 5 and one loose kit for two critical needs (7 and 2) and a
    # medium one (1, 4 people); whole packs leave the critical tier 1/7 short however they go. Fuel: one
    # litre for a critical need and a high one. HiGHS gave up 2e-4 critical-tier people among the kits for
    # 0.006 medium-tier ones; the fuel block could have given the high tier those 2e-4 first. A tier's slack
    # now buys the next tier only.
    needs = [
        N("N01", "KIT", 7.0), N("N15", "KIT", 2.0), N("N02", "KIT", 1.0, tier="medium", people=4.0),
        N("N05", "FUEL", 1.0), N("N21", "FUEL", 1.0, tier="high"),
    ]
    pledges = [P("P00", "KIT", 2.0, factor=5.0, integer=True, hub=1), P("P01", "FUEL", 1.0),
               P("P03", "KIT", 1.0)]
    check = test_every_plan_is_feasible_and_each_tier_is_optimal.hypothesis.inner_test  # type: ignore[attr-defined]
    check(Instance(needs=needs, pledges=pledges, transit=[[0], [0]]))


def test_a_tier_given_up_in_one_block_is_not_spent_where_another_would_serve_the_next_tier_better() -> None:
    # Found by a larger fuzz: HiGHS, given back its generator block's rounding loss, spent 1.9 critical-tier
    # people on 5.5 high-tier ones; the kit block could have served 68 high-tier people with them. A block now
    # trades only what the plan has left after every block's loss.
    needs = [
        N("N00", "FUEL", 334.0, tier="medium", people=315.0, deadline=T0 + dt.timedelta(days=5), region=3),
        N("N01", "FUEL", 37.0, tier="high", people=87.0, deadline=None, region=2),
        N("N02", "KIT", 310.0, tier="medium", people=19692.0, deadline=None, region=1),
        N("N03", "POWER-KW", 406.0, tier="high", people=446.0, deadline=T0 + dt.timedelta(days=6), region=1),
        N("N04", "KIT", 101.0, tier="high", people=850.0, deadline=T0 + dt.timedelta(days=7), region=0),
        N("N05", "POWER-KW", 800.0, tier="critical", people=303.0, deadline=None, region=3),
        N("N06", "POWER-KW", 583.0, tier="low", people=11344.0, deadline=T0 + dt.timedelta(days=8), region=2),
        N("N07", "KIT", 150.0, tier="low", people=413.0, deadline=None, region=1),
        N("N08", "POWER-KW", 636.0, tier="high", people=3675.0, deadline=T0 + dt.timedelta(days=2), region=3),
        N("N09", "KIT", 479.0, tier="critical", people=112.0, deadline=T0 + dt.timedelta(days=10), region=3),
        N("N10", "FUEL", 251.0, tier="low", people=3413.0, deadline=T0 + dt.timedelta(days=5), region=0),
        N("N11", "FUEL", 30.0, tier="critical", people=4183.0, deadline=None, region=2),
        N("N12", "POWER-KW", 234.0, tier="low", people=5293.0, deadline=None, region=2),
        N("N13", "KIT", 782.0, tier="critical", people=6000.0, deadline=None, region=0),
        N("N14", "POWER-KW", 606.0, tier="medium", people=3169.0, deadline=None, region=1),
        N("N15", "KIT", 557.0, tier="critical", people=2136.0, deadline=T0 + dt.timedelta(days=6), region=0),
        N("N16", "POWER-KW", 177.0, tier="critical", people=14903.0, deadline=None, region=0),
        N("N17", "KIT", 338.0, tier="low", people=796.0, deadline=None, region=3),
        N("N18", "POWER-KW", 370.0, tier="medium", people=498.0, deadline=None, region=0),
        N("N19", "POWER-KW", 179.0, tier="low", people=1651.0, deadline=None, region=3),
        N("N20", "FUEL", 125.0, tier="critical", people=4145.0, deadline=T0 + dt.timedelta(days=2), region=0),
        N("N21", "POWER-KW", 78.0, tier="critical", people=15921.0, deadline=T0 + dt.timedelta(days=8), region=2),
    ]
    pledges = [
        P("P00", "KIT", 353.0, factor=1.0, integer=False, available=T0 + dt.timedelta(days=-2), hub=1),
        P("P01", "KIT", 11.0, factor=100.0, integer=True, available=T0 + dt.timedelta(days=0), hub=1),
        P("P02", "POWER-KW", 15.0, factor=30.0, integer=True, available=None, hub=1),
        P("P03", "POWER-KW", 9.0, factor=5.0, integer=True, available=None, hub=2),
        P("P04", "POWER-KW", 0.0, factor=30.0, integer=True, available=T0 + dt.timedelta(days=1), hub=1),
        P("P05", "POWER-KW", 5.0, factor=30.0, integer=True, available=T0 + dt.timedelta(days=-2), hub=2),
    ]
    check = test_every_plan_is_feasible_and_each_tier_is_optimal.hypothesis.inner_test  # type: ignore[attr-defined]
    check(Instance(needs=needs, pledges=pledges, transit=[[6, 4, 0, 3], [4, 1, 5, 1], [4, 0, 6, 3]]))


def test_a_plan_highs_proves_transit_optimal_is_optimal_though_highs_returns_it_a_hair_longer() -> None:
    # Found by a larger fuzz. Eleven 30-litre drums and 68 loose litres for three fuel needs: every need is
    # covered, and HiGHS's transit stage proves the rounding's 94 unit-days optimal, but its own plan comes
    # back 7.5e-7 unit-days longer, so the rounding was kept and HiGHS's bound dropped with HiGHS's plan: the
    # plan reported a transit gap of 0.25 and `time_limit`.
    needs = [
        N("N07", "FUEL", 84.0, people=1.0, region=1),
        N("N09", "FUEL", 192.0, people=1.0, region=0),
        N("N12", "FUEL", 65.0, tier="high", people=1.0, region=1),
    ]
    pledges = [P("P00", "FUEL", 11.0, factor=30.0, integer=True), P("P02", "FUEL", 68.0)]
    check = test_every_plan_is_feasible_and_each_tier_is_optimal.hypothesis.inner_test  # type: ignore[attr-defined]
    check(Instance(needs=needs, pledges=pledges, transit=[[3, 4], [0, 0]]))


def test_the_transit_stage_trades_no_hair_of_a_tier_for_unit_days() -> None:
    # Found by a larger fuzz. Two 5-litre drums and 2 loose litres for critical needs of 7 (0 days away) and
    # 6 litres (1 day): the optimum serves the 6 whole, 1 + 6/7 people. HiGHS's transit stage split the loose
    # litres 1.000008 / 0.999992 to save 8e-6 unit-days, holding the critical tier 1.6e-7 below its optimum
    # (within its tolerances). HiGHS now holds the tiers the plan serves and minimises transit alone (the
    # exact placement of loose units around HiGHS's packs has its own test in test_rounding).
    needs = [
        N("N06", "FUEL", 7.0, region=1), N("N11", "FUEL", 6.0, region=0),
        N("N13", "FUEL", 2.0, tier="high", people=2.0, region=0),
    ]
    pledges = [P("P00", "FUEL", 2.0, factor=5.0, integer=True), P("P01", "FUEL", 2.0)]
    instance = Instance(needs=needs, pledges=pledges, transit=[[1, 0]])
    result = allocate(instance.problem())
    assert abs(result.tier_served[0] - (1 + 6 / 7)) <= 1e-9
    assert np.all(result.line_units == np.round(result.line_units, 3)), result.line_units
    check = test_every_plan_is_feasible_and_each_tier_is_optimal.hypothesis.inner_test  # type: ignore[attr-defined]
    check(instance)


def test_the_transit_stage_gives_no_hair_of_a_tier_to_a_later_one() -> None:
    # Found by a larger fuzz. 140 loose litres and five 5-litre drums for two critical needs (269 and 142
    # litres) and a medium one of 1: whole or not, the critical tier takes all of it. HiGHS's transit stage,
    # optimising the tiers again within their 1e-7 holds, sent 5.9e-5 litres to the medium need at the
    # critical tier's expense (2e-5 people). It now holds the tiers the plan serves and minimises transit alone.
    needs = [
        N("N08", "FUEL", 269.0, people=98.0), N("N17", "FUEL", 12.0, tier="high"),
        N("N21", "FUEL", 1.0, tier="medium"), N("N22", "FUEL", 142.0, people=206.0, region=1),
    ]
    pledges = [P("P00", "FUEL", 140.0), P("P01", "FUEL", 5.0, factor=5.0, integer=True, hub=1)]
    instance = Instance(needs=needs, pledges=pledges, transit=[[0, 0], [0, 1]])
    result = allocate(instance.problem())
    assert np.all(result.line_units == np.round(result.line_units, 3)), result.line_units
    check = test_every_plan_is_feasible_and_each_tier_is_optimal.hypothesis.inner_test  # type: ignore[attr-defined]
    check(instance)


@st.composite
def blocks_of_packs(draw: st.DrawFn) -> Instance:
    """One capability, up to 24 needs and 8 pledges of generators in several sizes: many whole plans."""
    n_hubs, n_regions = draw(st.integers(1, 3)), draw(st.integers(1, 4))
    transit = [[draw(st.integers(1, 7)) for _ in range(n_regions)] for _ in range(n_hubs)]
    needs = [
        N(f"N{i:02d}", "POWER-KW", float(draw(st.integers(5, 400))), tier=draw(st.sampled_from(TIERS)),
          people=float(draw(st.integers(1, 5000))), region=draw(st.integers(0, n_regions - 1)))
        for i in range(draw(st.integers(5, 24)))
    ]
    pledges = [
        P(f"P{j:02d}", "POWER-KW", float(draw(st.integers(1, 7))), integer=True,
          factor=float(draw(st.sampled_from([5, 30, 60, 100]))), hub=draw(st.integers(0, n_hubs - 1)))
        for j in range(draw(st.integers(2, 8)))
    ]
    return Instance(needs=needs, pledges=pledges, transit=transit)


def improves(new: Allocation, old: Allocation) -> bool:
    """More people served in the first tier that differs beyond solver noise, having given up nothing beyond it
    before that tier; or as many, and fewer unit-days."""
    noise = 1e-6 * np.maximum(old.tier_served, 1.0)
    delta = new.tier_served - old.tier_served
    for t in range(4):
        if delta[t] > noise[t]:
            return True
        if delta[t] < -noise[t]:
            return False
    return bool(new.line_transit @ new.line_units < old.line_transit @ old.line_units)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(blocks_of_packs())
def test_re_plans_move_lines_only_for_a_better_plan_and_soon_give_the_same_plan_back(instance: Instance) -> None:
    problem = instance.problem()
    options = SolveOptions(workers=1, integer_budget=0.0)  # no wall-clock budget: the same data, the same plan
    plans = [allocate(problem, options)]
    for _ in range(3):
        plans.append(allocate(problem, options, previous_of(plans[-1])))
        if plans[-1].figures["moved_units"] == 0.0:
            break
    # Settled within three re-plans (a re-plan may find a better rounding from the previous lines, and
    # make a trade the plan's choice could not afford from where the fresh plan started) ...
    assert plans[-1].figures["moved_units"] == 0.0
    np.testing.assert_array_equal(plans[-1].line_units, plans[-2].line_units)
    # ... and each move was for a better plan.
    for old, new in zip(plans, plans[1:], strict=False):
        assert new.figures["moved_units"] == 0.0 or improves(new, old)
