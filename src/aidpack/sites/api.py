"""`/api/v1/sites`: only the sites a caller may see (restricted ones: staff and the owning recipient)."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from aidpack.auth.deps import CurrentPrincipal, CurrentUser
from aidpack.sites import service
from aidpack.sites.models import Sensitivity
from aidpack.sites.schemas import SiteCreate, SitePage, SiteRead, SiteUpdate
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

router = APIRouter(prefix="/sites", tags=["sites"])


@router.get("", response_model=SitePage, responses=READ_ERRORS)
def list_sites(
    session: SessionDep,
    principal: CurrentPrincipal,
    page: PaginationDep,
    region: CodeFilter = None,
    sensitivity: Sensitivity | None = None,
) -> SitePage:
    rows, total = service.list_sites(
        session,
        principal=principal,
        region=region,
        sensitivity=sensitivity,
        limit=page.limit,
        offset=page.offset,
    )
    return SitePage(
        items=[service.present(principal, s) for s in rows], total=total, limit=page.limit, offset=page.offset
    )


@router.get("/{code}", response_model=SiteRead, responses=READ_ERRORS)
def get_site(code: RefPath, session: SessionDep, principal: CurrentPrincipal, response: Response) -> SiteRead:
    site = service.get_site(session, principal=principal, code=code)
    set_etag(response, site.version)
    return service.present(principal, site)


@router.post("", response_model=SiteRead, status_code=status.HTTP_201_CREATED, responses=WRITE_ERRORS)
def create_site(site_in: SiteCreate, session: SessionDep, principal: CurrentUser, response: Response) -> SiteRead:
    site = service.create_site(session, principal=principal, site_in=site_in)
    set_etag(response, site.version)
    response.headers["Location"] = f"/api/v1/sites/{site.code}"
    return service.present(principal, site)


@router.patch("/{code}", response_model=SiteRead, responses=UPDATE_ERRORS)
def update_site(
    code: RefPath,
    site_in: SiteUpdate,
    session: SessionDep,
    principal: CurrentUser,
    response: Response,
    if_match: IfMatch = None,
) -> SiteRead:
    site = service.get_site_for_update(session, principal=principal, code=code)
    check_if_match(if_match, version=site.version, what="site")
    site = service.update_site(session, principal=principal, site=site, site_in=site_in)
    set_etag(response, site.version)
    return service.present(principal, site)
