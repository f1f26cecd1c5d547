"""A readable digest of a plan: coverage per tier, the largest gaps with reasons, what each donor covers."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy.orm import Session

from aidpack.allocation.models import Plan
from aidpack.allocation.problem import TIER_NAMES
from aidpack.allocation.readout import DonorTotals, donor_totals, need_coverage, plan_outcomes, tier_counts


@dataclass(frozen=True)
class TierRow:
    tier: str
    needs: int
    fully_covered: int
    served: float
    people: float

    @property
    def share(self) -> float:
        return self.served / self.people if self.people else 1.0


@dataclass(frozen=True)
class GapRow:
    ref: str
    region: str
    capability: str
    priority: str
    quantity: Decimal
    covered: Decimal
    people: int
    reason: str
    detail: str
    #: no_supply: the proposed pledges that provide the capability (``aidpack allocate --include-proposed``)
    proposed: tuple[str, ...] = ()

    @property
    def missing(self) -> Decimal:
        return self.quantity - self.covered


@dataclass(frozen=True)
class PlanSummary:
    plan_id: int
    status: str
    plan_date: str
    gap: float
    seconds: float
    lines: int
    tiers: list[TierRow]
    gaps: list[GapRow]
    donors: list[DonorTotals]  # most needs first
    short_needs: int
    tier_gap: float = 0.0  # the largest of the tiers' gaps to their bounds
    transit_gap: float = 0.0  # unit-days in transit above the proven bound, relative to the plan's


def detail_text(detail: dict[str, object] | None) -> str:
    """A short need's reason detail (``explain.Shortfall.detail``) in words: the summary's and the report's 'why'."""
    if not detail:
        return ""
    if "earliest_eta" in detail:
        return f"earliest arrival {detail['earliest_eta']}"
    taken = detail.get("taken_by")
    if isinstance(taken, list) and taken:
        return "taken by " + ", ".join(str(t) for t in taken)
    proposed = proposed_refs(detail)
    if proposed:
        return "only proposed pledges: " + ", ".join(proposed)
    return ""


def proposed_refs(detail: dict[str, object] | None) -> tuple[str, ...]:
    """The proposed pledges a no_supply need's detail names (``explain.Shortfall.detail``), none elsewhere."""
    proposed = detail.get("proposed") if detail else None
    return tuple(str(ref) for ref in proposed) if isinstance(proposed, list) else ()


#: Each tier's place, the most pressing first.
TIER_ORDER: dict[str, int] = {name: i for i, name in enumerate(TIER_NAMES)}


def pressing_first(priority: str, people_short: float, ref: str) -> tuple[int, float, str]:
    """The order of needs a plan leaves short, the most pressing first: by tier, then by the people left without
    cover (people served x the share not covered), then by ref. The gaps `aidpack plan show` prints and the plan
    page's short needs are in this order."""
    return TIER_ORDER[priority], -people_short, ref


def summarise(session: Session, plan: Plan, *, max_gaps: int = 15) -> PlanSummary:
    """The digest from the database's sums (a fixed number of queries, no row per line): each tier's needs counted
    from a narrow query, only the short needs read in full (1e6 bench: 0.19 s -> 0.12 s, where every need was)."""
    brought = need_coverage(session, plan.id)
    counts = {priority.value: count for priority, count in tier_counts(session, plan.id, brought).items()}
    gaps: list[GapRow] = []
    for outcome in plan_outcomes(session, plan.id, short_only=True, brought=brought):
        if outcome.reason is not None:
            gaps.append(
                GapRow(
                    ref=outcome.ref,
                    region=outcome.region,
                    capability=outcome.capability,
                    priority=outcome.priority.value,
                    quantity=outcome.quantity,
                    covered=outcome.covered,
                    people=outcome.people,
                    reason=outcome.reason.value,
                    detail=detail_text(outcome.detail),
                    proposed=proposed_refs(outcome.detail),
                )
            )
    gaps.sort(key=lambda g: pressing_first(g.priority, float(g.missing / g.quantity) * g.people, g.ref))
    tiers = [
        TierRow(
            tier=name,
            needs=counts.get(name, (0, 0))[0],
            fully_covered=counts.get(name, (0, 0))[1],
            served=float(plan.tiers.get(name, {}).get("served", 0.0)),
            people=float(plan.tiers.get(name, {}).get("people", 0.0)),
        )
        for name in TIER_NAMES
    ]
    donors = donor_totals(session, plan.id)
    return PlanSummary(
        plan_id=plan.id,
        status=plan.status.value,
        plan_date=plan.plan_date.isoformat(),
        gap=plan.gap,
        seconds=plan.solve_seconds,
        lines=sum(donor.lines for donor in donors),
        tiers=tiers,
        gaps=gaps[:max_gaps],
        donors=sorted(donors, key=lambda d: (-d.needs, d.code)),
        short_needs=len(gaps),
        tier_gap=max((float(v) for v in dict((plan.figures or {}).get("tier_gap") or {}).values()), default=0.0),
        transit_gap=float((plan.figures or {}).get("transit_gap") or 0.0),
    )
