"""`/api/v1/reports/...`: public, aggregated figures (coverage, gaps, contributions)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from aidpack.reports import service
from aidpack.reports.schemas import ContributionRead, CoverageRead, GapRead, GroupRead
from aidpack.web.deps import SessionDep
from aidpack.web.http import PUBLIC_READ_ERRORS

router = APIRouter(prefix="/reports", tags=["reports"])


@router.get("/coverage", response_model=CoverageRead, responses=PUBLIC_READ_ERRORS)
def coverage(session: SessionDep) -> CoverageRead:
    """Coverage weighted by people served, per tier, category and region (planned and committed)."""
    report = service.coverage(session)
    return CoverageRead(
        plan=report.plan_id,
        tiers=[GroupRead(**g.to_dict()) for g in report.tiers],
        categories=[GroupRead(**g.to_dict()) for g in report.categories],
        regions=[GroupRead(**g.to_dict()) for g in report.regions],
    )


@router.get("/gaps", response_model=list[GapRead], responses=PUBLIC_READ_ERRORS)
def gaps(session: SessionDep, limit: Annotated[int, Query(ge=1, le=1000)] = 50) -> list[GapRead]:
    """The largest gaps, most important first, aggregated to region, capability, tier and reason."""
    return [GapRead(**g.to_dict()) for g in service.coverage(session).public_gaps(limit)]


@router.get("/contributions", response_model=list[ContributionRead], responses=PUBLIC_READ_ERRORS)
def contributions(session: SessionDep) -> list[ContributionRead]:
    return [ContributionRead(**c.to_dict()) for c in service.contributions(session)]
