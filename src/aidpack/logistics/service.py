"""Shipments: dispatch accepted lines, mark them delivered, confirm their receipt.

Statuses move by conditional UPDATEs (``WHERE status IN (...)``), never check-then-act: when two people
ship, deliver or receive the same thing at once, exactly one succeeds and the other gets a Conflict.

Receipt rule. ``received`` maps line ids to the units that arrived **usable**; lines not named arrived in
full. For each line the units that did not arrive usable (``units - received``) become one discrepancy:
reason ``damaged`` when the shipment's condition is ``damaged``, ``short`` otherwise. So
``--condition damaged`` with ``--line 7 --units 2`` reads "line 7 arrived damaged, 2 of its units are
usable"; a damaged shipment with no line named was received in full (the damage is noted, nothing is
lost). The line keeps its amount; what it brings to its need becomes the received part
(:attr:`Line.delivered_amount`), so the need's open quantity grows back by exactly what was not received
and the next plan covers it again. The pledge's committed units do not change: those units left the donor.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from aidpack.allocation.decisions import LinesChanged, check_transition, rowcount
from aidpack.allocation.models import Line, LineStatus
from aidpack.audit.service import record, snapshot
from aidpack.db import to_quantity, utcnow
from aidpack.errors import Conflict, Forbidden, NotFound, RuleViolation, ValidationFailed
from aidpack.logistics.models import Condition, Discrepancy, DiscrepancyReason, Shipment, ShipmentStatus


class ShipmentNotFound(NotFound):
    code = "SHIPMENT_NOT_FOUND"


class LinesNotFound(NotFound):
    code = "LINE_NOT_FOUND"


class MixedDonors(RuleViolation):
    code = "MIXED_DONORS"


class ShipmentStatusRefused(RuleViolation):
    code = "SHIPMENT_STATUS"


class ShipmentChanged(Conflict):
    code = "SHIPMENT_CONFLICT"


class NotYourLines(Forbidden):
    code = "NOT_YOUR_LINES"


class NotYourShipment(Forbidden):
    code = "NOT_YOUR_SHIPMENT"


class BadReceipt(ValidationFailed):
    code = "BAD_RECEIPT"


def get_shipment(session: Session, *, shipment_id: int) -> Shipment:
    shipment = session.get(Shipment, shipment_id)
    if shipment is None:
        raise ShipmentNotFound(f"shipment {shipment_id} does not exist", context={"shipment": shipment_id})
    return shipment


def shipment_lines(session: Session, *, shipment_id: int) -> list[Line]:
    return list(
        session.execute(select(Line).where(Line.shipment_id == shipment_id).order_by(Line.id)).scalars()
    )


def _lines(session: Session, line_ids: Sequence[int]) -> list[Line]:
    wanted = sorted(set(line_ids))
    if not wanted:
        raise ValidationFailed("name at least one line to ship")
    lines = list(session.execute(select(Line).where(Line.id.in_(wanted)).order_by(Line.id)).scalars())
    missing = sorted(set(wanted) - {line.id for line in lines})
    if missing:
        raise LinesNotFound(f"no line {', '.join(map(str, missing))}", context={"lines": missing})
    return lines


def ship_lines(
    session: Session, *, actor: str, line_ids: Sequence[int], donor_org_id: int | None
) -> Shipment:
    """Dispatch accepted lines of one donor as one shipment.

    ``donor_org_id`` set means the caller acts for that donor: every line's pledge must be its own.
    """
    lines = _lines(session, line_ids)
    if donor_org_id is not None:
        foreign = [line.id for line in lines if line.pledge.donor_id != donor_org_id]
        if foreign:
            raise NotYourLines(
                f"lines {', '.join(map(str, foreign))} belong to another donor's pledges",
                context={"lines": foreign},
            )
    check_transition(lines, LineStatus.DISPATCHED)
    donors = sorted({line.pledge.donor.code for line in lines})
    if len(donors) > 1:
        raise MixedDonors(
            f"one shipment carries one donor's lines; these lines come from {', '.join(donors)}",
            context={"donors": donors, "lines": [line.id for line in lines]},
        )
    before = {line.id: snapshot(line) for line in lines}
    shipment = Shipment(
        donor_id=lines[0].pledge.donor_id,
        status=ShipmentStatus.DISPATCHED,
        dispatched_at=utcnow(),
        dispatched_by=actor,
    )
    session.add(shipment)
    session.flush()
    ids = [line.id for line in lines]
    moved = rowcount(
        session.execute(
            update(Line)
            .where(Line.id.in_(ids), Line.status == LineStatus.ACCEPTED, Line.shipment_id.is_(None))
            .values(status=LineStatus.DISPATCHED, shipment_id=shipment.id, version=Line.version + 1)
            .execution_options(synchronize_session=False)
        )
    )
    if moved != len(ids):
        raise LinesChanged(
            "some of these lines were shipped or changed by someone else at the same time",
            context={"lines": ids},
        )
    record(
        session,
        actor=actor,
        action="shipment.dispatch",
        entity="shipment",
        entity_ref=str(shipment.id),
        before=None,
        after={**snapshot(shipment), "lines": ids},
    )
    for line in lines:
        session.refresh(line)
        record(
            session,
            actor=actor,
            action="line.dispatch",
            entity="line",
            entity_ref=str(line.id),
            before=before[line.id],
            after=snapshot(line),
        )
    return shipment


def _move_shipment(
    session: Session, shipment: Shipment, *, sources: Sequence[ShipmentStatus], values: Mapping[str, object]
) -> None:
    """Conditional UPDATE of the shipment row; it is locked first, so shipment changes are serialised."""
    done = rowcount(
        session.execute(
            update(Shipment)
            .where(Shipment.id == shipment.id, Shipment.status.in_(list(sources)))
            .values(**values, version=Shipment.version + 1)
            .execution_options(synchronize_session=False)
        )
    )
    if done != 1:
        current = session.execute(select(Shipment.status).where(Shipment.id == shipment.id)).scalar_one()
        raise ShipmentChanged(
            f"shipment {shipment.id} is already {current.value} (someone else changed it first)",
            context={"shipment": shipment.id, "status": current.value},
        )
    session.refresh(shipment)


def _require_status(shipment: Shipment, allowed: Sequence[ShipmentStatus], doing: str) -> None:
    if shipment.status not in allowed:
        raise ShipmentStatusRefused(
            f"cannot {doing} shipment {shipment.id}: it is {shipment.status.value}",
            context={"shipment": shipment.id, "status": shipment.status.value},
        )


def mark_delivered(session: Session, *, actor: str, shipment_id: int) -> Shipment:
    """The shipment reached its destination; it awaits the recipient's receipt."""
    shipment = get_shipment(session, shipment_id=shipment_id)
    _require_status(shipment, [ShipmentStatus.DISPATCHED], "mark as delivered")
    before = snapshot(shipment)
    _move_shipment(
        session,
        shipment,
        sources=[ShipmentStatus.DISPATCHED],
        values={"status": ShipmentStatus.DELIVERED, "delivered_at": utcnow()},
    )
    lines = shipment_lines(session, shipment_id=shipment.id)
    line_before = {line.id: snapshot(line) for line in lines}
    moved = rowcount(
        session.execute(
            update(Line)
            .where(Line.shipment_id == shipment.id, Line.status == LineStatus.DISPATCHED)
            .values(status=LineStatus.DELIVERED, version=Line.version + 1)
            .execution_options(synchronize_session=False)
        )
    )
    if moved != len(lines):
        raise LinesChanged(
            "lines of this shipment changed at the same time", context={"shipment": shipment.id}
        )
    record(
        session,
        actor=actor,
        action="shipment.deliver",
        entity="shipment",
        entity_ref=str(shipment.id),
        before=before,
        after=snapshot(shipment),
    )
    for line in lines:
        session.refresh(line)
        record(
            session,
            actor=actor,
            action="line.deliver",
            entity="line",
            entity_ref=str(line.id),
            before=line_before[line.id],
            after=snapshot(line),
        )
    return shipment


