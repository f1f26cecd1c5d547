"""Accepting and rejecting plan lines: reservations by conditional UPDATE, all or nothing."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from aidpack.allocation.decisions import (
    LineNotFound,
    LineTransitionRefused,
    NeedCancelled,
    PlanNotFound,
    PlanStale,
    accept_lines,
    get_plan,
    reject_lines,
)
from aidpack.allocation.models import Line, LineStatus
from aidpack.audit.models import Event
from aidpack.audit.service import verify
from aidpack.errors import Conflict, ValidationFailed
from aidpack.needs.models import NeedStatus
from aidpack.pledges.models import Pledge, PledgeStatus
from tests.factories import make_item, make_line, make_need, make_plan, make_plan_need, make_pledge


def _committed(session: Session, pledge: Pledge) -> Decimal:
    """Read from the database, not from the identity map."""
    return session.execute(select(Pledge.committed_units).where(Pledge.id == pledge.id)).scalar_one()


def _status(session: Session, line: Line) -> LineStatus:
    return session.execute(select(Line.status).where(Line.id == line.id)).scalar_one()


def _events(session: Session, action: str) -> list[Event]:
    return list(session.execute(select(Event).where(Event.action == action).order_by(Event.id)).scalars())


def test_accept_all_reserves_pledge_units_and_records_events(session: Session) -> None:
    pledge = make_pledge(session, units=Decimal(10))
    plan = make_plan(session)
    a = make_line(session, plan=plan, pledge=pledge, units=3)
    b = make_line(session, plan=plan, pledge=pledge, units=4)
    other = make_line(session, plan=plan, units=2)
    version = pledge.version

    accepted = accept_lines(session, actor="alice", plan_id=plan.id, line_ids=None)

    assert {x.id for x in accepted} == {a.id, b.id, other.id}
    assert all(_status(session, x) == LineStatus.ACCEPTED for x in (a, b, other))
    assert _committed(session, pledge) == Decimal(7)
    assert pledge.committed_units == Decimal(7)  # ORM object refreshed
    assert pledge.version == version + 1  # ONE update for the pledge's two lines
    assert a.decided_by == "alice"
    assert a.decided_at is not None
    assert {e.entity_ref for e in _events(session, "line.accept")} == {str(a.id), str(b.id), str(other.id)}
    reserve = [e for e in _events(session, "pledge.reserve") if e.entity_ref == pledge.ref]
    assert len(reserve) == 1
    assert reserve[0].before == {"committed_units": "0"}
    assert reserve[0].after is not None
    assert reserve[0].after["committed_units"] == "7"
    assert sorted(reserve[0].after["lines"]) == sorted([a.id, b.id])
    assert verify(session).ok


def test_accept_named_lines_only(session: Session) -> None:
    plan = make_plan(session)
    a = make_line(session, plan=plan, units=2)
    b = make_line(session, plan=plan, units=2)

    accept_lines(session, actor="alice", plan_id=plan.id, line_ids=[a.id])

    assert _status(session, a) == LineStatus.ACCEPTED
    assert _status(session, b) == LineStatus.PROPOSED
    assert _committed(session, b.pledge) == 0


def test_accepting_a_non_proposed_line_is_refused_naming_it(session: Session) -> None:
    plan = make_plan(session)
    fresh = make_line(session, plan=plan, units=1)
    done = make_line(session, plan=plan, units=1, status=LineStatus.REJECTED)

    with pytest.raises(LineTransitionRefused) as info:
        accept_lines(session, actor="alice", plan_id=plan.id, line_ids=[fresh.id, done.id])

    assert f"line {done.id} is rejected" in info.value.detail
    assert info.value.context["lines"] == [{"id": done.id, "status": "rejected"}]
    assert _status(session, fresh) == LineStatus.PROPOSED
    assert _committed(session, fresh.pledge) == 0


def test_lines_of_another_plan_are_not_found(session: Session) -> None:
    plan, other = make_plan(session), make_plan(session)
    line = make_line(session, plan=other)

    with pytest.raises(LineNotFound) as info:
        accept_lines(session, actor="alice", plan_id=plan.id, line_ids=[line.id])

    assert info.value.context["lines"] == [line.id]
    assert info.value.http_status == 404


def test_lines_for_cancelled_needs_are_refused(session: Session) -> None:
    need = make_need(session, status=NeedStatus.CANCELLED)
    line = make_line(session, need=need)

    with pytest.raises(NeedCancelled):
        accept_lines(session, actor="alice", plan_id=line.plan_id, line_ids=None)
    assert _status(session, line) == LineStatus.PROPOSED


def test_stale_plan_over_using_a_pledge_conflicts_and_changes_nothing(session: Session) -> None:
    pledge = make_pledge(session, units=Decimal(10))
    spare = make_pledge(session, units=Decimal(5))
    first, stale = make_plan(session), make_plan(session)
    make_line(session, plan=first, pledge=pledge, units=8)
    over = make_line(session, plan=stale, pledge=pledge, units=8)
    fine = make_line(session, plan=stale, pledge=spare, units=2)
    accept_lines(session, actor="alice", plan_id=first.id, line_ids=None)
    events_before = verify(session).events

    with pytest.raises(PlanStale) as info:
        accept_lines(session, actor="bob", plan_id=stale.id, line_ids=None)

    error = info.value
    assert isinstance(error, Conflict)
    assert error.exit_code == 2
    assert error.http_status == 409
    assert error.code == "PLAN_STALE"
    assert error.context["lines"] == [over.id]
    [conflict] = error.context["pledges"]
    assert conflict["pledge"] == pledge.ref
    assert conflict["available"] == "2"
    assert conflict["requested"] == "8"
    assert pledge.ref in error.detail
    # All or nothing: the line that did fit is not accepted either, no units moved, no event written.
    assert _status(session, over) == LineStatus.PROPOSED
    assert _status(session, fine) == LineStatus.PROPOSED
    assert fine.status == LineStatus.PROPOSED
    assert _committed(session, pledge) == Decimal(8)
    assert _committed(session, spare) == 0
    assert verify(session).events == events_before


def test_withdrawn_pledge_conflicts(session: Session) -> None:
    pledge = make_pledge(session, status=PledgeStatus.WITHDRAWN)
    line = make_line(session, pledge=pledge, units=1)

    with pytest.raises(PlanStale) as info:
        accept_lines(session, actor="alice", plan_id=line.plan_id, line_ids=None)

    assert "withdrawn" in info.value.detail
    assert _committed(session, pledge) == 0


def test_stale_plan_duplicating_a_need_now_covered_conflicts(session: Session) -> None:
    need = make_need(session, quantity=Decimal(500))
    first, stale = make_plan(session), make_plan(session)
    for plan in (first, stale):
        make_plan_need(session, plan=plan, need=need)
    make_line(session, plan=first, need=need, units=5)
    dup = make_line(session, plan=stale, need=need, units=5)
    accept_lines(session, actor="alice", plan_id=first.id, line_ids=None)

    with pytest.raises(PlanStale) as info:
        accept_lines(session, actor="bob", plan_id=stale.id, line_ids=None)

    assert info.value.context["needs"][0]["need"] == need.ref
    assert info.value.context["lines"] == [dup.id]
    assert _committed(session, dup.pledge) == 0


def test_fresh_plan_that_saw_the_fixed_lines_is_accepted(session: Session) -> None:
    need = make_need(session, quantity=Decimal(500))
    make_line(session, need=need, units=3, status=LineStatus.ACCEPTED)  # 300 fixed before the plan
    plan = make_plan(session)
    make_plan_need(session, plan=plan, need=need, open_quantity=Decimal(200), covered_fixed=Decimal(300))
    line = make_line(session, plan=plan, need=need, units=2)

    accept_lines(session, actor="alice", plan_id=plan.id, line_ids=None)

    assert _status(session, line) == LineStatus.ACCEPTED


def test_partial_shortfall_on_the_last_unit_is_not_a_duplicate(session: Session) -> None:
    # 250 kW asked, 100 kW generators: 3 units overshoot by 50 kW, which is less than one unit.
    need = make_need(session, quantity=Decimal(250))
    first, second = make_plan(session), make_plan(session)
    make_plan_need(session, plan=second, need=need)
    make_line(session, plan=first, need=need, units=1)
    accept_lines(session, actor="alice", plan_id=first.id, line_ids=None)
    later = make_line(session, plan=second, need=need, units=2)

    accept_lines(session, actor="alice", plan_id=second.id, line_ids=None)

    assert _status(session, later) == LineStatus.ACCEPTED


def test_reject_lines(session: Session) -> None:
    plan = make_plan(session)
    line = make_line(session, plan=plan, units=2)

    rejected = reject_lines(session, actor="alice", plan_id=plan.id, line_ids=[line.id])

    assert [x.id for x in rejected] == [line.id]
    assert _status(session, line) == LineStatus.REJECTED
    assert _committed(session, line.pledge) == 0
    assert [e.entity_ref for e in _events(session, "line.reject")][-1] == str(line.id)
    with pytest.raises(LineTransitionRefused):
        accept_lines(session, actor="alice", plan_id=plan.id, line_ids=[line.id])
    assert accept_lines(session, actor="alice", plan_id=plan.id, line_ids=None) == []


def test_get_plan_by_id_latest_or_refusal(session: Session) -> None:
    make_plan(session)
    newest = make_plan(session)
    assert get_plan(session, plan_ref="latest").id == newest.id
    assert get_plan(session, plan_ref=str(newest.id)).id == newest.id
    with pytest.raises(ValidationFailed):
        get_plan(session, plan_ref="yesterday")
    with pytest.raises(PlanNotFound):
        get_plan(session, plan_ref=newest.id + 1000)


def test_divisible_pledge_accepts_fractional_units(session: Session) -> None:
    item = make_item(session, provides="DIESEL-L", factor=Decimal(1), indivisible=False)
    pledge = make_pledge(session, item=item, units=Decimal("1000.5"))
    plan = make_plan(session)
    make_line(session, plan=plan, pledge=pledge, units=Decimal("600.25"))
    make_line(session, plan=plan, pledge=pledge, units=Decimal("400.25"))

    accept_lines(session, actor="alice", plan_id=plan.id, line_ids=None)

    assert _committed(session, pledge) == Decimal("1000.5")


def test_deciding_a_national_plan_takes_a_few_statements_whatever_its_lines(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Accepting every line of a national plan (20,000 lines, 8,000 pledges) took six minutes: a refresh, an
    audit event and a pledge UPDATE at a time, and each pledge's lines found by scanning all of them. Now the
    statements come in chunks of ids, not one per line or pledge; the events are the same (one per line, one per
    pledge, chained)."""
    from sqlalchemy import event

    from aidpack.allocation import decisions

    monkeypatch.setattr(decisions, "CHUNK", 4)  # several chunks of ids even in a small plan
    plan = make_plan(session)
    pledges = [make_pledge(session, units=Decimal(10)) for _ in range(6)]
    lines = [make_line(session, plan=plan, pledge=pledges[i % 6], units=1) for i in range(18)]
    session.flush()
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    connection = session.connection()
    event.listen(connection, "before_cursor_execute", count)
    try:
        accepted = accept_lines(session, actor="alice", plan_id=plan.id, line_ids=None)
    finally:
        event.remove(connection, "before_cursor_execute", count)

    assert [x.id for x in accepted] == sorted(x.id for x in lines)
    assert all(_status(session, x) == LineStatus.ACCEPTED for x in lines)
    assert all(x.status is LineStatus.ACCEPTED and x.version == 2 and x.decided_by == "alice" for x in accepted)
    assert [_committed(session, p) for p in pledges] == [Decimal(3)] * 6
    assert [p.committed_units for p in pledges] == [Decimal(3)] * 6  # the objects read again
    # The plan's lines, the updates of 18 lines (5 chunks), needs locked and read (chunks of the 18 needs), the
    # pledges locked (2 chunks) and updated in one batch, lines and pledges read again, the audit head and events:
    # far fewer than the 18 + 6 of each kind one at a time would take.
    assert len([s for s in statements if s.lstrip().upper().startswith("UPDATE PLEDGES")]) == 1
    assert len([s for s in statements if s.lstrip().upper().startswith("UPDATE LINES")]) == 5
    assert len(statements) < 50, statements
    assert len(_events(session, "line.accept")) == 18
    reserve = _events(session, "pledge.reserve")
    assert [e.after["lines"] for e in reserve if e.after] == [
        [x.id for x in lines if x.pledge_id == p.id] for p in sorted(pledges, key=lambda p: p.id)
    ]
    assert verify(session).ok

    rejected_plan = make_plan(session)
    more = [make_line(session, plan=rejected_plan, pledge=pledges[i % 6], units=1) for i in range(9)]
    rejected = reject_lines(session, actor="bob", plan_id=rejected_plan.id, line_ids=None)
    assert [x.id for x in rejected] == [x.id for x in more]
    assert all(x.status is LineStatus.REJECTED and x.decided_by == "bob" for x in rejected)
    assert len(_events(session, "line.reject")) == 9
    assert verify(session).ok
