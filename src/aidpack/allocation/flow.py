"""The lexicographic optimum of one capability block as two exact integer min-cost flows.

Why two flows are enough. In capability units a block is a transportation network: pledge p sends
a_pn = f_p·x_pn to need n, Σ_n a_pn ≤ S_p = f_p·q_p, y_n = Σ_p a_pn ≤ d_n. The set of vectors y that
can be delivered is a polymatroid (the rank function "most that can reach a set of needs" is
submodular), and every tier objective V_t = Σ_{n∈t} (s_n/d_n)·y_n is linear in y with weights on the
needs only. Over a polymatroid the face of maximisers of a positive linear objective depends only on
the *order* of the weights: with the needs in levels of equal weight, sorted best first, a y is
optimal iff every prefix of levels receives as much as it possibly can. The lexicographic objective
(critical first, then high, …) orders the needs by (tier, −s_n/d_n), so

1. **rank stage**: a min-cost flow with the small integer cost −rank(level) on each need's arc gives
   a lexicographic optimum y* of every tier at once (integers: exact, no tolerance, no overflow), and
2. **transit stage**: every lexicographically optimal plan is a flow that brings each level exactly
   Y_k = Σ_{n∈k} y*_n; a min-cost flow with those level totals as demands and the transit cost
   (τ_e + ε)/f_p per capability unit on each edge is the final stage (costs scaled to integers; the
   relative error of that scaling is bounded and reported, well under the 1e-3 allowed).

Amounts are scaled to integers by 10^k (k ≤ 6, the stored precision). Integer flows from integer
capacities make factor-1 indivisible blocks exact MIP optima; when indivisible units come out
fractional (packs of several capability units), :mod:`aidpack.allocation.rounding` makes them whole.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np
from ortools.graph.python import min_cost_flow

from aidpack.allocation.model import UNIT_EPSILON, Edges
from aidpack.allocation.problem import BoolArray, FloatArray, IntArray, Problem

MAX_DECIMALS = 6
#: The stability tie-break: a previous plan's edge costs one unit less than ``STABILITY_SCALE`` × cost.
STABILITY_SCALE = 64
_INT_LIMIT = 2**62
#: A transit stage whose scaling error bound exceeds this (SPEC §4's gap for the last objective) gets a bound of its
#: own (:func:`_coarse_transit_bound`).
REFINE_TRANSIT_GAP = 1e-3


class FlowUnsupported(Exception):
    """The block's amounts do not fit the integer ranges of the flow solver; use the LP path."""


@dataclass(frozen=True)
class FlowBlock:
    """One capability's edges as a flow network in capability units."""

    capability: int
    edge_ids: IntArray  # indices into Edges (one arc each), sorted
    pledges: IntArray  # global pledge indices of the block's supply nodes
    needs: IntArray  # global need indices of the block's demand nodes
    arc_pledge: IntArray  # local pledge index per arc
    arc_need: IntArray  # local need index per arc
    factor: FloatArray  # per local pledge
    integer: BoolArray  # per local pledge
    supply: FloatArray  # per local pledge, capability units (whole units × factor when indivisible)
    demand: FloatArray  # per local need
    people: FloatArray  # per local need
    tier: IntArray  # per local need
    transit: IntArray  # per arc, days
    #: The plan's candidate edges the arcs stand for, where identical pledges are pooled (None: one each).
    plan_arcs: int | None = None

    @property
    def n_arcs(self) -> int:
        return int(self.edge_ids.shape[0])

    @property
    def size(self) -> int:
        """The block's size for the engine's choices (which blocks go to HiGHS, with what share of the time):
        the plan's candidate edges it stands for, pooled or not, so that pooling changes what a block costs and
        not how it is treated (a 1e6 plan's generator block of 135,988 edges, 91,673 arcs pooled, stays among the
        large blocks whose MIP does not pay)."""
        return self.n_arcs if self.plan_arcs is None else self.plan_arcs

    @property
    def is_integer(self) -> bool:
        return bool(self.integer.any())

    @cached_property
    def arcs_by_need(self) -> tuple[IntArray, IntArray]:
        """Arc indices grouped by need (in arc order within a need), and where each need's group starts."""
        order = np.argsort(self.arc_need, kind="stable")
        starts = np.searchsorted(self.arc_need[order], np.arange(self.needs.size + 1))
        order.setflags(write=False)
        starts.setflags(write=False)
        return order, starts

    @cached_property
    def need_rank(self) -> IntArray:
        """Each need's level (see :func:`need_levels`)."""
        rank = need_levels(self.people, self.demand, self.tier)
        rank.setflags(write=False)
        return rank

    @property
    def units(self) -> FloatArray:
        """Per local pledge, its units (whole for indivisible pledges)."""
        raw = self.supply / self.factor
        whole: FloatArray = np.where(self.integer, np.floor(raw + 1e-9), raw)
        return whole


