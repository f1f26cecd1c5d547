"""A bound on what whole units can serve, tighter than the LP optimum where units exceed needs.

The LP optimum of a block (:mod:`aidpack.allocation.flow`) may split one 30,000-litre tanker over ten
needs of 3,000 litres; in whole units a tanker serves one need, so no whole-unit plan reaches that
LP bound, and measuring the rounding's loss against it overstates the loss. One whole unit of pledge p
sent to need n brings at most g = min(f_p, d_n) of what n lacks (f_p for a divisible pledge), so the
LP whose cover rows use that gain bounds every whole-unit plan
(:func:`aidpack.allocation.model.build_blocks` gives HiGHS's MIP the same rows).

It is solved tier by tier by HiGHS on a few of the block's arcs at a time (column generation): start
from the arcs the LP optimum uses plus each need's largest-gain arcs, and add every arc whose reduced
cost under the current duals is negative until none is, so a block of 730,000 arcs is priced in NumPy
rather than handed to the simplex whole. The x columns have no cost in the tier stages and the rows
that hold earlier tiers touch only the coverage columns, so an arc's reduced cost is -(y_p - g·y_n).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import highspy
import numpy as np

from aidpack.allocation.flow import FlowBlock, FlowUnsupported, decimals, flow_blocks, solve_flow_block
from aidpack.allocation.model import UNIT_EPSILON, Edges, oversize_edges, unit_gain
from aidpack.allocation.models import Termination
from aidpack.allocation.problem import BoolArray, FloatArray, IntArray, Problem
from aidpack.allocation.rounding import classed_model, covered_tier_values, lex_better, tier_gaps
from aidpack.allocation.solve import HOLD_TOLERANCE as SPEC_HOLD_TOLERANCE
from aidpack.allocation.solve import (
    MIP_FEASIBILITY_TOLERANCE,
    MIP_NOISE,
    as_solution,
    covered_fraction,
    hold_bound,
    map_status,
    new_highs,
    pass_model,
    quiet_stdout,
)

#: Arcs per need (largest gain first) in the first restricted LP, besides the LP optimum's support.
START_PER_NEED = 4
#: Most arcs added per pricing round.
ADD_PER_ROUND = 20_000
#: A reduced cost counts as negative below this (relative to the largest objective coefficient).
PRICING_TOLERANCE = 1e-9
#: How far (relative) below its optimum a tier is held while the next is maximised: below, never above,
#: so the bound stays valid; tighter than the engine's 1e-7 so that it stays close.
HOLD_TOLERANCE = 1e-9
#: Where HiGHS's simplex stalls on rows held that tight (QA's strike shape at 1e5 edges, seed 80: a 24,653-arc
#: generator block's medium stage under its critical and high holds cycled 97,315 dual iterations in 37 s and ended
#: "unknown", the whole first pass waiting on it; held 1e-7 below, it ran out of 60 s; 1e-6 below, 0.12 s), the stages
#: go again held this far below, after at most ``TIGHT_BOUND_SECONDS`` (and as many per arc) of the tight try (a
#: 40,617-arc diesel block's whole bound takes 0.27 s, a 136,000-arc generator block's 0.85 s). Looser holds only raise
#: the later tiers' values: still bounds.
LOOSE_HOLD_TOLERANCE = 1e-6
TIGHT_BOUND_SECONDS = 0.5
TIGHT_BOUND_SECONDS_PER_ARC = 1e-5
#: HiGHS's ``simplex_strategy`` for its primal simplex.
PRIMAL_SIMPLEX = 4
#: The MIP feasibility tolerances each stage of :func:`proved_tier_bound` runs at: the engine's, then HiGHS's default.
PROOF_FEASIBILITY_TOLERANCES = (MIP_FEASIBILITY_TOLERANCE, 1e-6)


def arc_gains(block: FlowBlock) -> FloatArray:
    """Per arc, what one unit sent along it can bring its need (:func:`model.unit_gain`)."""
    return unit_gain(block.factor[block.arc_pledge], block.demand[block.arc_need], block.integer[block.arc_pledge])


def has_oversize(block: FlowBlock) -> bool:
    """Whether some whole unit of the block exceeds a need it reaches (only then is the bound tighter)."""
    arcs = block.arc_pledge
    return bool(oversize_edges(block.factor[arcs], block.demand[block.arc_need], block.integer[arcs]).any())


def count_bound(block: FlowBlock, lp: FloatArray) -> FloatArray | None:
    """Per tier, a bound on every whole-unit plan of a block of packs only, from how many packs it has: a pack goes
    to one need, so at most P needs (P the block's packs) get anything, each at most its people. The first tier
    serves at most its P most-populous needs' people (and no more than its LP optimum ``lp``); a plan serving that
    bound there gives at least k needs of it something, k the fewest whose people reach it, so the next tier has at
    most P - k packs, and so on. The LP's tier bounds the next only while every tier before it is held at the LP's
    value (else that tier's LP optimum, held higher, does not bound a plan holding it lower). QA's unseen 'bulk'
    scenario: 447 turbines and bladders for 1,589 needs, which the LP serves all of; whole, they serve 447 needs,
    and the plan (every pack placed) is at this bound: against the LP, its medium and low tiers read "gap 1".
    None when the block has divisible pledges (their units can reach any number of needs) or packs for every need."""
    if not bool(block.integer.all()):
        return None
    left = int(np.floor(block.units + 1e-9).sum())
    if left >= block.needs.size:
        return None
    bound = np.zeros(4)
    held_at_lp = True
    for t in range(4):
        people = np.sort(block.people[block.tier == t])[::-1]
        top = float(people[: max(left, 0)].sum())
        bound[t] = min(float(lp[t]), top) if held_at_lp else top
        held_at_lp = held_at_lp and top >= float(lp[t])
        left -= _needs_reaching(people, bound[t])
    return bound


def _needs_reaching(people: FloatArray, value: float) -> int:
    """The fewest of needs of ``people`` (most first) whose people reach ``value`` (a hair below it, so that the
    count is never too many; all of them where none do)."""
    if value <= 0:
        return 0
    return min(int(np.searchsorted(np.cumsum(people), value * (1 - 1e-9), side="left")) + 1, people.size)


def _fewest_needs(block: FlowBlock, tiers: FloatArray) -> int:
    """The fewest needs that must get something for a plan to serve ``tiers``: per tier, the fewest whose people
    reach it (a hair below, so that the count is never too many)."""
    return sum(_needs_reaching(np.sort(block.people[block.tier == t])[::-1], float(tiers[t])) for t in range(4))


def count_transit_bound(block: FlowBlock, tiers: FloatArray) -> float | None:
    """Unit-days that no whole-unit plan of a block of packs serving ``tiers`` travels fewer than: it gives at least
    k needs a pack each (:func:`_fewest_needs`), so it sends at least k packs, each at least as far as its pledge's
    nearest need (QA's 'bulk' power block, at its count bound: 916 unit-days where the plan's travel 1,260; without
    it, every unit-day was unproved). None for a block with divisible pledges."""
    if not bool(block.integer.all()):
        return None
    nearest = np.full(block.pledges.size, np.inf)
    np.minimum.at(nearest, block.arc_pledge, block.transit + UNIT_EPSILON)
    packs = np.floor(block.units + 1e-9).astype(np.int64)
    reachable = np.isfinite(nearest)
    cheapest = np.sort(np.repeat(nearest[reachable], packs[reachable]))
    return float(cheapest[: _fewest_needs(block, tiers)].sum())


def step_bound(block: FlowBlock) -> FloatArray | None:
    """Per tier, a bound on every whole-unit plan of ``block`` from the steps whole units come in: the
    lexicographic optimum of its flow LP in which each need n's coverage is the concave envelope of what
    whole units can give it. Every unit that reaches n is a multiple of g_n, the greatest common divisor of
    their sizes, so n receives a multiple of g_n: it is fully covered only by ceil(d_n/g_n)·g_n, and the
    last d_n mod g_n it lacks costs g_n to cover. The LP therefore serves n's first floor(d_n/g_n)·g_n at
    its people per unit, and its last step of g_n at (d_n mod g_n)/g_n of that (a need of 7 kW reached by
    2 kW heaters: 6 kW at full weight, then 2 kW that cover its last 1 kW). Any whole-unit plan, its
    needs' intake cut back to ceil(d_n/g_n)·g_n, is a plan of this LP serving at least as many people, so
    the LP's tiers bound it; and it is still a flow (each need a main and a last-step node), solved exactly
    by :func:`flow.solve_flow_block` (1.85e6-edge scenario, seed 44: a 54,456-arc heat block of 2, 8 and
    30 kW units in 0.09 s, its low-tier bound 190,903 -> 187,064 people, what the plan serves). None when no
    need has such a step (a need any divisible pledge reaches has none), or the amounts do not fit."""
    k = decimals(np.concatenate([block.factor, block.demand]))
    scale = 10.0**k
    factor, demand = block.factor * scale, block.demand * scale
    if not (np.allclose(factor, np.rint(factor), rtol=0.0, atol=1e-6)
            and np.allclose(demand, np.rint(demand), rtol=0.0, atol=1e-6)):
        return None
    # A divisible pledge's "step" is one scaled unit, which divides every need: such a need has no last step.
    arc_step = np.where(block.integer[block.arc_pledge], np.rint(factor).astype(np.int64)[block.arc_pledge], 1)
    order = np.argsort(block.arc_need, kind="stable")
    starts = np.flatnonzero(np.r_[True, block.arc_need[order][1:] != block.arc_need[order][:-1]])
    step = np.ones(block.needs.size, dtype=np.int64)
    step[block.arc_need[order][starts]] = np.gcd.reduceat(arc_step[order], starts)
    whole = np.rint(demand).astype(np.int64)
    main = whole // step * step
    if not bool(np.any(whole > main)):
        return None
    # A need smaller than its step is one step of its own (its only node); the others with a last step get a
    # second node for it.
    weight = block.people / block.demand
    first_people = np.where(main > 0, weight * main / scale, block.people)
    main = np.where(main > 0, main, step)
    last = np.flatnonzero(whole > main)
    # The last steps as needs of their own, reached by the same arcs.
    n_needs = block.needs.size
    node = np.full(n_needs, -1, dtype=np.int64)
    node[last] = n_needs + np.arange(last.size)
    copied = np.flatnonzero(node[block.arc_need] >= 0)
    stepped = FlowBlock(
        capability=block.capability,
        edge_ids=np.concatenate([block.edge_ids, block.edge_ids[copied]]),
        pledges=block.pledges,
        needs=np.concatenate([block.needs, block.needs[last]]),
        arc_pledge=np.concatenate([block.arc_pledge, block.arc_pledge[copied]]),
        arc_need=np.concatenate([block.arc_need, node[block.arc_need[copied]]]),
        factor=block.factor,
        integer=block.integer,
        supply=block.supply,
        demand=np.concatenate([main, step[last]]) / scale,
        people=np.concatenate([first_people, weight[last] * (whole - main)[last] / scale]),
        tier=np.concatenate([block.tier, block.tier[last]]),
        transit=np.concatenate([block.transit, block.transit[copied]]),
    )
    try:
        return solve_flow_block(stepped).tier_values
    except FlowUnsupported:
        return None


def _start_arcs(block: FlowBlock, gain: FloatArray, support: BoolArray | None) -> BoolArray:
    chosen = np.zeros(block.n_arcs, dtype=bool) if support is None else support.copy()
    order = np.lexsort((-gain, block.arc_need))  # by need, largest gain first
    need_sorted = block.arc_need[order]
    first = np.searchsorted(need_sorted, need_sorted, side="left")
    rank_in_need = np.arange(order.size) - first
    chosen[order[rank_in_need < START_PER_NEED]] = True
    return chosen


def whole_unit_bound(
    block: FlowBlock, support: BoolArray | None = None, deadline: float | None = None
) -> FloatArray | None:
    """Per tier, a bound on every whole-unit plan of ``block``: the lexicographic optimum of its LP with
    gains min(f_p, d_n). ``support`` (arcs the plain LP optimum uses) seeds the first restricted LP. Each
    tier is held within ``HOLD_TOLERANCE`` *below* its optimum while the next is maximised, which can only
    raise the later tiers' values, so every tier's value stays a valid bound. None when HiGHS fails or
    the deadline (a perf_counter() time) passes first."""
    tight = _whole_unit_stages(block, support, _tight_end(block, deadline), HOLD_TOLERANCE)
    if tight is not None or (deadline is not None and time.perf_counter() >= deadline):
        return tight
    return _whole_unit_stages(block, support, deadline, LOOSE_HOLD_TOLERANCE)


def _tight_end(block: FlowBlock, deadline: float | None) -> float:
    """When a try with tight holds gives up: its own time (``TIGHT_BOUND_SECONDS``, or as many per arc), or the caller's
    ``deadline`` if sooner."""
    end = time.perf_counter() + max(TIGHT_BOUND_SECONDS, TIGHT_BOUND_SECONDS_PER_ARC * block.n_arcs)
    return end if deadline is None else min(deadline, end)


def _whole_unit_stages(
    block: FlowBlock, support: BoolArray | None, deadline: float | None, hold_tolerance: float
) -> FloatArray | None:
    """:func:`whole_unit_bound`'s stages, each tier held ``hold_tolerance`` (relative) below its optimum."""
    n_n = block.needs.size
    model = _WholeUnitLp(block, support)
    h = model.h
    values = np.zeros(4)
    people_by_tier = np.bincount(block.tier, weights=block.people, minlength=4)[:4]
    for tier in range(4):
        if people_by_tier[tier] <= 0:
            continue
        in_tier = np.flatnonzero(block.tier == tier).astype(np.int32)
        cost = np.zeros(n_n)
        cost[in_tier] = -block.people[in_tier]
        h.changeColsCost(n_n, np.arange(n_n, dtype=np.int32), cost)
        if not model.solve(block, deadline, float(np.abs(cost).max(initial=1.0))):
            return None
        value = -float(h.getInfo().objective_function_value)
        values[tier] = value
        if value >= people_by_tier[tier] * (1 - 1e-12):
            # Every need of the tier fully covered: fix that exactly rather than hold a row below it.
            h.changeColsBounds(in_tier.size, in_tier, np.ones(in_tier.size), np.ones(in_tier.size))
        else:
            h.addRow(hold_bound(value, hold_tolerance), np.inf, in_tier.size, in_tier, block.people[in_tier])
    return values


class _WholeUnitLp:
    """The block's LP with gains min(f_p, d_n) in HiGHS, on the arcs ``in_model`` (more are added by
    pricing). Columns: z_n (coverage fraction, 0..1) first, then x for the arcs in the model, in the order
    they were added. Rows: pledge p: Σ x ≤ units_p; need n: d_n z_n - Σ g x ≤ 0."""

    def __init__(self, block: FlowBlock, support: BoolArray | None, arc_cost: FloatArray | None = None) -> None:
        n_p, n_n = block.pledges.size, block.needs.size
        self.gain = arc_gains(block)
        # No arc needs more units than cover its need on their own (as in model.build_blocks).
        per_unit = block.factor[block.arc_pledge]
        cover = block.demand[block.arc_need] / per_unit
        upper = np.where(block.integer[block.arc_pledge], np.ceil(cover - 1e-9), np.ceil(cover * 1e6) / 1e6)
        self.upper: FloatArray = np.minimum(upper, block.units[block.arc_pledge])
        self.in_model = _start_arcs(block, self.gain, support)
        self.h = new_highs()
        # Added columns keep the basis primal feasible: primal simplex re-solves in a fraction of the dual's
        # iterations (2e6-edge bench, a 730,000-arc diesel block: 28 s against 87 s).
        self.h.setOptionValue("simplex_strategy", PRIMAL_SIMPLEX)
        self.h.addVars(n_n, np.zeros(n_n), np.ones(n_n))
        self.h.addRows(n_p, np.full(n_p, -np.inf), block.units, 0, np.zeros(n_p, dtype=np.int32),
                       np.zeros(0, dtype=np.int32), np.zeros(0))
        own = np.arange(n_n, dtype=np.int32)
        self.h.addRows(n_n, np.full(n_n, -np.inf), np.zeros(n_n), n_n, own, own, block.demand)
        self.arc_cost = arc_cost
        _add_arcs(self.h, block, self.gain, self.upper, np.flatnonzero(self.in_model), n_p, arc_cost)

    def solve(self, block: FlowBlock, deadline: float | None, scale: float) -> bool:
        """Solve, adding every arc whose reduced cost is negative (below ``PRICING_TOLERANCE`` × ``scale``,
        the largest objective coefficient) until none is; False when HiGHS fails or the deadline passes.
        Tier rows touch only the coverage columns, so an arc's reduced cost is c - (y_p - g·y_n)."""
        n_p, n_n = block.pledges.size, block.needs.size
        cost = np.zeros(block.n_arcs) if self.arc_cost is None else self.arc_cost
        while True:
            if deadline is not None:
                left = deadline - time.perf_counter()
                if left <= 0:
                    return False
                # (on the instance's clock, which runs on from the solves before: see stages.relaxation)
                self.h.setOptionValue("time_limit", self.h.getRunTime() + left)
            self.h.run()
            if map_status(self.h.getModelStatus()) is not Termination.OPTIMAL:
                return False
            row_dual = np.asarray(self.h.getSolution().row_dual, dtype=np.float64)
            y_p, y_n = row_dual[:n_p], row_dual[n_p : n_p + n_n]
            reduced = cost - (y_p[block.arc_pledge] - self.gain * y_n[block.arc_need])
            reduced[self.in_model] = 0.0
            negative = np.flatnonzero(reduced < -PRICING_TOLERANCE * scale)
            if negative.size == 0:
                return True
            if negative.size > ADD_PER_ROUND:
                negative = negative[np.argpartition(reduced[negative], ADD_PER_ROUND)[:ADD_PER_ROUND]]
            self.in_model[negative] = True
            _add_arcs(self.h, block, self.gain, self.upper, negative, n_p, self.arc_cost)


def transit_hold(block: FlowBlock, served: FloatArray, *, loose: bool = False) -> FloatArray:
    """The least each tier is held at in :func:`whole_unit_transit_bound` and HiGHS's transit stage: a hair below
    ``served``, so that the plan that served it stays feasible; its bound holds for every plan serving at least this
    much. The hair is a millionth of a person, and never more than SPEC §4's relative tolerance of the tier (a tier of
    0.46 people, needs of one person each, was held 2e-6 of itself below, and HiGHS's transit plan, which used the
    hair, was refused). ``loose``: the hair is HiGHS's integrality noise, a millionth of the tier's people (a MIP plan
    with units whole to 1e-8 may serve a tier 2e-6 people that no whole-unit plan can)."""
    if loose:
        people = np.bincount(block.tier, weights=block.people, minlength=4)[:4]
        loosened: FloatArray = served * (1 - 1e-9) - MIP_NOISE * np.maximum(people, 1.0)
        return loosened
    held: FloatArray = served * (1 - 1e-9) - np.minimum(1e-6, SPEC_HOLD_TOLERANCE * np.abs(served))
    return held


def whole_unit_transit_bound(
    block: FlowBlock, served: FloatArray, support: BoolArray | None = None, deadline: float | None = None
) -> float | None:
    """A bound on the unit-days in transit of every whole-unit plan of ``block`` that serves each tier at
    least ``served``: the least transit of its LP with gains min(f_p, d_n) and those tiers held (a whole
    tanker that the plain LP pours into four villages brings each at most what it lacks, so the villages'
    litres must travel too). Column generation as in :func:`whole_unit_bound`, from the arcs of a plan that
    serves ``served`` (``support``; without it, from all arcs) so that the first restricted LP is feasible;
    the tiers are held a hair below ``served`` (by HiGHS's integrality noise where a hair is too little).
    None when HiGHS fails or the deadline passes."""
    cost = (block.transit + UNIT_EPSILON).astype(np.float64)
    start = np.ones(block.n_arcs, dtype=bool) if support is None else support
    # The tight try within a time of its own, as whole_unit_bound's (HiGHS's simplex may stall on tight holds).
    tight_end = _tight_end(block, deadline)
    for loose in (False, True):
        ends = deadline if loose else tight_end
        model = _WholeUnitLp(block, start, cost)
        h = model.h
        held = transit_hold(block, served, loose=loose)
        for tier in range(4):
            in_tier = np.flatnonzero(block.tier == tier).astype(np.int32)
            if in_tier.size and served[tier] > 0:
                h.addRow(float(held[tier]), np.inf, in_tier.size, in_tier, block.people[in_tier])
        if model.solve(block, ends, float(cost.max(initial=1.0))):
            return float(model.h.getInfo().objective_function_value)
        if deadline is not None and time.perf_counter() >= deadline:
            break
    return None


def _add_arcs(
    h: highspy.Highs, block: FlowBlock, gain: FloatArray, upper: FloatArray, arcs: IntArray, n_p: int,
    arc_cost: FloatArray | None = None,
) -> None:
    """Columns x for ``arcs``: +1 in their pledge's row, -g in their need's row, at most ``upper``, costing
    ``arc_cost`` (none in the tier stages)."""
    k = arcs.size
    if k == 0:
        return
    starts = (2 * np.arange(k)).astype(np.int32)
    index = np.empty(2 * k, dtype=np.int32)
    index[0::2] = block.arc_pledge[arcs]
    index[1::2] = n_p + block.arc_need[arcs]
    value = np.empty(2 * k)
    value[0::2] = 1.0
    value[1::2] = -gain[arcs]
    cost = np.zeros(k) if arc_cost is None else arc_cost[arcs]
    h.addCols(k, cost, np.zeros(k), upper[arcs], 2 * k, starts, index, value)


@dataclass(frozen=True)
class BlockBounds:
    """One block's references for a plan (see :func:`block_bounds`), per tier."""

    block: FlowBlock
    lp: FloatArray  # the block's LP optimum
    whole: FloatArray  # the whole-unit bound where the plan falls short and packs exceed needs, else ``lp``
    served: FloatArray  # what the plan serves

    @property
    def shortfall(self) -> float:
        """People the plan serves below the LP optimum, over the tiers where it does (0 when at or beyond it,
        or where every unit is divisible and the flows are exact)."""
        if not self.block.is_integer or float(tier_gaps(self.lp, self.served).max(initial=0.0)) <= 1e-9:
            return 0.0
        return float((self.lp - self.served).clip(min=0).sum())


def block_bounds(problem: Problem, edges: Edges, covered: FloatArray) -> list[BlockBounds]:
    """Per block, for a plan that covers ``covered`` of each need: the LP optimum, and where the plan falls
    short of it, the lexicographically least of it, the step bound (:func:`step_bound`), the count bound
    (:func:`count_bound`) and, where some pack
    exceeds a need it reaches, the oversize bound (:func:`whole_unit_bound`). Measurement, not planning: no
    time limit."""
    result = []
    for block in flow_blocks(problem, edges):
        lp = solve_flow_block(block)
        served = covered_tier_values(block, covered[block.needs])
        whole = lp.tier_values
        if float(tier_gaps(lp.tier_values, served).max(initial=0.0)) > 0:
            found = [step_bound(block), count_bound(block, lp.tier_values),
                     whole_unit_bound(block, lp.amount > 0) if has_oversize(block) else None]
            whole = lex_least([lp.tier_values, *(bound for bound in found if bound is not None)])
        result.append(BlockBounds(block, lp.tier_values, whole, served))
    return result


def lex_least(bounds: Sequence[FloatArray]) -> FloatArray:
    """The lexicographically least of bounds on the same lexicographic optimum: it bounds it too, and
    tighter (ties, within solver noise, keep the first)."""
    least = bounds[0]
    for bound in bounds[1:]:
        if lex_better(least, bound):
            least = bound
    return least


def plan_bounds(problem: Problem, edges: Edges, covered: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Per tier, for a plan that covers ``covered`` of each need: the LP bound and the whole-unit bound,
    summed over its blocks (:func:`block_bounds`)."""
    return bound_totals(block_bounds(problem, edges, covered))


def bound_totals(bounds: Sequence[BlockBounds]) -> tuple[FloatArray, FloatArray]:
    """Per tier, the blocks' LP optima and whole-unit bounds summed."""
    lp_total, whole_total = np.zeros(4), np.zeros(4)
    for b in bounds:
        lp_total += b.lp
        whole_total += b.whole
    return lp_total, whole_total


@dataclass(frozen=True)
class ProvedBound:
    """Per tier, what HiGHS's MIP proved about a block's lexicographic whole-unit optimum v*."""

    upper: FloatArray  # v*_t <= upper_t
    lower: FloatArray  # v*_t >= lower_t (0 where nothing was proved)
    exact: BoolArray  # lower_t = upper_t (to HiGHS's integrality noise)


def proved_tier_bound(
    block: FlowBlock, seconds: float, units: FloatArray | None = None
) -> ProvedBound | None:
    """Bounds on the block's lexicographic whole-unit optimum v*, tier by tier, by HiGHS's MIP over pack
    classes within ``seconds`` (measurement, not planning). Stage t maximises V_t with every earlier tier
    held at least at ``lower``, which the optimum serves, so its dual bound bounds v*_t; while every earlier
    tier is exact, the plan it finds serves the optimum's earlier tiers and so ``lower_t`` is what it serves
    (after a tier left open, 0). A block whose LP optimum no whole-unit plan reaches gets its true bound here:
    the 1e5 bench's transformer block serves its critical tier whole and at least 26,670 high-tier people,
    and then no medium-tier one (the LP: 11,328). ``units`` (per arc, a whole-unit plan) starts HiGHS, and
    checks it: a stage whose bound is below what that plan serves, while the plan meets the stage's holds,
    proves nothing. Each stage runs at ``PROOF_FEASIBILITY_TOLERANCES`` in turn, half its time each: the larger bound
    and the better plan count. None when the arcs make no single block or HiGHS fails."""
    classed = classed_model(block, np.arange(block.n_arcs))
    if classed is None:
        return None
    model = classed.model
    h = new_highs()
    pass_model(h, model)
    h.setOptionValue("mip_rel_gap", 0.0)
    h.setOptionValue("mip_abs_gap", 0.0)
    cols = np.arange(model.n_cols, dtype=np.int32)
    people = model.tier_cost.sum(axis=1)
    upper, lower, exact = np.zeros(4), np.zeros(4), np.ones(4, dtype=bool)
    chain_exact = True
    solution: FloatArray | None = None
    plan: FloatArray | None = None  # per tier, what the plan in ``units`` serves
    hold_bound_row = np.zeros(4)  # per tier, what the later stages hold it at
    if units is not None:
        pairs = np.bincount(classed.arc_pair, weights=units, minlength=classed.pair_class.size)
        x = np.minimum(pairs[model.edge_ids], model.col_upper[: model.n_x])
        solution = np.concatenate([x, covered_fraction(model, x)])
        plan = model.tier_cost @ solution
    deadline = time.perf_counter() + seconds
    tiers = [t for t in range(4) if people[t] > 0]
    for position, tier in enumerate(tiers):
        h.changeColsCost(model.n_cols, cols, -model.tier_cost[tier])
        stage_end = time.perf_counter() + max(deadline - time.perf_counter(), 0.01) / (len(tiers) - position)
        # The stage at the engine's feasibility tolerance, then at HiGHS's own: each has called a stage optimal below
        # a plan the other found (at 1e-9, seven packs of 100, 500 and 1,000 litres: high tier 8.36 people
        # "optimal" where 9.12 are served, which 1e-6 finds; see solve.MIP_FEASIBILITY_TOLERANCE for the other way).
        # The larger bound holds whichever was right, and the better plan goes on.
        bound, found = -np.inf, 0.0
        for k, tolerance in enumerate(PROOF_FEASIBILITY_TOLERANCES):
            h.setOptionValue("mip_feasibility_tolerance", tolerance)
            if solution is not None:
                h.setSolution(as_solution(solution))
            left = stage_end - time.perf_counter()
            h.setOptionValue("time_limit", max(left / (len(PROOF_FEASIBILITY_TOLERANCES) - k), 0.005))
            with quiet_stdout():  # HiGHS's MIP solver may print a debug line when handed a solution
                h.run()
            status = map_status(h.getModelStatus())
            if status not in (Termination.OPTIMAL, Termination.TIME_LIMIT):
                return None
            info = h.getInfo()
            stage_bound = -float(info.mip_dual_bound)
            bound = max(bound, stage_bound if np.isfinite(stage_bound) else np.inf)
            if info.primal_solution_status == 2:  # kSolutionStatusFeasible
                candidate = np.asarray(h.getSolution().col_value, dtype=np.float64)
                value = float(model.tier_cost[tier] @ candidate)
                if value > found:
                    solution, found = candidate, value
        upper[tier] = min(bound, float(people[tier])) if np.isfinite(bound) else float(people[tier])
        noise = MIP_NOISE * max(float(people[tier]), 1.0)
        lower[tier] = min(found, upper[tier]) if chain_exact else 0.0
        exact[tier] = lower[tier] >= upper[tier] - noise
        chain_exact = chain_exact and bool(exact[tier])
        if plan is not None and bool(np.all(plan[:tier] >= hold_bound_row[:tier])) and (
            plan[tier] > upper[tier] + noise
        ):
            # The plan meets every hold and serves more than the stage's bound: HiGHS's tolerances misled it
            # (a hold row a hair under a whole tier was called infeasible, and the start was kept as optimal).
            return None
        nz = np.flatnonzero(model.tier_cost[tier])
        if lower[tier] >= people[tier] * (1 - 1e-12):
            # Every need of the tier covered whole: fix that (z = 1), as solve_block does. A row a hair below
            # the tier's people is one HiGHS's presolve calls infeasible (a critical tier of 201 people held at
            # 201 - 2e-7 by six 500-litre packs on six 150-litre needs).
            h.changeColsBounds(nz.size, nz.astype(np.int32), np.ones(nz.size), np.ones(nz.size))
            hold_bound_row[tier] = float(people[tier])
        elif lower[tier] > noise:
            # Held a hair below what the optimum serves (as tightly as whole_unit_bound holds): any looser, and
            # the later tiers gain what the earlier one gives up (7e-6 critical-tier people for 1.3e-4 high).
            hold_bound_row[tier] = hold_bound(lower[tier], HOLD_TOLERANCE)
            h.addRow(hold_bound_row[tier], np.inf, nz.size, nz.astype(np.int32), model.tier_cost[tier][nz])
    return ProvedBound(upper, lower, exact)


@dataclass(frozen=True)
class PlanProof:
    """Per tier, the plan's reference for its gap: see :func:`proved_plan_bound`."""

    bound: FloatArray
    proved_blocks: int  # blocks short of their LP optimum whose bound HiGHS proved
    exact_blocks: int  # of those, blocks whose every tier HiGHS proved exactly
    open_blocks: int  # blocks short of their LP optimum not proved (too large, or out of time)


def proved_plan_bound(
    bounds: Sequence[BlockBounds], units: FloatArray, *, seconds: float, block_seconds: float, max_arcs: int
) -> PlanProof:
    """Per tier, the lexicographic whole-unit optimum's bound for a plan (``bounds``, from :func:`block_bounds`;
    ``units`` per edge, HiGHS's start): blocks are independent, so the plan's optimum is the sum of its
    blocks'. A block whose plan serves its LP optimum in every tier is at its optimum; one that falls short
    gets HiGHS's proved bound (:func:`proved_tier_bound`, blocks of at most ``max_arcs`` arcs, at most
    ``block_seconds`` each, largest shortfall first within ``seconds``); the other blocks keep their
    whole-unit bound (a bound on the first tier only; ``open_blocks`` says how many). Measurement, not
    planning."""
    deadline = time.perf_counter() + seconds
    total = np.zeros(4)
    proved = exact = left = 0
    for b in sorted(bounds, key=lambda item: -item.shortfall):
        if b.shortfall <= 0:
            total += b.lp
            continue
        room = deadline - time.perf_counter()
        found = None
        if b.block.n_arcs <= max_arcs and room > 0:
            found = proved_tier_bound(b.block, min(block_seconds, room), units[b.block.edge_ids])
        if found is None:
            total += b.whole
            left += 1
            continue
        upper = found.upper.copy()
        # The LP optimum bounds the first tier with people too (nothing holds it). Every later tier's bound
        # holds as proved, exact or not: each hold is at what the optimum serves at least (looser after a
        # tier HiGHS left open, never invalid, unlike the LP's later tiers, which bound only an optimum that
        # reaches the LP's earlier ones).
        first = int(np.flatnonzero(np.bincount(b.block.tier, weights=b.block.people, minlength=4)[:4] > 0)[0])
        upper[first] = min(upper[first], b.lp[first])
        total += upper
        proved += 1
        exact += int(found.exact.all())
    return PlanProof(total, proved, exact, left)
