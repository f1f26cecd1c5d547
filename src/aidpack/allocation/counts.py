"""Whole-unit plans of a block of whole packs in a few sizes, chosen as counts per need and size.

Generators of 5, 30, 100, 176 and 1,000 kW against needs of 100 to 9,000 kW lose people to overshoot, as
transformers do (:mod:`aidpack.allocation.patterns`), but a need has far too many combinations of them to
enumerate. Here each need n gets y_ns whole units of each size s (at most what reaches it, and no more than
cover it alone) and covers z_n ≤ Σ_s f_s·y_ns of its demand: one integer column per need and size instead of
one per arc. Which pledge reaches which need enters, as in the pattern model, only as those caps and Hall's
condition per set of a size's pledges that is some need's reach, so every whole-unit plan maps to counts with
the same coverage, and the count MIP is a relaxation of the block: its stages' bounds hold for every plan.
HiGHS searches it far faster than the arc MIP (scarce core 1e5 scenario, seed 11, supply x0.5: a 15,816-arc
generator block, 147 needs: the restricted arc MIP served 221,285 medium-tier people in its 0.25 s; the count
MIP 224,786 in 0.3 s, and proves 224,922 optimal within 225,000 in 2.6 s). The counts are then given pledges by
a min-cost flow per size (:func:`patterns.assign_counts`), and units the pledges' reach could not place go
out by :func:`rounding.greedy_repair`.

Those rows hold Hall's condition only for sets of pledges that are one need's reach; where needs' reaches overlap
without nesting, counts within every row may still want more units than the pledges reaching them have. Each stage's
plan is therefore checked against the condition in full (:class:`patterns.HallSeparator`, a flow per size), the rows
it violates are added and HiGHS goes on (:func:`stages.lexicographic_stages`), so that what a stage holds its pledges
can send: the count model with those rows is the block's tiers exactly (QA's strike shape at 1e5 edges, seed 77: a
generator block whose critical stage held 8,423,426 people that its pledges could send to 8,077,222, and whose plan
served 1,656,196 medium-tier people fewer than the rounding it replaced; now 8,423,426 sent, and the plan's medium tier
1,129,000 people more).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import highspy
import numpy as np
import scipy.sparse as sp

from aidpack.allocation.columns import Grid, StageInput, grid, pattern_stage
from aidpack.allocation.flow import FlowBlock
from aidpack.allocation.patterns import HallRows, HallSeparator, assign_counts, need_counts, reach_rows
from aidpack.allocation.problem import BoolArray, FloatArray, IntArray
from aidpack.allocation.rounding import Rounded, StageBounds, greedy_repair, refine_fine, size_classes
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

#: Blocks of at most this many pack sizes.
MAX_SIZES = 6
#: Blocks of at least this many arcs: below, the arc MIP (one column per class of pledges and need) is as small
#: and HiGHS proves it in milliseconds (the 1e5 bench's 37- to 126-arc blocks: 0.02-0.07 s).
MIN_ARCS = 1_000
#: At most this many integer columns (needs × sizes), and at most this much work (needs × pledges × needs, for a
#: size) to find Hall's rows: the 1.85e6 bench's 261,407-arc generator block, 650 needs, takes 0.05 s.
MAX_COLUMNS = 50_000
MAX_HALL_WORK = 1e9
_TOL = 1e-9
#: Of the time a stage gives its pattern bound (:mod:`aidpack.allocation.columns`, see
#: :data:`stages.PATTERN_SHARE`), this share goes to the restricted MIP of the patterns priced.
WHOLE_SHARE = 0.4
#: A stage gets its pattern bound only where ten rounds of pricing fit in the time it has for it, at about this many
#: seconds per unit of the grid's work (:attr:`columns.Grid.work`).
PRICING_SECONDS = 10 * 4e-9


@dataclass(frozen=True)
class CountModel:
    """A block's count model: its sizes, each pledge's size, the units of each size, per need and size the most
    units that can reach it usefully, and Hall's rows on reach (as :class:`patterns.PatternModel`)."""

    sizes: FloatArray  # the distinct pack sizes, capability units per unit
    size_of: IntArray  # per local pledge, the index of its size
    units: FloatArray  # per size, the block's units
    cap: FloatArray  # [needs, sizes]
    hall: HallRows
    #: Per size, whether its pledges are divisible (a continuous count, whatever share of a unit a need takes; loose
    #: litres beside drums and tankers). A divisible and an indivisible pledge of one factor are two sizes.
    divisible: BoolArray


