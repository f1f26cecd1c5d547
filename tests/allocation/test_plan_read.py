"""A plan as the API and the plan page give it to a caller who is not staff (SQLite and PostgreSQL): only the
needs the caller may list, without another organisation's detail, and no need read as an object."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy.orm import Session

from aidpack.allocation.api import plan_read
from aidpack.allocation.models import LineStatus, ShortReason
from aidpack.auth.models import Role
from aidpack.auth.policy import Principal
from aidpack.needs.service import list_need_refs, list_needs
from tests.factories import (
    make_item,
    make_line,
    make_need,
    make_org,
    make_plan,
    make_plan_need,
    make_pledge,
    make_recipient_org,
    statements,
)


def test_a_donor_and_a_recipient_see_the_needs_they_may_list_and_no_one_elses_detail(session: Session) -> None:
    donor, rival, owner = make_org(session), make_org(session), make_recipient_org(session)
    item = make_item(session)
    ours, theirs = make_pledge(session, donor=donor, item=item), make_pledge(session, donor=rival, item=item)
    plan = make_plan(session)
    fed = make_need(session, org=owner)  # our proposed line: short, too late for the rest
    refused = make_need(session)  # our line to it was rejected: not ours to see
    other = make_need(session, org=owner)  # the rival's line only: short, outcompeted by ours
    make_line(session, plan=plan, pledge=ours, need=fed, units=2)
    make_line(session, plan=plan, pledge=ours, need=refused, units=1, status=LineStatus.REJECTED)
    make_line(session, plan=plan, pledge=theirs, need=other, units=1)
    make_plan_need(session, plan=plan, need=fed, reason=ShortReason.TOO_LATE,
                   detail={"earliest_eta": "2022-06-01", "taken_by": ["X"]})
    make_plan_need(session, plan=plan, need=refused)
    make_plan_need(session, plan=plan, need=other, reason=ShortReason.OUTCOMPETED, detail={"taken_by": [fed.ref]})
    as_donor = Principal(user_id=1, email="d@example.org", role=Role.DONOR, org_id=donor.id, org_code=donor.code)
    as_owner = Principal(user_id=2, email="r@example.org", role=Role.RECIPIENT, org_id=owner.id,
                         org_code=owner.code)
    staff = Principal(user_id=3, email="c@example.org", role=Role.COORDINATOR)

    with statements(session) as queries:
        shown = plan_read(session, as_donor, plan)

    assert [(n.ref, n.quantity, n.covered, n.reason, n.detail) for n in shown.needs] == [
        (fed.ref, 500.0, 200.0, "too_late", {"earliest_eta": "2022-06-01"}),  # never who took the units
    ]
    assert {line.need for line in shown.lines} == {fed.ref, refused.ref}  # its own lines, the rejected one too
    assert not any("needs.notes" in q for q in queries)  # no need loaded as an object
    for principal in (as_donor, as_owner, staff):
        listed = {need.ref for need in list_needs(session, principal=principal, limit=1000)[0]}
        assert list_need_refs(session, principal=principal) == listed  # the same scope as the list of needs
    owners = plan_read(session, as_owner, plan)
    assert [(n.ref, n.detail) for n in owners.needs] == sorted(
        [(fed.ref, {"earliest_eta": "2022-06-01"}), (other.ref, None)]
    )
    assert {n.ref for n in plan_read(session, staff, plan).needs} == {fed.ref, refused.ref, other.ref}
    assert shown.needs[0].covered == float(Decimal(2) * item.factor)
