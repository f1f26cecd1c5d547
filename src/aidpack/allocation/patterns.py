"""Whole-unit plans of a block of few pack sizes, chosen need by need among patterns of packs.

A block whose pledges are all indivisible and come in a few sizes (transformers of 250 and 630 kVA) loses its
people to overshoot: a 934 kVA need given a 630 and two 250s wastes 196 kVA that a later tier's need could
have had. The arc MIP (:func:`rounding.mip_round`) leaves HiGHS to find good combinations through a weak LP
relaxation (y_n ≤ Σ g·x), and it often does not within a second (1.5e6-edge core scenario, seed 33: a
17,294-arc transformer block gained 2,523 to 3,428 medium-tier people in 0.7 to 3 s).

Here each need chooses one *pattern*: how many units of each size it gets, none of them needless (taking any
one away would leave it less covered). Every whole-unit plan maps to one pattern per need with the same
coverage and no more units of any size, once its needless units are dropped, so the pattern MIP
(one binary per need and pattern, a row per need and a row per size) is a relaxation of the block: its
lexicographic optimum bounds every tier, and its LP relaxation is much tighter (the same block: proved
optimal at 3,806 medium-tier people above the rounding, in 0.6 s). Which pledge reaches which need enters
only as a cap on each need's units of each size; the chosen patterns are then given pledges by a min-cost
flow per size on transit, and units the pledges' reach could not place go out by
:func:`rounding.greedy_repair`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import cached_property

import highspy
import numpy as np
import scipy.sparse as sp

from aidpack.allocation.flow import FlowBlock
from aidpack.allocation.keep import size_flow
from aidpack.allocation.problem import BoolArray, FloatArray, IntArray
from aidpack.allocation.rounding import Rounded, StageBounds, greedy_repair
from aidpack.allocation.solve import SolveOptions, csc_lp
from aidpack.allocation.stages import (
    Cut,
    Holds,
    StageModel,
    lexicographic_stages,
    meets,
    relaxation,
    settle,
    stage_highs,
)

#: Blocks of at most this many pack sizes (the patterns of a need multiply with each size).
MAX_SIZES = 4
#: A need with more candidate combinations than this (before needless ones are dropped) makes the block
#: unsuitable: its units are small against it, and rounding loses little there anyway.
MAX_COMBINATIONS_PER_NEED = 4_000
#: At most this many patterns in a block's model.
MAX_PATTERNS = 40_000
_TOL = 1e-9


@dataclass(frozen=True)
class HallRows:
    """Hall's condition on reach, one row per size and set of that size's pledges that is some need's reach (short
    of all of them, which the size's own row covers): the needs that only those pledges reach get no more units of
    the size than the set has."""

    size: IntArray  # per row
    needs: BoolArray  # [rows, needs]
    units: FloatArray  # per row

    def use(self, count: FloatArray | IntArray) -> FloatArray:
        """Per row, the units of its size that ``count`` [needs, sizes] gives its needs."""
        used: FloatArray = (self.needs * count[:, self.size].T).sum(axis=1)
        return used


@dataclass(frozen=True)
class PatternModel:
    """A block's patterns: per pattern its need, its units of each size and the share of the need it covers."""

    sizes: FloatArray  # the distinct pack sizes, capability units per unit
    size_of: IntArray  # per local pledge, the index of its size
    units: FloatArray  # per size, the block's units
    need: IntArray  # per pattern
    counts: IntArray  # [patterns, sizes]
    coverage: FloatArray  # per pattern, min(1, Σ counts·sizes / demand)
    hall: HallRows


