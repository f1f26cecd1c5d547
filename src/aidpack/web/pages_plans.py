"""The plan page: run a plan (staff), read its lines and short needs, accept or reject lines."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from aidpack.allocation import decisions
from aidpack.allocation import service as allocation_service
from aidpack.allocation.api import plan_read, visible_lines
from aidpack.allocation.models import LineStatus
from aidpack.allocation.readout import PlanOutcome, donor_totals, line_counts, plan_lines, plan_outcomes
from aidpack.allocation.schemas import PlanRead
from aidpack.allocation.summary import pressing_first
from aidpack.auth import policy
from aidpack.auth import service as auth_service
from aidpack.auth.deps import PagePrincipal, WebSessionDep
from aidpack.auth.models import Role
from aidpack.auth.policy import Action, Principal
from aidpack.errors import ValidationFailed
from aidpack.needs.models import TIERS
from aidpack.reports import lookups
from aidpack.sites import service as sites_service
from aidpack.sites.models import Site
from aidpack.web.deps import SessionDep
from aidpack.web.forms import require_login
from aidpack.web.http import DIGITS, MAX_ROW, IdPath
from aidpack.web.templating import redirect, render

router = APIRouter(include_in_schema=False)
Field = Annotated[str | None, Form(max_length=200)]


@dataclass(frozen=True)
class ShortNeed:
    """A need the plan left short, as the plan page lists it (what ``aidpack plan show`` prints as a gap)."""

    ref: str
    priority: str
    region: str
    capability: str
    quantity: float
    covered: float
    people_short: float | None  # people served x the share not covered; None where the caller may not see people
    reason: str | None
    #: As ``plan_read`` cut it for the caller: other needs' refs, and which proposed pledges alone could serve a
    #: no_supply need (other donors' unconfirmed pledges), for staff only; that only proposed pledges could (its
    #: ``hint``), for everyone who sees the need.
    detail: dict[str, Any] | None


def _short_needs(principal: Principal, shown: PlanRead, outcomes: list[PlanOutcome]) -> list[ShortNeed]:
    """The needs this caller may see (``shown``) that the plan left short, the most pressing first (the order of
    ``aidpack plan show``'s gaps), with their tier, region, capability and people from the plan's ``outcomes``
    (the ones ``shown`` was made of: read once)."""
    planned = {outcome.ref: outcome for outcome in outcomes}
    # People served are for staff and the owning recipient (policy.need_full_detail); a recipient sees only its own.
    people_visible = principal.is_staff or principal.role is Role.RECIPIENT
    rows = []
    for need in shown.needs:
        if need.covered >= need.quantity or need.ref not in planned:
            continue
        facts = planned[need.ref]
        missing = (need.quantity - need.covered) / need.quantity if need.quantity else 0.0
        rows.append(
            ShortNeed(
                ref=need.ref,
                priority=facts.priority.value,
                region=facts.region,
                capability=facts.capability,
                quantity=need.quantity,
                covered=need.covered,
                people_short=facts.people * missing if people_visible else None,
                reason=need.reason,
                detail=need.detail,
            )
        )
    rows.sort(key=lambda row: pressing_first(row.priority, row.people_short or 0.0, row.ref))
    return rows


@dataclass(frozen=True)
class DonorCover:
    """What one donor's lines in a plan cover: per capability its amount and its share of all donors' amount of
    it, the largest shares first (amounts in different units do not compare), as `aidpack allocate` orders them."""

    code: str
    name: str
    lines: int
    needs: int
    amounts: list[tuple[str, float, float]]


def _donor_covers(session: Session, principal: Principal, plan_id: int) -> list[DonorCover]:
    """What each donor's lines in the plan cover (most needs first, as `aidpack allocate` prints it): every
    donor for staff, a donor its own row, nobody else (database sums: two queries whatever the plan's size)."""
    if not principal.is_staff and (principal.role is not Role.DONOR or principal.org_code is None):
        return []
    every = donor_totals(session, plan_id)
    totals: dict[str, float] = defaultdict(float)
    for row in every:
        for capability, amount in row.by_capability.items():
            totals[capability] += float(amount)
    covers = []
    for row in every:
        if not principal.is_staff and row.code != principal.org_code:
            continue
        amounts = [(cap, float(amount), float(amount) / totals[cap] if totals[cap] else 0.0)
                   for cap, amount in row.by_capability.items()]
        amounts.sort(key=lambda entry: (-entry[2], entry[0]))
        covers.append(DonorCover(row.code, row.name, row.lines, row.needs, amounts))
    return sorted(covers, key=lambda cover: (-cover.needs, cover.code))


@router.get("/plans")
def plans(request: Request, session: SessionDep, principal: PagePrincipal) -> Response:
    require_login(principal)
    policy.require(principal, Action.READ_PLANS)
    rows, total = lookups.list_plans(session, limit=50, offset=0)
    return render(
        request,
        "plans.html",
        {
            "principal": principal,
            "plans": rows,
            "line_counts": line_counts(session, [p.id for p in rows]),
            "total": total,
            "can_run": policy.allows(principal, Action.RUN_PLANS),
        },
    )


@router.post("/plans")
def plan_run(
    request: Request,
    session: SessionDep,
    principal: PagePrincipal,
    web: WebSessionDep,
    csrf_token: Field = None,
    include_proposed: Field = None,
) -> Response:
    require_login(principal)
    auth_service.check_csrf(web, csrf_token)
    policy.require(principal, Action.RUN_PLANS)
    plan = allocation_service.run_plan(session, actor=principal.actor, include_proposed=include_proposed == "on")
    return redirect(request, f"/plans/{plan.id}")


#: What the plan page's buttons send.
DECISIONS = frozenset({"accept", "reject", "accept_all", "reject_all"})

#: Lines per page of a plan (a national plan has 20,000: one table of them took 5 s to render and 6 MB).
PAGE_LINES = 500
#: Short needs the plan page lists unless asked for all (``?short=all``): the 1e6 bench's plan leaves 1,410 short,
#: whose table made most of a 762 KiB page; the most pressing come first.
SHORT_SHOWN = 100


@router.get("/plans/{plan_id}")
def plan_page(
    request: Request,
    plan_id: IdPath,
    session: SessionDep,
    principal: PagePrincipal,
    page: Annotated[int, Query(ge=1, le=10**6), DIGITS] = 1,
    count: Annotated[int | None, Query(ge=0, le=MAX_ROW), DIGITS] = None,
    short: Annotated[Literal["all"] | None, Query()] = None,
) -> Response:
    require_login(principal)
    policy.require(principal, Action.READ_PLANS)
    plan = lookups.get_plan(session, plan_id)
    rows = plan_lines(session, plan.id)
    outcomes = plan_outcomes(session, plan.id, rows)
    # Without its lines: the page shows its own page of rows.
    shown = plan_read(session, principal, plan, rows, include_lines=False, outcomes=outcomes)
    visible = visible_lines(principal, rows)
    pages = max(1, -(-len(visible) // PAGE_LINES))
    page = min(page, pages)
    lines = visible[(page - 1) * PAGE_LINES : page * PAGE_LINES]
    site_ids = {line.need_site_id for line in lines if line.need_site_id is not None}
    # A site's name where the caller may see it, None where it may not (the page says 'restricted'): blank cells
    # had read as 'no site'.
    site_names: dict[int, str | None] = {
        site.id: site.name if policy.site_details_visible(principal, site) else None
        for site in session.execute(select(Site).where(Site.id.in_(site_ids))).scalars()
    } if site_ids else {}
    sites = {line.need_ref: site_names[line.need_site_id] for line in lines if line.need_site_id in site_names}
    short_needs = _short_needs(principal, shown, outcomes)
    return render(
        request,
        "plan.html",
        {
            "principal": principal,
            "plan": plan,
            "shown": shown,
            "lines": lines,
            "sites": sites,
            "tiers": TIERS,
            "short_needs": short_needs if short == "all" else short_needs[:SHORT_SHOWN],
            "short_total": len(short_needs),
            "donors": _donor_covers(session, principal, plan.id),
            "can_decide": policy.allows(principal, Action.DECIDE_PLANS),
            "proposed": sum(1 for line in visible if line.status is LineStatus.PROPOSED),
            "page": page,
            "pages": pages,
            "line_total": len(visible),
            "first_line": (page - 1) * PAGE_LINES + 1,
            "done": request.query_params.get("done"),
            "count": count,
        },
    )


@router.post("/plans/{plan_id}/decide")
def plan_decide(
    request: Request,
    plan_id: IdPath,
    session: SessionDep,
    principal: PagePrincipal,
    web: WebSessionDep,
    csrf_token: Field = None,
    action: Field = None,
    line: Annotated[list[str] | None, Form(max_length=100_000)] = None,
) -> Response:
    """Accept or reject the ticked lines, or every proposed line (``action=accept_all``)."""
    require_login(principal)
    auth_service.check_csrf(web, csrf_token)
    policy.require(principal, Action.DECIDE_PLANS)
    if action not in DECISIONS:
        # Anything else had rejected the ticked lines.
        raise ValidationFailed("choose to accept or to reject lines", context={"action": (action or "")[:20]})
    every = action in ("accept_all", "reject_all")
    line_ids = None if every else sorted({int(v) for v in (line or []) if v.isdigit() and len(v) < 10})
    if line_ids == []:
        # Nothing ticked: said 'Lines accepted: their pledge units are now reserved.' and changed nothing.
        return redirect(request, f"/plans/{plan_id}?done=none")
    if action in ("accept", "accept_all"):
        decided = decisions.accept_lines(session, actor=principal.actor, plan_id=plan_id, line_ids=line_ids)
        done = "accepted"
    else:
        decided = decisions.reject_lines(session, actor=principal.actor, plan_id=plan_id, line_ids=line_ids)
        done = "rejected"
    return redirect(request, f"/plans/{plan_id}?done={done}&count={len(decided)}")


@router.get("/sites")
def sites(request: Request, session: SessionDep, principal: PagePrincipal) -> Response:
    """The sites this account may see by name (restricted ones: staff and the owning recipient)."""
    require_login(principal)
    rows, total = sites_service.list_sites(session, principal=principal, limit=500)
    return render(
        request,
        "sites.html",
        {
            "principal": principal,
            "sites": [sites_service.present(principal, s) for s in rows],
            "total": total,
        },
    )
