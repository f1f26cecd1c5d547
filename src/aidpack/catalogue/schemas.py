"""Catalogue schemas."""

from __future__ import annotations

from pydantic import BaseModel

from aidpack.web.http import Page


class ItemRead(BaseModel):
    code: str
    name: str
    name_local: str | None
    category: str
    unit: str
    provides: str
    factor: float
    indivisible: bool
    unit_value_eur: float | None


ItemPage = Page[ItemRead]