def flow_blocks(problem: Problem, edges: Edges, edge_weight: IntArray | None = None) -> list[FlowBlock]:
    """One block per capability over the edges whose pledge still has units (as :func:`build_blocks`);
    ``edge_weight``: per edge, the plan's candidate edges it stands for (pooled pledges)."""
    usable = problem.pledge_supply[edges.pledge] > 0
    edge_ids_all = np.flatnonzero(usable)
    caps = problem.pledge_capability[edges.pledge[edge_ids_all]]
    order = np.argsort(caps, kind="stable")
    edge_ids_all, caps = edge_ids_all[order], caps[order]
    if caps.size == 0:
        return []
    starts = np.flatnonzero(np.r_[True, caps[1:] != caps[:-1]])
    ends = np.r_[starts[1:], caps.size]
    pledge_seen = np.zeros(problem.n_pledges, dtype=bool)
    need_seen = np.zeros(problem.n_needs, dtype=bool)
    blocks = [_flow_block(problem, edges, int(caps[s]), edge_ids_all[s:e], pledge_seen, need_seen)
              for s, e in zip(starts, ends, strict=True)]
    if edge_weight is None:
        return blocks
    return [replace(b, plan_arcs=int(edge_weight[b.edge_ids].sum())) for b in blocks]


def _compact(ids: IntArray, seen: BoolArray) -> tuple[IntArray, IntArray]:
    """``np.unique(ids, return_inverse=True)`` for indices below ``seen.size`` (all False, and left so) by marking
    them rather than sorting (the unseen 1.6e6-edge scenario, seed 71: its 199 blocks built in 0.073 s instead of
    0.099 s)."""
    seen[ids] = True
    unique = np.flatnonzero(seen)
    local = np.cumsum(seen) - 1
    seen[unique] = False
    return unique, local[ids]


def _flow_block(
    problem: Problem, edges: Edges, capability: int, edge_ids: IntArray, pledge_seen: BoolArray, need_seen: BoolArray
) -> FlowBlock:
    e_pledge, e_need = edges.pledge[edge_ids], edges.need[edge_ids]
    pledges, arc_pledge = _compact(e_pledge, pledge_seen)
    needs, arc_need = _compact(e_need, need_seen)
    factor = problem.pledge_factor[pledges]
    integer = problem.pledge_integer[pledges]
    units = np.where(integer, np.floor(problem.pledge_supply[pledges] + 1e-9), problem.pledge_supply[pledges])
    return FlowBlock(
        capability=capability,
        edge_ids=edge_ids,
        pledges=pledges,
        needs=needs,
        arc_pledge=arc_pledge.astype(np.int64),
        arc_need=arc_need.astype(np.int64),
        factor=factor,
        integer=integer,
        supply=units * factor,
        demand=problem.need_demand[needs],
        people=problem.need_people[needs],
        tier=problem.need_tier[needs],
        transit=edges.transit[edge_ids],
    )


@dataclass
class FlowResult:
    """Amounts per arc in capability units (exact LP optimum of the block) and what it is worth."""

    amount: FloatArray  # per arc, capability units
    tier_values: FloatArray  # V_t of the LP optimum
    transit_gap: float  # bound on the relative error of the integer-scaled transit costs
    scale: int  # 10^k used for amounts
    log: list[dict[str, float | str | int]] = field(default_factory=list)


def decimals(values: FloatArray) -> int:
    """The fewest decimals (≤ 6) with which every value is (to 1e-9) an integer."""
    for k in range(MAX_DECIMALS + 1):
        scaled = values * 10.0**k
        if np.all(np.abs(scaled - np.rint(scaled)) <= 1e-9 * np.maximum(1.0, np.abs(scaled))):
            return k
    return MAX_DECIMALS


def need_levels(people: FloatArray, demand: FloatArray, tier: IntArray) -> IntArray:
    """Rank weights: needs in levels of equal (tier, s/d), best level highest; weightless needs 0."""
    weight = people / demand
    positive = weight > 0
    order = np.lexsort((-weight, tier))
    key_t, key_w = tier[order], weight[order]
    new_level = np.r_[True, (key_t[1:] != key_t[:-1]) | (key_w[1:] != key_w[:-1])]
    level_of_sorted = np.cumsum(new_level) - 1
    n_levels = int(level_of_sorted[-1]) + 1 if order.size else 0
    rank = np.empty(order.size, dtype=np.int64)
    rank[order] = n_levels - level_of_sorted
    return np.where(positive, rank, 0)


