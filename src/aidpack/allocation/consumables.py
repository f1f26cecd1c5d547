"""What a plan's lines consume while in use (fuel for generators), and those amounts as needs.

A catalogue item may declare ``consumes`` (``DIESEL-L:648``: litres per unit per day). For a stated
number of days, a plan's lines imply ``units × rate × days`` of each consumed capability: its new lines,
and every line accepted or later on an open need whatever its pledge's status now (what is shipped or
delivered runs all the same; once received, the units that arrived usable);
``--with-consumables DAYS`` adds them as needs of the same tier, in the same region and site, with
the same deadline and people served (one need per served need and consumed capability), then plans again.

Such a *consumable need* is known by what it is, never by its ref: ``consumed_by_need_id`` names the
served need, and (served need, capability) is unique. Its ref is only a label, ``<need ref>~<capability>``
when that fits in 64 characters and no other need has it, else a shortened form with a short stable hash
(:func:`consumable_ref`). Needs a coordinator created are never touched, whatever their ref.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import math
from collections import defaultdict
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from aidpack.allocation.engine import Allocation
from aidpack.allocation.loader import LoadedProblem, fixed_coverage
from aidpack.allocation.models import FIXED_LINE_STATUSES, Line
from aidpack.audit.service import record, snapshot
from aidpack.catalogue.models import MAX_CONSUMES_PER_DAY, Item, parse_consumes
from aidpack.db import QUANTITY_SCALE, QUANTUM, to_quantity
from aidpack.errors import RuleViolation
from aidpack.needs.models import Need, NeedStatus
from aidpack.pledges.models import Pledge

REF_SEPARATOR = "~"
MAX_REF = 64
#: Hex digits of the hash in a shortened ref: 40 bits, so two consumables of one long ref practically never
#: share one (and when they do, or another need holds it, the next attempt's hash is used).
HASH_CHARS = 10
#: The largest quantity a need can hold: quantities are stored as signed 64-bit integers of 1e-6 of the
#: unit (``aidpack.db.Quantity``, BIGINT on PostgreSQL, INTEGER on SQLite).
MAX_QUANTITY = (Decimal(2**63 - 1) / QUANTITY_SCALE).quantize(QUANTUM, rounding=ROUND_DOWN)


class BadConsumableDays(RuleViolation):
    code = "BAD_CONSUMABLE_DAYS"


class ConsumptionTooLarge(RuleViolation):
    """Over the days asked for, one served need's lines would consume more than a need can hold."""

    code = "CONSUMPTION_TOO_LARGE"


class BadStoredConsumes(RuleViolation):
    """A catalogue item holds a ``consumes`` that is no longer accepted (stored before the rules tightened)."""

    code = "BAD_STORED_CONSUMES"


@dataclass(frozen=True)
class Consumption:
    """Per served need (its ref) and consumed capability: the amount over ``days``."""

    days: float
    by_need: dict[tuple[str, str], Decimal]

    def totals(self) -> dict[str, float]:
        totals: dict[str, Decimal] = defaultdict(Decimal)
        for (_, capability), amount in self.by_need.items():
            totals[capability] += amount
        return {capability: float(amount) for capability, amount in sorted(totals.items())}


@dataclass(frozen=True)
class InUse:
    """What consumes, read from the database for one plan.

    ``rates``: per pledge index of the loaded problem, what one unit consumes per day by capability (for the
    plan's new lines). ``fixed``: every fixed line (accepted or later) on an open need whose item consumes,
    whatever its pledge's status now (a pledge withdrawn or back to proposed since does not take back what
    was accepted, shipped or delivered): served need's ref, units in the field (what arrived usable once
    received), and what one unit consumes per day.
    """

    rates: dict[int, dict[str, Decimal]]
    fixed: tuple[tuple[str, Decimal, dict[str, Decimal]], ...]


