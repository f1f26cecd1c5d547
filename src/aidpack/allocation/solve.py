"""Solve one block lexicographically with HiGHS: tier by tier, critical first, then transit.

For each tier t: maximise V_t = Σ s_n·z_n over the tier's needs, then hold V_t ≥ V_t*·(1 − 1e-7) while
optimising the next tier. Last, minimise Σ τ_e·x_e. Each MIP solve runs to a proven relative gap of
1e-4 (1e-3 for the last objective) unless the caller set a time limit. Every HiGHS model status maps to
our own :class:`Termination`.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, cast

import highspy
import numpy as np
import scipy.sparse as sp

from aidpack.allocation.model import BlockModel
from aidpack.allocation.models import Termination
from aidpack.allocation.problem import FloatArray, IntArray

TIER_GAP = 1e-4
FINAL_GAP = 1e-3
HOLD_TOLERANCE = 1e-7
#: Integrality noise of HiGHS's MIP solutions, relative to a tier's people (see the hold rows).
MIP_NOISE = 1e-6
#: HiGHS's own default absolute MIP gap, kept where no larger one is given.
MIP_ABS_GAP = 1e-6
#: Without a user time limit, an integer stage that cannot prove its gap stops here and reports the gap.
MIP_STAGE_BUDGET = 10.0
#: Without a user time limit, the seconds (wall clock) spent making indivisible units whole with HiGHS
#: where rounding lost more than the tier gap against the LP bound: up to INTEGER_BUDGET_SMALL for small
#: plans (where HiGHS can close the gap), shrinking with size to INTEGER_BUDGET_LARGE for national ones
#: (which must come back within seconds), then growing again (INTEGER_SECONDS_PER_MILLION_EDGES).
INTEGER_BUDGET_SMALL = 2.0
INTEGER_BUDGET_LARGE = 0.25
SMALL_PLAN_EDGES = 10_000
#: From national size on, the budget grows again in proportion to the plan (whose first pass does too), so
#: that the larger blocks of a larger plan get time to close their gap: 0.75 s at 1e6 edges, 1.5 s at 2e6
#: (2e6 bench: 0.5 s per million left the 730,000-arc diesel block 0.66 s, short of the 0.75 s in which it
#: gains 7,000 medium-tier people; the plan took 0.4 s longer for them).
INTEGER_SECONDS_PER_MILLION_EDGES = 0.75
#: With ``share_time``, the share of a block's remaining time each later stage keeps back from an earlier one.
LATER_STAGE_RESERVE = 0.1
#: HiGHS's MIP feasibility tolerance. At its default (1e-6), HiGHS 1.16.0 called block MIPs solved at their root
#: node that were far from it: a 3,616-column transformer stage (1.5e6-edge scenario, seed 21, supply x0.6) came
#: back "optimal" at 173,838 medium-tier people with the dual bound equal, and at 170,225 from the high tier's
#: plan, while a plan handed to it as its start serves 350,200 (feasible to 1e-9 in every row) and HiGHS,
#: asked to 1e-9, finds 353,906 within 5 s under a dual bound of 354,487; with its feasibility-jump heuristic off it
#: called the stage infeasible. HiGHS 1.13.1 did the same (0 people, "optimal"). At 1e-9 the plan's restricted
#: MIP found 356,911 medium-tier people there in its 0.6 s (the rounding it started from: 350,200).
MIP_FEASIBILITY_TOLERANCE = 1e-9


#: How far below what its start serves a tier may be held (relative): well above the rounding error of the tier's sum
#: (at most n·2.2e-16 of it for n terms: 4.4e-12 for 20,000; an estimate, not a measurement), so that HiGHS never
#: finds the start itself infeasible.
START_HOLD_MARGIN = 1e-9


def hold_bound(value: float, tolerance: float) -> float:
    """The least a tier may keep once optimised: its optimum within a relative tolerance (SPEC §4: 1e-7)."""
    return value - tolerance * abs(value)


@dataclass(frozen=True)
class SolveOptions:
    time_limit: float | None = None  # seconds for the whole plan; None = solve to the gaps above
    tier_gap: float = TIER_GAP
    final_gap: float = FINAL_GAP
    hold_tolerance: float = HOLD_TOLERANCE
    mip_stage_budget: float = MIP_STAGE_BUDGET
    seed: int = 0
    #: "flow": exact min-cost flows per block, rounding and HiGHS MIP for indivisible units;
    #: "highs": every block as lexicographic HiGHS LP/MIP solves (the reference path).
    method: str = "flow"
    integer_budget: float | None = None  # None: by size (INTEGER_BUDGET_SMALL down to _LARGE)
    workers: int = 0  # 0 = one per core (at most 2 on the reference machine)

    def integer_seconds(self, edges: int) -> float:
        if self.integer_budget is not None:
            return self.integer_budget
        scaled = INTEGER_BUDGET_SMALL * SMALL_PLAN_EDGES / max(edges, 1)
        national = INTEGER_SECONDS_PER_MILLION_EDGES * edges / 1e6
        return min(INTEGER_BUDGET_SMALL, max(INTEGER_BUDGET_LARGE, scaled, national))

    def as_dict(self) -> dict[str, float | int | str | None]:
        return {
            "time_limit": self.time_limit,
            "tier_gap": self.tier_gap,
            "final_gap": self.final_gap,
            "hold_tolerance": self.hold_tolerance,
            "mip_stage_budget": self.mip_stage_budget,
            "seed": self.seed,
            "method": self.method,
            "integer_budget": self.integer_budget,
        }


@dataclass
class BlockResult:
    termination: Termination
    x: FloatArray
    z: FloatArray
    tier_values: FloatArray  # V_t* per tier (0 when the block has no need of that tier)
    gap: float  # the largest relative gap proved over the block's solves
    log: list[dict[str, float | str | int]] = field(default_factory=list)


_STATUS: dict[highspy.HighsModelStatus, Termination] = {
    highspy.HighsModelStatus.kOptimal: Termination.OPTIMAL,
    highspy.HighsModelStatus.kModelEmpty: Termination.OPTIMAL,
    highspy.HighsModelStatus.kTimeLimit: Termination.TIME_LIMIT,
    highspy.HighsModelStatus.kIterationLimit: Termination.TIME_LIMIT,
    highspy.HighsModelStatus.kSolutionLimit: Termination.TIME_LIMIT,
    highspy.HighsModelStatus.kInterrupt: Termination.TIME_LIMIT,
    highspy.HighsModelStatus.kInfeasible: Termination.INFEASIBLE,
    highspy.HighsModelStatus.kUnboundedOrInfeasible: Termination.INFEASIBLE,
}


def map_status(status: highspy.HighsModelStatus) -> Termination:
    """Our own outcome for a HiGHS model status; anything unexpected is an error, never 'optimal'."""
    return _STATUS.get(status, Termination.ERROR)


#: How a HiGHS instance is made (a seam for tests that need a solver status HiGHS rarely returns).
_HighsFactory: Callable[[], highspy.Highs] = highspy.Highs

_stdout_lock = threading.Lock()
_stdout_users = 0
_stdout_saved: int | None = None


@contextmanager
def quiet_stdout() -> Iterator[None]:
    """HiGHS prints from C++ (a banner when an instance is created, the odd debug line while solving);
    keep it out of our stdout. Reference-counted, so that threads solving side by side share one
    redirection and the last one out restores the real stdout."""
    global _stdout_users, _stdout_saved
    with _stdout_lock:
        if _stdout_users == 0:
            try:
                sys.stdout.flush()
                saved = os.dup(1)
            except (OSError, ValueError):
                saved = -1
            if saved >= 0:
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, 1)
                os.close(devnull)
                _stdout_saved = saved
        _stdout_users += 1
    try:
        yield
    finally:
        with _stdout_lock:
            _stdout_users -= 1
            if _stdout_users == 0 and _stdout_saved is not None:
                os.dup2(_stdout_saved, 1)
                os.close(_stdout_saved)
                _stdout_saved = None


def run_stage(h: highspy.Highs, cost: FloatArray, is_mip: bool) -> tuple[Termination, bool]:
    """Run the stage loaded in ``h`` (objective ``cost``): its status, and whether HiGHS has a feasible solution. HiGHS
    1.16 can hand a MIP back the injected starting solution with another solution's objective: the stage is then
    solved again from scratch."""

    def run() -> tuple[Termination, bool]:
        if is_mip:
            with quiet_stdout():  # HiGHS's MIP solver may print a debug line when handed a solution
                h.run()
        else:
            h.run()
        return map_status(h.getModelStatus()), h.getInfo().primal_solution_status == 2  # kSolutionStatusFeasible

    status, has_solution = run()
    if is_mip and has_solution and not solution_consistent(h, cost):
        h.clearSolver()
        status, has_solution = run()
    return status, has_solution


def new_highs(seed: int = 0) -> highspy.Highs:
    with quiet_stdout():
        h = _HighsFactory()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("log_to_console", False)
    h.setOptionValue("random_seed", seed)
    h.setOptionValue("threads", 1)
    h.setOptionValue("mip_feasibility_tolerance", MIP_FEASIBILITY_TOLERANCE)
    return h


def change_rows_bounds(h: highspy.Highs, rows: IntArray, lower: FloatArray, upper: FloatArray) -> None:
    """Several rows' bounds in one call: highspy has ``changeRowsBounds``, its type stubs lack it."""
    cast(Any, h).changeRowsBounds(rows.size, rows.astype(np.int32), lower, upper)


