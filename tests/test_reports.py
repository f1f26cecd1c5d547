"""The coverage report (SQLite and PostgreSQL): what fixed lines commit and what the latest plan proposes,
per need, summed by the database."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy.orm import Session

from aidpack.allocation.models import LineStatus, ShortReason
from aidpack.reports.service import coverage
from tests.factories import (
    make_item,
    make_line,
    make_need,
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
