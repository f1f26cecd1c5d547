"""Public report schemas: aggregated to tier, category and region; never a site."""

from __future__ import annotations

from pydantic import BaseModel


class GroupRead(BaseModel):
    key: str
    label: str
    needs: int
    people: int
    fully_covered: int
    planned: float
    committed: float


class CoverageRead(BaseModel):
    plan: int | None
    tiers: list[GroupRead]
    categories: list[GroupRead]
    regions: list[GroupRead]


class GapRead(BaseModel):
    region: str
    region_name: str
    capability: str
    category: str
    tier: str
    reason: str | None
    needs: int
    shortfall: float
    people_short: float


class ContributionRead(BaseModel):
    donor: str
    name: str
    pledges: int
    value_eur: float
    value_committed_eur: float
    lines_committed: int
    lines_received: int
    categories: list[str]
