"""`aidpack plan diff A B` and `allocate --what-if FILE`: what moved between two plans, who gains or loses.

A plan's lines are compared per (pledge, need): units that plan B no longer sends the way plan A did
have *moved*. Per need, coverage is what fixed and new lines bring (as in SPEC §4's ``covered``); a
need gains or loses the difference, weighted by the people it serves as in the tier objective.

A what-if imports FILE (a scenario folder or one file, SPEC §3: withdrawn or delayed pledges, new
needs) inside a savepoint, plans, compares with the latest saved plan, and rolls everything back.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from aidpack.allocation.models import LineStatus, Plan
from aidpack.allocation.problem import TIER_NAMES
from aidpack.allocation.readout import PlanLine, needs_as_planned, plan_lines
from aidpack.allocation.service import get_plan, plan_payload, run_plan
from aidpack.errors import RuleViolation
from aidpack.ingest.service import import_path

MAX_LISTED = 20
#: A change in people served below this is float noise, not a gain or a loss.
PEOPLE_NOISE = 1e-9
#: Nor is a change of a need's covered share below this: the solvers' tolerance (a fair plan, whose LP holds each
#: tier to 1e-7, covered the demo's 24,000-litre fuel needs to 23,999.9976).
SHARE_NOISE = 1e-6


class NothingToCompare(RuleViolation):
    code = "NOTHING_TO_COMPARE"


@dataclass(frozen=True)
class NeedChange:
    ref: str
    priority: str
    region: str
    capability: str
    quantity: float  # as plan B saw it
    before: float
    after: float
    people: int
    quantity_before: float  # as plan A saw it (a need may grow or shrink between plans)

    @property
    def people_delta(self) -> float:
        """Change in people served, as the tier objective counts them (s · covered / quantity, each plan's own)."""
        return self.people * (_share(self.after, self.quantity) - _share(self.before, self.quantity_before))

    def as_dict(self) -> dict[str, object]:
        return {
            "need": self.ref, "priority": self.priority, "region": self.region, "capability": self.capability,
            "quantity": self.quantity, "quantity_before": self.quantity_before, "covered_before": self.before,
            "covered_after": self.after, "people_served_change": round(self.people_delta, 6),
        }


def _share(covered: float, quantity: float) -> float:
    return min(covered / quantity, 1.0) if quantity > 0 else 1.0


def gains_and_losses(changes: list[NeedChange]) -> tuple[list[NeedChange], list[NeedChange]]:
    """The needs that gain and those that lose people served, earliest tier and largest change first. A need covered
    in full in both plans gains or loses nothing when more or less is sent to it, nor one whose covered share moves
    by no more than the solvers' tolerance (the demo's what-if against a fair plan listed 73 fuel needs as gaining,
    each "+0" people: 0.0024 of 24,000 litres); what was sent shows in the moved lines."""
    order = {name: i for i, name in enumerate(TIER_NAMES)}

    def noise(change: NeedChange) -> float:
        return max(PEOPLE_NOISE, SHARE_NOISE * change.people)

    gains = sorted((c for c in changes if c.people_delta > noise(c)),
                   key=lambda c: (order[c.priority], -c.people_delta, c.ref))
    losses = sorted((c for c in changes if c.people_delta < -noise(c)),
                    key=lambda c: (order[c.priority], c.people_delta, c.ref))
    return gains, losses


@dataclass(frozen=True)
class PlanDiff:
    before: str
    after: str
    tiers: dict[str, dict[str, float]]
    moved_units: float
    moved_lines: list[dict[str, object]] = field(default_factory=list)
    gains: list[NeedChange] = field(default_factory=list)
    losses: list[NeedChange] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "before": self.before, "after": self.after, "tiers": self.tiers, "moved_units": self.moved_units,
            "moved_lines": self.moved_lines[:MAX_LISTED],
            "gains": [g.as_dict() for g in self.gains[:MAX_LISTED]],
            "losses": [loss.as_dict() for loss in self.losses[:MAX_LISTED]],
            "needs_gaining": len(self.gains), "needs_losing": len(self.losses),
        }


def _lines(lines: list[PlanLine]) -> dict[tuple[str, str], Decimal]:
    """Units per (pledge, need) as the plan proposed them (a line rejected since counts: the plan sent it)."""
    units: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for line in lines:
        units[(line.pledge_ref, line.need_ref)] += line.units
    return units


