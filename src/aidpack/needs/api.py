"""`/api/v1/needs`: list with filters, read by ref (ETag), create, update with If-Match."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from aidpack.auth.deps import CurrentPrincipal, CurrentUser
from aidpack.needs import service
from aidpack.needs.models import NeedStatus, Priority
from aidpack.needs.schemas import NeedCreate, NeedPage, NeedRead, NeedUpdate
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

router = APIRouter(prefix="/needs", tags=["needs"])


@router.get("", response_model=NeedPage, responses=READ_ERRORS)
def list_needs(
    session: SessionDep,
    principal: CurrentPrincipal,
    page: PaginationDep,
    region: CodeFilter = None,
    priority: Priority | None = None,
    status: NeedStatus | None = None,
    capability: CodeFilter = None,
) -> NeedPage:
    """Needs the caller may see one by one (staff: all; a recipient: its own; a donor: those it feeds)."""
    rows, total = service.list_needs(
        session,
        principal=principal,
        region=region,
        priority=priority,
        status=status,
        capability=capability,
        limit=page.limit,
        offset=page.offset,
    )
    return NeedPage(
        items=[service.present(principal, n) for n in rows], total=total, limit=page.limit, offset=page.offset
    )


@router.get("/{ref}", response_model=NeedRead, responses=READ_ERRORS)
def get_need(ref: RefPath, session: SessionDep, principal: CurrentPrincipal, response: Response) -> NeedRead:
    need = service.get_need(session, principal=principal, ref=ref)
    set_etag(response, need.version)
    return service.present(principal, need)


@router.post("", response_model=NeedRead, status_code=status.HTTP_201_CREATED, responses=WRITE_ERRORS)
def create_need(need_in: NeedCreate, session: SessionDep, principal: CurrentUser, response: Response) -> NeedRead:
    """Recipients create needs for their own organisation; coordinators for any."""
    need = service.create_need(session, principal=principal, need_in=need_in)
    set_etag(response, need.version)
    response.headers["Location"] = f"/api/v1/needs/{need.ref}"
    return service.present(principal, need)


@router.patch("/{ref}", response_model=NeedRead, responses=UPDATE_ERRORS)
def update_need(
    ref: RefPath,
    need_in: NeedUpdate,
    session: SessionDep,
    principal: CurrentUser,
    response: Response,
    if_match: IfMatch = None,
) -> NeedRead:
    need = service.get_need_for_update(session, principal=principal, ref=ref)
    check_if_match(if_match, version=need.version, what="need")
    need = service.update_need(session, principal=principal, need=need, need_in=need_in)
    set_etag(response, need.version)
    return service.present(principal, need)