def min_cost_flow_int(
    n_nodes: int, tail: IntArray, head: IntArray, capacity: IntArray, cost: IntArray, supplies: IntArray
) -> IntArray:
    smcf = min_cost_flow.SimpleMinCostFlow()
    smcf.add_arcs_with_capacity_and_unit_cost(tail, head, capacity, cost)
    smcf.set_nodes_supplies(np.arange(n_nodes, dtype=np.int64), supplies)
    status = smcf.solve()
    if status != smcf.OPTIMAL:
        raise FlowUnsupported(f"min-cost flow returned {status}")
    flows: IntArray = np.asarray(smcf.flows(np.arange(tail.size, dtype=np.int64)), dtype=np.int64)
    return flows


def solve_flow_block(
    block: FlowBlock,
    *,
    previous: FloatArray | None = None,
    rank: IntArray | None = None,
) -> FlowResult:
    """Lexicographic optimum (tiers, then transit) of the block's LP, by two integer min-cost flows.

    ``rank`` overrides the needs' levels (a sub-problem keeps the levels of the whole block).
    ``previous`` gives per arc the units the previous plan's proposed lines sent along it: among
    transit-equal plans, sending the same again is preferred (a tie-break below one unit of the scaled
    transit cost, on a parallel arc whose capacity is the previous amount).
    """
    n_p, n_n, n_a = block.pledges.size, block.needs.size, block.n_arcs
    k = decimals(np.concatenate([block.supply, block.demand]))
    scale = 10**k
    supply = np.floor(block.supply * scale + 1e-6).astype(np.int64)
    demand = np.rint(block.demand * scale).astype(np.int64)
    total = int(supply.sum())
    if total >= _INT_LIMIT // max(n_n + 1, 1) or int(demand.sum()) >= _INT_LIMIT // max(n_n + 1, 1):
        raise FlowUnsupported("amounts too large for 64-bit flow costs")
    arc_cap = np.minimum(supply[block.arc_pledge], demand[block.arc_need])

    # Nodes: 0 source, 1 sink, 2.. pledges, then needs, then (transit stage) levels.
    source, sink, p0, n0 = 0, 1, 2, 2 + n_p
    if rank is None:
        rank = block.need_rank
    arange_p, arange_n = np.arange(n_p, dtype=np.int64), np.arange(n_n, dtype=np.int64)

    # Rank stage: maximise Σ rank·y; unused supply bypasses to the sink at no cost.
    tail = np.concatenate([np.full(n_p, source), p0 + block.arc_pledge, n0 + arange_n, [source]]).astype(np.int64)
    head = np.concatenate([p0 + arange_p, n0 + block.arc_need, np.full(n_n, sink), [sink]]).astype(np.int64)
    cap = np.concatenate([supply, arc_cap, demand, [total]]).astype(np.int64)
    cost = np.concatenate([np.zeros(n_p + n_a, dtype=np.int64), -rank, [0]]).astype(np.int64)
    supplies = np.zeros(n_n + n_p + 2, dtype=np.int64)
    supplies[source], supplies[sink] = total, -total
    flows = min_cost_flow_int(n_n + n_p + 2, tail, head, cap, cost, supplies)
    y = flows[n_p + n_a : n_p + n_a + n_n]

    # Transit stage: each level receives exactly what the rank stage gave it; cheapest transit.
    levels, level_of = np.unique(rank, return_inverse=True)
    level_total = np.bincount(level_of, weights=y.astype(np.float64), minlength=levels.size).astype(np.int64)
    served = rank > 0
    level_total = np.where(levels > 0, level_total, 0)  # weightless needs' levels get nothing
    unit_cost = (block.transit + UNIT_EPSILON) / block.factor[block.arc_pledge]
    arc_cost, cost_scale = transit_costs(block, total)
    stage_cost = arc_cost * STABILITY_SCALE
    network, supplies = _transit_network(block, supply, arc_cap, demand, stage_cost, served, level_of, level_total)
    kept = np.zeros(0, dtype=np.int64)
    if previous is not None:
        previous_amount = np.rint(previous * block.factor[block.arc_pledge] * scale).astype(np.int64)
        kept, tail, head, cap, cost = previous_arcs(block, previous_amount, network, arc_cap, stage_cost, (p0, n0))
        network = (tail, head, cap, cost)
    flows = min_cost_flow_int(supplies.size, *network, supplies)
    arc_flow = arc_flows(flows, n_p, n_a, kept, extra=n_p + n_a + int(served.sum()))

    amount = arc_flow.astype(np.float64) / scale
    y_final = np.bincount(block.arc_need, weights=amount, minlength=n_n)
    fraction = np.minimum(y_final / block.demand, 1.0)
    tier_values = np.bincount(block.tier, weights=block.people * fraction, minlength=4)[:4].astype(np.float64)
    # Scaling error of the transit objective: at most half a cost unit per capability unit sent.
    true_cost = float(unit_cost @ amount)
    if cost_scale <= 0:  # exact integer costs
        transit_gap = 0.0
    else:
        transit_gap = 0.0 if true_cost <= 0 else min(1.0, 0.5 / cost_scale * float(amount.sum()) / true_cost)
    if transit_gap > REFINE_TRANSIT_GAP and scale > 1 and true_cost > 0:
        bound = _coarse_transit_bound(block, supply, demand, scale, served, level_of, level_total, unit_cost)
        if bound is not None:
            transit_gap = min(transit_gap, max(true_cost - bound, 0.0) / true_cost)
    return FlowResult(amount=amount, tier_values=tier_values, transit_gap=transit_gap, scale=scale)


