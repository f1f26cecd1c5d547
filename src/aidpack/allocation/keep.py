"""A re-plan's new plan for a block, moved from the kept lines no more than serving its people needs.

HiGHS's plan for a block is one of many that serve the same: pledges of one size reach the same needs in the same
days, and HiGHS picks among them as its search happens to go. In a re-plan that found people more (and so leaves the
kept lines), the pledges it picked differ from the kept ones far beyond what serving those people needs.
:func:`keep_pledges` sends each need's amount of each pack size by the kept pledges (a min-cost flow: no unit travels
longer); :func:`keep_most` goes further (HiGHS's MIP on the arcs of both plans and of the swaps between them): every
tier served at least as the plan serves it and no more unit-days, the most of the kept lines' amount kept, then the
fewest unit-days.
"""

from __future__ import annotations

import time

import highspy
import numpy as np
import scipy.sparse as sp

from aidpack.allocation.flow import FlowBlock, decimals, min_cost_flow_int
from aidpack.allocation.model import UNIT_EPSILON
from aidpack.allocation.models import Termination
from aidpack.allocation.problem import BoolArray, FloatArray, IntArray
from aidpack.allocation.rounding import block_tier_values, transit_of
from aidpack.allocation.solve import csc_lp, map_status, new_highs, quiet_stdout

#: Flows whose costs could pass this (units × cost per unit) are left as they are.
_COST_LIMIT = 2**62


def size_flow(block: FlowBlock, arcs: IntArray, want: IntArray, supply: IntArray, kept: IntArray) -> IntArray:
    """Amounts along ``arcs`` (the arcs of one pack size) giving each need up to its ``want`` (integers, per block
    need) from pledges' ``supply`` (integers, per block pledge), by a min-cost flow on transit in which the arcs with
    ``kept`` amounts (integers, per arc of ``arcs``) cost one unit less, on transit costs scaled so that no tie-break
    outweighs a unit-day. What no pledge within reach can bring is left out (a bypass costlier than any path)."""
    wanted = want[block.arc_need[arcs]] > 0
    if not bool(wanted.all()):
        # Only the arcs into needs that want this size can carry it (a one-capability block of 1.4e6 arcs in five
        # generator sizes: each size's flow over all its arcs took 0.18 s, most of them into needs given none).
        sent_wanted = np.zeros(arcs.size, dtype=np.int64)
        if bool(wanted.any()):
            sent_wanted[wanted] = size_flow(block, arcs[wanted], want, supply, kept[wanted])
        return sent_wanted
    pledges, p_local = np.unique(block.arc_pledge[arcs], return_inverse=True)
    needs, n_local = np.unique(block.arc_need[arcs], return_inverse=True)
    n_p, n_n = pledges.size, needs.size
    total = int(want[needs].sum())
    again = np.flatnonzero(kept > 0)
    tie = int(kept.sum()) + 1  # the cost of one unit-day: more than every tie-break together
    transit = block.transit[arcs].astype(np.int64) * tie
    bypass = int(transit.max(initial=0)) * (n_p + n_n + 2) + 1
    source, sink, p0, n0 = 0, 1, 2, 2 + n_p
    # Source → pledge (its supply), pledge → need (the arc, its transit), need → sink (what it wants), source → sink
    # for what no pledge within reach can bring, and the kept arcs.
    tail = np.concatenate([np.full(n_p, source), p0 + p_local, n0 + np.arange(n_n), [source], p0 + p_local[again]])
    head = np.concatenate([p0 + np.arange(n_p), n0 + n_local, np.full(n_n, sink), [sink], n0 + n_local[again]])
    cap = np.concatenate([supply[pledges], np.full(arcs.size, total), want[needs], [total], kept[again]])
    cost = np.concatenate([np.zeros(n_p, dtype=np.int64), transit, np.zeros(n_n, dtype=np.int64), [bypass],
                           transit[again] - 1])
    supplies = np.zeros(n_p + n_n + 2, dtype=np.int64)
    supplies[source], supplies[sink] = total, -total
    flows = min_cost_flow_int(n_p + n_n + 2, tail.astype(np.int64), head.astype(np.int64), cap.astype(np.int64),
                              cost.astype(np.int64), supplies)
    sent: IntArray = flows[n_p : n_p + arcs.size].copy()
    np.add.at(sent, again, flows[n_p + arcs.size + n_n + 1 :])
    return sent


