"""The coverage report (SQLite and PostgreSQL): what fixed lines commit and what the latest plan proposes,
per need, summed by the database; the donors' contributions, counted by it."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy.orm import Session

from aidpack.allocation.models import LineStatus, ShortReason
from aidpack.pledges.models import PledgeStatus
from aidpack.reports.service import contributions, coverage
from tests.factories import (
    make_item,
    make_line,
    make_need,
    make_org,
    make_plan,
    make_plan_need,
    make_pledge,
    statements,
    unique,
)


def test_a_need_counts_fixed_lines_as_committed_received_ones_by_their_share_and_the_latest_plans_proposals(
    session: Session,
) -> None:
    water = unique("WATER-L")
    litres = make_item(session, provides=water, factor=Decimal(1), indivisible=False)
    pledge = make_pledge(session, item=litres, units=Decimal(1000))
    tank = make_need(session, capability=water, quantity=Decimal(100), people_served=400)
    earlier = make_plan(session)
    make_line(session, plan=earlier, pledge=pledge, need=tank, units=20, status=LineStatus.ACCEPTED)
    make_line(session, plan=earlier, pledge=pledge, need=tank, units=40, status=LineStatus.RECEIVED,
              received_units=Decimal(10))
    make_line(session, plan=earlier, pledge=pledge, need=tank, units=30)  # an earlier plan's proposal
    latest = make_plan(session)
    make_line(session, plan=latest, pledge=pledge, need=tank, units=Decimal("12.5"))
    make_line(session, plan=latest, pledge=pledge, need=tank, units=9, status=LineStatus.REJECTED)
    make_plan_need(session, plan=latest, need=tank, reason=ShortReason.SHORT_SUPPLY, detail={"note": "test"})
    covered = make_need(session, capability=water, quantity=Decimal(5), people_served=10)
    make_line(session, plan=latest, pledge=pledge, need=covered, units=8)
    make_plan_need(session, plan=latest, need=covered)

    with statements(session) as queries:
        report = coverage(session)
    by_ref = {item.need.ref: item for item in report.needs}

    assert report.plan_id == latest.id
    short = by_ref[tank.ref]
    assert short.committed == Decimal(30)  # 20 accepted + 10 of the 40 received
    assert short.planned == Decimal("42.5")  # and the latest plan's 12.5; not its rejected line, not older plans'
    assert (short.reason, short.detail) == (ShortReason.SHORT_SUPPLY.value, {"note": "test"})
    assert short.people_short == pytest.approx(230.0)  # 400 people, 57.5 of 100 short
    full = by_ref[covered.ref]
    assert (full.committed, full.planned, full.reason) == (Decimal(0), Decimal(5), None)  # 8 brought, 5 asked
    assert not any("FROM lines" in q and "JOIN pledges" in q for q in queries)  # no line loaded as an object


def test_contributions_count_live_pledges_and_value_the_units_fixed_lines_hold(session: Session) -> None:
    donor = make_org(session)
    wash, food = unique("wash"), unique("food")
    tanks = make_pledge(session, donor=donor, item=make_item(session, category=wash), units=Decimal(10),
                        value_eur=Decimal(1000))
    meals = make_pledge(session, donor=donor, item=make_item(session, category=food), units=Decimal(3),
                        value_eur=Decimal(100))
    make_pledge(session, donor=donor, item=make_item(session, category=unique("gone")), value_eur=Decimal(500),
                status=PledgeStatus.WITHDRAWN)
    plan = make_plan(session)
    make_line(session, plan=plan, pledge=tanks, units=2, status=LineStatus.ACCEPTED)
    make_line(session, plan=plan, pledge=tanks, units=5, status=LineStatus.RECEIVED, received_units=Decimal(4))
    make_line(session, plan=plan, pledge=tanks, units=1)  # proposed: holds nothing
    make_line(session, plan=plan, pledge=tanks, units=1, status=LineStatus.REJECTED)
    make_line(session, plan=plan, pledge=meals, units=1, status=LineStatus.DISPATCHED)
    make_line(session, plan=plan, pledge=meals, units=1, status=LineStatus.DELIVERED)
    idle = make_org(session)
    # An organisation not marked as a donor still shows what it pledged; a pledge without a value counts as a pledge.
    other = make_org(session, is_donor=False)
    unvalued = make_pledge(session, donor=other, item=make_item(session, category=food))
    make_line(session, plan=plan, pledge=unvalued, units=4, status=LineStatus.ACCEPTED)

    with statements(session) as queries:
        by_donor = {c.donor: c.to_dict() for c in contributions(session)}

    assert by_donor[donor.code] == {
        "donor": donor.code, "name": donor.name, "pledges": 2, "value_eur": 1100.0,
        "value_committed_eur": 766.67,  # 1000 × 7/10 of the tanks (a received line by its units) + 100 × 2/3
        "lines_committed": 4, "lines_received": 1, "categories": sorted([food, wash]),
    }
    assert by_donor[idle.code] == {
        "donor": idle.code, "name": idle.name, "pledges": 0, "value_eur": 0.0, "value_committed_eur": 0.0,
        "lines_committed": 0, "lines_received": 0, "categories": [],
    }
    assert by_donor[other.code] == {
        "donor": other.code, "name": other.name, "pledges": 1, "value_eur": 0.0, "value_committed_eur": 0.0,
        "lines_committed": 1, "lines_received": 0, "categories": [food],
    }
    assert not any("lines.id" in q for q in queries)  # no line read as a row of its own