def pattern_model(block: FlowBlock, max_patterns: int = MAX_PATTERNS) -> PatternModel | None:
    """The block's patterns, or None where they do not suit it (a divisible pledge, more than ``MAX_SIZES``
    sizes, needs too large against the smallest size, more than ``max_patterns`` patterns)."""
    if block.n_arcs == 0 or not bool(block.integer.all()):
        return None
    sizes = np.unique(block.factor)
    if sizes.size > MAX_SIZES:
        return None
    size_of = np.searchsorted(sizes, block.factor).astype(np.int64)
    # Units of each size that can reach each need: no need gets more of a size than that.
    reach = np.zeros((block.needs.size, sizes.size))
    np.add.at(reach, (block.arc_need, size_of[block.arc_pledge]), block.units[block.arc_pledge])
    caps = np.minimum(reach, np.ceil(block.demand[:, None] / sizes[None, :] - _TOL)).astype(np.int64)
    # In floats: a block of 10,000 one-blanket units to large needs would overflow 64-bit integers here.
    combinations = np.prod((caps + 1).astype(np.float64), axis=1)
    if float(combinations.max(initial=0.0)) > MAX_COMBINATIONS_PER_NEED or float(combinations.sum()) > 4 * MAX_PATTERNS:
        return None
    needs, counts = [], []
    found = 0
    for n in np.flatnonzero(caps.sum(axis=1) > 0).tolist():
        grid = np.indices(tuple((caps[n] + 1).tolist())).reshape(sizes.size, -1).T
        total = grid @ sizes
        # Needless: some unit of the pattern could go and the need would still be fully covered.
        needless = ((grid > 0) & (total[:, None] - sizes[None, :] >= block.demand[n] - _TOL)).any(axis=1)
        keep = (total > 0) & ~needless
        needs.append(np.full(int(keep.sum()), n, dtype=np.int64))
        counts.append(grid[keep])
        found += int(keep.sum())
        if found > max_patterns:
            return None
    if not needs:
        return None
    need = np.concatenate(needs)
    count = np.concatenate(counts).astype(np.int64)
    coverage = np.minimum(count @ sizes / block.demand[need], 1.0)
    units = np.bincount(size_of, weights=block.units, minlength=sizes.size).astype(np.float64)
    return PatternModel(sizes, size_of, units, need, count, coverage, reach_rows(block, size_of, sizes.size))


def engine_patterns(block: FlowBlock) -> PatternModel | None:
    """The block's patterns where the engine uses them: no more patterns than the block has arcs. A block of a
    few arcs to large needs has many patterns and a small arc MIP, which HiGHS solves faster (the 1e5 bench: a
    35-arc block of 954 patterns, proved by the arc MIP in 0.07 s, not by the pattern MIP in 0.27 s)."""
    return pattern_model(block, max_patterns=min(block.size, MAX_PATTERNS))


def reach_rows(block: FlowBlock, size_of: IntArray, n_sizes: int) -> HallRows:
    """The block's Hall rows on reach (:class:`HallRows`), per size (``size_of``: per local pledge). Without these
    rows the pattern LP lets every need take a size's units as if all of them reached it (1e5 bench, a
    transformer block: a medium tier bound of 66,802 people where the arc LP has 11,328)."""
    sizes_out, needs_out, units_out = [], [], []
    for s in range(n_sizes):
        pledges = np.flatnonzero(size_of == s)
        on = size_of[block.arc_pledge] == s
        reach = np.zeros((block.needs.size, pledges.size), dtype=bool)
        reach[block.arc_need[on], np.searchsorted(pledges, block.arc_pledge[on])] = True
        sets = np.unique(reach[reach.any(axis=1)], axis=0)
        sets = sets[~sets.all(axis=1)]
        if sets.size == 0:
            continue
        # A need belongs to a set's row when every pledge reaching it is in the set.
        outside: IntArray = reach.astype(np.int64) @ (~sets).T.astype(np.int64)
        reaches: BoolArray = np.any(reach, axis=1)
        within: BoolArray = (outside == 0) & reaches[:, None]
        sizes_out.append(np.full(sets.shape[0], s, dtype=np.int64))
        needs_out.append(within.T)
        units_out.append(sets.astype(np.float64) @ block.units[pledges])
    if not sizes_out:
        return HallRows(np.zeros(0, dtype=np.int64), np.zeros((0, block.needs.size), dtype=bool), np.zeros(0))
    return HallRows(np.concatenate(sizes_out), np.concatenate(needs_out), np.concatenate(units_out))


