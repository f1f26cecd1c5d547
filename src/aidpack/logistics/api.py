"""`/api/v1/shipments`, need and pledge timelines, need progress: deliveries within the caller's scope.

Who may do what is decided in :mod:`aidpack.auth.policy`; the moves themselves are the services'
(:mod:`aidpack.logistics.service`). The read-side helpers here (scoped shipment lookups, the shapes the
API returns) are shared with the pages (:mod:`aidpack.web.pages_logistics`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Path, Response, status
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aidpack.allocation.models import Line
from aidpack.auth import policy
from aidpack.auth.deps import CurrentPrincipal, CurrentUser
from aidpack.auth.policy import Action, Principal
from aidpack.errors import ValidationFailed
from aidpack.logistics import service
from aidpack.logistics.models import Discrepancy, Shipment, ShipmentStatus
from aidpack.logistics.schemas import (
    DiscrepancyRead,
    NeedProgressRead,
    ReceiptCreate,
    ShipmentCreate,
    ShipmentLineRead,
    ShipmentPage,
    ShipmentRead,
    TimelineEntryRead,
    TimelineRead,
)
from aidpack.logistics.status import need_status
from aidpack.logistics.timeline import TimelineEntry, need_timeline, pledge_timeline
from aidpack.needs import service as needs_service
from aidpack.needs.models import Need
from aidpack.orgs.models import Organisation
from aidpack.pledges import service as pledges_service
from aidpack.pledges.models import Pledge
from aidpack.sites.models import Site
from aidpack.web.deps import SessionDep
from aidpack.web.fields import exact
from aidpack.web.http import (
    READ_ERRORS,
    UPDATE_ERRORS,
    WRITE_ERRORS,
    CodeFilter,
    IfMatch,
    PaginationDep,
    RefPath,
    check_if_match,
    set_etag,
)

router = APIRouter(tags=["shipments"])

ShipmentId = Annotated[int, Path(ge=1, le=2**31 - 1)]
RESTRICTED = "[restricted site]"


# --- read side, shared with the pages ----------------------------------------------------------------


def list_shipments(
    session: Session,
    *,
    principal: Principal,
    status: ShipmentStatus | None = None,
    donor: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[Shipment], int]:
    """Shipments in the caller's scope (staff: all; a donor: its own; a recipient: those to its needs)."""
    policy.require(principal, Action.READ_SHIPMENTS)
    where = [policy.shipment_scope(principal)]
    if status is not None:
        where.append(Shipment.status == status)
    if donor:
        where.append(Shipment.donor_id.in_(select(Organisation.id).where(Organisation.code == donor)))
    total = session.execute(select(func.count()).select_from(Shipment).where(*where)).scalar_one()
    rows = session.execute(
        select(Shipment).where(*where).order_by(Shipment.id.desc()).limit(limit).offset(offset)
    ).scalars()
    return list(rows), total


def visible_shipment(session: Session, *, principal: Principal, shipment_id: int) -> Shipment:
    """The shipment, if the caller may see it (404 otherwise, as if it did not exist)."""
    policy.require(principal, Action.READ_SHIPMENTS)
    shipment = session.execute(
        select(Shipment).where(Shipment.id == shipment_id, policy.shipment_scope(principal))
    ).scalar_one_or_none()
    if shipment is None:
        raise service.ShipmentNotFound(f"no shipment {shipment_id} that you may see", context={"shipment": shipment_id})
    return shipment


def lines_of(session: Session, shipment_ids: Sequence[int]) -> dict[int, list[Line]]:
    by_shipment: dict[int, list[Line]] = defaultdict(list)
    if shipment_ids:
        query = select(Line).where(Line.shipment_id.in_(list(shipment_ids))).order_by(Line.id)
        for line in session.execute(query).unique().scalars():
            if line.shipment_id is not None:
                by_shipment[line.shipment_id].append(line)
    return by_shipment


def _discrepancies_of(session: Session, shipment_ids: Sequence[int]) -> dict[int, list[Discrepancy]]:
    by_shipment: dict[int, list[Discrepancy]] = defaultdict(list)
    if shipment_ids:
        query = select(Discrepancy).where(Discrepancy.shipment_id.in_(list(shipment_ids))).order_by(Discrepancy.id)
        for discrepancy in session.execute(query).scalars():
            by_shipment[discrepancy.shipment_id].append(discrepancy)
    return by_shipment


def _donor_codes(session: Session, donor_ids: set[int]) -> dict[int, str]:
    if not donor_ids:
        return {}
    rows = session.execute(select(Organisation.id, Organisation.code).where(Organisation.id.in_(sorted(donor_ids))))
    return {org_id: code for org_id, code in rows}


def shipment_line_read(line: Line) -> ShipmentLineRead:
    return ShipmentLineRead(
        id=line.id,
        plan=line.plan_id,
        pledge=line.pledge.ref,
        need=line.need.ref,
        region=line.need.region.code,
        capability=line.need.capability,
        units=float(line.units),
        amount=float(line.amount),
        eta=line.eta,
        status=line.status,
        received_units=None if line.received_units is None else float(line.received_units),
        condition=line.condition,
    )


