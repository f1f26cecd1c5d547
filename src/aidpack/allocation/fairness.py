"""`--fair regions`: within each tier, first raise the worst-served region's coverage, then people served.

A region's coverage in tier t is Σ_{n∈r,t} s_n·y_n/d_n over Σ_{n∈r,t} s_n. Regions span capabilities, so
the blocks no longer separate: the whole model is one HiGHS LP, solved tier by tier, critical first —
maximise λ_t with every region's coverage ≥ λ_t, hold it, maximise V_t; then each of the tier's needs keeps
the share of its quantity it was given, and the next tier shares what is left. Last, transit: with every need's
share held, the regions' rows are free and the LP separates by capability, one small LP per block.
Indivisible units are then made whole block by block (:mod:`aidpack.allocation.rounding`). A block whose
standard plan serves every need of the tiers so far fully stays out of the LP until a later tier makes it
compete (:func:`settled_blocks`): on the 1e6 bench the LP's stages took 19 s instead of 250 s.

A tier is kept need by need (simple bounds) rather than as a sum held by a row, as the standard engine's
HiGHS path does: with such rows HiGHS could not solve national plans (1e5 bench: the medium tier's stage
ended without a verdict, its solution sending -9.6 units, and ran for over ten minutes before this; 1e4
bench: the low tier's fair stage failed). It costs later tiers a little: 1e5 bench, the medium tier's
worst region 0.8325 where holding sums reaches 0.8329.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import highspy
import numpy as np
import scipy.sparse as sp

from aidpack.allocation.block_state import BlockOutcome, parallel
from aidpack.allocation.blocks import Previous, previous_units, worker_count
from aidpack.allocation.bounds import PRICING_TOLERANCE
from aidpack.allocation.consolidation import fewer_unit_days
from aidpack.allocation.engine import Allocation, _assemble, allocate
from aidpack.allocation.flow import FlowBlock, flow_blocks
from aidpack.allocation.model import UNIT_EPSILON, Edges, candidate_edges
from aidpack.allocation.models import Termination
from aidpack.allocation.problem import TIER_NAMES, BoolArray, FloatArray, IntArray, Problem
from aidpack.allocation.rounding import (
    block_tier_values,
    coarse_fine_round,
    covered_tier_values,
    greedy_repair,
    kept_round,
    lex_better,
    matched_round,
    tier_gaps,
    transit_of,
)
from aidpack.allocation.solve import (
    FINAL_GAP,
    LATER_STAGE_RESERVE,
    MIP_ABS_GAP,
    MIP_NOISE,
    SolveOptions,
    as_solution,
    change_rows_bounds,
    csc_lp,
    hold_bound,
    hold_tier,
    map_status,
    new_highs,
    run_stage,
)

#: A tier's needs keep the share of their quantity they were given, less this (HiGHS's own tolerance).
LOCK_SLACK = 1e-7
#: The fair LP starts from each need's and each pledge's this many shortest edges; the others enter as their
#: reduced costs call for them, at most ``FAIR_ADD_PER_ROUND`` per round (see :class:`_FairLp`).
START_EDGES = 8
FAIR_ADD_PER_ROUND = 50_000
#: HiGHS's simplex_strategy for the primal simplex.
PRIMAL_SIMPLEX = 4
#: A fair plan of at most this many usable candidate edges is solved again as one lexicographic HiGHS model, from the
#: fair LP's rounded plan (:func:`_solve_exact`): its whole units then reach the max-min the rounding can miss, and its
#: status and gap are HiGHS's proof. Larger plans keep the fair LP's rounding, measured against the fair LP's bounds.
#: Not the standard engine's 5,000 (:data:`mip_phase.EXACT_PLAN_EDGES`): the regions' rows join the blocks into one
#: MIP, and the demo's (2,522 edges) proves its high tier's worst region (0.000724, the rounding 0.000362) but not
#: the people served after it in 3 s (13.7 million where the standard plan serves 19.1; 19.2 in 15 s), and the
#: stages after that, from that plan, leave the low tier's worst region nothing (the rounding: 0.805).
EXACT_FAIR_EDGES = 1_000
#: A worst region's coverage within this (absolute) of its bound is no loss: the λ holds' tolerance (1e-7 relative)
#: and whole units' integrality noise (1e-9 of a unit) move it by less.
FAIR_NOISE = 1e-6
#: Without a user time limit, the exact stages together stop here (the QA's worlds of a few needs take milliseconds;
#: the 1e4 bench's 9,962 edges, were they solved exactly, prove the tiers up to the medium one in about 3 s).
EXACT_FAIR_SECONDS = 3.0


@dataclass(frozen=True)
class RegionCoverage:
    """Per tier: the worst-served region's index and its coverage fraction (None: no needs in the tier)."""

    region: tuple[int | None, ...]
    coverage: tuple[float | None, ...]

    def as_dict(self, names: list[str] | None = None) -> dict[str, dict[str, object] | None]:
        out: dict[str, dict[str, object] | None] = {}
        for tier, name in enumerate(TIER_NAMES):
            region, value = self.region[tier], self.coverage[tier]
            if region is None or value is None:
                out[name] = None
                continue
            label: object = names[region] if names is not None and region < len(names) else region
            out[name] = {"region": label, "coverage": round(value, 6)}
        return out


def region_coverage(problem: Problem, covered: FloatArray) -> RegionCoverage:
    """The worst region's coverage per tier for a plan that covers ``covered`` of each need."""
    fraction = np.divide(covered, problem.need_demand, out=np.zeros_like(covered), where=problem.need_demand > 0)
    regions: list[int | None] = []
    values: list[float | None] = []
    n_regions = int(problem.transit.shape[1]) if problem.transit.ndim == 2 else 0
    n_regions = max(n_regions, int(problem.need_region.max(initial=-1)) + 1)
    for tier in range(4):
        mask = problem.need_tier == tier
        people = np.bincount(problem.need_region[mask], weights=problem.need_people[mask], minlength=n_regions)
        served = np.bincount(problem.need_region[mask], weights=(problem.need_people * fraction)[mask],
                             minlength=n_regions)
        present = np.flatnonzero(people > 0)
        if present.size == 0:
            regions.append(None)
            values.append(None)
            continue
        share = served[present] / people[present]
        worst = int(np.argmin(share))
        regions.append(int(present[worst]))
        values.append(float(share[worst]))
    return RegionCoverage(tuple(regions), tuple(values))


