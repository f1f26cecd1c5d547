"""Shipment, receipt, timeline and progress schemas for the API (Pydantic only)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from aidpack.allocation.models import LineStatus
from aidpack.logistics.models import Condition, ShipmentStatus
from aidpack.logistics.status import ProgressStatus
from aidpack.web.fields import MAX_QUANTITY, WholeNumber

LineId = Annotated[int, Field(ge=1, le=2**31 - 1), WholeNumber]
ReceivedUnits = Annotated[float, Field(ge=0, le=MAX_QUANTITY, allow_inf_nan=False, strict=True)]


class ShipmentCreate(BaseModel):
    """Accepted lines of one donor to dispatch as one shipment."""

    model_config = ConfigDict(extra="forbid")

    lines: list[LineId] = Field(min_length=1, max_length=10_000, description="Accepted line ids of one donor")


class ReceivedLine(BaseModel):
    model_config = ConfigDict(extra="forbid")

    line: LineId
    units: ReceivedUnits = Field(description="Units of the line that arrived usable")


class ReceiptCreate(BaseModel):
    """What arrived: lines not named arrived in full; units short (or damaged) become discrepancies."""

    model_config = ConfigDict(extra="forbid")

    lines: list[ReceivedLine] = Field(default_factory=list, max_length=10_000)
    condition: Condition = Condition.GOOD


class ShipmentLineRead(BaseModel):
    id: int
    plan: int
    pledge: str
    need: str
    region: str
    capability: str
    units: float
    amount: float
    eta: dt.date
    status: LineStatus
    received_units: float | None
    condition: str | None


class DiscrepancyRead(BaseModel):
    id: int
    line: int
    units: float
    reason: str


class ShipmentRead(BaseModel):
    id: int
    donor: str
    status: ShipmentStatus
    dispatched_at: dt.datetime
    dispatched_by: str
    delivered_at: dt.datetime | None
    received_at: dt.datetime | None
    received_by: str | None
    condition: Condition | None
    version: int
    lines: list[ShipmentLineRead] = Field(description="The lines of this shipment the caller may see")
    discrepancies: list[DiscrepancyRead]


class ShipmentPage(BaseModel):
    items: list[ShipmentRead]
    total: int
    limit: int
    offset: int


class TimelineEntryRead(BaseModel):
    at: dt.datetime
    action: str = Field(examples=["line.accept"])
    entity: str
    entity_ref: str
    actor: str
    summary: str
    event: int | None = Field(description="The audit event's id (none for a line dated by its plan)")
    source: Literal["audit", "plan"]


class TimelineRead(BaseModel):
    subject: Literal["need", "pledge"]
    ref: str
    entries: list[TimelineEntryRead]


class NeedProgressRead(BaseModel):
    """Commit / transit / fulfil figures of a need, in its capability unit."""

    need: str
    capability: str
    quantity: float
    committed: float
    in_transit: float = Field(description="What lines that left the donor bring, received ones included (shipped)")
    on_the_way: float = Field(description="What has left the donor and is not received yet")
    fulfilled: float
    open: float = Field(description="What is still uncovered: quantity less what fixed lines bring")
    commit_status: ProgressStatus
    transit_status: ProgressStatus
    fulfil_status: ProgressStatus