class HallSeparator:
    """Hall's condition on reach in full, for whole counts of units per need and size: the rows of :func:`reach_rows`
    hold it only for the sets of pledges that are some need's reach, so a model of counts (or patterns) may give needs
    more units of a size than the pledges reaching them together have, and the counts cannot be sent (QA's strike shape
    at 1e5 edges, seed 77: a generator block's count MIP served 8,423,426 critical-tier people that its pledges could
    send to 8,077,222). For counts [needs, sizes], :meth:`violated` gives, per whole size whose counts no flow sends,
    the set of needs its flow leaves short closed under the pledges reaching them and the needs those pledges serve:
    together they want more units than those pledges have (the max-flow min-cut), a row (size, the needs that only
    those pledges reach, their units) that every plan meets and these counts do not."""

    def __init__(self, block: FlowBlock, size_of: IntArray, whole: BoolArray) -> None:
        self._block, self._size_of, self._whole = block, size_of, whole
        self._supply = np.floor(block.units + _TOL).astype(np.int64)

    @cached_property
    def _sizes(self) -> list[tuple[int, IntArray, sp.csr_matrix]]:
        """Per whole size, its arcs and its reach (needs × pledges), made on the first check (most stages' plans are
        checked once, many models never)."""
        block, sizes = self._block, []
        arc_size = self._size_of[block.arc_pledge]
        for size in np.flatnonzero(self._whole).tolist():
            arcs = np.flatnonzero(arc_size == size)
            if arcs.size:
                reach = sp.csr_matrix((np.ones(arcs.size), (block.arc_need[arcs], block.arc_pledge[arcs])),
                                      shape=(block.needs.size, block.pledges.size))
                sizes.append((size, arcs, reach))
        return sizes

    def violated(self, counts: IntArray) -> list[tuple[int, BoolArray, float]]:
        """The rows ``counts`` [needs, sizes] violate: per size, (the size, the needs of the row, its units)."""
        block, rows = self._block, []
        for size, arcs, reach in self._sizes:
            want = counts[:, size].astype(np.int64)
            if int(want[block.arc_need[arcs]].sum()) == 0:
                continue
            sent = size_flow(block, arcs, want, self._supply, np.zeros(arcs.size, dtype=np.int64))
            delivered = np.bincount(block.arc_need[arcs], weights=sent, minlength=block.needs.size)
            needs: BoolArray = delivered < want - 0.5
            if not bool(needs.any()):
                continue
            carried = np.flatnonzero(sent > 0)
            used = sp.csr_matrix(
                (np.ones(carried.size), (block.arc_need[arcs[carried]], block.arc_pledge[arcs[carried]])),
                shape=reach.shape)
            while True:  # the short needs, the pledges reaching them, the needs those pledges serve, ...
                pledges = np.asarray(reach.T @ needs.astype(np.float64)) > 0
                more = needs | (np.asarray(used @ pledges.astype(np.float64)) > 0)
                if bool((more == needs).all()):
                    break
                needs = more
            outside = np.asarray(reach @ (~pledges).astype(np.float64)) > 0
            within: BoolArray = ~outside & (np.diff(reach.indptr) > 0)
            units = float(self._supply[pledges].sum())
            if float(counts[within, size].sum()) > units + 0.5:
                rows.append((size, within, units))
        return rows


def pattern_round(
    block: FlowBlock,
    model: PatternModel,
    incumbent: Rounded,
    *,
    budget: float,
    options: SolveOptions,
    kept: FloatArray | None = None,
) -> Rounded:
    """The block's lexicographic whole-unit plan by its pattern MIP (HiGHS, within ``budget`` seconds, started
    from ``incumbent``), or ``incumbent`` where that is no worse (tiers, then fewer unit-days). ``kept``: the
    incumbent is a re-plan's kept lines, which only a plan serving people better replaces (never unit-days alone),
    and whose pledges its units go to where that travels no more (:func:`assign_counts`). Either way the result
    carries the bound each tier stage proved (:class:`rounding.StageBounds`)."""
    deadline = time.perf_counter() + budget
    stage_bound, held, chosen = _solve(block, model, _start(block, model, incumbent), deadline, options)
    return settle(block, incumbent, _assign(block, model, chosen, kept), StageBounds(stage_bound, held), "patterns",
                  kept=kept is not None)


