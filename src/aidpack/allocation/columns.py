"""The pattern bound of a count model's tier stage: its Dantzig-Wolfe relaxation, by column generation.

A count model (:mod:`aidpack.allocation.counts`) gives each need whole units of a few pack sizes; its LP relaxation
lets a need take 5.4 generators of 100 kW for 540 kW, and its bound stays far above what whole units reach. Here each
need chooses one *pattern* (whole units of each size, and what they cover of it: min(d_n, Σ_s f_s·y_s)), and the LP
over all patterns is priced column by column: given the LP's prices of the sizes, Hall's rows and the holds of earlier
tiers, each need's best pattern is a bounded knapsack over what it covers, solved exactly by dynamic programming on a
grid of the sizes' greatest common divisor (vectorised over needs, each size's counts split in powers of two). For any
prices the Lagrangian function

    Σ_s π_s·units_s + Σ_r η_r·units_r - Σ_h μ_h·held_h + Σ_n max(0, max_y [c_n·min(d_n, f·y) - κ_n·y])

(κ_n·y: the prices of what the pattern uses; c_n: the stage's people per unit covered plus the holds' prices) bounds
the stage from above, so each round's bound is valid whenever the generation stops. The bound is the convex hull of
each need's whole patterns, far tighter than the count LP's (the demo's generator block, 133 needs in sizes of 5 to
1,000 kW, its high stage given the critical tier: count LP 2,152,682 people, this bound 2,095,880, HiGHS's proved
optimum 2,095,790 after 65 s of branch and bound). The patterns priced so far, as a restricted MIP (one pattern per
need), give the stage a whole plan too.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import highspy
import numpy as np
import scipy.sparse as sp

from aidpack.allocation.patterns import HallRows
from aidpack.allocation.problem import BoolArray, FloatArray, IntArray
from aidpack.allocation.solve import new_highs, quiet_stdout

#: At most this much work in one pricing (pieces × needs × grid levels, each group of needs padded to its largest);
#: a model whose grid is finer has no pattern bound. The demo's generator block: 28 pieces, 133 needs of up to 3,061
#: levels, 7.9e6 cells, 0.018 s per pricing.
MAX_PRICING_WORK = 25_000_000
#: Sizes are put on a grid of their greatest common divisor at this many decimals.
GRID_DECIMALS = 6
#: A priced pattern joins the LP when it gains more than this share of its value (or of one person).
PRICE_TOLERANCE = 1e-7
#: Needs priced together (sorted by their grid levels, so that each group pads to its own largest need).
GROUP_NEEDS = 64


@dataclass(frozen=True)
class Grid:
    """A count model's sizes on a grid: the step (capability units), each size in steps, each need's levels (its
    demand in steps, rounded up: covering that many steps covers the need; no more than its caps' units cover), and
    each size's counts split in powers of two (per piece, its size and its units per need), so that every count up to
    a need's cap is a choice of pieces."""

    step: float
    size_steps: IntArray
    levels: IntArray
    piece_size: IntArray
    piece_units: IntArray  # [pieces, needs]
    #: Cells (needs × levels, by groups) times pieces: one pricing's work.
    work: float


@dataclass(frozen=True)
class StageInput:
    """A stage of the count model as the pattern LP sees it: per need the people per unit covered in the stage's tier
    (0 outside it), per hold its people per unit covered per need and its least people, and the model's supply."""

    demand: FloatArray
    sizes: FloatArray
    cap: FloatArray  # [needs, sizes]
    units: FloatArray  # per size
    hall: HallRows
    stage_weight: FloatArray
    hold_weight: FloatArray  # [holds, needs]
    hold_lower: FloatArray


@dataclass(frozen=True)
class PatternStage:
    """What column generation found for a stage: the least Lagrangian bound of its rounds, whether the LP was solved
    (no pattern left to gain), and a whole plan (counts per need and size) from the patterns priced, or None."""

    bound: float
    converged: bool
    counts: FloatArray | None
    rounds: int


def grid(demand: FloatArray, sizes: FloatArray, cap: FloatArray, divisible: BoolArray) -> Grid | None:
    """The model's grid, or None where a size is divisible, the sizes share no step at ``GRID_DECIMALS`` decimals, or
    a pricing would take more than ``MAX_PRICING_WORK``."""
    if bool(divisible.any()) or sizes.size == 0:
        return None
    scaled = sizes * 10.0**GRID_DECIMALS
    whole = np.rint(scaled)
    if bool(np.any(np.abs(scaled - whole) > 1e-3)) or bool(np.any(whole < 1)):
        return None
    common = int(np.gcd.reduce(whole.astype(np.int64)))
    step = common / 10.0**GRID_DECIMALS
    size_steps = whole.astype(np.int64) // common
    counts = np.floor(cap + 1e-9).astype(np.int64)
    # No more levels than the need's demand, or than all the units it may take cover.
    levels = np.minimum(np.ceil(demand / step - 1e-9), (counts * size_steps[None, :]).sum(axis=1)).astype(np.int64)
    if levels.size == 0:
        return None
    piece_size, piece_units = [], []
    for s in range(sizes.size):
        j = 0
        while True:
            units = np.clip(counts[:, s] - (2**j - 1), 0, 2**j)
            if not bool(units.any()):
                break
            piece_size.append(s)
            piece_units.append(units)
            j += 1
    tops = np.sort(levels)[GROUP_NEEDS - 1::GROUP_NEEDS]
    cells = GROUP_NEEDS * float((tops + 1).sum()) + float(levels.size % GROUP_NEEDS) * float(levels.max() + 1)
    if cells * len(piece_size) > MAX_PRICING_WORK:
        return None
    return Grid(step=step, size_steps=size_steps, levels=levels, work=cells * len(piece_size),
                piece_size=np.asarray(piece_size, dtype=np.int64),
                piece_units=np.asarray(piece_units, dtype=np.int64).reshape(len(piece_size), demand.size))


def price(grid: Grid, demand: FloatArray, coefficient: FloatArray, unit_price: FloatArray,
          ) -> tuple[FloatArray, FloatArray]:
    """Per need, the best value of a pattern, max over whole counts y within its caps of
    coefficient_n·min(d_n, step·⌊f·y / step⌋) - unit_price_n·y (0 for the empty pattern), and its counts: a bounded
    knapsack, the least price of covering at least each level of the grid, exact on it."""
    n_needs, n_sizes = unit_price.shape
    best = np.zeros(n_needs)
    counts = np.zeros((n_needs, n_sizes))
    live = np.flatnonzero(coefficient > 0)
    if live.size == 0:
        return best, counts
    live = live[np.argsort(grid.levels[live], kind="stable")]
    for start in range(0, live.size, GROUP_NEEDS):
        group = live[start:start + GROUP_NEEDS]
        top = int(grid.levels[group].max())
        level = np.arange(top + 1)
        cost = np.full((group.size, top + 1), np.inf)
        cost[:, 0] = 0.0
        taken: list[BoolArray] = []
        shifts: list[IntArray] = []
        for piece in range(grid.piece_size.size):
            s = int(grid.piece_size[piece])
            units = grid.piece_units[piece, group]
            shift = units * grid.size_steps[s]
            # The cost of covering each level less this piece's steps (level 0 below it), by slices: the needs of a
            # group mostly share a piece's units (their caps are the size's units), so a few distinct shifts.
            candidate = np.empty_like(cost)
            for value in np.unique(shift).tolist():
                rows = np.flatnonzero(shift == value)
                head = min(value, top + 1)
                candidate[rows, :head] = cost[rows, :1]
                candidate[rows, head:] = cost[rows, :top + 1 - head]
            candidate += (units * unit_price[group, s])[:, None]
            better = (candidate < cost - 1e-12) & (units > 0)[:, None]
            np.copyto(cost, candidate, where=better)
            taken.append(better)
            shifts.append(shift)
        covered = np.minimum(demand[group][:, None], grid.step * level[None, :])
        value = coefficient[group][:, None] * covered - cost
        value[level[None, :] > grid.levels[group][:, None]] = -np.inf
        at = np.argmax(value, axis=1)
        found = value[np.arange(group.size), at]
        gains = found > 0
        best[group] = np.where(gains, found, 0.0)
        # The counts of each best pattern, piece by piece from the last.
        position = np.where(gains, at, 0)
        rows = np.arange(group.size)
        for piece in range(grid.piece_size.size - 1, -1, -1):
            took = taken[piece][rows, position]
            s = int(grid.piece_size[piece])
            counts[group, s] += np.where(took, grid.piece_units[piece, group], 0)
            position = np.where(took, np.maximum(position - shifts[piece], 0), position)
    return best, counts


class _Master:
    """The pattern LP in HiGHS: rows for each size's units, Hall's rows, one pattern per need, the holds; a column per
    pattern (maximising the stage's people)."""

    def __init__(self, stage: StageInput, seed: int, start: FloatArray) -> None:
        self.stage = stage
        self.n_sizes, self.n_hall = stage.sizes.size, stage.hall.size.size
        self.n_needs, self.n_holds = stage.demand.size, stage.hold_lower.size
        self.h = new_highs(seed)
        upper = np.concatenate([stage.units, stage.hall.units, np.ones(self.n_needs), np.full(self.n_holds, np.inf)])
        lower = np.concatenate([np.full(self.n_sizes + self.n_hall + self.n_needs, -np.inf), stage.hold_lower])
        self.h.addRows(upper.size, lower, upper, 0, np.zeros(upper.size, dtype=np.int32), np.zeros(0, dtype=np.int32),
                       np.zeros(0))
        self.h.changeObjectiveSense(highspy.ObjSense.kMaximize)
        self.need: list[IntArray] = []
        self.counts: list[FloatArray] = []
        # The start's own patterns, its first columns (the restricted MIP starts from them).
        used = np.flatnonzero(start.sum(axis=1) > 0)
        self.add(used, start[used])
        self.n_start = used.size

    def add(self, need: IntArray, counts: FloatArray) -> None:
        """Columns for the patterns ``counts`` [patterns, sizes] of ``need``."""
        if need.size == 0:
            return
        stage = self.stage
        covered = np.minimum(stage.demand[need], counts @ stage.sizes)
        hall_use = stage.hall.needs[:, need].T * counts[:, stage.hall.size]  # [patterns, hall rows]
        block = np.concatenate([counts, hall_use, np.zeros((need.size, self.n_needs)),
                                stage.hold_weight[:, need].T * covered[:, None]], axis=1)
        block[np.arange(need.size), self.n_sizes + self.n_hall + need] = 1.0
        matrix = sp.csc_matrix(block.T)
        self.h.addCols(need.size, stage.stage_weight[need] * covered, np.zeros(need.size), np.full(need.size, np.inf),
                       matrix.nnz, matrix.indptr[:-1].astype(np.int32), matrix.indices.astype(np.int32),
                       matrix.data.astype(np.float64))
        self.need.append(need)
        self.counts.append(counts)

    def solve(self, seconds: float) -> FloatArray | None:
        """The LP's row prices (sizes, Hall's rows, needs, holds; all ≥ 0, the holds' as what a person held costs), or
        None when HiGHS does not solve it. Without a column yet, no row binds: every price 0."""
        if self.h.getNumCol() == 0:
            return np.zeros(self.n_sizes + self.n_hall + self.n_needs + self.n_holds)
        self.h.setOptionValue("time_limit", self.h.getRunTime() + max(seconds, 0.01))
        with quiet_stdout():
            self.h.run()
        if self.h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            return None
        duals = np.asarray(self.h.getSolution().row_dual, dtype=np.float64)
        n_upper = self.n_sizes + self.n_hall + self.n_needs
        return np.concatenate([np.maximum(duals[:n_upper], 0.0), np.maximum(-duals[n_upper:], 0.0)])

    def whole(self, seconds: float, gap: float) -> FloatArray | None:
        """The patterns priced so far as a MIP (at most one per need), started from the start's own patterns (the first
        ``n_start`` columns): the counts of the best plan HiGHS finds within ``seconds`` or ``gap``, or None."""
        n_cols = int(self.h.getNumCol())
        self.h.changeColsIntegrality(n_cols, np.arange(n_cols, dtype=np.int32),
                                     np.full(n_cols, highspy.HighsVarType.kInteger, dtype=np.uint8))
        given = np.zeros(n_cols)
        given[:self.n_start] = 1.0  # the start's own patterns come first
        solution = highspy.HighsSolution()
        solution.col_value = list(given)
        solution.value_valid = True
        self.h.setSolution(solution)
        self.h.setOptionValue("time_limit", self.h.getRunTime() + max(seconds, 0.01))
        self.h.setOptionValue("mip_rel_gap", gap)
        with quiet_stdout():
            self.h.run()
        if self.h.getInfo().primal_solution_status != 2:
            return None
        chosen = np.asarray(self.h.getSolution().col_value, dtype=np.float64) > 0.5
        need, counts = np.concatenate(self.need), np.concatenate(self.counts)
        plan = np.zeros((self.n_needs, self.n_sizes))
        np.add.at(plan, need[chosen], counts[chosen])
        return plan


def pattern_stage(stage: StageInput, model_grid: Grid, start: FloatArray, deadline: float,
                  whole_seconds: float, gap: float, seed: int = 0) -> PatternStage:
    """Column generation on the stage's pattern LP from ``start``'s patterns (counts [needs, sizes] that meet the
    holds) until no pattern gains or ``deadline`` less ``whole_seconds``, then the restricted MIP until ``deadline``
    or within ``gap`` of its bound (which, once no pattern gains, is the pattern bound itself). HiGHS's ``seed`` varies
    the restricted MIP's search (the engine runs a block with two seeds where a core is free, and keeps the better)."""
    master = _Master(stage, seed, start)
    bound, converged, rounds = np.inf, False, 0
    hall_of = [np.flatnonzero(stage.hall.size == s) for s in range(stage.sizes.size)]
    n_sizes, n_hall, n_needs = stage.sizes.size, stage.hall.size.size, stage.demand.size
    gen_end = deadline - whole_seconds
    while time.perf_counter() < gen_end:
        prices = master.solve(gen_end - time.perf_counter())
        if prices is None:
            break
        rounds += 1
        size_price, hall_price = prices[:n_sizes], prices[n_sizes:n_sizes + n_hall]
        need_price = prices[n_sizes + n_hall:n_sizes + n_hall + n_needs]
        hold_price = prices[n_sizes + n_hall + n_needs:]
        unit_price = np.repeat(size_price[None, :], n_needs, axis=0)
        for s, rows in enumerate(hall_of):
            if rows.size:
                unit_price[:, s] += hall_price[rows] @ stage.hall.needs[rows]
        coefficient = stage.stage_weight + hold_price @ stage.hold_weight
        best, counts = price(model_grid, stage.demand, coefficient, unit_price)
        lagrangian = float(size_price @ stage.units + hall_price @ stage.hall.units - hold_price @ stage.hold_lower
                           + best.sum())
        bound = min(bound, lagrangian)
        gaining = np.flatnonzero(best - need_price > PRICE_TOLERANCE * np.maximum(best, 1.0))
        if gaining.size == 0:
            converged = True
            break
        master.add(gaining, counts[gaining])
    plan = master.whole(max(deadline - time.perf_counter(), 0.0), gap) if rounds else None
    return PatternStage(bound=bound, converged=converged, counts=plan, rounds=rounds)


__all__ = ["Grid", "PatternStage", "StageInput", "grid", "pattern_stage", "price"]
