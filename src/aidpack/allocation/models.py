"""Plans (one run of the engine), their lines, and the per-need outcome with its reason."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Column, Date, Float, ForeignKey, Integer, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from aidpack.db import Base, Quantity, UTCDateTime, utcnow
from aidpack.enums import enum_column
from aidpack.needs.models import Need
from aidpack.pledges.models import Pledge


class Termination(StrEnum):
    """Our own solver outcome; every HiGHS status maps to one of these."""

    OPTIMAL = "optimal"
    TIME_LIMIT = "time_limit"
    INFEASIBLE = "infeasible"
    ERROR = "error"


class LineStatus(StrEnum):
    PROPOSED = "proposed"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    DISPATCHED = "dispatched"
    DELIVERED = "delivered"
    RECEIVED = "received"


#: Lines in these statuses are fixed: their units are committed and their amounts count for their needs.
FIXED_LINE_STATUSES: frozenset[LineStatus] = frozenset(
    {LineStatus.ACCEPTED, LineStatus.DISPATCHED, LineStatus.DELIVERED, LineStatus.RECEIVED}
)

ALLOWED_LINE_TRANSITIONS: dict[LineStatus, frozenset[LineStatus]] = {
    LineStatus.PROPOSED: frozenset({LineStatus.ACCEPTED, LineStatus.REJECTED}),
    LineStatus.ACCEPTED: frozenset({LineStatus.DISPATCHED}),
    LineStatus.DISPATCHED: frozenset({LineStatus.DELIVERED, LineStatus.RECEIVED}),
    LineStatus.DELIVERED: frozenset({LineStatus.RECEIVED}),
    LineStatus.REJECTED: frozenset(),
    LineStatus.RECEIVED: frozenset(),
}


def delivered_amount(amount: Decimal, units: Decimal, received_units: Decimal | None) -> Decimal:
    """What a line brings to its need: its amount, or the received share of it once received."""
    if received_units is None:
        return amount
    return amount * received_units / units


class ShortReason(StrEnum):
    NO_SUPPLY = "no_supply"
    TOO_LATE = "too_late"
    OUTCOMPETED = "outcompeted"
    SHORT_SUPPLY = "short_supply"


plan_kept_lines = Table(
    "plan_kept_lines",
    Base.metadata,
    Column("plan_id", ForeignKey("plans.id", ondelete="CASCADE"), primary_key=True),
    Column("line_id", ForeignKey("lines.id", ondelete="CASCADE"), primary_key=True),
)


class Plan(Base):
    __tablename__ = "plans"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200))
    plan_date: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[Termination] = mapped_column(enum_column(Termination, "plan_status"))
    #: Parameters and solver options as run (time limit, include_proposed, tolerances, seed).
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    #: SHA-256 over the canonical inputs, so that a plan can be matched to the data it saw.
    inputs_hash: Mapped[str] = mapped_column(String(64))
    solve_seconds: Mapped[float] = mapped_column(Float)
    gap: Mapped[float] = mapped_column(Float)
    #: ``{"critical": {"served": .., "people": ..}, ...}``
    tiers: Mapped[dict[str, Any]] = mapped_column(JSON)
    #: Engine figures (blocks, edges, variables, per-solve log) for diagnosis.
    figures: Mapped[dict[str, Any]] = mapped_column(JSON)

    lines: Mapped[list[Line]] = relationship(back_populates="plan", order_by="Line.id")
    kept_lines: Mapped[list[Line]] = relationship(secondary=plan_kept_lines, order_by="Line.id", viewonly=True)
    outcomes: Mapped[list[PlanNeed]] = relationship(order_by="PlanNeed.need_id", cascade="all, delete-orphan")


class Line(Base):
    __tablename__ = "lines"
    __table_args__ = (
        CheckConstraint("units > 0", name="units_positive"),
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("received_units IS NULL OR received_units >= 0", name="received_nonneg"),
        CheckConstraint("received_units IS NULL OR received_units <= units", name="received_within_units"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id"), index=True)
    pledge_id: Mapped[int] = mapped_column(ForeignKey("pledges.id"), index=True)
    need_id: Mapped[int] = mapped_column(ForeignKey("needs.id"), index=True)
    units: Mapped[Decimal] = mapped_column(Quantity)
    #: units × factor, in the need's capability unit.
    amount: Mapped[Decimal] = mapped_column(Quantity)
    eta: Mapped[dt.date] = mapped_column(Date)
    transit_days: Mapped[int] = mapped_column(Integer)
    status: Mapped[LineStatus] = mapped_column(
        enum_column(LineStatus, "line_status"), default=LineStatus.PROPOSED, index=True
    )
    shipment_id: Mapped[int | None] = mapped_column(ForeignKey("shipments.id"), index=True)
    received_units: Mapped[Decimal | None] = mapped_column(Quantity)
    condition: Mapped[str | None] = mapped_column(String(16))
    decided_by: Mapped[str | None] = mapped_column(String(200))
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    version: Mapped[int] = mapped_column(Integer, default=1)

    plan: Mapped[Plan] = relationship(back_populates="lines")
    pledge: Mapped[Pledge] = relationship(lazy="joined")
    need: Mapped[Need] = relationship(lazy="joined")

    __mapper_args__ = {"version_id_col": version}

    @property
    def delivered_amount(self) -> Decimal:
        """What this line brings to its need: the received part once received, else its amount."""
        return delivered_amount(self.amount, self.units, self.received_units)


class PlanNeed(Base):
    """A need as the plan saw it: open quantity, what fixed and new lines cover, why it is short."""

    __tablename__ = "plan_needs"

    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id", ondelete="CASCADE"), primary_key=True)
    need_id: Mapped[int] = mapped_column(ForeignKey("needs.id"), primary_key=True)
    open_quantity: Mapped[Decimal] = mapped_column(Quantity)
    covered_fixed: Mapped[Decimal] = mapped_column(Quantity)
    covered_new: Mapped[Decimal] = mapped_column(Quantity)
    reason: Mapped[ShortReason | None] = mapped_column(enum_column(ShortReason, "short_reason"))
    #: ``{"earliest_eta": "..."}`` for too_late, ``{"taken_by": [refs]}`` for outcompeted.
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    note: Mapped[str | None] = mapped_column(Text)

    need: Mapped[Need] = relationship(lazy="joined")