def fair_key(problem: Problem, allocation: Allocation) -> tuple[float, ...]:
    """How plans compare under `--fair regions`, best highest: a plan that failed last, then by
    :func:`coverage_key`."""
    failed = allocation.termination in (Termination.ERROR, Termination.INFEASIBLE)
    return (0.0 if failed else 1.0, *coverage_key(problem, allocation.need_covered))


def coverage_key(problem: Problem, covered: FloatArray) -> tuple[float, ...]:
    """The fairness of a plan that covers ``covered`` of each need, best highest: the worst region's coverage
    tier by tier, critical first, to 1e-4 (a hundredth of a percent: whole units move it by less, 1e4 bench:
    8e-6); then people served tier by tier, to 1e-6.

    Fairness first in every tier, not tier by tier with people served between: whole units cost the fair
    LP a little of each tier (1e5 bench: 686 of 5.29 million high-tier people), which must not give the
    standard plan back when the fair one raises the medium tier's worst region from 0.790 to 0.805."""
    worst = region_coverage(problem, covered).coverage
    fraction = np.divide(covered, problem.need_demand, out=np.zeros_like(covered), where=problem.need_demand > 0)
    served = np.bincount(problem.need_tier, weights=problem.need_people * fraction, minlength=4)[:4]
    return (*(round(worst[tier] or 0.0, 4) for tier in range(4)), *(round(float(v), 6) for v in served))


def allocate_fair(
    problem: Problem,
    options: SolveOptions | None = None,
    previous: Previous | None = None,
    standard: Allocation | None = None,
) -> Allocation:
    """The fair plan. ``standard``: the standard engine's plan of the same problem (computed here when not
    given), whose blocks that serve every need of the tiers so far fully stay out of the fair LP
    (:func:`settled_blocks`)."""
    options = options or SolveOptions()
    started = time.perf_counter()
    edges = candidate_edges(problem)
    usable = np.flatnonzero(problem.pledge_supply[edges.pledge] > 0)
    if standard is None:
        standard = allocate(problem, options, previous)
    settled = settled_blocks(problem, edges, usable, standard)
    built = time.perf_counter()
    x, tier_bound, termination, log = _solve_lp(problem, edges, usable, options, settled)
    outcomes = _round(problem, edges, usable, x, termination, previous_units(problem, edges, previous))
    solved = time.perf_counter()
    allocation = _assemble(problem, edges, options, outcomes, {"blocks": len(outcomes), "log": log[:200]},
                           previous, started, built, solved)
    allocation.figures["tier_bound"] = {name: round(float(tier_bound[i]), 6) for i, name in enumerate(TIER_NAMES)}
    stages = _lp_stages(problem, log)
    if usable.size <= EXACT_FAIR_EDGES and termination is Termination.OPTIMAL:
        deadline = None if options.time_limit is None else started + options.time_limit
        sent = previous_units(problem, edges, Previous(allocation.line_pledge, allocation.line_need,
                                                        allocation.line_units))
        start = np.zeros(usable.size) if sent is None else sent[usable]
        exact = _solve_exact(problem, edges, usable, options, start, deadline)
        log.extend(exact.log)
        exact_outcomes = _outcomes(problem, edges, usable, exact.units, exact.termination)
        exact_plan = _assemble(problem, edges, options, exact_outcomes, {"blocks": len(outcomes), "log": log[:200]},
                               previous, started, built, time.perf_counter())
        exact_plan.figures["tier_bound"] = allocation.figures["tier_bound"]
        allocation.figures["log"] = log[:200]
        # HiGHS's plan unless the fair LP's rounding ranks above it (its stages out of time, each from the one
        # before: 1e4 bench, the low tier's worst region 0.037 where the rounding keeps 0.144), or in a re-plan ranks
        # as high (the rounding keeps the previous lines where they are as fair). Either is measured against the
        # bounds HiGHS proved.
        exact_key, rounded_key = (coverage_key(problem, plan.need_covered) for plan in (exact_plan, allocation))
        if _ranks_above(exact_key, rounded_key) or (previous is None and not _ranks_above(rounded_key, exact_key)):
            allocation = exact_plan
        allocation = _proved(problem, options, allocation, exact.stages, exact.termination, "mip")
    else:
        allocation = _proved(problem, options, allocation, stages, termination, "fair-lp")
    return replace(allocation, seconds=time.perf_counter() - started)


@dataclass(frozen=True)
class Settled:
    """Blocks a whole-unit plan shows need no fair LP: per need and per usable edge, the last tier through
    which the need's (the edge's) block serves every need fully (-1: not even the critical tier), and that
    plan's units per usable edge."""

    need_through: IntArray
    edge_through: IntArray
    units: FloatArray


def settled_blocks(problem: Problem, edges: Edges, usable: IntArray, plan: Allocation) -> Settled | None:
    """Where ``plan`` (a whole-unit plan of the same problem) covers every need of tiers ≤ t of a capability
    fully, serving anyone, that block is settled through tier t: in every stage up to t's, its needs of those
    tiers at 1 are optimal (nothing is better for them, and they take nothing another block could use), so
    the fair LP leaves its edges out and holds those needs at 1. Whole units meet the fair LP's rows, whose
    gains are min(f, d), so the plan proves they can all be met at once. On the 1e6 bench, such blocks held
    94 % of the edges through the high tier, 68 % through the medium one and 51 % through the low one. None
    when the plan failed."""
    if plan.termination in (Termination.ERROR, Termination.INFEASIBLE):
        return None
    full = (plan.need_covered >= problem.need_demand * (1.0 - 1e-9)) & (problem.need_people > 0)
    n_caps = len(problem.capabilities)
    through = np.full(n_caps, 3, dtype=np.int64)
    for tier in range(4):
        short = ~full & (problem.need_tier <= tier)
        blocked = np.bincount(problem.need_capability[short], minlength=n_caps) > 0
        through = np.where(blocked & (through >= tier), tier - 1, through)
    sent = previous_units(problem, edges, Previous(plan.line_pledge, plan.line_need, plan.line_units))
    units = np.zeros(usable.size) if sent is None else sent[usable]
    return Settled(through[problem.need_capability], through[problem.pledge_capability[edges.pledge[usable]]], units)


