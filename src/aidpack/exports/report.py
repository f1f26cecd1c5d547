"""The operator's report (``aidpack report``): the public report of ``reports.service`` plus the scenario, the
latest plan and totals, and the largest gaps need by need with the plan's reason for each."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aidpack.allocation.summary import detail_text, proposed_refs
from aidpack.exports.tables import cell
from aidpack.pledges.models import Pledge, PledgeStatus
from aidpack.reports import lookups
from aidpack.reports.service import NeedCoverage, contributions, coverage
from aidpack.scenario.models import ScenarioInfo

REPORT_GAPS = 15


@dataclass(frozen=True)
class GapLine:
    ref: str
    tier: str
    region: str
    capability: str
    shortfall: str
    quantity: str
    people_short: float
    reason: str | None
    why: str


@dataclass(frozen=True)
class OperatorReport:
    #: ``report_dict`` (tiers, categories, regions, aggregated gaps, contributions) + scenario, plan, totals.
    payload: dict[str, Any]
    gaps: list[GapLine]


def why(detail: dict[str, Any] | None) -> str:
    """The summary's words for a short need's detail (:func:`summary.detail_text`); where only proposed pledges
    provide the capability (no_supply), with what would use them: the report is read apart from the plan."""
    text = detail_text(detail)
    return text + " (`aidpack allocate --include-proposed` would use them)" if proposed_refs(detail) else text


def _gap_line(item: NeedCoverage) -> GapLine:
    need = item.need
    return GapLine(
        ref=need.ref,
        tier=str(need.priority),
        region=need.region.code,
        capability=need.capability,
        shortfall=cell(item.shortfall),
        quantity=cell(item.quantity),
        people_short=item.people_short,
        reason=item.reason,
        why=why(item.detail),
    )


def operator_report(session: Session, *, max_gaps: int = REPORT_GAPS) -> OperatorReport:
    report = coverage(session)
    donors = contributions(session)
    info = session.execute(select(ScenarioInfo).order_by(ScenarioInfo.id).limit(1)).scalar_one_or_none()
    plan = lookups.latest_plan(session)
    live = Pledge.status != PledgeStatus.WITHDRAWN
    pledges = session.execute(select(func.count()).select_from(Pledge).where(live)).scalar_one()
    value = sum((c.value_eur for c in donors), Decimal(0))
    short = report.gaps()
    payload: dict[str, Any] = {
        **report.to_dict(),
        "contributions": [c.to_dict() for c in donors],
        "scenario": None if info is None else {"name": info.name, "plan_date": info.plan_date.isoformat()},
        "latest_plan": None
        if plan is None
        else {
            "id": plan.id,
            "plan_date": plan.plan_date.isoformat(),
            "status": plan.status.value,
            "gap": plan.gap,
            "created_at": plan.created_at.isoformat(),
        },
        "totals": {
            "needs": len(report.needs),
            "short": len(short),
            "people": sum(item.people for item in report.needs),
            "pledges": pledges,
            "value_eur": float(value),
        },
    }
    return OperatorReport(payload=payload, gaps=[_gap_line(item) for item in short[:max_gaps]])
