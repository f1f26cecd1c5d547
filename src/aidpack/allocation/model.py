"""Build the allocation model from a Problem: candidate edges, independent blocks, sparse LP/MIP arrays.

An edge (p, n) exists iff pledge p's item provides need n's capability and
max(available_p, T) + τ(hub_p, region_n) ≤ deadline_n. Each pledge provides one capability and each
need asks for one, so the model separates into one block per capability; blocks are solved on their own.

Per block the variables are x_e ≥ 0 (units of the edge's pledge, integer for indivisible items) and
z_n ∈ [0, 1] (the covered fraction y_n / d_n of need n). Rows:
  supply   Σ_{e out of p} x_e ≤ q_p
  cover    d_n·z_n − Σ_{e into n} f_p·x_e ≤ 0
The tier objective is Σ_{n in t} s_n·z_n (= Σ s_n·y_n/d_n = V_t); the last objective Σ τ_e·x_e.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from aidpack.allocation.problem import BoolArray, FloatArray, IntArray, Problem

#: A tiny cost per unit sent, so that an override of 0 transit days still sends nothing needless.
UNIT_EPSILON = 1e-3
#: Pledge × need pairs examined at once when building candidate edges (bounds the memory it takes).
PAIRS_AT_ONCE = 2_000_000


@dataclass(frozen=True)
class Edges:
    """Every capability-matched, deadline-feasible (pledge, need) pair, regardless of supply."""

    pledge: IntArray
    need: IntArray
    eta: IntArray
    transit: IntArray

    def __len__(self) -> int:
        return int(self.pledge.shape[0])


def candidate_edges(problem: Problem) -> Edges:
    """All edges, built one capability at a time with array operations (no loop per edge)."""
    n_caps = len(problem.capabilities)
    p_order = np.argsort(problem.pledge_capability, kind="stable")
    n_order = np.argsort(problem.need_capability, kind="stable")
    p_bounds = np.searchsorted(problem.pledge_capability[p_order], np.arange(n_caps + 1))
    n_bounds = np.searchsorted(problem.need_capability[n_order], np.arange(n_caps + 1))
    parts: list[tuple[IntArray, IntArray, IntArray, IntArray]] = []
    for cap in range(n_caps):
        pledges = p_order[p_bounds[cap] : p_bounds[cap + 1]]
        needs = n_order[n_bounds[cap] : n_bounds[cap + 1]]
        if pledges.size == 0 or needs.size == 0:
            continue
        # A few pledges at a time, so that a capability of 5,000 needs × 4,000 pledges of which deadlines keep
        # a tenth never holds all 20 million pairs at once.
        step = max(1, PAIRS_AT_ONCE // needs.size)
        for lo in range(0, pledges.size, step):
            pp = np.repeat(pledges[lo : lo + step], needs.size)
            nn = np.tile(needs, min(step, pledges.size - lo))
            tau = problem.transit[problem.pledge_hub[pp], problem.need_region[nn]]
            eta = problem.pledge_start[pp] + tau
            ok = eta <= problem.need_deadline[nn]
            parts.append((pp[ok], nn[ok], eta[ok], tau[ok]))
    if not parts:
        empty = np.zeros(0, dtype=np.int64)
        return Edges(empty, empty.copy(), empty.copy(), empty.copy())
    return Edges(
        pledge=np.concatenate([p[0] for p in parts]).astype(np.int64),
        need=np.concatenate([p[1] for p in parts]).astype(np.int64),
        eta=np.concatenate([p[2] for p in parts]).astype(np.int64),
        transit=np.concatenate([p[3] for p in parts]).astype(np.int64),
    )


@dataclass(frozen=True)
class BlockModel:
    """One capability's LP/MIP in HiGHS's column-wise form. Columns: x (edges) then z (needs)."""

    capability: int
    edge_ids: IntArray  # indices into Edges, one per x column
    pledges: IntArray  # global pledge index per supply row
    needs: IntArray  # global need index per z column / cover row
    need_tier: IntArray
    col_lower: FloatArray
    col_upper: FloatArray
    integer: BoolArray  # per column
    matrix: sp.csc_matrix
    row_lower: FloatArray
    row_upper: FloatArray
    tier_cost: FloatArray  # [4, n_cols]: s_n on tier t's z columns
    transit_cost: FloatArray  # [n_cols]: τ_e + ε on x columns

    @property
    def n_x(self) -> int:
        return int(self.edge_ids.shape[0])

    @property
    def n_cols(self) -> int:
        return int(self.col_lower.shape[0])

    @property
    def is_mip(self) -> bool:
        return bool(self.integer.any())


def unit_gain(factor: FloatArray, demand: FloatArray, integer: BoolArray) -> FloatArray:
    """What one unit sent along an edge can bring its need: min(f, d) for a whole unit (coverage is capped
    at the need's quantity), f for a divisible one (which can be sent in part)."""
    gain: FloatArray = np.where(integer, np.minimum(factor, demand), factor)
    return gain


def oversize_edges(factor: FloatArray, demand: FloatArray, integer: BoolArray) -> BoolArray:
    """Edges whose whole unit exceeds the need it goes to: where the LP bound overstates whole units."""
    result: BoolArray = integer & (factor > demand)
    return result


def build_blocks(problem: Problem, edges: Edges) -> list[BlockModel]:
    """One model per capability over the edges whose pledge still has units."""
    usable = problem.pledge_supply[edges.pledge] > 0
    edge_ids_all = np.flatnonzero(usable)
    caps = problem.pledge_capability[edges.pledge[edge_ids_all]]
    order = np.argsort(caps, kind="stable")
    edge_ids_all, caps = edge_ids_all[order], caps[order]
    starts = np.flatnonzero(np.r_[True, caps[1:] != caps[:-1]]) if caps.size else np.zeros(0, dtype=np.int64)
    ends = np.r_[starts[1:], caps.size] if caps.size else starts
    return [
        _build_block(problem, edges, int(caps[s]), edge_ids_all[s:e]) for s, e in zip(starts, ends, strict=True)
    ]


def _build_block(problem: Problem, edges: Edges, capability: int, edge_ids: IntArray) -> BlockModel:
    e_pledge = edges.pledge[edge_ids]
    e_need = edges.need[edge_ids]
    pledges, p_local = np.unique(e_pledge, return_inverse=True)
    needs, n_local = np.unique(e_need, return_inverse=True)
    n_x, n_z = edge_ids.size, needs.size
    n_p = pledges.size
    factor = problem.pledge_factor[e_pledge]
    demand = problem.need_demand[needs]

    # Supply rows 0..n_p-1: +1 on x_e. Cover rows n_p..n_p+n_z-1: -g_e on x_e, +d_n on z_n, where g_e = f_p,
    # except that one whole unit of an indivisible pledge counts for at most the need it goes to,
    # g_e = min(f_p, d_n): valid for every whole-unit plan (coverage is capped at d_n anyway) and much
    # tighter in the LP relaxation when units exceed needs (a 30,000-litre tanker split over ten needs).
    x_cols = np.arange(n_x)
    gain = unit_gain(factor, demand[n_local], problem.pledge_integer[e_pledge])
    rows = np.concatenate([p_local, n_p + n_local, n_p + np.arange(n_z)])
    cols = np.concatenate([x_cols, x_cols, n_x + np.arange(n_z)])
    vals = np.concatenate([np.ones(n_x), -gain, demand])
    matrix = sp.csc_matrix((vals, (rows, cols)), shape=(n_p + n_z, n_x + n_z))
    matrix.sum_duplicates()
    matrix.sort_indices()

    supply = problem.pledge_supply[pledges]
    integer_p = problem.pledge_integer[pledges]
    # An indivisible pledge never sends more than its whole units; divisible edges are capped by what
    # the need can use, which keeps the LP bounded and well scaled.
    # Neither is ever useful beyond what covers the need on its own: ⌈d_n / f_p⌉ whole units, or d_n / f_p.
    x_upper = np.where(
        problem.pledge_integer[e_pledge],
        np.minimum(np.floor(supply[p_local] + 1e-9), np.ceil(demand[n_local] / factor - 1e-9)),
        np.minimum(supply[p_local], np.ceil(demand[n_local] / factor * 1e6) / 1e6),
    )
    col_lower = np.zeros(n_x + n_z)
    col_upper = np.concatenate([x_upper, np.ones(n_z)])
    integer = np.concatenate([problem.pledge_integer[e_pledge], np.zeros(n_z, dtype=bool)])
    row_lower = np.full(n_p + n_z, -np.inf)
    row_upper = np.concatenate([np.where(integer_p, np.floor(supply + 1e-9), supply), np.zeros(n_z)])

    need_tier = problem.need_tier[needs]
    tier_cost = np.zeros((4, n_x + n_z))
    tier_cost[need_tier, n_x + np.arange(n_z)] = problem.need_people[needs]
    transit_cost = np.concatenate([edges.transit[edge_ids] + UNIT_EPSILON, np.zeros(n_z)]).astype(np.float64)
    return BlockModel(
        capability=capability,
        edge_ids=edge_ids,
        pledges=pledges,
        needs=needs,
        need_tier=need_tier,
        col_lower=col_lower,
        col_upper=col_upper,
        integer=integer,
        matrix=matrix,
        row_lower=row_lower,
        row_upper=row_upper,
        tier_cost=tier_cost,
        transit_cost=transit_cost,
    )