def _solve_lp(
    problem: Problem, edges: Edges, usable: IntArray, options: SolveOptions, settled: Settled | None = None
) -> tuple[FloatArray, FloatArray, Termination, list[dict[str, float | str | int]]]:
    """The fair LP's stages; returns the units per usable edge, each tier's value, and how it ended.
    ``settled``: blocks left out of the LP while they are settled."""
    lp = _FairLp(problem, edges, usable, options, settled)
    least = np.zeros(problem.n_needs)  # each need's share, as the tiers' stages left it
    for tier in range(4):
        lp.settle(tier)
        mask = problem.need_tier == tier
        if not mask.any():
            continue
        members_of = np.flatnonzero(mask)
        tier_people = float(problem.need_people[mask].sum())
        # Regions whose needs in the tier serve anyone (a region of needs at sites serving 0 people has no share).
        regions = np.flatnonzero(np.bincount(problem.need_region[mask], weights=problem.need_people[mask]) > 0)
        lam, region_rows = -1, np.zeros(0, dtype=np.int32)
        if regions.size >= 2:
            # λ_t: a new column; one row per region: Σ (s_n / S_r) z_n − λ_t ≥ 0, its coverage at least λ_t. λ_t
            # is worth the tier's people S_t, so that its reduced costs are on the scale of the tier's own
            # objective: worth 1, HiGHS stopped short (1e5 bench, high tier: λ 0.92566 called optimal where
            # 0.92691 is reached) or stalled.
            h = lp.h
            h.addCol(0.0, 0.0, 1.0, 0, np.zeros(0, dtype=np.int32), np.zeros(0))
            lam = h.getNumCol() - 1
            first_row = h.getNumRow()
            for region in regions:
                members = np.flatnonzero(mask & (problem.need_region == region))
                share = problem.need_people[members] / float(problem.need_people[members].sum())
                index = np.concatenate([members, [lam]]).astype(np.int32)
                h.addRow(0.0, np.inf, index.size, index, np.concatenate([share, [-1.0]]))
            region_rows = np.arange(first_row, h.getNumRow(), dtype=np.int32)
            best = lp.run(f"fair{tier}", np.array([lam]), np.array([-tier_people]))
            if best is None:
                break
            h.changeColBounds(lam, hold_bound(-best / tier_people, options.hold_tolerance), 1.0)
        best = lp.run(f"tier{tier}", members_of, -problem.need_people[members_of])
        if best is None:
            break
        lp.tier_bound[tier] = -best
        # The tier's needs keep the share they were given (simple bounds, not a row holding the tier's sum:
        # with such rows, HiGHS ended the 1e5 bench's medium-tier stage without a verdict, units at -9.6).
        # Its regions' rows are then implied, and freed.
        index = members_of.astype(np.int32)
        kept = np.clip(lp.solution[index] - LOCK_SLACK, 0.0, 1.0)
        lp.h.changeColsBounds(index.size, index, kept, np.ones(index.size))
        least[index] = kept
        for row in region_rows.tolist():  # one per region
            lp.h.changeRowBounds(row, -np.inf, np.inf)
        if lam >= 0:
            lp.h.changeColBounds(lam, 0.0, 1.0)
    units = lp.units()
    if lp.termination is Termination.OPTIMAL:
        units = _transit_by_block(problem, edges, usable, lp, least, units, options)
    return units, lp.tier_bound, lp.termination, lp.log


