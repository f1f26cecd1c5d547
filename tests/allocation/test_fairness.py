"""`--fair regions`: within a tier the worst-served region first, then people served."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from pathlib import Path
from typing import cast

import numpy as np
import pytest
from bench.generate import generate
from sqlalchemy.orm import Session

import aidpack.allocation.fairness as fairness
from aidpack.allocation.blocks import Previous
from aidpack.allocation.engine import Allocation, allocate, moved_units
from aidpack.allocation.fairness import allocate_fair, fair_key, region_coverage
from aidpack.allocation.loader import default_plan_date, load_problem
from aidpack.allocation.model import UNIT_EPSILON, Edges, candidate_edges
from aidpack.allocation.models import Termination
from aidpack.allocation.problem import Problem
from aidpack.allocation.service import UnknownFairness, run_plan
from aidpack.db import make_engine, make_session_factory, migrate, unit_of_work
from aidpack.geography.models import Region
from aidpack.ingest.service import import_path
from tests.allocation.builders import Instance, N, P
from tests.factories import PLAN_DATE, make_item, make_need, make_pledge, make_region, unique


def bench_problem(folder: Path, edges: float) -> Problem:
    """The bench's national scenario of about ``edges`` candidate edges (seed 1), imported and loaded."""
    generate(folder / "scenario", edges=edges, seed=1)
    engine = make_engine(f"sqlite:///{folder / 'aidpack.db'}")
    migrate(engine)
    with unit_of_work(make_session_factory(engine)) as session:
        import_path(session, path=folder / "scenario", kind=None, actor="test")
    with make_session_factory(engine)() as session:
        problem = load_problem(session, plan_date=default_plan_date(session), include_proposed=False).problem
    engine.dispose()
    return problem


@pytest.fixture(scope="module")
def national(tmp_path_factory: pytest.TempPathFactory) -> Problem:
    """The bench's national scenario at 1e4 edges (998 needs in 25 regions, generators, fuel in litres, drums
    and tankers, kits): holding each tier as a sum, HiGHS failed its low tier's fair stage, and the same LP at
    1e5 edges ran for over ten minutes."""
    return bench_problem(tmp_path_factory.mktemp("national"), 1e4)


@pytest.fixture(scope="module")
def national_plans(national: Problem) -> tuple[Allocation, Allocation]:
    """The national scenario's fair plan and standard plan."""
    standard = allocate(national)
    return allocate_fair(national, standard=standard), standard


def two_regions() -> Instance:
    # Region 0: 10 units for 1000 people; region 1: 10 units for 100 people; 10 units in all.
    return Instance(
        needs=[N("A", "KIT", 10, people=1000, region=0), N("B", "KIT", 10, people=100, region=1),
               N("C", "KIT", 4, tier="high", people=10, region=1)],
        pledges=[P("K", "KIT", 10)],
        transit=[[2, 2]],
    )


def test_fair_plan_raises_the_worst_region_first_then_people_served() -> None:
    problem = two_regions().problem()
    standard, fair = allocate(problem), allocate_fair(problem)
    # Standard: everything to the 1000 people; region 1 gets nothing in the critical tier.
    assert standard.tier_served[0] == pytest.approx(1000.0)
    assert region_coverage(problem, standard.need_covered).coverage[0] == pytest.approx(0.0)
    # Fair: both regions at half coverage (the most the worse one can get), then as many people as that allows.
    worst = region_coverage(problem, fair.need_covered)
    assert worst.coverage[0] == pytest.approx(0.5)
    assert fair.need_covered[0] == pytest.approx(5.0)
    assert fair.need_covered[1] == pytest.approx(5.0)
    assert fair.tier_served[0] == pytest.approx(550.0)
    # Nothing is left for the high tier either way.
    assert fair.tier_served[1] == pytest.approx(0.0, abs=1e-4)


def test_fairness_is_within_a_tier_and_never_costs_a_higher_tier() -> None:
    # A critical need in region 0 takes what it needs first; fairness only shares what is left in "high".
    instance = Instance(
        needs=[N("CRIT", "KIT", 6, people=10, region=0),
               N("H0", "KIT", 10, tier="high", people=1000, region=0),
               N("H1", "KIT", 10, tier="high", people=10, region=1)],
        pledges=[P("K", "KIT", 10)],
        transit=[[2, 2]],
    )
    problem = instance.problem()
    fair = allocate_fair(problem)
    assert fair.need_covered[0] == pytest.approx(6.0)
    assert fair.need_covered[1] == pytest.approx(2.0)
    assert fair.need_covered[2] == pytest.approx(2.0)



