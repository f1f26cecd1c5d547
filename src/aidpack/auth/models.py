"""Accounts: one role each, an organisation scope for donors and recipients; the sign-in throttle's counters."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from aidpack.auth.roles import Role as Role  # defined without the ORM (for the CLI)
from aidpack.db import Base, UTCDateTime, utcnow
from aidpack.enums import enum_column
from aidpack.orgs.models import Organisation


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(enum_column(Role, "user_role"))
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: When the user last signed out: every web session signed in before it is void (the session lives in a signed
    #: cookie, which a copy would otherwise keep alive until it expires).
    signed_out_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    org: Mapped[Organisation | None] = relationship(lazy="joined")


class ThrottleScope(StrEnum):
    """What one row of failed sign-ins counts (see :mod:`aidpack.auth.throttle`)."""

    #: One e-mail (with an account or without one) from one client.
    EMAIL_CLIENT = "email_client"
    #: One client, whatever e-mails it tries.
    CLIENT = "client"
    #: One e-mail, from every client together.
    EMAIL = "email"


class SignInThrottle(Base):
    """Failed sign-ins counted in the current window, and the lock they set, for one scope's key.

    Kept in the database, not in a process, so that every worker of the server counts the same failures.
    ``email_key`` is the SHA-256 of the normalised e-mail ('' for the client scope): e-mails typed by anyone,
    with an account or without one, are not kept as they were typed. ``client`` is the client's address (a
    network for IPv6; '' for the e-mail scope).
    """

    __tablename__ = "sign_in_throttles"
    __table_args__ = (
        UniqueConstraint("scope", "email_key", "client", name="uq_sign_in_throttles_key"),
        CheckConstraint("failures >= 0", name="failures_nonneg"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[ThrottleScope] = mapped_column(enum_column(ThrottleScope, "throttle_scope"))
    email_key: Mapped[str] = mapped_column(String(64))
    client: Mapped[str] = mapped_column(String(64))
    failures: Mapped[int] = mapped_column(Integer)
    #: When the first failure counted in ``failures`` happened; failures older than the window are forgotten.
    window_start: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    locked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: When the row means nothing any more (its window and its lock are over): it may then be deleted.
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