def _received_units(lines: Sequence[Line], received: Mapping[int, Decimal] | None) -> dict[int, Decimal]:
    """Usable units per line (lines not named: in full), validated against each line."""
    given = dict(received or {})
    by_id = {line.id: line for line in lines}
    unknown = sorted(set(given) - set(by_id))
    if unknown:
        raise BadReceipt(
            f"lines {', '.join(map(str, unknown))} are not in this shipment (it carries "
            f"{', '.join(map(str, sorted(by_id)))})",
            context={"lines": unknown},
        )
    result: dict[int, Decimal] = {}
    errors: list[dict[str, object]] = []
    for line in lines:
        if line.id not in given:
            result[line.id] = line.units
            continue
        try:
            units = to_quantity(given[line.id])
        except (InvalidOperation, ValueError):
            errors.append({"line": line.id, "value": str(given[line.id]), "expected": "a number of units"})
            continue
        if not units.is_finite() or units < 0 or units > line.units:
            errors.append(
                {
                    "line": line.id,
                    "value": str(given[line.id]),
                    "expected": f"between 0 and {line.units.normalize():f}",
                }
            )
        elif line.pledge.item.indivisible and units != units.to_integral_value():
            errors.append(
                {
                    "line": line.id,
                    "value": str(given[line.id]),
                    "expected": f"whole units of {line.pledge.item.code}",
                }
            )
        else:
            result[line.id] = units
    if errors:
        described = "; ".join(f"line {e['line']}: {e['value']} is not {e['expected']}" for e in errors)
        raise BadReceipt(f"received units do not fit: {described}", context={"errors": errors})
    return result


