"""An independent reference for the engine's optimum: the whole model in one dense scipy MILP, tier by tier.

It shares nothing with aidpack's block decomposition or HiGHS model building; tests compare the two.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, OptimizeResult, milp

from aidpack.allocation.problem import Problem


@dataclass
class _Dense:
    """SPEC §4's model over every (pledge, need) pair that is an edge: columns x_e then z_n = y_n / d_n."""

    pairs: list[tuple[int, int]]
    rows: list[np.ndarray]
    lower: list[float]
    upper: list[float]
    integrality: np.ndarray
    ub: np.ndarray

    @property
    def n_edges(self) -> int:
        return len(self.pairs)

    def tier_cost(self, problem: Problem, tier: int) -> np.ndarray:
        """Minus s_n on the tier's z columns (scipy minimises)."""
        c = np.zeros(self.n_edges + problem.n_needs)
        mask = problem.need_tier == tier
        c[self.n_edges + np.flatnonzero(mask)] = -problem.need_people[mask]
        return c

    def solve(self, c: np.ndarray, n_fixed_rows: int) -> OptimizeResult:
        base = np.array(self.lower)
        hold = np.arange(base.size) >= n_fixed_rows  # the rows holding earlier tiers
        for slack in (0.0, 1e-7, 1e-6):
            # A hold row at exactly an optimum can be numerically infeasible for HiGHS: loosen it a hair.
            loosened = base.copy()
            loosened[hold] -= slack * np.maximum(np.abs(base[hold]), 1.0)
            constraints = [LinearConstraint(np.array(self.rows), loosened, np.array(self.upper))] if self.rows else []
            res = milp(c, constraints=constraints, integrality=self.integrality,
                       bounds=Bounds(np.zeros(c.size), self.ub), options={"mip_rel_gap": 1e-9})
            if res.status == 0:
                return res
        raise AssertionError(res.message)


def _dense(problem: Problem) -> _Dense:
    P, N = problem.n_pledges, problem.n_needs
    pairs = [
        (p, n)
        for p in range(P)
        for n in range(N)
        if problem.pledge_capability[p] == problem.need_capability[n]
        and problem.pledge_start[p] + problem.transit[problem.pledge_hub[p], problem.need_region[n]]
        <= problem.need_deadline[n]
        and problem.pledge_supply[p] > 0
    ]
    E = len(pairs)
    n_cols = E + N
    rows: list[np.ndarray] = []
    lower: list[float] = []
    upper: list[float] = []
    for p in range(P):
        row = np.zeros(n_cols)
        for e, (pp, _) in enumerate(pairs):
            if pp == p:
                row[e] = 1.0
        rows.append(row)
        lower.append(-np.inf)
        upper.append(problem.pledge_supply[p])
    for n in range(N):
        row = np.zeros(n_cols)
        row[E + n] = problem.need_demand[n]
        for e, (pp, nn) in enumerate(pairs):
            if nn == n:
                row[e] = -problem.pledge_factor[pp]
        rows.append(row)
        lower.append(-np.inf)
        upper.append(0.0)
    integrality = np.array([1 if problem.pledge_integer[p] else 0 for p, _ in pairs] + [0] * N)
    ub = np.array([problem.pledge_supply[p] for p, _ in pairs] + [1.0] * N)
    return _Dense(pairs, rows, lower, upper, integrality, ub)


def reference_tier_values(problem: Problem, held: list[float] | None = None) -> list[float]:
    """V_t* for each tier, lexicographically, from a dense formulation over all (pledge, need) pairs.

    With ``held``, tier t is maximised while every earlier tier s keeps at least ``held[s]`` (the values
    a plan under test achieved) instead of its own optimum: the exact question "was tier t optimal,
    given what the earlier tiers got?".
    """
    P, N = problem.n_pledges, problem.n_needs
    model = _dense(problem)
    E = model.n_edges
    values: list[float] = []
    for tier in range(4):
        c = model.tier_cost(problem, tier)
        if not (problem.need_tier == tier).any():
            values.append(0.0)
            continue
        res = model.solve(c, P + N)
        # The value of the solution with its integer columns rounded: HiGHS accepts x within 1e-6 of a
        # whole number, and holding a tier at that noise can make the next one infeasible.
        x = np.where(model.integrality[:E] == 1, np.round(res.x[:E]), res.x[:E])
        brought = np.zeros(N)
        np.add.at(brought, np.array([n for _, n in model.pairs], dtype=np.int64),
                  x * np.array([problem.pledge_factor[p] for p, _ in model.pairs]))
        z = np.minimum(brought / np.maximum(problem.need_demand, 1e-12), 1.0)
        value = min(float(-res.fun), float(-c[E:] @ z))
        values.append(value)
        model.rows.append(-c)
        model.lower.append(value - 1e-9 * max(abs(value), 1.0) if held is None else min(held[tier], value))
        model.upper.append(np.inf)
    return values


def reference_transit_unit_days(problem: Problem, held: list[float]) -> float:
    """SPEC §4's last objective: the least Σ_e τ_e · x_e (unit-days in transit) of any plan whose tiers each serve
    at least ``held[t]`` people (the values a plan under test achieved)."""
    P, N = problem.n_pledges, problem.n_needs
    model = _dense(problem)
    if model.n_edges == 0:
        return 0.0
    for tier in range(4):
        c = model.tier_cost(problem, tier)
        if (problem.need_tier == tier).any():
            model.rows.append(-c)
            model.lower.append(held[tier])
            model.upper.append(np.inf)
    tau = [float(problem.transit[problem.pledge_hub[p], problem.need_region[n]]) for p, n in model.pairs]
    res = model.solve(np.array(tau + [0.0] * N), P + N)
    return float(res.fun)
