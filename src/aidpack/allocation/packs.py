"""The exact whole-unit optimum of a block whose pledges all come in one pack size, by two min-cost flows.

Why it is exact. With one pack size F, a plan is an integer flow of packs from pledges to needs, and
need n's worth is s_n · min(1, F·k_n / d_n) for k_n packs: F·s_n/d_n for each of its first ⌊d_n/F⌋
packs, then s_n·r_n/d_n for one more pack that covers the rest r_n = d_n − F·⌊d_n/F⌋ (and overshoots),
then nothing. That is concave in k_n, so each need is two sinks in parallel: a *full* one of capacity
⌊d_n/F⌋ at weight F·s_n/d_n and a *rest* one of capacity 1 at weight s_n·r_n/d_n, which is smaller, so
a flow fills the full sink first. The packs that can be delivered to these sinks form an integral
polymatroid, exactly as capability units do in :mod:`aidpack.allocation.flow`, and the same two flows
give the lexicographic whole-unit optimum: a rank stage (costs −rank of each sink's level, by tier and
weight) for every tier at once, then a transit stage that brings each level what the rank stage gave
it at the fewest unit-days, (τ + ε) per pack exactly (integer costs in thousandths of a day).

The LP optimum in capability units splits packs between needs (a 5,000-litre bladder poured into ten
villages); rounding it, or HiGHS's MIP from such a rounding within a fraction of a second, fell short
of this optimum by up to 17 % of a tier in a block of 390 needs and 5,000-litre bladders.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from aidpack.allocation.flow import (
    STABILITY_SCALE,
    FlowBlock,
    arc_flows,
    min_cost_flow_int,
    need_levels,
    previous_arcs,
)
from aidpack.allocation.model import UNIT_EPSILON
from aidpack.allocation.problem import FloatArray, IntArray
from aidpack.allocation.rounding import Rounded, better_plan, block_tier_values, refine_fine, size_classes, sub_block
from aidpack.allocation.split import Ahead

#: A need's quantity within this share of a whole number of packs is that number of packs (float noise).
_WHOLE_TOLERANCE = 1e-9
#: Rounds of a descent (:func:`size_descents`; each: one pack flow per size class and one flow of the finest units).
DESCENT_ROUNDS = 4


def one_pack_size(block: FlowBlock) -> bool:
    """Whether every pledge of the block is indivisible and of the same size (then :func:`pack_flow` is
    exact)."""
    return bool(block.integer.all()) and bool(np.all(block.factor == block.factor[0]))


def pack_flow(
    block: FlowBlock,
    previous: FloatArray | None = None,
    *,
    residual: FloatArray | None = None,
    overshoot: bool = True,
) -> FloatArray:
    """Per arc, the packs of the block's lexicographic whole-unit optimum (tiers, then unit-days in transit).

    The block must have one pack size (:func:`one_pack_size`). ``previous`` (packs per arc of the previous
    plan): among plans of equal unit-days, the one that sends more of them again (a parallel arc one cost
    unit cheaper, as in :func:`aidpack.allocation.flow.solve_flow_block`). ``residual`` (per need, default
    its quantity): what other units leave each need lacking, the packs' worth still counted against the
    need's whole quantity (the optimum given those other units). Without ``overshoot``, a pack goes only
    where it fits whole (no rest sinks).
    """
    size = float(block.factor[0])
    n_p, n_n, n_a = block.pledges.size, block.needs.size, block.n_arcs
    packs = np.floor(block.units + _WHOLE_TOLERANCE).astype(np.int64)
    lacking = block.demand if residual is None else np.maximum(residual, 0.0)
    full = np.floor(lacking / size + _WHOLE_TOLERANCE).astype(np.int64)
    rest = np.maximum(lacking - full * size, 0.0)
    has_rest = (rest > _WHOLE_TOLERANCE * np.maximum(block.demand, 1.0)) & overshoot
    # Sinks: every need's full sink, then the rest sinks of the needs that have one.
    sink_need = np.concatenate([np.arange(n_n), np.flatnonzero(has_rest)]).astype(np.int64)
    sink_cap = np.concatenate([full, np.ones(int(has_rest.sum()), dtype=np.int64)])
    sink_worth = np.concatenate([block.people * size, block.people[has_rest] * rest[has_rest]])
    used = sink_cap > 0
    sink_need, sink_cap, sink_worth = sink_need[used], sink_cap[used], sink_worth[used]
    rank = need_levels(sink_worth, block.demand[sink_need], block.tier[sink_need])
    arc_cap = np.minimum(packs[block.arc_pledge], full[block.arc_need] + has_rest[block.arc_need])
    total = int(packs.sum())

    # Nodes: 0 source, 1 sink, 2.. pledges, then needs, then (transit stage) levels.
    source, sink, p0, n0 = 0, 1, 2, 2 + n_p
    n_s = sink_need.size
    tail = np.concatenate([np.full(n_p, source), p0 + block.arc_pledge, n0 + sink_need, [source]]).astype(np.int64)
    head = np.concatenate([p0 + np.arange(n_p), n0 + block.arc_need, np.full(n_s, sink), [sink]]).astype(np.int64)
    cap = np.concatenate([packs, arc_cap, sink_cap, [total]]).astype(np.int64)
    cost = np.concatenate([np.zeros(n_p + n_a, dtype=np.int64), -rank, [0]]).astype(np.int64)
    supplies = np.zeros(2 + n_p + n_n, dtype=np.int64)
    supplies[source], supplies[sink] = total, -total
    flows = min_cost_flow_int(2 + n_p + n_n, tail, head, cap, cost, supplies)
    sink_flow = flows[n_p + n_a : n_p + n_a + n_s]

    # Transit stage: each level gets exactly what the rank stage gave it, at the fewest unit-days.
    levels, level_of = np.unique(rank, return_inverse=True)
    level_total = np.bincount(level_of, weights=sink_flow.astype(np.float64), minlength=levels.size)
    level_total = np.rint(level_total).astype(np.int64)
    served = rank > 0
    l0 = n0 + n_n
    arc_cost = (1000 * block.transit.astype(np.int64) + round(1000 * UNIT_EPSILON)) * STABILITY_SCALE
    tail = np.concatenate([np.full(n_p, source), p0 + block.arc_pledge, n0 + sink_need[served]]).astype(np.int64)
    head = np.concatenate([p0 + np.arange(n_p), n0 + block.arc_need, l0 + level_of[served]]).astype(np.int64)
    cap = np.concatenate([packs, arc_cap, sink_cap[served]]).astype(np.int64)
    cost = np.concatenate([np.zeros(n_p, dtype=np.int64), arc_cost, np.zeros(int(served.sum()), dtype=np.int64)])
    kept = np.zeros(0, dtype=np.int64)
    if previous is not None:
        previous_packs = np.rint(np.maximum(previous, 0.0)).astype(np.int64)
        kept, tail, head, cap, cost = previous_arcs(block, previous_packs, (tail, head, cap, cost), arc_cap,
                                                    arc_cost, (p0, n0))
    supplies = np.zeros(l0 + levels.size, dtype=np.int64)
    supplies[source] = int(level_total[levels > 0].sum())
    supplies[l0:] = np.where(levels > 0, -level_total, 0)
    flows = min_cost_flow_int(l0 + levels.size, tail, head, cap, cost, supplies)
    arc_flow = arc_flows(flows, n_p, n_a, kept, extra=n_p + n_a + int(served.sum()))
    return arc_flow.astype(np.float64)


def size_descents(
    block: FlowBlock,
    start: FloatArray,
    previous: FloatArray | None = None,
    *,
    also: Sequence[FloatArray] = (),
    enough: Callable[[Rounded], bool] | None = None,
    ahead: bool = False,
) -> list[Rounded]:
    """Plans improved by coordinate descent over the block's pack sizes, from ``start`` (pledge units per arc,
    whole where indivisible), from packs placed where they fit whole (:meth:`_Descent.fit_first`, a start
    that does not lean on the LP's split packs) and from each of ``also``; a start that is a plan already
    tried or found is skipped.

    Each round re-solves each size's packs exactly given every other unit (:func:`pack_flow` on what the needs
    still lack), largest size first, then, where some pledges are divisible, their flow given the packs
    (:func:`aidpack.allocation.rounding.refine_fine`); rounds go on while they improve the plan (tiers, then
    transit), at most ``DESCENT_ROUNDS``. Each step is exact given the rest, so no round makes the plan
    worse. A descent whose plan is ``enough`` (for the caller: the LP's tiers) ends the search.

    With ``ahead``, the descents from the other starts run in a forked child (:class:`split.Ahead`) while this
    process descends from ``start``: the same plans, on both cores (a block large enough to hold up the first pass
    on its own; a descent from ``start`` that is ``enough`` stops the child). The child cannot skip a start equal
    to the plan this process finds: its descent from such a start is dropped here, and where a later start equals
    that dropped descent's plan the child skips it and this process would not have (a tie no test or bench run has
    shown)."""
    descent = _Descent(block, previous)
    if ahead:
        child = Ahead([lambda: _other_descents(descent, [start], [], also, enough)])
        first = descent.run(start)
        if enough is not None and enough(first):
            child.cancel()
            return [first]
        # What this process would have skipped: a start equal to the plan it found.
        return [first, *(plan for other, plan in child.results()[0] if not np.array_equal(other, first.units))]
    found = [descent.run(start)]
    if enough is not None and enough(found[0]):
        return found
    return [*found, *(plan for _, plan in _other_descents(descent, [start], found, also, enough))]


def _other_descents(
    descent: _Descent,
    tried: list[FloatArray],
    found: list[Rounded],
    also: Sequence[FloatArray],
    enough: Callable[[Rounded], bool] | None,
) -> list[tuple[FloatArray, Rounded]]:
    """The descents (each with its start) from packs placed where they fit whole and from each of ``also``,
    skipping a start already ``tried`` or ``found``, until one is ``enough``."""
    tried, made = list(tried), list[tuple[FloatArray, Rounded]]()
    for other in [descent.fit_first(), *also]:
        if not any(np.array_equal(other, units) for units in [*tried, *(f.units for f in found),
                                                              *(plan.units for _, plan in made)]):
            tried.append(other)
            made.append((other, descent.run(other)))
            if enough is not None and enough(made[-1][1]):
                break
    return made


def descend(block: FlowBlock, units: FloatArray, previous: FloatArray | None = None) -> Rounded:
    """``units`` improved by coordinate descent over the block's pack sizes (see :func:`size_descents`)."""
    return _Descent(block, previous).run(units)


