"""The first pass over one block: its exact lexicographic LP optimum by min-cost flows
(:mod:`aidpack.allocation.flow`) and, where that sends fractions of whole units, its roundings
(:mod:`aidpack.allocation.rounding`, :mod:`aidpack.allocation.packs`, the pattern LP of
:mod:`aidpack.allocation.patterns`) and a whole-unit bound that no plan of whole units beats
(:func:`_whole_unit_bound`). Blocks are independent: the plan's first pass runs them on two processes
(:mod:`aidpack.allocation.split`), each result pickled back without its block (:func:`first_pass_parts`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from aidpack.allocation.block_state import BlockOutcome, BlockState
from aidpack.allocation.bounds import (
    count_bound,
    count_transit_bound,
    has_oversize,
    lex_least,
    step_bound,
    whole_unit_bound,
)
from aidpack.allocation.choice import KEPT_MIN_GAIN, first_short
from aidpack.allocation.flow import FlowBlock, FlowResult, FlowUnsupported, block_is_whole, solve_flow_block
from aidpack.allocation.packs import one_pack_size, pack_flow, size_descents
from aidpack.allocation.patterns import MAX_PATTERNS, pattern_lp_round, pattern_model
from aidpack.allocation.problem import FloatArray, IntArray
from aidpack.allocation.rounding import (
    Rounded,
    beats_kept,
    better_plan,
    block_tier_values,
    coarse_fine_round,
    greedy_round,
    kept_round,
    lex_better,
    matched_round,
    size_classes,
    tier_gaps,
    transit_of,
)
from aidpack.allocation.solve import SolveOptions
from aidpack.allocation.split import Ahead

#: The first pass rounds a block's pattern LP where it has at most this many patterns, or as many as its arcs.
FIRST_PASS_PATTERNS = 1_000
#: A block of at least this many arcs makes its last ``INDEPENDENT_ROUNDINGS`` roundings in a forked child (see
#: :func:`_round`).
AHEAD_ARCS = 200_000
INDEPENDENT_ROUNDINGS = 3
#: The largest block whose oversize bound the first pass computes (see :func:`_whole_unit_bound`; HiGHS's column
#: generation: a 40,617-arc diesel block of drums and tankers 0.27 s, 136,000 arcs of generators 0.85 s).
WHOLE_UNIT_BOUND_ARCS = 50_000


def _first_pass(
    block: FlowBlock, previous: FloatArray | None, name: str, options: SolveOptions, deadline: float | None
) -> BlockState | None:
    """The block's LP optimum by two min-cost flows and, where it sends fractions of packs, its roundings
    (None when its amounts do not fit the flow solver's integers: the caller hands it to HiGHS).

    A re-plan (``previous``: the previous plan's proposed units per arc) keeps the previous lines where no
    rounding serves people better or travels less by more than the final gap (:func:`rounding.beats_kept`).
    Unchanged data must give them back, so they are first compared with the roundings a fresh plan makes
    (from the LP without the previous plan's tie-break: the same candidates its own plan was chosen from).
    Only when those beat them (the block's data changed) are the roundings of the LP nearest the previous
    plan tried too, so that the new plan moves no more than it must; when the previous lines no longer fit
    as they were, the block changed for sure and those are tried alone.

    Where the chosen rounding falls short of the LP's tiers, the block's bound is its whole-unit bound
    (:func:`_whole_unit_bound`; ``deadline``: the plan's, a perf_counter() time, or None).
    """
    started = time.perf_counter()
    # The previous lines of a block with packs (a divisible one keeps them by the flow's tie-break alone).
    kept = kept_round(block, previous) if previous is not None and block.is_integer else None
    # Lines that no longer fit as they were (a pledge shrank, a need's quantity changed, units were left over):
    # the block changed, and the roundings of the LP nearest the previous lines are tried alone (1e6 bench, a
    # fifth of the needs grown by half: the re-plan took 3.54 s with the fresh roundings too, 2.76 s without,
    # the same lines moved and the same people served; a fresh plan 2.46 s).
    changed = kept is not None and previous is not None and bool(np.any(np.abs(kept.units - previous) > 1e-9))
    try:
        flow = solve_flow_block(block, previous=previous if kept is None or changed else None)
    except FlowUnsupported:
        return None
    flow_seconds = time.perf_counter() - started
    entry: dict[str, float | str | int] = {
        "capability": name, "arcs": block.n_arcs, "stage": "flow", "seconds": round(flow_seconds, 4),
    }
    factor = block.factor[block.arc_pledge]
    # A re-plan's kept lines give way only to a plan serving some tier better by more than the tier gap of the block's
    # LP bound, and by a person at least (as HiGHS's plans, choice.kept_room; QA's unseen 'late', water: a re-plan with
    # nothing changed swapped two 9-litre packs against loose litres over 18 lines for 0.167 critical-tier people).
    room = np.maximum(options.tier_gap * flow.tier_values, KEPT_MIN_GAIN)

    def nearest() -> FlowResult:
        """The LP optimum nearest the previous lines (their arcs preferred among plans of equal transit)."""
        return solve_flow_block(block, previous=previous)

    if not block.is_integer or block_is_whole(block, flow.amount):
        units, method = _whole_units(block, flow.amount), "flow"
        if kept is not None:
            if not beats_kept(block, Rounded(units=units, tier_values=flow.tier_values), kept, options.final_gap,
                              room=room):
                units, method = kept.units, "flow+kept"  # the LP's optimum is whole, and no better than them
            elif not changed and block_is_whole(block, (near_lp := nearest()).amount):
                units = _whole_units(block, near_lp.amount)
        outcome = BlockOutcome(block.capability, block.edge_ids, units, flow.tier_values,
                               other_gap=flow.transit_gap, method=method, log=[entry], lp_bound=flow.tier_values,
                               flow_seconds=flow_seconds)
        return BlockState(block, outcome)
    if one_pack_size(block):
        return _one_size(block, flow, previous, kept, options.final_gap, entry, room)
    lp_transit = transit_of(block, flow.amount / factor)
    counted = count_bound(block, flow.tier_values)
    # A block large enough to hold up the first pass on its own has its step bound made by a forked child while this
    # process rounds it (used only if its rounding falls short of the LP, see _whole_unit_bound; else the child is
    # stopped): QA's 'bulk' shape, a 396,229-arc diesel block, 3.67 s in one process, of which the step bound 0.72 s.
    stepped = Ahead([lambda: step_bound(block)]) if block.size >= AHEAD_ARCS else None
    rounded, candidates = _round(block, flow, previous if changed else None, options, lp_transit, counted)
    if kept is not None and changed:
        rounded = rounded if beats_kept(block, rounded, kept, options.final_gap, room=room) else kept
        candidates = [kept, *candidates]
    elif kept is not None:
        if not beats_kept(block, rounded, kept, options.final_gap, room=room):
            rounded, candidates = kept, [kept, *candidates]
        else:
            fresh, near_flow = rounded, nearest()
            near, near_candidates = _round(block, near_flow, previous, options, lp_transit, counted)
            rounded = near if beats_kept(block, near, kept, options.final_gap, room=room) else kept
            if lex_better(fresh.tier_values, rounded.tier_values):
                rounded = fresh
            else:
                flow = near_flow
            # The kept lines first, so that the plan's choice prefers them on ties too.
            candidates = [kept, *near_candidates, *candidates]
    entry["rounding_gap"] = float(tier_gaps(flow.tier_values, rounded.tier_values).max(initial=0.0))
    bound = _whole_unit_bound(block, flow, rounded, options.tier_gap, deadline, entry, counted, stepped)
    outcome = BlockOutcome(block.capability, block.edge_ids, rounded.units, bound,
                           other_gap=flow.transit_gap, method=f"flow+{rounded.method}", log=[entry],
                           lp_bound=flow.tier_values, flow_seconds=flow_seconds)
    state = BlockState(block, outcome, flow.amount, rounded, candidates, lp_transit=lp_transit, kept=kept)
    if entry.get("bound") == "count" and entry.get("bound_gap") == 0.0:
        # At its packs' count bound, where no plan serves the tiers better (a HiGHS plan replacing it would serve the
        # same tiers, which the bound is for): its unit-days bounded by the nearest need of as many packs.
        state.transit_bound = count_transit_bound(block, rounded.tier_values)
    return state


def _one_size(
    block: FlowBlock,
    flow: FlowResult,
    previous: FloatArray | None,
    kept: Rounded | None,
    final_gap: float,
    entry: dict[str, float | str | int],
    room: FloatArray,
) -> BlockState:
    """A block of one pack size whose LP optimum splits packs: its exact whole-unit optimum by two flows
    (:mod:`aidpack.allocation.packs`), which bounds its tiers in place of the LP's (no rounding, no HiGHS).
    A re-plan keeps the previous lines unless the optimum beats them (the flows prefer them on ties)."""
    started = time.perf_counter()
    units = pack_flow(block, previous)
    optimum = Rounded(units=units, tier_values=block_tier_values(block, units), method="packs")
    chosen = optimum
    if kept is not None and not beats_kept(block, optimum, kept, final_gap, room=room):
        chosen = kept
    entry["rounding_gap"] = float(tier_gaps(flow.tier_values, chosen.tier_values).max(initial=0.0))
    entry["packs_seconds"] = round(time.perf_counter() - started, 4)
    outcome = BlockOutcome(block.capability, block.edge_ids, chosen.units, optimum.tier_values,
                           method=f"flow+{chosen.method}", log=[entry], lp_bound=flow.tier_values)
    return BlockState(block, outcome)


def _whole_units(block: FlowBlock, amount: FloatArray) -> FloatArray:
    """A whole LP optimum (capability units per arc) in pledge units, indivisible ones exactly whole."""
    units = amount / block.factor[block.arc_pledge]
    whole: FloatArray = np.where(block.integer[block.arc_pledge], np.rint(units), units)
    return whole


def _round(
    block: FlowBlock,
    flow: FlowResult,
    previous: FloatArray | None,
    options: SolveOptions,
    lp_transit: float,
    counted: FloatArray | None = None,
) -> tuple[Rounded, list[Rounded]]:
    """The best of the block's roundings of the LP optimum ``flow`` (previous plan: its tie-breaks), and all
    of them. A rounding that reaches the LP's tiers and transit (within the final gap), or the tiers of the block's
    count bound (``counted``, :func:`bounds.count_bound`: no whole-unit plan serves them better), ends the search."""
    if block_is_whole(block, flow.amount):
        whole = Rounded(units=_whole_units(block, flow.amount), tier_values=flow.tier_values, method="flow")
        return whole, [whole]

    def short_tier() -> int:
        return first_short(flow.tier_values, candidates[0])

    def spill_dominates() -> bool:
        """Whether spilling among the first short tier's needs served every tier at least as well as no spill
        (then spilling among all tiers alike is not tried)."""
        spilt, plain = candidates[1].tier_values, candidates[0].tier_values
        return bool(np.all(spilt >= plain - 1e-6 * np.maximum(np.abs(plain), 1.0)))

    def spills() -> bool:
        """Whether matched rounding left packs without room, or gave packs to needs of a tier after the first
        short one (else spilling them changes nothing)."""
        return candidates[0].unplaced > 0 or candidates[0].latest_packed_tier > short_tier()

    roundings: list[Callable[[], Rounded | None]] = [
        lambda: matched_round(block, flow.amount, previous),
        lambda: matched_round(block, flow.amount, previous, spill=True, spill_tier=short_tier())
        if spills() else None,
        # Spilt among all tiers alike, unless spilling among the first short tier's needs lost nothing anywhere
        # (1e6 bench, generators: packs spilt among critical needs first served the critical tier 277 people
        # more and the high tier 9,378 fewer; the critical tier was within its gap, and spilt among all tiers
        # the generators serve the low tier 100,000 people more). No second try for needs of earlier tiers left
        # short: the spill among the first short tier's needs gives them their packs already. Only where matched
        # rounding left packs without room: else there is nothing to spill, every tier may take packs by room as
        # without a spill, and the plan is matched rounding's own (QA's unseen 'late' scenario: 3 of its 4 largest
        # rounded blocks made it again, 0.1-0.5 s each).
        lambda: matched_round(block, flow.amount, previous, spill=True, second_try=False)
        if candidates[0].unplaced > 0 and short_tier() < 3 and not spill_dominates() else None,
        # The first short tier's needs take the smallest coarse size up to their whole quantity (their last pack
        # overshooting) when the loose units are too few for their remainders: tried only where matched rounding
        # gave packs to a later tier's needs (tried wherever a tier was short, it never won on the national
        # bench and took 0.02 s of the first pass at 1e5; now 2 of its 61 matched roundings).
        lambda: replace(matched_round(block, flow.amount, previous, ceil_tier=short_tier()), method="matched-ceil")
        if short_tier() < 3 and candidates[0].latest_packed_tier > short_tier() else None,
        # Packs placed where the LP sent them, then nearest, whatever the needs' levels (:func:`_near_round`); from the
        # first tier matched rounding leaves short, so not among the roundings a forked child makes. On a block of at
        # least AHEAD_ARCS arcs only where matched rounding leaves a tier short of the LP: for unit-days alone it
        # holds up the first pass (the 1.85e6-edge national bench scenario, seed 7: 0.35 s more for its 284,183-arc
        # diesel block, the same plan; QA's 'late' shape: a 328,713-arc power block that matched rounding leaves
        # short, where it finds 10,288 high-tier people).
        lambda: _near_round(block, flow, previous, short_tier())
        if block.size < AHEAD_ARCS or not reaches_lp_tiers(candidates[0]) else None,
        # With one pack size only (every pledge fine), it re-solves the same flow as matched rounding did.
        lambda: coarse_fine_round(block, flow.amount, previous, extras=True, passes=1)
        if not bool(size_classes(block)[1].all()) else None,
        lambda: greedy_round(block, flow.amount, previous),
        # A block of a few whole pack sizes: its pattern LP, stage by stage, rounded to whole patterns.
        # Its patterns may outnumber its arcs up to FIRST_PASS_PATTERNS: the choice between the pattern MIP and the
        # arc MIP (engine_patterns) weighs two MIPs, and this is one LP of milliseconds (an 8-arc generator block of
        # 5, 100 and 176 kW: its pattern LP rounding is the whole-unit optimum, 381.3 high-tier people where the other
        # roundings serve 354.0; a 28-arc one for seven sites: 1,481.4 medium-tier people of the optimum's 1,487.5,
        # where they lose more than 1 %).
        lambda: pattern_lp_round(block, patterns, SolveOptions())
        if (patterns := pattern_model(block, max_patterns=min(max(block.size, FIRST_PASS_PATTERNS), MAX_PATTERNS)))
        else None,
    ]

    def reaches_lp_tiers(candidate: Rounded) -> bool:
        return float(tier_gaps(flow.tier_values, candidate.tier_values).max(initial=0.0)) == 0.0

    def reaches_lp(candidate: Rounded) -> bool:
        """The LP's tiers and transit in whole units: no other rounding can do better."""
        return reaches_lp_tiers(candidate) and (transit_of(block, candidate.units)
                                                <= lp_transit * (1 + options.final_gap))

    def reaches_count(candidate: Rounded) -> bool:
        """The count bound's tiers: no whole-unit plan serves the tiers better, and only a descent from it, for its
        unit-days, is left to try (QA's 'bulk' shape: a 192,501-arc power block of 447 turbines for 1,589 needs took
        1.47 s of roundings and descents from three starts for the plan its first rounding had)."""
        return counted is not None and float(tier_gaps(counted, candidate.tier_values).max(initial=0.0)) == 0.0

    candidates: list[Rounded] = []
    # The roundings after the matched ones depend on none before them: for a block large enough to hold up the first
    # pass on its own, a forked child makes them while this process makes the matched ones (the unseen 1.6e6 scenario,
    # seed 71: its 566,842-arc diesel block took 2.0 s in one process while the other did every other block in 1.5 s;
    # the three roundings were 0.29 s of it).
    independent = len(roundings) - INDEPENDENT_ROUNDINGS
    ahead = Ahead(roundings[independent:]) if block.size >= AHEAD_ARCS else None
    made: list[Rounded | None] | None = None
    for k, rounding in enumerate(roundings):
        if ahead is not None and k >= independent:
            made = ahead.results() if made is None else made
            candidate = made[k - independent]
        else:
            candidate = rounding()
        if candidate is None:
            continue
        candidates.append(candidate)
        if reaches_lp(candidate) or reaches_count(candidate):
            break
    if ahead is not None and made is None:
        ahead.cancel()
    rounded = candidates[0]
    for candidate in candidates[1:]:
        if better_plan(block, candidate, rounded):
            rounded = candidate
    if float(tier_gaps(flow.tier_values, rounded.tier_values).max(initial=0.0)) > 0.0:
        # Roundings keep the LP's split packs where they were; coordinate descent over the pack sizes, each
        # solved exactly given the others, moves them: from the best rounding, from packs placed where they fit
        # whole, and from the rounding that serves the most people in all (the 1e6 bench's generators: the spilt
        # matched rounding left 277 critical-tier people short for 73,000 more low-tier ones than the best; the
        # descent from it gives the critical ones back and keeps most of the low tier, 568,539 low-tier people
        # against 492,738 from the best rounding, where HiGHS's MIP reached 569,490 in 20 s). From every rounding:
        # the same plans on the bench, 0.2 s longer at 1e6.
        most = max(candidates, key=lambda c: float(c.tier_values.sum()))  # skipped when it is the best
        # A best rounding already within the tier gap of the LP in every tier descends from itself only: the other
        # starts cost twice as much again for little (QA's unseen 'late' scenario, 1.94e6 edges, supply x0.35: 16 of
        # its 27 rounded blocks, whose descents took 10.2 s of a 27-s first pass; the first descent still polishes).
        within = float(tier_gaps(flow.tier_values, rounded.tier_values).max(initial=0.0)) <= options.tier_gap \
            or reaches_count(rounded)
        # A descent that reaches the LP's tiers ends them: the other starts could only travel less, and they cost
        # seconds on a large block (1.85e6 bench, seed 44: a 652,534-arc diesel block's first descent reached
        # them; the next, from packs placed where they fit whole, took 2.1 s for 397,000 fewer low-tier people).
        for descended in size_descents(block, rounded.units, previous, also=[most.units],
                                       enough=(lambda _: True) if within else reaches_lp_tiers,
                                       ahead=block.size >= AHEAD_ARCS and not within):
            candidates.append(descended)
            if better_plan(block, descended, rounded):
                rounded = descended
    return rounded, candidates


def _near_round(block: FlowBlock, flow: FlowResult, previous: FloatArray | None, short: int) -> Rounded:
    """Matched rounding with packs placed near (:func:`rounding.matched_round`, ``near``: where the LP sent their
    size, then nearest, among needs with room of any level) among the needs up to tier ``short`` (the first that
    matched rounding leaves short of the LP, the last when none), the rest spilt; where that is short of the LP's
    tiers, among the needs up to the tier before it; the better of the two.

    Placed by level first, packs travel to the best-level needs wherever they are and the loose units to the others.
    The 1e6 bench: 13,206,710 unit-days -> 12,139,362 with this rounding beside the others, every tier the same (its
    water block: 6,467,967 -> 5,668,031, its medicines block 855,671 -> 744,928, both at the LP's tiers); the 1e5 bench
    5,413,912 -> 5,357,727. QA's 'late' shape at 1.57e6 edges: 10,461 more high-tier people (its tier 1.5e-2 short of
    its bound, now 1.25e-2) and 1,685 more medium-tier ones, 0.2 % more unit-days; 'strike': 355 more high-tier
    people, 2.8 % fewer unit-days; 'longtail': 76,692 more low-tier people (0.66 % of the tier), 1.8 % fewer
    unit-days. It costs 0.03-0.07 s of the 1e5 and 1e6 plans, 0.5-0.8 s of QA's 1.5e6-edge giant and longtail shapes
    (the former gains nothing). Tried first without the spill, then from that plan's first short tier and the one
    before: 0.3 s more at 1e6 for 700 unit-days fewer, in a forked child on large blocks 1 s more on 'giant'."""
    def placed(tier: int) -> Rounded:
        return replace(matched_round(block, flow.amount, previous, near=True, spill=True, spill_tier=tier,
                                     second_try=False), method="matched-near")

    best = placed(short)
    if short > 0 and float(tier_gaps(flow.tier_values, best.tier_values).max(initial=0.0)) > 0.0:
        before = placed(short - 1)
        if better_plan(block, before, best):
            best = before
    return best


#: A block's first pass, less the block itself and its edge ids (which the caller has): what a forked child
#: sends back (see :mod:`aidpack.allocation.split`).
FirstPassParts = tuple[BlockOutcome, FloatArray | None, Rounded | None, list[Rounded], float, Rounded | None,
                       float | None]
_NO_IDS: IntArray = np.zeros(0, dtype=np.int64)


def first_pass_parts(
    block: FlowBlock, previous: FloatArray | None, name: str, options: SolveOptions, deadline: float | None
) -> FirstPassParts | None:
    stage = _first_pass(block, previous, name, options, deadline)
    if stage is None:
        return None
    stage.outcome.edge_ids = _NO_IDS
    return (stage.outcome, stage.amount, stage.rounded, stage.candidates, stage.lp_transit, stage.kept,
            stage.transit_bound)


def _whole_unit_bound(
    block: FlowBlock,
    flow: FlowResult,
    rounded: Rounded,
    tier_gap: float,
    deadline: float | None,
    entry: dict[str, float | str | int],
    counted: FloatArray | None = None,
    stepped: Ahead[FloatArray | None] | None = None,
) -> FloatArray:
    """The block's bound per tier: its LP optimum (``flow``), or where ``rounded`` falls short of it by more than
    the tier gap, the lexicographically least of it and the whole-unit bounds, which no whole-unit plan beats
    and which the LP overstates there: the step bound (:func:`bounds.step_bound`, a flow: any block), the count
    bound (``counted``, :func:`bounds.count_bound`: a block of packs only, fewer than its needs) and, where
    some of its packs exceed needs they reach, the oversize bound (:func:`bounds.whole_unit_bound`, HiGHS: blocks
    of at most ``WHOLE_UNIT_BOUND_ARCS`` arcs, within the plan's ``deadline``). Each bounds the block's
    lexicographic whole-unit optimum. In the first pass, so that a large block's bound is computed in parallel
    with the other blocks (scarce 1e5 scenario, seed 3, supply x0.5: a 40,617-arc diesel block's medium tier
    482,682 -> 454,306 people in 0.27 s, against 451,463 served; the 1e6 bench's 136,000-arc generator block's
    step bound 0.16 s)."""
    short = float(tier_gaps(flow.tier_values, rounded.tier_values).max(initial=0.0)) > tier_gap
    # A plan at the count bound's tiers is proved: no other bound can be tighter there (QA's 'bulk' shape: the step
    # bound of a 192,501-arc power block, 0.4 s).
    wanted = short and (counted is None or float(tier_gaps(counted, rounded.tier_values).max(initial=0.0)) > 0.0)
    if stepped is not None and not wanted:
        stepped.cancel()
    if not short:
        return flow.tier_values
    found = {"count": counted}
    if wanted:
        found["step"] = stepped.results()[0] if stepped is not None else step_bound(block)
        if block.size <= WHOLE_UNIT_BOUND_ARCS and has_oversize(block) and (deadline is None
                                                                              or time.perf_counter() < deadline):
            found["oversize"] = whole_unit_bound(block, flow.amount > 0, deadline)
    bound = lex_least([flow.tier_values, *(b for b in found.values() if b is not None)])
    for name, value in found.items():
        if value is bound:
            entry["bound"] = name
            entry["bound_gap"] = float(tier_gaps(bound, rounded.tier_values).max(initial=0.0))
    return bound
