"""`/api/v1/plans` and `/api/v1/lines`: run a plan (staff), read plans and lines in scope, decide lines."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response, status
from sqlalchemy.orm import Session

from aidpack.allocation import decisions
from aidpack.allocation import service as allocation_service
from aidpack.allocation.models import Line, LineStatus, Plan
from aidpack.allocation.readout import PlanLine, PlanOutcome, line_counts, plan_lines
from aidpack.allocation.schemas import (
    LineDecision,
    LinePage,
    LineRead,
    PlanLineRead,
    PlanNeedRead,
    PlanPage,
    PlanRead,
    PlanRun,
    PlanSummary,
    TierRead,
)
from aidpack.auth import policy
from aidpack.auth.deps import CurrentPrincipal, CurrentUser
from aidpack.auth.policy import Action, Principal
from aidpack.needs import service as needs_service
from aidpack.reports import lookups
from aidpack.web.deps import SessionDep
from aidpack.web.fields import check_date
from aidpack.web.http import DIGITS, READ_ERRORS, WRITE_ERRORS, CodeFilter, PaginationDep, set_etag

router = APIRouter(tags=["plans"])

PlanId = Annotated[int, Path(ge=1, le=2**31 - 1)]
LineIdPath = Annotated[int, Path(ge=1, le=2**31 - 1)]


def line_read(line: Line) -> LineRead:
    return LineRead(
        id=line.id,
        plan=line.plan_id,
        pledge=line.pledge.ref,
        donor=line.pledge.donor.code,
        need=line.need.ref,
        region=line.need.region.code,
        capability=line.need.capability,
        units=float(line.units),
        amount=float(line.amount),
        eta=line.eta,
        transit_days=line.transit_days,
        status=line.status,
        shipment=line.shipment_id,
        received_units=float(line.received_units) if line.received_units is not None else None,
        version=line.version,
    )


def plan_summary(plan: Plan, lines: int) -> PlanSummary:
    return PlanSummary(
        id=plan.id,
        created_at=plan.created_at,
        created_by=plan.created_by,
        plan_date=plan.plan_date,
        status=plan.status,
        gap=plan.gap,
        solve_seconds=plan.solve_seconds,
        lines=lines,
    )


def visible_lines(principal: Principal, rows: list[PlanLine]) -> list[PlanLine]:
    """The rows of a plan's lines that the caller may see (:func:`policy.line_in_scope`)."""
    if principal.is_staff:
        return rows
    return [row for row in rows if policy.line_in_scope(principal, donor_id=row.donor_id, need_org_id=row.need_org_id)]


def _detail_for_all(detail: dict[str, Any] | None) -> dict[str, Any] | None:
    """What a short need's detail may say to a caller who is not staff: when the earliest pledge could arrive
    (too_late) and that only proposed pledges provide its capability (no_supply: the hint, not which donors'
    unconfirmed pledges they are), never which other needs took the units (outcompeted: other organisations'
    needs)."""
    if detail and "earliest_eta" in detail:
        return {"earliest_eta": detail["earliest_eta"]}
    if detail and "hint" in detail:
        return {"hint": detail["hint"]}
    return None


def plan_read(
    session: Session,
    principal: Principal,
    plan: Plan,
    rows: list[PlanLine] | None = None,
    *,
    include_lines: bool = True,
    outcomes: list[PlanOutcome] | None = None,
) -> PlanRead:
    """The SPEC §4 object, cut to the caller's lines and needs (staff see everything). ``rows``: the plan's
    :func:`readout.plan_lines`, and ``outcomes`` its :func:`readout.plan_outcomes` of them, when the caller has
    them already. ``include_lines=False``: without its lines, for the plan page, which shows :func:`visible_lines`
    a page at a time (at 1e6 edges, with 19,644 lines, this took 0.25-0.47 s with the lines and 0.10-0.18 s
    without)."""
    if rows is None:
        rows = plan_lines(session, plan.id)
    payload: dict[str, Any] = allocation_service.plan_payload(session, plan, rows, include_lines=include_lines,
                                                              outcomes=outcomes)
    lines: list[dict[str, Any]] = payload["lines"]
    needs: list[dict[str, Any]] = payload["needs"]
    if not principal.is_staff:
        if lines:
            shown = {str(row.id) for row in visible_lines(principal, rows)}
            lines = [line for line in lines if line["id"] in shown]
        visible_needs = needs_service.list_need_refs(session, principal=principal)
        needs = [{**n, "detail": _detail_for_all(n.get("detail"))} for n in needs if n["ref"] in visible_needs]
    return PlanRead(
        plan=str(payload["plan"]),
        status=payload["status"],
        plan_date=payload["plan_date"],
        tiers={k: TierRead(**v) for k, v in payload["tiers"].items()},
        lines=[PlanLineRead(**line) for line in lines],
        needs=[
            PlanNeedRead(**{k: n.get(k) for k in ("ref", "quantity", "covered", "reason", "detail")}) for n in needs
        ],
        solve_seconds=payload["solve_seconds"],
        gap=payload["gap"],
    )


