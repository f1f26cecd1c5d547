"""Run the engine on the database's data and persist the plan; read plans back as SPEC §4 objects."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from aidpack.allocation.engine import Allocation, allocate
from aidpack.allocation.loader import LoadedProblem, default_plan_date, load_problem
from aidpack.allocation.models import Line, LineStatus, Plan, PlanNeed, Termination, plan_kept_lines
from aidpack.allocation.problem import TIER_NAMES
from aidpack.allocation.solve import SolveOptions
from aidpack.audit.service import record
from aidpack.db import to_quantity
from aidpack.errors import DomainError, NotFound


class PlanNotFound(NotFound):
    code = "PLAN_NOT_FOUND"


class SolverFailed(DomainError):
    code = "SOLVER_FAILED"
    http_status = 500


def run_plan(
    session: Session,
    *,
    actor: str,
    include_proposed: bool = False,
    time_limit: float | None = None,
    plan_date: dt.date | None = None,
) -> Plan:
    """Load, allocate and save one plan with its lines, per-need outcomes and an audit event."""
    plan_date = plan_date or default_plan_date(session)
    options = SolveOptions(time_limit=time_limit)
    loaded = load_problem(session, plan_date=plan_date, include_proposed=include_proposed)
    allocation = allocate(loaded.problem, options)
    if allocation.termination is Termination.ERROR:
        raise SolverFailed(
            "the solver failed on this instance; nothing was saved",
            context={"log": allocation.figures.get("log", [])},
        )
    return _persist(session, actor=actor, loaded=loaded, allocation=allocation, options=options,
                    include_proposed=include_proposed, plan_date=plan_date)


def _persist(
    session: Session,
    *,
    actor: str,
    loaded: LoadedProblem,
    allocation: Allocation,
    options: SolveOptions,
    include_proposed: bool,
    plan_date: dt.date,
) -> Plan:
    problem = loaded.problem
    tiers = {
        name: {
            "served": round(float(allocation.tier_served[i]), 6),
            "people": round(float(allocation.tier_people[i]), 6),
        }
        for i, name in enumerate(TIER_NAMES)
    }
    plan = Plan(
        created_by=actor,
        plan_date=plan_date,
        status=allocation.termination,
        params={"include_proposed": include_proposed, "options": options.as_dict(), "engine": "lexicographic-highs"},
        inputs_hash=problem.digest(),
        solve_seconds=round(allocation.seconds, 4),
        gap=float(allocation.gap),
        tiers=tiers,
        figures={k: v for k, v in allocation.figures.items()},
    )
    session.add(plan)
    session.flush()
    lines = [
        Line(
            plan_id=plan.id,
            pledge_id=loaded.pledge_ids[int(p)],
            need_id=loaded.need_ids[int(n)],
            units=to_quantity(float(u)),
            amount=to_quantity(float(a)),
            eta=dt.date.fromordinal(int(eta)),
            transit_days=int(tau),
            status=LineStatus.PROPOSED,
        )
        for p, n, u, a, eta, tau in zip(
            allocation.line_pledge, allocation.line_need, allocation.line_units, allocation.line_amount,
            allocation.line_eta, allocation.line_transit, strict=True,
        )
    ]
    session.add_all(lines)
    if loaded.fixed_line_ids:
        session.execute(plan_kept_lines.insert(), [{"plan_id": plan.id, "line_id": i} for i in loaded.fixed_line_ids])

    new_by_need = {loaded.need_ids[i]: Decimal(0) for i in range(problem.n_needs)}
    for n, a in zip(allocation.line_need, allocation.line_amount, strict=True):
        new_by_need[loaded.need_ids[int(n)]] += to_quantity(float(a))
    position = {need_id: i for i, need_id in enumerate(loaded.need_ids)}
    outcomes = []
    for need_id, (quantity, fixed) in sorted(loaded.open_needs.items()):
        open_quantity = max(quantity - fixed, Decimal(0))
        index = position.get(need_id)
        shortfall = allocation.shortfalls.get(index) if index is not None else None
        outcomes.append(
            PlanNeed(
                plan_id=plan.id,
                need_id=need_id,
                open_quantity=open_quantity,
                covered_fixed=fixed,
                covered_new=min(new_by_need.get(need_id, Decimal(0)), open_quantity),
                reason=shortfall.reason if shortfall else None,
                detail=shortfall.detail() if shortfall else None,
            )
        )
    session.add_all(outcomes)
    session.flush()
    record(
        session,
        actor=actor,
        action="plan.create",
        entity="plan",
        entity_ref=str(plan.id),
        after={
            "status": plan.status,
            "plan_date": plan_date,
            "inputs_hash": plan.inputs_hash,
            "lines": len(lines),
            "kept_lines": len(loaded.fixed_line_ids),
            "tiers": tiers,
            "gap": plan.gap,
            "include_proposed": include_proposed,
            "time_limit": options.time_limit,
        },
    )
    return plan


def get_plan(session: Session, plan_id: int | None = None) -> Plan:
    """A saved plan; the latest when ``plan_id`` is None."""
    if plan_id is None:
        plan = session.execute(select(Plan).order_by(Plan.id.desc()).limit(1)).scalar_one_or_none()
        if plan is None:
            raise PlanNotFound("there is no plan yet; run `aidpack allocate` first")
        return plan
    found = session.get(Plan, plan_id)
    if found is None:
        raise PlanNotFound(f"plan {plan_id} does not exist", context={"plan": plan_id})
    return found


def _number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


def line_payload(line: Line) -> dict[str, Any]:
    return {
        "id": str(line.id),
        "pledge": line.pledge.ref,
        "need": line.need.ref,
        "units": _number(line.units),
        "amount": float(line.amount),
        "eta": line.eta.isoformat(),
        "status": line.status.value,
    }


def plan_payload(session: Session, plan: Plan) -> dict[str, Any]:
    """The SPEC §4 object for a saved plan; ``covered`` reflects receipts recorded since."""
    own = list(plan.lines)
    kept = list(plan.kept_lines)
    brought: dict[int, Decimal] = defaultdict(Decimal)
    for line in own + kept:
        if line.status is not LineStatus.REJECTED:
            brought[line.need_id] += line.delivered_amount
    needs = []
    for outcome in plan.outcomes:
        need = outcome.need
        covered = min(brought.get(need.id, Decimal(0)), need.quantity)
        needs.append(
            {
                "ref": need.ref,
                "quantity": float(need.quantity),
                "covered": float(covered),
                "reason": outcome.reason.value if outcome.reason else None,
                "detail": outcome.detail,
            }
        )
    needs.sort(key=lambda item: str(item["ref"]))
    return {
        "plan": str(plan.id),
        "status": plan.status.value,
        "plan_date": plan.plan_date.isoformat(),
        "tiers": plan.tiers,
        "lines": [line_payload(line) for line in own] + [line_payload(line) for line in kept],
        "needs": needs,
        "solve_seconds": plan.solve_seconds,
        "gap": plan.gap,
    }
