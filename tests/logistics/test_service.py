"""Shipments and receipts: accept → ship → (deliver) → receive, discrepancies, who may do what."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from aidpack.allocation.decisions import LineTransitionRefused, accept_lines
from aidpack.allocation.models import FIXED_LINE_STATUSES, Line, LineStatus
from aidpack.audit.models import Event
from aidpack.audit.service import verify
from aidpack.errors import Forbidden
from aidpack.logistics.models import Condition, Discrepancy, DiscrepancyReason, ShipmentStatus
from aidpack.logistics.service import (
    BadReceipt,
    MixedDonors,
    NotYourLines,
    NotYourShipment,
    ShipmentStatusRefused,
    discrepancies_of,
    mark_delivered,
    receive_shipment,
    ship_lines,
)
from aidpack.logistics.status import need_status
from aidpack.needs.models import Need
from aidpack.orgs.models import Organisation
from aidpack.pledges.models import Pledge
from tests.factories import (
    make_item,
    make_line,
    make_need,
    make_org,
    make_plan,
    make_pledge,
    make_recipient_org,
    make_site,
)


def open_quantity(session: Session, need: Need) -> Decimal:
    """quantity − Σ delivered amount of the need's fixed lines, straight from the rows."""
    session.expire_all()
    lines = session.execute(
        select(Line).where(Line.need_id == need.id, Line.status.in_(list(FIXED_LINE_STATUSES)))
    ).scalars()
    return need.quantity - sum((line.delivered_amount for line in lines), Decimal(0))


def _accepted_lines(
    session: Session, need: Need, *units: int, donor: Organisation | None = None
) -> tuple[list[Line], Pledge]:
    pledge = make_pledge(session, donor=donor or make_org(session), units=Decimal(20))
    plan = make_plan(session)
    lines = [make_line(session, plan=plan, pledge=pledge, need=need, units=u) for u in units]
    accept_lines(session, actor="coordinator", plan_id=plan.id, line_ids=None)
    return lines, pledge


def test_accept_ship_short_receipt_reopens_exactly_the_shortfall(session: Session) -> None:
    recipient = make_recipient_org(session)
    need = make_need(session, quantity=Decimal(1000), org=recipient)
    (big, small), pledge = _accepted_lines(session, need, 6, 2)
    assert open_quantity(session, need) == Decimal(200)

    shipment = ship_lines(session, actor="donor", line_ids=[big.id, small.id], donor_org_id=pledge.donor_id)
    assert shipment.status == ShipmentStatus.DISPATCHED
    assert {big.status, small.status} == {LineStatus.DISPATCHED}
    assert big.shipment_id == shipment.id
    assert open_quantity(session, need) == Decimal(200)  # in transit still counts

    received = receive_shipment(
        session,
        actor="recipient",
        shipment_id=shipment.id,
        received={big.id: Decimal(4)},  # 2 generators short; `small` not named: received in full
        condition=Condition.GOOD,
        recipient_org_id=recipient.id,
    )

    assert received.status == ShipmentStatus.RECEIVED
    assert received.received_by == "recipient"
    assert {big.status, small.status} == {LineStatus.RECEIVED}
    assert big.received_units == Decimal(4)
    assert small.received_units == Decimal(2)
    [discrepancy] = discrepancies_of(session, shipment_id=shipment.id)
    assert (discrepancy.line_id, discrepancy.units, discrepancy.reason) == (big.id, Decimal(2), "short")
    # The need's open quantity grows back by exactly the 2 × 100 kW that did not arrive.
    assert open_quantity(session, need) == Decimal(200) + Decimal(200)
    progress = need_status(session, need)
    assert progress.open_quantity == Decimal(400)
    assert progress.fulfilled == Decimal(600)
    # The pledge keeps its commitment: those units left the donor.
    assert session.get(Pledge, pledge.id) is not None
    assert session.execute(select(Pledge.committed_units).where(Pledge.id == pledge.id)).scalar_one() == 8
    actions = [e.action for e in session.execute(select(Event).order_by(Event.id)).scalars()]
    for action in (
        "shipment.dispatch",
        "line.dispatch",
        "shipment.receive",
        "line.receive",
        "discrepancy.create",
    ):
        assert action in actions
    assert verify(session).ok