def _coarse_transit_bound(
    block: FlowBlock,
    supply: IntArray,
    demand: IntArray,
    scale: int,
    served: BoolArray,
    level_of: IntArray,
    level_total: IntArray,
    unit_cost: FloatArray,
) -> float | None:
    """A lower bound on the transit stage's optimum (unit-days), where its integer costs were too coarse to prove
    it within the final gap: amounts of 1/10^k of a unit leave the costs few integers of range (a block with one
    divisible pledge of 158.987295-litre barrels: micro-litres, and a bound of 2e-3 on its scaling error, so a plan
    that is an LP reported "time_limit"). The same flow in whole capability units, every pledge's supply rounded up
    and every level's total down, has room for the stage's optimum (less flow on costs that are not negative), and
    its costs, with the range that whole units leave, are rounded down: its optimum bounds the stage's from below.
    None when it does not fit the flow solver."""
    coarse_supply = -((-supply) // scale)  # ceil
    coarse_demand = -((-demand) // scale)
    coarse_level = level_total // scale  # floor
    total = int(coarse_supply.sum())
    nodes = block.pledges.size + 2 * block.needs.size + 3
    limit = min(_INT_LIMIT // max(total, 1), _INT_LIMIT // nodes) // 4
    top = float(unit_cost.max()) if unit_cost.size else 1.0
    if top <= 0:
        return None
    cost_scale = min(float(limit), 1e15) / top
    cost = np.floor(unit_cost * cost_scale).astype(np.int64)
    arc_cap = np.minimum(coarse_supply[block.arc_pledge], coarse_demand[block.arc_need])
    network, supplies = _transit_network(block, coarse_supply, arc_cap, coarse_demand, cost, served, level_of,
                                         coarse_level)
    try:
        flows = min_cost_flow_int(supplies.size, *network, supplies)
    except FlowUnsupported:
        return None
    n_p = block.pledges.size
    return float(cost @ flows[n_p : n_p + block.n_arcs].astype(np.float64)) / cost_scale


def _transit_network(
    block: FlowBlock,
    supply: IntArray,
    arc_cap: IntArray,
    demand: IntArray,
    arc_cost: IntArray,
    served: BoolArray,
    level_of: IntArray,
    level_total: IntArray,
) -> tuple[tuple[IntArray, IntArray, IntArray, IntArray], IntArray]:
    """A transit stage's network (tail, head, capacity, cost; arcs: the source to each pledge, the block's arcs, each
    served need to its level) and node supplies: each level takes exactly ``level_total``. Nodes: 0 the source,
    1 unused, 2.. the pledges, then the needs, then the levels."""
    n_p, n_n = block.pledges.size, block.needs.size
    p0, n0 = 2, 2 + n_p
    l0 = n0 + n_n
    tail = np.concatenate([np.zeros(n_p), p0 + block.arc_pledge, n0 + np.flatnonzero(served)]).astype(np.int64)
    head = np.concatenate([p0 + np.arange(n_p), n0 + block.arc_need, l0 + level_of[served]]).astype(np.int64)
    cap = np.concatenate([supply, arc_cap, demand[served]]).astype(np.int64)
    cost = np.concatenate([np.zeros(n_p), arc_cost, np.zeros(int(served.sum()))]).astype(np.int64)
    supplies = np.zeros(l0 + level_total.size, dtype=np.int64)
    supplies[0] = int(level_total.sum())
    supplies[l0:] = -level_total
    return (tail, head, cap, cost), supplies


def previous_arcs(
    block: FlowBlock,
    previous: IntArray,
    network: tuple[IntArray, IntArray, IntArray, IntArray],
    arc_cap: IntArray,
    arc_cost: IntArray,
    offsets: tuple[int, int],
) -> tuple[IntArray, IntArray, IntArray, IntArray, IntArray]:
    """The stability tie-break of a transit stage: ``network`` (tail, head, capacity, cost) with a parallel arc,
    one cost unit cheaper, for every arc the previous plan used (``previous``, integer amounts per arc, capped at
    the arc's capacity); ``offsets``: the first pledge node and the first need node. Returns the arcs used and
    the extended network."""
    p0, n0 = offsets
    tail, head, cap, cost = network
    kept = np.flatnonzero(previous > 0)
    return (
        kept,
        np.concatenate([tail, p0 + block.arc_pledge[kept]]).astype(np.int64),
        np.concatenate([head, n0 + block.arc_need[kept]]).astype(np.int64),
        np.concatenate([cap, np.minimum(previous[kept], arc_cap[kept])]).astype(np.int64),
        np.concatenate([cost, arc_cost[kept] - 1]).astype(np.int64),
    )


def arc_flows(flows: IntArray, n_p: int, n_a: int, kept: IntArray, *, extra: int) -> IntArray:
    """Per block arc, its flow in a transit stage (nodes' arcs first, then the block's ``n_a`` arcs) plus its
    parallel previous-plan arc's (``kept``, whose arcs start at ``extra``)."""
    arc_flow = flows[n_p : n_p + n_a].copy()
    if kept.size:
        np.add.at(arc_flow, kept, flows[extra : extra + kept.size])
    return arc_flow


def transit_costs(block: FlowBlock, total: int) -> tuple[IntArray, float]:
    """Integer transit costs per capability unit, (τ_e + ε) / f_p, and the scale used (0 when exact).

    With whole factors, (τ + ε)·L/f with L their least common multiple and ε = 1/1000 is exact; otherwise
    (or when that would overflow) the costs are scaled to integers and the rounding error is reported.
    """
    nodes = block.pledges.size + 2 * block.needs.size + 3
    limit = min(_INT_LIMIT // max(total, 1), _INT_LIMIT // nodes) // STABILITY_SCALE // 4
    arc_factor = block.factor[block.arc_pledge]
    milli = 1000 * block.transit.astype(np.int64) + round(1000 * UNIT_EPSILON)
    factors = np.unique(block.factor)
    if np.all(np.abs(factors - np.rint(factors)) <= 1e-9) and factors.size and factors.max() < 2**31:
        lcm = 1
        for f in np.rint(factors).astype(np.int64).tolist():
            lcm = lcm * f // math.gcd(lcm, f)
            if lcm > 10**9:
                break
        if lcm <= 10**9 and int(milli.max(initial=0)) * lcm <= min(limit, 10**15):
            exact = milli * (lcm // np.rint(arc_factor).astype(np.int64))
            return exact.astype(np.int64), 0.0
    unit_cost = (block.transit + UNIT_EPSILON) / arc_factor
    top = float(unit_cost.max()) if unit_cost.size else 1.0
    scale = min(float(limit), 1e12) / top
    return np.maximum(np.rint(unit_cost * scale), 1).astype(np.int64), scale


def block_is_whole(block: FlowBlock, amount: FloatArray) -> bool:
    """Whether every indivisible arc carries whole units (then the LP optimum is the MIP optimum)."""
    factor = block.factor[block.arc_pledge]
    units = amount / factor
    whole = np.abs(units - np.rint(units)) <= 1e-9 * np.maximum(1.0, units)
    return bool(np.all(whole | ~block.integer[block.arc_pledge]))


def relative_gap(bound: float, value: float) -> float:
    if bound <= 0:
        return 0.0
    return max(0.0, (bound - value) / max(abs(bound), 1e-12))


__all__ = [
    "FlowBlock",
    "FlowResult",
    "FlowUnsupported",
    "block_is_whole",
    "flow_blocks",
    "min_cost_flow_int",
    "need_levels",
    "relative_gap",
    "solve_flow_block",
]
