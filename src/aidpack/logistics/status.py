"""Per-need commit / transit / fulfil status (none, partial, complete), as Sahana Eden keeps it.

- committed: what fixed lines (accepted or later) bring to the need;
- in transit: what lines that left the donor (dispatched, delivered, received) bring (Sahana Eden's
  transit status: what was shipped); ``on_the_way`` is the part not received yet;
- fulfilled: what was received.

Every figure counts a line's *delivered amount*: its amount, or only the received part once it was
received, so a short receipt lowers all three and the need's open quantity grows back by exactly the
amount that did not arrive.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from aidpack.allocation.models import FIXED_LINE_STATUSES, Line, LineStatus, delivered_amount
from aidpack.needs.models import Need

#: Lines whose goods have left the donor.
TRANSIT_LINE_STATUSES: frozenset[LineStatus] = frozenset(
    {LineStatus.DISPATCHED, LineStatus.DELIVERED, LineStatus.RECEIVED}
)

#: Bound parameters per ``IN (...)`` query (SQLite allows 32766).
CHUNK = 5000

ZERO = Decimal(0)


class ProgressStatus(StrEnum):
    NONE = "none"
    PARTIAL = "partial"
    COMPLETE = "complete"


def progress_status(amount: Decimal, quantity: Decimal) -> ProgressStatus:
    if amount <= 0:
        return ProgressStatus.NONE
    if amount >= quantity:
        return ProgressStatus.COMPLETE
    return ProgressStatus.PARTIAL


@dataclass(frozen=True)
class NeedProgress:
    need_id: int
    need_ref: str
    quantity: Decimal
    committed: Decimal
    in_transit: Decimal
    fulfilled: Decimal
    commit_status: ProgressStatus
    transit_status: ProgressStatus
    fulfil_status: ProgressStatus

    @property
    def on_the_way(self) -> Decimal:
        """What has left the donor and is not received yet (``in_transit`` also counts what was received)."""
        return self.in_transit - self.fulfilled

    @property
    def open_quantity(self) -> Decimal:
        """What is still uncovered: quantity less what fixed lines bring (never negative)."""
        return max(self.quantity - self.committed, ZERO)

    def to_dict(self) -> dict[str, str | int | float]:
        return {
            "need_id": self.need_id,
            "need": self.need_ref,
            "quantity": float(self.quantity),
            "committed": float(self.committed),
            "in_transit": float(self.in_transit),
            "on_the_way": float(self.on_the_way),
            "fulfilled": float(self.fulfilled),
            "open": float(self.open_quantity),
            "commit_status": self.commit_status.value,
            "transit_status": self.transit_status.value,
            "fulfil_status": self.fulfil_status.value,
        }


def _chunks(ids: Sequence[int]) -> Iterable[Sequence[int]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]


def progress_for_needs(session: Session, need_ids: Iterable[int]) -> dict[int, NeedProgress]:
    """Progress of many needs with two queries per chunk (column reads, never stale ORM state)."""
    ids = sorted(set(need_ids))
    needs: dict[int, tuple[str, Decimal]] = {}
    sums: dict[int, list[Decimal]] = {}
    for chunk in _chunks(ids):
        for need_id, ref, quantity in session.execute(
            select(Need.id, Need.ref, Need.quantity).where(Need.id.in_(chunk))
        ):
            needs[need_id] = (ref, quantity)
            sums[need_id] = [ZERO, ZERO, ZERO]
        rows = session.execute(
            select(Line.need_id, Line.status, Line.amount, Line.units, Line.received_units).where(
                Line.need_id.in_(chunk), Line.status.in_(list(FIXED_LINE_STATUSES))
            )
        )
        for need_id, status, amount, units, received_units in rows:
            brought = delivered_amount(amount, units, received_units)
            acc = sums[need_id]
            acc[0] += brought
            if status in TRANSIT_LINE_STATUSES:
                acc[1] += brought
            if status == LineStatus.RECEIVED:
                acc[2] += brought
    result: dict[int, NeedProgress] = {}
    for need_id, (ref, quantity) in needs.items():
        committed, transit, fulfilled = sums[need_id]
        result[need_id] = NeedProgress(
            need_id=need_id,
            need_ref=ref,
            quantity=quantity,
            committed=committed,
            in_transit=transit,
            fulfilled=fulfilled,
            commit_status=progress_status(committed, quantity),
            transit_status=progress_status(transit, quantity),
            fulfil_status=progress_status(fulfilled, quantity),
        )
    return result


def need_status(session: Session, need: Need) -> NeedProgress:
    """Commit / transit / fulfil progress of one need."""
    session.flush()
    return progress_for_needs(session, [need.id])[need.id]


def open_quantity(session: Session, need: Need) -> Decimal:
    """The need's quantity less what its fixed lines bring (never negative)."""
    return need_status(session, need).open_quantity