def csc_lp(
    matrix: sp.csc_matrix, cost: FloatArray, col_lower: FloatArray, col_upper: FloatArray,
    row_lower: FloatArray, row_upper: FloatArray,
) -> highspy.HighsLp:
    """A HiGHS LP from a column-wise sparse matrix and its bounds (passed as arrays, no loop per entry)."""
    n_rows, n_cols = (int(n) for n in matrix.shape)
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = n_cols, n_rows
    lp.col_cost_ = cost
    lp.col_lower_ = col_lower
    lp.col_upper_ = col_upper
    lp.row_lower_ = row_lower
    lp.row_upper_ = row_upper
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = matrix.indptr.astype(np.int32)
    lp.a_matrix_.index_ = matrix.indices.astype(np.int32)
    lp.a_matrix_.value_ = matrix.data.astype(np.float64)
    lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = n_cols, n_rows
    return lp


def pass_model(h: highspy.Highs, model: BlockModel) -> None:
    lp = csc_lp(model.matrix, np.zeros(model.n_cols), model.col_lower, model.col_upper, model.row_lower,
                model.row_upper)
    if model.is_mip:
        lp.integrality_ = [
            highspy.HighsVarType.kInteger if flag else highspy.HighsVarType.kContinuous for flag in model.integer
        ]
    h.passModel(lp)


