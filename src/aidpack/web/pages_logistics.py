"""Shipments pages (dispatch accepted lines, mark delivered, confirm receipt) and need / pledge timelines."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from aidpack.allocation.models import Line, LineStatus
from aidpack.auth import policy
from aidpack.auth import service as auth_service
from aidpack.auth.deps import PagePrincipal, WebSessionDep
from aidpack.auth.policy import Principal
from aidpack.errors import DomainError
from aidpack.logistics import api as views
from aidpack.logistics import service
from aidpack.logistics.models import Condition, Shipment, ShipmentStatus
from aidpack.reports import lookups
from aidpack.web.deps import SessionDep
from aidpack.web.forms import error_messages, error_status, require_login
from aidpack.web.http import IdPath, OffsetQuery
from aidpack.web.templating import redirect, render

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50
Field = Annotated[str | None, Form(max_length=200)]
Values = Annotated[list[str] | None, Form(max_length=10_000)]
RECEIVABLE = (ShipmentStatus.DISPATCHED, ShipmentStatus.DELIVERED)


def _status(value: str | None) -> ShipmentStatus | None:
    try:
        return ShipmentStatus(value) if value else None
    except ValueError:
        return None


def _site_names(principal: Principal, lines: Sequence[Line]) -> dict[int, str | None]:
    """Per line with a site: its name where the caller may learn it, else None (the page says 'restricted')."""
    return {
        line.id: line.need.site.name if policy.site_details_visible(principal, line.need.site) else None
        for line in lines
        if line.need.site is not None
    }


def _ids(values: Sequence[str] | None) -> list[int]:
    return sorted({int(v) for v in values or [] if v.isdigit() and len(v) < 10})


def _shipments_page(
    request: Request,
    session: Session,
    principal: Principal,
    *,
    status: str | None = None,
    offset: int = 0,
    errors: list[str] | None = None,
    selected: Sequence[int] = (),
    status_code: int = 200,
) -> Response:
    rows, total = views.list_shipments(
        session, principal=principal, status=_status(status), limit=PAGE_SIZE, offset=max(offset, 0)
    )
    ready: list[Line] = []
    if policy.may_dispatch(principal):
        ready, _ = lookups.list_lines(session, principal=principal, status=LineStatus.ACCEPTED, limit=500, offset=0)
    return render(
        request,
        "logistics_shipments.html",
        {
            "principal": principal,
            "shipments": views.shipments_read(session, principal, rows),
            "total": total,
            "offset": max(offset, 0),
            "page_size": PAGE_SIZE,
            "filters": {"status": status or ""},
            "statuses": list(ShipmentStatus),
            "ready": ready,
            "sites": _site_names(principal, ready),
            "selected": set(selected),
            "errors": errors or [],
            "done": request.query_params.get("done"),
        },
        status_code=status_code,
    )


@router.get("/shipments")
def shipments(
    request: Request,
    session: SessionDep,
    principal: PagePrincipal,
    status: str | None = None,
    offset: OffsetQuery = 0,
) -> Response:
    require_login(principal)
    return _shipments_page(request, session, principal, status=status, offset=offset)


@router.post("/shipments")
def shipment_dispatch(
    request: Request,
    session: SessionDep,
    principal: PagePrincipal,
    web: WebSessionDep,
    csrf_token: Field = None,
    line: Values = None,
) -> Response:
    """Dispatch the ticked accepted lines as one shipment."""
    require_login(principal)
    auth_service.check_csrf(web, csrf_token)
    donor_org_id = policy.dispatching_donor(principal)
    line_ids = _ids(line)
    try:
        shipment = service.ship_lines(session, actor=principal.actor, line_ids=line_ids, donor_org_id=donor_org_id)
    except DomainError as error:
        session.rollback()
        return _shipments_page(
            request,
            session,
            principal,
            errors=error_messages(error),
            selected=line_ids,
            status_code=error_status(error),
        )
    return redirect(request, f"/shipments/{shipment.id}?done=dispatched")


def _shipment_page(
    request: Request,
    session: Session,
    principal: Principal,
    shipment: Shipment,
    *,
    errors: list[str] | None = None,
    values: dict[int, str] | None = None,
    condition: Condition = Condition.GOOD,
    status_code: int = 200,
) -> Response:
    every_line = views.lines_of(session, [shipment.id]).get(shipment.id, [])
    lines = [line for line in every_line if policy.shipment_line_visible(principal, line)]
    return render(
        request,
        "logistics_shipment.html",
        {
            "principal": principal,
            "shipment": views.shipment_read(session, principal, shipment),
            "lines": lines,
            "sites": _site_names(principal, lines),
            "can_deliver": shipment.status is ShipmentStatus.DISPATCHED and policy.may_deliver(principal, shipment),
            "can_receive": shipment.status in RECEIVABLE and policy.may_receive(principal, every_line),
            "conditions": list(Condition),
            "values": values or {},
            "condition": condition,
            "errors": errors or [],
            "done": request.query_params.get("done"),
        },
        status_code=status_code,
    )


@router.get("/shipments/{shipment_id}")
def shipment_page(request: Request, shipment_id: IdPath, session: SessionDep, principal: PagePrincipal) -> Response:
    require_login(principal)
    shipment = views.visible_shipment(session, principal=principal, shipment_id=shipment_id)
    return _shipment_page(request, session, principal, shipment)


@router.post("/shipments/{shipment_id}/deliver")
def shipment_deliver(
    request: Request,
    shipment_id: IdPath,
    session: SessionDep,
    principal: PagePrincipal,
    web: WebSessionDep,
    csrf_token: Field = None,
) -> Response:
    require_login(principal)
    auth_service.check_csrf(web, csrf_token)
    shipment = views.visible_shipment(session, principal=principal, shipment_id=shipment_id)
    policy.require_deliver(principal, shipment)
    service.mark_delivered(session, actor=principal.actor, shipment_id=shipment.id)
    return redirect(request, f"/shipments/{shipment.id}?done=delivered")


def _received(line: Sequence[str], units: Sequence[str]) -> tuple[dict[int, Decimal], list[str]]:
    """Units per line from the form's parallel ``line`` / ``units`` fields; what is not a number is named
    (a line that is not a line id too: skipped, it would have been received in full without a word)."""
    received: dict[int, Decimal] = {}
    problems: list[str] = []
    for line_value, units_value in zip(line, units, strict=False):
        if not line_value.isdigit() or len(line_value) >= 10:
            problems.append(f"{line_value[:20]!r} is not a line of this shipment")
            continue
        text = units_value.strip().replace(",", ".").replace("\u202f", "").replace(" ", "")
        if not text:
            continue
        try:
            received[int(line_value)] = Decimal(text)
        except InvalidOperation:
            problems.append(f"line {line_value}: {units_value!r} is not a number of units")
    return received, problems


@router.post("/shipments/{shipment_id}/receive")
def shipment_receive(
    request: Request,
    shipment_id: IdPath,
    session: SessionDep,
    principal: PagePrincipal,
    web: WebSessionDep,
    csrf_token: Field = None,
    condition: Field = None,
    line: Values = None,
    units: Values = None,
) -> Response:
    """Confirm receipt with the units that arrived usable per line, and the shipment's condition."""
    require_login(principal)
    auth_service.check_csrf(web, csrf_token)
    shipment = views.visible_shipment(session, principal=principal, shipment_id=shipment_id)
    recipient_org_id = policy.receiving_recipient(principal)
    received, problems = _received(line or [], units or [])
    values: dict[int, Any] = {
        int(k): v for k, v in zip(line or [], units or [], strict=False) if k.isdigit() and len(k) < 10
    }
    try:
        chosen = Condition(condition or Condition.GOOD.value)
    except ValueError:
        problems.append(f"condition must be one of {', '.join(c.value for c in Condition)}")
        chosen = Condition.GOOD
    if problems:
        return _shipment_page(
            request, session, principal, shipment, errors=problems, values=values, condition=chosen, status_code=422
        )
    try:
        service.receive_shipment(
            session,
            actor=principal.actor,
            shipment_id=shipment.id,
            received=received,
            condition=chosen,
            recipient_org_id=recipient_org_id,
        )
    except DomainError as error:
        session.rollback()
        shipment = views.visible_shipment(session, principal=principal, shipment_id=shipment_id)
        return _shipment_page(
            request,
            session,
            principal,
            shipment,
            errors=error_messages(error),
            values=values,
            condition=chosen,
            status_code=error_status(error),
        )
    return redirect(request, f"/shipments/{shipment.id}?done=received")


