"""What aidpack is compared with, on the same Problem: the shortcuts a generic modeller would take.

- ``highs_weighted``: the whole model as one HiGHS LP, the tiers folded into weights (1e6, 1e4, 1e2, 1
  per person served, normalised), transit as a tiny cost; indivisible units relaxed (an LP).
- ``cbc_weighted``: the same folded objective as a MILP with integer units, PuLP + CBC (small sizes), or
  (``relax``) as the LP, as HiGHS solves it.
- ``greedy_fcfs``: first come, first served: needs in the order they were filed (by ref), each filled
  from the pledges in the order they were made, whole units for indivisible items.

:func:`evaluate` scores any plan (units per candidate edge) the same way the engine does.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from aidpack.allocation.model import UNIT_EPSILON, Edges
from aidpack.allocation.problem import FloatArray, Problem
from aidpack.allocation.solve import csc_lp, new_highs

TIER_WEIGHTS = (1e6, 1e4, 1e2, 1.0)
TRANSIT_WEIGHT = 1e-6


@dataclass(frozen=True)
class Score:
    tier_served: FloatArray
    transit: float  # unit-days
    integral: bool
    feasible: bool


def evaluate(problem: Problem, edges: Edges, units: FloatArray) -> Score:
    pledge, need = edges.pledge, edges.need
    amount = units * problem.pledge_factor[pledge]
    brought = np.bincount(need, weights=amount, minlength=problem.n_needs)
    fraction = np.minimum(brought / problem.need_demand, 1.0)
    served = np.bincount(problem.need_tier, weights=problem.need_people * fraction, minlength=4)[:4].astype(float)
    used = np.bincount(pledge, weights=units, minlength=problem.n_pledges)
    feasible = bool(np.all(used <= problem.pledge_supply * (1 + 1e-6) + 1e-6) and np.all(units >= -1e-9))
    integer = problem.pledge_integer[pledge]
    integral = bool(np.all(np.abs(units[integer] - np.rint(units[integer])) <= 1e-6))
    return Score(served, float(edges.transit @ units), integral, feasible)


def _weights(problem: Problem) -> FloatArray:
    """Objective weight per need: the tier's weight × people served, normalised by the largest."""
    tier_weight = np.array(TIER_WEIGHTS)[problem.need_tier]
    scale = float(problem.need_people.max()) if problem.n_needs else 1.0
    weights: FloatArray = tier_weight * problem.need_people / scale
    return weights


def _matrix(problem: Problem, edges: Edges) -> tuple[sp.csc_matrix, FloatArray, FloatArray]:
    """Rows: supply per pledge (≤ q_p), cover per need (d_n·z_n − Σ f·x ≤ 0). Columns: x then z."""
    n_e, n_n, n_p = len(edges), problem.n_needs, problem.n_pledges
    x_cols = np.arange(n_e)
    rows = np.concatenate([edges.pledge, n_p + edges.need, n_p + np.arange(n_n)])
    cols = np.concatenate([x_cols, x_cols, n_e + np.arange(n_n)])
    vals = np.concatenate([np.ones(n_e), -problem.pledge_factor[edges.pledge], problem.need_demand])
    matrix = sp.csc_matrix((vals, (rows, cols)), shape=(n_p + n_n, n_e + n_n))
    upper = np.concatenate([problem.pledge_supply, np.zeros(n_n)])
    cost = np.concatenate([TRANSIT_WEIGHT * (edges.transit + UNIT_EPSILON), -_weights(problem)])
    return matrix, upper, cost


def highs_weighted(problem: Problem, edges: Edges, *, time_limit: float) -> tuple[FloatArray, str]:
    """The folded-weights LP in one HiGHS solve (dual simplex, one thread)."""
    matrix, upper, cost = _matrix(problem, edges)
    n_e = len(edges)
    h = new_highs()
    h.passModel(csc_lp(matrix, cost, np.zeros(matrix.shape[1]),
                       np.concatenate([np.full(n_e, np.inf), np.ones(problem.n_needs)]),
                       np.full(matrix.shape[0], -np.inf), upper))
    h.setOptionValue("time_limit", time_limit)
    h.run()
    status = str(h.getModelStatus()).rsplit(".", 1)[-1]
    x = np.asarray(h.getSolution().col_value, dtype=np.float64)[:n_e]
    return np.maximum(x, 0.0), status


def cbc_weighted(problem: Problem, edges: Edges, *, time_limit: float, relax: bool = False) -> tuple[FloatArray, str]:
    """The folded-weights MILP (integer units for indivisible items) with PuLP and CBC; with ``relax``, its LP
    relaxation (every unit divisible), the model a generic modeller would hand CBC at national scale."""
    import pulp

    weights = _weights(problem)
    model = pulp.LpProblem("aidpack_folded", pulp.LpMaximize)
    x = [
        model.add_variable(f"x{e}", lowBound=0,
                           cat="Integer" if problem.pledge_integer[p] and not relax else "Continuous")
        for e, p in enumerate(edges.pledge.tolist())
    ]
    z = [model.add_variable(f"z{n}", lowBound=0, upBound=1) for n in range(problem.n_needs)]
    model += pulp.lpSum(float(weights[n]) * z[n] for n in range(problem.n_needs)) - pulp.lpSum(
        TRANSIT_WEIGHT * float(edges.transit[e] + UNIT_EPSILON) * x[e] for e in range(len(edges))
    )
    by_pledge: dict[int, list[int]] = {}
    by_need: dict[int, list[int]] = {}
    for e, (p, n) in enumerate(zip(edges.pledge.tolist(), edges.need.tolist(), strict=True)):
        by_pledge.setdefault(p, []).append(e)
        by_need.setdefault(n, []).append(e)
    for p, es in by_pledge.items():
        model += pulp.lpSum(x[e] for e in es) <= float(problem.pledge_supply[p])
    for n in range(problem.n_needs):
        es = by_need.get(n, [])
        model += float(problem.need_demand[n]) * z[n] <= pulp.lpSum(
            float(problem.pledge_factor[edges.pledge[e]]) * x[e] for e in es
        )
    # PuLP's own CBC binary (PULP_CBC_CMD, deprecated for PuLP 4.0, which asks for CBC installed apart: not on
    # this machine's package list); the warning is PuLP's, not the model's.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        solver = pulp.PULP_CBC_CMD(msg=False, timeLimit=time_limit, threads=1)
    status = model.solve(solver)
    units = np.array([v.value() or 0.0 for v in x], dtype=np.float64)
    return np.maximum(units, 0.0), pulp.LpStatus[status]


def greedy_fcfs(problem: Problem, edges: Edges) -> FloatArray:
    """Needs in ref order; each takes from its feasible pledges in ref order until covered."""
    units = np.zeros(len(edges))
    left = problem.pledge_supply.copy()
    order = np.lexsort((edges.pledge, edges.need))
    starts = np.searchsorted(edges.need[order], np.arange(problem.n_needs + 1))
    factor, integer = problem.pledge_factor, problem.pledge_integer
    for n in range(problem.n_needs):
        short = float(problem.need_demand[n])
        for e in order[starts[n] : starts[n + 1]]:
            if short <= 1e-9:
                break
            p = int(edges.pledge[e])
            if left[p] <= 1e-9:
                continue
            want = short / factor[p]
            take = min(float(np.ceil(want - 1e-9)) if integer[p] else want, float(left[p]))
            if integer[p]:
                take = float(np.floor(take + 1e-9))
            if take <= 0:
                continue
            units[e] += take
            left[p] -= take
            short -= take * factor[p]
    return units