def _remaining(deadline: float | None) -> float | None:
    if deadline is None:
        return None
    return max(deadline - time.perf_counter(), 0.01)


def solve_block(
    model: BlockModel,
    options: SolveOptions,
    deadline: float | None = None,
    initial_x: FloatArray | None = None,
    share_time: bool = False,
    tiers_only: bool = False,
    fixed_tiers: FloatArray | None = None,
) -> BlockResult:
    """Lexicographic optimum of one block. ``deadline`` is a perf_counter() time for the whole plan;
    ``initial_x`` (units per edge column) is a feasible plan handed to HiGHS as its first incumbent.
    Each tier is held at what its stage reached (SPEC §4's relative tolerance, never below what the start served)
    while the later ones are optimised; each tier stage's log entry says what it was held at (``held``).
    ``share_time``: an integer stage that cannot prove its gap by the deadline leaves each stage after it a reserve
    (``LATER_STAGE_RESERVE`` of the time left).
    ``tiers_only``: stop after the tiers (no transit stage), when only their values are wanted.
    ``fixed_tiers`` (people, per tier): hold each tier at least there from the start and optimise transit
    alone (a plan serving them is known, ``initial_x``); each tier's log entry says what it was held at."""
    h = new_highs(options.seed)
    pass_model(h, model)
    cols = np.arange(model.n_cols, dtype=np.int32)
    termination = Termination.OPTIMAL
    tier_values = np.zeros(4)
    gap = 0.0
    log: list[dict[str, float | str | int]] = []
    solution: FloatArray | None = None
    #: What the start serves per tier: no tier is held below it (the hold's tolerance is the solver's, not a budget
    #: for the next tier: a re-plan from the plan before, each holding 1e-7 below it, gave 1e-7 of its critical tier
    #: to the next one every time it ran, with nothing changed).
    start_values = np.zeros(4)
    if initial_x is not None:
        solution = np.concatenate([initial_x, covered_fraction(model, initial_x)])
        start_values = np.array([float(model.tier_cost[t] @ solution) for t in range(4)])

    stages: list[tuple[str, FloatArray, float]] = [
        (f"tier{t}", -model.tier_cost[t], options.tier_gap) for t in range(4) if model.tier_cost[t].any()
    ]
    if fixed_tiers is not None:
        for name, cost, _ in stages:
            tier = int(name[4:])
            # A tier held in full is z = 1, with no hair below a row to spend on unit-days (a plan of eight needs:
            # HiGHS's plan left each a hair short, a greedy pass filled the hairs from far hubs, 24.02 unit-days
            # where 23.8 serve every need).
            hold_tier(h, cost, float(fixed_tiers[tier]))
            log.append({"stage": name, "status": "fixed", "seconds": 0.0, "objective": float("nan"), "gap": 0.0,
                        "bound": float("nan"), "held": float(fixed_tiers[tier])})
        stages = []
    if not tiers_only:
        stages.append(("transit", model.transit_cost, options.final_gap))
    for position, (name, cost, stage_gap) in enumerate(stages):
        h.changeColsCost(model.n_cols, cols, cost)
        if model.is_mip:
            h.setOptionValue("mip_rel_gap", stage_gap)
            h.setOptionValue("mip_abs_gap", MIP_ABS_GAP)
            if solution is not None:
                h.setSolution(as_solution(solution))
        remaining = _remaining(deadline)
        if remaining is None and model.is_mip:
            remaining = options.mip_stage_budget
        elif remaining is not None and model.is_mip and share_time:
            # Earlier stages first (lexicographic order): each later stage keeps a small reserve, enough to
            # hand back its incumbent (a stage whose incumbent is within its gap of the bound stops at once).
            later = len(stages) - 1 - position
            remaining = max(remaining * (1.0 - LATER_STAGE_RESERVE * later), 0.01)
        h.setOptionValue("time_limit", float("inf") if remaining is None else remaining)
        started = time.perf_counter()
        status, has_solution = run_stage(h, cost, model.is_mip)
        info = h.getInfo()
        stage_gap_proved = 0.0
        if model.is_mip:
            # Relative to max(|objective|, 1): HiGHS calls a stage with objective 0 and bound 0 a gap of 1.
            objective, bound = float(info.objective_function_value), float(info.mip_dual_bound)
            stage_gap_proved = abs(bound - objective) / max(abs(objective), 1.0) if has_solution else 1.0
            if not np.isfinite(stage_gap_proved):
                stage_gap_proved = 1.0
        log.append(
            {
                "stage": name,
                "status": status.value,
                "seconds": round(time.perf_counter() - started, 4),
                "objective": float(info.objective_function_value),
                "gap": stage_gap_proved,
                "bound": float(info.mip_dual_bound) if model.is_mip else float(info.objective_function_value),
            }
        )
        if status is Termination.TIME_LIMIT:
            termination = Termination.TIME_LIMIT
            if not has_solution:
                # Nothing better than what we had: keep the previous stage's solution (or send nothing).
                gap = 1.0
                break
        elif status is Termination.INFEASIBLE and position > 0 and solution is not None:
            # Only the holds on earlier tiers can make a later stage infeasible (sending nothing is feasible),
            # and the previous stage's solution meets them to HiGHS's tolerances: keep it, this stage unproved.
            # (A medium tier of 1.7e-4 people, 0.026 loose litres, held 1e-7 below that: HiGHS called the
            # transit stage infeasible, and the block's classed MIP fell back to a rounding 6.3 % worse in
            # the high tier.)
            termination = Termination.TIME_LIMIT
            gap = 1.0
            break
        elif status is not Termination.OPTIMAL:
            return BlockResult(status, np.zeros(model.n_x), np.zeros(model.n_cols - model.n_x), tier_values, 1.0, log)
        gap = max(gap, stage_gap_proved)
        solution = np.asarray(h.getSolution().col_value, dtype=np.float64)
        if name.startswith("tier"):
            tier = int(name[4:])
            value = float(-cost @ solution)
            tier_values[tier] = value
            full = float(-cost.sum())
            if value >= full * (1 - 1e-12):
                bound = full  # every need of the tier is fully covered
            else:
                # Hold this tier at its optimum (relative tolerance) while the next objectives are optimised, and
                # never below what the start served.
                floor = min(hold_bound(float(start_values[tier]), START_HOLD_MARGIN), value)
                bound = max(hold_bound(value, options.hold_tolerance), floor)
                if model.is_mip and value <= MIP_NOISE * full:
                    # A value within HiGHS's integrality noise (x whole to 1e-6) is nothing to hold: holding
                    # it can make the next stage infeasible.
                    bound = 0.0
            log[-1]["held"] = hold_tier(h, cost, bound)
    if solution is None:
        solution = np.zeros(model.n_cols)
    return BlockResult(termination, solution[: model.n_x], solution[model.n_x :], tier_values, gap, log)