def in_use(session: Session, loaded: LoadedProblem) -> InUse:
    """The consumption rates of the plan's pledges and the consuming equipment fixed lines put in the field.

    Fixed lines on needs no longer open (cancelled) count for nothing: no consumable need is asked for a
    need a coordinator cancelled (an open one it had is cancelled, or kept for what is on its way to it, by
    :func:`add_needs`). Raises :class:`BadStoredConsumes` for an item whose stored ``consumes`` no longer
    parses, rather than silently counting it as consuming nothing.
    """
    parsed_by_item: dict[int, dict[str, Decimal]] = {}

    def parsed(item_id: int, item_code: str, consumes: str | None) -> dict[str, Decimal]:
        if item_id not in parsed_by_item:
            found = parse_consumes(consumes)
            if found is None:
                raise BadStoredConsumes(
                    f"item {item_code} consumes {consumes!r}, which is not CAPABILITY:amount with a positive amount "
                    f"of at most {MAX_CONSUMES_PER_DAY} and 6 decimals; correct it in the catalogue and plan again",
                    context={"item": item_code, "consumes": consumes},
                )
            parsed_by_item[item_id] = found
        return parsed_by_item[item_id]

    index = {pledge_id: i for i, pledge_id in enumerate(loaded.pledge_ids)}
    rates: dict[int, dict[str, Decimal]] = {}
    for pledge_id, item_id, item_code, consumes in session.execute(
        select(Pledge.id, Item.id, Item.code, Item.consumes)
        .join(Item, Item.id == Pledge.item_id)
        .where(Item.consumes.is_not(None))
        .order_by(Pledge.id)
    ):
        if pledge_id in index and (rate := parsed(item_id, item_code, consumes)):
            rates[index[pledge_id]] = rate
    fixed: list[tuple[str, Decimal, dict[str, Decimal]]] = []
    for need_ref, units, received_units, item_id, item_code, consumes in session.execute(
        select(Need.ref, Line.units, Line.received_units, Item.id, Item.code, Item.consumes)
        .join(Need, Need.id == Line.need_id)
        .join(Pledge, Pledge.id == Line.pledge_id)
        .join(Item, Item.id == Pledge.item_id)
        .where(Line.status.in_(FIXED_LINE_STATUSES), Need.status == NeedStatus.OPEN, Item.consumes.is_not(None))
        .order_by(Line.id)
    ):
        rate = parsed(item_id, item_code, consumes)
        # A short (or damaged) receipt: only the units that arrived usable run.
        in_field = units if received_units is None else received_units
        if rate and in_field > 0:
            fixed.append((need_ref, in_field, rate))
    return InUse(rates=rates, fixed=tuple(fixed))


def implied(allocation: Allocation, loaded: LoadedProblem, equipment: InUse, days: float) -> Consumption:
    """What the plan's new lines and the fixed lines on open needs consume over ``days``.

    Fixed lines count for every open need they serve, also one they already cover in full (the generators
    they bring run all the same), whatever their pledge's status now, with what was received once received.
    Raises :class:`BadConsumableDays` unless ``days`` is a positive finite number, and
    :class:`ConsumptionTooLarge` when an amount would not fit in a need's quantity.
    """
    if not math.isfinite(days) or days <= 0:
        raise BadConsumableDays("the number of days must be a positive number", context={"days": str(days)})
    by_need: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    period = Decimal(str(days))
    problem = loaded.problem
    for pledge, need, units in zip(allocation.line_pledge.tolist(), allocation.line_need.tolist(),
                                   allocation.line_units.tolist(), strict=True):
        for capability, rate in equipment.rates.get(pledge, {}).items():
            by_need[(problem.need_refs[need], capability)] += to_quantity(units) * rate * period
    for need_ref, in_field, rates in equipment.fixed:
        for capability, rate in rates.items():
            by_need[(need_ref, capability)] += in_field * rate * period
    for (need_ref, capability), amount in sorted(by_need.items()):
        if amount > MAX_QUANTITY:
            raise ConsumptionTooLarge(
                f"over {days:g} days the lines for need {need_ref} would consume {amount:.6g} {capability}, more "
                f"than a need can hold ({MAX_QUANTITY:.6g}); ask for fewer days or check the items' consumes",
                context={"days": str(days), "need": need_ref, "capability": capability,
                         "amount": str(amount), "max": str(MAX_QUANTITY)},
            )
    return Consumption(days=days, by_need={key: to_quantity(value) for key, value in by_need.items()})


def consumable_ref(need_ref: str, capability: str, *, attempt: int = 0) -> str:
    """The ref a consumable need of ``need_ref`` for ``capability`` is given (a label, not its identity).

    Attempt 0: ``<need ref>~<capability>`` when it fits in :data:`MAX_REF` characters. Otherwise, and on
    any later attempt (the ref was taken), the start of that cut to leave room for ``~`` and
    :data:`HASH_CHARS` hex digits of SHA-256 over the served need's ref, the capability and the attempt:
    stable across runs and databases, and distinct for two capabilities of one long ref.
    """
    readable = f"{need_ref}{REF_SEPARATOR}{capability}"
    if attempt == 0 and len(readable) <= MAX_REF:
        return readable
    digest = hashlib.sha256(f"{need_ref}\x1f{capability}\x1f{attempt}".encode()).hexdigest()[:HASH_CHARS]
    return f"{readable[: MAX_REF - HASH_CHARS - len(REF_SEPARATOR)]}{REF_SEPARATOR}{digest}"


