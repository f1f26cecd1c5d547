"""Deciding a plan: accept lines (reserving pledge units) or reject them.

Accepting never checks-then-acts. Inside one savepoint it

1. moves the lines ``proposed → accepted`` with one conditional UPDATE (``WHERE status = 'proposed'``), so
   two people accepting the same line cannot both succeed;
2. locks the lines' needs (``FOR NO KEY UPDATE``, id order) and refuses lines whose need was covered by other
   plans' lines accepted after this plan was computed (a stale plan would duplicate them);
3. reserves pledge units with ONE conditional UPDATE per pledge, in pledge id order::

       UPDATE pledges SET committed_units = committed_units + :u, version = version + 1
       WHERE id = :id AND status != 'withdrawn' AND committed_units + :u <= units

   If any pledge cannot take its lines, nothing is accepted: the savepoint is rolled back and
   :class:`PlanStale` (exit code 2, HTTP 409) names the conflicting lines, pledges and needs;
4. writes the audit events last (the audit head row is the last lock taken, so writers never deadlock).

Lock order everywhere: lines, needs, pledges, audit head.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any, TypeVar, cast

from sqlalchemy import CursorResult, bindparam, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from aidpack.allocation.models import (
    ALLOWED_LINE_TRANSITIONS,
    FIXED_LINE_STATUSES,
    Line,
    LineStatus,
    Plan,
    PlanNeed,
    delivered_amount,
)
from aidpack.audit.service import EventDraft, record_many, snapshot, to_json_value
from aidpack.db import Quantity, utcnow
from aidpack.errors import Conflict, NotFound, RuleViolation, ValidationFailed
from aidpack.needs.models import Need, NeedStatus
from aidpack.pledges.models import Pledge, PledgeStatus


class PlanNotFound(NotFound):
    code = "PLAN_NOT_FOUND"


class LineNotFound(NotFound):
    code = "LINE_NOT_FOUND"


class LineTransitionRefused(RuleViolation):
    """A line is not in a status from which the requested change is allowed."""

    code = "LINE_STATUS"


class NeedCancelled(RuleViolation):
    code = "NEED_CANCELLED"


class PlanStale(Conflict):
    """The plan was computed before other lines were accepted: its lines would over-use pledges or
    duplicate coverage that is now fixed. Nothing was accepted."""

    code = "PLAN_STALE"


class LinesChanged(Conflict):
    """Someone else decided (or shipped, or received) these lines at the same time."""

    code = "LINES_CONFLICT"


# --- lookups -----------------------------------------------------------------------------------


def get_plan(session: Session, *, plan_ref: str | int) -> Plan:
    """A plan by id, or ``latest`` (the newest plan)."""
    if isinstance(plan_ref, str) and plan_ref.strip().lower() == "latest":
        plan = session.execute(select(Plan).order_by(Plan.id.desc()).limit(1)).scalar_one_or_none()
        if plan is None:
            raise PlanNotFound("there is no plan yet; run `aidpack allocate` first")
        return plan
    try:
        plan_id = int(plan_ref)
    except ValueError as exc:
        raise ValidationFailed(
            f"PLAN must be a plan id or 'latest', not {plan_ref!r}", context={"plan": str(plan_ref)}
        ) from exc
    found = session.get(Plan, plan_id)
    if found is None:
        raise PlanNotFound(f"plan {plan_id} does not exist", context={"plan": plan_id})
    return found


def _plan_lines(session: Session, plan: Plan, line_ids: Sequence[int] | None) -> list[Line]:
    if line_ids is None:
        return list(
            session.execute(
                select(Line)
                .where(Line.plan_id == plan.id, Line.status == LineStatus.PROPOSED)
                .order_by(Line.id)
            ).scalars()
        )
    wanted = sorted(set(line_ids))
    if not wanted:
        raise ValidationFailed("name at least one line (--line ID) or take them all (--all)")
    lines = list(
        session.execute(
            select(Line).where(Line.plan_id == plan.id, Line.id.in_(wanted)).order_by(Line.id)
        ).scalars()
    )
    missing = sorted(set(wanted) - {line.id for line in lines})
    if missing:
        raise LineNotFound(
            f"plan {plan.id} has no line {', '.join(map(str, missing))}",
            context={"plan": plan.id, "lines": missing},
        )
    return lines


def check_transition(lines: Iterable[Line], target: LineStatus) -> None:
    """Refuse, naming each line and its status, unless every line may move to ``target``."""
    refused = [line for line in lines if target not in ALLOWED_LINE_TRANSITIONS[line.status]]
    if refused:
        described = ", ".join(f"line {line.id} is {line.status.value}" for line in refused)
        raise LineTransitionRefused(
            f"cannot mark as {target.value}: {described}",
            context={
                "target": target.value,
                "lines": [{"id": line.id, "status": line.status.value} for line in refused],
            },
        )


def rowcount(result: object) -> int:
    return cast(CursorResult[Any], result).rowcount


#: What deciding a line changes in its row, and reserving its units in its pledge's.
LINE_DECIDED = ("status", "decided_by", "decided_at", "version")
PLEDGE_RESERVED = ("committed_units", "version")
#: Ids per statement: a national plan has 20,000 lines, and a statement takes at most 32,766 parameters in many
#: SQLite builds and 65,535 in PostgreSQL's protocol.
CHUNK = 5_000


def _chunks(ids: Sequence[int]) -> list[Sequence[int]]:
    return [ids[start : start + CHUNK] for start in range(0, len(ids), CHUNK)]


def _move_lines(
    session: Session, *, actor: str, lines: Sequence[Line], source: LineStatus, target: LineStatus
) -> None:
    """One conditional UPDATE: only lines still in ``source`` move; anything else is a race, a Conflict."""
    ids = [line.id for line in lines]
    decided_at = utcnow()
    moved = sum(
        rowcount(
            session.execute(
                update(Line)
                .where(Line.id.in_(chunk), Line.status == source)
                .values(status=target, decided_by=actor, decided_at=decided_at, version=Line.version + 1)
                .execution_options(synchronize_session=False)
            )
        )
        for chunk in _chunks(ids)
    )
    if moved != len(ids):
        raise LinesChanged(
            "some of these lines were changed by someone else at the same time; reload and try again",
            context={"lines": ids},
        )


R = TypeVar("R", Line, Pledge)


def _reread(session: Session, model: type[R], rows: Sequence[R], columns: Sequence[str]) -> None:
    """``columns`` of ``rows`` read again from the database after the conditional UPDATEs above (which bypass the
    session), a chunk of rows per query rather than a refresh per row (5,575 lines: a minute)."""
    by_id = {row.id: row for row in rows}
    selected = [getattr(model, name) for name in columns]
    for chunk in _chunks(list(by_id)):
        for values in session.execute(select(model.id, *selected).where(model.id.in_(chunk))):
            row = by_id[values[0]]
            for name, value in zip(columns, values[1:], strict=True):
                set_committed_value(row, name, value)


# --- the stale-plan checks -----------------------------------------------------------------------


def _check_needs(session: Session, plan: Plan, lines: Sequence[Line]) -> list[dict[str, Any]]:
    """Needs that lines of ``plan`` would now over-cover because other plans' lines got fixed since.

    Lock the needs first, so that two plans covering one need are decided one after the other. A need
    conflicts only when (a) what other plans fix for it grew since this plan saw it and (b) the plan's
    lines would then overshoot the need by at least one whole unit of some line.
    """
    need_ids = sorted({line.need_id for line in lines})
    for chunk in _chunks(need_ids):  # in id order, chunk after chunk
        session.execute(
            select(Need.id).where(Need.id.in_(chunk)).order_by(Need.id).with_for_update(key_share=True)
        ).all()
    seen: dict[int, Decimal] = {}
    quantities: dict[int, Decimal] = {}
    accepting = {line.id for line in lines}
    other_fixed: dict[int, Decimal] = defaultdict(Decimal)
    own_fixed: dict[int, Decimal] = defaultdict(Decimal)
    for chunk in _chunks(need_ids):
        seen.update(
            (need_id, covered)
            for need_id, covered in session.execute(
                select(PlanNeed.need_id, PlanNeed.covered_fixed).where(
                    PlanNeed.plan_id == plan.id, PlanNeed.need_id.in_(chunk)
                )
            )
        )
        quantities.update(
            (need_id, quantity)
            for need_id, quantity in session.execute(select(Need.id, Need.quantity).where(Need.id.in_(chunk)))
        )
        for line_id, need_id, line_plan_id, amount, units, received in session.execute(
            select(Line.id, Line.need_id, Line.plan_id, Line.amount, Line.units, Line.received_units).where(
                Line.need_id.in_(chunk), Line.status.in_(list(FIXED_LINE_STATUSES))
            )
        ):
            if line_id in accepting:
                continue
            bucket = own_fixed if line_plan_id == plan.id else other_fixed
            bucket[need_id] += delivered_amount(amount, units, received)
    new_lines: dict[int, list[Line]] = defaultdict(list)
    for line in lines:
        new_lines[line.need_id].append(line)
    conflicts: list[dict[str, Any]] = []
    for need_id in need_ids:
        if need_id not in seen or other_fixed[need_id] <= seen[need_id]:
            continue  # the plan saw every fixed line of this need (or has no record of the need)
        mine = new_lines[need_id]
        excess = other_fixed[need_id] + own_fixed[need_id] + sum((x.amount for x in mine), Decimal(0))
        excess -= quantities[need_id]
        smallest_unit = min(x.amount / x.units for x in mine)
        if excess > 0 and excess >= smallest_unit:
            conflicts.append(
                {
                    "need": mine[0].need.ref,
                    "quantity": to_json_value(quantities[need_id]),
                    "fixed_by_other_plans": to_json_value(other_fixed[need_id]),
                    "fixed_when_planned": to_json_value(seen[need_id]),
                    "lines": [x.id for x in mine],
                }
            )
    return conflicts


def _reserve(session: Session, lines: Sequence[Line]) -> tuple[dict[int, Decimal], list[dict[str, Any]]]:
    """Reserve the lines' units on their pledges: the pledges locked in id order and read, every pledge that cannot
    take its lines named, and only when none is, one batched conditional UPDATE for them all. Returns reserved
    units and conflicts (a national plan's 8,000 pledges: an UPDATE each took seconds)."""
    per_pledge: dict[int, list[Line]] = defaultdict(list)
    for line in lines:
        per_pledge[line.pledge_id].append(line)
    wanted = {
        pledge_id: sum((line.units for line in per_pledge[pledge_id]), Decimal(0)) for pledge_id in sorted(per_pledge)
    }
    current: dict[int, tuple[str, Decimal, Decimal, PledgeStatus]] = {}
    for chunk in _chunks(list(wanted)):
        for pledge_id, ref, total, committed, status in session.execute(
            select(Pledge.id, Pledge.ref, Pledge.units, Pledge.committed_units, Pledge.status)
            .where(Pledge.id.in_(chunk))
            .order_by(Pledge.id)
            .with_for_update()
        ):
            current[pledge_id] = (ref, total, committed, status)
    conflicts: list[dict[str, Any]] = []
    for pledge_id, units in wanted.items():
        ref, total, committed, status = current[pledge_id]
        if status is not PledgeStatus.WITHDRAWN and committed + units <= total:
            continue
        conflicts.append(
            {
                "pledge": ref,
                "status": status.value,
                "units": to_json_value(total),
                "committed_units": to_json_value(committed),
                "available": to_json_value(max(total - committed, Decimal(0))),
                "requested": to_json_value(units),
                "lines": [line.id for line in per_pledge[pledge_id]],
            }
        )
    if conflicts:
        return {}, conflicts
    # The rows are locked (SQLite: this transaction already holds the database's write lock); the condition stays,
    # so that no pledge is ever over-committed whatever the isolation.
    units_param = bindparam("wanted_units", type_=Quantity())
    statement = (
        update(Pledge)
        .where(
            Pledge.id == bindparam("pledge_id"),
            Pledge.status != PledgeStatus.WITHDRAWN,
            Pledge.committed_units + units_param <= Pledge.units,
        )
        .values(committed_units=Pledge.committed_units + units_param, version=Pledge.version + 1)
        .execution_options(synchronize_session=False)
    )
    params = [{"pledge_id": pledge_id, "wanted_units": units} for pledge_id, units in wanted.items()]
    done = session.connection().execute(statement, params)
    if session.get_bind().dialect.supports_sane_multi_rowcount and rowcount(done) != len(params):
        raise LinesChanged(
            "the pledges of these lines were changed by someone else at the same time; reload and try again",
            context={"lines": [line.id for line in lines]},
        )
    return wanted, []


def _lines_text(ids: Sequence[int]) -> str:
    return ("line " if len(ids) == 1 else "lines ") + ", ".join(map(str, ids))


def _stale_message(plan: Plan, pledges: list[dict[str, Any]], needs: list[dict[str, Any]]) -> str:
    parts = []
    for item in pledges:
        lines = _lines_text(item["lines"])
        if item["status"] == PledgeStatus.WITHDRAWN.value:
            parts.append(f"pledge {item['pledge']} was withdrawn ({lines})")
        else:
            parts.append(
                f"pledge {item['pledge']} has {item['available']} units left"
                f" but {lines} would take {item['requested']}"
            )
    for item in needs:
        lines = _lines_text(item["lines"])
        parts.append(f"need {item['need']} is already covered by lines accepted since ({lines})")
    return (
        f"plan {plan.id} is stale: {'; '.join(parts)}. Nothing was accepted; "
        "run `aidpack allocate` again or accept other lines"
    )


# --- the services --------------------------------------------------------------------------------


def accept_lines(session: Session, *, actor: str, plan_id: int, line_ids: Sequence[int] | None) -> list[Line]:
    """Accept lines of a plan (``None``: every proposed line), reserving their pledges' units.

    All or nothing: raises :class:`PlanStale` (a Conflict) naming the lines, pledges and needs that no
    longer fit, and leaves the database as it was.
    """
    plan = get_plan(session, plan_ref=plan_id)
    lines = _plan_lines(session, plan, line_ids)
    if not lines:
        return []
    check_transition(lines, LineStatus.ACCEPTED)
    cancelled = [line for line in lines if line.need.status == NeedStatus.CANCELLED]
    if cancelled:
        raise NeedCancelled(
            "cannot accept lines for cancelled needs: "
            + ", ".join(f"line {line.id} (need {line.need.ref})" for line in cancelled),
            context={
                "lines": [line.id for line in cancelled],
                "needs": sorted({x.need.ref for x in cancelled}),
            },
        )
    before = {line.id: snapshot(line) for line in lines}
    with session.begin_nested():
        _move_lines(session, actor=actor, lines=lines, source=LineStatus.PROPOSED, target=LineStatus.ACCEPTED)
        need_conflicts = _check_needs(session, plan, lines)
        reserved, pledge_conflicts = _reserve(session, lines)
        if pledge_conflicts or need_conflicts:
            conflicting = sorted(
                {i for item in pledge_conflicts for i in item["lines"]}
                | {i for item in need_conflicts for i in item["lines"]}
            )
            raise PlanStale(
                _stale_message(plan, pledge_conflicts, need_conflicts),
                context={
                    "plan": plan.id,
                    "lines": conflicting,
                    "pledges": pledge_conflicts,
                    "needs": need_conflicts,
                },
            )
    pledges = {line.pledge_id: line.pledge for line in lines}
    _reread(session, Pledge, list(pledges.values()), PLEDGE_RESERVED)
    _reread(session, Line, lines, LINE_DECIDED)
    by_pledge: dict[int, list[int]] = defaultdict(list)
    for line in lines:
        by_pledge[line.pledge_id].append(line.id)
    drafts = [
        EventDraft("line.accept", "line", str(line.id), before=before[line.id], after=snapshot(line))
        for line in lines
    ]
    for pledge_id in sorted(reserved):
        pledge = pledges[pledge_id]
        units = reserved[pledge_id]
        drafts.append(
            EventDraft(
                "pledge.reserve",
                "pledge",
                pledge.ref,
                before={"committed_units": pledge.committed_units - units},
                after={
                    "committed_units": pledge.committed_units,
                    "units": pledge.units,
                    "reserved": units,
                    "plan": plan.id,
                    "lines": by_pledge[pledge_id],
                },
            )
        )
    # One lock of the audit head and one batched INSERT (an event at a time, 5,575 lines took a minute).
    record_many(session, actor=actor, drafts=drafts)
    return list(lines)


def reject_lines(session: Session, *, actor: str, plan_id: int, line_ids: Sequence[int] | None) -> list[Line]:
    """Reject proposed lines of a plan (``None``: every proposed line). Reserves nothing."""
    plan = get_plan(session, plan_ref=plan_id)
    lines = _plan_lines(session, plan, line_ids)
    if not lines:
        return []
    check_transition(lines, LineStatus.REJECTED)
    before = {line.id: snapshot(line) for line in lines}
    with session.begin_nested():
        _move_lines(session, actor=actor, lines=lines, source=LineStatus.PROPOSED, target=LineStatus.REJECTED)
    _reread(session, Line, lines, LINE_DECIDED)
    record_many(
        session,
        actor=actor,
        drafts=[
            EventDraft("line.reject", "line", str(line.id), before=before[line.id], after=snapshot(line))
            for line in lines
        ],
    )
    return lines
