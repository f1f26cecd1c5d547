"""The lexicographic tier stages of a block's own whole-unit MIP (:mod:`aidpack.allocation.patterns`,
:mod:`aidpack.allocation.counts`), and the plan such a MIP leaves.

Each model is a relaxation of its block, so what its stages prove bounds every plan of the block. The stages run
critical tier first, each tier then held at what it reached (SPEC §4's relative tolerance) for the next; each
stage starts from the better of the stage before's plan and its own LP relaxation rounded by the model, and
HiGHS's MIP goes on from there within the time left (each later stage keeps back a small reserve). A model whose rows
only approximate its block's gets the rows a stage's plan violates, and HiGHS runs again, before the plan is kept.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import highspy
import numpy as np

from aidpack.allocation.flow import FlowBlock
from aidpack.allocation.models import Termination
from aidpack.allocation.problem import FloatArray, IntArray
from aidpack.allocation.rounding import Rounded, StageBounds, greedy_repair, lex_better, transit_of
from aidpack.allocation.solve import (
    LATER_STAGE_RESERVE,
    MIP_ABS_GAP,
    SolveOptions,
    hold_bound,
    map_status,
    new_highs,
    quiet_stdout,
)

#: The rows that hold earlier tiers: per tier, its columns, the people each serves per unit, and the least people
#: they must serve.
Holds = list[tuple[IntArray, FloatArray, float]]
#: A model's LP relaxation rounded to a whole plan: (HiGHS, the holds so far, seconds) -> (a plan of the model's
#: columns that meets the holds, or None; the relaxation's optimum, a bound on the stage).
RoundRelaxation = Callable[[highspy.Highs, Holds, float], tuple[FloatArray | None, float]]
#: A model's own bound and plan of a stage beyond its LP (:mod:`aidpack.allocation.columns`): (the holds so far, the
#: stage's columns and the people each serves per unit, the plan so far, seconds) -> (a plan of the model's columns, or
#: None; a bound on the stage), or None where it has none.
StageBound = Callable[[Holds, tuple[IntArray, FloatArray], FloatArray, float], tuple[FloatArray | None, float] | None]
#: Rows that cut off a plan of a model's columns and no plan of its block: each its columns, their coefficients and
#: its upper bound (:attr:`StageModel.separate`).
Cut = tuple[IntArray, FloatArray, float]
Separate = Callable[[FloatArray], list[Cut]]
#: A stage's branch and bound runs again at most this many times on the rows its plans violated (the same count of
#: rounds of cuts).
SEPARATION_ROUNDS = 8
#: A stage whose plan serves its LP relaxation's optimum to within this share (and HiGHS's absolute gap) is proved.
PROVED_REL = 1e-9
#: A stage with its own bound (:attr:`StageModel.stage_bound`) gives HiGHS's branch and bound this share of its time
#: first, then, unless that proved it, this share of what is left to its own bound, and the rest to branch and bound
#: again from the better plan. HiGHS often proves a count stage within a fraction of a second (QA's 'strike' shape at
#: 4,000 edges: the generator block's stages in 1.4 s of the 2 s budget, leaving the transit stage its time, where the
#: pattern bound first took 1.85 s and the plan came back `time_limit`, transit gap 1.8e-3), and where it cannot (the
#: demo's generator block: 2,049,850-2,076,380 high-tier people in 2 s, bound 2,099,949 after 20 s) the pattern bound
#: and its plan prove the stage (2,095,880 over 2,095,7xx).
BRANCH_FIRST_SHARE = 0.35
PATTERN_SHARE = 0.6


@dataclass(frozen=True)
class StageModel:
    """A block's MIP in HiGHS (its columns' tiers set, no objective yet) and what its stages need of it."""

    h: highspy.Highs
    n_cols: int
    #: Per tier, its columns and the people each serves per unit of the column.
    tier_columns: list[tuple[IntArray, FloatArray]]
    round_relaxation: RoundRelaxation
    #: HiGHS's column values made a plan of the model (whole where they must be).
    clean: Callable[[FloatArray], FloatArray]
    #: The model's own bound and plan of a stage, tried where HiGHS's branch and bound does not prove it quickly.
    stage_bound: StageBound | None = None
    #: Rows a plan of the model's columns violates that every plan of the block meets (:data:`Separate`): a model
    #: whose rows only approximate the block's (Hall's condition on reach, :mod:`aidpack.allocation.counts`) takes
    #: them, and a stage's plan is kept only once it violates none.
    separate: Separate | None = None
    #: A plan the pledges can send (it meets every such row) made of one that violates them (its counts given pledges,
    #: the rest placed):
    #: the stage's start when HiGHS goes on, and its plan if HiGHS finds none better in time.
    repair: Callable[[FloatArray], FloatArray] | None = None


def stage_highs(seed: int) -> highspy.Highs:
    """HiGHS for a pattern or count model: without presolve, at HiGHS's default MIP feasibility tolerance.

    Presolve only slows these small models down (the 1e5 bench's 767-arc transformer block: its pattern stages
    proved in 0.075 s without it, 0.245 s with it; a scarce core 1e5 scenario's generator block, seed 11: 224,397
    medium-tier people from its count model in 0.3 s without it, 224,885 only after 1 s with it). But without
    presolve, at the engine's tighter 1e-9 (:data:`solve.MIP_FEASIBILITY_TOLERANCE`, which the arc model needs),
    HiGHS 1.16.0 called a count model's stage optimal below a plan it could reach, given a start: a block of
    generators of 5, 30 and 100 kW, 850 kW for a 937 kW need where 860 fit (Hypothesis found it; see
    ``tests/allocation/test_counts.py``). At 1e-6 it finds 860, as it does with presolve. Each stage's columns are
    made whole (``StageModel.clean``) before its value is taken and held, so a column HiGHS leaves a hair off whole
    changes what the plan is credited with, not its validity."""
    h = new_highs(seed)
    h.setOptionValue("presolve", "off")
    h.setOptionValue("mip_feasibility_tolerance", 1e-6)
    return h


def lexicographic_stages(
    model: StageModel,
    start: FloatArray,
    deadline: float,
    options: SolveOptions,
    mip: bool = True,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """The model's tier stages, critical first: per tier, the bound its stage proved (inf where it did not run)
    and the row it was held at; and the plan of the last stage that found one (``start`` when none did). Without
    ``mip``, each stage's plan is its LP relaxation rounded, with no branch and bound."""
    h = model.h
    stage_bound, held = np.full(4, np.inf), np.zeros(4)
    solution = start

    def meets_cuts(plan: FloatArray) -> bool:
        """Whether ``plan`` violates none of the rows the model's separation finds; those it violates go to HiGHS."""
        if model.separate is None:
            return True
        cuts = model.separate(plan)
        for columns_in, values, upper in cuts:
            h.addRow(-np.inf, float(upper), columns_in.size, columns_in.astype(np.int32), values)
        return not cuts

    stages = [t for t in range(4) if float(model.tier_columns[t][1].sum()) > 0]
    columns = np.arange(model.n_cols, dtype=np.int32)
    holds: Holds = []
    for position, tier in enumerate(stages):
        stage_started = time.perf_counter()
        in_tier, people = model.tier_columns[tier]
        cost = np.zeros(model.n_cols)
        cost[in_tier] = -people
        h.changeColsCost(model.n_cols, columns, cost)
        h.setOptionValue("mip_rel_gap", options.tier_gap)
        h.setOptionValue("mip_abs_gap", MIP_ABS_GAP)
        # Earlier tiers first (lexicographic order): each later stage keeps a small reserve.
        remaining = max((deadline - time.perf_counter()) * (1.0 - LATER_STAGE_RESERVE * (len(stages) - 1 - position)),
                        0.01)
        rounded, relaxed_bound = model.round_relaxation(h, holds, remaining)
        if rounded is not None and float(cost @ rounded) < float(cost @ solution) and meets_cuts(rounded):
            solution = rounded
        # The LP relaxation's optimum bounds the stage too (HiGHS's MIP stopped early may report a looser one).
        stage_bound[tier] = relaxed_bound
        # A plan that already serves the relaxation's optimum is the stage's optimum: no branch and bound (the 1e5
        # bench's transformer block: its critical stage, 7 ms of HiGHS proving what its LP had already said; the
        # demo's generator block: its critical stage, whose LP rounding within Hall's rows is whole).
        proved = _proved(float(-cost @ solution), relaxed_bound, 0.0)
        if mip and not proved:
            stage_end = deadline if position == len(stages) - 1 else stage_started + remaining
            own = model.stage_bound
            first_end = stage_end if own is None else time.perf_counter() + BRANCH_FIRST_SHARE * (
                stage_end - time.perf_counter())
            found = _cut_branch_and_bound(model, solution, first_end, meets_cuts, holds, cost)
            if found is None:
                # No plan for this stage (its holds met only to HiGHS's tolerance, or no time): the stage before's.
                break
            solution, dual = found
            stage_bound[tier] = min(stage_bound[tier], dual)
            if own is not None and not _proved(float(-cost @ solution), float(stage_bound[tier]), options.tier_gap):
                extra = own(holds, (in_tier, people), solution, PATTERN_SHARE * (stage_end - time.perf_counter()))
                if extra is not None:
                    plan, bound = extra
                    stage_bound[tier] = min(stage_bound[tier], bound)
                    if plan is not None and meets(plan, holds) and float(cost @ plan) < float(cost @ solution) \
                            and meets_cuts(plan):
                        solution = plan
                    if not _proved(float(-cost @ solution), float(stage_bound[tier]), options.tier_gap):
                        again = _cut_branch_and_bound(model, solution, stage_end, meets_cuts, holds, cost)
                        if again is not None:
                            solution = again[0]
                            stage_bound[tier] = min(stage_bound[tier], again[1])
        elif rounded is None and not proved:
            break
        value = float(-cost @ solution)
        stage_bound[tier] = max(stage_bound[tier], value)
        held[tier] = hold_bound(value, options.hold_tolerance)
        h.addRow(float(held[tier]), np.inf, in_tier.size, in_tier.astype(np.int32), people)
        holds.append((in_tier, people, float(held[tier])))
    return stage_bound, held, solution