@router.get("/needs/{ref}/timeline")
def need_timeline_page(request: Request, ref: str, session: SessionDep, principal: PagePrincipal) -> Response:
    require_login(principal)
    need = views.need_for_timeline(session, principal=principal, ref=ref[:64])
    site = need.site.name if need.site is not None and policy.site_details_visible(principal, need.site) else None
    return render(
        request,
        "timeline_page.html",
        {
            "principal": principal,
            "subject": "need",
            "ref": need.ref,
            "back": f"/needs/{need.ref}",
            "site": site,
            "region": need.region.name,
            "progress": views.need_progress_read(session, need),
            "timeline": views.need_timeline_read(session, principal, need),
        },
    )


@router.get("/pledges/{ref}/timeline")
def pledge_timeline_page(request: Request, ref: str, session: SessionDep, principal: PagePrincipal) -> Response:
    require_login(principal)
    pledge = views.pledge_for_timeline(session, principal=principal, ref=ref[:64])
    return render(
        request,
        "timeline_page.html",
        {
            "principal": principal,
            "subject": "pledge",
            "ref": pledge.ref,
            "back": f"/pledges/{pledge.ref}",
            "site": None,
            "region": None,
            "donor": pledge.donor.name,
            "progress": None,
            "timeline": views.pledge_timeline_read(session, principal, pledge),
        },
    )
