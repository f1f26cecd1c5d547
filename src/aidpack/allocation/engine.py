"""The engine as one pure function: Problem → edges → blocks → lexicographic solves → lines → reasons.

Blocks (one per capability) are solved in parallel (:mod:`aidpack.allocation.blocks`): exactly by two
integer min-cost flows, indivisible units made whole by rounding and, where rounding loses more than
the tier gap against the LP bound, by HiGHS MIP; or all by HiGHS (``SolveOptions(method="highs")``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from threadpoolctl import threadpool_limits

from aidpack.allocation.block_state import BlockOutcome
from aidpack.allocation.blocks import Previous, previous_units, solve_blocks
from aidpack.allocation.explain import Shortfall, explain
from aidpack.allocation.model import UNIT_EPSILON, Edges
from aidpack.allocation.models import Termination
from aidpack.allocation.pooling import pooled_candidate_edges
from aidpack.allocation.problem import TIER_NAMES, BoolArray, FloatArray, IntArray, Problem
from aidpack.allocation.rounding import tier_gaps
from aidpack.allocation.solve import SolveOptions

#: Quantities leave the solver rounded to the stored precision (six decimals) or to whole units.
DECIMALS = 6
#: A need is short when what its lines bring falls below its open quantity by more than half the stored precision
#: (what six decimals report as less), or by more than float64 can tell at its size (its spacing there, times
#: COVER_ULPS for the sums of rounded amounts). It was a share, 1e-6 × the quantity: at 999,999,999,999 kg a need
#: 999 kg short (QA's edge2) counted as covered and had no reason, though the plan reported it short.
COVER_TOLERANCE = 0.5 * 10.0**-DECIMALS
COVER_ULPS = 16
#: A divisible line bringing its need less than this share of it, and less than SLIVER_UNITS, is no line (see
#: :func:`polish`).
SLIVER = 1e-6
SLIVER_UNITS = 1.0
#: From here on, x × 10**DECIMALS is no longer exact in float64 (2**53 / 10**6 / 64, about 1.4e8), and NumPy's
#: round(x, 6), which scales by 10**6, leaves noise: 999,999,999,999 came out as 999,999,999,999.0001, more units
#: than the pledge had (QA's edge4csv). Such values are rounded by Python's correctly rounded round() instead.
ROUND_EXACT_BELOW = 2.0**53 / 10**DECIMALS / 64
#: BLAS threads while the engine runs. NumPy's OpenBLAS starts one thread per core and keeps it spinning
#: after each call (the engine calls it for dot products such as transit @ units), so a single process used 1.8 cores of
#: CPU for one core's work (1e5 bench, first pass: 0.52 s of CPU in 0.29 s), and the forked child that
#: takes half the blocks (:mod:`aidpack.allocation.split`) ran beside it at half speed: split or not, the
#: first pass took 0.30 s. With one BLAS thread, 0.165 s split; at 1e6, 1.87 s -> 1.07 s. The engine's
#: parallelism is its own: the blocks on two processes, HiGHS's MIPs on two threads.
BLAS_THREADS = 1


@dataclass(frozen=True)
class Allocation:
    termination: Termination
    line_pledge: IntArray
    line_need: IntArray
    line_units: FloatArray
    line_amount: FloatArray
    line_eta: IntArray
    line_transit: IntArray
    need_covered: FloatArray  # amount the new lines bring to each need, at most its open quantity
    tier_served: FloatArray  # V_t
    tier_people: FloatArray  # Σ s_n over the tier's needs
    gap: float
    seconds: float
    shortfalls: dict[int, Shortfall]
    figures: dict[str, object] = field(default_factory=dict)


def round6(values: FloatArray) -> FloatArray:
    """``values`` rounded to the stored six decimals, also where NumPy's ``round`` would add noise (see
    ROUND_EXACT_BELOW): the nearest float to each value's six-decimal rounding."""
    rounded: FloatArray = np.round(values, DECIMALS)
    large = np.flatnonzero(np.abs(values) >= ROUND_EXACT_BELOW)
    if large.size:
        rounded[large] = [round(v, DECIMALS) for v in values[large].tolist()]
    return rounded


def _round6(value: float) -> float:
    """One value as :func:`round6` rounds it."""
    return float(np.round(value, DECIMALS)) if abs(value) < ROUND_EXACT_BELOW else round(float(value), DECIMALS)


