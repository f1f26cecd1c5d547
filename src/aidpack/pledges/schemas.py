"""Pledge schemas: PledgeCreate, PledgeUpdate, PledgeRead, PledgePage."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from aidpack.pledges.models import Channel, PledgeStatus
from aidpack.web.fields import Code, Date, Money, PositiveQuantity, Text
from aidpack.web.http import Page


class PledgeCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ref: Code
    donor: Code | None = Field(default=None, description="Donor code (staff only; a donor pledges for itself)")
    item: Code
    units: PositiveQuantity
    available: Date | None = None
    hub: Code
    channel: Channel = Channel.OTHER
    status: PledgeStatus = PledgeStatus.CONFIRMED
    value_eur: Money | None = None
    source: Text | None = None


class PledgeUpdate(BaseModel):
    """Only the fields sent are changed; ``available``, ``value_eur`` and ``source`` may be set to null."""

    model_config = ConfigDict(extra="forbid")

    units: PositiveQuantity | None = None
    available: Date | None = None
    hub: Code | None = None
    channel: Channel | None = None
    status: PledgeStatus | None = None
    value_eur: Money | None = None
    source: Text | None = None


class PledgeRead(BaseModel):
    ref: str
    donor: str
    donor_name: str
    item: str
    item_name: str
    units: float
    committed_units: float
    available: str | None
    hub: str
    channel: Channel
    status: PledgeStatus
    value_eur: float | None
    source: str | None
    version: int


PledgePage = Page[PledgeRead]
