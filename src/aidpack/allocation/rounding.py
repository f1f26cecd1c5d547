"""Whole units for indivisible items, and the loss measured against the LP bound.

The LP optimum of a block (:mod:`aidpack.allocation.flow`) may send fractions of generators, drums or
pallets. :func:`greedy_round` keeps every whole unit it sends and gives the leftover units of each
pledge to the needs left short, best need first (tier, then people per unit of capability): a unit
that covers the rest of a need on its own goes in the smallest such size (least overshoot, nearest
hub on ties), otherwise the largest size that fits. When that loses more than the tier gap against
the LP bound, :func:`mip_round` hands HiGHS the block's MIP — whole when it is small, else restricted
to the LP's support plus the few nearest pledges of every need — with the greedy plan as incumbent.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np

from aidpack.allocation.flow import FlowBlock, min_cost_flow_int, solve_flow_block
from aidpack.allocation.model import UNIT_EPSILON, BlockModel, Edges, build_blocks
from aidpack.allocation.models import Termination
from aidpack.allocation.problem import BoolArray, FloatArray, IntArray, Problem
from aidpack.allocation.solve import MIP_NOISE, SolveOptions, solve_block

_TOL = 1e-9
#: Blocks up to this many edges go to HiGHS whole; larger ones on a restricted edge set.
FULL_MIP_ARCS = 6_000
#: Edges per need kept (nearest first) besides the LP's support in a restricted MIP.
RESTRICTED_PER_NEED = 3
#: Tier values this close (relative) are equal when both plans are exact flows around whole units (no solver
#: tolerance in them): float noise only.
EXACT = 1e-9
#: How many times :func:`greedy_repair` takes back the units needs can spare and gives them out again.
SPARE_ROUNDS = 3


@dataclass(frozen=True)
class StageBounds:
    """Each tier stage of HiGHS's lexicographic MIP proves a dual bound on tier t given its earlier tiers
    held at what it reached (``held``, SPEC §4's relative tolerance below). That bounds tier t of any plan whose earlier
    tiers are at least that high; a stage that did not run bounds nothing (inf)."""

    stage_bound: FloatArray  # per tier
    held: FloatArray  # per tier, the least the later stages kept it at (the row HiGHS held it with)

    def for_plan(self, tiers: FloatArray) -> FloatArray:
        """Per tier, the bound that holds for a plan serving ``tiers`` (none once it is behind a hold by more
        than HiGHS's integrality noise: its plan, rounded to whole units, may sit a millionth below)."""
        bound = np.full(4, np.inf)
        noise = MIP_NOISE * np.maximum(np.abs(self.held), 1.0)
        for tier in range(4):
            if bool(np.any(tiers[:tier] < self.held[:tier] - noise[:tier])):
                break
            bound[tier] = self.stage_bound[tier]
        return bound


@dataclass(frozen=True)
class Rounded:
    units: FloatArray  # per arc, pledge units (whole for indivisible pledges)
    tier_values: FloatArray
    gap: float = 0.0  # the largest gap HiGHS proved, when it was used
    method: str = "greedy"
    #: When HiGHS solved the block's whole MIP: the bound each tier stage proved (see :class:`StageBounds`).
    stage_bounds: StageBounds | None = None
    #: When HiGHS ran the transit stage and the plan serves every tier at least as HiGHS held it: a lower
    #: bound on the unit-days in transit of any plan that serves the tiers as well.
    transit_bound: float | None = None
    #: Matched rounding without spill: the packs it found no room for, and the latest tier whose needs it
    #: gave packs that had room (-1: none). Spilling changes nothing when the first is 0 and the second is no
    #: later than the tier the plan first falls short in.
    unplaced: int = 0
    latest_packed_tier: int = -1


def block_tier_values(block: FlowBlock, units: FloatArray) -> FloatArray:
    """V_t of a plan given in pledge units per arc (coverage capped at each need's quantity)."""
    brought = np.bincount(block.arc_need, weights=units * block.factor[block.arc_pledge], minlength=block.needs.size)
    return covered_tier_values(block, brought.astype(np.float64))


def covered_tier_values(block: FlowBlock, brought: FloatArray) -> FloatArray:
    """V_t when each of the block's needs is brought ``brought`` (capped at its quantity)."""
    fraction = np.minimum(brought / block.demand, 1.0)
    values: FloatArray = np.bincount(block.tier, weights=block.people * fraction, minlength=4)[:4].astype(np.float64)
    return values


def lex_better(a: FloatArray, b: FloatArray, rel: float = 1e-6, slack: FloatArray | None = None) -> bool:
    """Whether tier values ``a`` beat ``b`` lexicographically (critical first); differences within ``rel``
    (solver noise around the 1e-7 tier holds), or within ``slack`` (people per tier), are ties."""
    for t, (x, y) in enumerate(zip(a, b, strict=True)):
        tol = rel * max(abs(x), abs(y), 1.0) + (float(slack[t]) if slack is not None else 0.0)
        if x > y + tol:
            return True
        if x < y - tol:
            return False
    return False


def better_plan(block: FlowBlock, a: Rounded, b: Rounded, rel: float = 1e-6) -> bool:
    """Whether ``a`` beats ``b``: tiers lexicographically (within ``rel``: see :func:`lex_better`), then fewer
    unit-days in transit."""
    if lex_better(a.tier_values, b.tier_values, rel=rel):
        return True
    if lex_better(b.tier_values, a.tier_values, rel=rel):
        return False
    return transit_of(block, a.units) < transit_of(block, b.units) * (1 - 1e-12)


def beats_kept(
    block: FlowBlock,
    candidate: Rounded,
    kept: Rounded,
    final_gap: float,
    rel: float = 1e-6,
    room: FloatArray | None = None,
) -> bool:
    """Whether a re-plan moves from ``kept`` (the previous plan's lines, see :func:`kept_round`) to
    ``candidate``: it serves the tiers better (beyond ``rel``; with ``room``, some tier by more than its room and
    no tier before it less, beyond ``rel``), or as well and travels less by more than the final gap (SPEC §4:
    transit is only proved to 1e-3). Plans of equal merit do not reshuffle what donors are already preparing."""
    if room is not None:
        noise = rel * np.maximum(np.abs(kept.tier_values), 1.0)
        for t in range(kept.tier_values.size):
            if candidate.tier_values[t] > kept.tier_values[t] + room[t]:
                return True
            if candidate.tier_values[t] < kept.tier_values[t] - noise[t]:
                return False
    elif lex_better(candidate.tier_values, kept.tier_values, rel=rel):
        return True
    elif lex_better(kept.tier_values, candidate.tier_values, rel=rel):
        return False
    return transit_of(block, candidate.units) < transit_of(block, kept.units) * (1 - final_gap)


def transit_of(block: FlowBlock, units: FloatArray) -> float:
    """Unit-days in transit of a plan given in pledge units per arc (the last objective)."""
    return float((block.transit + UNIT_EPSILON) @ units)


def tier_gaps(bound: FloatArray, values: FloatArray, people: FloatArray | None = None) -> FloatArray:
    """Relative shortfall of each tier against its bound (0 where the bound is 0). A loss within HiGHS's
    integrality noise (1e-6 of the tier's people) or a thousandth of a person is no loss, but never more than a
    millionth of the tier: needs of one person each (SPEC §3's default) make tiers of a few people, where a
    thousandth of a person is 1e-3 of the tier (a medium tier of 1.0191 people where 1.02 could be served was called
    optimal, and no MIP looked for the rest)."""
    noise = np.maximum(1e-9 * bound, np.minimum(1e-3, 1e-6 * bound))
    if people is not None:
        noise = np.maximum(noise, 1e-6 * people)
    loss = np.maximum(bound - values - noise, 0.0)
    gaps: FloatArray = np.where(bound > 1e-9, loss / np.maximum(bound, 1e-9), 0.0)
    return gaps


def floor_units(block: FlowBlock, amount: FloatArray) -> FloatArray:
    """The LP amounts in pledge units, indivisible ones rounded down."""
    raw = amount / block.factor[block.arc_pledge]
    units: FloatArray = np.where(block.integer[block.arc_pledge], np.floor(raw + _TOL), raw)
    return units


def _left(block: FlowBlock, units: FloatArray) -> FloatArray:
    pledge_units = block.supply / block.factor
    left = pledge_units - np.bincount(block.arc_pledge, weights=units, minlength=block.pledges.size)
    result: FloatArray = np.where(block.integer, np.rint(left), np.maximum(left, 0.0))
    return result


def greedy_round(block: FlowBlock, amount: FloatArray, previous: FloatArray | None = None) -> Rounded:
    """Whole units from the LP amounts (capability units per arc): rounded down, then repaired."""
    return greedy_repair(block, floor_units(block, amount), previous)


def greedy_repair(block: FlowBlock, units: FloatArray, previous: FloatArray | None = None) -> Rounded:
    """Give every pledge's leftover units to the needs left short, best need first; then take back the units
    a need can spare and stay covered, and give those out again, while there are any (at most
    ``SPARE_ROUNDS`` times).

    A need of 127 kW given two 30 kW units by the rounded-down LP is 67 kW short and gets a 100 kW unit:
    one of the 30 kW units can then serve another need (a re-plan found such units, with nothing changed,
    where the fresh plan had left a high-tier need short).
    """
    units = _fill(block, units, previous)
    for _ in range(SPARE_ROUNDS):
        spared = _drop_spare(block, units)
        if spared is None:
            break
        units = _fill(block, spared, previous)
    return Rounded(units=units, tier_values=block_tier_values(block, units))


def _drop_spare(block: FlowBlock, units: FloatArray) -> FloatArray | None:
    """``units`` less what each need can spare and stay covered, its farthest units first (None: nothing)."""
    arc_factor = block.factor[block.arc_pledge]
    brought = np.bincount(block.arc_need, weights=units * arc_factor, minlength=block.needs.size)
    over = brought - block.demand
    spare_arc = (units > _TOL) & (over[block.arc_need] > _TOL * np.maximum(block.demand[block.arc_need], 1.0))
    spare_arc &= ~block.integer[block.arc_pledge] | (arc_factor <= over[block.arc_need] + _TOL)
    if not bool(spare_arc.any()):
        return None
    spared = units.copy()
    by_need, starts = block.arcs_by_need
    for n in np.unique(block.arc_need[spare_arc]).tolist():
        mine = by_need[starts[n] : starts[n + 1]]
        mine = mine[spared[mine] > _TOL]
        spare = float(over[n])
        for a in mine[np.lexsort((-mine, -block.transit[mine]))].tolist():
            f = float(arc_factor[a])
            give = np.floor(spare / f + _TOL) if block.integer[block.arc_pledge[a]] else spare / f
            give = min(float(spared[a]), float(give))
            spared[a] -= give
            spare -= give * f
    return spared


def _fill(block: FlowBlock, units: FloatArray, previous: FloatArray | None) -> FloatArray:
    """Leftover units to the needs left short, best need first (see :func:`greedy_repair`)."""
    units = units.copy()
    arc_factor = block.factor[block.arc_pledge]
    arc_integer = block.integer[block.arc_pledge]
    left = _left(block, units)
    brought = np.bincount(block.arc_need, weights=units * arc_factor, minlength=block.needs.size)
    short = block.demand - brought

    by_need, starts = block.arcs_by_need
    rank = block.need_rank
    candidates = np.flatnonzero((short > _TOL * np.maximum(block.demand, 1.0)) & (rank > 0))
    order = candidates[np.lexsort((candidates, -rank[candidates]))]
    transit = block.transit.astype(np.float64)
    keep = (previous > 0).astype(np.float64) if previous is not None else np.zeros(block.n_arcs)
    for n in order:
        arcs = by_need[starts[n] : starts[n + 1]]
        need_short = float(short[n])
        while need_short > _TOL * max(float(block.demand[n]), 1.0):
            usable = arcs[left[block.arc_pledge[arcs]] > _TOL]
            if usable.size == 0:
                break
            divisible = usable[~arc_integer[usable]]
            if divisible.size:
                # A divisible pledge tops the need up exactly: nearest first, the previous plan's on ties.
                pick = divisible[np.lexsort((-keep[divisible], transit[divisible]))[0]]
                take = min(float(left[block.arc_pledge[pick]]), need_short / float(arc_factor[pick]))
            else:
                f = arc_factor[usable]
                covers = f >= need_short - _TOL
                if covers.any():
                    pool = usable[covers]
                    pick = pool[np.lexsort((-keep[pool], transit[pool], arc_factor[pool]))[0]]
                    take = 1.0
                else:
                    pick = usable[np.lexsort((-keep[usable], transit[usable], -f))[0]]
                    whole = float(np.floor(need_short / float(arc_factor[pick]) + _TOL))
                    take = max(1.0, min(float(left[block.arc_pledge[pick]]), whole))
            units[pick] += take
            left[block.arc_pledge[pick]] -= take
            need_short -= take * float(arc_factor[pick])
        short[n] = need_short
    return units


def kept_round(block: FlowBlock, previous: FloatArray) -> Rounded | None:
    """The previous plan's proposed units (pledge units per arc) where they still fit, the rest given out as
    :func:`greedy_repair` does: a re-plan's candidate that moves nothing the data did not make it move.

    A pledge with fewer units than its previous lines keeps them on its nearest arcs; a need brought a whole
    pack more than it asks for (its quantity fell) gives back what it can spare. None when the previous plan
    sent nothing along the block's arcs.
    """
    arc_integer = block.integer[block.arc_pledge]
    units = np.maximum(previous, 0.0)
    units = np.where(arc_integer, np.floor(units + _TOL), units)
    if not bool(np.any(units > 0)):
        return None
    # Within each pledge's units, nearest arcs first.
    order = np.lexsort((np.arange(block.n_arcs), block.transit, block.arc_pledge))
    sorted_units = units[order]
    cumulative = np.cumsum(sorted_units)
    pledge_sorted = block.arc_pledge[order]
    first = np.searchsorted(pledge_sorted, pledge_sorted)  # each arc's pledge's first position
    before = cumulative - sorted_units - (cumulative[first] - sorted_units[first])
    room = (block.units + _TOL)[pledge_sorted] - before
    units[order] = np.clip(np.where(arc_integer[order], np.floor(room), room), 0.0, sorted_units)
    kept = greedy_repair(block, units, previous)
    return Rounded(units=kept.units, tier_values=kept.tier_values, method="kept")


def restricted_arcs(block: FlowBlock, amount: FloatArray, incumbent: FloatArray) -> BoolArray:
    """The LP's support, the incumbent's arcs, and each need's nearest few pledges."""
    mask: BoolArray = (amount > 0) | (incumbent > 0)
    order = np.lexsort((np.arange(block.n_arcs), block.transit, block.arc_need))
    first = np.searchsorted(block.arc_need[order], np.arange(block.needs.size))
    position = np.arange(order.size) - first[block.arc_need[order]]
    mask[order[position < RESTRICTED_PER_NEED]] = True
    return mask


def mip_round(
    block: FlowBlock,
    amount: FloatArray,
    incumbent: Rounded,
    *,
    budget: float,
    options: SolveOptions,
    by_hub: bool = False,
    fixed_tiers: FloatArray | None = None,
    transit_tie: float = 0.0,
    also: BoolArray | None = None,
) -> Rounded:
    """The block's MIP (whole, or on a restricted set of arcs) with ``incumbent`` as HiGHS's start.

    Returns whichever of HiGHS's plan and the incumbent is better (see
    :func:`aidpack.allocation.solve.solve_block` for HiGHS's stages). ``by_hub``: pack classes also share their transit
    days to every need, so that the transit stage is exact (and its bound tight), not only the tiers.
    ``fixed_tiers``: HiGHS holds the tiers there (people) and minimises transit alone (see :func:`solve_block`).
    ``transit_tie`` (a re-plan's kept lines): on tied tiers, HiGHS's plan replaces the incumbent only when it
    saves more than this share of its unit-days (never, at infinity). ``also``: arcs a restricted MIP keeps
    besides its own (the other roundings' arcs).
    """
    if block.size <= FULL_MIP_ARCS:
        arcs: IntArray = np.arange(block.n_arcs)
        method = "mip"
    else:
        mask = restricted_arcs(block, amount, incumbent.units)
        if also is not None:
            mask |= also
        arcs = np.flatnonzero(mask)
        method = "restricted-mip"
    # Pledges of one size that reach the same needs are interchangeable in the tier stages: HiGHS gets one
    # column per such class and need (a transformer block of 23 pledges in 8 classes: 212 columns for 767,
    # and no symmetric branches), and the classes' units are shared out to their pledges afterwards.
    classed = classed_model(block, arcs, by_transit=by_hub)
    if classed is None:
        return incumbent
    model, arc_pair, packs, pair_class = classed.model, classed.arc_pair, classed.packs, classed.pair_class
    incumbent_pairs = np.bincount(arc_pair, weights=incumbent.units[arcs], minlength=pair_class.size)
    start = np.minimum(incumbent_pairs[model.edge_ids], model.col_upper[: model.n_x])
    stage_options = SolveOptions(
        tier_gap=options.tier_gap, final_gap=options.final_gap, hold_tolerance=options.hold_tolerance,
        mip_stage_budget=budget, seed=options.seed,
    )
    # One deadline for the block's stages: the critical tier may use what it needs (lexicographic order).
    result = solve_block(model, stage_options, deadline=time.perf_counter() + budget, initial_x=start,
                         share_time=True, fixed_tiers=fixed_tiers)
    if result.termination not in (Termination.OPTIMAL, Termination.TIME_LIMIT):
        return incumbent
    pair_units = np.zeros(pair_class.size)
    pair_units[model.edge_ids] = np.where(packs.integer[pair_class[model.edge_ids]], np.rint(result.x),
                                          np.maximum(result.x, 0.0))
    units = np.zeros(block.n_arcs)
    units[arcs] = _share_out(block, arcs, arc_pair, pair_units)
    # HiGHS's plan may leave units a greedy pass can still place (its stages stop at the gap).
    improved = greedy_repair(block, units)
    kept = incumbent if lex_better(incumbent.tier_values, improved.tier_values) else improved
    # A re-plan's kept lines stay on tied tiers unless HiGHS's plan travels less by more than ``transit_tie``.
    tied = kept is improved and not lex_better(improved.tier_values, incumbent.tier_values)
    if transit_tie > 0 and tied and (
        transit_tie == np.inf
        or transit_of(block, improved.units) >= transit_of(block, incumbent.units) * (1 - transit_tie)
    ):
        kept = incumbent
    stage_bounds, transit_bound = None, None
    if method == "mip":
        stage_bounds = _stage_bounds(result.log)
        transit_bound = _transit_bound(result.log, kept.tier_values, stage_bounds.held)
    if kept is incumbent:
        return Rounded(incumbent.units, incumbent.tier_values, incumbent.gap, incumbent.method,
                       stage_bounds=stage_bounds, transit_bound=transit_bound)
    return Rounded(units=improved.units, tier_values=improved.tier_values, gap=float(result.gap), method=method,
                   stage_bounds=stage_bounds, transit_bound=transit_bound)


@dataclass(frozen=True)
class PackClasses:
    """Pledges grouped into interchangeable classes over a set of arcs (see :func:`pack_classes`)."""

    arc_class: IntArray  # per arc of the set, its pledge's class
    factor: FloatArray  # per class
    integer: BoolArray  # per class
    units: FloatArray  # per class, the units of its pledges together

    @property
    def n_classes(self) -> int:
        return int(self.factor.shape[0])


def pack_classes(block: FlowBlock, arcs: IntArray, *, by_transit: bool = False) -> PackClasses:
    """Indivisible pledges of one size whose ``arcs`` reach the same needs form one class (their units are
    interchangeable for every tier; ``by_transit``: in the same number of days each, so for transit too);
    each divisible pledge is a class of its own."""
    order = np.lexsort((block.arc_need[arcs], block.arc_pledge[arcs]))
    sorted_pledge = block.arc_pledge[arcs][order]
    sorted_need = block.arc_need[arcs][order]
    sorted_days = block.transit[arcs][order] if by_transit else np.zeros(arcs.size, dtype=np.int64)
    bounds = np.flatnonzero(np.r_[True, sorted_pledge[1:] != sorted_pledge[:-1], True])
    class_of: dict[tuple[object, ...], int] = {}
    pledge_class = np.full(block.pledges.size, -1, dtype=np.int64)
    for lo, hi in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
        p = int(sorted_pledge[lo])
        key: tuple[object, ...] = (
            (float(block.factor[p]), sorted_need[lo:hi].tobytes(), sorted_days[lo:hi].tobytes())
            if block.integer[p] else ("divisible", p)
        )
        pledge_class[p] = class_of.setdefault(key, len(class_of))
    members = np.flatnonzero(pledge_class >= 0)
    n = len(class_of)
    factor, integer = np.zeros(n), np.zeros(n, dtype=bool)
    factor[pledge_class[members]] = block.factor[members]
    integer[pledge_class[members]] = block.integer[members]
    units = np.bincount(pledge_class[members], weights=block.units[members], minlength=n)
    return PackClasses(pledge_class[block.arc_pledge[arcs]], factor, integer, units.astype(np.float64))


@dataclass(frozen=True)
class ClassedModel:
    """A block's MIP over pack classes (:func:`classed_model`): one column per (class, need) pair."""

    model: BlockModel  # its x columns are pairs (``edge_ids`` index the pairs)
    packs: PackClasses
    arc_pair: IntArray  # per arc of the set, its pair
    pair_class: IntArray  # per pair, its class


def classed_model(block: FlowBlock, arcs: IntArray, *, by_transit: bool = False) -> ClassedModel | None:
    """The block's model on ``arcs`` with pledges grouped into pack classes (:func:`pack_classes`): every
    tier value a plan over pledges serves, one over classes serves, and the reverse (a pair's transit is its
    nearest member's, exact with ``by_transit``). None when the arcs make no single block."""
    packs = pack_classes(block, arcs, by_transit=by_transit)
    needs, n_local = np.unique(block.arc_need[arcs], return_inverse=True)
    pair = packs.arc_class * needs.size + n_local
    pairs, arc_pair = np.unique(pair, return_inverse=True)
    pair_class, pair_need = pairs // needs.size, pairs % needs.size
    pair_transit = np.full(pairs.size, np.iinfo(np.int64).max)
    np.minimum.at(pair_transit, arc_pair, block.transit[arcs])
    zeros_n = np.zeros(needs.size, dtype=np.int64)
    zeros_c = np.zeros(packs.n_classes, dtype=np.int64)
    sub = Problem(
        plan_date=0,
        capabilities=("block",),
        need_refs=tuple(str(i) for i in needs),
        need_capability=zeros_n,
        need_demand=block.demand[needs],
        need_tier=block.tier[needs],
        need_deadline=zeros_n,
        need_region=zeros_n,
        need_people=block.people[needs],
        pledge_refs=tuple(str(i) for i in range(packs.n_classes)),
        pledge_capability=zeros_c,
        pledge_factor=packs.factor,
        pledge_integer=packs.integer,
        pledge_supply=packs.units,
        pledge_start=zeros_c,
        pledge_hub=zeros_c,
        transit=np.zeros((1, 1), dtype=np.int64),
    )
    sub_edges = Edges(
        pledge=pair_class.astype(np.int64), need=pair_need.astype(np.int64),
        eta=np.zeros(pairs.size, dtype=np.int64), transit=pair_transit,
    )
    models = build_blocks(sub, sub_edges)
    if len(models) != 1:
        return None
    return ClassedModel(models[0], packs, arc_pair, pair_class)


def _share_out(block: FlowBlock, arcs: IntArray, arc_pair: IntArray, pair_units: FloatArray) -> FloatArray:
    """Units per arc of ``arcs`` from units per (class, need) pair: each pair's units shared among the
    class's pledges by a min-cost flow on transit (every pledge of a class reaches every need of it)."""
    pledges, p_local = np.unique(block.arc_pledge[arcs], return_inverse=True)
    whole = block.integer[pledges][p_local]
    result = np.zeros(arcs.size)
    # A divisible pledge is its own class: its pairs are its arcs.
    result[~whole] = pair_units[arc_pair[~whole]]
    if whole.any():
        idx = np.flatnonzero(whole)
        used_pairs, local_pair = np.unique(arc_pair[idx], return_inverse=True)
        demand = np.rint(pair_units[used_pairs]).astype(np.int64)
        supply = block.units[pledges].astype(np.int64)
        n_p, n_q = pledges.size, used_pairs.size
        total = int(demand.sum())
        source, sink, p0, q0 = 0, 1, 2, 2 + n_p
        tail = np.concatenate([np.full(n_p, source), p0 + p_local[idx], q0 + np.arange(n_q)]).astype(np.int64)
        head = np.concatenate([p0 + np.arange(n_p), q0 + local_pair, np.full(n_q, sink)]).astype(np.int64)
        cap = np.concatenate([supply, np.full(idx.size, max(total, 1)), demand]).astype(np.int64)
        cost = np.concatenate([np.zeros(n_p), block.transit[arcs[idx]], np.zeros(n_q)]).astype(np.int64)
        supplies = np.zeros(n_p + n_q + 2, dtype=np.int64)
        supplies[source], supplies[sink] = total, -total
        flows = min_cost_flow_int(n_p + n_q + 2, tail, head, cap, cost, supplies)
        result[idx] = flows[n_p : n_p + idx.size]
    return result


def _stage_bounds(log: list[dict[str, float | str | int]]) -> StageBounds:
    """What HiGHS's tier stages proved (:class:`StageBounds`), and the rows they held the tiers with (0 for
    a tier it did not hold), from its log."""
    stage_bound, held = np.full(4, np.inf), np.zeros(4)
    for entry in log:
        name = str(entry["stage"])
        if not name.startswith("tier"):
            continue
        tier = int(name[4:])
        if np.isfinite(float(entry["bound"])):
            stage_bound[tier] = -float(entry["bound"])  # the stage minimised −V_t
        held[tier] = float(entry.get("held", 0.0))
    return StageBounds(stage_bound, held)


def _transit_bound(log: list[dict[str, float | str | int]], chosen: FloatArray, held: FloatArray) -> float | None:
    """HiGHS's transit stage proves a lower bound on the unit-days of any plan whose tiers are at least
    what it ``held`` them at (its classes' transit is the nearest member's, so the bound holds for
    pledges too). None when that stage did not run or the plan kept serves some tier less."""
    entry = next((e for e in log if e["stage"] == "transit"), None)
    if entry is None or not np.isfinite(float(entry["bound"])):
        return None
    return float(entry["bound"]) if _serves_held(chosen, held) else None


def _serves_held(tiers: FloatArray, held: FloatArray) -> bool:
    """Whether a plan serving ``tiers`` serves every tier at least as HiGHS held it (to float noise)."""
    return bool(np.all(tiers >= held - 1e-9 * np.maximum(np.abs(held), 1.0)))


def size_classes(block: FlowBlock) -> tuple[BoolArray, BoolArray, float]:
    """Per pledge: divisible, and fine (the divisible ones, or else the smallest indivisible size);
    and that smallest indivisible size (1 when there is none)."""
    divisible: BoolArray = ~block.integer
    f_min = float(block.factor[block.integer].min()) if block.integer.any() else 1.0
    fine: BoolArray = divisible if divisible.any() else block.integer & (block.factor <= f_min + 1e-12)
    return divisible, fine, f_min


def coarse_fine_round(
    block: FlowBlock, amount: FloatArray, previous: FloatArray | None = None, *, extras: bool = True, passes: int = 1
) -> Rounded:
    """Round the large units by largest remainder, then re-solve the finest units exactly around them.

    The finest pledges (divisible ones, or else the smallest indivisible size) can cover what rounding
    the larger units left short, and take back what their overshoot made needless: their flow is solved
    again, in their own units, on the needs' residual quantities (an integer flow: whole units).
    """
    arc_factor = block.factor[block.arc_pledge]
    arc_integer = block.integer[block.arc_pledge]
    divisible, fine, f_min = size_classes(block)
    coarse = ~fine
    raw = amount / arc_factor
    units = np.where(arc_integer, np.floor(raw + _TOL), raw)
    # Coarse pledges: each sends as many whole units as the LP used (rounded up, within its units),
    # the extra ones to the arcs with the largest fractional remainders.
    arc_coarse = coarse[block.arc_pledge]
    used = np.bincount(block.arc_pledge, weights=np.where(arc_coarse, raw, 0.0), minlength=block.pledges.size)
    target = np.minimum(np.ceil(used - 1e-6), block.supply / block.factor)
    sent = np.bincount(block.arc_pledge, weights=np.where(arc_coarse, units, 0.0), minlength=block.pledges.size)
    extra = np.where(coarse, np.maximum(target - sent, 0.0), 0.0) if extras else np.zeros(block.pledges.size)
    remainder = np.where(arc_coarse, raw - units, -1.0)
    order = np.lexsort((np.arange(block.n_arcs), -remainder, block.arc_pledge))
    ranked = np.arange(order.size) - np.searchsorted(block.arc_pledge[order], block.arc_pledge[order])
    bump = order[(ranked < extra[block.arc_pledge[order]]) & (remainder[order] > _TOL)]
    units[bump] += 1.0
    for _ in range(passes):
        units = refine_fine(block, units, arc_coarse, fine, divisible, f_min, previous)
        units = greedy_repair(block, units, previous).units
    repaired = greedy_repair(block, units, previous)
    return Rounded(units=repaired.units, tier_values=repaired.tier_values, method="coarse-fine")


def refine_fine(
    block: FlowBlock,
    units: FloatArray,
    arc_coarse: BoolArray,
    fine: BoolArray,
    divisible: BoolArray,
    f_min: float,
    previous: FloatArray | None,
) -> FloatArray:
    """Keep the coarse units, re-solve the fine pledges' flow on what the needs still lack."""
    arc_factor = block.factor[block.arc_pledge]
    units = units.copy()
    units[~arc_coarse] = 0.0
    brought = np.bincount(block.arc_need, weights=units * arc_factor, minlength=block.needs.size)
    residual = np.maximum(block.demand - brought, 0.0)
    fine_arcs = np.flatnonzero(~arc_coarse & (residual[block.arc_need] > _TOL))
    if fine_arcs.size:
        whole = sub_block(block, fine_arcs)
        local_needs = np.searchsorted(block.needs, whole.needs)
        unit = 1.0 if divisible.any() else f_min
        sub_demand = residual[local_needs] / unit
        if not divisible.any():
            sub_demand = np.ceil(sub_demand - 1e-9)
        sub = replace(whole, factor=whole.factor / unit, supply=whole.supply / unit, demand=sub_demand)
        rank = block.need_rank[local_needs]
        sub_previous = previous[fine_arcs] if previous is not None else None
        flow = solve_flow_block(sub, previous=sub_previous, rank=rank)
        units[fine_arcs] = flow.amount / sub.factor[sub.arc_pledge]
    return units


def sub_block(block: FlowBlock, arcs: IntArray) -> FlowBlock:
    """The block over some of its arcs (sorted), with the pledges and needs they reach."""
    pledges, p_local = np.unique(block.arc_pledge[arcs], return_inverse=True)
    needs, n_local = np.unique(block.arc_need[arcs], return_inverse=True)
    return FlowBlock(
        capability=block.capability,
        edge_ids=block.edge_ids[arcs],
        pledges=block.pledges[pledges],
        needs=block.needs[needs],
        arc_pledge=p_local.astype(np.int64),
        arc_need=n_local.astype(np.int64),
        factor=block.factor[pledges],
        integer=block.integer[pledges],
        supply=block.supply[pledges],
        demand=block.demand[needs],
        people=block.people[needs],
        tier=block.tier[needs],
        transit=block.transit[arcs],
    )


def exact_fine(block: FlowBlock, plan: Rounded) -> Rounded:
    """``plan`` (HiGHS's) with its finest units' flow solved again exactly around its larger units, when that
    is better. HiGHS holds each tier within its tolerances, and its transit stage spends that hair: a litre
    split 1.000008 / 0.999992 between two critical needs to save 8e-6 unit-days, a critical tier 1.6e-7 below
    its optimum. The integer flow places the same litres without that noise. HiGHS's transit bound is kept
    only for a plan that serves every tier as HiGHS held it. Tiers are compared to float noise (``EXACT``): a
    medium tier 5.9e-5 people up is no gain when the critical tier paid 2e-5 people (1e-7 of it) for it."""
    divisible, fine, f_min = size_classes(block)
    units = refine_fine(block, plan.units, ~fine[block.arc_pledge], fine, divisible, f_min, None)
    repaired = greedy_repair(block, units)
    if not better_plan(block, repaired, plan, rel=EXACT):
        return plan
    serves = plan.stage_bounds is not None and _serves_held(repaired.tier_values, plan.stage_bounds.held)
    return Rounded(repaired.units, repaired.tier_values, plan.gap, plan.method, stage_bounds=plan.stage_bounds,
                   transit_bound=plan.transit_bound if serves else None)


def matched_round(
    block: FlowBlock,
    amount: FloatArray,
    previous: FloatArray | None = None,
    *,
    spill: bool = False,
    spill_tier: int = 3,
    second_try: bool = True,
    ceil_tier: int = -1,
    near: bool = False,
) -> Rounded:
    """Whole large units placed without waste by an integer flow in pack units, then the fine flow re-solved.

    The LP spreads a large pack (a 30,000-litre tanker, a pallet of 500 rations) in slivers over many
    needs, and rounding those slivers sends whole packs where they overshoot: the overshoot is lost to
    every other need. Here, one pack size at a time (largest first), as many packs as the LP used are
    placed by a min-cost flow in whole packs on needs with room for a whole pack (best need level first,
    then where the LP sent that size), and the finest units are solved again, exactly, around them.
    ``spill``: only needs of tier ``spill_tier`` or earlier take packs by room; the packs that found no
    such room go, one by one, where they are absorbed most (a tanker to the largest need it reaches) among
    those needs, then anywhere, before the fine flow. Lexicographically, a tanker absorbed by a low-tier
    need is lost to the first tier that whole units leave short (2e6-edge bench, diesel: 151 tankers of
    30,000 L against needs of median 3,959 L; spilling them among critical to medium needs first served
    82,000 more medium-tier people).
    A need of a tier before ``spill_tier`` that the spill leaves short (few loose litres reach it, and the
    tankers went where they were absorbed most) gets the spill's packs first in a second try, kept when it
    is the better plan (1e6 edges on 22 capabilities, diesel: a critical need left 1,551 L short, 327
    people, for 179,000 medium-tier ones; the second try serves both). ``second_try=False`` skips it.
    ``ceil_tier``: needs of that tier or earlier take the smallest coarse size up to their whole quantity, the
    last pack overshooting, where without it their remainders wait for loose units that are too few (an
    independent 1.4e6-edge scenario, 5,000-litre bladders and 26,379 loose litres: 106 bladders placed
    without waste went to high-tier needs with room, and 31,025 litres of critical needs' remainders were
    left without loose litres).
    ``near``: packs go to needs with room where the LP sent their size, then nearest, whatever the needs' levels
    (every pack placed without waste serves people; which needs get them, the fine flow's rank stage makes up for
    where it can). Placed by level first, a block's packs travel to the best-level needs wherever they are and
    the loose units to the others: the 1e5 bench's food block (rations of 500 and single ones), 150,764 unit-days
    placed by level, 123,042 placed near (see :func:`first_pass._near_round`), every tier the same; its LP takes
    121,407 and HiGHS's whole-unit optimum at those tiers 122,043.
    """
    plan = _matched(block, amount, previous, spill, spill_tier, None, ceil_tier, near)
    if not spill or not second_try:
        return plan
    brought = np.bincount(block.arc_need, weights=plan.units * block.factor[block.arc_pledge],
                          minlength=block.needs.size)
    short = (block.tier < spill_tier) & (brought < block.demand - 1e-6 * np.maximum(block.demand, 1.0))
    if not short.any():
        return plan
    second = _matched(block, amount, previous, spill, spill_tier, short, ceil_tier, near)
    return second if better_plan(block, second, plan) else plan


def _matched(
    block: FlowBlock,
    amount: FloatArray,
    previous: FloatArray | None,
    spill: bool,
    spill_tier: int,
    protect: BoolArray | None,
    ceil_tier: int = -1,
    near: bool = False,
) -> Rounded:
    """:func:`matched_round`, the spill going first to the needs marked ``protect``."""
    arc_factor = block.factor[block.arc_pledge]
    divisible, fine, f_min = size_classes(block)
    coarse = ~fine
    arc_coarse = coarse[block.arc_pledge]
    raw = amount / arc_factor
    used = np.bincount(block.arc_pledge, weights=raw, minlength=block.pledges.size)
    target = np.minimum(np.ceil(used - 1e-6), block.units).astype(np.int64)
    units = np.zeros(block.n_arcs)
    placed = np.zeros(block.needs.size)
    rank = block.need_rank
    unplaced = 0
    latest = -1
    sizes = np.unique(block.factor[coarse])[::-1]
    for size in sizes:
        of_size = np.flatnonzero(arc_coarse & (np.abs(arc_factor - size) <= 1e-12 * size) & (rank[block.arc_need] > 0))
        if of_size.size == 0:
            continue
        room = np.floor((block.demand - placed) / size + 1e-9).astype(np.int64)
        if size == sizes[-1] and ceil_tier >= 0:
            whole = np.ceil((block.demand - placed) / size - 1e-9).astype(np.int64)
            room = np.where(block.tier <= ceil_tier, np.maximum(whole, 0), room)
        arcs = of_size[room[block.arc_need[of_size]] > 0]
        if spill:
            # Packs with room in a later tier spill into the earlier ones first (a 1,000 kW unit covering 850 kW
            # of a medium-tier need serves that tier; whole in a low-tier need it serves the low tier only).
            arcs = arcs[block.tier[block.arc_need[arcs]] <= spill_tier]
        if arcs.size:
            _place_packs(block, units, arcs, target, room, rank, raw, near)
            latest = max(latest, int(block.tier[block.arc_need[arcs[units[arcs] > 0]]].max(initial=-1)))
            brought = np.bincount(block.arc_need, weights=units * arc_factor, minlength=block.needs.size)
            placed = brought.astype(np.float64)
        # Also when no need has room for a whole pack: then every pack of this size is left to spill.
        pledges = np.unique(block.arc_pledge[of_size])
        sent = np.bincount(block.arc_pledge[of_size], weights=units[of_size], minlength=block.pledges.size)
        left = target[pledges] - np.rint(sent[pledges]).astype(np.int64)
        unplaced += int(left[left > 0].sum())
        if spill:
            placed = _spill(block, units, placed, pledges[left > 0], left[left > 0], rank, block.tier <= spill_tier,
                            protect)
    units = refine_fine(block, units, arc_coarse, fine, divisible, f_min, previous)
    repaired = greedy_repair(block, units, previous)
    return Rounded(units=repaired.units, tier_values=repaired.tier_values, method="matched", unplaced=unplaced,
                   latest_packed_tier=latest)


def _place_packs(
    block: FlowBlock, units: FloatArray, arcs: IntArray, target: IntArray, room: IntArray, rank: IntArray,
    raw: FloatArray, near: bool = False,
) -> None:
    """Send up to ``target`` whole packs of each pledge along ``arcs`` (in ``units``), at most ``room`` per
    need, by a min-cost flow in packs: the need's level first, then whether the LP sent this size along
    the arc, then transit (``near``: every need with room alike, then the LP's arcs, then transit)."""
    pledges, p_local = np.unique(block.arc_pledge[arcs], return_inverse=True)
    needs, n_local = np.unique(block.arc_need[arcs], return_inverse=True)
    n_p, n_n = pledges.size, needs.size
    supply = target[pledges]
    total = int(supply.sum())
    affinity = (raw[arcs] > _TOL).astype(np.int64)
    days = block.transit[arcs].astype(np.int64)
    level = np.ones(n_n, dtype=np.int64) if near else rank[needs]
    arc_cost = -(2 * level[n_local] + affinity) * (int(days.max()) + 1) + days
    source, sink, p0, n0 = 0, 1, 2, 2 + n_p
    tail = np.concatenate([np.full(n_p, source), p0 + p_local, n0 + np.arange(n_n), [source]]).astype(np.int64)
    head = np.concatenate([p0 + np.arange(n_p), n0 + n_local, np.full(n_n, sink), [sink]]).astype(np.int64)
    cap = np.concatenate([supply, np.minimum(supply[p_local], room[needs][n_local]), room[needs], [total]])
    cost = np.concatenate([np.zeros(n_p, dtype=np.int64), arc_cost, np.zeros(n_n + 1, dtype=np.int64)])
    supplies = np.zeros(n_p + n_n + 2, dtype=np.int64)
    supplies[source], supplies[sink] = total, -total
    flows = min_cost_flow_int(n_p + n_n + 2, tail, head, cap.astype(np.int64), cost, supplies)
    units[arcs] = flows[n_p : n_p + arcs.size]


def _spill(
    block: FlowBlock,
    units: FloatArray,
    placed: FloatArray,
    pledges: IntArray,
    count: IntArray,
    rank: IntArray,
    first: BoolArray,
    protect: BoolArray | None = None,
) -> FloatArray:
    """Place ``count`` more whole units of each of ``pledges`` (in ``units``), each where it is absorbed
    most (then the nearest), needs marked ``protect`` first, then those marked ``first``, then the others;
    returns the amount now placed on each need."""
    by_pledge = np.argsort(block.arc_pledge, kind="stable")
    starts = np.searchsorted(block.arc_pledge[by_pledge], np.arange(block.pledges.size + 1))
    transit = block.transit.astype(np.float64)
    for p, k in zip(pledges.tolist(), count.tolist(), strict=True):
        arcs = by_pledge[starts[p] : starts[p + 1]]
        arcs = arcs[rank[block.arc_need[arcs]] > 0]
        f = float(block.factor[p])
        k = int(k)
        while k > 0:
            gain = np.minimum(np.maximum(block.demand[block.arc_need[arcs]] - placed[block.arc_need[arcs]], 0.0), f)
            if arcs.size == 0 or float(gain.max()) <= _TOL:
                break
            preferred = first[block.arc_need[arcs]] & (gain > _TOL)
            protected = protect[block.arc_need[arcs]] & (gain > _TOL) if protect is not None else preferred
            pick = arcs[np.lexsort((transit[arcs], -gain, ~preferred, ~protected))[0]]
            # While the need has room for a whole unit its arc's gain stays f and no other arc's changes, so the
            # same arc is picked again: as many units as it has room for go at once (packs of 5 spilt one at a
            # time: 26,913 passes, 0.85 s of a block's 1.1-s rounding).
            n = block.arc_need[pick]
            fits = int(np.floor((block.demand[n] - placed[n]) / f + 1e-9)) if gain[arcs == pick][0] >= f else 1
            take = max(min(fits, k), 1)
            units[pick] += take
            placed[n] += take * f
            k -= take
    return placed