def shipments_read(session: Session, principal: Principal, shipments: Sequence[Shipment]) -> list[ShipmentRead]:
    """Shipments as the caller may see them: only the lines (and their discrepancies) in its scope."""
    ids = [s.id for s in shipments]
    lines = lines_of(session, ids)
    discrepancies = _discrepancies_of(session, ids)
    donors = _donor_codes(session, {s.donor_id for s in shipments})
    result: list[ShipmentRead] = []
    for shipment in shipments:
        shown = [line for line in lines.get(shipment.id, []) if policy.shipment_line_visible(principal, line)]
        shown_ids = {line.id for line in shown}
        result.append(
            ShipmentRead(
                id=shipment.id,
                donor=donors.get(shipment.donor_id, ""),
                status=shipment.status,
                dispatched_at=shipment.dispatched_at,
                dispatched_by=shipment.dispatched_by,
                delivered_at=shipment.delivered_at,
                received_at=shipment.received_at,
                received_by=shipment.received_by,
                condition=shipment.condition,
                version=shipment.version,
                lines=[shipment_line_read(line) for line in shown],
                discrepancies=[
                    DiscrepancyRead(id=d.id, line=d.line_id, units=float(d.units), reason=d.reason)
                    for d in discrepancies.get(shipment.id, [])
                    if d.line_id in shown_ids
                ],
            )
        )
    return result


def shipment_read(session: Session, principal: Principal, shipment: Shipment) -> ShipmentRead:
    return shipments_read(session, principal, [shipment])[0]


def _redact(text: str, hidden: Sequence[str]) -> str:
    for secret in hidden:
        text = text.replace(secret, RESTRICTED)
    return text


def timeline_entries(
    principal: Principal, entries: Sequence[TimelineEntry], sites: list[Site | None]
) -> list[TimelineEntryRead]:
    """Timeline entries with the names and codes of sites the caller may not learn blanked out."""
    hidden = policy.hidden_site_texts(principal, sites)
    return [
        TimelineEntryRead(
            at=entry.at,
            action=entry.action,
            entity=entry.entity,
            entity_ref=_redact(entry.entity_ref, hidden),
            actor=entry.actor,
            summary=_redact(entry.summary, hidden),
            event=entry.event_id,
            source="plan" if entry.source == "plan" else "audit",
        )
        for entry in entries
    ]


def need_for_timeline(session: Session, *, principal: Principal, ref: str) -> Need:
    need = needs_service.get_need(session, principal=principal, ref=ref)
    policy.require_need_timeline(principal, need)
    return need


def pledge_for_timeline(session: Session, *, principal: Principal, ref: str) -> Pledge:
    pledge = pledges_service.get_pledge(session, principal=principal, ref=ref)
    policy.require_pledge_timeline(principal, pledge)
    return pledge


def need_timeline_read(session: Session, principal: Principal, need: Need) -> TimelineRead:
    entries = timeline_entries(principal, need_timeline(session, need.ref), [need.site])
    return TimelineRead(subject="need", ref=need.ref, entries=entries)


def pledge_timeline_read(session: Session, principal: Principal, pledge: Pledge) -> TimelineRead:
    sites: list[Site | None] = list(
        session.execute(
            select(Site)
            .join(Need, Need.site_id == Site.id)
            .join(Line, Line.need_id == Need.id)
            .where(Line.pledge_id == pledge.id)
            .distinct()
        ).scalars()
    )
    entries = timeline_entries(principal, pledge_timeline(session, pledge.ref), sites)
    return TimelineRead(subject="pledge", ref=pledge.ref, entries=entries)


def need_progress_read(session: Session, need: Need) -> NeedProgressRead:
    progress = need_status(session, need)
    return NeedProgressRead(
        need=need.ref,
        capability=need.capability,
        quantity=float(progress.quantity),
        committed=float(progress.committed),
        in_transit=float(progress.in_transit),
        on_the_way=float(progress.on_the_way),
        fulfilled=float(progress.fulfilled),
        open=float(progress.open_quantity),
        commit_status=progress.commit_status,
        transit_status=progress.transit_status,
        fulfil_status=progress.fulfil_status,
    )


def received_map(receipt: ReceiptCreate) -> dict[int, Decimal]:
    """Usable units per named line (a line named twice is refused)."""
    received: dict[int, Decimal] = {}
    twice: list[int] = []
    for entry in receipt.lines:
        if entry.line in received:
            twice.append(entry.line)
        received[entry.line] = exact(entry.units)
    if twice:
        raise ValidationFailed(
            f"lines named more than once: {', '.join(map(str, sorted(set(twice))))}",
            context={"lines": sorted(set(twice))},
        )
    return received


# --- routes ----------------------------------------------------------------------------------------------


