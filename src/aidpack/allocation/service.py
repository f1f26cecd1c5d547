"""Run the engine on the database's data and persist the plan; read plans back as SPEC §4 objects."""

from __future__ import annotations

import datetime as dt
import gc
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from decimal import ROUND_CEILING, ROUND_HALF_EVEN, Decimal, localcontext
from typing import Any, cast

import numpy as np
from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from aidpack.allocation.blocks import Previous
from aidpack.allocation.consumables import add_needs, implied, in_use
from aidpack.allocation.engine import COVER_ULPS, ROUND_EXACT_BELOW, Allocation, allocate
from aidpack.allocation.explain import MAX_NAMED, explain
from aidpack.allocation.fairness import allocate_fair, fair_key, region_coverage
from aidpack.allocation.loader import LoadedProblem, default_plan_date, load_problem
from aidpack.allocation.model import candidate_edges
from aidpack.allocation.models import Line, LineStatus, Plan, PlanNeed, ShortReason, Termination, plan_kept_lines
from aidpack.allocation.problem import TIER_NAMES, FloatArray, IntArray
from aidpack.allocation.readout import PlanLine, PlanOutcome, plan_lines, plan_outcomes
from aidpack.allocation.solve import SolveOptions
from aidpack.audit.service import record
from aidpack.catalogue.models import Item
from aidpack.db import QUANTITY_DIGITS, QUANTITY_SCALE, bulk_insert, scaled, scaled_table, to_quantity
from aidpack.errors import DomainError, NotFound
from aidpack.pledges.models import Pledge, PledgeStatus


class PlanNotFound(NotFound):
    code = "PLAN_NOT_FOUND"


FAIR_REGIONS = "regions"


class UnknownFairness(DomainError):
    code = "UNKNOWN_FAIRNESS"


class SolverFailed(DomainError):
    code = "SOLVER_FAILED"
    http_status = 500


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector held off while a plan runs or is read back whole. Both build few
    reference cycles but many short-lived tuples (the saved rows), each batch of which made the collector walk
    every object the process holds: 1e5 bench, 0.05-0.07 s of a 0.7 s plan, most of it in one full collection
    while saving; the 1e6 bench's SPEC §4 object of 19,589 lines, 0.3 s of 1.1 s.
    The switch is the process's: in the web app, other requests go without it meanwhile, and overlapping runs
    leave it on as soon as the first that found it on has ended (never off for good)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@_collector_paused()
def run_plan(
    session: Session,
    *,
    actor: str,
    include_proposed: bool = False,
    time_limit: float | None = None,
    plan_date: dt.date | None = None,
    stable: bool = True,
    fair: str | None = None,
    consumable_days: float | None = None,
    with_consumables: bool = False,
) -> Plan:
    """Load, allocate and save one plan with its lines, per-need outcomes and an audit event.

    With ``stable`` (the default), among plans of equal merit the engine keeps the previous plan's
    proposed lines; the plan's figures report the units it moved (``moved_units``). With
    ``fair="regions"``, each tier first raises its worst-served region's coverage (figures ``fairness``:
    the worst region's coverage per tier with and without it). ``consumable_days`` reports what the
    plan's lines consume over that many days (figures ``consumables``); ``with_consumables`` also adds
    those amounts as needs of the same tier and plans again.
    """
    if fair not in (None, FAIR_REGIONS):
        raise UnknownFairness(f"unknown fairness {fair!r}; the only one is {FAIR_REGIONS!r}", context={"fair": fair})
    plan_date = plan_date or default_plan_date(session)
    options = SolveOptions(time_limit=time_limit)
    loaded = load_problem(session, plan_date=plan_date, include_proposed=include_proposed)
    previous = previous_lines(session, loaded) if stable else None
    allocation, stored = _allocate(session, loaded, options, previous, fair, include_proposed=include_proposed)
    consumption = None
    if consumable_days is not None:
        consumption = implied(allocation, loaded, in_use(session, loaded), consumable_days)
        if with_consumables:
            # Also when the plan implies nothing: the consumable needs it no longer implies are cancelled.
            written = add_needs(session, actor=actor, loaded=loaded, consumption=consumption, plan_date=plan_date)
            if written:
                loaded = load_problem(session, plan_date=plan_date, include_proposed=include_proposed)
                previous = previous_lines(session, loaded) if stable else None
                allocation, stored = _allocate(session, loaded, options, previous, fair,
                                               include_proposed=include_proposed)
            allocation.figures["consumables"] = {
                "days": consumable_days, "implied": consumption.totals(), "added_needs": written,
            }
        else:
            allocation.figures["consumables"] = {"days": consumable_days, "implied": consumption.totals(),
                                                 "added_needs": 0}
    if allocation.termination is Termination.ERROR:
        raise SolverFailed(
            "the solver failed on this instance; nothing was saved",
            context={"log": allocation.figures.get("log", [])},
        )
    return _persist(session, actor=actor, loaded=loaded, allocation=allocation, stored=stored, options=options,
                    include_proposed=include_proposed, plan_date=plan_date)