def _proved(value: float, bound: float, gap: float) -> bool:
    """Whether a stage's plan serving ``value`` is within its MIP ``gap`` (or HiGHS's absolute gap) of ``bound``."""
    return value >= bound - (MIP_ABS_GAP + max(PROVED_REL, gap) * abs(bound))


def _cut_branch_and_bound(
    model: StageModel, start: FloatArray, end: float, meets_cuts: Callable[[FloatArray], bool], holds: Holds,
    cost: FloatArray,
) -> tuple[FloatArray, float] | None:
    """:func:`_branch_and_bound`, again on the rows its plan violated (``meets_cuts`` adds them to HiGHS), until its
    plan violates none (at most ``SEPARATION_ROUNDS`` runs, by ``end``), each run from the better of its start and the
    plan before made sendable (``model.repair``, where it meets the ``holds``): that plan, or ``start``,
    where none did by then, with HiGHS's bound (each run's bound holds: the rows cut off no plan of the block). None
    where HiGHS found no plan. (Without the repair, a 2,786-arc block of QA's longtail shape whose HiGHS plan, sent as
    far as its pledges could, had served 407,570 medium-tier people more than its rounding, kept the rounding: two
    runs on the rows left the stage's 0.34 s no time to find another.)"""
    bound, best = np.inf, start
    for run in range(SEPARATION_ROUNDS):
        found = _branch_and_bound(model, best, end)
        if found is None:
            return None if run == 0 else (best, bound)
        plan, dual = found
        bound = min(bound, dual)
        if meets_cuts(plan):
            return plan, bound
        if model.repair is not None:
            sent = model.repair(plan)
            if float(cost @ sent) < float(cost @ best) and meets(sent, holds):
                best = sent
        if end - time.perf_counter() <= 0.0:
            break
    return best, bound