def count_model(
    block: FlowBlock, min_arcs: int | None = None, *, with_divisible: bool = False
) -> CountModel | None:
    """The block's count model, or None where it does not suit the block: a divisible pledge (unless ``with_divisible``)
    or no indivisible one, more than ``MAX_SIZES`` sizes, fewer than ``min_arcs`` arcs (``MIN_ARCS`` unless given), a
    model too large to build in a fraction of a second (``MAX_COLUMNS``, ``MAX_HALL_WORK``). With ``with_divisible``,
    divisible pledges are sizes whose counts are continuous (QA's unseen 'bulk' scenario: a diesel block of
    38,000-litre tankers, 1,000-litre IBCs and loose litres, 1,158 needs, whose rounding served 197,395 low-tier
    people; this model, with HiGHS, 222,355 in 1.2-1.9 s, the LP's bound, where the arc MIP is out of reach at
    444,169 arcs). Blocks of at most ``mip_phase.LARGE_MIP_ARCS`` arcs keep the arc MIP for those (not compared)."""
    if block.size < (MIN_ARCS if min_arcs is None else min_arcs) or not bool(block.integer.any()):
        return None
    if not with_divisible and not bool(block.integer.all()):
        return None
    # Sizes by factor, the divisible pledges' apart from the indivisible ones of the same factor.
    keys = np.stack([block.factor, block.integer.astype(np.float64)], axis=1)
    classes, size_of = np.unique(keys, axis=0, return_inverse=True)
    sizes, divisible = classes[:, 0].copy(), classes[:, 1] < 0.5
    size_of = size_of.reshape(-1).astype(np.int64)
    if sizes.size > MAX_SIZES or block.needs.size * sizes.size > MAX_COLUMNS:
        return None
    if float(block.needs.size) ** 2 * float(np.bincount(size_of).max()) > MAX_HALL_WORK:
        return None
    reach = np.zeros((block.needs.size, sizes.size))
    np.add.at(reach, (block.arc_need, size_of[block.arc_pledge]), block.units[block.arc_pledge])
    whole = np.ceil(block.demand[:, None] / sizes[None, :] - _TOL)
    cap = np.minimum(reach, np.where(divisible[None, :], block.demand[:, None] / sizes[None, :], whole))
    units = np.bincount(size_of, weights=block.units, minlength=sizes.size).astype(np.float64)
    return CountModel(sizes, size_of, units, cap, reach_rows(block, size_of, sizes.size), divisible)


def count_round(
    block: FlowBlock,
    model: CountModel,
    incumbent: Rounded,
    *,
    budget: float,
    options: SolveOptions,
    kept: FloatArray | None = None,
    pattern_bound: bool = True,
) -> Rounded:
    """As :func:`patterns.pattern_round`, by the block's count MIP; with ``pattern_bound``, each stage that HiGHS's
    branch and bound does not prove in its first share of the time gets its pattern bound and plan
    (:mod:`aidpack.allocation.columns`, :data:`stages.BRANCH_FIRST_SHARE`)."""
    deadline = time.perf_counter() + budget
    stage_bound, held, want = _solve(block, model, _counts(block, model, incumbent.units), deadline, options,
                                     pattern_bound)
    return settle(block, incumbent, _sent(block, model, want, kept), StageBounds(stage_bound, held), "counts",
                  kept=kept is not None)


def _sent(block: FlowBlock, model: CountModel, want: FloatArray, kept: FloatArray | None) -> FloatArray:
    """Units per arc giving each need its counts ``want`` [needs, sizes] of whole sizes as far as the pledges reach
    (:func:`patterns.assign_counts`), and the divisible pledges' flow on what the packs leave each need."""
    whole = np.where(model.divisible[None, :], 0, np.rint(want)).astype(np.int64)
    units = assign_counts(block, model.size_of, whole, kept)
    if model.divisible.any():
        # The divisible pledges' flow, solved exactly on what the packs leave each need (their counts only shaped the
        # packs' choice).
        divisible, fine, f_min = size_classes(block)
        units = refine_fine(block, units, ~fine[block.arc_pledge], fine, divisible, f_min, kept)
    return units


