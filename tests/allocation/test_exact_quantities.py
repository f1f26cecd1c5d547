"""Quantities past what float64 holds exactly (up to 1e12 with six decimals: 18 digits), and the reasons of needs
left short, as a saved plan has them (QA's edge1, edge2 and edge4csv)."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from aidpack.allocation.decisions import accept_lines
from aidpack.allocation.engine import allocate, round6, round_units, short_needs
from aidpack.allocation.explain import PROPOSED_HINT
from aidpack.allocation.models import Line, PlanNeed, ShortReason
from aidpack.allocation.service import plan_payload, run_plan
from aidpack.catalogue.models import Item
from aidpack.needs.models import Priority
from aidpack.pledges.models import Pledge, PledgeStatus
from tests.allocation.builders import Instance, N, P
from tests.factories import PLAN_DATE, make_hub, make_item, make_need, make_pledge, make_region, unique

HUGE = Decimal("999999999999")
HUGEST = Decimal("999999999999.999999")


def litres(session: Session, capability: str) -> Item:
    return make_item(session, provides=capability, factor=Decimal(1), indivisible=False)


def saved_lines(session: Session, plan_id: int) -> list[Line]:
    return list(session.execute(select(Line).where(Line.plan_id == plan_id).order_by(Line.id)).scalars())


def reasons_match_coverage(session: Session, plan_id: int) -> None:
    """SPEC §4: a need the plan reports short of its quantity carries a reason; one it fills carries none."""
    for outcome in session.execute(select(PlanNeed).where(PlanNeed.plan_id == plan_id)).scalars():
        short = outcome.covered_fixed + outcome.covered_new < outcome.covered_fixed + outcome.open_quantity
        assert (outcome.reason is not None) == short, (outcome.need.ref, outcome.open_quantity, outcome.covered_new,
                                                       outcome.reason)


# --- the engine in float64 ---------------------------------------------------------------------------------------


def test_rounding_to_six_decimals_adds_no_noise_to_a_trillion() -> None:
    # NumPy's round(x, 6) scales by 1e6: 999,999,999,999 came back as 999,999,999,999.0001.
    values = np.array([999_999_999_999.0, 142_857_142_857.0, 3.0000004, 2.5])
    assert round6(values).tolist() == [999_999_999_999.0, 142_857_142_857.0, 3.0, 2.5]
    problem = Instance(needs=[N("A", "DIESEL", 999_999_999_999)],
                       pledges=[P("HUGE", "DIESEL", 999_999_999_999)]).problem()
    assert round_units(problem, np.array([0]), np.array([999_999_999_999.0])).tolist() == [999_999_999_999.0]


def test_a_need_short_by_less_than_a_millionth_of_it_is_short_when_the_plan_reports_it_short() -> None:
    demand = np.array([999_999_999_999.0, 10.0, 10.0, 142_857_142_857.142853])
    covered = np.array([999_999_999_000.0, 9.999999, 10.0 - 1e-15, 142_857_142_857.0])
    assert short_needs(demand, covered).tolist() == [True, True, False, True]
    instance = Instance(
        needs=[N("S-0", "SALT", 999_999_999_999, tier="medium", people=5)],
        pledges=[P("LOOSE", "SALT", 100)],
    )
    result = allocate(instance.problem())
    assert result.need_covered.tolist() == [100.0]
    assert set(result.shortfalls) == {0}


def test_a_line_of_whole_kilograms_beside_a_trillion_is_no_sliver() -> None:
    # QA's edge2: 999,999,999 tonnes of salt and 999 kg of loose salt fill a need of 999,999,999,999 kg. The
    # 999 kg are less than a millionth of the need, and polish dropped them as float noise: the need short, the
    # loose salt idle.
    instance = Instance(
        needs=[N("S-0", "SALT", 999_999_999_999, tier="medium", people=5), N("S-1", "SALT", 0.5, tier="medium",
                                                                             people=5)],
        pledges=[P("PS-0", "SALT", 999_999_999, factor=1000, integer=True), P("PS-1", "SALT", 123_456.000001)],
    )
    problem = instance.problem()
    result = allocate(problem)
    lines = {(problem.pledge_refs[p], problem.need_refs[n]): float(u)
             for p, n, u in zip(result.line_pledge, result.line_need, result.line_units, strict=True)}
    assert lines == {("PS-0", "S-0"): 999_999_999.0, ("PS-1", "S-0"): 999.0, ("PS-1", "S-1"): 0.5}
    assert result.shortfalls == {}


# --- saved plans -------------------------------------------------------------------------------------------------


def test_a_plan_of_a_trillion_litres_gives_no_line_more_than_its_pledge_and_can_be_accepted(session: Session) -> None:
    # QA's edge4csv: the line was saved as 999,999,999,999.000064 units of a 999,999,999,999-unit pledge, and
    # accepting the fresh plan failed (PLAN_STALE) again and again.
    capability = unique("DIESEL")
    region = make_region(session)
    need = make_need(session, region=region, capability=capability, quantity=HUGE, priority=Priority.HIGH)
    pledge = make_pledge(session, item=litres(session, capability), units=HUGE)

    plan = run_plan(session, actor="test", plan_date=PLAN_DATE)
    lines = [line for line in saved_lines(session, plan.id) if line.pledge_id == pledge.id]
    assert [(line.need_id, line.units, line.amount) for line in lines] == [(need.id, HUGE, HUGE)]
    accept_lines(session, actor="test", plan_id=plan.id, line_ids=[line.id for line in lines])
    session.refresh(pledge)
    assert pledge.committed_units == HUGE
    reasons_match_coverage(session, plan.id)


def test_a_pledge_float64_rounds_up_to_1e12_gives_no_more_than_it_has(session: Session) -> None:
    # QA's edge1: 999,999,999,999.999999 litres are 1e12 to the engine, which sent 1e12: one millionth too many.
    # The millionth comes off the least valuable need's line (low tier), not the high-tier need's.
    capability = unique("DIESEL")
    region = make_region(session)
    big = make_need(session, region=region, capability=capability, quantity=HUGE, priority=Priority.HIGH,
                    people_served=1_000_000)
    small = make_need(session, region=region, capability=capability, quantity=Decimal(100), priority=Priority.LOW,
                      people_served=1)
    pledge = make_pledge(session, item=litres(session, capability), units=HUGEST)

    plan = run_plan(session, actor="test", plan_date=PLAN_DATE)
    lines = {line.need_id: line for line in saved_lines(session, plan.id) if line.pledge_id == pledge.id}
    assert {n: line.units for n, line in lines.items()} == {big.id: HUGE, small.id: Decimal("0.999999")}
    assert sum(line.units for line in lines.values()) == HUGEST
    accept_lines(session, actor="test", plan_id=plan.id, line_ids=[line.id for line in lines.values()])
    reasons = {o.need_id: o.reason for o in session.execute(select(PlanNeed).where(PlanNeed.plan_id == plan.id))
               .scalars()}
    assert reasons[big.id] is None
    assert reasons[small.id] is ShortReason.OUTCOMPETED
    reasons_match_coverage(session, plan.id)


def test_water_by_the_millilitre_never_takes_more_millilitres_than_pledged(session: Session) -> None:
    # QA's edge2: a line of 1e12 ml against a pledge of 999,999,999,999.999999 ml.
    capability = unique("WATER-L")
    region = make_region(session)
    need = make_need(session, region=region, capability=capability, quantity=Decimal("4000000000.000001"))
    ml = make_item(session, provides=capability, factor=Decimal("0.001"), indivisible=False)
    pledge = make_pledge(session, item=ml, units=HUGEST)

    plan = run_plan(session, actor="test", plan_date=PLAN_DATE)
    lines = [line for line in saved_lines(session, plan.id) if line.pledge_id == pledge.id]
    assert [(line.need_id, line.units, line.amount) for line in lines] == [
        (need.id, HUGEST, Decimal("1000000000.000000"))]
    accept_lines(session, actor="test", plan_id=plan.id, line_ids=[line.id for line in lines])
    reasons_match_coverage(session, plan.id)


def test_needs_a_few_millionths_short_at_a_hundred_billion_carry_a_reason(session: Session) -> None:
    # QA's edge2: seven needs of 142,857,142,857.142853 kg (float64: ...142850) and 999,999,999,999.5 kg of grain.
    # Four were left short by up to 0.14 kg without a reason; the float lines also left three of the others 3e-06
    # short of what they ask.
    capability = unique("GRAIN")
    region = make_region(session)
    quantity = Decimal("142857142857.142853")
    needs = [make_need(session, region=region, capability=capability, quantity=quantity, priority=Priority.HIGH,
                       people_served=10 + i) for i in range(7)]
    pledge = make_pledge(session, item=litres(session, capability),
                         units=Decimal("999999999999.5"))

    plan = run_plan(session, actor="test", plan_date=PLAN_DATE)
    lines = [line for line in saved_lines(session, plan.id) if line.pledge_id == pledge.id]
    assert sum(line.units for line in lines) <= pledge.units
    reasons_match_coverage(session, plan.id)
    outcomes = {o.need_id: o for o in session.execute(select(PlanNeed).where(PlanNeed.plan_id == plan.id)).scalars()}
    short = [n for n in needs if outcomes[n.id].covered_new < quantity]
    assert short  # 7 x quantity > the pledge
    assert all(outcomes[n.id].reason is ShortReason.OUTCOMPETED for n in short)
    accept_lines(session, actor="test", plan_id=plan.id, line_ids=[line.id for line in lines])


def test_a_need_only_proposed_pledges_provide_names_them_and_how_to_use_them(session: Session) -> None:
    # QA's edge1: N-PROPOSED was "no_supply" with an empty detail though a jammer was pledged (proposed).
    capability = unique("CUAS-JAMMER")
    hub = make_hub(session)
    need = make_need(session, capability=capability, quantity=Decimal(2))
    jammer = make_item(session, provides=capability, factor=Decimal(1), indivisible=True)
    proposed = make_pledge(session, item=jammer, hub=hub, units=Decimal(5), status=PledgeStatus.PROPOSED)
    make_pledge(session, item=jammer, hub=hub, units=Decimal(5), status=PledgeStatus.WITHDRAWN)
    orphan = make_need(session, capability=unique("NOBODY"), quantity=Decimal(1))

    payload = plan_payload(session, run_plan(session, actor="test", plan_date=PLAN_DATE))
    rows = {row["ref"]: row for row in payload["needs"]}
    assert rows[need.ref]["reason"] == "no_supply"
    assert rows[need.ref]["detail"] == {"proposed": [proposed.ref], "hint": PROPOSED_HINT}
    assert (rows[orphan.ref]["reason"], rows[orphan.ref]["detail"]) == ("no_supply", {})

    payload = plan_payload(session, run_plan(session, actor="test", plan_date=PLAN_DATE, include_proposed=True))
    rows = {row["ref"]: row for row in payload["needs"]}
    assert (rows[need.ref]["covered"], rows[need.ref]["reason"]) == (2.0, None)
    assert session.get(Pledge, proposed.id) is not None