def _free_ref(session: Session, need_ref: str, capability: str, taken: set[str]) -> str:
    """The first :func:`consumable_ref` attempt that no need holds. ``taken``: the refs known to be held (every first
    attempt's, read in one query, and those written since); a later attempt, after a clash, asks the database."""
    for attempt in itertools.count():
        ref = consumable_ref(need_ref, capability, attempt=attempt)
        if ref in taken:
            continue
        if attempt == 0 or session.execute(select(Need.id).where(Need.ref == ref)).first() is None:
            taken.add(ref)
            return ref
        taken.add(ref)
    raise AssertionError("unreachable")  # pragma: no cover


def add_needs(
    session: Session, *, actor: str, loaded: LoadedProblem, consumption: Consumption, plan_date: dt.date
) -> int:
    """Bring the consumable needs in line with ``consumption`` (flushes, one audit event per change).

    Returns how many needs were written: created, changed, reopened or cancelled.

    For each served need and capability with an amount implied by the plan:

    - no consumable need yet: one is created (``consumed_by_need_id`` = the served need) with a ref no
      other need holds (:func:`consumable_ref`);
    - else that need (open or cancelled) is set to the served need's tier, region, site, deadline, people
      served and organisation, reopened, and its quantity set to the implied amount, or to what its fixed
      lines (accepted or later) already bring when that is more: a need never asks for less than is
      already committed to it.

    Each OPEN consumable need no longer implied (the plan's lines moved away, or imply 0):

    - without fixed lines it is cancelled;
    - with fixed lines it stays open and its quantity is cut to what they bring (never raised), so that
      nothing more is planned for it while what is on its way is still accounted for.

    Needs without ``consumed_by_need_id`` (every need a coordinator or an import created) are never read
    or written here, whatever their ref.
    """
    implied_amounts = {key: amount for key, amount in consumption.by_need.items() if amount > 0}
    parents = {
        need.ref: need
        for need in session.execute(
            select(Need).where(Need.ref.in_(sorted({ref for ref, _ in implied_amounts})))
        ).scalars()
    }
    consumables = {
        (need.consumed_by_need_id, need.capability): need
        for need in session.execute(select(Need).where(Need.consumed_by_need_id.is_not(None))).scalars()
    }
    brought = fixed_coverage(session, [need.id for need in consumables.values()]) if consumables else {}
    # The refs new consumable needs would take first, held already: one query, not one per need.
    first_refs = sorted({consumable_ref(ref, capability) for ref, capability in implied_amounts})
    taken = set(session.execute(select(Need.ref).where(Need.ref.in_(first_refs))).scalars()) if first_refs else set()
    written = 0
    kept: set[int] = set()
    for (parent_ref, capability), amount in sorted(implied_amounts.items()):
        parent = parents[parent_ref]
        notes = (f"{capability} for {consumption.days:g} days of use of what plan lines send to {parent.ref} "
                 f"(from {plan_date.isoformat()})")
        values: dict[str, object] = {
            "region_id": parent.region_id, "site_id": parent.site_id, "priority": parent.priority,
            "deadline": parent.deadline, "people_served": parent.effective_people_served, "notes": notes,
            "org_id": parent.org_id, "status": NeedStatus.OPEN,
        }
        existing = consumables.get((parent.id, capability))
        if existing is None:
            need = Need(ref=_free_ref(session, parent.ref, capability, taken), capability=capability, quantity=amount,
                        consumed_by_need_id=parent.id, **values)
            session.add(need)
            session.flush()
            record(session, actor=actor, action="need.create", entity="need", entity_ref=need.ref, before=None,
                   after=snapshot(need))
            written += 1
            continue
        kept.add(existing.id)
        values["quantity"] = max(amount, brought.get(existing.id, Decimal(0)))
        written += _apply(session, actor=actor, need=existing, values=values)
    for need in sorted(consumables.values(), key=lambda n: n.ref):
        if need.id in kept or need.status is not NeedStatus.OPEN:
            continue
        on_its_way = brought.get(need.id, Decimal(0))
        if on_its_way > 0:
            written += _apply(session, actor=actor, need=need, values={"quantity": min(need.quantity, on_its_way)})
        else:
            written += _apply(session, actor=actor, need=need, values={"status": NeedStatus.CANCELLED})
    return written


def _apply(session: Session, *, actor: str, need: Need, values: dict[str, object]) -> int:
    """Set ``values`` on ``need`` with an audit event; 1 when anything changed, else 0 (nothing written)."""
    changed = {key: value for key, value in values.items() if getattr(need, key) != value}
    if not changed:
        return 0
    before = snapshot(need)
    for key, value in changed.items():
        setattr(need, key, value)
    session.flush()
    record(session, actor=actor, action="need.update", entity="need", entity_ref=need.ref, before=before,
           after=snapshot(need))
    return 1
