"""A re-plan's new plan for a block, its units sent by the pledges the kept lines used wherever that changes nothing
else: each need gets the same amount of each pack size, so every tier is served the same, and no unit travels longer.

HiGHS's plan for a block is one of many that serve the same: pledges of one size reach the same needs in the same
days, and HiGHS picks among them as its search happens to go. In a re-plan that found people more (and so leaves the
kept lines), the pledges it picked differ from the kept ones far beyond what serving those people needs.
"""

from __future__ import annotations

import numpy as np

from aidpack.allocation.flow import FlowBlock, decimals, min_cost_flow_int
from aidpack.allocation.problem import FloatArray, IntArray

#: Flows whose costs could pass this (units × cost per unit) are left as they are.
_COST_LIMIT = 2**62


def size_flow(block: FlowBlock, arcs: IntArray, want: IntArray, supply: IntArray, kept: IntArray) -> IntArray:
    """Amounts along ``arcs`` (the arcs of one pack size) giving each need up to its ``want`` (integers, per block
    need) from pledges' ``supply`` (integers, per block pledge), by a min-cost flow on transit in which the arcs with
    ``kept`` amounts (integers, per arc of ``arcs``) cost one unit less, on transit costs scaled so that no tie-break
    outweighs a unit-day. What no pledge within reach can bring is left out (a bypass costlier than any path)."""
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


__all__ = ["keep_pledges", "size_flow"]