def test_a_whole_unit_brings_a_need_no_more_than_it_asks_for_in_the_fair_lp() -> None:
    # One 400 kVA transformer; two 100 kVA needs in two regions. Split four ways it would cover both (the
    # plain LP's answer: both regions at 100 %), but a whole transformer goes to one need.
    problem = Instance(
        needs=[N("A", "TR-KVA", 100, people=10, region=0), N("B", "TR-KVA", 100, people=10, region=1)],
        pledges=[P("T", "TR-KVA", 1, factor=400, integer=True)],
        transit=[[2, 2]],
    ).problem()
    fair = allocate_fair(problem)
    stages = {str(e["stage"]): cast(float, e["objective"]) for e in stage_log(fair)}
    assert -stages["fair0"] / 20 == pytest.approx(0.5)  # the LP's best: half a unit's worth each
    assert sorted(fair.need_covered.tolist()) == pytest.approx([0.0, 100.0])  # and one whole unit

def rich_and_poor(session: Session) -> Region:
    """10 kits for two needs of 10: 1000 people in one region, 100 in the other (the poor region, returned)."""
    capability = unique("KIT")
    item = make_item(session, provides=capability, factor=Decimal(1), indivisible=True)
    rich, poor = make_region(session), make_region(session)
    make_need(session, region=rich, capability=capability, quantity=Decimal(10), people_served=1000)
    make_need(session, region=poor, capability=capability, quantity=Decimal(10), people_served=100)
    make_pledge(session, item=item, units=Decimal(10))
    return poor


def stage_log(allocation: Allocation) -> list[dict[str, object]]:
    """The fair LP's stages, in order (fair0, tier0, ..., transit)."""
    return [entry for entry in cast(list[dict[str, object]], allocation.figures["log"]) if "stage" in entry]


def test_run_plan_reports_the_worst_region_with_and_without_fairness(session: Session) -> None:
    poor = rich_and_poor(session)
    plan = run_plan(session, actor="test", plan_date=PLAN_DATE, fair="regions")
    fairness = plan.figures["fairness"]
    assert fairness["by"] == "regions"
    assert fairness["worst"]["critical"]["coverage"] == pytest.approx(0.5)
    assert fairness["worst_without"]["critical"]["coverage"] == pytest.approx(0.0)
    assert fairness["worst_without"]["critical"]["region"] == poor.name
    assert plan.params["fair"] == "regions"


def test_an_unknown_fairness_is_refused(session: Session) -> None:
    with pytest.raises(UnknownFairness):
        run_plan(session, actor="test", plan_date=PLAN_DATE, fair="donors")


def test_a_national_fair_plan_solves_every_stage_and_raises_the_worst_regions(
    national: Problem, national_plans: tuple[Allocation, Allocation]
) -> None:
    fair, standard = national_plans
    stages = stage_log(fair)
    assert [entry["stage"] for entry in stages] == [
        "fair0", "tier0", "fair1", "tier1", "fair2", "tier2", "fair3", "tier3", "transit"]
    assert all(entry["status"] == "optimal" for entry in stages)
    assert fair.termination is not Termination.ERROR
    worst, without = region_coverage(national, fair.need_covered), region_coverage(national, standard.need_covered)
    # The critical tier's worst region is as well served as the standard plan serves it (no plan does better:
    # the standard plan is one the fair LP could choose), and the low tier's worst region gets its share.
    assert worst.coverage[0] == pytest.approx(without.coverage[0], abs=1e-6)
    assert without.coverage[3] == pytest.approx(0.0)
    assert worst.coverage[3] is not None
    assert worst.coverage[3] > 0.1
    # Each need keeps what its tier gave it, so the tiers after it take nothing back: the plan serves each
    # tier what its stage reached, less what whole units cost (here at most 0.6 %, in the low tier).
    reached = np.array([-float(cast(float, e["objective"])) for e in stages if str(e["stage"]).startswith("tier")])
    assert np.all(fair.tier_served <= reached * (1 + 1e-9))
    assert fair.tier_served == pytest.approx(reached, rel=1e-2)
    # Under --fair, the fair plan ranks first.
    assert fair_key(national, fair) > fair_key(national, standard)


def test_a_failed_plan_ranks_below_any_plan_and_fairness_comes_before_people(
    national: Problem, national_plans: tuple[Allocation, Allocation]
) -> None:
    fair, standard = national_plans
    assert fair.tier_served[3] < standard.tier_served[3]  # fairness costs people...
    assert fair_key(national, fair) > fair_key(national, standard)  # ...and is chosen for it
    failed = dataclasses.replace(fair, termination=Termination.ERROR)
    assert fair_key(national, standard) > fair_key(national, failed)


