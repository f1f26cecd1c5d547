"""`/api/v1/pledges`: list with filters, read by ref (ETag), create, update with If-Match."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from aidpack.auth.deps import CurrentPrincipal, CurrentUser
from aidpack.pledges import service
from aidpack.pledges.models import Channel, PledgeStatus
from aidpack.pledges.schemas import PledgeCreate, PledgePage, PledgeRead, PledgeUpdate
from aidpack.web.deps import SessionDep
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

router = APIRouter(prefix="/pledges", tags=["pledges"])


@router.get("", response_model=PledgePage, responses=READ_ERRORS)
def list_pledges(
    session: SessionDep,
    principal: CurrentPrincipal,
    page: PaginationDep,
    donor: CodeFilter = None,
    item: CodeFilter = None,
    hub: CodeFilter = None,
    status: PledgeStatus | None = None,
    channel: Channel | None = None,
) -> PledgePage:
    """Pledges the caller may see (a donor: its own; staff and recipients: all)."""
    rows, total = service.list_pledges(
        session,
        principal=principal,
        donor=donor,
        item=item,
        hub=hub,
        status=status,
        channel=channel,
        limit=page.limit,
        offset=page.offset,
    )
    return PledgePage(
        items=[service.present(principal, p) for p in rows], total=total, limit=page.limit, offset=page.offset
    )


@router.get("/{ref}", response_model=PledgeRead, responses=READ_ERRORS)
def get_pledge(ref: RefPath, session: SessionDep, principal: CurrentPrincipal, response: Response) -> PledgeRead:
    pledge = service.get_pledge(session, principal=principal, ref=ref)
    set_etag(response, pledge.version)
    return service.present(principal, pledge)


@router.post("", response_model=PledgeRead, status_code=status.HTTP_201_CREATED, responses=WRITE_ERRORS)
def create_pledge(
    pledge_in: PledgeCreate, session: SessionDep, principal: CurrentUser, response: Response
) -> PledgeRead:
    """Donors pledge for their own organisation; coordinators for any donor."""
    pledge = service.create_pledge(session, principal=principal, pledge_in=pledge_in)
    set_etag(response, pledge.version)
    response.headers["Location"] = f"/api/v1/pledges/{pledge.ref}"
    return service.present(principal, pledge)


@router.patch("/{ref}", response_model=PledgeRead, responses=UPDATE_ERRORS)
def update_pledge(
    ref: RefPath,
    pledge_in: PledgeUpdate,
    session: SessionDep,
    principal: CurrentUser,
    response: Response,
    if_match: IfMatch = None,
) -> PledgeRead:
    pledge = service.get_pledge_for_update(session, principal=principal, ref=ref)
    check_if_match(if_match, version=pledge.version, what="pledge")
    pledge = service.update_pledge(session, principal=principal, pledge=pledge, pledge_in=pledge_in)
    set_etag(response, pledge.version)
    return service.present(principal, pledge)
