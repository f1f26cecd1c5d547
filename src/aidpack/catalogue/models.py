"""Catalogue items: what a pledge offers, and the capability each unit provides."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import Boolean, CheckConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from aidpack.db import Base, Quantity


class Item(Base):
    __tablename__ = "items"
    __table_args__ = (CheckConstraint("factor > 0", name="factor_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    name_local: Mapped[str | None] = mapped_column(String(300))
    category: Mapped[str] = mapped_column(String(64))
    unit: Mapped[str] = mapped_column(String(32))
    #: The capability one unit provides (``POWER-KW``), in the capability's own unit.
    provides: Mapped[str] = mapped_column(String(64), index=True)
    factor: Mapped[Decimal] = mapped_column(Quantity)
    indivisible: Mapped[bool] = mapped_column(Boolean)
    unit_value_eur: Mapped[Decimal | None] = mapped_column(Quantity)
