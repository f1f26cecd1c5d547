"""Site schemas. A site's name, code and coordinates appear only where the policy allows them."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from aidpack.sites.models import Sensitivity
from aidpack.web.fields import Code, Latitude, Longitude, Name, NonNegativePeople
from aidpack.web.http import Page


class SiteCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: Code
    name: Name
    region: Code
    kind: Name | None = None
    people_served: NonNegativePeople | None = None
    lat: Latitude | None = None
    lon: Longitude | None = None
    sensitivity: Sensitivity = Sensitivity.RESTRICTED
    org: Code | None = Field(
        default=None, description="Owning recipient organisation (staff only; others get their own)"
    )


class SiteUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    kind: Name | None = None
    people_served: NonNegativePeople | None = None
    lat: Latitude | None = None
    lon: Longitude | None = None
    sensitivity: Sensitivity | None = None


class SiteRead(BaseModel):
    code: str
    name: str
    region: str
    kind: str | None
    people_served: int | None
    lat: float | None
    lon: float | None
    sensitivity: Sensitivity
    org: str | None
    version: int


SitePage = Page[SiteRead]


class SiteRef(BaseModel):
    """A need's site as a caller may see it: its name and code, or only that there is one."""

    code: str | None = None
    name: str | None = None
    restricted: bool
