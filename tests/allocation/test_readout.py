"""A saved plan read back as rows (SQLite and PostgreSQL): what each need is covered by, and a fixed number
of queries whatever the plan's size."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy.orm import Session

from aidpack.allocation.diff import diff_plans
from aidpack.allocation.models import LineStatus, Plan, plan_kept_lines
from aidpack.allocation.readout import (
    DonorTotals,
    coverage,
    donor_totals,
    line_counts,
    need_coverage,
    plan_lines,
    plan_outcomes,
)
from aidpack.allocation.service import get_plan, plan_payload, run_plan
from aidpack.allocation.summary import summarise
from aidpack.sites.models import Site
from tests.factories import (
    PLAN_DATE,
    make_item,
    make_line,
    make_need,
    make_org,
    make_plan,
    make_plan_need,
    make_pledge,
    make_site,
    statements,
    unique,
)


def test_a_need_is_covered_by_its_own_and_kept_lines_not_rejected_ones_and_received_ones_by_their_share(
    session: Session,
) -> None:
    capability = unique("WATER-L")
    item = make_item(session, provides=capability, factor=Decimal(1), indivisible=False)
    site = make_site(session, people_served=700)
    need = make_need(session, capability=capability, quantity=Decimal(100), site=site, people_served=None)
    pledge = make_pledge(session, item=item, units=Decimal(1000))
    earlier, plan = make_plan(session), make_plan(session)
    kept = make_line(session, plan=earlier, pledge=pledge, need=need, units=40, status=LineStatus.RECEIVED,
                     received_units=Decimal(30))
    own = make_line(session, plan=plan, pledge=pledge, need=need, units=25)
    rejected = make_line(session, plan=plan, pledge=pledge, need=need, units=20, status=LineStatus.REJECTED)
    make_plan_need(session, plan=plan, need=need)
    session.execute(plan_kept_lines.insert().values(plan_id=plan.id, line_id=kept.id))

    lines = plan_lines(session, plan.id)
    (outcome,) = plan_outcomes(session, plan.id, lines)

    assert [(line.id, line.kept) for line in lines] == [(own.id, False), (rejected.id, False), (kept.id, True)]
    assert lines[2].delivered_amount == Decimal(30)  # 30 of its 40 units arrived
    assert outcome.covered == Decimal(55)  # 30 received + 25 proposed; the rejected 20 bring nothing
    assert outcome.people == 700  # no people of its own: its site's
    assert line_counts(session, [plan.id, earlier.id]) == {plan.id: 2, earlier.id: 1}


def test_the_database_sums_what_a_plans_lines_bring_as_reading_them_one_by_one_does(session: Session) -> None:
    """The summary reads sums, not lines: per need, own and kept lines (received ones by their share, rejected
    ones not at all); per donor, its own lines only."""
    water, heat = unique("WATER-L"), unique("HEAT-KW")
    litres = make_item(session, provides=water, factor=Decimal(1), indivisible=False)
    heaters = make_item(session, provides=heat, factor=Decimal("2.5"), indivisible=True)
    north, south = make_org(session), make_org(session)
    tank, stove = (make_need(session, capability=c, quantity=Decimal(100)) for c in (water, heat))
    earlier, plan = make_plan(session), make_plan(session)
    kept = make_line(session, plan=earlier, pledge=make_pledge(session, donor=south, item=litres, units=Decimal(90)),
                     need=tank, units=40, status=LineStatus.RECEIVED, received_units=Decimal("12.5"))
    session.execute(plan_kept_lines.insert().values(plan_id=plan.id, line_id=kept.id))
    north_litres = make_pledge(session, donor=north, item=litres, units=Decimal(1000))
    make_line(session, plan=plan, pledge=north_litres, need=tank, units=Decimal("20.25"))
    make_line(session, plan=plan, pledge=north_litres, need=tank, units=7, status=LineStatus.REJECTED)
    make_line(session, plan=plan, pledge=make_pledge(session, donor=north, item=heaters, units=Decimal(9)),
              need=stove, units=3)
    make_line(session, plan=plan, pledge=make_pledge(session, donor=south, item=heaters, units=Decimal(9)),
              need=stove, units=2)

    summed = need_coverage(session, plan.id)

    assert summed == coverage(plan_lines(session, plan.id))
    assert summed == {tank.id: Decimal("32.75"), stove.id: Decimal("12.5")}  # 12.5 received + 20.25; 7.5 + 5
    assert donor_totals(session, plan.id) == sorted(
        [DonorTotals(north.code, north.name, 2, 2, {water: Decimal("20.25"), heat: Decimal("7.5")}),
         DonorTotals(south.code, south.name, 1, 1, {heat: Decimal(5)})],  # the kept line is an earlier plan's
        key=lambda donor: donor.code,
    )


def blanket_plan(session: Session, *, units: int) -> Plan:
    """A plan with one line: ``units`` blankets of 50 (a pledge of 2) for a need of 80 serving 10 people."""
    capability = unique("BLANKET")
    item = make_item(session, provides=capability, factor=Decimal(50), indivisible=True)
    need = make_need(session, capability=capability, quantity=Decimal(80), people_served=10)
    plan = make_plan(session)
    make_line(session, plan=plan, pledge=make_pledge(session, item=item, units=Decimal(2)), need=need, units=units)
    make_plan_need(session, plan=plan, need=need)
    return plan


def test_a_need_never_counts_as_covered_beyond_its_quantity(session: Session) -> None:
    plan = blanket_plan(session, units=2)

    (outcome,) = plan_outcomes(session, plan.id, plan_lines(session, plan.id))

    assert outcome.covered == Decimal(80)  # 100 brought, 80 asked
    assert outcome.people == 10


def test_a_plan_is_read_as_rows_in_the_same_few_queries_whatever_its_size(session: Session) -> None:
    """The summary, the SPEC §4 object and a diff load rows, not an object per line with its pledge, donor,
    item, hub, need, region and site: at 1e6 candidate edges the ORM took 3-6 s to read a plan's 19,645 lines."""

    def read(n_needs: int) -> tuple[int, set[str]]:
        capability = unique("HEAT-KW")
        item = make_item(session, provides=capability, factor=Decimal(2), indivisible=True)
        sites = [make_site(session, people_served=100 + i) for i in range(3)]
        for i in range(n_needs):
            make_need(session, capability=capability, quantity=Decimal(10), site=sites[i % 3], people_served=None)
            make_pledge(session, item=item, units=Decimal(3))
        first = run_plan(session, actor="test", plan_date=PLAN_DATE).id
        second = run_plan(session, actor="test", plan_date=PLAN_DATE).id
        session.flush()
        session.expunge_all()
        with statements(session) as seen:
            before, after = get_plan(session, first), get_plan(session, second)
            summarise(session, after)
            plan_payload(session, after)
            diff_plans(session, before, after)
        loaded = {type(obj).__name__ for obj in session.identity_map.values()}
        assert len(plan_lines(session, second)) >= n_needs
        return len(seen), loaded

    (small, _), (large, loaded) = read(3), read(40)

    assert small == large
    # the two plans; the summary: the needs per tier, the short needs, need sums (two), donor sums (two); the JSON
    # and each side of the diff: own lines, kept lines, needs
    assert large <= 17
    assert loaded == {"Plan"}


