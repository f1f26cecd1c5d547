"""The roles of accounts: standard library only, so that `aidpack user add --role` needs no ORM to parse them."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    COORDINATOR = "coordinator"
    RECIPIENT = "recipient"
    DONOR = "donor"
    VIEWER = "viewer"