class _Descent:
    """A block's size classes (their arcs and sub-blocks, built once) and the steps of a descent."""

    def __init__(self, block: FlowBlock, previous: FloatArray | None) -> None:
        self.block, self.previous = block, previous
        self.divisible, self.fine, self.f_min = size_classes(block)
        self.arc_coarse = ~self.fine[block.arc_pledge]
        self.arc_factor = block.factor[block.arc_pledge]
        # Without divisible pledges the finest size is packs too, and its step a pack flow like the others' (the
        # flow of capability units would count its last pack to a need as bringing a whole pack's share).
        self.packs_only = not bool(self.divisible.any())
        sizes: list[float] = np.unique(block.factor[block.integer if self.packs_only else ~self.fine]).tolist()
        self.classes: list[tuple[IntArray, FlowBlock, IntArray]] = []
        for size in sizes[::-1]:  # largest first
            arcs = np.flatnonzero((block.integer & (block.factor == size))[block.arc_pledge])
            sub = sub_block(block, arcs)
            self.classes.append((arcs, sub, np.searchsorted(block.needs, sub.needs)))
        # Each step's last input and result: a step whose input has not changed since (the round that confirms
        # the descent has converged, or a class no other class has moved) is not solved again.
        self._class_memo: dict[int, tuple[bool, FloatArray, FloatArray]] = {}
        self._fine_memo: tuple[FloatArray, FloatArray] | None = None

    def run(self, units: FloatArray) -> Rounded:
        best = Rounded(units=units, tier_values=block_tier_values(self.block, units), method="descent")
        for _ in range(DESCENT_ROUNDS):
            step = best.units
            for k in range(len(self.classes)):
                step = self._class_step(step, k, overshoot=True)
            step = self._fine_step(step)
            candidate = Rounded(units=step, tier_values=block_tier_values(self.block, step), method="descent")
            if not better_plan(self.block, candidate, best):
                break
            best = candidate
        return best

    def fit_first(self) -> FloatArray:
        """Each coarse size, largest first, placed exactly where its packs fit whole (no overshoot), then the
        finest units around them (where they are packs too, their last pack to a need may overshoot)."""
        units = np.zeros(self.block.n_arcs)
        last = len(self.classes) - 1
        for k in range(len(self.classes)):
            units = self._class_step(units, k, overshoot=self.packs_only and k == last)
        return self._fine_step(units)

    def _class_step(self, units: FloatArray, k: int, *, overshoot: bool) -> FloatArray:
        """``units`` with the packs of size class ``k`` (largest first) re-solved exactly given all other units."""
        arcs, sub, local_needs = self.classes[k]
        others = units.copy()
        others[arcs] = 0.0
        brought = np.bincount(self.block.arc_need, weights=others * self.arc_factor, minlength=self.block.needs.size)
        residual = self.block.demand[local_needs] - brought[local_needs]
        memo = self._class_memo.get(k)
        if memo is not None and memo[0] == overshoot and np.array_equal(memo[1], residual):
            others[arcs] = memo[2]
            return others
        packs = pack_flow(sub, None if self.previous is None else self.previous[arcs], residual=residual,
                          overshoot=overshoot)
        self._class_memo[k] = (overshoot, residual, packs)
        others[arcs] = packs
        return others

    def _fine_step(self, units: FloatArray) -> FloatArray:
        """``units`` with the divisible pledges' flow re-solved given the packs (nothing to do without any)."""
        if self.packs_only:
            return units  # the finest size was one of the classes
        coarse = np.where(self.arc_coarse, units, 0.0)
        if self._fine_memo is not None and np.array_equal(self._fine_memo[0], coarse):
            return self._fine_memo[1].copy()
        result: FloatArray = refine_fine(self.block, units, self.arc_coarse, self.fine, self.divisible, self.f_min,
                                         self.previous)
        self._fine_memo = (coarse, result)
        return result