@router.post("/shipments", response_model=ShipmentRead, status_code=status.HTTP_201_CREATED, responses=WRITE_ERRORS)
def dispatch(
    shipment_in: ShipmentCreate, session: SessionDep, principal: CurrentUser, response: Response
) -> ShipmentRead:
    """Dispatch accepted lines of one donor as one shipment (a donor its own lines; coordinators any)."""
    donor_org_id = policy.dispatching_donor(principal)
    shipment = service.ship_lines(session, actor=principal.actor, line_ids=shipment_in.lines, donor_org_id=donor_org_id)
    response.headers["Location"] = f"/api/v1/shipments/{shipment.id}"
    set_etag(response, shipment.version)
    return shipment_read(session, principal, shipment)


@router.get("/shipments", response_model=ShipmentPage, responses=READ_ERRORS)
def get_shipments(
    session: SessionDep,
    principal: CurrentPrincipal,
    page: PaginationDep,
    status: ShipmentStatus | None = None,
    donor: CodeFilter = None,
) -> ShipmentPage:
    """Shipments the caller may see: staff all, a donor its own, a recipient those carrying lines to its needs."""
    rows, total = list_shipments(
        session, principal=principal, status=status, donor=donor, limit=page.limit, offset=page.offset
    )
    return ShipmentPage(
        items=shipments_read(session, principal, rows), total=total, limit=page.limit, offset=page.offset
    )


@router.get("/shipments/{shipment_id}", response_model=ShipmentRead, responses=READ_ERRORS)
def get_shipment(
    shipment_id: ShipmentId, session: SessionDep, principal: CurrentPrincipal, response: Response
) -> ShipmentRead:
    shipment = visible_shipment(session, principal=principal, shipment_id=shipment_id)
    set_etag(response, shipment.version)
    return shipment_read(session, principal, shipment)


@router.post("/shipments/{shipment_id}/deliver", response_model=ShipmentRead, responses=UPDATE_ERRORS)
def deliver(
    shipment_id: ShipmentId,
    session: SessionDep,
    principal: CurrentUser,
    response: Response,
    if_match: IfMatch = None,
) -> ShipmentRead:
    """The shipment reached its destination and awaits the receipt (its donor, or coordinators).
    Send If-Match with the shipment's ETag (from GET)."""
    shipment = visible_shipment(session, principal=principal, shipment_id=shipment_id)
    policy.require_deliver(principal, shipment)
    check_if_match(if_match, version=shipment.version, what="shipment")
    shipment = service.mark_delivered(session, actor=principal.actor, shipment_id=shipment.id)
    set_etag(response, shipment.version)
    return shipment_read(session, principal, shipment)


@router.post("/shipments/{shipment_id}/receive", response_model=ShipmentRead, responses=UPDATE_ERRORS)
def receive(
    shipment_id: ShipmentId,
    receipt: ReceiptCreate,
    session: SessionDep,
    principal: CurrentUser,
    response: Response,
    if_match: IfMatch = None,
) -> ShipmentRead:
    """Confirm receipt (the recipient that owns the needs, or coordinators). Lines not named arrived in full;
    units that did not arrive usable become discrepancies and the needs' open quantities grow back.
    Send If-Match with the shipment's ETag (from GET)."""
    shipment = visible_shipment(session, principal=principal, shipment_id=shipment_id)
    recipient_org_id = policy.receiving_recipient(principal)
    check_if_match(if_match, version=shipment.version, what="shipment")
    shipment = service.receive_shipment(
        session,
        actor=principal.actor,
        shipment_id=shipment.id,
        received=received_map(receipt),
        condition=receipt.condition,
        recipient_org_id=recipient_org_id,
    )
    set_etag(response, shipment.version)
    return shipment_read(session, principal, shipment)


@router.get("/needs/{ref}/timeline", response_model=TimelineRead, responses=READ_ERRORS, tags=["needs"])
def get_need_timeline(ref: RefPath, session: SessionDep, principal: CurrentPrincipal) -> TimelineRead:
    """From the need's creation to the receipt of its lines (coordinators, and the recipient that owns it)."""
    need = need_for_timeline(session, principal=principal, ref=ref)
    return need_timeline_read(session, principal, need)


@router.get("/pledges/{ref}/timeline", response_model=TimelineRead, responses=READ_ERRORS, tags=["pledges"])
def get_pledge_timeline(ref: RefPath, session: SessionDep, principal: CurrentPrincipal) -> TimelineRead:
    """From the pledge's announcement to the receipt of its lines (coordinators, and the donor that made it)."""
    pledge = pledge_for_timeline(session, principal=principal, ref=ref)
    return pledge_timeline_read(session, principal, pledge)


@router.get("/needs/{ref}/progress", response_model=NeedProgressRead, responses=READ_ERRORS, tags=["needs"])
def get_need_progress(ref: RefPath, session: SessionDep, principal: CurrentPrincipal) -> NeedProgressRead:
    """Commit / transit / fulfil status (none, partial, complete) of a need the caller may see."""
    need = needs_service.get_need(session, principal=principal, ref=ref)
    return need_progress_read(session, need)