def _allocate(
    session: Session, loaded: LoadedProblem, options: SolveOptions, previous: Previous | None, fair: str | None,
    *, include_proposed: bool,
) -> tuple[Allocation, StoredLines]:
    allocation, stored = at_stored_precision(session, loaded, _allocate_plan(loaded, options, previous, fair))
    allocation = _with_takers_elsewhere(loaded, allocation)
    if not include_proposed:
        allocation = _with_proposed_suppliers(session, loaded, allocation)
    return allocation, stored


@dataclass(frozen=True)
class StoredLines:
    """A plan's lines as they are saved: units and amounts as the integers :class:`~aidpack.db.Quantity` stores."""

    units: IntArray
    amount: IntArray


def _scaled_exactly(values: FloatArray) -> IntArray:
    """:func:`aidpack.db.scaled`, also for values past ROUND_EXACT_BELOW, where ``value × 10**6`` in float64 is
    off by up to 128 (999,999,999,999 was saved as 999,999,999,999.000064): those through their decimal repr."""
    result = scaled(values)
    for i in np.flatnonzero(np.abs(values) >= ROUND_EXACT_BELOW).tolist():
        result[i] = int(to_quantity(repr(float(values[i]))).scaleb(QUANTITY_DIGITS))
    return result


def _times_factor(units: int, factor: Decimal) -> int:
    """The amount, at the stored precision, that ``units`` (stored integers) of an item of ``factor`` bring."""
    with localcontext() as context:
        context.prec = 60
        return int((units * factor).to_integral_value(rounding=ROUND_HALF_EVEN))


def at_stored_precision(session: Session, loaded: LoadedProblem, allocation: Allocation) -> tuple[Allocation,
                                                                                                   StoredLines]:
    """The plan's lines as the integers they are saved as, compared and clamped exactly there: no pledge gives more
    units than it has left, and a reason for every need they leave short of its open quantity (and for no other).

    The engine works in float64, which holds 15-16 significant digits; quantities up to 1e12 with six decimals have
    18. A pledge of 999,999,999,999.999999 litres is 1e12 to the engine, and its line of 1e12 litres could not be
    accepted (PLAN_STALE, and the next plan the same: QA's edge1, edge2, edge4csv); a need of 142,857,142,857.142853
    kg is 142,857,142,857.14285, and a line of that much left it 3e-06 short. Pledges and needs this large (past
    ROUND_EXACT_BELOW) are read again exactly, few rows; below it the floats are exact at six decimals."""
    exact = _ExactLines(session, loaded, allocation)
    exact.clamp_to_pledges()
    exact.trim_overshoot()
    exact.top_up()
    return exact.result()