class _FairLp:
    """The fair LP over a growing subset of the edges (column generation, as in
    :func:`aidpack.allocation.bounds.whole_unit_bound`): it starts from each need's and each pledge's
    ``START_EDGES`` shortest edges, and after each solve adds the edges whose reduced cost says they would
    improve the stage, until none would. Columns: z_n (the share of need n covered) first, then the edges' x_e
    as they enter, then each tier's λ. Rows: pledges (Σ x_e ≤ q_p), needs (d_n z_n − Σ f_p x_e ≤ 0), then the
    regions' rows."""

    def __init__(
        self, problem: Problem, edges: Edges, usable: IntArray, options: SolveOptions, settled: Settled | None = None
    ) -> None:
        n_n, n_p = problem.n_needs, problem.n_pledges
        self.n_n, self.n_p = n_n, n_p
        self.need_tier, self.demand = problem.need_tier, problem.need_demand
        # Blocks settled through the current tier stay outside (see :meth:`settle`).
        self.settled = settled
        self.need_through = settled.need_through if settled else np.full(n_n, -1, dtype=np.int64)
        self.edge_through = settled.edge_through if settled else np.full(usable.size, -1, dtype=np.int64)
        self.excluded = self.edge_through >= 0
        self.relaxed = np.zeros(n_n, dtype=bool)  # needs whose row their block outside the LP meets
        self.pledge, self.need = edges.pledge[usable], edges.need[usable]
        # What a unit on an edge brings its need: its factor, but at most what the need asks for where units
        # are whole (a whole 400 kVA transformer brings a 100 kVA need 100 kVA; the LP would split it four
        # ways). Every whole-unit plan meets these rows, and the fair LP then asks whole units for no more
        # than they can give: 1e5 bench, the medium tier's worst region lost 0.027 of its coverage to
        # rounding, all of it split transformers.
        factor = problem.pledge_factor[self.pledge]
        demand = problem.need_demand[self.need]
        self.factor = np.where(problem.pledge_integer[self.pledge], np.minimum(factor, demand), factor)
        transit = edges.transit[usable].astype(np.float64)
        self.column = np.full(usable.size, -1, dtype=np.int64)  # each edge's column, -1 while outside
        self.h = h = new_highs(options.seed)
        # Each stage changes costs, adds columns at 0 and bounds the current solution meets: its basis stays
        # primal feasible, and the primal simplex goes on from it (1e5 bench: 5.1 s against 7.6 s for the dual,
        # the same optimum in every stage).
        h.setOptionValue("simplex_strategy", PRIMAL_SIMPLEX)
        matrix = sp.csc_matrix((problem.need_demand, (n_p + np.arange(n_n), np.arange(n_n))), shape=(n_p + n_n, n_n))
        model = csc_lp(matrix, np.zeros(n_n), np.zeros(n_n), np.ones(n_n), np.full(n_p + n_n, -np.inf),
                       np.concatenate([problem.pledge_supply, np.zeros(n_n)]))
        h.passModel(model)
        self.start = _shortest(self.need, transit, START_EDGES) | _shortest(self.pledge, transit, START_EDGES)
        self._add(np.flatnonzero(self.start & ~self.excluded))
        self.deadline = None if options.time_limit is None else time.perf_counter() + options.time_limit
        self.log: list[dict[str, float | str | int]] = []
        self.termination = Termination.OPTIMAL
        self.tier_bound = np.zeros(4)
        self.solution = np.zeros(n_n)

    def settle(self, tier: int) -> None:
        """Before tier ``tier``'s stages. Blocks settled through the tier before but not this one come into
        the LP with their start edges and the edges of the plan that settled them (which meets their held
        needs; pricing brings the rest). In blocks still settled, the needs of tiers up to this one are held
        at 1, their rows met outside the LP (d·z − Σ g·x ≤ d)."""
        released = np.flatnonzero(self.excluded & (self.edge_through < tier))
        if released.size:
            assert self.settled is not None
            self.excluded[released] = False
            self._add(released[self.start[released] | (self.settled.units[released] > 0)])
        back = np.flatnonzero(self.relaxed & (self.need_through < tier))
        if back.size:
            self.relaxed[back] = False
            change_rows_bounds(self.h, self.n_p + back, np.full(back.size, -np.inf), np.zeros(back.size))
        held = np.flatnonzero(~self.relaxed & (self.need_through >= tier) & (self.need_tier <= tier))
        if held.size:
            self.relaxed[held] = True
            change_rows_bounds(self.h, self.n_p + held, np.full(held.size, -np.inf), self.demand[held])
            self.h.changeColsBounds(held.size, held.astype(np.int32), np.ones(held.size), np.ones(held.size))

    def _add(self, chosen: IntArray) -> None:
        k = chosen.size
        if k == 0:
            return
        first = self.h.getNumCol()
        self.column[chosen] = first + np.arange(k)
        index = np.empty(2 * k, dtype=np.int32)
        index[0::2] = self.pledge[chosen]
        index[1::2] = self.n_p + self.need[chosen]
        value = np.empty(2 * k)
        value[0::2] = 1.0
        value[1::2] = -self.factor[chosen]
        starts = (2 * np.arange(k)).astype(np.int32)
        self.h.addCols(k, np.zeros(k), np.zeros(k), np.full(k, np.inf), 2 * k, starts, index, value)

    def run(
        self, name: str, columns: IntArray, cost: FloatArray, edge_cost: FloatArray | None = None
    ) -> float | None:
        """One stage: the optimum of ``cost`` on ``columns`` plus ``edge_cost`` (by edge) over every edge; None
        when HiGHS found none (``termination`` says why)."""
        started = time.perf_counter()
        scale = max(1.0, float(np.abs(cost).max(initial=0.0)),
                    float(np.abs(edge_cost).max(initial=0.0)) if edge_cost is not None else 0.0)
        rounds = 0
        while True:
            rounds += 1
            full = np.zeros(self.h.getNumCol())
            full[columns] = cost
            inside = np.flatnonzero(self.column >= 0)
            if edge_cost is not None:
                full[self.column[inside]] = edge_cost[inside]
            self.h.changeColsCost(full.size, np.arange(full.size, dtype=np.int32), full)
            status = _run(self.h, self.deadline)
            if status is Termination.ERROR:
                # HiGHS ended without a verdict (its warm start lost feasibility): once more from scratch.
                self.h.clearSolver()
                status = _run(self.h, self.deadline)
            if status is not Termination.OPTIMAL:
                break
            # Edges outside whose reduced cost c_e − (y_p − f_p·y_n) is negative would improve the stage.
            row_dual = np.asarray(self.h.getSolution().row_dual, dtype=np.float64)
            outside = np.flatnonzero((self.column < 0) & ~self.excluded)
            reduced = (np.zeros(outside.size) if edge_cost is None else edge_cost[outside]) - (
                row_dual[self.pledge[outside]] - self.factor[outside] * row_dual[self.n_p + self.need[outside]])
            better = np.flatnonzero(reduced < -PRICING_TOLERANCE * scale)
            if better.size == 0:
                break
            if better.size > FAIR_ADD_PER_ROUND:
                better = better[np.argpartition(reduced[better], FAIR_ADD_PER_ROUND)[:FAIR_ADD_PER_ROUND]]
            self._add(outside[better])
        value = float(self.h.getInfo().objective_function_value)
        self.log.append({"stage": name, "status": status.value, "seconds": round(time.perf_counter() - started, 4),
                         "objective": value, "rounds": rounds, "edges": int(np.count_nonzero(self.column >= 0))})
        if status is not Termination.OPTIMAL:
            self.termination = status if status is not Termination.INFEASIBLE else Termination.ERROR
            return None
        self.solution = np.asarray(self.h.getSolution().col_value, dtype=np.float64)
        return value

    def units(self) -> FloatArray:
        """Units per usable edge in the last stage's solution (0 outside the model)."""
        units = np.zeros(self.column.size)
        # Edges that entered after it (a stage stopped by the time limit after pricing) send nothing in it.
        inside = np.flatnonzero((self.column >= 0) & (self.column < self.solution.size))
        units[inside] = self.solution[self.column[inside]]
        if self.settled is not None:  # blocks settled to the end: the plan that settled them
            units[self.excluded] = self.settled.units[self.excluded]
        return units


