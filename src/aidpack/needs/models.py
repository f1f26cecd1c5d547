"""Needs: a recipient's request for an amount of a capability, by a priority tier and a deadline."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from aidpack.db import Base, Quantity
from aidpack.enums import enum_column
from aidpack.geography.models import Region
from aidpack.orgs.models import Organisation
from aidpack.sites.models import Site


class Priority(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


#: Lexicographic order of the tiers, most important first.
TIERS: tuple[Priority, ...] = (Priority.CRITICAL, Priority.HIGH, Priority.MEDIUM, Priority.LOW)


class NeedStatus(StrEnum):
    OPEN = "open"
    CANCELLED = "cancelled"


class Need(Base):
    __tablename__ = "needs"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("people_served IS NULL OR people_served > 0", name="people_positive"),
        # One consumable need per served need and capability (NULLs, every other need, never collide).
        Index("ix_needs_consumed_by_need_id", "consumed_by_need_id", "capability", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ref: Mapped[str] = mapped_column(String(64), unique=True)
    region_id: Mapped[int] = mapped_column(ForeignKey("regions.id"), index=True)
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"), index=True)
    capability: Mapped[str] = mapped_column(String(64), index=True)
    quantity: Mapped[Decimal] = mapped_column(Quantity)
    priority: Mapped[Priority] = mapped_column(enum_column(Priority, "need_priority"))
    deadline: Mapped[dt.date | None] = mapped_column(Date)
    #: As given; ``None`` means "the site's people served, else 1" (see :func:`people_served`).
    people_served: Mapped[int | None] = mapped_column(Integer)
    notes: Mapped[str | None] = mapped_column(Text)
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"), index=True)
    status: Mapped[NeedStatus] = mapped_column(enum_column(NeedStatus, "need_status"), default=NeedStatus.OPEN)
    version: Mapped[int] = mapped_column(Integer, default=1)
    #: Set on a need that ``--with-consumables`` added: the served need whose plan lines consume its
    #: capability (see :mod:`aidpack.allocation.consumables`); ``None`` on every other need.
    consumed_by_need_id: Mapped[int | None] = mapped_column(ForeignKey("needs.id", ondelete="SET NULL"))

    region: Mapped[Region] = relationship(lazy="joined")
    site: Mapped[Site | None] = relationship(lazy="joined")
    org: Mapped[Organisation | None] = relationship(lazy="joined")

    __mapper_args__ = {"version_id_col": version}

    @property
    def effective_people_served(self) -> int:
        if self.people_served is not None:
            return self.people_served
        if self.site is not None and self.site.people_served:
            return self.site.people_served
        return 1