def short_needs(demand: FloatArray, covered: FloatArray) -> BoolArray:
    """The needs that ``covered`` leaves short of ``demand`` as the plan reports them (see COVER_TOLERANCE)."""
    tolerance = np.maximum(COVER_TOLERANCE, COVER_ULPS * np.spacing(np.abs(demand)))
    result: BoolArray = demand - covered > tolerance
    return result


def round_units(problem: Problem, pledge: IntArray, raw: FloatArray) -> FloatArray:
    """Whole units for indivisible items, six decimals otherwise; never more than a pledge has."""
    units = np.where(problem.pledge_integer[pledge], np.rint(raw), round6(raw))
    units = np.maximum(units, 0.0)
    if units.size == 0:
        return units
    used = np.bincount(pledge, weights=units, minlength=problem.n_pledges)
    limit = np.where(problem.pledge_integer, np.floor(problem.pledge_supply + 1e-9), problem.pledge_supply)
    excess = used - limit
    for p in np.flatnonzero(excess > 10.0**-DECIMALS / 2):
        # Solver tolerance pushed a pledge over its units: take the excess off its largest lines.
        idx = np.flatnonzero(pledge == p)
        for i in idx[np.argsort(-units[idx], kind="stable")]:
            step = min(units[i], np.ceil(excess[p]) if problem.pledge_integer[p] else excess[p])
            units[i] -= step
            excess[p] -= step
            if excess[p] <= 10.0**-DECIMALS / 2:
                break
        units[idx] = round6(units[idx])
    return units


def polish(problem: Problem, pledge: IntArray, need: IntArray, units: FloatArray) -> FloatArray:
    """Close the hair's-breadth shortfalls that the tier-hold tolerance (1e-7) leaves on divisible lines.

    A need covered to within a millionth of its open quantity gets the rest from its largest divisible
    line whose pledge still has units, so that a plan reads 10 units, not 9.999999.
    """
    if units.size == 0:
        return units
    units = units.copy()
    # A divisible line that brings its need less than a millionth of it is float noise of the flow's scaled amounts
    # (QA: 5.3e-05 litres beside a line of 7,258.999947, together 7,259): dropped, what it leaves short closed below.
    # Noise is less than a whole unit: for a need of 999,999,999,999 kg a millionth is 1e6 kg, and QA's edge2 lost
    # a line of 999 kg of loose salt that filled it (the salt idle, the need short).
    amount = units * problem.pledge_factor[pledge]
    sliver = (amount < SLIVER * problem.need_demand[need]) & (amount < SLIVER_UNITS)
    units[~problem.pledge_integer[pledge] & sliver] = 0.0
    brought = np.bincount(need, weights=units * problem.pledge_factor[pledge], minlength=problem.n_needs)
    missing = problem.need_demand - brought
    slack = problem.pledge_supply - np.bincount(pledge, weights=units, minlength=problem.n_pledges)
    tiny = (missing > 0) & (missing <= 1e-5 * np.maximum(problem.need_demand, 1.0))
    # Lines grouped by need once (largest first within a need), rather than a scan of every line per need:
    # a divisible plan can leave thousands of needs a millionth short (1.5e6 edges: 3.4 s, now milliseconds).
    # Existing lines only: a line dropped as a sliver above stays dropped (its need a millionth short at most).
    divisible = np.flatnonzero(~problem.pledge_integer[pledge] & tiny[need] & (units > 0))
    by_need = divisible[np.lexsort((divisible, -units[divisible], need[divisible]))]
    need_starts = np.searchsorted(need[by_need], np.arange(problem.n_needs + 1))
    for n in np.flatnonzero(tiny).tolist():
        lines = by_need[need_starts[n] : need_starts[n + 1]]
        # Up to the next millionth (less float noise: 4e-6 short is 4e-6, not 5e-6).
        adds = np.ceil(missing[n] / problem.pledge_factor[pledge[lines]] * 10**DECIMALS - 1e-6) / 10**DECIMALS
        fits = np.flatnonzero(adds <= slack[pledge[lines]] + 1e-12)
        if fits.size:
            i, add = lines[fits[0]], adds[fits[0]]
            units[i] = _round6(units[i] + add)
            slack[pledge[i]] -= add
    units = _hair_from_short_needs(problem, pledge, need, units)
    # A divisible pledge left with a hair's breadth of units gives it to a short need it already serves.
    brought = np.bincount(need, weights=units * problem.pledge_factor[pledge], minlength=problem.n_needs)
    tiny_slack = (slack > 0) & (slack <= 1e-5 * np.maximum(problem.pledge_supply, 1.0)) & ~problem.pledge_integer
    by_pledge = np.argsort(pledge, kind="stable")
    pledge_starts = np.searchsorted(pledge[by_pledge], np.arange(problem.n_pledges + 1))
    for p in np.flatnonzero(tiny_slack).tolist():
        idx = by_pledge[pledge_starts[p] : pledge_starts[p + 1]]
        # Its lines only: not one dropped as a sliver above (QA: every re-plan of a barrel or water plan revived
        # 10-18 of them, lines of 1e-6 units to needs the pledge did not serve).
        short = idx[(brought[need[idx]] < problem.need_demand[need[idx]]) & (units[idx] > 0)]
        if short.size:
            i = short[np.argmax(units[short])]
            room = (problem.need_demand[need[i]] - brought[need[i]]) / problem.pledge_factor[p]
            add = np.floor(min(slack[p], room) * 10**DECIMALS + 1e-6) / 10**DECIMALS
            units[i] = _round6(units[i] + add)
            brought[need[i]] += add * problem.pledge_factor[p]
    return _trim_overshoot(problem, pledge, need, units)


