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
from aidpack.allocation.readout import PlanLine, PlanOutcome, plan_lines, plan_outcomes
from aidpack.allocation.service import get_plan, plan_payload, run_plan
from aidpack.errors import RuleViolation
from aidpack.ingest.service import import_path

MAX_LISTED = 20


class NothingToCompare(RuleViolation):
    code = "NOTHING_TO_COMPARE"


@dataclass(frozen=True)
class NeedChange:
    ref: str
    priority: str
    region: str
    capability: str
    quantity: float
    before: float
    after: float
    people: int

    @property
    def people_delta(self) -> float:
        """Change in people served, as the tier objective counts them (s·Δcovered/quantity)."""
        return self.people * (self.after - self.before) / self.quantity if self.quantity else 0.0

    def as_dict(self) -> dict[str, object]:
        return {
            "need": self.ref, "priority": self.priority, "region": self.region, "capability": self.capability,
            "quantity": self.quantity, "covered_before": self.before, "covered_after": self.after,
            "people_served_change": round(self.people_delta, 6),
        }


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
    units: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for line in lines:
        if line.status is not LineStatus.REJECTED:
            units[(line.pledge_ref, line.need_ref)] += line.units
    return units


def _coverage(session: Session, plan: Plan, lines: list[PlanLine]) -> dict[str, PlanOutcome]:
    return {outcome.ref: outcome for outcome in plan_outcomes(session, plan.id, lines)}


def diff_plans(
    session: Session, before: Plan, after: Plan, *, after_label: str | None = None,
    after_lines: list[PlanLine] | None = None,
) -> PlanDiff:
    """What ``after`` does differently from ``before`` (``after_lines``: its :func:`readout.plan_lines`, when the
    caller has them already)."""
    before_lines = plan_lines(session, before.id)
    if after_lines is None:
        after_lines = plan_lines(session, after.id)
    old, new = _lines(before_lines), _lines(after_lines)
    moved_lines = []
    moved = Decimal(0)
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key, Decimal(0)), new.get(key, Decimal(0))
        if a != b:
            moved += max(a - b, Decimal(0))
            moved_lines.append({"pledge": key[0], "need": key[1], "units_before": float(a), "units_after": float(b)})
    cov_a, cov_b = _coverage(session, before, before_lines), _coverage(session, after, after_lines)
    changes = []
    for ref in sorted(set(cov_a) | set(cov_b)):
        need = cov_b.get(ref) or cov_a[ref]  # the need as it is now (both plans read the same row)
        a = cov_a[ref].covered if ref in cov_a else Decimal(0)
        b = cov_b[ref].covered if ref in cov_b else Decimal(0)
        if a != b:
            changes.append(NeedChange(ref, need.priority.value, need.region, need.capability, float(need.quantity),
                                      float(a), float(b), need.people))
    order = {name: i for i, name in enumerate(TIER_NAMES)}
    gains = sorted((c for c in changes if c.after > c.before),
                   key=lambda c: (order[c.priority], -c.people_delta, c.ref))
    losses = sorted((c for c in changes if c.after < c.before),
                    key=lambda c: (order[c.priority], c.people_delta, c.ref))
    tiers = {
        name: {
            "before": float(before.tiers.get(name, {}).get("served", 0.0)),
            "after": float(after.tiers.get(name, {}).get("served", 0.0)),
        }
        for name in TIER_NAMES
    }
    for values in tiers.values():
        values["change"] = round(values["after"] - values["before"], 6)
    return PlanDiff(str(before.id), after_label or str(after.id), tiers, float(moved), moved_lines, gains, losses)


def what_if(
    session: Session,
    *,
    path: Path,
    actor: str,
    kind: str | None = None,
    include_proposed: bool = False,
    time_limit: float | None = None,
    plan_date: dt.date | None = None,
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The plan the current data plus FILE would get, and its diff against the latest saved plan.

    Everything (the import, the plan, their audit events) happens in a savepoint that is rolled back.
    """
    latest_id = session.execute(select(Plan.id).order_by(Plan.id.desc()).limit(1)).scalar()
    savepoint = session.begin_nested()
    try:
        import_path(session, path=path, kind=kind, actor=actor)
        plan = run_plan(session, actor=actor, include_proposed=include_proposed, time_limit=time_limit,
                        plan_date=plan_date)
        lines = plan_lines(session, plan.id)
        payload = plan_payload(session, plan, lines)
        payload["plan"] = "what-if"
        diff = None
        if latest_id is not None:
            diff = diff_plans(session, get_plan(session, latest_id), plan, after_label="what-if",
                              after_lines=lines).as_dict()
    finally:
        savepoint.rollback()
    session.expire_all()
    return payload, diff


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