def _transit_by_block(
    problem: Problem, edges: Edges, usable: IntArray, lp: _FairLp, least: FloatArray, units: FloatArray,
    options: SolveOptions,
) -> FloatArray:
    """The last stage, fewest unit-days, once every need keeps the share the tiers gave it (``least``): the
    regions' rows are freed by then, so the LP separates by capability, and each block is its own small LP
    over all of its edges (not only those column generation brought in), two at a time. On the 1e5 bench
    the whole LP's stage took 0.86 s in three rounds of pricing. A block whose LP does not end optimal keeps
    the tiers' plan (``units``) and the plan says transit is not proved (``lp.termination``)."""
    started = time.perf_counter()
    cost = (edges.transit[usable] + UNIT_EPSILON).astype(np.float64)
    capability = problem.pledge_capability[lp.pledge]
    order = np.argsort(capability, kind="stable")
    bounds = np.flatnonzero(np.r_[True, capability[order][1:] != capability[order][:-1], True])
    blocks = [order[lo:hi] for lo, hi in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True)]
    # Blocks settled to the last tier keep the plan that settled them: it serves every need whole, its transit
    # made short by the standard engine (1e6 bench: half the edges, 13.3 s of this stage before).
    result = units.copy()

    def solve(block: IntArray) -> Termination:
        pledges, p_row = np.unique(lp.pledge[block], return_inverse=True)
        needs, n_row = np.unique(lp.need[block], return_inverse=True)
        # Rows: each pledge's units (≤ q_p), then each need's share (−Σ g·x ≤ −d·z, z at what the tiers left).
        n_p, n_e = pledges.size, block.size
        rows = np.concatenate([p_row, n_p + n_row])
        cols = np.concatenate([np.arange(n_e), np.arange(n_e)])
        values = np.concatenate([np.ones(n_e), -lp.factor[block]])
        matrix = sp.csc_matrix((values, (rows, cols)), shape=(n_p + needs.size, n_e))
        row_upper = np.concatenate([problem.pledge_supply[pledges], -problem.need_demand[needs] * least[needs]])
        h = new_highs(options.seed)
        h.passModel(csc_lp(matrix, cost[block], np.zeros(n_e), np.full(n_e, np.inf),
                           np.full(row_upper.size, -np.inf), row_upper))
        status = _run(h, lp.deadline)
        if status is Termination.OPTIMAL:
            result[block] = np.maximum(np.asarray(h.getSolution().col_value, dtype=np.float64), 0.0)
        return status

    statuses = parallel(solve, blocks, [b.size for b in blocks], worker_count(options))
    failed = [status for status in statuses if status is not Termination.OPTIMAL]
    if failed:
        lp.termination = failed[0] if failed[0] is not Termination.INFEASIBLE else Termination.ERROR
    lp.log.append({"stage": "transit", "status": (failed[0] if failed else Termination.OPTIMAL).value,
                   "seconds": round(time.perf_counter() - started, 4), "objective": float(cost @ result),
                   "rounds": 1, "edges": int(usable.size), "blocks": len(blocks)})
    return result


def _shortest(group: IntArray, key: FloatArray, k: int) -> BoolArray:
    """The ``k`` smallest ``key`` in each group (ties by position)."""
    order = np.lexsort((key, group))
    sorted_group = group[order]
    starts = np.r_[0, np.flatnonzero(sorted_group[1:] != sorted_group[:-1]) + 1] if order.size else np.zeros(0, int)
    rank = np.arange(order.size) - np.repeat(starts, np.diff(np.r_[starts, order.size]))
    chosen = np.zeros(group.size, dtype=bool)
    chosen[order[rank < k]] = True
    return chosen


def _run(h: highspy.Highs, deadline: float | None) -> Termination:
    if deadline is not None:
        h.setOptionValue("time_limit", max(deadline - time.perf_counter(), 0.01))
    h.run()
    return map_status(h.getModelStatus())


def _round(
    problem: Problem,
    edges: Edges,
    usable: IntArray,
    x: FloatArray,
    termination: Termination,
    kept: FloatArray | None = None,
) -> list[BlockOutcome]:
    """Whole units block by block (the LP fixed which needs each block serves), each block's rounding chosen
    for the plan's fairness: the one whose plan, with the other blocks as rounded so far, ranks first under
    :func:`coverage_key`. The roundings differ most where the fair LP sends part of a large pack (1e5 bench:
    the low tier's worst region kept 0.265 of the LP's 0.408 when each block kept its best rounding by tier
    and people alone, the diesel block's tankers taking 0.122 of it).

    ``kept`` (units per edge of the previous plan's proposed lines): in each block they are one more rounding
    (:func:`rounding.kept_round`: where a pledge shrank, trimmed on its farthest arcs), chosen where no other
    ranks higher; the choice is made once from them and once from the LP's roundings, and the first wins ties.
    1e4 bench, a pledge cut to 90 % of what the plan sends from it: the re-plan moves 548 of 242,045 units, a
    fair plan made afresh 1,643 (before the last stage went block by block, the LP found another optimum when
    the pledge was cut to just what the plan sends, and moved 55,239 where the re-plan moved 25)."""
    units_per_edge = np.zeros(len(edges))
    units_per_edge[usable] = np.maximum(x, 0.0)
    blocks = flow_blocks(problem, edges)
    choices: list[list[tuple[FloatArray, str]]] = []
    bounds: list[FloatArray] = []
    for block in blocks:
        units = units_per_edge[block.edge_ids]
        amount = units * block.factor[block.arc_pledge]
        brought = _brought(block, units)
        bounds.append(covered_tier_values(block, brought))
        integer = block.integer[block.arc_pledge]
        # Units within solver tolerance of a whole number are that number (the LP holds tiers with 1e-7 slack).
        snapped = np.where(integer & (np.abs(units - np.rint(units)) <= 1e-5 * np.maximum(units, 1.0)),
                           np.rint(units), units)
        if block.is_integer and not np.all((snapped == np.rint(snapped)) | ~integer):
            # Made whole on a copy of the block whose needs ask only for what the fair LP gave them, so that
            # rounding (which re-solves by tier and people) cannot undo the regions' shares.
            target = np.ceil(brought - 1e-6)
            capped = replace(block, demand=np.where(target > 0, np.minimum(block.demand, target), 1.0),
                             people=np.where(target > 0, block.people, 0.0))
            candidates = [greedy_repair(capped, np.where(integer, np.floor(snapped), snapped)),
                          coarse_fine_round(capped, amount, extras=False, passes=2),
                          coarse_fine_round(capped, amount, extras=True, passes=1),
                          matched_round(capped, amount)]
            # The first by tier and people, as the standard plan would choose, breaks ties.
            candidates.sort(key=lambda c: tuple(-block_tier_values(block, c.units)))
            options = [(c.units, f"fair-lp+{c.method}") for c in candidates]
        else:
            options = [(snapped, "fair-lp")]
        previous = None if kept is None else kept_round(block, kept[block.edge_ids])
        if previous is not None:
            options.insert(0, (previous.units, "fair-kept"))
        choices.append(options)
    has_kept = [options[0][1] == "fair-kept" for options in choices]
    chosen = _choose(problem, blocks, choices, [int(k) for k in has_kept])
    if any(has_kept):
        from_kept = _choose(problem, blocks, choices, [0] * len(blocks))
        if not _ranks_above(chosen[1], from_kept[1]):
            chosen = from_kept
    outcomes = []
    for block, (units, method), bound in zip(blocks, chosen[0], bounds, strict=True):
        # Single-pledge covers that travel less (no need brought less, so no region either); the previous
        # plan's lines only for more than the final gap, as the standard engine's re-plans.
        fewer = fewer_unit_days(block, units)
        if fewer is not units and (
            method != "fair-kept" or transit_of(block, fewer) < transit_of(block, units) * (1 - FINAL_GAP)
        ):
            units = fewer
        outcomes.append(BlockOutcome(block.capability, block.edge_ids, units, bound, termination=termination,
                                     method=method))
    return outcomes


