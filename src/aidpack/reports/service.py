"""Reports: coverage per tier, category and region; donors' contributions; the largest gaps with reasons.

Coverage is weighted by people served, like the engine's objective: a tier is 100 % covered when every
need in it is fully covered. ``committed`` counts lines that are accepted or later (after a short receipt,
what was received); ``planned`` adds the proposed lines of the latest plan.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Float, Subquery, and_, case, cast, func, select
from sqlalchemy.orm import Session

from aidpack.allocation.models import FIXED_LINE_STATUSES, Line, LineStatus, PlanNeed, ShortReason
from aidpack.allocation.readout import people_served, sum_by_need
from aidpack.auth import policy
from aidpack.auth.policy import Principal
from aidpack.catalogue.models import Item
from aidpack.geography.models import Region
from aidpack.needs.models import TIERS, Need, NeedStatus, Priority
from aidpack.orgs.models import Organisation
from aidpack.pledges.models import Pledge, PledgeStatus
from aidpack.reports import lookups
from aidpack.sites.models import Site

ZERO = Decimal(0)
#: Gaps whose needs :func:`visible_gaps` loads as objects per query.
GAP_CHUNK = 200


@dataclass(frozen=True)
class RegionName:
    code: str
    name: str


@dataclass(frozen=True)
class CoveredNeed:
    """An open need as the coverage report reads it: a few columns, not an object (no site, no organisation, no
    notes: the report aggregates them or shows them only through :func:`visible_gaps`)."""

    id: int
    ref: str
    priority: Priority
    capability: str
    region: RegionName


@dataclass(frozen=True)
class NeedCoverage:
    need: CoveredNeed
    category: str
    quantity: Decimal
    committed: Decimal
    planned: Decimal
    people: int
    reason: str | None
    detail: dict[str, Any] | None
    #: People served weighted by the share planned, and committed (each at most 1): computed once, for the need's
    #: tier, category and region.
    served_planned: float = field(init=False)
    served_committed: float = field(init=False)

    def __post_init__(self) -> None:
        positive = self.quantity > 0
        for name, brought in (("served_planned", self.planned), ("served_committed", self.committed)):
            served = self.people * float(min(brought / self.quantity, Decimal(1))) if positive else 0.0
            object.__setattr__(self, name, served)

    @property
    def shortfall(self) -> Decimal:
        return max(self.quantity - self.planned, ZERO)

    @property
    def people_short(self) -> float:
        """People served weighted by the part of the need left uncovered."""
        return float(self.people) * float(self.shortfall / self.quantity) if self.quantity else 0.0


@dataclass
class Group:
    """Coverage of a group of needs (a tier, a category, a region)."""

    key: str
    label: str
    needs: int = 0
    people: int = 0
    served_planned: float = 0.0
    served_committed: float = 0.0
    fully_covered: int = 0

    def add(self, item: NeedCoverage) -> None:
        self.needs += 1
        self.people += item.people
        if item.quantity > 0:
            self.served_planned += item.served_planned
            self.served_committed += item.served_committed
        if item.planned >= item.quantity:
            self.fully_covered += 1

    @property
    def planned_share(self) -> float:
        return self.served_planned / self.people if self.people else 0.0

    @property
    def committed_share(self) -> float:
        return self.served_committed / self.people if self.people else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "label": self.label,
            "needs": self.needs,
            "people": self.people,
            "fully_covered": self.fully_covered,
            "planned": round(self.planned_share, 4),
            "committed": round(self.committed_share, 4),
        }


@dataclass
class PublicGap:
    """A gap as the public may see it: region, capability, tier and reason, never a site."""

    region: str
    region_name: str
    capability: str
    category: str
    tier: str
    reason: str | None
    needs: int = 0
    shortfall: Decimal = ZERO
    people_short: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "region": self.region,
            "region_name": self.region_name,
            "capability": self.capability,
            "category": self.category,
            "tier": self.tier,
            "reason": self.reason,
            "needs": self.needs,
            "shortfall": float(self.shortfall),
            "people_short": round(self.people_short, 1),
        }


@dataclass
class Contribution:
    donor: str
    name: str
    pledges: int = 0
    value_eur: Decimal = ZERO
    value_committed_eur: Decimal = ZERO
    lines_committed: int = 0
    lines_received: int = 0
    categories: set[str] = field(default_factory=set)

    def to_dict(self) -> dict[str, Any]:
        return {
            "donor": self.donor,
            "name": self.name,
            "pledges": self.pledges,
            "value_eur": float(self.value_eur),
            "value_committed_eur": float(round(self.value_committed_eur, 2)),
            "lines_committed": self.lines_committed,
            "lines_received": self.lines_received,
            "categories": sorted(self.categories),
        }


@dataclass
class CoverageReport:
    plan_id: int | None
    needs: list[NeedCoverage]
    tiers: list[Group]
    categories: list[Group]
    regions: list[Group]

    def gaps(self) -> list[NeedCoverage]:
        """Needs left short, most important first: tier, then people left without cover."""
        short = [n for n in self.needs if n.shortfall > 0]
        order = {tier: i for i, tier in enumerate(TIERS)}
        return sorted(short, key=lambda n: (order[n.need.priority], -n.people_short, n.need.ref))

    def public_gaps(self, limit: int | None = None) -> list[PublicGap]:
        groups: dict[tuple[str, str, str, str | None], PublicGap] = {}
        for item in self.gaps():
            need = item.need
            key = (need.region.code, need.capability, str(need.priority), item.reason)
            gap = groups.get(key)
            if gap is None:
                gap = groups[key] = PublicGap(
                    region=need.region.code,
                    region_name=need.region.name,
                    capability=need.capability,
                    category=item.category,
                    tier=str(need.priority),
                    reason=item.reason,
                )
            gap.needs += 1
            gap.shortfall += item.shortfall
            gap.people_short += item.people_short
        order = {str(tier): i for i, tier in enumerate(TIERS)}
        ranked = sorted(groups.values(), key=lambda g: (order[g.tier], -g.people_short, g.region, g.capability))
        return ranked[:limit] if limit is not None else ranked

    def to_dict(self) -> dict[str, Any]:
        return {
            "plan": self.plan_id,
            "tiers": [g.to_dict() for g in self.tiers],
            "categories": [g.to_dict() for g in self.categories],
            "regions": [g.to_dict() for g in self.regions],
            "gaps": [g.to_dict() for g in self.public_gaps()],
        }

    def public(self) -> PublicCoverage:
        """What anyone may see of this report: its groups and its gaps aggregated to region, capability, tier and
        reason, without a need (so that it can be kept and shared between requests: see ``reports.cache``)."""
        return PublicCoverage(
            plan_id=self.plan_id,
            tiers=tuple(self.tiers),
            categories=tuple(self.categories),
            regions=tuple(self.regions),
            gaps=tuple(self.public_gaps()),
        )


@dataclass(frozen=True)
class PublicCoverage:
    """The public part of a :class:`CoverageReport`: no need, no site, no database row; read, never changed."""

    plan_id: int | None
    tiers: tuple[Group, ...]
    categories: tuple[Group, ...]
    regions: tuple[Group, ...]
    gaps: tuple[PublicGap, ...]  # every gap, most important first

    def public_gaps(self, limit: int | None = None) -> list[PublicGap]:
        return list(self.gaps[:limit] if limit is not None else self.gaps)


def _open_needs(session: Session) -> list[tuple[CoveredNeed, Decimal, int]]:
    """The open needs by ref, each with its quantity and people served (its own, else its site's, else 1), read
    as columns: loading them as objects (with region, site and organisation) took most of a second at 1e6."""
    regions: dict[int, RegionName] = {}
    needs = []
    for need_id, ref, priority, capability, quantity, people, region_id, code, name in session.execute(
        select(Need.id, Need.ref, Need.priority, Need.capability, Need.quantity,
               people_served(Need.people_served, Site.people_served), Region.id, Region.code, Region.name)
        .join(Region, Region.id == Need.region_id)
        .outerjoin(Site, Site.id == Need.site_id)
        .where(Need.status == NeedStatus.OPEN)
        .order_by(Need.ref)
    ):
        region = regions.get(region_id)
        if region is None:
            region = regions[region_id] = RegionName(code, name)
        needs.append((CoveredNeed(need_id, ref, priority, capability, region), quantity, int(people)))
    return needs


def coverage(session: Session) -> CoverageReport:
    """Coverage of the open needs by committed lines and by the latest plan. The lines are summed by the
    database rather than loaded (each line as an object loads its pledge and need with them): on the 1e6 bench,
    the overview page took 4.2 s with 19,584 proposed lines loaded, most of it here. The needs are read as
    columns (:func:`_open_needs`)."""
    categories = lookups.capability_categories(session)
    needs = _open_needs(session)
    committed = sum_by_need(session, Line.status.in_(FIXED_LINE_STATUSES))
    plan = lookups.latest_plan(session)
    proposed: dict[int, Decimal] = {}
    short: dict[int, tuple[ShortReason, dict[str, Any] | None]] = {}  # the plan's reason and detail per short need
    if plan is not None:
        proposed = sum_by_need(session, and_(Line.plan_id == plan.id, Line.status == LineStatus.PROPOSED),
                               delivered=False)
        short = {
            need_id: (reason, detail)
            for need_id, reason, detail in session.execute(
                select(PlanNeed.need_id, PlanNeed.reason, PlanNeed.detail).where(PlanNeed.plan_id == plan.id,
                                                                                  PlanNeed.reason.is_not(None))
            )
        }
    items: list[NeedCoverage] = []
    for need, quantity, people in needs:
        done = committed.get(need.id, ZERO)
        planned = min(done + proposed.get(need.id, ZERO), quantity)
        why, detail = short.get(need.id, (None, None)) if planned < quantity else (None, None)
        items.append(
            NeedCoverage(
                need=need,
                category=categories.get(need.capability, "other"),
                quantity=quantity,
                committed=min(done, quantity),
                planned=planned,
                people=people,
                reason=None if why is None else str(why),
                detail=detail,
            )
        )
    tiers = {str(t): Group(str(t), str(t)) for t in TIERS}
    cats: dict[str, Group] = {}
    regions: dict[str, Group] = {}
    for item in items:
        tiers[str(item.need.priority)].add(item)
        cats.setdefault(item.category, Group(item.category, item.category)).add(item)
        region = item.need.region
        regions.setdefault(region.code, Group(region.code, region.name)).add(item)
    return CoverageReport(
        plan_id=plan.id if plan is not None else None,
        needs=items,
        tiers=list(tiers.values()),
        categories=sorted(cats.values(), key=lambda g: g.key),
        regions=sorted(regions.values(), key=lambda g: g.key),
    )


@dataclass(frozen=True)
class NeedShare:
    """A need's coverage as :func:`coverage` counts it: shares of its quantity, each at most 1."""

    committed: float  # lines accepted or later (after a short receipt, what was received)
    planned: float  # those and the latest plan's proposed lines


def _share(brought: Decimal, quantity: Decimal) -> float:
    return float(min(brought / quantity, Decimal(1))) if quantity > 0 else 1.0


def need_shares(session: Session, needs: list[Need]) -> dict[int, NeedShare]:
    """Per need of ``needs`` (a page of a list): its committed and planned shares, from the database's sums as
    :func:`coverage` takes them (a fixed number of queries, no row per line)."""
    ids = [need.id for need in needs]
    if not ids:
        return {}
    committed = sum_by_need(session, and_(Line.need_id.in_(ids), Line.status.in_(FIXED_LINE_STATUSES)))
    proposed: dict[int, Decimal] = {}
    plan = lookups.latest_plan(session)
    if plan is not None:
        proposed = sum_by_need(
            session,
            and_(Line.need_id.in_(ids), Line.plan_id == plan.id, Line.status == LineStatus.PROPOSED),
            delivered=False,
        )
    shares = {}
    for need in needs:
        done = committed.get(need.id, ZERO)
        shares[need.id] = NeedShare(
            committed=_share(done, need.quantity),
            planned=_share(done + proposed.get(need.id, ZERO), need.quantity),
        )
    return shares


def planned_share_sums(session: Session) -> Subquery:
    """Per need with lines that count (committed ones, and the latest plan's proposed ones): ``need_id`` and
    ``brought``, what they bring in the stored scale of quantities, as a float summed by the database (to order
    a list of needs by coverage without reading a row per line)."""
    plan = lookups.latest_plan(session)
    counted: ColumnElement[bool] = Line.status.in_(FIXED_LINE_STATUSES)
    if plan is not None:
        counted = counted | and_(Line.plan_id == plan.id, Line.status == LineStatus.PROPOSED)
    amount = cast(Line.amount, Float)
    # a receipt counts its received share (delivered_amount); floats: a scaled product overflows BIGINT
    brought = case(
        (Line.received_units.is_(None), amount),
        else_=amount * cast(Line.received_units, Float) / cast(Line.units, Float),
    )
    return (
        select(Line.need_id.label("need_id"), func.sum(brought).label("brought"))
        .where(counted)
        .group_by(Line.need_id)
        .subquery("planned_share_sums")
    )


def planned_share_column(sums: Subquery) -> ColumnElement[float]:
    """A need's planned share (at most 1) from :func:`planned_share_sums` outer-joined to ``needs``."""
    brought = func.coalesce(sums.c.brought, 0.0)
    quantity = cast(Need.quantity, Float)
    return case((brought >= quantity, 1.0), else_=brought / quantity)


@dataclass(frozen=True)
class NeedGap:
    """A gap need by need with its need as an object, whose site a page names to whom may see it."""

    need: Need
    coverage: NeedCoverage

    @property
    def shortfall(self) -> Decimal:
        return self.coverage.shortfall

    @property
    def people_short(self) -> float:
        return self.coverage.people_short

    @property
    def reason(self) -> str | None:
        return self.coverage.reason

    @property
    def detail(self) -> dict[str, Any] | None:
        return self.coverage.detail


def visible_gaps(
    session: Session, report: CoverageReport, principal: Principal, *, limit: int | None = None
) -> list[NeedGap]:
    """Gaps need by need for staff, and a recipient's own (``policy.need_full_detail`` of each need); others get
    ``public_gaps``. The first ``limit`` of them (all without one), most important first; their needs are loaded
    as objects a chunk of gaps at a time, only those listed to the caller (``policy.need_scope``)."""
    shown: list[NeedGap] = []
    if limit is not None and limit <= 0:
        return shown
    gaps = report.gaps()
    scope = policy.need_scope(principal)
    for start in range(0, len(gaps), GAP_CHUNK):
        chunk = gaps[start : start + GAP_CHUNK]
        loaded = {
            need.id: need
            for need in session.execute(select(Need).where(Need.id.in_([g.need.id for g in chunk]), scope)).scalars()
        }
        for item in chunk:
            need = loaded.get(item.need.id)
            if need is not None and policy.need_full_detail(principal, need):
                shown.append(NeedGap(need, item))
                if limit is not None and len(shown) >= limit:
                    return shown
    return shown


def contributions(session: Session) -> list[Contribution]:
    """What each donor pledged (EUR where given) and how much of it accepted lines hold. Counted and summed by the
    database per donor (and category), per pledge where values are concerned; no line is read: on a copy of the 1e6
    bench with its 19,173 lines accepted, loading each line and its pledge as objects took 2.6-4.2 s."""
    donors: dict[int, Contribution] = {}

    def entry(donor_id: int, code: str, name: str) -> Contribution:
        found = donors.get(donor_id)
        if found is None:
            found = donors[donor_id] = Contribution(donor=code, name=name)
        return found

    donor = (Pledge.donor_id, Organisation.code, Organisation.name)
    for donor_id, code, name in session.execute(
        select(Organisation.id, Organisation.code, Organisation.name).where(Organisation.is_donor.is_(True))
    ):
        entry(donor_id, code, name)
    live = Pledge.status != PledgeStatus.WITHDRAWN
    for donor_id, code, name, category, pledges in session.execute(
        select(*donor, Item.category, func.count())
        .join(Organisation, Organisation.id == Pledge.donor_id)
        .join(Item, Item.id == Pledge.item_id)
        .where(live)
        .group_by(*donor, Item.category)
    ):
        pledging = entry(donor_id, code, name)
        pledging.pledges += pledges
        pledging.categories.add(category)
    # Values summed here, exactly: the database's sum of scaled integers could overflow BIGINT.
    for donor_id, value_eur in session.execute(select(Pledge.donor_id, Pledge.value_eur).where(live)):
        if value_eur is not None:
            donors[donor_id].value_eur += value_eur
    fixed = Line.status.in_(FIXED_LINE_STATUSES)
    for donor_id, code, name, lines, received in session.execute(
        select(*donor, func.count(), func.count(case((Line.status == LineStatus.RECEIVED, 1))))
        .select_from(Line)
        .join(Pledge, Pledge.id == Line.pledge_id)
        .join(Organisation, Organisation.id == Pledge.donor_id)
        .where(fixed)
        .group_by(*donor)
    ):
        holding = entry(donor_id, code, name)
        holding.lines_committed += lines
        holding.lines_received += received
    held = (
        select(Line.pledge_id.label("pledge_id"), func.sum(Line.units).label("units"))  # at most the pledge's units
        .where(fixed)
        .group_by(Line.pledge_id)
        .subquery("held")
    )
    for donor_id, value_eur, pledge_units, units in session.execute(
        select(Pledge.donor_id, Pledge.value_eur, Pledge.units, held.c.units)
        .join(held, held.c.pledge_id == Pledge.id)
        .where(Pledge.value_eur.is_not(None), Pledge.units > 0)
    ):
        donors[donor_id].value_committed_eur += value_eur * units / pledge_units
    return sorted(donors.values(), key=lambda c: (-c.value_eur, -c.pledges, c.donor))


def report_dict(session: Session) -> dict[str, Any]:
    """The whole public report as JSON (for ``aidpack report --json``)."""
    return {**coverage(session).to_dict(), "contributions": [c.to_dict() for c in contributions(session)]}
