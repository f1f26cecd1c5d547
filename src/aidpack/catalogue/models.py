"""Catalogue items: what a pledge offers, and the capability each unit provides."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import Boolean, CheckConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from aidpack.db import Base, Quantity, to_quantity


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
    #: What one unit consumes per day of use, ``CAPABILITY:amount`` (``DIESEL-L:648`` for a 100 kW
    #: generator at 27 l/h); several separated by ``;``. See :func:`aidpack.catalogue.models.parse_consumes`.
    consumes: Mapped[str | None] = mapped_column(String(200))


#: The most one unit may consume per day, in the consumed capability's unit. The hungriest item a relief
#: catalogue holds burns in the tens of thousands (a 2 MW generator: about 12,000 l of diesel a day); a
#: million leaves room for any real one while keeping ``units x rate x days`` of a plan far inside what a
#: need's quantity can store (9.2e12, see ``aidpack.db.Quantity``), so a mistyped ``1e15`` is refused at
#: import rather than overflowing the database when a plan is made.
MAX_CONSUMES_PER_DAY = Decimal(10**6)


def parse_consumes(text: str | None) -> dict[str, Decimal] | None:
    """``"DIESEL-L:648; OIL-L:1.5"`` → ``{"DIESEL-L": 648, "OIL-L": 1.5}``; None when malformed.

    Each amount must be positive, at most :data:`MAX_CONSUMES_PER_DAY` and exact at the stored precision of
    quantities (six decimals, :func:`aidpack.db.to_quantity`).
    """
    if text is None or not text.strip():
        return {}
    result: dict[str, Decimal] = {}
    for part in text.split(";"):
        capability, sep, amount = part.strip().partition(":")
        capability = capability.strip()
        if not sep or not capability or len(capability) > 64 or capability in result:
            return None
        try:
            value = Decimal(amount.strip())
        except ArithmeticError:
            return None
        if not value.is_finite() or value <= 0 or value > MAX_CONSUMES_PER_DAY or to_quantity(value) != value:
            return None
        result[capability] = value
    return result