def _choose(
    problem: Problem, blocks: list[FlowBlock], choices: list[list[tuple[FloatArray, str]]], start: list[int]
) -> tuple[list[tuple[FloatArray, str]], tuple[float, ...]]:
    """From the roundings ``start`` (an index per block), each block in turn, largest first, takes the
    rounding whose plan ranks first under :func:`coverage_key` (the one it has on ties, then the first);
    returns the roundings and the plan's key."""
    chosen = [options[i] for options, i in zip(choices, start, strict=True)]
    covered = np.zeros(problem.n_needs)
    for block, (units, _) in zip(blocks, chosen, strict=True):
        covered[block.needs] += _brought(block, units)
    key = coverage_key(problem, np.minimum(covered, problem.need_demand))
    for i in sorted(range(len(blocks)), key=lambda i: -blocks[i].n_arcs):
        if len(choices[i]) < 2:
            continue
        block = blocks[i]
        base = covered.copy()
        base[block.needs] -= _brought(block, chosen[i][0])
        for option in choices[i]:
            if option is chosen[i]:
                continue
            trial = base.copy()
            trial[block.needs] += _brought(block, option[0])
            score = coverage_key(problem, np.minimum(trial, problem.need_demand))
            if _ranks_above(score, key):
                key, chosen[i], covered = score, option, trial
    return chosen, key


def _ranks_above(key: tuple[float, ...], other: tuple[float, ...], rel: float = 1e-6) -> bool:
    """Whether a plan with :func:`coverage_key` ``key`` ranks above one with ``other``: a worst region better
    served (to the key's 1e-4), or as well and people served beyond ``rel`` (as the standard engine's
    re-plans compare tiers, :func:`rounding.beats_kept`): plans of equal merit do not reshuffle."""
    for a, b in zip(key[:4], other[:4], strict=True):
        if a != b:
            return a > b
    return lex_better(np.array(key[4:]), np.array(other[4:]), rel=rel)


def _brought(block: FlowBlock, units: FloatArray) -> FloatArray:
    """What ``units`` per arc bring each of the block's needs."""
    return np.asarray(np.bincount(block.arc_need, weights=units * block.factor[block.arc_pledge],
                                  minlength=block.needs.size), dtype=np.float64)


@dataclass(frozen=True)
class _Stage:
    """One objective of the fair plan's lexicographic order and the best value proved possible for it:
    ``kind`` "fair" (tier ``tier``'s worst region's coverage, a fraction), "tier" (its people served, V_t) or
    "transit" (unit-days, least best)."""

    name: str
    kind: str
    tier: int
    bound: float


@dataclass
class _Exact:
    """The fair plan solved as one lexicographic HiGHS model: units per usable edge, the stages' proved bounds,
    how it ended, its log."""

    units: FloatArray
    stages: list[_Stage]
    termination: Termination
    log: list[dict[str, float | str | int]]


def _lp_stages(problem: Problem, log: list[dict[str, float | str | int]]) -> list[_Stage]:
    """The fair LP's stage optima as bounds: the worst region's coverage (its ``fair`` stages, worth the tier's
    people per unit of coverage) and people served (its ``tier`` stages). The LP relaxes whole units, and its
    rows ask no more of a unit than its need takes (min(f, d)), so for the first tier they bound any whole-unit
    plan; for later ones they are the optimum given the shares the tiers before gave each need (see the module's
    docstring), the best the fair LP can tell."""
    stages: list[_Stage] = []
    for entry in log:
        name, status = str(entry.get("stage", "")), entry.get("status")
        if status != Termination.OPTIMAL.value or name[:4] not in ("fair", "tier") or not name[4:].isdigit():
            continue
        tier = int(name[4:])
        value = -float(entry["objective"])
        if name.startswith("fair"):
            people = float(problem.need_people[problem.need_tier == tier].sum())
            stages.append(_Stage(name, "fair", tier, value / people if people > 0 else 0.0))
        else:
            stages.append(_Stage(name, "tier", tier, value))
    return stages