def test_full_receipt_leaves_no_discrepancy_and_completes_the_need(session: Session) -> None:
    need = make_need(session, quantity=Decimal(300))
    (line,), _ = _accepted_lines(session, need, 3)
    shipment = ship_lines(session, actor="c", line_ids=[line.id], donor_org_id=None)
    mark_delivered(session, actor="c", shipment_id=shipment.id)
    assert line.status == LineStatus.DELIVERED
    assert shipment.status == ShipmentStatus.DELIVERED
    assert shipment.delivered_at is not None

    receive_shipment(
        session,
        actor="c",
        shipment_id=shipment.id,
        received=None,
        condition=Condition.GOOD,
        recipient_org_id=None,
    )

    assert discrepancies_of(session, shipment_id=shipment.id) == []
    assert open_quantity(session, need) == 0
    assert need_status(session, need).fulfil_status == "complete"


def test_damaged_units_named_are_the_usable_ones(session: Session) -> None:
    need = make_need(session, quantity=Decimal(1000))
    (line, other), _ = _accepted_lines(session, need, 5, 1)
    shipment = ship_lines(session, actor="c", line_ids=[line.id, other.id], donor_org_id=None)

    receive_shipment(
        session,
        actor="c",
        shipment_id=shipment.id,
        received={line.id: Decimal(3)},
        condition=Condition.DAMAGED,
        recipient_org_id=None,
    )

    [discrepancy] = discrepancies_of(session, shipment_id=shipment.id)
    assert (discrepancy.line_id, discrepancy.units, discrepancy.reason) == (
        line.id,
        Decimal(2),
        DiscrepancyReason.DAMAGED.value,
    )
    assert line.condition == "damaged"
    assert other.received_units == Decimal(1)  # not named: arrived in full, usable
    assert shipment.condition == Condition.DAMAGED
    assert open_quantity(session, need) == Decimal(1000) - Decimal(400)


def test_nothing_received_at_all(session: Session) -> None:
    need = make_need(session, quantity=Decimal(500))
    (line,), _ = _accepted_lines(session, need, 5)
    shipment = ship_lines(session, actor="c", line_ids=[line.id], donor_org_id=None)

    receive_shipment(
        session,
        actor="c",
        shipment_id=shipment.id,
        received={line.id: Decimal(0)},
        condition=Condition.GOOD,
        recipient_org_id=None,
    )

    assert line.received_units == 0
    assert open_quantity(session, need) == Decimal(500)
    assert need_status(session, need).fulfil_status == "none"


def test_the_bound_of_received_units_is_written_out(session: Session) -> None:
    # A line of 10 units said "between 0 and 1E+1".
    need = make_need(session)
    (line,), _ = _accepted_lines(session, need, 10)
    shipment = ship_lines(session, actor="c", line_ids=[line.id], donor_org_id=None)
    with pytest.raises(BadReceipt) as info:
        receive_shipment(session, actor="c", shipment_id=shipment.id, received={line.id: Decimal(11)},
                         condition=Condition.GOOD, recipient_org_id=None)
    assert "between 0 and 10" in info.value.detail


@pytest.mark.parametrize(
    ("units", "fragment"),
    [(Decimal(6), "between 0 and 5"), (Decimal(-1), "between 0 and 5"), (Decimal("2.5"), "whole units")],
)
def test_bad_received_units_are_refused(session: Session, units: Decimal, fragment: str) -> None:
    need = make_need(session)
    (line,), _ = _accepted_lines(session, need, 5)
    shipment = ship_lines(session, actor="c", line_ids=[line.id], donor_org_id=None)

    with pytest.raises(BadReceipt) as info:
        receive_shipment(
            session,
            actor="c",
            shipment_id=shipment.id,
            received={line.id: units},
            condition=Condition.GOOD,
            recipient_org_id=None,
        )

    assert fragment in info.value.detail
    assert (
        session.execute(select(Line.status).where(Line.id == line.id)).scalar_one() == LineStatus.DISPATCHED
    )


def test_receipt_naming_a_line_not_in_the_shipment_is_refused(session: Session) -> None:
    need = make_need(session)
    (line, stray), _ = _accepted_lines(session, need, 1, 1)
    shipment = ship_lines(session, actor="c", line_ids=[line.id], donor_org_id=None)

    with pytest.raises(BadReceipt) as info:
        receive_shipment(
            session,
            actor="c",
            shipment_id=shipment.id,
            received={stray.id: Decimal(1)},
            condition=Condition.GOOD,
            recipient_org_id=None,
        )
    assert info.value.context["lines"] == [stray.id]


