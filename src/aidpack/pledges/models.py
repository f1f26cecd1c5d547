"""Pledges: a donor's offer of units of a catalogue item at a hub."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import CheckConstraint, Date, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from aidpack.catalogue.models import Item
from aidpack.db import Base, Quantity
from aidpack.enums import enum_column
from aidpack.geography.models import Hub
from aidpack.orgs.models import Organisation


class Channel(StrEnum):
    BILATERAL = "bilateral"
    NATO_CAP = "nato-cap"
    EU_UCPM = "eu-ucpm"
    OTHER = "other"


class PledgeStatus(StrEnum):
    PROPOSED = "proposed"
    CONFIRMED = "confirmed"
    WITHDRAWN = "withdrawn"


class Pledge(Base):
    __tablename__ = "pledges"
    __table_args__ = (
        CheckConstraint("units > 0", name="units_positive"),
        CheckConstraint("committed_units >= 0", name="committed_nonneg"),
        # The backstop against over-use: accepted (or later) lines never exceed the pledge.
        CheckConstraint("committed_units <= units", name="committed_within_units"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ref: Mapped[str] = mapped_column(String(64), unique=True)
    donor_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), index=True)
    units: Mapped[Decimal] = mapped_column(Quantity)
    available: Mapped[dt.date | None] = mapped_column(Date)
    hub_id: Mapped[int] = mapped_column(ForeignKey("hubs.id"), index=True)
    channel: Mapped[Channel] = mapped_column(enum_column(Channel, "pledge_channel"), default=Channel.OTHER)
    status: Mapped[PledgeStatus] = mapped_column(
        enum_column(PledgeStatus, "pledge_status"), default=PledgeStatus.CONFIRMED
    )
    value_eur: Mapped[Decimal | None] = mapped_column(Quantity)
    source: Mapped[str | None] = mapped_column(Text)
    #: Units held by lines that are accepted or later; reserved by a conditional UPDATE.
    committed_units: Mapped[Decimal] = mapped_column(Quantity, default=Decimal(0))
    version: Mapped[int] = mapped_column(Integer, default=1)

    donor: Mapped[Organisation] = relationship(lazy="joined")
    item: Mapped[Item] = relationship(lazy="joined")
    hub: Mapped[Hub] = relationship(lazy="joined")

    __mapper_args__ = {"version_id_col": version}
