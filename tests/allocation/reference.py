"""An independent reference for the engine's optimum: the whole model in one dense scipy MILP, tier by tier.

It shares nothing with aidpack's block decomposition or HiGHS model building; tests compare the two.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp

from aidpack.allocation.problem import Problem


def reference_tier_values(problem: Problem, held: list[float] | None = None) -> list[float]:
    """V_t* for each tier, lexicographically, from a dense formulation over all (pledge, need) pairs.

    With ``held``, tier t is maximised while every earlier tier s keeps at least ``held[s]`` (the values
    a plan under test achieved) instead of its own optimum: the exact question "was tier t optimal,
    given what the earlier tiers got?".
    """
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
    values: list[float] = []
    for tier in range(4):
        c = np.zeros(n_cols)
        mask = problem.need_tier == tier
        c[E + np.flatnonzero(mask)] = -problem.need_people[mask]
        if not mask.any():
            values.append(0.0)
            continue
        base = np.array(lower)
        hold = np.arange(base.size) >= P + N  # the rows holding earlier tiers
        for slack in (0.0, 1e-7, 1e-6):
            # A hold row at exactly an optimum can be numerically infeasible for HiGHS: loosen it a hair.
            loosened = base.copy()
            loosened[hold] -= slack * np.maximum(np.abs(base[hold]), 1.0)
            constraints = [LinearConstraint(np.array(rows), loosened, np.array(upper))] if rows else []
            res = milp(c, constraints=constraints, integrality=integrality, bounds=Bounds(np.zeros(n_cols), ub),
                       options={"mip_rel_gap": 1e-9})
            if res.status == 0:
                break
        assert res.status == 0, res.message
        # The value of the solution with its integer columns rounded: HiGHS accepts x within 1e-6 of a
        # whole number, and holding a tier at that noise can make the next one infeasible.
        x = np.where(integrality[:E] == 1, np.round(res.x[:E]), res.x[:E])
        brought = np.zeros(N)
        np.add.at(brought, np.array([n for _, n in pairs], dtype=np.int64),
                  x * np.array([problem.pledge_factor[p] for p, _ in pairs]))
        z = np.minimum(brought / np.maximum(problem.need_demand, 1e-12), 1.0)
        value = min(float(-res.fun), float(-c[E:] @ z))
        values.append(value)
        rows.append(-c)
        lower.append(value - 1e-9 * max(abs(value), 1.0) if held is None else min(held[tier], value))
        upper.append(np.inf)
    return values