def _branch_and_bound(model: StageModel, start: FloatArray, end: float) -> tuple[FloatArray, float] | None:
    """HiGHS's branch and bound on the stage set in ``model.h`` from ``start`` until ``end`` (or its gap): its plan and
    its bound on the stage (inf where it has none), or None where it found no plan."""
    h = model.h
    given = highspy.HighsSolution()
    given.col_value = list(start)
    given.value_valid = True
    h.setSolution(given)
    h.setOptionValue("time_limit", max(end - time.perf_counter(), 0.01))
    with quiet_stdout():
        h.run()
    status = map_status(h.getModelStatus())
    info = h.getInfo()
    if info.primal_solution_status != 2 or status not in (Termination.OPTIMAL, Termination.TIME_LIMIT):
        return None
    dual = -float(info.mip_dual_bound) if np.isfinite(info.mip_dual_bound) else np.inf
    return model.clean(np.asarray(h.getSolution().col_value, dtype=np.float64)), dual


def relaxation(h: highspy.Highs, seconds: float) -> tuple[FloatArray, float] | None:
    """The LP relaxation of the MIP in ``h`` (a tier stage: its objective minimises minus the people served),
    within ``seconds``: its columns and the people it serves, a bound on the stage; None when HiGHS fails."""
    h.setOptionValue("solve_relaxation", True)
    # HiGHS's LP solver measures its time limit on the instance's clock, which runs on from the stages before.
    h.setOptionValue("time_limit", h.getRunTime() + seconds)
    try:
        with quiet_stdout():
            h.run()
        if map_status(h.getModelStatus()) is not Termination.OPTIMAL:
            return None
        return np.asarray(h.getSolution().col_value, dtype=np.float64), -float(h.getInfo().objective_function_value)
    finally:
        h.setOptionValue("solve_relaxation", False)


def meets(plan: FloatArray, holds: Holds) -> bool:
    """Whether ``plan`` (the model's columns) serves each held tier at least as much as it is held at."""
    return all(float(people @ plan[in_tier]) >= lower for in_tier, people, lower in holds)


def settle(
    block: FlowBlock, incumbent: Rounded, units: FloatArray, bounds: StageBounds, method: str, *, kept: bool,
) -> Rounded:
    """The plan a block's own MIP leaves: its ``units`` with what a greedy pass can still place, or ``incumbent``
    where that is no worse (tiers, then unit-days; a re-plan's ``kept`` lines stay on tied tiers whatever the
    unit-days); either way with the ``bounds`` its stages proved."""
    improved = greedy_repair(block, units)
    stays = lex_better(incumbent.tier_values, improved.tier_values)
    if not stays and not lex_better(improved.tier_values, incumbent.tier_values):  # tied
        stays = kept or transit_of(block, improved.units) >= transit_of(block, incumbent.units)
    if stays:
        return Rounded(incumbent.units, incumbent.tier_values, incumbent.gap, incumbent.method, stage_bounds=bounds,
                       transit_bound=incumbent.transit_bound)
    return Rounded(units=improved.units, tier_values=improved.tier_values, method=method, stage_bounds=bounds)


__all__ = ["Holds", "StageModel", "lexicographic_stages", "meets", "relaxation", "settle", "stage_highs"]
