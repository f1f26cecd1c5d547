"""What a plan's lines consume while in use (fuel for generators), and those amounts as needs.

A catalogue item may declare ``consumes`` (``DIESEL-L:648``: litres per unit per day). For a stated
number of days, a plan's lines imply ``units × rate × days`` of each consumed capability;
``--with-consumables DAYS`` adds them as needs of the same tier, in the same region and site, with
the same deadline and people served (one need per served need and consumed capability, ref
``<need ref>~<capability>``), then plans again.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from aidpack.allocation.engine import Allocation
from aidpack.allocation.loader import LoadedProblem
from aidpack.audit.service import record, snapshot
from aidpack.catalogue.models import Item, parse_consumes
from aidpack.db import to_quantity
from aidpack.errors import RuleViolation
from aidpack.needs.models import Need, NeedStatus
from aidpack.pledges.models import Pledge

REF_SEPARATOR = "~"
MAX_REF = 64


class BadConsumableDays(RuleViolation):
    code = "BAD_CONSUMABLE_DAYS"


@dataclass(frozen=True)
class Consumption:
    """Per served need index and consumed capability: the amount over ``days``."""

    days: float
    by_need: dict[tuple[int, str], Decimal]

    def totals(self) -> dict[str, float]:
        totals: dict[str, Decimal] = defaultdict(Decimal)
        for (_, capability), amount in self.by_need.items():
            totals[capability] += amount
        return {capability: float(amount) for capability, amount in sorted(totals.items())}


def pledge_rates(session: Session, loaded: LoadedProblem) -> dict[int, dict[str, Decimal]]:
    """Per pledge index of ``loaded``: what one unit consumes per day, by capability."""
    index = {pledge_id: i for i, pledge_id in enumerate(loaded.pledge_ids)}
    rows = session.execute(
        select(Pledge.id, Item.consumes).join(Item, Item.id == Pledge.item_id).where(Item.consumes.is_not(None))
    ).all()
    rates: dict[int, dict[str, Decimal]] = {}
    for pledge_id, consumes in rows:
        parsed = parse_consumes(consumes)
        if pledge_id in index and parsed:
            rates[index[pledge_id]] = parsed
    return rates


def implied(
    allocation: Allocation, loaded: LoadedProblem, rates: dict[int, dict[str, Decimal]], days: float
) -> Consumption:
    """What the plan's new lines and the fixed lines it keeps consume over ``days``."""
    if days <= 0:
        raise BadConsumableDays("the number of days must be positive", context={"days": days})
    by_need: dict[tuple[int, str], Decimal] = defaultdict(Decimal)
    period = Decimal(str(days))
    problem = loaded.problem
    need_index = {ref: i for i, ref in enumerate(problem.need_refs)}
    lines = list(zip(allocation.line_pledge.tolist(), allocation.line_need.tolist(),
                     allocation.line_units.tolist(), strict=True))
    lines += [
        (p, need_index[ref], u)
        for p, ref, u in zip(problem.fixed_pledge.tolist(), problem.fixed_need_ref, problem.fixed_units.tolist(),
                             strict=True)
        if ref in need_index
    ]
    for pledge, need, units in lines:
        for capability, rate in rates.get(pledge, {}).items():
            by_need[(need, capability)] += to_quantity(units) * rate * period
    return Consumption(days=days, by_need={key: to_quantity(value) for key, value in by_need.items()})


def consumable_ref(need_ref: str, capability: str) -> str:
    ref = f"{need_ref}{REF_SEPARATOR}{capability}"
    return ref if len(ref) <= MAX_REF else ref[:MAX_REF]


def add_needs(
    session: Session, *, actor: str, loaded: LoadedProblem, consumption: Consumption, plan_date: dt.date
) -> int:
    """Create or update the consumable needs (flushes). Returns how many needs were written."""
    parents = {
        need.id: need
        for need in session.execute(select(Need).where(Need.id.in_(loaded.need_ids))).scalars()
    }
    written = 0
    for (need_index, capability), amount in sorted(consumption.by_need.items()):
        if amount <= 0:
            continue
        parent = parents[loaded.need_ids[need_index]]
        ref = consumable_ref(parent.ref, capability)
        existing = session.execute(select(Need).where(Need.ref == ref)).scalar_one_or_none()
        notes = (f"{capability} for {consumption.days:g} days of use of what plan lines send to {parent.ref} "
                 f"(from {plan_date.isoformat()})")
        values = {
            "region_id": parent.region_id, "site_id": parent.site_id, "capability": capability, "quantity": amount,
            "priority": parent.priority, "deadline": parent.deadline,
            "people_served": parent.effective_people_served, "notes": notes, "org_id": parent.org_id,
            "status": NeedStatus.OPEN,
        }
        if existing is None:
            need = Need(ref=ref, **values)
            session.add(need)
            session.flush()
            record(session, actor=actor, action="need.create", entity="need", entity_ref=ref, before=None,
                   after=snapshot(need))
        else:
            before = snapshot(existing)
            changed = {k: v for k, v in values.items() if getattr(existing, k) != v}
            if not changed:
                continue
            for key, value in changed.items():
                setattr(existing, key, value)
            session.flush()
            record(session, actor=actor, action="need.update", entity="need", entity_ref=ref, before=before,
                   after=snapshot(existing))
        written += 1
    return written
