"""`/api/v1/reports/...`: public, aggregated figures (coverage, gaps, contributions).

Each answer is kept per version of the data (``reports.cache``) and carries that version as its ETag; a GET
with If-None-Match naming it is answered 304 without computing anything."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from aidpack.reports.cache import PublicReportsDep
from aidpack.reports.schemas import ContributionRead, CoverageRead, GapRead, GroupRead
from aidpack.web.deps import SessionDep
from aidpack.web.http import DIGITS, NOT_MODIFIED, PUBLIC_READ_ERRORS, IfNoneMatch, not_modified, set_etag

router = APIRouter(prefix="/reports", tags=["reports"])

RESPONSES = {**NOT_MODIFIED, **PUBLIC_READ_ERRORS}


@router.get("/coverage", response_model=CoverageRead, responses=RESPONSES)
def coverage(
    session: SessionDep, reports: PublicReportsDep, response: Response, if_none_match: IfNoneMatch = None
) -> CoverageRead | Response:
    """Coverage weighted by people served, per tier, category and region (planned and committed)."""
    version = reports.version(session)
    if (unchanged := not_modified(if_none_match, version=version.tag)) is not None:
        return unchanged
    report = reports.coverage(session, version)
    set_etag(response, version.tag)
    return CoverageRead(
        plan=report.plan_id,
        tiers=[GroupRead(**g.to_dict()) for g in report.tiers],
        categories=[GroupRead(**g.to_dict()) for g in report.categories],
        regions=[GroupRead(**g.to_dict()) for g in report.regions],
    )


@router.get("/gaps", response_model=list[GapRead], responses=RESPONSES)
def gaps(
    session: SessionDep,
    reports: PublicReportsDep,
    response: Response,
    limit: Annotated[int, Query(ge=1, le=1000), DIGITS] = 50,
    if_none_match: IfNoneMatch = None,
) -> list[GapRead] | Response:
    """The largest gaps, most important first, aggregated to region, capability, tier and reason."""
    version = reports.version(session)
    if (unchanged := not_modified(if_none_match, version=version.tag)) is not None:
        return unchanged
    set_etag(response, version.tag)
    return [GapRead(**g.to_dict()) for g in reports.coverage(session, version).public_gaps(limit)]


@router.get("/contributions", response_model=list[ContributionRead], responses=RESPONSES)
def contributions(
    session: SessionDep, reports: PublicReportsDep, response: Response, if_none_match: IfNoneMatch = None
) -> list[ContributionRead] | Response:
    """What each donor pledged and how much of it accepted lines hold."""
    version = reports.version(session)
    if (unchanged := not_modified(if_none_match, version=version.tag)) is not None:
        return unchanged
    set_etag(response, version.tag)
    return [ContributionRead(**c.to_dict()) for c in reports.contributions(session, version)]
