"""Organisations: donors (``donors.csv``) and recipient authorities that own sites and needs."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import Boolean, String
from sqlalchemy.orm import Mapped, mapped_column

from aidpack.db import Base
from aidpack.enums import enum_column


class OrgKind(StrEnum):
    STATE = "state"
    MULTILATERAL = "multilateral"
    NGO = "ngo"
    PRIVATE = "private"
    AUTHORITY = "authority"


class Organisation(Base):
    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    kind: Mapped[OrgKind | None] = mapped_column(enum_column(OrgKind, "org_kind"))
    country: Mapped[str | None] = mapped_column(String(8))
    is_donor: Mapped[bool] = mapped_column(Boolean, default=False)
    is_recipient: Mapped[bool] = mapped_column(Boolean, default=False)
