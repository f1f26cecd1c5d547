"""Needs pages: the list with filters, the form to add one, a need with its edit form."""

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
from aidpack.needs import service
from aidpack.needs.models import TIERS, NeedStatus, Priority
from aidpack.needs.schemas import NeedCreate, NeedUpdate
from aidpack.needs.service import NeedSort
from aidpack.reports import lookups
from aidpack.reports import service as reports_service
from aidpack.sites import service as sites_service
from aidpack.web.deps import SessionDep
from aidpack.web.fields import CODE_PATTERN
from aidpack.web.forms import as_number, cleaned, error_messages, error_status, require_login
from aidpack.web.http import OffsetQuery, check_if_match, etag
from aidpack.web.templating import redirect, render

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50
Field = Annotated[str | None, Form(max_length=4000)]
NUMBERS = frozenset({"quantity"})
INTEGERS = frozenset({"people_served"})


def _parse_enum(value: str | None, enum: type[Priority] | type[NeedStatus]) -> Any:
    try:
        return enum(value) if value else None
    except ValueError:
        return None


def _form_choices(session: Session, principal: Principal) -> dict[str, Any]:
    sites: list[Any] = []
    if policy.allows(principal, Action.READ_SITES):
        rows, _ = sites_service.list_sites(session, principal=principal, limit=1000)
        sites = [s for s in rows if principal.is_staff or s.org_id == principal.org_id]
    return {
        "regions": lookups.list_regions(session),
        "sites": sites,
        "capabilities": sorted(lookups.capability_categories(session)),
        "recipient_orgs": lookups.list_recipient_orgs(session) if principal.is_staff else [],
        "tiers": TIERS,
    }


def _parse_sort(value: str | None) -> NeedSort:
    try:
        return NeedSort(value.removeprefix("-")) if value else NeedSort.REF
    except ValueError:
        return NeedSort.REF


@router.get("/needs")
def needs_list(
    request: Request,
    session: SessionDep,
    principal: PagePrincipal,
    region: str | None = None,
    priority: str | None = None,
    status: str | None = None,
    sort: str | None = None,
    offset: OffsetQuery = 0,
) -> Response:
    """The needs this account may see, 50 a page, filtered, ordered by a column (``sort=coverage``, or
    ``sort=-coverage`` for the reverse), each with its coverage."""
    require_login(principal)
    region_code = region if region and len(region) <= 64 else None
    descending = bool(sort and sort.startswith("-"))
    order = _parse_sort(sort)
    rows, total = service.list_needs(
        session,
        principal=principal,
        region=region_code,
        priority=_parse_enum(priority, Priority),
        status=_parse_enum(status, NeedStatus),
        sort=order,
        descending=descending,
        limit=PAGE_SIZE,
        offset=max(offset, 0),
    )
    shares = reports_service.need_shares(session, rows)
    return render(
        request,
        "needs.html",
        {
            "principal": principal,
            "needs": [service.present(principal, n) for n in rows],
            "shares": [shares[n.id] for n in rows],
            "sort": order.value,
            "descending": descending,
            "total": total,
            "offset": max(offset, 0),
            "page_size": PAGE_SIZE,
            "filters": {"region": region_code or "", "priority": priority or "", "status": status or ""},
            "regions": lookups.list_regions(session),
            "tiers": TIERS,
            "statuses": list(NeedStatus),
            "can_create": policy.allows(principal, Action.WRITE_NEEDS),
        },
    )


@router.get("/needs/new")
def need_new(request: Request, session: SessionDep, principal: PagePrincipal) -> Response:
    require_login(principal)
    policy.require(principal, Action.WRITE_NEEDS)
    return render(
        request,
        "need_form.html",
        {
            "principal": principal,
            "need": None,
            "values": {"priority": "high"},
            "errors": [],
            "code_pattern": CODE_PATTERN,
            **_form_choices(session, principal),
        },
    )


@router.post("/needs")
def need_create(
    request: Request,
    session: SessionDep,
    principal: PagePrincipal,
    web: WebSessionDep,
    csrf_token: Field = None,
    ref: Field = None,
    region: Field = None,
    site: Field = None,
    capability: Field = None,
    quantity: Field = None,
    priority: Field = None,
    deadline: Field = None,
    people_served: Field = None,
    notes: Field = None,
    org: Field = None,
) -> Response:
    require_login(principal)
    auth_service.check_csrf(web, csrf_token)
    values = {
        "ref": ref,
        "region": region,
        "site": site,
        "capability": capability,
        "quantity": quantity,
        "priority": priority,
        "deadline": deadline,
        "people_served": people_served,
        "notes": notes,
        "org": org,
    }
    try:
        need = service.create_need(
            session, principal=principal, need_in=NeedCreate(**cleaned(values, floats=NUMBERS, ints=INTEGERS))
        )
    except (ValidationError, DomainError) as error:
        session.rollback()
        return render(
            request,
            "need_form.html",
            {
                "principal": principal,
                "need": None,
                "values": values,
                "errors": error_messages(error),
                "code_pattern": CODE_PATTERN,
                **_form_choices(session, principal),
            },
            status_code=error_status(error),
        )
    return redirect(request, f"/needs/{need.ref}?saved=1")


@router.get("/needs/{ref}")
def need_page(request: Request, ref: str, session: SessionDep, principal: PagePrincipal) -> Response:
    require_login(principal)
    need = service.get_need(session, principal=principal, ref=ref[:64])
    shown = service.present(principal, need)
    return render(
        request,
        "need.html",
        {
            "principal": principal,
            "need": shown,
            "editable": policy.need_editable(principal, need),
            "values": {},
            "errors": [],
            "saved": request.query_params.get("saved") == "1",
            "statuses": list(NeedStatus),
            "tiers": TIERS,
            "people_given": need.people_served if policy.need_full_detail(principal, need) else None,
        },
    )


@router.post("/needs/{ref}")
def need_update(
    request: Request,
    ref: str,
    session: SessionDep,
    principal: PagePrincipal,
    web: WebSessionDep,
    csrf_token: Field = None,
    version: Field = None,
    quantity: Field = None,
    priority: Field = None,
    deadline: Field = None,
    people_served: Field = None,
    notes: Field = None,
    status: Field = None,
) -> Response:
    require_login(principal)
    auth_service.check_csrf(web, csrf_token)
    need = service.get_need_for_update(session, principal=principal, ref=ref[:64])
    values = {"quantity": quantity, "priority": priority, "status": status}
    # Blank optional fields clear the value; blank required ones leave it as it is.
    update: dict[str, Any] = {
        **cleaned(values, floats=NUMBERS),
        "deadline": deadline or None,
        "people_served": as_number(people_served, integer=True),
        "notes": notes or None,
    }
    try:
        check_if_match(etag(int(version)) if version and version.isdigit() else None, version=need.version, what="need")
        need = service.update_need(session, principal=principal, need=need, need_in=NeedUpdate(**update))
    except (ValidationError, DomainError) as error:
        session.rollback()
        need = service.get_need(session, principal=principal, ref=ref[:64])
        return render(
            request,
            "need.html",
            {
                "principal": principal,
                "need": service.present(principal, need),
                "editable": True,
                "values": {**values, "deadline": deadline, "people_served": people_served, "notes": notes},
                "errors": error_messages(error),
                "saved": False,
                "statuses": list(NeedStatus),
                "tiers": TIERS,
            },
            status_code=error_status(error),
        )
    return redirect(request, f"/needs/{need.ref}?saved=1")