def test_a_shipment_is_received_once(session: Session) -> None:
    need = make_need(session)
    (line,), _ = _accepted_lines(session, need, 1)
    shipment = ship_lines(session, actor="c", line_ids=[line.id], donor_org_id=None)
    receive_shipment(
        session,
        actor="c",
        shipment_id=shipment.id,
        received=None,
        condition=Condition.GOOD,
        recipient_org_id=None,
    )

    with pytest.raises(ShipmentStatusRefused):
        receive_shipment(
            session,
            actor="c",
            shipment_id=shipment.id,
            received=None,
            condition=Condition.GOOD,
            recipient_org_id=None,
        )
    with pytest.raises(ShipmentStatusRefused):
        mark_delivered(session, actor="c", shipment_id=shipment.id)


def test_only_accepted_lines_ship(session: Session) -> None:
    proposed = make_line(session, units=1)
    with pytest.raises(LineTransitionRefused) as info:
        ship_lines(session, actor="c", line_ids=[proposed.id], donor_org_id=None)
    assert f"line {proposed.id} is proposed" in info.value.detail


def test_a_line_ships_once(session: Session) -> None:
    need = make_need(session)
    (line,), _ = _accepted_lines(session, need, 1)
    ship_lines(session, actor="c", line_ids=[line.id], donor_org_id=None)
    with pytest.raises(LineTransitionRefused):
        ship_lines(session, actor="c", line_ids=[line.id], donor_org_id=None)


def test_one_shipment_carries_one_donors_lines(session: Session) -> None:
    need = make_need(session, quantity=Decimal(5000))
    (a,), _ = _accepted_lines(session, need, 1)
    (b,), _ = _accepted_lines(session, need, 1)
    with pytest.raises(MixedDonors):
        ship_lines(session, actor="c", line_ids=[a.id, b.id], donor_org_id=None)


def test_donor_cannot_ship_another_donors_lines(session: Session) -> None:
    mine, theirs = make_org(session), make_org(session)
    need = make_need(session, quantity=Decimal(5000))
    (own,), _ = _accepted_lines(session, need, 1, donor=mine)
    (foreign,), _ = _accepted_lines(session, need, 1, donor=theirs)

    with pytest.raises(Forbidden) as info:
        ship_lines(session, actor="donor", line_ids=[foreign.id], donor_org_id=mine.id)

    assert isinstance(info.value, NotYourLines)
    assert info.value.http_status == 403
    assert info.value.context["lines"] == [foreign.id]
    assert (
        session.execute(select(Line.status).where(Line.id == foreign.id)).scalar_one() == LineStatus.ACCEPTED
    )
    shipment = ship_lines(session, actor="donor", line_ids=[own.id], donor_org_id=mine.id)
    assert shipment.donor_id == mine.id


def test_recipient_cannot_receive_another_orgs_shipment(session: Session) -> None:
    owner, stranger = make_recipient_org(session), make_recipient_org(session)
    site = make_site(session, org=owner)
    need = make_need(session, site=site)  # owned through its site
    (line,), _ = _accepted_lines(session, need, 2)
    shipment = ship_lines(session, actor="c", line_ids=[line.id], donor_org_id=None)

    with pytest.raises(NotYourShipment):
        receive_shipment(
            session,
            actor="stranger",
            shipment_id=shipment.id,
            received=None,
            condition=Condition.GOOD,
            recipient_org_id=stranger.id,
        )
    assert (
        session.execute(select(Line.status).where(Line.id == line.id)).scalar_one() == LineStatus.DISPATCHED
    )
    assert session.execute(select(Discrepancy).where(Discrepancy.line_id == line.id)).first() is None

    receive_shipment(
        session,
        actor="owner",
        shipment_id=shipment.id,
        received=None,
        condition=Condition.GOOD,
        recipient_org_id=owner.id,
    )
    assert line.status == LineStatus.RECEIVED


def test_divisible_short_receipt(session: Session) -> None:
    item = make_item(session, provides="DIESEL-L", factor=Decimal(1), indivisible=False)
    need = make_need(session, capability="DIESEL-L", quantity=Decimal("10000"))
    pledge = make_pledge(session, item=item, units=Decimal(8000))
    plan = make_plan(session)
    line = make_line(session, plan=plan, pledge=pledge, need=need, units=Decimal("7500.5"))
    accept_lines(session, actor="c", plan_id=plan.id, line_ids=None)
    shipment = ship_lines(session, actor="c", line_ids=[line.id], donor_org_id=None)
    before = open_quantity(session, need)

    receive_shipment(
        session,
        actor="c",
        shipment_id=shipment.id,
        received={line.id: Decimal("7000.25")},
        condition=Condition.GOOD,
        recipient_org_id=None,
    )

    assert open_quantity(session, need) - before == Decimal("500.25")
    [discrepancy] = discrepancies_of(session, shipment_id=shipment.id)
    assert discrepancy.units == Decimal("500.25")