def _owns(line: Line, recipient_org_id: int) -> bool:
    need = line.need
    if need.org_id == recipient_org_id:
        return True
    return need.site is not None and need.site.org_id == recipient_org_id


def receive_shipment(
    session: Session,
    *,
    actor: str,
    shipment_id: int,
    received: Mapping[int, Decimal] | None,
    condition: Condition,
    recipient_org_id: int | None,
) -> Shipment:
    """Confirm receipt (see the module's receipt rule); shortfalls become discrepancies.

    ``recipient_org_id`` set means the caller acts for that recipient: every line's need must be its own
    (the need's organisation, or its site's).
    """
    shipment = get_shipment(session, shipment_id=shipment_id)
    lines = shipment_lines(session, shipment_id=shipment.id)
    if recipient_org_id is not None:
        foreign = [line.id for line in lines if not _owns(line, recipient_org_id)]
        if foreign:
            raise NotYourShipment(
                f"shipment {shipment.id} carries lines for another organisation's needs "
                f"(lines {', '.join(map(str, foreign))})",
                context={"shipment": shipment.id, "lines": foreign},
            )
    _require_status(shipment, [ShipmentStatus.DISPATCHED, ShipmentStatus.DELIVERED], "receive")
    check_transition(lines, LineStatus.RECEIVED)
    usable = _received_units(lines, received)
    before = snapshot(shipment)
    line_before = {line.id: snapshot(line) for line in lines}
    # The shipment row first: two receipts of one shipment are serialised here, the second gets a Conflict.
    _move_shipment(
        session,
        shipment,
        sources=[ShipmentStatus.DISPATCHED, ShipmentStatus.DELIVERED],
        values={
            "status": ShipmentStatus.RECEIVED,
            "received_at": utcnow(),
            "received_by": actor,
            "condition": condition,
        },
    )
    reason = DiscrepancyReason.DAMAGED if condition == Condition.DAMAGED else DiscrepancyReason.SHORT
    discrepancies: list[Discrepancy] = []
    for line in lines:
        done = rowcount(
            session.execute(
                update(Line)
                .where(
                    Line.id == line.id,
                    Line.shipment_id == shipment.id,
                    Line.status.in_([LineStatus.DISPATCHED, LineStatus.DELIVERED]),
                )
                .values(
                    status=LineStatus.RECEIVED,
                    received_units=usable[line.id],
                    condition=condition.value,
                    version=Line.version + 1,
                )
                .execution_options(synchronize_session=False)
            )
        )
        if done != 1:
            raise LinesChanged(f"line {line.id} changed at the same time", context={"lines": [line.id]})
        missing = line.units - usable[line.id]
        if missing > 0:
            discrepancies.append(
                Discrepancy(shipment_id=shipment.id, line_id=line.id, units=missing, reason=reason.value)
            )
    session.add_all(discrepancies)
    session.flush()
    record(
        session,
        actor=actor,
        action="shipment.receive",
        entity="shipment",
        entity_ref=str(shipment.id),
        before=before,
        after={**snapshot(shipment), "lines": [line.id for line in lines]},
    )
    for line in lines:
        session.refresh(line)
        record(
            session,
            actor=actor,
            action="line.receive",
            entity="line",
            entity_ref=str(line.id),
            before=line_before[line.id],
            after=snapshot(line),
        )
    for discrepancy in discrepancies:
        record(
            session,
            actor=actor,
            action="discrepancy.create",
            entity="discrepancy",
            entity_ref=str(discrepancy.id),
            before=None,
            after=snapshot(discrepancy),
        )
    return shipment


def discrepancies_of(session: Session, *, shipment_id: int) -> list[Discrepancy]:
    return list(
        session.execute(
            select(Discrepancy).where(Discrepancy.shipment_id == shipment_id).order_by(Discrepancy.id)
        ).scalars()
    )