class _ExactLines:
    """The steps of :func:`at_stored_precision`, on the lines as stored integers."""

    def __init__(self, session: Session, loaded: LoadedProblem, allocation: Allocation) -> None:
        self.session, self.loaded, self.allocation = session, loaded, allocation
        problem = self.problem = loaded.problem
        self.pledge, self.need = allocation.line_pledge, allocation.line_need
        self.units = _scaled_exactly(allocation.line_units)
        self.amount = _scaled_exactly(allocation.line_amount)
        self.available = scaled(problem.pledge_supply)
        self.factor: dict[int, Decimal] = {}
        large = np.flatnonzero((np.abs(allocation.line_units) >= ROUND_EXACT_BELOW)
                               | (np.abs(allocation.line_amount) >= ROUND_EXACT_BELOW)
                               | (problem.pledge_supply[self.pledge] >= ROUND_EXACT_BELOW))
        self.changed = set(large.tolist())
        self.read_pledges(self.pledge[large].tolist())
        for i in large.tolist():  # the amount its units bring, exactly
            self.amount[i] = _times_factor(int(self.units[i]), self.factor[int(self.pledge[i])])
        self.open_quantity = scaled(problem.need_demand)
        self.large_needs = np.flatnonzero(problem.need_demand >= ROUND_EXACT_BELOW)
        for n in self.large_needs.tolist():
            quantity, fixed = loaded.open_needs[loaded.need_ids[n]]
            self.open_quantity[n] = int(quantity.scaleb(QUANTITY_DIGITS)) - int(fixed.scaleb(QUANTITY_DIGITS))
        # The least valuable needs first: the latest tier, then the fewest people per unit (as engine.polish).
        weight = problem.need_people / np.maximum(problem.need_demand, 1e-12)
        self.value_rank = np.empty(problem.n_needs, dtype=np.int64)
        self.value_rank[np.lexsort((np.arange(problem.n_needs), weight, -problem.need_tier))] = np.arange(
            problem.n_needs)

    def read_pledges(self, indices: Iterable[int]) -> None:
        """Each pledge's exact units left and its item's factor."""
        wanted = {self.loaded.pledge_ids[p]: p for p in set(indices) if p not in self.factor}
        if not wanted:
            return
        for pledge_id, total, committed, factor in self.session.execute(
            select(Pledge.id, Pledge.units, Pledge.committed_units, Item.factor)
            .join(Item, Item.id == Pledge.item_id).where(Pledge.id.in_(sorted(wanted)))
        ):
            p = wanted[pledge_id]
            self.available[p] = max(int((total - committed).scaleb(QUANTITY_DIGITS)), 0)
            self.factor[p] = factor

    def set_units(self, i: int, units: int) -> None:
        self.units[i] = units
        self.amount[i] = _times_factor(units, self.factor[int(self.pledge[i])])
        self.changed.add(i)

    def used(self) -> IntArray:
        used = np.zeros(self.problem.n_pledges, dtype=np.int64)
        np.add.at(used, self.pledge, self.units)
        return used

    def brought(self) -> IntArray:
        brought = np.zeros(self.problem.n_needs, dtype=np.int64)
        np.add.at(brought, self.need, self.amount)
        return brought

    def clamp_to_pledges(self) -> None:
        """No pledge gives more units than it has left: its lines to the least valuable needs give the excess back,
        whole units for indivisible items."""
        used = self.used()
        over = np.flatnonzero(used > self.available).tolist()
        self.read_pledges(over)
        for p in over:
            excess = int(used[p] - self.available[p])
            lines = np.flatnonzero(self.pledge == p)
            for i in lines[np.lexsort((lines, self.value_rank[self.need[lines]]))].tolist():
                step = min(int(self.units[i]), excess)
                if self.problem.pledge_integer[p]:
                    step = min(int(self.units[i]), -(-step // QUANTITY_SCALE) * QUANTITY_SCALE)
                self.set_units(i, int(self.units[i]) - step)
                excess -= step
                if excess <= 0:
                    break

    def trim_overshoot(self) -> None:
        """No need brought more than its open quantity by divisible lines, smallest line first (as engine.polish):
        the pledge keeps the units."""
        brought = self.brought()
        pledge, need, units = self.pledge, self.need, self.units
        over = np.flatnonzero(brought > self.open_quantity)
        lines = np.flatnonzero(~self.problem.pledge_integer[pledge] & np.isin(need, over) & (units > 0))
        self.read_pledges(pledge[lines].tolist())
        for i in lines[np.lexsort((lines, units[lines], need[lines]))].tolist():
            n, factor = int(need[i]), self.factor[int(pledge[i])]
            excess = int(brought[n] - self.open_quantity[n])
            back = min(int(units[i]), int(Decimal(excess) / factor)) if excess > 0 else 0
            # The need keeps at least its open quantity.
            while back > 0 and _times_factor(int(units[i]) - back, factor) < int(self.amount[i]) - excess:
                back -= 1
            if back > 0:
                before = int(self.amount[i])
                self.set_units(i, int(units[i]) - back)
                brought[n] -= before - int(self.amount[i])

    def top_up(self) -> None:
        """A large need short by less than float64 can tell at its size gets the rest from the units its divisible
        lines' pledges have left, the most valuable needs first."""
        problem, pledge, need = self.problem, self.pledge, self.need
        short_by = self.open_quantity - self.brought()
        resolution = np.ceil(COVER_ULPS * np.spacing(problem.need_demand) * QUANTITY_SCALE)
        needs = self.large_needs[(short_by[self.large_needs] > 0)
                                 & (short_by[self.large_needs] <= resolution[self.large_needs])]
        if needs.size == 0:
            return
        lines = np.flatnonzero(~problem.pledge_integer[pledge] & np.isin(need, needs) & (self.units > 0))
        self.read_pledges(pledge[lines].tolist())
        left = self.available - self.used()
        for n in needs[np.argsort(-self.value_rank[needs], kind="stable")].tolist():
            missing = int(short_by[n])
            mine = lines[need[lines] == n]
            for i in mine[np.lexsort((mine, -self.units[mine]))].tolist():
                if missing <= 0:
                    break
                p = int(pledge[i])
                add = min(int(left[p]), int((Decimal(missing) / self.factor[p]).to_integral_value(ROUND_CEILING)))
                if add > 0:
                    before = int(self.amount[i])
                    self.set_units(i, int(self.units[i]) + add)
                    left[p] -= add
                    missing -= int(self.amount[i]) - before

    def result(self) -> tuple[Allocation, StoredLines]:
        problem, allocation = self.problem, self.allocation
        brought = self.brought()
        covered = np.minimum(brought, self.open_quantity)
        short = covered < self.open_quantity
        units, amount = self.units, self.amount
        if self.changed:
            keep = units > 0
            allocation = replace(
                allocation,
                line_pledge=self.pledge[keep], line_need=self.need[keep], line_units=units[keep] / QUANTITY_SCALE,
                line_amount=amount[keep] / QUANTITY_SCALE, line_eta=allocation.line_eta[keep],
                line_transit=allocation.line_transit[keep], need_covered=covered / QUANTITY_SCALE,
                tier_served=np.bincount(problem.need_tier, weights=problem.need_people * covered / self.open_quantity,
                                        minlength=4)[:4].astype(float),
            )
            units, amount = units[keep], amount[keep]
        # A reason for every need the saved lines leave short, and for none they fill.
        explained = np.zeros(problem.n_needs, dtype=bool)
        explained[list(allocation.shortfalls)] = True
        if (short != explained).any():
            shortfalls = {n: why for n, why in allocation.shortfalls.items() if short[n]}
            missing = short & ~explained
            if missing.any():
                shortfalls.update(explain(problem, candidate_edges(problem), missing, allocation.line_pledge,
                                          allocation.line_need, allocation.line_amount))
            allocation = replace(allocation, shortfalls=shortfalls)
        return allocation, StoredLines(units=units, amount=amount)


def _with_proposed_suppliers(session: Session, loaded: LoadedProblem, allocation: Allocation) -> Allocation:
    """A need that no considered pledge provides for (``no_supply``) names the proposed pledges that do: the plan
    leaves them out unless asked (``aidpack allocate --include-proposed``), and "no supply" alone read as if nobody
    had pledged anything (QA's edge1: N-PROPOSED, a jammer pledged but not yet confirmed)."""
    problem = loaded.problem
    unsupplied = [n for n, why in allocation.shortfalls.items() if why.reason is ShortReason.NO_SUPPLY]
    if not unsupplied:
        return allocation
    capabilities = {problem.capabilities[problem.need_capability[n]] for n in unsupplied}
    proposed: dict[str, list[str]] = defaultdict(list)
    for ref, provides in session.execute(
        select(Pledge.ref, Item.provides).join(Item, Item.id == Pledge.item_id)
        .where(Pledge.status == PledgeStatus.PROPOSED, Item.provides.in_(sorted(capabilities)))
        .order_by(Pledge.ref)
    ):
        proposed[provides].append(ref)
    if not proposed:
        return allocation
    shortfalls = dict(allocation.shortfalls)
    for n in unsupplied:
        refs = proposed.get(problem.capabilities[problem.need_capability[n]])
        if refs:
            shortfalls[n] = replace(shortfalls[n], proposed=tuple(refs[:MAX_NAMED]))
    return replace(allocation, shortfalls=shortfalls)


def _with_takers_elsewhere(loaded: LoadedProblem, allocation: Allocation) -> Allocation:
    """The reasons of the needs left short, with the fixed lines on cancelled needs among those that took units.

    The engine sees the fixed lines of open needs only (the lines a plan keeps); a pledge's units that an accepted
    line holds for a need cancelled since are gone all the same. Without them, a need whose feasible pledge went
    there was ``short_supply`` ("all feasible supply is already on this need"), or ``outcompeted`` by the wrong
    needs. Only those two reasons depend on who took what; they are worked out again with every fixed line.
    """
    if not loaded.fixed_elsewhere:
        return allocation
    problem = loaded.problem
    contested = [n for n, shortfall in allocation.shortfalls.items()
                 if shortfall.reason in (ShortReason.OUTCOMPETED, ShortReason.SHORT_SUPPLY)]
    if not contested:
        return allocation
    pledges, refs, units = zip(*loaded.fixed_elsewhere, strict=True)
    every_fixed = replace(
        problem,
        fixed_pledge=np.concatenate([problem.fixed_pledge, np.array(pledges, dtype=np.int64)]),
        fixed_need_ref=problem.fixed_need_ref + tuple(refs),
        fixed_units=np.concatenate([problem.fixed_units, np.array(units, dtype=np.float64)]),
    )
    short = np.zeros(problem.n_needs, dtype=bool)
    short[contested] = True
    again = explain(every_fixed, candidate_edges(problem), short, allocation.line_pledge, allocation.line_need,
                    allocation.line_amount)
    return replace(allocation, shortfalls={**allocation.shortfalls, **again})


def _allocate_plan(
    loaded: LoadedProblem, options: SolveOptions, previous: Previous | None, fair: str | None
) -> Allocation:
    if fair == FAIR_REGIONS:
        standard = allocate(loaded.problem, options, previous)
        allocation = allocate_fair(loaded.problem, options, previous, standard)
        seconds = standard.seconds + allocation.seconds  # the fair plan starts from the standard one: both count
        standard_key, fair_plan_key = fair_key(loaded.problem, standard), fair_key(loaded.problem, allocation)
        if standard_key > fair_plan_key:
            # The fair LP stopped short (a time limit), the standard plan is as fair and serves more people (the
            # worst regions are as far as any plan can reach: the demo scenario), or whole units cost the fair
            # plan its balance. The standard plan is then the fairer one, and the plan says why.
            log = cast(list[dict[str, object]], allocation.figures.get("log", []))
            stopped = next((entry for entry in log if entry.get("status") not in (None, Termination.OPTIMAL.value)),
                           None)
            if stopped:
                why = f"the fair LP stopped at its {stopped['stage']} stage ({stopped['status']})"
            elif standard_key[1:5] == fair_plan_key[1:5]:
                why = "the standard plan is as fair in every tier and serves more people"
            else:
                why = "whole units left the fair plan less fair"
            standard.figures["fair_fallback"] = f"{why}; this is the standard plan"
            allocation = standard
        allocation = replace(allocation, seconds=seconds)
        names = list(loaded.region_names)
        allocation.figures["fairness"] = {
            "by": FAIR_REGIONS,
            "worst": region_coverage(loaded.problem, allocation.need_covered).as_dict(names),
            "worst_without": region_coverage(loaded.problem, standard.need_covered).as_dict(names),
        }
        return allocation
    return allocate(loaded.problem, options, previous)


def previous_lines(session: Session, loaded: LoadedProblem) -> Previous | None:
    """The latest plan's proposed lines, as indices into ``loaded`` (lines on vanished rows dropped)."""
    latest = session.execute(select(Plan.id).order_by(Plan.id.desc()).limit(1)).scalar()
    if latest is None:
        return None
    pledge_index = {pledge_id: i for i, pledge_id in enumerate(loaded.pledge_ids)}
    need_index = {need_id: i for i, need_id in enumerate(loaded.need_ids)}
    rows = session.execute(
        select(Line.pledge_id, Line.need_id, Line.units)
        .where(Line.plan_id == latest, Line.status == LineStatus.PROPOSED)
        .order_by(Line.id)
    ).all()
    kept = [(pledge_index[p], need_index[n], float(u)) for p, n, u in rows if p in pledge_index and n in need_index]
    return Previous(
        pledge=np.array([k[0] for k in kept], dtype=np.int64),
        need=np.array([k[1] for k in kept], dtype=np.int64),
        units=np.array([k[2] for k in kept], dtype=np.float64),
    )


def _persist(
    session: Session,
    *,
    actor: str,
    loaded: LoadedProblem,
    allocation: Allocation,
    stored: StoredLines,
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
        params={
            "include_proposed": include_proposed,
            "options": options.as_dict(),
            "engine": f"lexicographic-{options.method}",
            "fair": FAIR_REGIONS if "fairness" in allocation.figures else None,
            "stable": allocation.figures.get("moved_units") is not None,
        },
        inputs_hash=problem.digest(),
        solve_seconds=round(allocation.seconds, 4),
        gap=float(allocation.gap),
        tiers=tiers,
        figures={k: v for k, v in allocation.figures.items()},
    )
    session.add(plan)
    session.flush()
    # Bulk inserts: a national plan has tens of thousands of lines and outcomes. Quantities are scaled to
    # the stored integers with NumPy and written in one driver executemany on plain integer columns (the ORM
    # bulk path measured twice as slow as Core executemany, per-value Decimal conversion as much again, and
    # Core's per-row parameter processing was 0.3 s of 0.5 s at 1e6 edges: see db.bulk_insert).
    line_units, line_amount = stored.units, stored.amount
    need_ids = np.asarray(loaded.need_ids, dtype=np.int64)
    pledge_ids = np.asarray(loaded.pledge_ids, dtype=np.int64)
    line_columns = ("plan_id", "pledge_id", "need_id", "units", "amount", "eta", "transit_days", "status", "version")
    line_rows = [
        (plan.id, p, n, u, a, dt.date.fromordinal(eta), tau, LineStatus.PROPOSED, 1)
        for p, n, u, a, eta, tau in zip(
            pledge_ids[allocation.line_pledge].tolist(), need_ids[allocation.line_need].tolist(),
            line_units.tolist(), line_amount.tolist(), allocation.line_eta.tolist(),
            allocation.line_transit.tolist(), strict=True,
        )
    ]
    bulk_insert(session, scaled_table(cast(Table, Line.__table__)), line_columns, line_rows)
    if loaded.fixed_line_ids:
        session.execute(plan_kept_lines.insert(), [{"plan_id": plan.id, "line_id": i} for i in loaded.fixed_line_ids])

    new_by_need = np.zeros(problem.n_needs, dtype=np.int64)
    np.add.at(new_by_need, allocation.line_need, line_amount)
    position = {need_id: i for i, need_id in enumerate(loaded.need_ids)}
    outcome_columns = ("plan_id", "need_id", "open_quantity", "covered_fixed", "covered_new", "reason", "detail")
    outcomes = []
    for need_id, (quantity, fixed) in sorted(loaded.open_needs.items()):
        open_quantity = max(int(quantity * QUANTITY_SCALE) - int(fixed * QUANTITY_SCALE), 0)
        index = position.get(need_id)
        shortfall = allocation.shortfalls.get(index) if index is not None else None
        outcomes.append((
            plan.id,
            need_id,
            open_quantity,
            int(fixed * QUANTITY_SCALE),
            min(int(new_by_need[index]), open_quantity) if index is not None else 0,
            shortfall.reason if shortfall else None,
            shortfall.detail() if shortfall else None,
        ))
    bulk_insert(session, scaled_table(cast(Table, PlanNeed.__table__)), outcome_columns, outcomes)
    session.flush()
    session.expire(plan, ["lines", "kept_lines", "outcomes"])
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
            "lines": len(line_rows),
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


def line_payload(line: Line | PlanLine) -> dict[str, Any]:
    """A line as SPEC §4 prints it (a saved line, or a plan's row of it)."""
    refs = (line.pledge_ref, line.need_ref) if isinstance(line, PlanLine) else (line.pledge.ref, line.need.ref)
    return {
        "id": str(line.id),
        "pledge": refs[0],
        "need": refs[1],
        "units": _number(line.units),
        "amount": float(line.amount),
        "eta": line.eta.isoformat(),
        "status": line.status.value,
    }


@_collector_paused()
def plan_payload(
    session: Session,
    plan: Plan,
    lines: Sequence[PlanLine] | None = None,
    *,
    include_lines: bool = True,
    outcomes: Sequence[PlanOutcome] | None = None,
) -> dict[str, Any]:
    """The SPEC §4 object for a saved plan; ``covered`` reflects receipts recorded since. ``lines``: the plan's
    :func:`readout.plan_lines`, when the caller has them already; ``outcomes``: its :func:`readout.plan_outcomes` of
    those lines, likewise (the plan page reads them for its short needs too). ``include_lines=False``: the object
    without its lines (``"lines": []``), for a caller that shows them its own way (the plan page, a page at a
    time)."""
    if lines is None:
        lines = plan_lines(session, plan.id)
    if outcomes is None:
        outcomes = plan_outcomes(session, plan.id, lines)
    needs = [
        {
            "ref": outcome.ref,
            "quantity": float(outcome.quantity),
            "covered": float(outcome.covered),
            "reason": outcome.reason.value if outcome.reason else None,
            "detail": outcome.detail,
        }
        for outcome in outcomes
    ]
    needs.sort(key=lambda item: str(item["ref"]))
    return {
        "plan": str(plan.id),
        "status": plan.status.value,
        "plan_date": plan.plan_date.isoformat(),
        "tiers": plan.tiers,
        "lines": [line_payload(line) for line in lines] if include_lines else [],
        "needs": needs,
        "solve_seconds": plan.solve_seconds,
        "gap": plan.gap,
    }
