"""Organisation schemas."""

from __future__ import annotations

from pydantic import BaseModel

from aidpack.orgs.models import OrgKind


class DonorRead(BaseModel):
    code: str
    name: str
    kind: OrgKind | None
    country: str | None