def test_a_fair_lp_that_stops_short_gives_the_standard_plan_and_says_so(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    rich_and_poor(session)
    solve = fairness._run
    calls: list[int] = []

    def out_of_time_at_the_first_stage(h: object, deadline: float | None) -> Termination:
        calls.append(1)
        status = solve(h, deadline)  # type: ignore[arg-type]
        return Termination.TIME_LIMIT if len(calls) == 1 else status

    monkeypatch.setattr(fairness, "_run", out_of_time_at_the_first_stage)
    plan = run_plan(session, actor="test", plan_date=PLAN_DATE, fair="regions")
    assert plan.figures["fair_fallback"] == (
        "the fair LP stopped at its fair0 stage (time_limit); this is the standard plan")
    assert plan.figures["fairness"]["worst"]["critical"]["coverage"] == pytest.approx(0.0)
    assert plan.tiers["critical"]["served"] == pytest.approx(1000.0)


def test_edges_left_out_of_the_fair_lp_enter_when_they_would_improve_it(
    national: Problem, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One standard plan for both (its HiGHS stages have wall-clock budgets: on a loaded machine two runs may differ,
    # and so would the fair LPs' blocks).
    standard = allocate(national)

    def stages(start_edges: int) -> dict[str, tuple[float, int]]:
        monkeypatch.setattr(fairness, "START_EDGES", start_edges)
        return {str(e["stage"]): (cast(float, e["objective"]), cast(int, e["edges"]))
                for e in stage_log(allocate_fair(national, standard=standard))}

    everything, one = stages(10**6), stages(1)
    assert everything.keys() == one.keys()
    for stage, (value, edges) in one.items():
        # From each need's and each pledge's nearest edge alone, pricing brings in what the stage needs: the same
        # optimum as with every edge in the model. (The last stage takes every edge, block by block.)
        assert value == pytest.approx(everything[stage][0], rel=1e-7, abs=1e-6), stage
        if stage != "transit":
            assert edges < everything[stage][1]


def test_the_last_stage_block_by_block_reaches_the_whole_lps_fewest_unit_days(
    national: Problem, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Once every need keeps the share its tier gave it, the regions' rows are free and the LP separates by
    # capability: the blocks' own LPs reach the unit-days of the whole LP with pricing.
    def whole_lp(problem: Problem, edges: Edges, usable: np.ndarray, lp: fairness._FairLp, least: np.ndarray,
                 units: np.ndarray, options: object) -> np.ndarray:
        lp.run("transit", np.zeros(0, dtype=np.int64), np.zeros(0),
               edge_cost=(edges.transit[usable] + UNIT_EPSILON).astype(np.float64))
        return lp.units()

    # The whole LP's last stage prices every block's edges, so no block is left out of it here (see
    # test_blocks_a_whole_unit_plan_settles_stay_out_of_the_fair_lp_and_change_no_stage).
    monkeypatch.setattr(fairness, "settled_blocks", lambda *args: None)
    by_block = {str(e["stage"]): cast(float, e["objective"]) for e in stage_log(allocate_fair(national))}
    monkeypatch.setattr(fairness, "_transit_by_block", whole_lp)
    whole = {str(e["stage"]): cast(float, e["objective"]) for e in stage_log(allocate_fair(national))}
    assert by_block["transit"] == pytest.approx(whole["transit"], rel=1e-7)
    assert by_block["tier3"] == whole["tier3"]


def test_whole_units_keep_the_fairness_the_fair_lp_reached(tmp_path: Path) -> None:
    # 1e5 edges (3,047 needs): when each block kept its best rounding by tier and people alone, the low tier's
    # worst region kept 0.265 of the LP's 0.408 (tankers split between needs by the LP went elsewhere whole).
    problem = bench_problem(tmp_path, 1e5)
    fair = allocate_fair(problem)
    reached = {int(str(e["stage"])[-1]): -cast(float, e["objective"])
               for e in stage_log(fair) if str(e["stage"]).startswith("fair")}
    worst = region_coverage(problem, fair.need_covered).coverage
    for tier, value in reached.items():
        lp_level = value / float(problem.need_people[problem.need_tier == tier].sum())
        # The medium tier's transformers cannot be split between needs: 0.0085 of its worst region is theirs.
        assert worst[tier] == pytest.approx(lp_level, abs=0.01), tier


def test_a_fair_re_plan_keeps_the_previous_lines_among_plans_as_fair(
    national: Problem, national_plans: tuple[Allocation, Allocation]
) -> None:
    fair = national_plans[0]
    previous = Previous(pledge=fair.line_pledge, need=fair.line_need, units=fair.line_units)
    assert allocate_fair(national, previous=previous).figures["moved_units"] == 0.0
    # A pledge cut below what the plan sends from it: some lines must move. A fair plan made afresh moves
    # 1,643 units; the re-plan keeps the previous lines where they are as fair, and moves a third of that.
    used = np.bincount(fair.line_pledge, weights=fair.line_units, minlength=national.n_pledges)
    cut = int(np.argmax(np.where(used > 0, national.pledge_supply - used, -1.0)))
    supply = national.pledge_supply.copy()
    supply[cut] = 0.9 * used[cut]
    changed = dataclasses.replace(national, pledge_supply=supply)
    afresh = allocate_fair(changed)
    moved_afresh = moved_units(previous, afresh.line_pledge, afresh.line_need, afresh.line_units)
    re_plan = allocate_fair(changed, previous=previous)
    assert moved_afresh is not None
    assert moved_afresh > 0.1 * used[cut]
    assert cast(float, re_plan.figures["moved_units"]) < 0.5 * moved_afresh
    assert not fairness._ranks_above(fair_key(changed, afresh)[1:], fair_key(changed, re_plan)[1:])


def test_a_fair_lp_stopped_at_any_point_gives_a_feasible_plan(
    national: Problem, monkeypatch: pytest.MonkeyPatch
) -> None:
    # From one edge per need and pledge, pricing adds edges in most stages; a time limit right after it left
    # edges the last solution had not seen, and the plan's units were read past its end (IndexError).
    monkeypatch.setattr(fairness, "START_EDGES", 1)
    solve = fairness._run
    for stop in range(1, 16):
        calls: list[int] = []

        def out_of_time(h: object, deadline: float | None, stop: int = stop, calls: list[int] = calls) -> Termination:
            calls.append(1)
            status = solve(h, deadline)  # type: ignore[arg-type]
            return Termination.TIME_LIMIT if len(calls) == stop else status

        monkeypatch.setattr(fairness, "_run", out_of_time)
        plan = allocate_fair(national)
        assert plan.termination is Termination.TIME_LIMIT, stop
        sent = np.bincount(plan.line_pledge, weights=plan.line_units, minlength=national.n_pledges)
        assert np.all(sent <= national.pledge_supply + 1e-6), stop


def test_a_block_is_settled_through_the_last_tier_its_whole_unit_plan_serves_every_need_of_fully() -> None:
    instance = Instance(
        needs=[N("W1", "WATER", 10), N("W2", "WATER", 10, tier="low"),  # 30 litres: every tier
               N("K1", "KIT", 5), N("K2", "KIT", 10, tier="medium"),  # 8 kits: critical (no high need), not medium
               N("F1", "FUEL", 10),  # 4 litres: not even critical
               N("G1", "POWER", 5, people=0.0)],  # served, but serves no one: never settled
        pledges=[P("PW", "WATER", 30), P("PK", "KIT", 8, integer=True), P("PF", "FUEL", 4),
                 P("PG", "POWER", 10)],
    )
    problem = instance.problem()
    plan = allocate(problem)
    edges = candidate_edges(problem)
    usable = np.flatnonzero(problem.pledge_supply[edges.pledge] > 0)

    settled = fairness.settled_blocks(problem, edges, usable, plan)

    assert settled is not None
    assert dict(zip(problem.need_refs, settled.need_through.tolist(), strict=True)) == {
        "W1": 3, "W2": 3, "K1": 1, "K2": 1, "F1": -1, "G1": -1}
    assert settled.edge_through.tolist() == settled.need_through[edges.need[usable]].tolist()
    sent = {(problem.pledge_refs[p], problem.need_refs[n]): u
            for p, n, u in zip(plan.line_pledge, plan.line_need, plan.line_units, strict=True)}
    assert {(problem.pledge_refs[p], problem.need_refs[n]): u
            for p, n, u in zip(edges.pledge[usable], edges.need[usable], settled.units, strict=True) if u > 0} == sent


def test_blocks_a_whole_unit_plan_settles_stay_out_of_the_fair_lp_and_change_no_stage(
    national: Problem, national_plans: tuple[Allocation, Allocation], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fair LP leaves out the blocks that serve every need of the tiers so far: the same optimum in every
    stage (to the λ holds' tolerance, within which each tier's value moves a few millionths) from fewer edges."""
    settled = {str(e["stage"]): (cast(float, e["objective"]), cast(int, e["edges"]))
               for e in stage_log(national_plans[0])}
    monkeypatch.setattr(fairness, "settled_blocks", lambda *args: None)
    everything = allocate_fair(national)
    inside = {str(e["stage"]): (cast(float, e["objective"]), cast(int, e["edges"])) for e in stage_log(everything)}

    assert settled.keys() == inside.keys()
    for stage, (value, edges) in settled.items():
        assert value == pytest.approx(inside[stage][0], rel=1e-5), stage
        if stage != "transit":
            assert edges < inside[stage][1], stage
    assert fair_key(national, national_plans[0])[:4] == fair_key(national, everything)[:4]