def _hair_from_short_needs(problem: Problem, pledge: IntArray, need: IntArray, units: FloatArray) -> FloatArray:
    """A need still a hair short (at most 1e-5 of it) whose pledges have nothing left gets the rest from a line of the
    same divisible pledge to a need that stays short anyway, of a later tier or of the same tier and no more people
    per unit, so that no tier serves fewer people. A fair plan's LP, which holds each tier to 1e-7 of its optimum,
    had moved 0.0006 of 6,000 litres from each of 112 of the demo's fuel needs to needs it could not fill: lines of
    5,999.9994 litres."""
    brought = np.bincount(need, weights=units * problem.pledge_factor[pledge], minlength=problem.n_needs)
    missing = problem.need_demand - brought
    hair = 1e-5 * np.maximum(problem.need_demand, 1.0)
    tiny = np.flatnonzero((missing > 0) & (missing <= hair))
    divisible = np.flatnonzero(~problem.pledge_integer[pledge] & (units > 0))
    if tiny.size == 0 or divisible.size == 0:
        return units
    units = units.copy()
    weight = problem.need_people / np.maximum(problem.need_demand, 1e-12)
    by_pledge = divisible[np.argsort(pledge[divisible], kind="stable")]
    pledge_starts = np.searchsorted(pledge[by_pledge], np.arange(problem.n_pledges + 1))
    # Each need's divisible lines, largest first, grouped once (as polish groups them).
    by_need = divisible[np.lexsort((divisible, -units[divisible], need[divisible]))]
    need_starts = np.searchsorted(need[by_need], np.arange(problem.n_needs + 1))
    for n in tiny.tolist():
        for i in by_need[need_starts[n] : need_starts[n + 1]].tolist():
            p = int(pledge[i])
            add = float(np.ceil(missing[n] / problem.pledge_factor[p] * 10**DECIMALS - 1e-6) / 10**DECIMALS)
            others = by_pledge[pledge_starts[p] : pledge_starts[p + 1]]
            m = need[others]
            tier_n = problem.need_tier[n]
            gives = others[(m != n) & (missing[m] - add * problem.pledge_factor[p] > hair[m]) & (units[others] >= add)
                           & ((problem.need_tier[m] > tier_n)
                              | ((problem.need_tier[m] == tier_n) & (weight[m] <= weight[n])))]
            if gives.size == 0:
                continue
            # The least valuable: the latest tier, then the fewest people per unit.
            j = int(gives[np.lexsort((weight[need[gives]], -problem.need_tier[need[gives]]))[0]])
            units[j] = np.round(units[j] - add, DECIMALS)
            units[i] = np.round(units[i] + add, DECIMALS)
            moved = add * problem.pledge_factor[p]
            missing[need[j]] += moved
            missing[n] -= moved
            break
    return units