def _plan(block: FlowBlock, model: CountModel, count: FloatArray) -> FloatArray:
    """Counts [needs, sizes] as the model's columns: the counts, then what they cover of each need."""
    return np.concatenate([count.ravel(), np.minimum(count @ model.sizes, block.demand)])


def _counts(block: FlowBlock, model: CountModel, units: FloatArray) -> FloatArray:
    """A plan's units per arc as counts per need and size, each within its cap (units beyond what covers the need
    alone are needless): whole for indivisible sizes, as sent for divisible ones."""
    count = need_counts(block, model.size_of, model.sizes.size, units)
    if model.divisible.any():
        exact = np.zeros_like(count)
        np.add.at(exact, (block.arc_need, model.size_of[block.arc_pledge]), units)
        count[:, model.divisible] = exact[:, model.divisible]
    return np.minimum(count, model.cap)


def _solve(
    block: FlowBlock,
    model: CountModel,
    start: FloatArray,
    deadline: float,
    options: SolveOptions,
    pattern_bound: bool,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """The count MIP's tier stages, critical first, each tier held at what it reached (relative tolerance of
    SPEC §4) for the next: per tier, the bound its stage proved and the row it was held at; and the counts of
    the last stage that found a plan (``start`` when none did)."""
    n_needs, n_sizes = block.needs.size, model.sizes.size
    n_y = n_needs * n_sizes
    y_need, y_size = np.repeat(np.arange(n_needs), n_sizes), np.tile(np.arange(n_sizes), n_needs)
    # Columns: y (need-major), then z (capability units covered). Rows: z_n - Σ f_s y_ns ≤ 0; each size's units;
    # Hall's rows on reach.
    hall, hall_need = np.nonzero(model.hall.needs)
    rows = np.concatenate([y_need, n_needs + y_size, np.arange(n_needs),
                           n_needs + n_sizes + hall])
    cols = np.concatenate([np.arange(n_y), np.arange(n_y), n_y + np.arange(n_needs),
                           hall_need * n_sizes + model.hall.size[hall]])
    entries = np.concatenate([-model.sizes[y_size], np.ones(n_y), np.ones(n_needs), np.ones(hall.size)])
    n_rows = n_needs + n_sizes + model.hall.size.size
    matrix = sp.csc_matrix((entries, (rows, cols)), shape=(n_rows, n_y + n_needs))
    h = stage_highs(options.seed)
    n_cols = n_y + n_needs
    lp = csc_lp(matrix, np.zeros(n_cols), np.zeros(n_cols), np.concatenate([model.cap.ravel(), block.demand]),
                np.full(n_rows, -np.inf), np.concatenate([np.zeros(n_needs), model.units, model.hall.units]))
    whole_y = ~model.divisible[y_size]
    lp.integrality_ = [highspy.HighsVarType.kInteger if w else highspy.HighsVarType.kContinuous
                       for w in whole_y.tolist()] + [highspy.HighsVarType.kContinuous] * n_needs
    h.passModel(lp)
    weight = block.people / block.demand  # people per capability unit covered
    tier_columns = [(n_y + np.flatnonzero(block.tier == t), weight[block.tier == t]) for t in range(4)]

    def clean(found: FloatArray) -> FloatArray:
        """Whole counts, and what they cover."""
        counts = np.where(whole_y, np.rint(found[:n_y]), np.maximum(found[:n_y], 0.0)).reshape(n_needs, n_sizes)
        return np.concatenate([counts.ravel(), np.minimum(found[n_y:], counts @ model.sizes)])

    model_grid = grid(block.demand, model.sizes, model.cap, model.divisible) if pattern_bound else None

    def patterned(holds: Holds, stage: tuple[IntArray, FloatArray], plan: FloatArray,
                  seconds: float) -> tuple[FloatArray | None, float] | None:
        if model_grid is None or PRICING_SECONDS * model_grid.work > seconds:
            return None  # too little time to price the patterns
        return _pattern_stage(block, model, model_grid, holds, stage, plan, time.perf_counter() + seconds,
                              max(options.tier_gap, 1e-9), options.seed)

    # Hall's condition in full, row by row as the stages' plans need them (the model's rows hold it for some sets only).
    separator = HallSeparator(block, model.size_of, ~model.divisible)

    def separate(plan: FloatArray) -> list[Cut]:
        counts = np.rint(plan[:n_y]).reshape(n_needs, n_sizes).astype(np.int64)
        return [(np.flatnonzero(needs) * n_sizes + size, np.ones(int(needs.sum())), units)
                for size, needs, units in separator.violated(counts)]

    def repair(plan: FloatArray) -> FloatArray:
        """The plan's counts given pledges as far as they reach, the units left placed: counts the pledges can send."""
        units = greedy_repair(block, _sent(block, model, plan[:n_y].reshape(n_needs, n_sizes), None)).units
        return _plan(block, model, _counts(block, model, units))

    stage_model = StageModel(h, n_cols, tier_columns,
                             lambda h, holds, seconds: _rounded_relaxation(h, block, model, weight, holds, seconds),
                             clean, patterned if model_grid is not None else None, separate, repair)
    start_plan = _plan(block, model, start.astype(np.float64))
    stage_bound, held, solution = lexicographic_stages(stage_model, start_plan, deadline, options)
    return stage_bound, held, clean(solution)[:n_y].reshape(n_needs, n_sizes)


def _pattern_stage(
    block: FlowBlock, model: CountModel, model_grid: Grid, holds: Holds, stage: tuple[IntArray, FloatArray],
    plan: FloatArray, deadline: float, gap: float, seed: int,
) -> tuple[FloatArray | None, float] | None:
    """The stage's pattern bound (:mod:`aidpack.allocation.columns`) from ``plan`` (the model's columns, meeting the
    holds), and the whole plan of its patterns (the model's columns; None when it found none), by ``deadline`` or
    within ``gap`` of the bound; None when no round of column generation ran."""
    n_needs, n_sizes = block.needs.size, model.sizes.size
    n_y = n_needs * n_sizes
    stage_weight = np.zeros(n_needs)
    stage_weight[stage[0] - n_y] = stage[1]
    hold_weight = np.zeros((len(holds), n_needs))
    for row, (in_tier, people, _) in enumerate(holds):
        hold_weight[row, in_tier - n_y] = people
    counts = np.clip(np.rint(plan[:n_y].reshape(n_needs, n_sizes)), 0.0, np.floor(model.cap + _TOL))
    seconds = deadline - time.perf_counter()
    found = pattern_stage(
        StageInput(block.demand, model.sizes, model.cap, model.units, model.hall, stage_weight, hold_weight,
                   np.array([lower for _, _, lower in holds])),
        model_grid, counts, deadline, WHOLE_SHARE * seconds, gap, seed)
    if found.rounds == 0:
        return None
    if found.counts is None:
        return None, found.bound
    return np.concatenate([found.counts.ravel(), np.minimum(found.counts @ model.sizes, block.demand)]), found.bound


def _rounded_relaxation(
    h: highspy.Highs, block: FlowBlock, model: CountModel, weight: FloatArray, holds: Holds, seconds: float,
) -> tuple[FloatArray | None, float]:
    """The stage's LP relaxation optimum (people: a bound on the stage; inf when the LP fails), and a whole plan
    from it (None when the LP fails or the plan misses an earlier tier's hold): each need keeps the whole units
    the LP gives it, and the units left over go, need by need (earliest tier, most people per unit first), to the
    needs still short, each taking the smallest size that covers what it lacks, else the largest it can get.
    HiGHS's own heuristics, started from a poor rounding, may find nothing better within a fraction of a second
    (the seed-11 generator block: 179,872 medium-tier people from its rounding, with 0.2 s; 216,480 from this)."""
    n_needs, n_sizes = block.needs.size, model.sizes.size
    solved = relaxation(h, seconds)
    if solved is None:
        return None, np.inf
    relaxed, bound = solved
    lp_count = np.maximum(relaxed[: n_needs * n_sizes].reshape(n_needs, n_sizes), 0.0)
    count = np.where(model.divisible[None, :], lp_count, np.floor(lp_count + 1e-6))
    _complete(block, model, weight, count)
    if bool(np.any(model.hall.use(count) > model.hall.units + 1e-9)):
        return None, bound  # beyond some set of pledges' reach (HiGHS would reject it)
    plan = _plan(block, model, count)
    return (plan if meets(plan, holds) else None), bound


def _complete(block: FlowBlock, model: CountModel, weight: FloatArray, count: FloatArray) -> None:
    """Complete ``count`` [needs, sizes] in place, need by need, earliest tier and most people per unit first:
    each need short of its demand takes the smallest size that covers what it lacks, else as many of the largest
    as fit in it, from the units left over, else from the latest need in that order that has one (whose place
    in the order it takes: an earlier tier is held whole before a later one is served). Every take stays within
    Hall's rows (what each set of pledges can reach): the demo's generator block, whose LP rounded up without them
    reached beyond its pledges in every stage and was thrown away; now its critical stage's rounding is whole and the
    LP's optimum (its high stage's still misses the critical tier's hold, and HiGHS starts from the stage before's)."""
    hall = model.hall
    left = model.units - count.sum(axis=0)
    hall_left = hall.units - hall.use(count)
    short = block.demand - count @ model.sizes
    order = np.lexsort((-weight, block.tier))
    rank = np.empty(order.size, dtype=np.int64)
    rank[order] = np.arange(order.size)

    def reach_room(rows: IntArray) -> FloatArray:
        """Per size, the units Hall's ``rows`` still allow (inf for a size none of them is of)."""
        room = np.full(model.sizes.size, np.inf)
        np.minimum.at(room, hall.size[rows], hall_left[rows])
        return room

    for n in order.tolist():  # (a need that gave a unit to an earlier one is short when its turn comes)
        own_rows = np.flatnonzero(hall.needs[:, n])
        while short[n] > _TOL:
            room = np.floor(np.minimum(np.minimum(left, model.cap[n] - count[n]), reach_room(own_rows)) + _TOL)
            if bool((room > 0.5).any()):
                covers = np.flatnonzero((room > 0.5) & (model.sizes >= short[n] - _TOL))
                if covers.size:  # one unit covers what it lacks
                    s, take = int(covers[0]), 1.0
                else:  # as many of the largest size as fit in what it lacks (at least one: each is smaller)
                    s = int(np.flatnonzero(room > 0.5)[-1])
                    take = min(float(room[s]), float(np.floor(short[n] / model.sizes[s] + _TOL)))
                count[n, s] += take
                left[s] -= take
                hall_left[own_rows[hall.size[own_rows] == s]] -= take
                short[n] -= take * model.sizes[s]
                continue
            # None left: one unit from the latest need after this one that holds a size it can still take, where
            # the sets of pledges that reach this need and not that one have a unit of the size to spare.
            sizes = np.flatnonzero(count[n] < model.cap[n] - 0.5)
            later = order[rank[n] + 1:]
            holders = later[(count[later][:, sizes] > 0.5).any(axis=1)] if sizes.size else later[:0]
            moved = False
            for donor in holders[::-1].tolist():
                gained = own_rows[~hall.needs[own_rows, donor]]  # rows that count the unit once it moves here
                usable = sizes[(count[donor, sizes] > 0.5) & (reach_room(gained)[sizes] > 0.5)]
                if usable.size == 0:
                    continue
                covers = usable[model.sizes[usable] >= short[n] - _TOL]
                if covers.size:  # one unit covers what it lacks
                    s, take = int(covers[0]), 1.0
                else:
                    # Units of the largest size, as many as fit in what it lacks, one by one from this donor as long
                    # as it has them and the sets of pledges allow: moved at once (a block of single units, 249
                    # needs: 73,818 moves of one unit took 4.5 s of a 0.2-s share of HiGHS's time).
                    s = int(usable[-1])
                    take = float(min(np.floor(short[n] / model.sizes[s] + _TOL), count[donor, s],
                                     np.floor(reach_room(gained)[s] + _TOL), model.cap[n, s] - count[n, s]))
                count[donor, s] -= take
                short[donor] += take * model.sizes[s]
                hall_left[np.flatnonzero(hall.needs[:, donor] & ~hall.needs[:, n] & (hall.size == s))] += take
                count[n, s] += take
                short[n] -= take * model.sizes[s]
                hall_left[gained[hall.size[gained] == s]] -= take
                moved = True
                break
            if not moved:
                break


__all__ = ["CountModel", "count_model", "count_round"]
