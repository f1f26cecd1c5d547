"""Plan and line schemas for the API (the plan object follows SPEC §4)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from aidpack.allocation.models import LineStatus, Termination
from aidpack.web.fields import Date, WholeNumber

LineId = Annotated[int, Field(ge=1, le=2**31 - 1), WholeNumber]


class PlanRun(BaseModel):
    model_config = ConfigDict(extra="forbid")

    include_proposed: bool = Field(
        default=False, strict=True, description="Also allocate pledges that are only proposed"
    )
    time_limit: float | None = Field(
        default=None, ge=0.5, le=3600, strict=True, allow_inf_nan=False, description="Seconds per solve"
    )
    plan_date: Date | None = Field(default=None, description="Defaults to the scenario's plan date")


class LineDecision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lines: list[LineId] | None = Field(
        default=None,
        max_length=100_000,
        description="Line ids; omit (or null) for every proposed line of the plan",
    )


class TierRead(BaseModel):
    served: float
    people: float


class PlanLineRead(BaseModel):
    id: str
    pledge: str
    need: str
    units: float
    amount: float
    eta: str
    status: LineStatus


class PlanNeedRead(BaseModel):
    ref: str
    quantity: float
    covered: float
    reason: str | None
    detail: dict[str, Any] | None = Field(default=None, description="Shown to staff only")


class PlanRead(BaseModel):
    plan: str
    status: Termination
    plan_date: str
    tiers: dict[str, TierRead]
    lines: list[PlanLineRead]
    needs: list[PlanNeedRead]
    solve_seconds: float
    gap: float


class PlanSummary(BaseModel):
    id: int
    created_at: dt.datetime
    created_by: str
    plan_date: dt.date
    status: Termination
    gap: float
    solve_seconds: float
    lines: int


class PlanPage(BaseModel):
    items: list[PlanSummary]
    total: int
    limit: int
    offset: int


class LineRead(BaseModel):
    id: int
    plan: int
    pledge: str
    donor: str
    need: str
    region: str
    capability: str
    units: float
    amount: float
    eta: dt.date
    transit_days: int
    status: LineStatus
    shipment: int | None
    received_units: float | None
    version: int


class LinePage(BaseModel):
    items: list[LineRead]
    total: int
    limit: int
    offset: int