def keep_pledges(block: FlowBlock, units: FloatArray, kept: FloatArray) -> FloatArray:
    """``units`` (per arc) with, per pack size (pledges of one factor, whole or divisible), the same amount going to
    each need, sent as :func:`size_flow` sends it with the kept lines (``kept``, units per arc) as its tie-break: the
    most kept units that any plan of the same sizes per need and no more unit-days sends. A size whose amounts do not
    fit the flow's integers, or that the flow cannot place whole, keeps its units."""
    out = units.copy()
    keys = np.stack([np.round(block.factor, 9), block.integer.astype(np.float64)], axis=1)
    _, size_of = np.unique(keys, axis=0, return_inverse=True)
    arc_size = size_of.reshape(-1)[block.arc_pledge]
    for s in np.unique(arc_size[(units > 0) | (kept > 0)]).tolist():
        arcs = np.flatnonzero(arc_size == s)
        pledges = np.unique(block.arc_pledge[arcs])
        scale = 10.0 ** decimals(np.concatenate([units[arcs], kept[arcs], block.units[pledges]]))
        want = np.rint(np.bincount(block.arc_need[arcs], weights=units[arcs], minlength=block.needs.size)
                       * scale).astype(np.int64)
        kept_amount = np.rint(kept[arcs] * scale).astype(np.int64)
        total = int(want.sum())
        costliest = (int(block.transit[arcs].max(initial=0)) + 1) * (int(kept_amount.sum()) + 1)
        if total == 0 or total * costliest >= _COST_LIMIT // 4:
            continue
        supply = np.floor(block.units * scale + 1e-6).astype(np.int64)
        sent = size_flow(block, arcs, want, supply, kept_amount)
        if int(sent.sum()) < total:  # some amount no pledge could bring: leave the size as it was
            continue
        out[arcs] = sent / scale
    return out


#: :func:`keep_most` leaves a block alone when the kept lines' and the plan's arcs together are more than this.
KEEP_MOST_ARCS = 50_000
#: HiGHS holds each tier at the plan's; the plan it finds may come out this far below (relative, and at least
#: ``_TIER_NOISE_PEOPLE``: its feasibility tolerance on the rows that hold them), and no further.
_TIER_NOISE = 1e-9
_TIER_NOISE_PEOPLE = 1e-6
#: :func:`keep_most` keeps the kept amount to ``_KEEP_GAP`` of it, then spends at most ``_TRANSIT_SHARE`` of the time
#: that took on the unit-days (to ``_TRANSIT_GAP``, SPEC §4's gap for the last objective).
_TRANSIT_SHARE = 0.5
_KEEP_GAP = 1e-4
_TRANSIT_GAP = 1e-3
#: HiGHS's MIP heuristic effort in :func:`keep_most` (its default, 0.05, found no plan in time: see there).
_HEURISTIC_EFFORT = 0.6


def moved_amount(block: FlowBlock, units: FloatArray, kept: FloatArray) -> float:
    """Capability units (units × factor) of the ``kept`` lines that ``units`` no longer sends the same way."""
    return float(np.maximum(kept - units, 0.0) @ block.factor[block.arc_pledge])


def _swaps(block: FlowBlock, units: FloatArray, kept: FloatArray) -> BoolArray:
    """Arcs by which a need that took a kept pledge's units could have them from the pledges of the need those
    units left: where the kept lines sent pledge p to need m and the plan sends p to n instead, the arcs into n from
    the pledges the plan sends to m (a tanker kept for m went to n, the drums now at m could go to n)."""
    n_p, n_n = block.pledges.size, block.needs.size

    def matrix(mask: BoolArray) -> sp.csr_matrix:
        on = np.flatnonzero(mask)
        return sp.csr_matrix((np.ones(on.size), (block.arc_pledge[on], block.arc_need[on])), shape=(n_p, n_n))

    left = matrix(kept > units + 1e-9)  # p → m: kept units that moved away
    came = matrix(units > kept + 1e-9)  # p → n: the plan's units beyond the kept ones
    wanted = (matrix(units > 0) @ (left.T @ came)).tocoo()  # q → n, for q the plan sends to m
    found: BoolArray = np.isin(block.arc_pledge.astype(np.int64) * n_n + block.arc_need,
                               wanted.row.astype(np.int64) * n_n + wanted.col)
    return found


