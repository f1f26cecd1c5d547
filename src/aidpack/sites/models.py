"""Sites: facilities that need aid. A restricted site's name and location are sensitive."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import CheckConstraint, Float, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from aidpack.db import Base
from aidpack.enums import enum_column
from aidpack.geography.models import Region
from aidpack.orgs.models import Organisation


class Sensitivity(StrEnum):
    RESTRICTED = "restricted"
    PUBLIC = "public"


class Site(Base):
    __tablename__ = "sites"
    __table_args__ = (CheckConstraint("people_served IS NULL OR people_served >= 0", name="people_nonneg"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    region_id: Mapped[int] = mapped_column(ForeignKey("regions.id"), index=True)
    kind: Mapped[str | None] = mapped_column(String(64))
    people_served: Mapped[int | None] = mapped_column(Integer)
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    sensitivity: Mapped[Sensitivity] = mapped_column(
        enum_column(Sensitivity, "site_sensitivity"), default=Sensitivity.RESTRICTED
    )
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"), index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)

    region: Mapped[Region] = relationship(lazy="joined")
    org: Mapped[Organisation | None] = relationship(lazy="joined")

    __mapper_args__ = {"version_id_col": version}
