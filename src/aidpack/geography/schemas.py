"""Region and hub schemas."""

from __future__ import annotations

from pydantic import BaseModel


class RegionRead(BaseModel):
    code: str
    name: str
    name_local: str | None
    population: int | None
    lat: float
    lon: float


class HubRead(BaseModel):
    code: str
    name: str
    country: str | None
    lat: float
    lon: float
