"""Pledges pages: the list with filters, the form to add one, a pledge with its edit form."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from aidpack.auth import policy
from aidpack.auth import service as auth_service
from aidpack.auth.deps import PagePrincipal, WebSessionDep
from aidpack.auth.policy import Action, Principal
from aidpack.errors import DomainError
from aidpack.pledges import service
from aidpack.pledges.models import Channel, PledgeStatus
from aidpack.pledges.schemas import PledgeCreate, PledgeUpdate
from aidpack.reports import lookups
from aidpack.web.deps import SessionDep
from aidpack.web.fields import CODE_PATTERN
from aidpack.web.forms import as_number, cleaned, error_messages, error_status, require_login
from aidpack.web.http import OffsetQuery, check_if_match, etag
from aidpack.web.templating import redirect, render

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50
Field = Annotated[str | None, Form(max_length=4000)]
NUMBERS = frozenset({"units", "value_eur"})


def _status(value: str | None) -> PledgeStatus | None:
    try:
        return PledgeStatus(value) if value else None
    except ValueError:
        return None


def _form_choices(session: Session, principal: Principal) -> dict[str, Any]:
    items, _ = lookups.list_items(session, limit=1000, offset=0)
    return {
        "items": items,
        "hubs": lookups.list_hubs(session),
        "donors": lookups.list_donors(session) if principal.is_staff else [],
        "channels": list(Channel),
        "statuses": list(PledgeStatus),
    }


@router.get("/pledges")
def pledges_list(
    request: Request,
    session: SessionDep,
    principal: PagePrincipal,
    donor: str | None = None,
    status: str | None = None,
    offset: OffsetQuery = 0,
) -> Response:
    require_login(principal)
    donor_code = donor if donor and len(donor) <= 64 else None
    rows, total = service.list_pledges(
        session,
        principal=principal,
        donor=donor_code,
        status=_status(status),
        limit=PAGE_SIZE,
        offset=max(offset, 0),
    )
    return render(
        request,
        "pledges.html",
        {
            "principal": principal,
            "pledges": [service.present(principal, p) for p in rows],
            "total": total,
            "offset": max(offset, 0),
            "page_size": PAGE_SIZE,
            "filters": {"donor": donor_code or "", "status": status or ""},
            "donors": lookups.list_donors(session) if principal.is_staff or principal.role.value == "recipient" else [],
            "statuses": list(PledgeStatus),
            "can_create": policy.allows(principal, Action.WRITE_PLEDGES),
        },
    )


@router.get("/pledges/new")
def pledge_new(request: Request, session: SessionDep, principal: PagePrincipal) -> Response:
    require_login(principal)
    policy.require(principal, Action.WRITE_PLEDGES)
    return render(
        request,
        "pledge_form.html",
        {
            "principal": principal,
            "values": {"status": "confirmed", "channel": "bilateral"},
            "errors": [],
            "code_pattern": CODE_PATTERN,
            **_form_choices(session, principal),
        },
    )


@router.post("/pledges")
def pledge_create(
    request: Request,
    session: SessionDep,
    principal: PagePrincipal,
    web: WebSessionDep,
    csrf_token: Field = None,
    ref: Field = None,
    donor: Field = None,
    item: Field = None,
    units: Field = None,
    available: Field = None,
    hub: Field = None,
    channel: Field = None,
    status: Field = None,
    value_eur: Field = None,
    source: Field = None,
) -> Response:
    require_login(principal)
    auth_service.check_csrf(web, csrf_token)
    values = {
        "ref": ref,
        "donor": donor,
        "item": item,
        "units": units,
        "available": available,
        "hub": hub,
        "channel": channel,
        "status": status,
        "value_eur": value_eur,
        "source": source,
    }
    try:
        pledge = service.create_pledge(
            session, principal=principal, pledge_in=PledgeCreate(**cleaned(values, floats=NUMBERS))
        )
    except (ValidationError, DomainError) as error:
        session.rollback()
        return render(
            request,
            "pledge_form.html",
            {
                "principal": principal,
                "values": values,
                "errors": error_messages(error),
                "code_pattern": CODE_PATTERN,
                **_form_choices(session, principal),
            },
            status_code=error_status(error),
        )
    return redirect(request, f"/pledges/{pledge.ref}?saved=1")


@router.get("/pledges/{ref}")
def pledge_page(request: Request, ref: str, session: SessionDep, principal: PagePrincipal) -> Response:
    require_login(principal)
    pledge = service.get_pledge(session, principal=principal, ref=ref[:64])
    return render(
        request,
        "pledge.html",
        {
            "principal": principal,
            "pledge": service.present(principal, pledge),
            "editable": policy.pledge_editable(principal, pledge),
            "values": {},
            "errors": [],
            "saved": request.query_params.get("saved") == "1",
            **_form_choices(session, principal),
        },
    )


@router.post("/pledges/{ref}")
def pledge_update(
    request: Request,
    ref: str,
    session: SessionDep,
    principal: PagePrincipal,
    web: WebSessionDep,
    csrf_token: Field = None,
    version: Field = None,
    units: Field = None,
    available: Field = None,
    hub: Field = None,
    channel: Field = None,
    status: Field = None,
    value_eur: Field = None,
    source: Field = None,
) -> Response:
    require_login(principal)
    auth_service.check_csrf(web, csrf_token)
    pledge = service.get_pledge_for_update(session, principal=principal, ref=ref[:64])
    values = {"units": units, "hub": hub, "channel": channel, "status": status}
    update: dict[str, Any] = {
        **cleaned(values, floats=NUMBERS),
        "available": available or None,
        "value_eur": as_number(value_eur),
        "source": source or None,
    }
    try:
        check_if_match(
            etag(int(version)) if version and version.isdigit() else None,
            version=pledge.version,
            what="pledge",
        )
        pledge = service.update_pledge(session, principal=principal, pledge=pledge, pledge_in=PledgeUpdate(**update))
    except (ValidationError, DomainError) as error:
        session.rollback()
        pledge = service.get_pledge(session, principal=principal, ref=ref[:64])
        return render(
            request,
            "pledge.html",
            {
                "principal": principal,
                "pledge": service.present(principal, pledge),
                "editable": True,
                "values": {**values, "available": available, "value_eur": value_eur, "source": source},
                "errors": error_messages(error),
                "saved": False,
                **_form_choices(session, principal),
            },
            status_code=error_status(error),
        )
    return redirect(request, f"/pledges/{pledge.ref}?saved=1")