def hold_tier(h: highspy.Highs, cost: FloatArray, at: float) -> float:
    """Hold the tier whose stage objective is ``cost`` (minus its people per covered column) at ``at`` people or more
    for the stages after it; returns what it is held at. A tier held in full has every need covered: its columns are
    fixed at 1 rather than given a dense row."""
    nz = np.flatnonzero(cost)
    full = float(-cost.sum())
    if at >= full * (1 - 1e-12):
        h.changeColsBounds(nz.size, nz.astype(np.int32), np.ones(nz.size), np.ones(nz.size))
        return full
    h.addRow(at, np.inf, nz.size, nz.astype(np.int32), -cost[nz])
    return at


def solution_consistent(h: highspy.Highs, cost: FloatArray) -> bool:
    """Whether the solution HiGHS returns has the objective it reports."""
    values = np.asarray(h.getSolution().col_value, dtype=np.float64)
    reported = float(h.getInfo().objective_function_value)
    return abs(float(cost @ values) - reported) <= 1e-6 * max(abs(reported), 1.0)


def covered_fraction(model: BlockModel, x: FloatArray) -> FloatArray:
    """z = min(1, Σ f·x / d) for a plan given per edge column (from the cover rows of the matrix)."""
    n_p = model.pledges.size
    cover = model.matrix[n_p:, : model.n_x]
    demand = model.matrix[n_p:, model.n_x :].diagonal()
    brought = -(cover @ x)
    z: FloatArray = np.clip(brought / np.maximum(demand, 1e-12), 0.0, 1.0)
    return z


def as_solution(values: FloatArray) -> highspy.HighsSolution:
    sol = highspy.HighsSolution()
    sol.col_value = list(values)
    sol.value_valid = True
    return sol
