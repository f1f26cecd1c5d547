"""The life of a need or a pledge, from announcement or import to receipt, read from the audit log.

Events are matched by entity and ref: ``need``/``pledge`` events by the row's ref (never its id: another
organisation's need or pledge may have that id as its ref), ``line``, ``shipment``, ``discrepancy`` and
``plan`` events by the row's id. A line proposed by a plan whose
creation wrote no per-line event still shows, dated by its plan (``source = "plan"``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from aidpack.allocation.models import Line, Plan
from aidpack.audit.models import Event
from aidpack.errors import NotFound
from aidpack.logistics.models import Discrepancy
from aidpack.needs.models import Need
from aidpack.pledges.models import Pledge

PROPOSE_ACTIONS = frozenset({"line.propose", "line.create"})
PAST = {
    "propose": "proposed",
    "accept": "accepted",
    "reject": "rejected",
    "dispatch": "dispatched",
    "deliver": "delivered",
    "receive": "received",
    "create": "created",
    "update": "updated",
}


class NeedNotFound(NotFound):
    code = "NEED_NOT_FOUND"


class PledgeNotFound(NotFound):
    code = "PLEDGE_NOT_FOUND"


@dataclass(frozen=True)
class TimelineEntry:
    at: dt.datetime
    action: str
    entity: str
    entity_ref: str
    actor: str
    summary: str
    event_id: int | None = None
    source: str = "audit"
    detail: Mapping[str, Any] | None = field(default=None, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "action": self.action,
            "entity": self.entity,
            "entity_ref": self.entity_ref,
            "actor": self.actor,
            "summary": self.summary,
            "event": self.event_id,
            "source": self.source,
        }


def find_need(session: Session, *, need_ref: str) -> Need:
    need = session.execute(select(Need).where(Need.ref == need_ref)).scalar_one_or_none()
    if need is None and need_ref.isdigit():
        need = session.get(Need, int(need_ref))
    if need is None:
        raise NeedNotFound(f"no need {need_ref!r}", context={"need": need_ref})
    return need


def find_pledge(session: Session, *, pledge_ref: str) -> Pledge:
    pledge = session.execute(select(Pledge).where(Pledge.ref == pledge_ref)).scalar_one_or_none()
    if pledge is None and pledge_ref.isdigit():
        pledge = session.get(Pledge, int(pledge_ref))
    if pledge is None:
        raise PledgeNotFound(f"no pledge {pledge_ref!r}", context={"pledge": pledge_ref})
    return pledge


def _num(value: object) -> str:
    return str(value) if value is not None else "?"


def _describe(event: Event, lines: Mapping[str, Line]) -> str:
    after: Mapping[str, Any] = event.after or {}
    verb = event.action.split(".", 1)[-1]
    verb = PAST.get(verb, verb)
    if event.entity == "line" and event.entity_ref in lines:
        line = lines[event.entity_ref]
        text = (
            f"line {line.id} {verb}: {_num(after.get('units', line.units))} units of pledge {line.pledge.ref}"
            f" for need {line.need.ref} (plan {line.plan_id})"
        )
        if event.action == "line.receive":
            text += f", {_num(after.get('received_units'))} received ({after.get('condition') or 'good'})"
        return text
    if event.entity == "shipment":
        lines_text = ", ".join(map(str, after.get("lines", []) or []))
        text = f"shipment {event.entity_ref} {verb}"
        if lines_text:
            text += f" (lines {lines_text})"
        if event.action == "shipment.receive" and after.get("condition"):
            text += f", condition {after['condition']}"
        return text
    if event.entity == "discrepancy":
        return (
            f"discrepancy {event.entity_ref}: {_num(after.get('units'))} units"
            f" of line {_num(after.get('line_id'))}"
            f" {after.get('reason', '')}"
        ).rstrip()
    if event.action == "pledge.reserve":
        reserved = _num(after.get("reserved"))
        return f"pledge {event.entity_ref}: {reserved} units reserved for plan {after.get('plan')}"
    return _describe_change(event, verb)


#: Fields of a need or pledge whose change a timeline spells out (none that a site could be learnt from).
TOLD_FIELDS = ("quantity", "units", "priority", "deadline", "available", "status", "channel")


def _describe_change(event: Event, verb: str) -> str:
    """'need N-1 created by import', 'pledge P-1 updated: units 5 → 4' (it read 'need N-1: import.create', the
    action's code, which the page then printed a second time)."""
    source = event.action.split(".", 1)[0]
    text = f"{event.entity} {event.entity_ref} {verb}"
    if source == "import":
        text += " by import"
    before: Mapping[str, Any] = event.before or {}
    after: Mapping[str, Any] = event.after or {}
    if before and after:
        changes = [
            f"{name} {_num(before.get(name))} → {_num(after.get(name))}"
            for name in TOLD_FIELDS
            if name in after and before.get(name) != after.get(name)
        ]
        if changes:
            text += ": " + ", ".join(changes)
    return text


def _collect(
    session: Session,
    *,
    own: tuple[str, Sequence[str]],
    lines: Sequence[Line],
) -> list[TimelineEntry]:
    line_refs = {str(line.id): line for line in lines}
    line_ids = [line.id for line in lines]
    shipment_refs = sorted({str(line.shipment_id) for line in lines if line.shipment_id is not None})
    plan_refs = sorted({str(line.plan_id) for line in lines})
    discrepancy_refs: list[str] = []
    if line_ids:
        discrepancy_refs = [
            str(i)
            for i in session.execute(
                select(Discrepancy.id).where(Discrepancy.line_id.in_(line_ids))
            ).scalars()
        ]
    conditions = [and_(Event.entity == own[0], Event.entity_ref.in_(list(own[1])))]
    for entity, refs in (
        ("line", list(line_refs)),
        ("shipment", shipment_refs),
        ("discrepancy", discrepancy_refs),
        ("plan", plan_refs),
    ):
        if refs:
            conditions.append(and_(Event.entity == entity, Event.entity_ref.in_(refs)))
    events = list(session.execute(select(Event).where(or_(*conditions)).order_by(Event.id)).scalars())
    entries = [
        TimelineEntry(
            at=event.at,
            action=event.action,
            entity=event.entity,
            entity_ref=event.entity_ref,
            actor=event.actor,
            summary=_describe(event, line_refs),
            event_id=event.id,
            detail=event.after,
        )
        for event in events
    ]
    proposed = {e.entity_ref for e in entries if e.entity == "line" and e.action in PROPOSE_ACTIONS}
    plans = {plan.id: plan for plan in _plans(session, {line.plan_id for line in lines})}
    for line in lines:
        if str(line.id) in proposed:
            continue
        plan = plans[line.plan_id]
        entries.append(
            TimelineEntry(
                at=plan.created_at,
                action="line.propose",
                entity="line",
                entity_ref=str(line.id),
                actor=plan.created_by,
                summary=(
                    f"line {line.id} proposed by plan {plan.id}: {line.units.normalize():f} units of pledge "
                    f"{line.pledge.ref} for need {line.need.ref}, ETA {line.eta.isoformat()}"
                ),
                source="plan",
            )
        )
    entries.sort(key=lambda e: (e.at, e.event_id if e.event_id is not None else -1))
    return entries


def _plans(session: Session, plan_ids: Iterable[int]) -> list[Plan]:
    ids = sorted(plan_ids)
    if not ids:
        return []
    return list(session.execute(select(Plan).where(Plan.id.in_(ids))).scalars())


def need_timeline(session: Session, need_ref: str) -> list[TimelineEntry]:
    """Everything that happened to a need and to the lines, shipments and discrepancies that serve it."""
    need = find_need(session, need_ref=need_ref)
    lines = list(session.execute(select(Line).where(Line.need_id == need.id).order_by(Line.id)).scalars())
    return _collect(session, own=("need", [need.ref]), lines=lines)


def pledge_timeline(session: Session, pledge_ref: str) -> list[TimelineEntry]:
    """Everything that happened to a pledge, from announcement or import to the receipts of its lines."""
    pledge = find_pledge(session, pledge_ref=pledge_ref)
    lines = list(session.execute(select(Line).where(Line.pledge_id == pledge.id).order_by(Line.id)).scalars())
    return _collect(session, own=("pledge", [pledge.ref]), lines=lines)