def pattern_lp_round(block: FlowBlock, model: PatternModel, options: SolveOptions) -> Rounded:
    """A rounding of the block for the first pass: each tier stage's pattern LP rounded to whole patterns
    (no branch and bound, no time limit: milliseconds for a block of a few hundred needs), the patterns then
    given pledges as in :func:`pattern_round`. Whatever HiGHS's MIP later gets done in its time, the plan has
    this (the 1e5 scarce scenario's transformer block: 125,652 high-tier people, HiGHS's proved optimum, where
    the other roundings reach 123,979)."""
    _, _, chosen = _solve(block, model, np.zeros(model.need.size), np.inf, options, mip=False)
    plan = greedy_repair(block, _assign(block, model, chosen))
    return Rounded(units=plan.units, tier_values=plan.tier_values, method="patterns-lp")


def need_counts(block: FlowBlock, size_of: IntArray, n_sizes: int, units: FloatArray) -> FloatArray:
    """A plan's units per arc as each need's whole units of each size [needs, sizes] (``size_of``: per local
    pledge)."""
    count = np.zeros((block.needs.size, n_sizes))
    np.add.at(count, (block.arc_need, size_of[block.arc_pledge]), np.rint(units))
    return count


def _start(block: FlowBlock, model: PatternModel, plan: Rounded) -> FloatArray:
    """``plan`` as patterns: each need's units per size, its needless ones dropped (largest size first)."""
    count = need_counts(block, model.size_of, model.sizes.size, plan.units)
    total = count @ model.sizes
    for n in np.flatnonzero(total > block.demand + _TOL).tolist():
        for s in range(model.sizes.size - 1, -1, -1):
            while count[n, s] > 0 and total[n] - model.sizes[s] >= block.demand[n] - _TOL:
                count[n, s] -= 1
                total[n] -= model.sizes[s]
    start = np.zeros(model.need.size)
    index = {(int(n), tuple(int(v) for v in c)): i for i, (n, c) in enumerate(zip(model.need, model.counts,
                                                                                   strict=True))}
    for n in np.flatnonzero(total > 0).tolist():
        found = index.get((n, tuple(int(v) for v in count[n])))
        if found is not None:
            start[found] = 1.0
    return start


