"""Fewer unit-days for a whole-unit plan whose tiers are settled: a need's lines replaced by one pledge's units.

The last objective of SPEC §4 counts units: Σ_e τ_e · x_e. The LP optimum covers a 450-litre need with
0.015 of a 30,000-litre tanker (0.015 unit-days per day of transit); rounding keeps the tanker for needs it
fits and covers the 450 litres with 450 one-litre units, 450 unit-days per day. Where a pledge still has
units to spare, one of them covers the need on its own: HiGHS's transit stage does exactly that on the
small blocks it solves; this does it on every rounded block, in array operations.

:func:`consolidate` replaces all the lines of a need by the fewest units of a single pledge that bring it at
least what they brought, whenever that saves unit-days, using only units no other need receives (a
pledge's spare units and the need's own). No need is brought less, so no tier loses; every step lowers
the unit-days. Needs are taken by the saving, largest first, in rounds until no need can save more.
"""

from __future__ import annotations

import numpy as np

from aidpack.allocation.flow import FlowBlock
from aidpack.allocation.model import UNIT_EPSILON
from aidpack.allocation.problem import FloatArray
from aidpack.allocation.rounding import greedy_repair

#: Rounds of replacements at most (each round re-prices every need against the spare units left).
MAX_ROUNDS = 8
#: Times :func:`fewer_unit_days` consolidates and gives out the units that freed, at most.
REPAIR_ROUNDS = 3
#: A replacement must save this share of the need's unit-days (float noise is no saving).
MIN_SAVING = 1e-9
#: Divisible units are sent in millionths (the stored precision), rounded up so that no need is brought less.
_MILLIONTHS = 10**6
_TOL = 1e-9


def consolidate(block: FlowBlock, units: FloatArray) -> FloatArray:
    """``units`` (pledge units per arc of ``block``) with needs' lines replaced by single-pledge covers that
    travel less (see the module's docstring); ``units`` itself when nothing saves."""
    if not block.is_integer or units.size == 0:
        return units  # a divisible block's flow already minimises unit-days exactly
    arc_pledge, arc_need = block.arc_pledge, block.arc_need
    arc_factor = block.factor[arc_pledge]
    arc_integer = block.integer[arc_pledge]
    arc_cost = block.transit + UNIT_EPSILON
    order, starts = block.arcs_by_need
    result = units.copy()
    changed = False
    for _ in range(MAX_ROUNDS):
        spare = block.units - np.bincount(arc_pledge, weights=result, minlength=block.pledges.size)
        brought = np.bincount(arc_need, weights=result * arc_factor, minlength=block.needs.size)
        covered = np.minimum(brought, block.demand)
        need_cost = np.bincount(arc_need, weights=result * arc_cost, minlength=block.needs.size)
        need_days = np.bincount(arc_need, weights=result * block.transit, minlength=block.needs.size)
        # Only arcs whose pledge has units to spare, or that the need already receives, can cover it.
        arcs = np.flatnonzero(((spare[arc_pledge] > _TOL) | (result > 0)) & (covered[arc_need] > _TOL))
        need_of, pledge_of = arc_need[arcs], arc_pledge[arcs]
        # Per arc: the units of its pledge that alone bring its need what it has now, and what they cost.
        want = covered[need_of] / arc_factor[arcs]
        cover = np.where(arc_integer[arcs], np.ceil(want - _TOL), np.ceil(want * _MILLIONTHS - _TOL) / _MILLIONTHS)
        saving = need_cost[need_of] - cover * arc_cost[arcs]
        # Unit-days themselves never grow (the per-unit epsilon is a tie-break on them, not a price for them).
        no_more_days = cover * block.transit[arcs] <= need_days[need_of] + _TOL
        usable = cover <= spare[pledge_of] + result[arcs] + _TOL
        good = np.flatnonzero(usable & no_more_days & (saving > MIN_SAVING * np.maximum(need_cost[need_of], 1.0)))
        if good.size == 0:
            break
        # Each need's arcs by saving, largest first; the needs by their best saving, largest first. A need whose
        # best pledge was used up by a need before it in the round takes its next best.
        good = good[np.lexsort((good, -saving[good], need_of[good]))]
        first = np.flatnonzero(np.r_[True, need_of[good][1:] != need_of[good][:-1]])
        ends = np.r_[first[1:], good.size]
        accepted = 0
        for k in np.lexsort((first, -saving[good[first]])).tolist():
            need = int(need_of[good[first[k]]])
            lines = order[starts[need] : starts[need + 1]]
            lines = lines[result[lines] > 0]
            for position in good[first[k] : ends[k]].tolist():
                arc, pledge = int(arcs[position]), int(pledge_of[position])
                units_needed = float(cover[position])
                own = float(result[arc])
                if units_needed > spare[pledge] + own + _TOL:
                    continue  # a need taken before this one in the round used the spare units
                np.add.at(spare, arc_pledge[lines], result[lines])
                result[lines] = 0.0
                result[arc] = units_needed
                spare[pledge] -= units_needed
                accepted += 1
                break
        if accepted == 0:
            break
        changed = True
    return result if changed else units


def fewer_unit_days(block: FlowBlock, units: FloatArray) -> FloatArray:
    """:func:`consolidate`, then the units it freed given to needs still short (:func:`rounding.greedy_repair`),
    until consolidating saves nothing more (at most ``REPAIR_ROUNDS`` times); ``units`` itself when nothing
    saves. Freed loose units left idle beside a short need would cost it people, and a re-plan, whose kept
    lines are repaired the same way, would give them out and move lines with nothing changed."""
    result = units
    for _ in range(REPAIR_ROUNDS):
        fewer = consolidate(block, result)
        if fewer is result:
            break
        result = greedy_repair(block, fewer).units
    return result


__all__ = ["consolidate", "fewer_unit_days"]