@router.get("/plans", response_model=PlanPage, responses=READ_ERRORS)
def list_plans(session: SessionDep, principal: CurrentPrincipal, page: PaginationDep) -> PlanPage:
    policy.require(principal, Action.READ_PLANS)
    rows, total = lookups.list_plans(session, limit=page.limit, offset=page.offset)
    counts = line_counts(session, [p.id for p in rows])
    return PlanPage(items=[plan_summary(p, counts[p.id]) for p in rows], total=total, limit=page.limit,
                    offset=page.offset)


@router.post("/plans", response_model=PlanRead, status_code=status.HTTP_201_CREATED, responses=WRITE_ERRORS)
def run_plan(run: PlanRun, session: SessionDep, principal: CurrentUser) -> PlanRead:
    """Run the allocation engine on the current data and save the plan (coordinators)."""
    policy.require(principal, Action.RUN_PLANS)
    plan = allocation_service.run_plan(
        session,
        actor=principal.actor,
        include_proposed=run.include_proposed,
        time_limit=run.time_limit,
        plan_date=check_date(run.plan_date, field="plan_date"),
    )
    return plan_read(session, principal, plan)


@router.get("/plans/latest", response_model=PlanRead, responses=READ_ERRORS)
def latest_plan(session: SessionDep, principal: CurrentPrincipal) -> PlanRead:
    policy.require(principal, Action.READ_PLANS)
    return plan_read(session, principal, allocation_service.get_plan(session, None))


@router.get("/plans/{plan_id}", response_model=PlanRead, responses=READ_ERRORS)
def get_plan(plan_id: PlanId, session: SessionDep, principal: CurrentPrincipal) -> PlanRead:
    policy.require(principal, Action.READ_PLANS)
    return plan_read(session, principal, allocation_service.get_plan(session, plan_id))


@router.post("/plans/{plan_id}/accept", response_model=list[LineRead], responses=WRITE_ERRORS)
def accept(plan_id: PlanId, decision: LineDecision, session: SessionDep, principal: CurrentUser) -> list[LineRead]:
    """Accept lines (all proposed ones when ``lines`` is omitted): their pledge units are reserved."""
    policy.require(principal, Action.DECIDE_PLANS)
    lines = decisions.accept_lines(session, actor=principal.actor, plan_id=plan_id, line_ids=decision.lines)
    return [line_read(line) for line in lines]


@router.post("/plans/{plan_id}/reject", response_model=list[LineRead], responses=WRITE_ERRORS)
def reject(plan_id: PlanId, decision: LineDecision, session: SessionDep, principal: CurrentUser) -> list[LineRead]:
    policy.require(principal, Action.DECIDE_PLANS)
    lines = decisions.reject_lines(session, actor=principal.actor, plan_id=plan_id, line_ids=decision.lines)
    return [line_read(line) for line in lines]


@router.get("/lines", response_model=LinePage, responses=READ_ERRORS)
def list_lines(
    session: SessionDep,
    principal: CurrentPrincipal,
    page: PaginationDep,
    plan: Annotated[int | None, Query(ge=1, le=2**31 - 1), DIGITS] = None,
    status: LineStatus | None = None,
    donor: CodeFilter = None,
    need: CodeFilter = None,
) -> LinePage:
    """Lines the caller may see: staff all, a donor its pledges', a recipient those to its needs."""
    rows, total = lookups.list_lines(
        session,
        principal=principal,
        plan_id=plan,
        status=status,
        donor=donor,
        need=need,
        limit=page.limit,
        offset=page.offset,
    )
    return LinePage(items=[line_read(line) for line in rows], total=total, limit=page.limit, offset=page.offset)


@router.get("/lines/{line_id}", response_model=LineRead, responses=READ_ERRORS)
def get_line(line_id: LineIdPath, session: SessionDep, principal: CurrentPrincipal, response: Response) -> LineRead:
    """A line the caller may see, with its version as the ETag (as every row the API reads)."""
    line = lookups.get_line(session, principal=principal, line_id=line_id)
    set_etag(response, line.version)
    return line_read(line)
