"""The coverage report (SQLite and PostgreSQL): what fixed lines commit and what the latest plan proposes,
per need, summed by the database; the donors' contributions, counted by it."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy.orm import Session

from aidpack.allocation.models import LineStatus, ShortReason
from aidpack.auth.models import Role
from aidpack.auth.policy import Principal
from aidpack.needs.models import NeedStatus, Priority
from aidpack.pledges.models import PledgeStatus
from aidpack.reports import service
from aidpack.reports.service import contributions, coverage, visible_gaps
from aidpack.sites.models import Sensitivity
from tests.factories import (
    make_item,
    make_line,
    make_need,
    make_org,
    make_plan,
    make_plan_need,
    make_pledge,
    make_recipient_org,
    make_region,
    make_site,
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


def test_coverage_weights_each_need_by_its_people_in_its_region_category_and_the_public_gaps(session: Session) -> None:
    """Figures worked by hand; the needs are read as columns, none as an object."""
    water, food = unique("WATER"), unique("FOOD")
    wash, meals = unique("wash"), unique("meals")
    tanks = make_pledge(session, item=make_item(session, provides=water, category=wash, factor=Decimal(1),
                                                indivisible=False), units=Decimal(1000))
    rations = make_pledge(session, item=make_item(session, provides=food, category=meals, factor=Decimal(1),
                                                  indivisible=False), units=Decimal(1000))
    north, south = make_region(session), make_region(session)
    camp = make_site(session, region=north, people_served=300)
    empty = make_site(session, region=north, people_served=0)
    # 300 people (the site's), 40 of 100 committed, 20 more proposed: 60 planned.
    a = make_need(session, region=north, site=camp, capability=water, quantity=Decimal(100))
    # 50 people, 15 proposed for 10: fully covered, 10 planned.
    b = make_need(session, region=north, capability=water, quantity=Decimal(10), people_served=50,
                  priority=Priority.HIGH)
    # Its site serves nobody: 1 person; nothing brought.
    c = make_need(session, region=north, site=empty, capability=food, quantity=Decimal(4))
    # 10 people; a received line of 8 units, 2 of them received: 2 committed.
    d = make_need(session, region=south, capability=food, quantity=Decimal(8), people_served=10)
    gone = make_need(session, region=south, capability=food, quantity=Decimal(8), people_served=999,
                     status=NeedStatus.CANCELLED)
    earlier, latest = make_plan(session), make_plan(session)
    make_line(session, plan=earlier, pledge=tanks, need=a, units=40, status=LineStatus.ACCEPTED)
    make_line(session, plan=earlier, pledge=rations, need=d, units=8, status=LineStatus.RECEIVED,
              received_units=Decimal(2))
    make_line(session, plan=earlier, pledge=rations, need=gone, units=8, status=LineStatus.ACCEPTED)
    make_line(session, plan=latest, pledge=tanks, need=a, units=20)
    make_line(session, plan=latest, pledge=tanks, need=b, units=15)
    make_plan_need(session, plan=latest, need=a, reason=ShortReason.SHORT_SUPPLY)
    make_plan_need(session, plan=latest, need=c, reason=ShortReason.NO_SUPPLY)

    with statements(session) as queries:
        report = coverage(session)

    regions = {g.key: g.to_dict() for g in report.regions}
    # north: 351 people; planned 300 × 0.6 + 50 × 1 + 1 × 0 = 230 (0.65527), committed 300 × 0.4 = 120 (0.34188)
    assert regions[north.code] == {"key": north.code, "label": north.name, "needs": 3, "people": 351,
                                   "fully_covered": 1, "planned": 0.6553, "committed": 0.3419}
    # south: 10 people, 2 of 8 received and nothing proposed: 0.25 each; the cancelled need left out
    assert regions[south.code] == {"key": south.code, "label": south.name, "needs": 1, "people": 10,
                                   "fully_covered": 0, "planned": 0.25, "committed": 0.25}
    categories = {g.key: g.to_dict() for g in report.categories}
    assert categories[wash] == {"key": wash, "label": wash, "needs": 2, "people": 350, "fully_covered": 1,
                                "planned": round(230 / 350, 4), "committed": round(120 / 350, 4)}
    assert categories[meals] == {"key": meals, "label": meals, "needs": 2, "people": 11, "fully_covered": 0,
                                 "planned": round(2.5 / 11, 4), "committed": round(2.5 / 11, 4)}
    gaps = [g.to_dict() for g in report.public_gaps() if g.region in (north.code, south.code)]
    assert gaps == [
        {"region": north.code, "region_name": north.name, "capability": water, "category": wash, "tier": "critical",
         "reason": "short_supply", "needs": 1, "shortfall": 40.0, "people_short": 120.0},
        {"region": south.code, "region_name": south.name, "capability": food, "category": meals,
         "tier": "critical", "reason": None, "needs": 1, "shortfall": 6.0, "people_short": 7.5},
        {"region": north.code, "region_name": north.name, "capability": food, "category": meals, "tier": "critical",
         "reason": "no_supply", "needs": 1, "shortfall": 4.0, "people_short": 1.0},
    ]
    assert not any("needs.notes" in q for q in queries)  # no need loaded as an object


def test_gaps_need_by_need_go_to_staff_and_to_the_owning_recipient_only(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner, other = make_recipient_org(session), make_recipient_org(session)
    region = make_region(session)
    secret = make_site(session, region=region, org=owner, sensitivity=Sensitivity.RESTRICTED)
    mine = [make_need(session, region=region, site=secret, org=owner, people_served=100 - i) for i in range(3)]
    theirs = make_need(session, region=region, org=other, people_served=1000)
    report = coverage(session)
    ours = {need.ref for need in [*mine, theirs]}

    def shown(principal: Principal, limit: int | None = None) -> list[str]:
        return [g.need.ref for g in visible_gaps(session, report, principal, limit=limit) if g.need.ref in ours]

    staff = Principal(user_id=1, email="c@example.org", role=Role.COORDINATOR)
    recipient = Principal(user_id=2, email="r@example.org", role=Role.RECIPIENT, org_id=owner.id,
                          org_code=owner.code)
    donor = Principal(user_id=3, email="d@example.org", role=Role.DONOR, org_id=make_org(session).id)
    monkeypatch.setattr(service, "GAP_CHUNK", 1)  # one gap per query: the limit counts the recipient's own only
    assert shown(staff) == [theirs.ref, *(need.ref for need in mine)]  # most people without cover first
    assert shown(recipient) == [need.ref for need in mine]
    assert shown(recipient, limit=2) == [need.ref for need in mine[:2]]
    assert len(visible_gaps(session, report, recipient, limit=2)) == 2
    assert visible_gaps(session, report, recipient, limit=0) == []
    assert shown(donor) == []
    gap = visible_gaps(session, report, recipient, limit=1)[0]
    assert gap.need.site is not None  # the object, for the page's policy check
    assert gap.need.site.id == secret.id
    assert (gap.shortfall, gap.people_short, gap.reason) == (Decimal(500), 100.0, None)