def _stage_gaps(problem: Problem, allocation: Allocation, stages: list[_Stage]) -> dict[str, float]:
    """Each stage's relative shortfall of ``allocation`` against its bound: the worst region's coverage to
    ``FAIR_NOISE``, people served as the standard engine measures tiers (:func:`rounding.tier_gaps`), unit-days
    relative to the plan's."""
    worst = region_coverage(problem, allocation.need_covered).coverage
    gaps: dict[str, float] = {}
    for stage in stages:
        if stage.kind == "fair":
            value = worst[stage.tier] or 0.0
            loss = max(stage.bound - value - FAIR_NOISE, 0.0)
            gaps[stage.name] = loss / stage.bound if stage.bound > FAIR_NOISE else 0.0
        elif stage.kind == "tier":
            people = np.array([float(allocation.tier_people[stage.tier])])
            gaps[stage.name] = float(tier_gaps(np.array([stage.bound]),
                                               np.array([float(allocation.tier_served[stage.tier])]), people)[0])
        else:
            plan = float((allocation.line_transit + UNIT_EPSILON) @ allocation.line_units)
            gaps[stage.name] = min(1.0, max(plan - stage.bound, 0.0) / max(plan, 1.0))
    return gaps


def _proved(
    problem: Problem, options: SolveOptions, allocation: Allocation, stages: list[_Stage], termination: Termination,
    source: str,
) -> Allocation:
    """The plan's status and gap under `--fair regions`: measured against ``stages``' bounds (``source``: "mip",
    proved by HiGHS for whole units; "fair-lp", the fair LP's), not against the tiers' LP optima the blocks' roundings
    carry (a fair plan serves fewer people than those by design, and whole units may not reach the LP's fractional
    shares: a 4-edge world read a gap of 0.81 with every stage solved). ``optimal`` only when every stage is within
    its gap (the tier gap, the final gap for unit-days) and the stages ended optimal."""
    gaps = _stage_gaps(problem, allocation, stages)
    tier_gap = max((g for name, g in gaps.items() if not name.endswith("transit")), default=0.0)
    transit_gap = max((g for name, g in gaps.items() if name.endswith("transit")), default=0.0)
    gap = max(tier_gap, transit_gap)
    status = allocation.termination
    if status not in (Termination.ERROR, Termination.INFEASIBLE):
        proved = termination is Termination.OPTIMAL and tier_gap <= options.tier_gap \
            and transit_gap <= options.final_gap
        status = Termination.OPTIMAL if proved else Termination.TIME_LIMIT
        if termination is not Termination.OPTIMAL and not gaps:
            gap = 1.0
    figures = {**allocation.figures, "fair_bound": source,
               "fair_gap": {name: round(g, 9) for name, g in gaps.items()}}
    return replace(allocation, termination=status, gap=gap, figures=figures)


def _outcomes(
    problem: Problem, edges: Edges, usable: IntArray, units: FloatArray, termination: Termination
) -> list[BlockOutcome]:
    """HiGHS's plan (units per usable edge) block by block, for :func:`engine._assemble` (whose gap is replaced by
    :func:`_proved`)."""
    per_edge = np.zeros(len(edges))
    per_edge[usable] = np.maximum(units, 0.0)
    outcomes = []
    for block in flow_blocks(problem, edges):
        sent = per_edge[block.edge_ids]
        sent = np.where(block.integer[block.arc_pledge], np.rint(sent), sent)
        outcomes.append(BlockOutcome(block.capability, block.edge_ids, sent,
                                     covered_tier_values(block, _brought(block, sent)), termination=termination,
                                     method="fair-mip"))
    return outcomes


