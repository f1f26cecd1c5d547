"""Need schemas: NeedCreate, NeedUpdate, NeedRead, NeedPage."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from aidpack.needs.models import NeedStatus, Priority
from aidpack.sites.schemas import SiteRef
from aidpack.web.fields import Code, Date, People, PositiveQuantity, Text
from aidpack.web.http import Page


class NeedCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ref: Code
    region: Code = Field(description="ISO 3166-2 code, e.g. UA-63")
    site: Code | None = None
    capability: Code = Field(description="What is needed, in its own unit (POWER-KW, DIESEL-L, WINTER-KIT)")
    quantity: PositiveQuantity
    priority: Priority
    deadline: Date | None = None
    people_served: People | None = None
    notes: Text | None = None
    org: Code | None = Field(default=None, description="Recipient organisation (staff only; others get their own)")


class NeedUpdate(BaseModel):
    """Only the fields sent are changed; ``deadline`` and ``people_served`` may be set to null."""

    model_config = ConfigDict(extra="forbid")

    quantity: PositiveQuantity | None = None
    priority: Priority | None = None
    deadline: Date | None = None
    people_served: People | None = None
    notes: Text | None = None
    status: NeedStatus | None = None


class NeedRead(BaseModel):
    ref: str
    region: str
    region_name: str
    capability: str
    quantity: float
    priority: Priority
    deadline: str | None
    status: NeedStatus
    site: SiteRef | None = None
    people_served: int | None = Field(default=None, description="Shown to staff and the owning recipient")
    notes: str | None = Field(default=None, description="Shown to staff and the owning recipient")
    org: str | None = None
    version: int


NeedPage = Page[NeedRead]