def _solve(
    block: FlowBlock,
    model: PatternModel,
    start: FloatArray,
    deadline: float,
    options: SolveOptions,
    mip: bool = True,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """The pattern MIP's tier stages, critical first, each tier held at what it reached (relative tolerance
    of SPEC §4) for the next: per tier, the bound its stage proved and the row it was held at; and the plan
    of the last stage that found one (``start`` when none did). Without ``mip``, each stage's plan is its LP
    relaxation rounded (:func:`_rounded_relaxation`), with no branch and bound."""
    n_patterns, n_needs, n_sizes = model.need.size, block.needs.size, model.sizes.size
    values = block.people[model.need] * model.coverage  # people each pattern serves
    tiers = block.tier[model.need]
    pattern_of = np.arange(n_patterns)
    # Rows: one pattern per need; each size's units; Hall's rows on reach (see PatternModel).
    hall_rows, reach_patterns = np.nonzero(model.hall.needs[:, model.need])
    n_rows = n_needs + n_sizes + model.hall.size.size
    rows = np.concatenate([model.need, n_needs + np.tile(np.arange(n_sizes), n_patterns),
                           n_needs + n_sizes + hall_rows])
    cols = np.concatenate([pattern_of, np.repeat(pattern_of, n_sizes), reach_patterns])
    entries = np.concatenate([np.ones(n_patterns), model.counts.ravel().astype(np.float64),
                              model.counts[reach_patterns, model.hall.size[hall_rows]].astype(np.float64)])
    nonzero = entries != 0
    matrix = sp.csc_matrix((entries[nonzero], (rows[nonzero], cols[nonzero])), shape=(n_rows, n_patterns))
    h = stage_highs(options.seed)
    lp = csc_lp(matrix, np.zeros(n_patterns), np.zeros(n_patterns), np.ones(n_patterns), np.full(n_rows, -np.inf),
                np.concatenate([np.ones(n_needs), model.units, model.hall.units]))
    lp.integrality_ = [highspy.HighsVarType.kInteger] * n_patterns
    h.passModel(lp)
    tier_columns = [(np.flatnonzero(tiers == t), values[tiers == t]) for t in range(4)]
    # Hall's condition in full, as the stages' plans need it (see HallSeparator).
    separator = HallSeparator(block, model.size_of, np.ones(n_sizes, dtype=bool))

    def separate(plan: FloatArray) -> list[Cut]:
        counts = np.zeros((n_needs, n_sizes), dtype=np.int64)
        np.add.at(counts, model.need, np.rint(plan).astype(np.int64)[:, None] * model.counts)
        cuts = []
        for size, needs, units in separator.violated(counts):
            columns = np.flatnonzero(needs[model.need] & (model.counts[:, size] > 0))
            cuts.append((columns, model.counts[columns, size].astype(np.float64), units))
        return cuts

    stage_model = StageModel(
        h, n_patterns, tier_columns,
        lambda h, holds, seconds: _rounded_relaxation(h, model, values, block.tier, holds, seconds, by_tier=mip),
        np.rint, separate=separate,
    )
    return lexicographic_stages(stage_model, start, deadline, options, mip=mip)


def _rounded_relaxation(
    h: highspy.Highs, model: PatternModel, values: FloatArray, need_tier: IntArray, holds: Holds, seconds: float,
    *, by_tier: bool,
) -> tuple[FloatArray | None, float]:
    """The stage's LP relaxation optimum (people: a bound on the stage; inf when the LP fails), and a whole plan
    from it: the needs whose pattern the LP chose whole keep it; the few it splits (a basic solution has about as
    many split needs as binding size, Hall and hold rows) take, earliest tier and most people first, their best
    pattern that the units left allow. Where that plan misses a hold (the whole patterns of the stage's own tier took
    the units an earlier tier's split needs wanted) and HiGHS's branch and bound goes on from the stage's plan
    (``by_tier``), the needs take their patterns tier by tier instead (:func:`_tier_by_tier`). The plan is None when the
    LP fails or the plans miss a hold. HiGHS's own heuristics, started from the stage before's plan, can take seconds to
    find as much (the core scenario's transformer block: 0.9 s for its medium tier; QA's bulk shape at 1.5e6 edges: a
    diesel block of 1,000-litre containers and 38,000-litre tankers, whose low stage's first rounding missed the medium
    tier's hold, served 180,322 low-tier people where its LP bounds 724,885, and HiGHS found 721,307 only after 1.5-2.4
    s of branch and bound; tier by tier, 694,375 at once). Not without branch and bound (the first pass's
    :func:`pattern_lp_round`): there a stage whose rounding misses a hold ends the stages, and the units left go to
    the needs by :func:`rounding.greedy_repair`, while a tier-by-tier plan that serves the stage's tier no better than
    the stage before's would hold the tier there and give later tiers the units (random blocks of 1,000-litre
    containers and a tanker: a medium tier of 1,700 people left with none, for 500 more low-tier ones)."""
    solved = relaxation(h, seconds)
    if solved is None:
        return None, np.inf
    relaxed, bound = solved
    n_needs = need_tier.size
    chosen = (relaxed > 1.0 - 1e-6).astype(np.float64)
    taken = np.bincount(model.need, weights=chosen, minlength=n_needs) > 0
    split = np.bincount(model.need, weights=relaxed, minlength=n_needs) > 1e-6
    left = model.units - model.counts.T @ chosen
    reach_left = model.hall.units - _reach_use(model, chosen)
    open_needs = np.flatnonzero(split & ~taken)
    share = np.bincount(model.need, weights=relaxed * values, minlength=n_needs)
    for n in open_needs[np.lexsort((open_needs, -share[open_needs], need_tier[open_needs]))].tolist():
        _take_best(model, values, n, np.flatnonzero(model.need == n), chosen, left, reach_left)
    if meets(chosen, holds):
        return chosen, bound
    if not by_tier:
        return None, bound
    tiered = _tier_by_tier(model, values, need_tier, relaxed)
    return (tiered if meets(tiered, holds) else None), bound


def _tier_by_tier(model: PatternModel, values: FloatArray, need_tier: IntArray, relaxed: FloatArray) -> FloatArray:
    """Whole patterns from the LP relaxation ``relaxed``, earliest tier first: within a tier, the needs whose pattern
    the LP chose whole first, then the needs it splits, most people first; each takes the LP's whole pattern where
    the units left allow it, else its best pattern that they allow (none where none fits)."""
    n_needs = need_tier.size
    whole = relaxed > 1.0 - 1e-6
    chosen = np.zeros(relaxed.size)
    left = model.units.astype(np.float64)
    reach_left = model.hall.units.astype(np.float64)
    share = np.bincount(model.need, weights=relaxed * values, minlength=n_needs)
    has_whole = np.bincount(model.need, weights=whole.astype(np.float64), minlength=n_needs) > 0
    touched = np.flatnonzero(np.bincount(model.need, weights=relaxed, minlength=n_needs) > 1e-6)
    by_need = np.argsort(model.need, kind="stable")
    starts = np.searchsorted(model.need[by_need], np.arange(n_needs + 1))
    for n in touched[np.lexsort((touched, -share[touched], ~has_whole[touched], need_tier[touched]))].tolist():
        choices = by_need[starts[n] : starts[n + 1]]
        _take_best(model, values, n, choices, chosen, left, reach_left, preferred=whole[choices])
    return chosen


def _take_best(
    model: PatternModel, values: FloatArray, need: int, choices: IntArray, chosen: FloatArray, left: FloatArray,
    reach_left: FloatArray, preferred: BoolArray | None = None,
) -> None:
    """``need`` takes, of its patterns ``choices`` that the units ``left`` and Hall's rows (``reach_left``) allow, the
    one that serves most (among the ``preferred`` ones where any fits; none where none fits): marked in ``chosen``, its
    units taken from ``left`` and ``reach_left`` (all three in place)."""
    rows = np.flatnonzero(model.hall.needs[:, need])
    fitting = np.all(model.counts[choices] <= left + 1e-9, axis=1) & np.all(
        model.counts[choices][:, model.hall.size[rows]] <= reach_left[rows] + 1e-9, axis=1)
    if preferred is not None and bool((fitting & preferred).any()):
        fitting &= preferred
    fits = choices[fitting]
    if fits.size:
        best = int(fits[np.argmax(values[fits])])
        chosen[best] = 1.0
        left -= model.counts[best]
        reach_left[rows] -= model.counts[best][model.hall.size[rows]]


def _reach_use(model: PatternModel, chosen: FloatArray) -> FloatArray:
    """Per Hall row, the units of its size that ``chosen`` gives its needs."""
    per_need = np.zeros((model.hall.needs.shape[1], model.sizes.size))
    np.add.at(per_need, model.need, model.counts * chosen[:, None])
    return model.hall.use(per_need)


def _assign(block: FlowBlock, model: PatternModel, chosen: FloatArray, kept: FloatArray | None = None) -> FloatArray:
    """Units per arc for the chosen patterns (:func:`assign_counts`)."""
    want = np.zeros((block.needs.size, model.sizes.size), dtype=np.int64)
    picked = np.flatnonzero(chosen > 0.5)
    np.add.at(want, model.need[picked], model.counts[picked])
    return assign_counts(block, model.size_of, want, kept)


def assign_counts(block: FlowBlock, size_of: IntArray, want: IntArray, kept: FloatArray | None = None) -> FloatArray:
    """Units per arc that give each need its ``want`` [needs, sizes] units of each size (``size_of``: per local
    pledge, its size): per size, from the pledges of that size that reach it, by a min-cost flow on transit;
    units no pledge within reach can bring are left out. ``kept`` (a re-plan's kept lines, units per arc): among
    assignments of equal transit, the one that sends most of them again (a parallel arc one cost unit cheaper, on
    transit costs scaled so that no tie-break outweighs a unit-day)."""
    units = np.zeros(block.n_arcs)
    arc_size = size_of[block.arc_pledge]
    supply = np.floor(block.units + _TOL).astype(np.int64)
    for s in range(want.shape[1]):
        arcs = np.flatnonzero(arc_size == s)
        if int(want[:, s].sum()) == 0 or arcs.size == 0:
            continue
        again = np.zeros(arcs.size, dtype=np.int64) if kept is None else np.rint(kept[arcs]).astype(np.int64)
        units[arcs] = size_flow(block, arcs, want[:, s].astype(np.int64), supply, again)
    return units


__all__ = [
    "HallSeparator", "PatternModel", "assign_counts", "engine_patterns", "pattern_lp_round", "pattern_model",
    "pattern_round", "HallRows", "need_counts", "reach_rows",
]