def _solve_exact(
    problem: Problem, edges: Edges, usable: IntArray, options: SolveOptions, start: FloatArray, deadline: float | None
) -> _Exact:
    """The fair plan of a small problem as one lexicographic HiGHS model (a MIP when units are whole), from the
    fair LP's rounded plan ``start`` (units per usable edge): per tier, critical first, maximise the worst region's
    coverage λ_t (worth the tier's people), hold it (every region's coverage stays ≥ λ_t from then on), maximise
    V_t, hold it as a sum; last, fewest unit-days. Each stage runs to the tier gap (the final gap for unit-days)
    within a share of ``EXACT_FAIR_SECONDS`` (or of what the user's time limit leaves), its proved dual bound kept as
    the stage's bound. The fair LP's rounding can lose the max-min: 4 generators of 5 kW for two 9 kW needs in two
    regions, the LP splits them 1.8 and 1.8 (0.9055 of the worse region, with the others), its rounding gave one
    need a single generator (0.5556) where two each reach 0.9055."""
    n_e, n_n, n_p = usable.size, problem.n_needs, problem.n_pledges
    pledge, need = edges.pledge[usable], edges.need[usable]
    integer = problem.pledge_integer[pledge]
    factor = problem.pledge_factor[pledge]
    # As in the fair LP: a whole unit brings its need at most what the need asks for (exact with z ≤ 1, and tighter).
    gain = np.where(integer, np.minimum(factor, problem.need_demand[need]), factor)
    rows = [pledge, n_p + need, n_p + np.arange(n_n)]
    cols = [np.arange(n_e), np.arange(n_e), n_e + np.arange(n_n)]
    values = [np.ones(n_e), -gain, problem.need_demand.astype(np.float64)]
    row_lower = [np.full(n_p + n_n, -np.inf)]
    supply = np.where(problem.pledge_integer, np.floor(problem.pledge_supply + 1e-9), problem.pledge_supply)
    row_upper = [np.concatenate([supply, np.zeros(n_n)])]
    # λ_t for the tiers whose needs serving anyone lie in two regions or more; a row per region: its coverage ≥ λ_t.
    lam: dict[int, int] = {}
    n_rows, n_cols = n_p + n_n, n_e + n_n
    for tier in range(4):
        mask = (problem.need_tier == tier) & (problem.need_people > 0)
        regions = np.unique(problem.need_region[mask])
        if regions.size < 2:
            continue
        lam[tier] = n_cols
        for region in regions.tolist():
            members = np.flatnonzero(mask & (problem.need_region == region))
            share = problem.need_people[members] / float(problem.need_people[members].sum())
            rows += [np.full(members.size + 1, n_rows)]
            cols += [np.r_[n_e + members, n_cols]]
            values += [np.r_[share, -1.0]]
            n_rows += 1
        n_cols += 1
    n_regions = n_rows - n_p - n_n
    row_lower.append(np.zeros(n_regions))
    row_upper.append(np.full(n_regions, np.inf))
    matrix = sp.csc_matrix((np.concatenate(values), (np.concatenate(rows), np.concatenate(cols))),
                           shape=(n_rows, n_cols))
    col_upper = np.concatenate([np.full(n_e, np.inf), np.ones(n_cols - n_e)])
    model = csc_lp(matrix, np.zeros(n_cols), np.zeros(n_cols), col_upper, np.concatenate(row_lower),
                   np.concatenate(row_upper))
    is_mip = bool(integer.any())
    if is_mip:
        model.integrality_ = [highspy.HighsVarType.kInteger if flag else highspy.HighsVarType.kContinuous
                              for flag in np.r_[integer, np.zeros(n_cols - n_e, dtype=bool)]]
    h = new_highs(options.seed)
    h.passModel(model)

    # The start: the rounded plan, each need covered as far as its units go, each λ at its worst region.
    x = np.where(integer, np.rint(np.maximum(start, 0.0)), np.maximum(start, 0.0))
    brought = np.bincount(need, weights=gain * x, minlength=n_n)
    z = np.clip(np.divide(brought, problem.need_demand, out=np.zeros(n_n), where=problem.need_demand > 0), 0.0, 1.0)
    solution = np.r_[x, z, np.zeros(n_cols - n_e - n_n)]
    row_of = matrix[n_p + n_n :, :]
    for column in lam.values():
        mine = np.flatnonzero(row_of[:, column].toarray().ravel() != 0)
        solution[column] = max(float((row_of[mine, : n_e + n_n] @ solution[: n_e + n_n]).min()) - 1e-12, 0.0)

    stages: list[tuple[str, str, int, FloatArray, float]] = []
    for tier in range(4):
        people = np.zeros(n_cols)
        members = np.flatnonzero((problem.need_tier == tier) & (problem.need_people > 0))
        if members.size == 0:
            continue
        if tier in lam:
            cost = np.zeros(n_cols)
            cost[lam[tier]] = -float(problem.need_people[members].sum())
            stages.append((f"exact-fair{tier}", "fair", tier, cost, options.tier_gap))
        people[n_e + members] = -problem.need_people[members]
        stages.append((f"exact-tier{tier}", "tier", tier, people, options.tier_gap))
    transit = np.zeros(n_cols)
    transit[:n_e] = edges.transit[usable] + UNIT_EPSILON
    stages.append(("exact-transit", "transit", -1, transit, options.final_gap))

    stop = time.perf_counter() + EXACT_FAIR_SECONDS if deadline is None else deadline
    termination = Termination.OPTIMAL
    proved: list[_Stage] = []
    log: list[dict[str, float | str | int]] = []
    all_cols = np.arange(n_cols, dtype=np.int32)
    for position, (name, kind, tier, cost, stage_gap) in enumerate(stages):
        h.changeColsCost(n_cols, all_cols, cost)
        remaining = max(stop - time.perf_counter(), 0.01)
        later = len(stages) - 1 - position
        h.setOptionValue("time_limit", max(remaining * (1.0 - LATER_STAGE_RESERVE * later), 0.01))
        if is_mip:
            h.setOptionValue("mip_rel_gap", stage_gap)
            h.setOptionValue("mip_abs_gap", MIP_ABS_GAP)
            h.setSolution(as_solution(solution))
        started = time.perf_counter()
        status, has_solution = run_stage(h, cost, is_mip)
        info = h.getInfo()
        objective = float(info.objective_function_value) if has_solution else float(cost @ solution)
        bound = float(info.mip_dual_bound) if is_mip else objective
        if status is Termination.INFEASIBLE or (not is_mip and status is not Termination.OPTIMAL):
            # Only the holds can make a stage infeasible (sending nothing meets every row): nothing proved.
            bound = np.nan
        log.append({"stage": name, "status": status.value, "seconds": round(time.perf_counter() - started, 4),
                    "objective": objective, "bound": bound})
        proved.append(_stage_bound(name, kind, tier, cost, bound))
        if status is not Termination.OPTIMAL:
            termination = Termination.TIME_LIMIT
        if has_solution and status is not Termination.INFEASIBLE:
            solution = np.asarray(h.getSolution().col_value, dtype=np.float64)
        elif status is not Termination.TIME_LIMIT:
            # The stages after it prove nothing: they keep the bounds every plan meets.
            proved += [_stage_bound(*later[:4], np.nan) for later in stages[position + 1 :]]
            break
        # Hold the stage for the ones after it: the start met it, HiGHS's plan meets it too.
        value = float(-cost @ solution)
        if kind == "fair":
            level = value / -float(cost[lam[tier]])
            h.changeColBounds(lam[tier], min(hold_bound(level, options.hold_tolerance), level), 1.0)
        elif kind == "tier":
            # As the engine's tier stages hold a tier (solve.hold_tier): in full as z = 1; a value within HiGHS's
            # integrality noise is nothing to hold.
            full = float(-cost.sum())
            if value >= full * (1 - 1e-12):
                hold_tier(h, cost, full)
            elif value > MIP_NOISE * full:
                hold_tier(h, cost, hold_bound(value, options.hold_tolerance))
    return _Exact(solution[:n_e], proved, termination, log)


def _stage_bound(name: str, kind: str, tier: int, cost: FloatArray, bound: float) -> _Stage:
    """A stage of :func:`_solve_exact` and its bound, from HiGHS's dual ``bound`` on the stage's objective ``cost``
    (minimised); where nothing was proved (NaN, infinite) the bound every plan meets: full coverage, every person of
    the tier, no unit-days."""
    known = bool(np.isfinite(bound))
    if kind == "fair":
        return _Stage(name[6:], kind, tier, -bound / float(-cost.min()) if known else 1.0)
    if kind == "tier":
        return _Stage(name[6:], kind, tier, -bound if known else float(-cost.sum()))
    return _Stage(name[6:], kind, tier, max(bound, 0.0) if known else 0.0)