def diff_plans(
    session: Session, before: Plan, after: Plan, *, after_label: str | None = None,
    after_lines: list[PlanLine] | None = None,
) -> PlanDiff:
    """What ``after`` does differently from ``before`` (``after_lines``: its :func:`readout.plan_lines`, when the
    caller has them already). Each plan is read as it was made (:func:`readout.needs_as_planned`); the tiers count
    people served as the needs' coverage by fixed and new lines over each need's whole quantity, so that the tiers'
    changes are the sums of the needs' (a plan's own tier figures count the open part of each need, SPEC §4's V_t, which
    changes when lines are accepted between the plans)."""
    if after_lines is None:
        after_lines = plan_lines(session, after.id)
    old, new = _lines(plan_lines(session, before.id)), _lines(after_lines)
    moved_lines = []
    moved = Decimal(0)
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key, Decimal(0)), new.get(key, Decimal(0))
        if a != b:
            moved += max(a - b, Decimal(0))
            moved_lines.append({"pledge": key[0], "need": key[1], "units_before": float(a), "units_after": float(b)})
    seen_a, seen_b = needs_as_planned(session, before.id), needs_as_planned(session, after.id)
    served = {plan: dict.fromkeys(TIER_NAMES, 0.0) for plan in ("before", "after")}
    changes = []
    for ref in sorted(set(seen_a) | set(seen_b)):
        was, now = seen_a.get(ref), seen_b.get(ref)
        need = now or was
        assert need is not None
        if was is not None:
            served["before"][was.priority] += was.people * _share(was.covered, was.quantity)
        if now is not None:
            served["after"][now.priority] += now.people * _share(now.covered, now.quantity)
        change = NeedChange(
            need.ref, need.priority, need.region, need.capability, need.quantity,
            was.covered if was else 0.0, now.covered if now else 0.0, need.people,
            was.quantity if was else need.quantity,
        )
        if abs(change.people_delta) > PEOPLE_NOISE or change.before != change.after:
            changes.append(change)
    gains, losses = gains_and_losses(changes)
    tiers = {
        name: {"before": round(served["before"][name], 6), "after": round(served["after"][name], 6),
               "change": round(served["after"][name] - served["before"][name], 6)}
        for name in TIER_NAMES
    }
    return PlanDiff(str(before.id), after_label or str(after.id), tiers, float(moved), moved_lines, gains, losses)


@dataclass(frozen=True)
class WhatIf:
    """A what-if's plan as `allocate --json` prints one (its lines have no ids: nothing was saved), its figures
    (units moved, fairness, consumables) and its diff against the latest saved plan (None: there is none)."""

    payload: dict[str, Any]
    figures: dict[str, Any]
    diff: dict[str, Any] | None
    compared_with: int | None


def what_if(
    session: Session,
    *,
    path: Path,
    actor: str,
    kind: str | None = None,
    include_proposed: bool = False,
    time_limit: float | None = None,
    plan_date: dt.date | None = None,
    stable: bool = True,
    fair: str | None = None,
    consumable_days: float | None = None,
    with_consumables: bool = False,
) -> WhatIf:
    """The plan the current data plus FILE would get (with every option `allocate` takes), and its diff against
    the latest saved plan.

    Everything (the import, the plan, the needs ``with_consumables`` adds, their audit events) happens in a
    savepoint that is rolled back.
    """
    latest_id = session.execute(select(Plan.id).order_by(Plan.id.desc()).limit(1)).scalar()
    savepoint = session.begin_nested()
    try:
        import_path(session, path=path, kind=kind, actor=actor)
        plan = run_plan(session, actor=actor, include_proposed=include_proposed, time_limit=time_limit,
                        plan_date=plan_date, stable=stable, fair=fair, consumable_days=consumable_days,
                        with_consumables=with_consumables)
        lines = plan_lines(session, plan.id)
        payload = plan_payload(session, plan, lines)
        payload["plan"] = "what-if"
        for line in payload["lines"]:
            if line["status"] == LineStatus.PROPOSED.value:
                line["id"] = None  # the rolled-back line's id is the next saved plan's
        figures = dict(plan.figures or {})
        diff = None
        if latest_id is not None:
            diff = diff_plans(session, get_plan(session, latest_id), plan, after_label="what-if",
                              after_lines=lines).as_dict()
    finally:
        savepoint.rollback()
    session.expire_all()
    return WhatIf(payload, figures, diff, latest_id)


def diff_saved(session: Session, *, before_id: int | None, after_id: int | None) -> PlanDiff:
    """`plan diff A B`: ``None`` for B means the latest plan, for A the one before B."""
    after = get_plan(session, after_id)
    if before_id is None:
        found = session.execute(
            select(Plan).where(Plan.id < after.id).order_by(Plan.id.desc()).limit(1)
        ).scalar_one_or_none()
        if found is None:
            raise NothingToCompare(f"plan {after.id} is the first plan; name two plans to compare")
        before = found
    else:
        before = get_plan(session, before_id)
    return diff_plans(session, before, after)
