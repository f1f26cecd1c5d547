"""Shipments of accepted lines, and the discrepancies a short or damaged receipt leaves."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from aidpack.db import Base, Quantity, UTCDateTime, utcnow
from aidpack.enums import enum_column
from aidpack.logistics.conditions import Condition as Condition  # defined without the ORM (for the CLI)


class ShipmentStatus(StrEnum):
    DISPATCHED = "dispatched"
    DELIVERED = "delivered"
    RECEIVED = "received"


class DiscrepancyReason(StrEnum):
    """Why units of a line did not arrive usable: ``short`` (missing), ``damaged`` (arrived unusable)."""

    SHORT = "short"
    DAMAGED = "damaged"


class Shipment(Base):
    __tablename__ = "shipments"

    id: Mapped[int] = mapped_column(primary_key=True)
    donor_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    status: Mapped[ShipmentStatus] = mapped_column(
        enum_column(ShipmentStatus, "shipment_status"), default=ShipmentStatus.DISPATCHED
    )
    dispatched_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    dispatched_by: Mapped[str] = mapped_column(String(200))
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    received_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    received_by: Mapped[str | None] = mapped_column(String(200))
    condition: Mapped[Condition | None] = mapped_column(enum_column(Condition, "shipment_condition"))
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


class Discrepancy(Base):
    __tablename__ = "discrepancies"
    __table_args__ = (CheckConstraint("units > 0", name="units_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shipment_id: Mapped[int] = mapped_column(ForeignKey("shipments.id"), index=True)
    line_id: Mapped[int] = mapped_column(ForeignKey("lines.id"), index=True)
    units: Mapped[Decimal] = mapped_column(Quantity)
    reason: Mapped[str] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
