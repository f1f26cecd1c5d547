"""A shipment's condition on arrival: standard library only, so that `aidpack receive --condition` needs no ORM to
parse it."""

from __future__ import annotations

from enum import StrEnum


class Condition(StrEnum):
    GOOD = "good"
    DAMAGED = "damaged"
