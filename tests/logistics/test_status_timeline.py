"""Per-need commit / transit / fulfil status, and the need and pledge timelines."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy.orm import Session

from aidpack.allocation.decisions import accept_lines
from aidpack.allocation.models import LineStatus
from aidpack.audit.service import record
from aidpack.logistics.models import Condition
from aidpack.logistics.service import receive_shipment, ship_lines
from aidpack.logistics.status import ProgressStatus, need_status, progress_for_needs
from aidpack.logistics.timeline import NeedNotFound, PledgeNotFound, need_timeline, pledge_timeline
from tests.factories import make_line, make_need, make_plan, make_pledge

NONE, PARTIAL, COMPLETE = ProgressStatus.NONE, ProgressStatus.PARTIAL, ProgressStatus.COMPLETE


def _statuses(session: Session, need_id: int) -> tuple[ProgressStatus, ProgressStatus, ProgressStatus]:
    p = progress_for_needs(session, [need_id])[need_id]
    return p.commit_status, p.transit_status, p.fulfil_status


def test_commit_transit_fulfil_progress(session: Session) -> None:
    need = make_need(session, quantity=Decimal(500))
    pledge = make_pledge(session, units=Decimal(10))
    plan = make_plan(session)
    first = make_line(session, plan=plan, pledge=pledge, need=need, units=3)
    second = make_line(session, plan=plan, pledge=pledge, need=need, units=2)
    assert _statuses(session, need.id) == (NONE, NONE, NONE)  # proposed lines commit nothing

    accept_lines(session, actor="c", plan_id=plan.id, line_ids=[first.id])
    assert _statuses(session, need.id) == (PARTIAL, NONE, NONE)
    accept_lines(session, actor="c", plan_id=plan.id, line_ids=[second.id])
    assert _statuses(session, need.id) == (COMPLETE, NONE, NONE)

    shipment = ship_lines(session, actor="c", line_ids=[first.id], donor_org_id=None)
    assert _statuses(session, need.id) == (COMPLETE, PARTIAL, NONE)
    receive_shipment(
        session,
        actor="c",
        shipment_id=shipment.id,
        received=None,
        condition=Condition.GOOD,
        recipient_org_id=None,
    )
    assert _statuses(session, need.id) == (COMPLETE, PARTIAL, PARTIAL)

    second_shipment = ship_lines(session, actor="c", line_ids=[second.id], donor_org_id=None)
    receive_shipment(
        session,
        actor="c",
        shipment_id=second_shipment.id,
        received={second.id: Decimal(1)},
        condition=Condition.GOOD,
        recipient_org_id=None,
    )
    progress = need_status(session, need)
    assert (progress.committed, progress.in_transit, progress.fulfilled) == (Decimal(400),) * 3
    assert progress.open_quantity == Decimal(100)
    assert (progress.commit_status, progress.fulfil_status) == (PARTIAL, PARTIAL)


def test_progress_for_many_needs(session: Session) -> None:
    needs = [make_need(session, quantity=Decimal(200)) for _ in range(4)]
    make_line(session, need=needs[0], units=1, status=LineStatus.ACCEPTED)
    make_line(session, need=needs[1], units=2, status=LineStatus.DISPATCHED)
    make_line(session, need=needs[2], units=3, status=LineStatus.RECEIVED)
    make_line(session, need=needs[3], units=1, status=LineStatus.REJECTED)

    progress = progress_for_needs(session, [n.id for n in needs])

    assert [progress[n.id].committed for n in needs] == [100, 200, 300, 0]
    assert [progress[n.id].in_transit for n in needs] == [0, 200, 300, 0]
    assert [progress[n.id].fulfilled for n in needs] == [0, 0, 300, 0]
    assert [progress[n.id].commit_status for n in needs] == [PARTIAL, COMPLETE, COMPLETE, NONE]
    assert progress[needs[2].id].to_dict()["open"] == 0.0
    assert progress_for_needs(session, []) == {}


def test_need_and_pledge_timelines_run_from_import_to_receipt(session: Session) -> None:
    need = make_need(session, quantity=Decimal(500))
    pledge = make_pledge(session, units=Decimal(10))
    record(
        session,
        actor="import",
        action="import.create",
        entity="pledge",
        entity_ref=pledge.ref,
        after={"u": 10},
    )
    record(
        session, actor="import", action="import.create", entity="need", entity_ref=need.ref, after={"q": 500}
    )
    plan = make_plan(session)
    line = make_line(session, plan=plan, pledge=pledge, need=need, units=4)
    unrelated = make_line(session, units=1)
    accept_lines(session, actor="coord", plan_id=plan.id, line_ids=None)
    shipment = ship_lines(session, actor="donor", line_ids=[line.id], donor_org_id=None)
    receive_shipment(
        session,
        actor="recipient",
        shipment_id=shipment.id,
        received={line.id: Decimal(3)},
        condition=Condition.GOOD,
        recipient_org_id=None,
    )

    entries = need_timeline(session, need.ref)

    actions = [e.action for e in entries]
    assert actions[0] == "import.create"
    expected = ["line.accept", "shipment.dispatch", "line.dispatch", "shipment.receive", "line.receive"]
    expected += ["discrepancy.create"]
    assert [a for a in actions if a in expected] == expected
    assert "line.propose" in actions
    assert [e.at for e in entries] == sorted(e.at for e in entries)
    assert all(e.entity_ref != str(unrelated.id) for e in entries)
    assert any("1 units" in e.summary and e.action == "discrepancy.create" for e in entries)
    assert any(e.action == "line.receive" and "3 received" in e.summary for e in entries)

    pledge_entries = pledge_timeline(session, pledge.ref)
    pledge_actions = [e.action for e in pledge_entries]
    assert pledge_actions[0] == "import.create"
    assert "pledge.reserve" in pledge_actions
    assert pledge_actions[-1] == "discrepancy.create"
    assert need_timeline(session, str(need.id)) == entries  # by id as well as by ref


def test_timelines_of_unknown_refs(session: Session) -> None:
    with pytest.raises(NeedNotFound):
        need_timeline(session, "NO-SUCH-NEED")
    with pytest.raises(PledgeNotFound):
        pledge_timeline(session, "NO-SUCH-PLEDGE")


def test_a_timeline_tells_imports_and_updates_in_words(session: Session) -> None:
    """An import or an edit read 'need N-1: import.create' (the action's code, which the page printed again
    beside it); now 'need N-1 created by import' and 'need N-1 updated: quantity 500 → 650'."""
    need = make_need(session, quantity=Decimal(500))
    record(session, actor="import", action="import.create", entity="need", entity_ref=need.ref,
           after={"quantity": "500", "priority": "high"})
    record(session, actor="user:r@example.org", action="need.update", entity="need", entity_ref=need.ref,
           before={"quantity": "500", "priority": "high", "notes": "a"},
           after={"quantity": "650", "priority": "high", "notes": "b"})
    summaries = [e.summary for e in need_timeline(session, need.ref)]
    assert f"need {need.ref} created by import" in summaries
    assert f"need {need.ref} updated: quantity 500 → 650" in summaries
    assert not any("import.create" in text or "need.update" in text for text in summaries)