def test_a_plan_without_its_lines_has_the_same_tiers_and_needs(session: Session) -> None:
    """The plan page shows its lines a page at a time, so it asks for the plan without them."""
    plan = blanket_plan(session, units=1)

    full = plan_payload(session, plan)
    bare = plan_payload(session, plan, include_lines=False)

    assert len(full["lines"]) == 1
    assert bare["lines"] == []
    assert {k: v for k, v in bare.items() if k != "lines"} == {k: v for k, v in full.items() if k != "lines"}
    assert bare["needs"][0]["covered"] == 50.0


def test_the_summary_counts_a_sites_people_for_a_need_without_its_own(session: Session) -> None:
    capability = unique("STOVE")
    item = make_item(session, provides=capability, factor=Decimal(1), indivisible=True)
    site = make_site(session, people_served=1234)
    need = make_need(session, capability=capability, quantity=Decimal(5), site=site, people_served=None)
    make_pledge(session, item=item, units=Decimal(2))

    plan = run_plan(session, actor="test", plan_date=PLAN_DATE)
    gaps = {gap.ref: gap for gap in summarise(session, plan, max_gaps=100_000).gaps}

    assert session.get(Site, site.id) is not None
    assert gaps[need.ref].people == 1234
    assert gaps[need.ref].covered == Decimal(2)
