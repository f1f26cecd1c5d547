"""Accounts: one role each, an organisation scope for donors and recipients."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from aidpack.db import Base, UTCDateTime, utcnow
from aidpack.enums import enum_column
from aidpack.orgs.models import Organisation


class Role(StrEnum):
    ADMIN = "admin"
    COORDINATOR = "coordinator"
    RECIPIENT = "recipient"
    DONOR = "donor"
    VIEWER = "viewer"


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(enum_column(Role, "user_role"))
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: When the user last signed out: every web session signed in before it is void (the session lives in a signed
    #: cookie, which a copy would otherwise keep alive until it expires).
    signed_out_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    org: Mapped[Organisation | None] = relationship(lazy="joined")