def _trim_overshoot(problem: Problem, pledge: IntArray, need: IntArray, units: FloatArray) -> FloatArray:
    """A need brought more than it asks gives the excess of its divisible lines back, smallest line first, to the
    millionth (QA: a line of 1e-05 litres to a need its 20-litre cans already filled, and 4,639.000001 litres where
    4,639 filled the need): the pledge keeps the units, and no line is a sliver."""
    brought = np.bincount(need, weights=units * problem.pledge_factor[pledge], minlength=problem.n_needs)
    excess = brought - problem.need_demand
    divisible = ~problem.pledge_integer[pledge] & (units > 0)
    over = np.flatnonzero(excess > 10.0**-DECIMALS / 2)
    if over.size == 0 or not divisible.any():
        return units
    candidates = np.flatnonzero(divisible & np.isin(need, over))
    for i in candidates[np.lexsort((candidates, units[candidates], need[candidates]))].tolist():
        n, factor = int(need[i]), float(problem.pledge_factor[pledge[i]])
        # Down to the millionth, so that the need keeps at least what it asks.
        back = min(float(units[i]), np.floor(excess[n] / factor * 10**DECIMALS + 1e-6) / 10**DECIMALS)
        if back <= 0:
            continue
        units[i] = _round6(units[i] - back)
        excess[n] -= back * factor
    return units


def allocate(problem: Problem, options: SolveOptions | None = None, previous: Previous | None = None) -> Allocation:
    """The plan for ``problem``. ``previous`` (the last plan's proposed lines) is kept where plans tie."""
    with threadpool_limits(limits=BLAS_THREADS, user_api="blas"):
        return _allocate(problem, options or SolveOptions(), previous)


def _allocate(problem: Problem, options: SolveOptions, previous: Previous | None) -> Allocation:
    started = time.perf_counter()
    deadline = None if options.time_limit is None else started + options.time_limit
    # Identical pledges (one capability, pack size, hub and start day) as one supply (:mod:`pooling`).
    edges, pool = pooled_candidate_edges(problem)
    keep = previous_units(problem, edges, previous)
    built = time.perf_counter()
    if pool is None:
        outcomes, block_figures = solve_blocks(problem, edges, options, deadline, keep)
    else:
        pooled_keep = None if keep is None else pool.pooled(keep)
        outcomes, block_figures = solve_blocks(pool.problem, pool.edges, options, deadline, pooled_keep,
                                               edge_weight=pool.edge_weight)
        outcomes = pool.spread(problem, outcomes, keep)
        block_figures["pools"] = pool.problem.n_pledges
        block_figures["pooled_edges"] = len(pool.edges)
    solved = time.perf_counter()
    return _assemble(problem, edges, options, outcomes, block_figures, previous, started, built, solved)


