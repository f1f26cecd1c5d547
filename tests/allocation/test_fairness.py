"""`--fair regions`: within a tier the worst-served region first, then people served."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy.orm import Session

from aidpack.allocation.engine import allocate
from aidpack.allocation.fairness import allocate_fair, region_coverage
from aidpack.allocation.service import UnknownFairness, run_plan
from tests.allocation.builders import Instance, N, P
from tests.factories import PLAN_DATE, make_item, make_need, make_pledge, make_region, unique


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


def test_run_plan_reports_the_worst_region_with_and_without_fairness(session: Session) -> None:
    capability = unique("KIT")
    item = make_item(session, provides=capability, factor=Decimal(1), indivisible=True)
    rich, poor = make_region(session), make_region(session)
    make_need(session, region=rich, capability=capability, quantity=Decimal(10), people_served=1000)
    make_need(session, region=poor, capability=capability, quantity=Decimal(10), people_served=100)
    make_pledge(session, item=item, units=Decimal(10))
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