def keep_most(
    block: FlowBlock, units: FloatArray, tiers: FloatArray, kept: FloatArray, *, seconds: float, seed: int = 0
) -> FloatArray | None:
    """A plan of the block (units per arc) on the arcs of ``units``, of ``kept`` (a re-plan's kept lines) and of
    :func:`keep_pledges`'s plan, its start, that serves every tier at least as ``units`` does (``tiers``, people; to
    HiGHS's noise) and travels no more unit-days, so is of no less merit; of those, one that sends as much of the
    kept lines' amount the same way as HiGHS finds within ``seconds``, then the fewest unit-days. None when it keeps
    no more than ``units`` does.

    Capability units count, not pack units: moving one 30,000-litre tanker is not less than moving two drums. The
    kept lines the start already has stay, and the arcs are the two plans' and :func:`_swaps`: a smaller search
    than the block's, in which HiGHS finds a plan within a second where its default heuristics found none (the 1e5
    scenario's diesel block, seed 3, supply x0.5, on the 588 arcs of both plans: 124,878 of 197,905 litres still
    moved after 1 s; with the shared lines fixed and 700 arcs of swaps, 117,155 in 0.5 s, proved; the 1e6 bench
    after a fifth of its needs grew by half, a generator block's 4,292 integer columns: nothing in 2 s at HiGHS's
    default heuristic effort, 52,132 kW moved down to 14,100 in 1 s at 0.6)."""
    started = time.perf_counter()
    before = moved_amount(block, units, kept)
    if before <= 1e-9 or seconds <= 0:
        return None
    # HiGHS starts from the plan with each need's sizes sent by the kept pledges (the same tiers, no more unit-days).
    first = keep_pledges(block, units, kept)
    arcs = np.flatnonzero((units > 0) | (kept > 0) | (first > 0) | _swaps(block, units, kept))
    if arcs.size > KEEP_MOST_ARCS:
        return None
    pledges, p_row = np.unique(block.arc_pledge[arcs], return_inverse=True)
    needs, n_row = np.unique(block.arc_need[arcs], return_inverse=True)
    factor = block.factor[block.arc_pledge[arcs]]
    again = np.flatnonzero(kept[arcs] > 0)  # positions in ``arcs`` of the kept lines
    n_x, n_w, n_y = arcs.size, again.size, needs.size
    n_p = pledges.size
    # Columns: x (units per arc), w (the kept part of a kept arc's units), y (capability units covered per need).
    # Rows: each pledge's units; y_n − Σ f x ≤ 0; w − x ≤ 0; per tier, the people served held.
    weight = block.people[needs] / block.demand[needs]
    tier = block.tier[needs]
    held_tiers = [t for t in range(4) if bool((tier == t).any())]
    y_col = n_x + n_w + np.arange(n_y)
    w_col = n_x + np.arange(n_w)
    link = n_p + n_y + np.arange(n_w)
    rows = np.concatenate([p_row, n_p + n_row, n_p + np.arange(n_y), link, link,
                           n_p + n_y + n_w + np.searchsorted(held_tiers, tier)])
    cols = np.concatenate([np.arange(n_x), np.arange(n_x), y_col, w_col, again, y_col])
    entries = np.concatenate([np.ones(n_x), -factor, np.ones(n_y), np.ones(n_w), -np.ones(n_w), weight])
    n_rows = n_p + n_y + n_w + len(held_tiers)
    n_cols = n_x + n_w + n_y
    matrix = sp.csc_matrix((entries, (rows, cols)), shape=(n_rows, n_cols))
    noise = np.maximum(_TIER_NOISE * tiers, _TIER_NOISE_PEOPLE)
    held = np.asarray([tiers[t] * (1 - 1e-12) for t in held_tiers])
    kept_here = kept[arcs][again]
    cost = np.concatenate([np.zeros(n_x), -factor[again], np.zeros(n_y)])
    # Lines the start shares with the kept ones stay (a smaller search: a 136,000-arc generator block's re-plan after
    # a fifth of the 1e6 bench's needs grew by half, 1,781 arcs here, found nothing in 2 s without this).
    lower = np.zeros(n_cols)
    lower[:n_x] = np.minimum(first[arcs], kept[arcs])
    lp = csc_lp(matrix, cost, lower,
                np.concatenate([block.units[pledges][p_row], kept_here, block.demand[needs]]),
                np.concatenate([np.full(n_p + n_y + n_w, -np.inf), held]),
                np.concatenate([block.units[pledges], np.zeros(n_y + n_w), np.full(len(held_tiers), np.inf)]))
    whole = block.integer[block.arc_pledge[arcs]]
    lp.integrality_ = [highspy.HighsVarType.kInteger if flag else highspy.HighsVarType.kContinuous
                       for flag in whole.tolist()] + [highspy.HighsVarType.kContinuous] * (n_w + n_y)
    h = new_highs(seed)
    h.setOptionValue("mip_heuristic_effort", _HEURISTIC_EFFORT)
    h.passModel(lp)
    # No more unit-days than the plan: no worse in any objective. (Within the final gap, a divisible pledge's line
    # would be split to keep a sliver of a far kept line: 0.005 of 10 units.)
    transit = (block.transit[arcs] + UNIT_EPSILON).astype(np.float64)
    h.addRow(-np.inf, float(transit @ units[arcs]), n_x, np.arange(n_x, dtype=np.int32), transit)
    x0 = first[arcs]
    brought = np.bincount(n_row, weights=x0 * factor, minlength=n_y)
    start = np.concatenate([x0, np.minimum(x0[again], kept_here), np.minimum(brought, block.demand[needs])])
    deadline = started + seconds
    solution = start
    for stage in ("keep", "transit"):
        given = highspy.HighsSolution()
        given.col_value = list(solution)
        given.value_valid = True
        h.setSolution(given)
        now = time.perf_counter()
        left = deadline - now if stage == "keep" else min(deadline - now, _TRANSIT_SHARE * (now - started))
        h.setOptionValue("time_limit", max(left, 0.01))
        h.setOptionValue("mip_rel_gap", _KEEP_GAP if stage == "keep" else _TRANSIT_GAP)
        with quiet_stdout():
            h.run()
        if h.getInfo().primal_solution_status != 2 or map_status(h.getModelStatus()) not in (
            Termination.OPTIMAL, Termination.TIME_LIMIT
        ):
            break
        solution = np.asarray(h.getSolution().col_value, dtype=np.float64)
        if stage == "keep":
            # Hold what was kept (to HiGHS's noise) and minimise unit-days.
            kept_amount = float(factor[again] @ np.minimum(solution[:n_x][again], kept_here))
            h.addRow(kept_amount * (1 - 1e-12), np.inf, n_w, w_col.astype(np.int32), factor[again])
            h.changeColsCost(n_cols, np.arange(n_cols, dtype=np.int32),
                             np.concatenate([transit, np.zeros(n_w + n_y)]))
    x = np.where(whole, np.rint(solution[:n_x]), np.maximum(solution[:n_x], 0.0))
    plan = np.zeros(block.n_arcs)
    plan[arcs] = x
    served = np.bincount(block.arc_pledge[arcs], weights=x, minlength=block.pledges.size)
    if bool((served > block.units * (1 + 1e-12) + 1e-9).any()):
        return None
    if bool((block_tier_values(block, plan) < tiers - noise).any()):
        return None
    if transit_of(block, plan) > transit_of(block, units) * (1 + 1e-9) + 1e-6:
        return None
    if moved_amount(block, plan, kept) >= before * (1 - 1e-9) - 1e-9:
        return None
    return plan


__all__ = ["KEEP_MOST_ARCS", "keep_most", "keep_pledges", "moved_amount", "size_flow"]