def _assemble(
    problem: Problem,
    edges: Edges,
    options: SolveOptions,
    outcomes: list[BlockOutcome],
    block_figures: dict[str, object],
    previous: Previous | None,
    started: float,
    built: float,
    solved: float,
) -> Allocation:
    termination = Termination.OPTIMAL
    for outcome in outcomes:
        if outcome.termination in (Termination.ERROR, Termination.INFEASIBLE):
            termination = outcome.termination
            break
        if outcome.termination is Termination.TIME_LIMIT:
            termination = Termination.TIME_LIMIT

    edge_ids = np.concatenate([o.edge_ids for o in outcomes]) if outcomes else np.zeros(0, dtype=np.int64)
    raw = np.concatenate([o.units for o in outcomes]) if outcomes else np.zeros(0)
    # Only the arcs that carry units become lines (a national plan: 25,000 of 1.6 million candidate edges);
    # rounding and polishing the rest took 0.09 s of the unseen 1.6e6-edge scenario's plan (seed 71: 0.152 s of
    # extract against 0.065 s).
    sent = raw > 0
    edge_ids, raw = edge_ids[sent], raw[sent]
    pledge = edges.pledge[edge_ids]
    units = polish(problem, pledge, edges.need[edge_ids], round_units(problem, pledge, raw))
    keep = units > 10.0**-DECIMALS / 2
    edge_ids, units = edge_ids[keep], units[keep]
    # Deterministic order: by need ref, then pledge ref (arrays are already sorted by ref).
    order = np.lexsort((edges.pledge[edge_ids], edges.need[edge_ids]))
    edge_ids, units = edge_ids[order], units[order]
    line_pledge, line_need = edges.pledge[edge_ids], edges.need[edge_ids]
    line_amount = np.round(units * problem.pledge_factor[line_pledge], DECIMALS)

    brought = np.bincount(line_need, weights=line_amount, minlength=problem.n_needs)
    covered = np.minimum(brought, problem.need_demand)
    fraction = np.divide(covered, problem.need_demand, out=np.zeros_like(covered), where=problem.need_demand > 0)
    tier_served = np.bincount(problem.need_tier, weights=problem.need_people * fraction, minlength=4)[:4].astype(float)
    tier_people = np.bincount(problem.need_tier, weights=problem.need_people, minlength=4)[:4].astype(float)
    short = short_needs(problem.need_demand, covered)
    shortfalls = explain(problem, edges, short, line_pledge, line_need, line_amount)

    # The bound on each tier: the LP optimum where a block was rounded, the proved MIP bound where HiGHS
    # proved one, the exact value where the flow was already whole.
    bound = np.sum([o.tier_bound for o in outcomes], axis=0) if outcomes else np.zeros(4)
    tier_gap = tier_gaps(bound, tier_served, tier_people)
    # The LP optimum alone (before HiGHS proved tighter bounds for some blocks): the bench compares with it.
    lp_bound = np.sum([o.tier_bound if o.lp_bound is None else o.lp_bound for o in outcomes], axis=0) \
        if outcomes else np.zeros(4)
    # The last objective: unit-days in transit above what was proved for them, relative to the plan's.
    plan_transit = float((edges.transit[edge_ids] + UNIT_EPSILON) @ units)
    transit_gap = min(1.0, sum(o.transit_excess for o in outcomes) / max(plan_transit, 1.0))
    other_gap = max([transit_gap] + [o.other_gap for o in outcomes])
    gap = max(float(tier_gap.max(initial=0.0)), other_gap)
    if options.method == "highs":
        # HiGHS proved its own stage gaps; the bound here is only what it reached.
        gap = max(o.other_gap for o in outcomes) if outcomes else 0.0
    elif termination is Termination.OPTIMAL and (
        float(tier_gap.max(initial=0.0)) > options.tier_gap or other_gap > options.final_gap
    ):
        # Indivisible units could not be proved within the tier gap (or transit within the final gap) in the
        # time given.
        termination = Termination.TIME_LIMIT
    moved = moved_units(previous, line_pledge, line_need, units)
    finished = time.perf_counter()
    return Allocation(
        termination=termination,
        line_pledge=line_pledge,
        line_need=line_need,
        line_units=units,
        line_amount=line_amount,
        line_eta=edges.eta[edge_ids],
        line_transit=edges.transit[edge_ids],
        need_covered=covered,
        tier_served=tier_served,
        tier_people=tier_people,
        gap=gap,
        seconds=finished - started,
        shortfalls=shortfalls,
        figures={
            "method": options.method,
            "edges": len(edges),
            **block_figures,
            "tier_bound": {name: round(float(bound[i]), 6) for i, name in enumerate(TIER_NAMES)},
            "tier_gap": {name: float(tier_gap[i]) for i, name in enumerate(TIER_NAMES)},
            "tier_lp_bound": {name: round(float(lp_bound[i]), 6) for i, name in enumerate(TIER_NAMES)},
            "transit_gap": transit_gap,
            "moved_units": moved,
            "build_seconds": round(built - started, 4),
            "solve_seconds": round(solved - built, 4),
            "extract_seconds": round(finished - solved, 4),
        },
    )


def moved_units(previous: Previous | None, pledge: IntArray, need: IntArray, units: FloatArray) -> float | None:
    """Units of the previous plan's proposed lines that this plan no longer sends the same way."""
    if previous is None:
        return None
    if previous.pledge.size == 0:
        return 0.0
    width = int(max(need.max(initial=0), previous.need.max(initial=0))) + 1
    new = dict(zip((pledge * width + need).tolist(), units.tolist(), strict=True))
    old_keys = (previous.pledge * width + previous.need).tolist()
    moved = sum(max(u - new.get(k, 0.0), 0.0) for k, u in zip(old_keys, previous.units.tolist(), strict=True))
    return round(float(moved), DECIMALS)
