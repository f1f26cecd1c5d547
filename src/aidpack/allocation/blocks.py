"""Solve every capability block by the cheapest method that is exact for it.

Per block: the exact lexicographic LP optimum by two min-cost flows (:mod:`aidpack.allocation.flow`).
Divisible blocks, and indivisible ones whose optimum already sends whole units, are done. Otherwise
the optimum is rounded several ways (:mod:`aidpack.allocation.rounding`) and one rounding per block is
chosen for the plan as a whole: a tier's gap is relative to the plan's tier, so a block may give up a
few people of an earlier tier for many of a later one within part of that gap (:func:`_choose_roundings`).
A block whose rounding falls short of its LP gets a whole-unit bound, which no plan of whole units beats
(:func:`_whole_unit_bound`). While the plan is still further than the tier gap from its bound, the blocks that
lose in the short tiers go to HiGHS MIP with their rounding as incumbent (their pattern or count model where
they have one: :mod:`aidpack.allocation.patterns`, :mod:`aidpack.allocation.counts`), within a time budget
shared by all such blocks.
HiGHS releases the GIL, so the MIP phase runs a thread per core; OR-Tools' flow solver does not, so the
flow phase of a large plan runs in two processes (:mod:`aidpack.allocation.split`).
Last, each whole-unit block's unit-days in transit are measured against the LP's (or HiGHS's proved
transit bound), and while small blocks can bring the plan within the final gap, HiGHS MIP proves their
transit too (:func:`_transit_phase`); the plan reports what remains.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import TypeVar

import numpy as np

from aidpack.allocation.bounds import (
    has_oversize,
    lex_least,
    step_bound,
    transit_hold,
    whole_unit_bound,
    whole_unit_transit_bound,
)
from aidpack.allocation.consolidation import fewer_unit_days
from aidpack.allocation.counts import count_model, count_round
from aidpack.allocation.flow import (
    FlowBlock,
    FlowResult,
    FlowUnsupported,
    block_is_whole,
    flow_blocks,
    solve_flow_block,
)
from aidpack.allocation.keep import keep_most, keep_pledges, moved_amount
from aidpack.allocation.model import Edges, build_blocks
from aidpack.allocation.models import Termination
from aidpack.allocation.packs import descend, one_pack_size, pack_flow, size_descents
from aidpack.allocation.patterns import MAX_PATTERNS, engine_patterns, pattern_lp_round, pattern_model, pattern_round
from aidpack.allocation.problem import BoolArray, FloatArray, IntArray, Problem
from aidpack.allocation.rounding import (
    EXACT,
    FULL_MIP_ARCS,
    Rounded,
    beats_kept,
    better_plan,
    block_tier_values,
    coarse_fine_round,
    exact_fine,
    greedy_round,
    kept_round,
    lex_better,
    matched_round,
    mip_round,
    size_classes,
    tier_gaps,
    transit_of,
)
from aidpack.allocation.solve import MIP_NOISE, SolveOptions, solve_block
from aidpack.allocation.split import Ahead, map_split

T = TypeVar("T")
R = TypeVar("R")
MAX_LOG = 200
#: The least time a block handed to HiGHS MIP gets (small blocks usually finish well within it).
MIN_MIP_SECONDS = 0.1
#: A restricted MIP (a block too large for the whole arc MIP) given at least ``ROUNDS_FROM_SECONDS`` spends them in
#: this many rounds, each from the plan the round before found, polished, and on its arcs too. One round of 1 s
#: left a diesel block 2,024 medium-tier people (0.5 % of the tier) short of what two rounds of 0.5 s find (a
#: 2e4-edge core scenario, seed 101, supply x0.3), which a re-plan with nothing changed then found, moving 63,286
#: litres. Each plan run three times: two scenarios of 2e4 and 3e4 edges gained 524-560 and 13-364 medium-tier
#: people; one of 3e4 lost 375 (2.7e-4 of the tier); a 1e5 scenario whose block had 0.25 s lost 753 and once
#: 11,917 with two rounds (rounds too short to find what one round of twice their length does), hence the floor.
RESTRICTED_MIP_ROUNDS = 2
ROUNDS_FROM_SECONDS = 0.5
#: The first pass rounds a block's pattern LP where it has at most this many patterns, or as many as its arcs.
FIRST_PASS_PATTERNS = 1_000
#: A block of at least this many arcs makes its last ``INDEPENDENT_ROUNDINGS`` roundings in a forked child (see
#: :func:`_round`).
AHEAD_ARCS = 200_000
INDEPENDENT_ROUNDINGS = 3
#: A plan of at most this many candidate edges (the demo has 2,522) is solved exactly, its MIPs taking milliseconds:
#: every block whose rounding loses people goes to HiGHS's MIP, not only those that lose more than the tier gap (see
#: :func:`_solve_flow`), and a re-plan's kept lines go to HiGHS's transit stage too, for its proof of their unit-days
#: (they stay unless it finds more than the final gap, :func:`rounding.beats_kept`): a re-plan with nothing changed
#: then proves what its first plan proved (QA scenarios of 3-12 needs: "time_limit", gap 0.02-0.42, for the same plan
#: the first one proved optimal). Larger plans keep their re-plans fast (the 1e4 bench's re-plan with nothing
#: changed: 0.4 s without; 1.9-2.0 s with every kept block proved, 0.9-1.0 s with those of at most 200 arcs).
EXACT_PLAN_EDGES = 5_000
#: The tier stages' relative MIP gap in such a plan: the optimum, to HiGHS's tolerances.
EXACT_MIP_GAP = 1e-9
#: How much less of a tier (relative) than its kept lines serve a re-plan's plan may serve and still count as serving
#: it as well (see :func:`_beats_kept`).
KEPT_NOISE = 1e-12
#: The least people a tier must gain for a re-plan to move its kept lines (see :func:`_kept_room`).
KEPT_MIN_GAIN = 1.0
#: A re-plan's blocks that leave their kept lines look for the plan that moves the least of them
#: (:func:`_keep_most`) in this share of the integer budget, at least ``KEEP_MOST_MIN_SECONDS``. After a fifth of the
#: needs grew by half: the 1e6 bench's generator block found its plan in 1 s, not in 0.5 s; a scarce 1e5 scenario
#: (seed 3, supply x0.5) moved 263,812 units without this step, 247,405 with 0.5 s, 189,185 with 1.5 s; the 1e5 bench
#: 314,365 without, 313,191-314,302 with (its re-plan 0.8 s, with the step 1.3-2.3 s).
KEEP_MOST_SHARE = 1.0
KEEP_MOST_MIN_SECONDS = 1.0
#: The share of each tier's gap (relative to the plan's LP bound) that a block may spend so that the tiers
#: after it gain (by choosing another rounding, or through HiGHS's holds). None: the plan is lexicographic, as SPEC §4
#: has it; a tier's gap is what the solver could not prove, never a budget to trade its people for a later tier's.
#: With half the gap to spend (sessions up to 22), the plans traded: on the demo, a critical need of 1,500 people got
#: nothing while high-tier needs took the generators it asked for; on 200 random small scenarios checked against an
#: exact lexicographic MIP, a 1-person critical need's blankets went to a high-tier one. The unseen 1.6e6 scenario
#: (seed 71) now serves the critical tier's LP bound (96 people more) and exactly the low tier HiGHS proves the
#: whole-unit optimum of (7,249,253; 14,000 fewer than the trades gave it).
SLACK_SHARE = 0.0
#: HiGHS's trades use this much of a block's share of the slack. Its slack is counted against the bounds
#: known before it runs; the plan's choice afterwards counts against the bounds it proved, which may be
#: lower, and it undoes a trade that no longer fits (Hypothesis found a block whose proved critical bound
#: was 0.25 % below its LP bound: HiGHS's trade overran the plan's budget by 8e-7 people and was undone,
#: losing the high tier).
MIP_SLACK_MARGIN = 0.9
#: Blocks beyond this many arcs go to HiGHS MIP after the others (a 730,000-arc diesel block gains nothing in
#: a fraction of a second; a 22,000-arc transformer block gains thousands of people in half a second).
LARGE_MIP_ARCS = 100_000
#: Such blocks go to HiGHS's MIP only in plans of more than LARGE_MIP_FROM_EDGES edges, for at most this
#: much per million edges beyond (:func:`large_mip_seconds`; 2e6: 0.5 s): HiGHS rarely improves them within
#: a fraction of a second, and building the restricted model of a 337,000-arc block alone takes 0.1 s.
#: 1e6 bench, seed 1: in 0.5 s the 136,000-arc generator block's MIP gains the 277 critical-tier people the
#: rounding leaves and loses 237,000 low-tier ones, so the plan keeps the rounding. Seeds 1 and 7 at 1e6 and
#: seed 1 at 2e6 served the same people in every tier with no large-block MIP as with 0.5 s per million edges
#: (engine: 1.33 -> 1.10 s, 1.78 -> 1.44 s, 3.44 -> 3.21 s). Earlier, on a machine 2.6 times slower, the
#: 2e6 bench's 730,000-arc diesel block gained 7,020 medium-tier people (3.2e-4 of the tier) with 0.75 s;
#: the core shape's 314,000-arc generator block gains nothing even in 4 s.
LARGE_MIP_SECONDS_PER_MILLION_EDGES = 0.5
LARGE_MIP_FROM_EDGES = 1_000_000
#: Beyond HiGHS's time, a large block's MIP costs about this share of what its first-pass flows took: building its
#: count or pattern model and giving the result pledges by flows over its arcs. A block for which that alone exceeds
#: its share of the budget keeps its rounding (an unseen one-capability scenario, 1.43e6 arcs in five generator
#: sizes: flows 3.7 s, model 0.6 s, pledges 0.7 s per seed; its MIP took 2.3-6.6 s of a 0.215 s share and gained
#: nothing).
LARGE_MIP_FIXED_SHARE = 0.35
#: A block's share of the MIP budget grows with its arcs up to this many.
MIP_SHARE_ARCS = 20_000
#: The largest block whose transit HiGHS MIP is asked to prove (see :func:`_transit_phase`; a 3,240-arc
#: diesel block of tankers, drums and loose litres: proved in 0.7 s, 3.3 times fewer unit-days than rounded).
TRANSIT_MIP_ARCS = 6_000
#: Plans of at least this many edges run the first pass on two processes (:mod:`aidpack.allocation.split`).
SPLIT_ARCS = 50_000
#: Rounding an indivisible block costs about this many times its flow (the weight of the split).
ROUNDING_WEIGHT = 3.0
#: A block that still loses more than this share of the plan's bound in the first tier the plan is short of, after
#: HiGHS's MIP, gets a second round of ``EXTEND_SECONDS`` (see :func:`_to_extend`). At 1e-3 (ten times the tier gap)
#: five scarce scenarios of 3e4-5e4 edges (seeds 3, 6, 10, 11, 12) each spent 2 s more; seed 3's generator block
#: gained 54,168 medium-tier people (4.1 % of the tier), the others 0 to 443 people. At 1e-2, once the count MIP
#: proved a generator block's bound, a scarce core 1e5 scenario (seed 11, supply x0.5) left 13,386 medium-tier
#: people (0.93 % of the tier) that the second round finds; at 5e-3 none of the other seven scarce scenarios tried
#: spends more.
EXTEND_LOSS = 5e-3
EXTEND_SECONDS = 2.0
#: The largest block whose oversize bound the first pass computes (see :func:`_whole_unit_bound`; HiGHS's column
#: generation: a 40,617-arc diesel block of drums and tankers 0.27 s, 136,000 arcs of generators 0.85 s).
WHOLE_UNIT_BOUND_ARCS = 50_000
#: The largest block that gets a second round of HiGHS (:func:`_to_extend`) or a whole-unit transit bound
#: (:func:`_transit_phase`).
WHOLE_UNIT_REACH_ARCS = 20_000


@dataclass(frozen=True)
class Previous:
    """The previous plan's proposed lines, as indices into the current Problem."""

    pledge: IntArray
    need: IntArray
    units: FloatArray


@dataclass
class BlockOutcome:
    capability: int
    edge_ids: IntArray
    units: FloatArray  # pledge units per edge
    tier_bound: FloatArray  # a bound on each tier's value in this block
    termination: Termination = Termination.OPTIMAL
    other_gap: float = 0.0  # gaps other than the tiers' (transit scaling, HiGHS stage gaps)
    method: str = "flow"
    log: list[dict[str, float | str | int]] = field(default_factory=list)
    lp_bound: FloatArray | None = None  # the block's LP optimum per tier, when the flows computed it
    transit_excess: float = 0.0  # unit-days in transit above the best bound proved for them (rounded blocks)
    flow_seconds: float = 0.0  # what the first pass's flows took (the block's LP optimum)


def previous_units(problem: Problem, edges: Edges, previous: Previous | None) -> FloatArray | None:
    """Per edge: the units the previous plan sent along it (0 where none)."""
    if previous is None or previous.pledge.size == 0 or len(edges) == 0:
        return None
    width = problem.n_needs + 1
    keys = edges.pledge * width + edges.need
    order = np.argsort(keys, kind="stable")
    old_keys = previous.pledge * width + previous.need
    position = np.searchsorted(keys[order], old_keys)
    found = (position < keys.size) & (keys[order][np.minimum(position, keys.size - 1)] == old_keys)
    units: FloatArray = np.zeros(len(edges))
    np.add.at(units, order[position[found]], previous.units[found])
    return units


def worker_count(options: SolveOptions) -> int:
    return options.workers if options.workers > 0 else max(1, min(2, os.cpu_count() or 1))


def parallel(fn: Callable[[T], R], items: Sequence[T], weights: Sequence[int], workers: int) -> list[R]:
    """``fn`` over ``items`` on ``workers`` threads, largest first; results in the items' order."""
    if workers <= 1 or len(items) <= 1:
        return [fn(item) for item in items]
    order = sorted(range(len(items)), key=lambda i: (-weights[i], i))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        done = list(pool.map(lambda i: fn(items[i]), order))
    results: list[R | None] = [None] * len(items)
    for i, result in zip(order, done, strict=True):
        results[i] = result
    return [r for r in results if r is not None]


def _for_each(fn: Callable[[T], None], items: Sequence[T], workers: int) -> None:
    """``fn`` on every item, in order, on ``workers`` threads (HiGHS releases the GIL)."""
    if workers <= 1:
        for item in items:
            fn(item)
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(fn, items))


def solve_blocks(
    problem: Problem,
    edges: Edges,
    options: SolveOptions,
    deadline: float | None,
    keep: FloatArray | None,
    edge_weight: IntArray | None = None,
) -> tuple[list[BlockOutcome], dict[str, object]]:
    """Every block's plan. ``edge_weight``: per edge, the plan's candidate edges it stands for where ``edges``
    pools identical pledges (the budgets and every size threshold count the plan's edges, so that pooling changes
    what the blocks cost, not how they are treated)."""
    workers = worker_count(options)
    if options.method == "highs":
        outcomes = _solve_highs(problem, edges, options, deadline, workers)
    else:
        outcomes = _solve_flow(problem, edges, options, deadline, keep, workers, edge_weight)
    methods = [o.method for o in outcomes]
    figures: dict[str, object] = {
        "blocks": len(outcomes),
        "workers": workers,
        "block_methods": {m: methods.count(m) for m in sorted(set(methods))},
        "log": _log(outcomes),
    }
    return outcomes, figures


def _log(outcomes: list[BlockOutcome]) -> list[dict[str, float | str | int]]:
    """The plan's log, at most ``MAX_LOG`` entries: the blocks' flow stages come last (a national plan has a
    hundred and more; cut at the front, they hid every HiGHS and rounding entry after them), each part in block
    order."""
    entries = [entry for o in outcomes for entry in o.log]
    flows = [e for e in entries if e.get("stage") == "flow"]
    return ([e for e in entries if e.get("stage") != "flow"] + flows)[:MAX_LOG]


def _solve_highs(
    problem: Problem, edges: Edges, options: SolveOptions, deadline: float | None, workers: int
) -> list[BlockOutcome]:
    blocks = build_blocks(problem, edges)

    def run(index: int) -> BlockOutcome:
        model = blocks[index]
        result = solve_block(model, options, deadline)
        return BlockOutcome(
            capability=model.capability, edge_ids=model.edge_ids, units=result.x, tier_bound=result.tier_values,
            termination=result.termination, other_gap=result.gap, method="highs", log=result.log,
        )

    return parallel(run, list(range(len(blocks))), [b.n_cols for b in blocks], workers)


@dataclass(frozen=True)
class _Attempt:
    """One HiGHS MIP run on a block in the MIP phase: its random seed, the plan it kept, the plan it started
    from, its time share and the seconds it took."""

    seed: int
    plan: Rounded
    start: Rounded
    share: float
    seconds: float


@dataclass
class _Stage1:
    block: FlowBlock
    outcome: BlockOutcome
    amount: FloatArray | None = None  # the LP optimum, kept when the block may go to HiGHS MIP
    rounded: Rounded | None = None
    candidates: list[Rounded] = field(default_factory=list)
    unproved_bound: FloatArray | None = None  # the bound before HiGHS proved a tighter one for its plan
    lp_transit: float = 0.0  # unit-days of the LP optimum: a bound for plans that serve its tiers
    transit_bound: float | None = None  # a tighter one HiGHS proved for the plan kept
    kept: Rounded | None = None  # a re-plan's previous lines (rounding.kept_round), while the plan keeps them


def _first_pass(
    block: FlowBlock, previous: FloatArray | None, name: str, options: SolveOptions, deadline: float | None
) -> _Stage1 | None:
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

    def nearest() -> FlowResult:
        """The LP optimum nearest the previous lines (their arcs preferred among plans of equal transit)."""
        return solve_flow_block(block, previous=previous)

    if not block.is_integer or block_is_whole(block, flow.amount):
        units, method = _whole_units(block, flow.amount), "flow"
        if kept is not None:
            if not beats_kept(block, Rounded(units=units, tier_values=flow.tier_values), kept, options.final_gap):
                units, method = kept.units, "flow+kept"  # the LP's optimum is whole, and no better than them
            elif not changed and block_is_whole(block, (near_lp := nearest()).amount):
                units = _whole_units(block, near_lp.amount)
        outcome = BlockOutcome(block.capability, block.edge_ids, units, flow.tier_values,
                               other_gap=flow.transit_gap, method=method, log=[entry], lp_bound=flow.tier_values,
                               flow_seconds=flow_seconds)
        return _Stage1(block, outcome)
    if one_pack_size(block):
        return _one_size(block, flow, previous, kept, options.final_gap, entry)
    lp_transit = transit_of(block, flow.amount / factor)
    rounded, candidates = _round(block, flow, previous if changed else None, options.final_gap, lp_transit)
    if kept is not None and changed:
        rounded = rounded if beats_kept(block, rounded, kept, options.final_gap) else kept
        candidates = [kept, *candidates]
    elif kept is not None:
        if not beats_kept(block, rounded, kept, options.final_gap):
            rounded, candidates = kept, [kept, *candidates]
        else:
            fresh, near_flow = rounded, nearest()
            near, near_candidates = _round(block, near_flow, previous, options.final_gap, lp_transit)
            rounded = near if beats_kept(block, near, kept, options.final_gap) else kept
            if lex_better(fresh.tier_values, rounded.tier_values):
                rounded = fresh
            else:
                flow = near_flow
            # The kept lines first, so that the plan's choice prefers them on ties too.
            candidates = [kept, *near_candidates, *candidates]
    entry["rounding_gap"] = float(tier_gaps(flow.tier_values, rounded.tier_values).max(initial=0.0))
    bound = _whole_unit_bound(block, flow, rounded, options.tier_gap, deadline, entry)
    outcome = BlockOutcome(block.capability, block.edge_ids, rounded.units, bound,
                           other_gap=flow.transit_gap, method=f"flow+{rounded.method}", log=[entry],
                           lp_bound=flow.tier_values, flow_seconds=flow_seconds)
    return _Stage1(block, outcome, flow.amount, rounded, candidates, lp_transit=lp_transit, kept=kept)


def _one_size(
    block: FlowBlock,
    flow: FlowResult,
    previous: FloatArray | None,
    kept: Rounded | None,
    final_gap: float,
    entry: dict[str, float | str | int],
) -> _Stage1:
    """A block of one pack size whose LP optimum splits packs: its exact whole-unit optimum by two flows
    (:mod:`aidpack.allocation.packs`), which bounds its tiers in place of the LP's (no rounding, no HiGHS).
    A re-plan keeps the previous lines unless the optimum beats them (the flows prefer them on ties)."""
    started = time.perf_counter()
    units = pack_flow(block, previous)
    optimum = Rounded(units=units, tier_values=block_tier_values(block, units), method="packs")
    chosen = optimum
    if kept is not None and not beats_kept(block, optimum, kept, final_gap):
        chosen = kept
    entry["rounding_gap"] = float(tier_gaps(flow.tier_values, chosen.tier_values).max(initial=0.0))
    entry["packs_seconds"] = round(time.perf_counter() - started, 4)
    outcome = BlockOutcome(block.capability, block.edge_ids, chosen.units, optimum.tier_values,
                           method=f"flow+{chosen.method}", log=[entry], lp_bound=flow.tier_values)
    return _Stage1(block, outcome)


def _whole_units(block: FlowBlock, amount: FloatArray) -> FloatArray:
    """A whole LP optimum (capability units per arc) in pledge units, indivisible ones exactly whole."""
    units = amount / block.factor[block.arc_pledge]
    whole: FloatArray = np.where(block.integer[block.arc_pledge], np.rint(units), units)
    return whole


def _round(
    block: FlowBlock, flow: FlowResult, previous: FloatArray | None, final_gap: float, lp_transit: float
) -> tuple[Rounded, list[Rounded]]:
    """The best of the block's roundings of the LP optimum ``flow`` (previous plan: its tie-breaks), and all
    of them. A rounding that reaches the LP's tiers and transit (within the final gap) ends the search."""
    if block_is_whole(block, flow.amount):
        whole = Rounded(units=_whole_units(block, flow.amount), tier_values=flow.tier_values, method="flow")
        return whole, [whole]

    def short_tier() -> int:
        return _first_short(flow.tier_values, candidates[0])

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
        # short: the spill among the first short tier's needs gives them their packs already.
        lambda: matched_round(block, flow.amount, previous, spill=True, second_try=False)
        if spills() and short_tier() < 3 and not spill_dominates() else None,
        # The first short tier's needs take the smallest coarse size up to their whole quantity (their last pack
        # overshooting) when the loose units are too few for their remainders: tried only where matched rounding
        # gave packs to a later tier's needs (tried wherever a tier was short, it never won on the national
        # bench and took 0.02 s of the first pass at 1e5; now 2 of its 61 matched roundings).
        lambda: replace(matched_round(block, flow.amount, previous, ceil_tier=short_tier()), method="matched-ceil")
        if short_tier() < 3 and candidates[0].latest_packed_tier > short_tier() else None,
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
        return reaches_lp_tiers(candidate) and transit_of(block, candidate.units) <= lp_transit * (1 + final_gap)

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
        if reaches_lp(candidate):
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
        # A descent that reaches the LP's tiers ends them: the other starts could only travel less, and they cost
        # seconds on a large block (1.85e6 bench, seed 44: a 652,534-arc diesel block's first descent reached
        # them; the next, from packs placed where they fit whole, took 2.1 s for 397,000 fewer low-tier people).
        for descended in size_descents(block, rounded.units, previous, also=[most.units], enough=reaches_lp_tiers):
            candidates.append(descended)
            if better_plan(block, descended, rounded):
                rounded = descended
    return rounded, candidates


#: A block's first pass, less the block itself and its edge ids (which the caller has): what a forked child
#: sends back (see :mod:`aidpack.allocation.split`).
_FirstPassParts = tuple[BlockOutcome, FloatArray | None, Rounded | None, list[Rounded], float, Rounded | None]
_NO_IDS: IntArray = np.zeros(0, dtype=np.int64)


def _first_pass_parts(
    block: FlowBlock, previous: FloatArray | None, name: str, options: SolveOptions, deadline: float | None
) -> _FirstPassParts | None:
    stage = _first_pass(block, previous, name, options, deadline)
    if stage is None:
        return None
    stage.outcome.edge_ids = _NO_IDS
    return stage.outcome, stage.amount, stage.rounded, stage.candidates, stage.lp_transit, stage.kept


def _solve_flow(
    problem: Problem,
    edges: Edges,
    options: SolveOptions,
    deadline: float | None,
    keep: FloatArray | None,
    workers: int,
    edge_weight: IntArray | None,
) -> list[BlockOutcome]:
    blocks = flow_blocks(problem, edges, edge_weight)
    plan_edges = len(edges) if edge_weight is None else int(edge_weight.sum())
    names = problem.capabilities

    def first(i: int) -> _FirstPassParts | None:
        block = blocks[i]
        previous = keep[block.edge_ids] if keep is not None else None
        return _first_pass_parts(block, previous, names[block.capability], options, deadline)

    # OR-Tools' min-cost flow holds the GIL: on two cores, a forked child takes half the blocks (by weight:
    # rounding an indivisible block costs about three times its flow). Its results come back pickled, so
    # small plans stay on one process.
    weights = [b.size * (ROUNDING_WEIGHT if b.is_integer else 1.0) for b in blocks]
    split = workers > 1 and sum(b.size for b in blocks) >= SPLIT_ARCS
    stage1 = []
    for block, parts in zip(blocks, map_split(first, weights, split=split), strict=True):
        if parts is None:
            stage1.append(_Stage1(block, _highs_fallback(problem, edges, block, options, deadline)))
            continue
        outcome, amount, rounded, roundings, lp_transit, kept = parts
        outcome.edge_ids = block.edge_ids
        stage1.append(_Stage1(block, outcome, amount, rounded, roundings, lp_transit=lp_transit, kept=kept))
    budget_left = _choose_roundings(stage1, options.tier_gap)

    now = time.perf_counter()
    integer_end = now + (options.integer_seconds(plan_edges) if deadline is None else max(deadline - now, 0.0))
    # Blocks whose rounding lost more than the tier gap: HiGHS MIP within the integer budget, but only
    # while the plan as a whole is further than the tier gap from its LP bound. In a small plan, every block whose
    # rounding lost anything: its MIP takes milliseconds (QA, seed 45: a 17-arc generator block 8e-7 of the plan's
    # medium tier short of its optimum, and 88 unit-days where 76 do, said "optimal": within the gap, never proved).
    gaps = {id(s): tier_gaps(s.outcome.tier_bound, s.rounded.tier_values) for s in stage1 if s.rounded is not None}
    exact = plan_edges <= EXACT_PLAN_EDGES
    short = budget_left < 0
    if exact and gaps:
        short |= np.any([g > 0 for g in gaps.values()], axis=0)
    candidates = [
        s for s in stage1
        if s.rounded is not None and float(gaps[id(s)][short].max(initial=0.0)) > (0.0 if exact else options.tier_gap)
    ]
    if candidates:
        budget_left = _mip_phase(stage1, candidates, short, budget_left, options, integer_end, workers, plan_edges,
                                 problem.capabilities)
        # A block that still loses a large share of the first tier the plan is short of gets a second round, with
        # time of its own (a scarce 3e4-edge scenario, seed 3, supply x0.5: a 4,061-arc generator block lost 54,000
        # medium-tier people, 4 % of the tier, which HiGHS finds in 1-1.4 s and not in the 0.36 s of its share). Not
        # when the caller set the time (a time limit, or the integer budget itself).
        extend = _to_extend(stage1, candidates, budget_left) if deadline is None and options.integer_budget is None \
            else []
        if extend:
            integer_end = time.perf_counter() + EXTEND_SECONDS
            budget_left = _mip_phase(stage1, extend, budget_left < 0, budget_left, options, integer_end, workers,
                                     plan_edges, problem.capabilities)
    # Blocks too large for HiGHS's transit stage first, so that the phase sees what stands between the plan and
    # the final gap; the others after it (before, a better incumbent sent HiGHS down another path: 1e4 bench,
    # generators, 806 unit-days in its time budget instead of 785).
    # The transit phase changes no block of the first kind, so each block is consolidated once.
    large = [s.block.size > TRANSIT_MIP_ARCS for s in stage1]
    _consolidate([s for s, big in zip(stage1, large, strict=True) if big], options.final_gap, problem.capabilities)
    _transit_phase(stage1, options, deadline, integer_end, workers, problem.capabilities,
                   prove_kept=plan_edges <= EXACT_PLAN_EDGES)
    _consolidate([s for s, big in zip(stage1, large, strict=True) if not big], options.final_gap,
                 problem.capabilities)
    _keep_most(stage1, keep, options, deadline, plan_edges, workers, problem.capabilities)
    for stage in stage1:
        stage.outcome.transit_excess = _transit_excess(stage)
    return [s.outcome for s in stage1]


def _mip_phase(
    stage1: list[_Stage1],
    candidates: list[_Stage1],
    short: BoolArray,
    budget_left: FloatArray,
    options: SolveOptions,
    integer_end: float,
    workers: int,
    n_edges: int,
    names: tuple[str, ...],
) -> FloatArray:
    """HiGHS's MIP on ``candidates`` (blocks that lose people in the tiers the plan is ``short`` of) until
    ``integer_end``; the roundings chosen again for the plan as a whole. Returns each tier's slack still unspent."""
    # In a small plan HiGHS's tier stages go to the exact optimum, not only within the tier gap (a block's start 3e-6
    # of its medium tier short of it was within the gap, and HiGHS stopped there at once).
    mip_gap = EXACT_MIP_GAP if n_edges <= EXACT_PLAN_EDGES else options.tier_gap
    # Each block gets a share of the budget by size, never less than a small floor; the phase ends at its
    # own deadline.
    candidates = _mip_order(candidates, short)
    slacks = _slack_shares(candidates, budget_left)
    budget = integer_end - time.perf_counter()
    phase_end = integer_end
    total_arcs = sum(min(s.block.size, MIP_SHARE_ARCS) for s in candidates)
    large_cap = large_mip_seconds(n_edges)
    if large_cap < MIN_MIP_SECONDS:
        # A plan too small for a large block's MIP to pay (see LARGE_MIP_FROM_EDGES): its shares of the
        # budget and of the slack, counted above, go unused, and the phase ends that much sooner.
        candidates = [s for s in candidates if s.block.size <= LARGE_MIP_ARCS]
    else:
        candidates = [s for s in candidates if s.block.size <= LARGE_MIP_ARCS
                      or LARGE_MIP_FIXED_SHARE * s.outcome.flow_seconds <= large_cap]

    # HiGHS's search within a fraction of a second depends much on its random seed (1.5e6 bench, seed 9, a
    # transformer block in 0.5 s: 336,802 medium-tier people with one seed, none gained with the next). Where
    # fewer blocks than threads go to HiGHS, the idle threads run the first blocks again with other seeds,
    # in the same time; each block keeps the better plan, its first seed's on ties.
    # Not a block of more than LARGE_MIP_ARCS arcs: giving its counts or patterns pledges again costs more than
    # its share of the budget (a one-capability block of 1.4e6 arcs, five generator sizes: 0.7 s per seed
    # against a 0.2 s share), and the flows that do it hold the GIL, so a second seed doubles that.
    again = [stage for stage in candidates if stage.block.size <= LARGE_MIP_ARCS]
    tasks = [(stage, options.seed) for stage in candidates]
    tasks += [(again[k % len(again)], options.seed + 1 + k // len(again))
              for k in range(max(workers - len(candidates), 0) if again else 0)]
    attempts: dict[int, list[_Attempt]] = {}
    # A block of a few pack sizes whose needs choose among no more patterns than it has arcs goes to its pattern
    # MIP (:mod:`aidpack.allocation.patterns`); other blocks of whole packs in a few sizes, to their count MIP
    # (:mod:`aidpack.allocation.counts`); the others to the arc MIP. Each model is built once for all seeds.
    patterns = {id(stage): engine_patterns(stage.block) for stage in candidates}
    counts = {id(stage): count_model(stage.block) for stage in candidates if patterns[id(stage)] is None}

    def second(task: tuple[_Stage1, int]) -> None:
        stage, seed = task
        if stage.rounded is None or stage.amount is None:
            return
        remaining = phase_end - time.perf_counter()
        share = budget * workers * min(stage.block.size, MIP_SHARE_ARCS) / max(total_arcs, 1)
        if stage.block.size > LARGE_MIP_ARCS:
            share = min(share, large_cap)
        share = min(max(share, MIN_MIP_SECONDS), remaining)
        if share < MIN_MIP_SECONDS / 2:
            return
        started = time.perf_counter()
        seeded = replace(options, seed=seed, tier_gap=mip_gap)
        start = _mip_start(stage)
        model, by_count = patterns[id(stage)], counts.get(id(stage))
        # A re-plan's kept lines: the pledges of a better plan's patterns or counts go where they went, where that
        # travels no more (unseen 3e4 scenario, seed 12, supply x0.5: a re-plan with nothing changed whose count MIP
        # found 308 more medium-tier people moved 825 generators).
        kept = stage.kept.units if stage.kept is not None and _keeps(stage) else None
        if model is not None:
            better = _polished(stage.block, pattern_round(
                stage.block, model, start, budget=share, options=seeded, slack=slacks[id(stage)],
                kept=kept))
        elif by_count is not None:
            better = _polished(stage.block, count_round(
                stage.block, by_count, start, budget=share, options=seeded,
                slack=slacks[id(stage)], kept=kept))
        else:
            # A restricted MIP also keeps every rounding's arcs, not only its start's (an independent 1.4e6-edge
            # scenario, 5,000-litre bladders and loose litres: from the greedy rounding's arcs alone HiGHS
            # reached 68,181 high-tier people, from the matched rounding's 69,922, from both and the others'
            # 70,287 in the same 0.3 s; the optimum lies between 70,800 and 70,910).
            also = np.logical_or.reduce([c.units > 0 for c in stage.candidates]) if stage.candidates else None
            rounds = RESTRICTED_MIP_ROUNDS if stage.block.size > FULL_MIP_ARCS and share >= ROUNDS_FROM_SECONDS \
                else 1
            better = _polished(stage.block, mip_round(
                stage.block, stage.amount, start, budget=share / rounds, options=seeded,
                slack=slacks[id(stage)], transit_tie=_transit_tie(stage), also=also))
            # Its next round starts from the plan the round before found and polished, with that plan's arcs too.
            while (rounds := rounds - 1) > 0 and better_plan(stage.block, better, start, slack=slacks[id(stage)]):
                left = started + share - time.perf_counter()
                if left < MIN_MIP_SECONDS / 2:
                    break
                found = better.units > 0
                again = _polished(stage.block, mip_round(
                    stage.block, stage.amount, better, budget=left, options=seeded,
                    slack=slacks[id(stage)], transit_tie=_transit_tie(stage),
                    also=found if also is None else also | found))
                if not better_plan(stage.block, again, better, slack=slacks[id(stage)]):
                    break
                better = again
        attempts.setdefault(id(stage), []).append(_Attempt(seed, better, start, share,
                                                           time.perf_counter() - started))

    _for_each(second, tasks, workers)
    for stage in candidates:
        tried = sorted(attempts.get(id(stage), []), key=lambda attempt: attempt.seed)
        if not tried or stage.rounded is None:
            continue
        better, start, share = tried[0].plan, tried[0].start, tried[0].share
        for other in tried[1:]:
            if better_plan(stage.block, other.plan, better, slack=slacks[id(stage)]):
                better = other.plan
        if stage.kept is not None:
            better = _kept_pledges(stage.block, better, stage.kept)
        stage.candidates.append(better)
        # Tiers within the block's slack, then unit-days (else a re-plan, which starts HiGHS from the plan kept,
        # would find those unit-days and move lines).
        # A re-plan's kept lines stay for a plan of equal merit (see _kept_room).
        stays = _keeps(stage) and not _beats_kept(better.tier_values, stage.rounded.tier_values,
                                                  _kept_room(stage, options.tier_gap))
        if not stays and (start is stage.rounded
                          or better_plan(stage.block, better, stage.rounded, slack=slacks[id(stage)])):
            stage.outcome.units = better.units
            stage.outcome.method = better.method
            stage.rounded = better
        if better.stage_bounds is not None:
            # HiGHS solved the whole block's lexicographic MIP: a tighter bound (for a plan that serves the
            # earlier tiers as well as HiGHS held them; see rounding.StageBounds).
            stage.unproved_bound = stage.outcome.tier_bound
            stage.outcome.tier_bound = np.minimum(stage.outcome.tier_bound,
                                                  better.stage_bounds.for_plan(better.tier_values))
        stage.outcome.log.append({
            "capability": names[stage.block.capability], "stage": better.method,
            "seconds": round(max(attempt.seconds for attempt in tried), 4), "budget": round(share, 3),
            "seeds": len(tried),
            "gap": float(tier_gaps(stage.outcome.tier_bound, better.tier_values).max(initial=0.0)),
        })
    # HiGHS's plans are one more rounding of their blocks: choose again for the plan as a whole (a
    # restricted MIP that gains a few high-tier people in a block of generators may lose thousands of
    # low-tier ones there that the plan's high-tier gap can afford to keep).
    left = _choose_roundings(stage1, options.tier_gap)
    for stage in candidates:
        # HiGHS's bounds hold for the plan now chosen as far as it serves the earlier tiers as well as
        # HiGHS held them; its transit bound, for its own plan.
        proved, chosen = stage.candidates[-1].stage_bounds, stage.rounded
        if stage.unproved_bound is not None and proved is not None and chosen is not None:
            stage.outcome.tier_bound = np.minimum(stage.unproved_bound, proved.for_plan(chosen.tier_values))
        if chosen is stage.candidates[-1]:
            stage.transit_bound = chosen.transit_bound
    return left


def _to_extend(stages: list[_Stage1], tried: list[_Stage1], budget_left: FloatArray) -> list[_Stage1]:
    """The blocks HiGHS tried that still lose more than ``EXTEND_LOSS`` of the plan's bound in the first tier the
    plan is short of, against a bound that whole units can reach: blocks of at most ``WHOLE_UNIT_REACH_ARCS``
    arcs, whose bound is their whole-unit bound or what HiGHS proved (on larger ones the LP's bound may be out of
    any plan's reach, and their MIPs gain little in seconds)."""
    short = np.flatnonzero(budget_left < 0)
    if short.size == 0:
        return []
    tier = int(short[0])
    bound, _ = _plan_loss(stages)
    return [
        s for s in tried
        if s.rounded is not None and s.amount is not None and s.block.size <= WHOLE_UNIT_REACH_ARCS
        and float(s.outcome.tier_bound[tier] - s.rounded.tier_values[tier]) > EXTEND_LOSS * float(bound[tier])
    ]

def _mip_start(stage: _Stage1) -> Rounded:
    """HiGHS's start for a block's MIP: the block's plan, unless coordinate descent over its pack sizes made it;
    then the best of its other roundings. From a descent's plan, at a local optimum of every size given the
    others, HiGHS searches around it and ends lower (the demo's generator block: 1,987,073 high-tier people in 2 s,
    against 2,075,207 from any rounding of the LP; HiGHS proved 2,092,569 possible); the plan keeps whichever is
    better."""
    assert stage.rounded is not None
    if stage.rounded.method != "descent":
        return stage.rounded
    others = [c for c in stage.candidates if c.method != "descent"]
    if not others:
        return stage.rounded
    best = others[0]
    for candidate in others[1:]:
        if better_plan(stage.block, candidate, best):
            best = candidate
    return best


def large_mip_seconds(edges: int) -> float:
    """The most HiGHS's MIP gets on a block of more than ``LARGE_MIP_ARCS`` arcs in a plan of ``edges``:
    nothing up to ``LARGE_MIP_FROM_EDGES``, then ``LARGE_MIP_SECONDS_PER_MILLION_EDGES`` per million beyond."""
    return max(0.0, LARGE_MIP_SECONDS_PER_MILLION_EDGES * (edges - LARGE_MIP_FROM_EDGES) / 1e6)


def _mip_order(stages: list[_Stage1], short: BoolArray) -> list[_Stage1]:
    """The order in which blocks go to HiGHS MIP: blocks of at most ``LARGE_MIP_ARCS`` first (HiGHS often
    improves them within the budget), the larger ones with what is left; among them, most people lost
    first in the tiers the plan is ``short`` of (the first such tier decides: a block that lost a few
    high-tier people within that tier's gap waits behind one that lost thousands of medium-tier ones)."""

    def priority(stage: _Stage1) -> tuple[float, ...]:
        assert stage.rounded is not None
        loss = (stage.outcome.tier_bound - stage.rounded.tier_values)[short]
        large = float(stage.block.size > LARGE_MIP_ARCS)
        return (large, *(-float(v) for v in loss), float(stage.block.capability))

    return sorted(stages, key=priority)


def _reaches_lp(stage: _Stage1) -> bool:
    assert stage.rounded is not None
    assert stage.outcome.lp_bound is not None
    return float(tier_gaps(stage.outcome.lp_bound, stage.rounded.tier_values).max(initial=0.0)) == 0.0


def _transit_excess(stage: _Stage1) -> float:
    """Unit-days the block's whole-unit plan spends above the best bound proved for a plan serving its
    tiers: the LP's transit (once the plan serves the LP's tiers) or HiGHS's transit bound. A block short
    of the LP's tiers carries its tier gap instead (0 here)."""
    if stage.rounded is None or not _reaches_lp(stage):
        return 0.0
    bound = max(stage.lp_transit, stage.transit_bound if stage.transit_bound is not None else 0.0)
    return max(transit_of(stage.block, stage.rounded.units) - bound, 0.0)


def _transit_phase(
    stages: list[_Stage1],
    options: SolveOptions,
    deadline: float | None,
    phase_end: float,
    workers: int,
    names: tuple[str, ...],
    prove_kept: bool = False,
) -> None:
    """While the plan's transit is further than the final gap from its bound, and only when the blocks
    below can bring it within: whole-unit blocks that serve the LP's tiers but travel more than the LP
    first get the tighter bound of their whole-unit LP (:func:`bounds.whole_unit_transit_bound`: the LP
    pours a 30,000-litre tanker into four villages, whole it goes to one need), then the small ones still
    above it go to HiGHS MIP for their transit stage too (a drum sent from a far hub so that a near one
    can fill another need whole), most excess first, in whatever integer budget is left. HiGHS keeps the
    tiers and proves a bound on the transit, which the plan reports."""
    plan_transit = sum(transit_of(s.block, s.outcome.units) for s in stages if s.outcome.edge_ids is s.block.edge_ids)
    allowed = options.final_gap * max(plan_transit, 1.0)

    def within_reach(limit: int) -> list[_Stage1]:
        """The blocks up to ``limit`` arcs above their transit bound, when they are what stands between the
        plan and the final gap (none when the plan is within it already, or larger blocks alone are
        further from their bound than the gap allows: then this run cannot prove it)."""
        excess = {id(s): _transit_excess(s) for s in stages}
        selected = [
            s for s in stages
            if excess[id(s)] > 0 and s.amount is not None and s.block.size <= limit
        ]
        total = sum(excess.values())
        if total <= allowed or total - sum(excess[id(s)] for s in selected) > allowed:
            return []
        return sorted(selected, key=lambda s: (-excess[id(s)], s.block.capability))

    bounded = within_reach(WHOLE_UNIT_REACH_ARCS)
    if not bounded:
        return
    for stage in bounded:
        assert stage.rounded is not None
        if not has_oversize(stage.block):
            continue  # no pack exceeds a need: the whole-unit LP is the LP
        started = time.perf_counter()
        bound = whole_unit_transit_bound(stage.block, stage.rounded.tier_values, stage.rounded.units > 0, deadline)
        if bound is not None:
            stage.transit_bound = max(bound, stage.transit_bound or 0.0)
        stage.outcome.log.append({
            "capability": names[stage.block.capability], "stage": "whole-unit transit bound",
            "seconds": round(time.perf_counter() - started, 4),
        })
    # A re-plan's kept lines stay (in a small plan, HiGHS proves their unit-days, ``prove_kept``, and they stay unless
    # it finds more than the final gap): HiGHS's transit stage, time-limited, would find in a re-plan (whose tier
    # stages, started from the kept plan, finish sooner) unit-days the first plan had no time for, and reshuffle what
    # donors prepare for them (1e4 bench, nothing changed: 764 units moved in two blocks of 28 and 39 arcs for 76
    # unit-days, 1.3e-4 of the plan's). A changed block whose fresh roundings travel less by more than the final
    # gap has left its kept lines in the first pass already.
    todo = [s for s in within_reach(TRANSIT_MIP_ARCS) if not _keeps(s) or prove_kept]
    if not todo:
        return
    # A share of the budget by size (a 3,240-arc diesel block needs 0.7 s, a 20-arc one a few milliseconds).
    time_left = phase_end - time.perf_counter()
    total_arcs = sum(s.block.size for s in todo)

    def run(stage: _Stage1) -> None:
        assert stage.rounded is not None
        assert stage.amount is not None
        share = max(time_left * workers * stage.block.size / total_arcs, MIN_MIP_SECONDS)
        budget = min(share, phase_end - time.perf_counter())
        if budget < MIN_MIP_SECONDS / 2:
            return
        started = time.perf_counter()
        # The plan already serves the LP's tiers (else its transit is not what stands in the way): HiGHS holds
        # them there and minimises transit alone, so that its bound holds for every plan that serves them.
        hold = transit_hold(stage.block, stage.rounded.tier_values)
        better = exact_fine(stage.block, mip_round(stage.block, stage.amount, stage.rounded, budget=budget,
                                                   options=options, by_hub=True, fixed_tiers=hold,
                                                   transit_tie=_transit_tie(stage)))
        # Taken when it serves the tiers better, or as well and travels less: tiers compared to float noise,
        # so that no hair of a tier is traded for unit-days (nor a re-plan's kept lines for the final gap).
        if better_plan(stage.block, better, stage.rounded, rel=EXACT) and (
            stage.kept is None or not _keeps(stage)
            or beats_kept(stage.block, better, stage.kept, options.final_gap, EXACT)
        ):
            # A bound proved for plans that serve every tier at least as the old one did still holds for
            # the new plan when it does; HiGHS's own holds for the plan it was checked against.
            kept = stage.transit_bound if bool(np.all(better.tier_values >= hold)) else None
            bounds = [b for b in (kept, better.transit_bound) if b is not None]
            stage.transit_bound = max(bounds) if bounds else None
            stage.rounded = better
            stage.outcome.units = better.units
            stage.outcome.method = f"flow+{better.method}"
        elif better.transit_bound is not None:
            # The plan kept travels less than HiGHS's (often the same plan, HiGHS's a millionth of a unit-day
            # off by its tolerances): HiGHS's bound holds for it too, as it serves the tiers HiGHS held (a fuel
            # block proved optimal reported a transit gap of 0.25 without this).
            stage.transit_bound = max(better.transit_bound, stage.transit_bound or 0.0)
        stage.outcome.log.append({
            "capability": names[stage.block.capability], "stage": "transit mip",
            "seconds": round(time.perf_counter() - started, 4), "budget": round(budget, 3),
        })

    _for_each(run, todo, workers)


def _consolidate(stages: list[_Stage1], final_gap: float, names: tuple[str, ...]) -> None:
    """Each rounded block's plan with its needs' lines replaced by single-pledge covers that travel less, the
    units that frees given to needs still short (:func:`consolidation.fewer_unit_days`: no need brought less,
    fewer unit-days where the tiers are as before). A re-plan's kept lines are replaced only on the terms of
    :func:`rounding.beats_kept` (people served, or more than the final gap saved)."""
    for stage in stages:
        rounded = stage.rounded
        if rounded is None:
            continue
        started = time.perf_counter()
        units = fewer_unit_days(stage.block, rounded.units)
        if units is rounded.units:
            continue
        # HiGHS's bounds still hold: every need is covered at least as much as before.
        candidate = Rounded(units=units, tier_values=block_tier_values(stage.block, units), gap=rounded.gap,
                            method=rounded.method, stage_bounds=rounded.stage_bounds,
                            transit_bound=rounded.transit_bound)
        if _keeps(stage) and stage.kept is not None and not beats_kept(stage.block, candidate, stage.kept, final_gap):
            continue
        before, after = transit_of(stage.block, rounded.units), transit_of(stage.block, units)
        stage.rounded = candidate
        stage.outcome.units = units
        stage.outcome.log.append({
            "capability": names[stage.block.capability], "stage": "consolidated",
            "seconds": round(time.perf_counter() - started, 4), "unit_days_before": round(before, 3),
            "unit_days_after": round(after, 3),
        })


def _keep_most(
    stages: list[_Stage1], previous: FloatArray | None, options: SolveOptions, deadline: float | None, n_edges: int,
    workers: int, names: tuple[str, ...],
) -> None:
    """A re-plan's blocks whose plan left some of the previous plan's lines (``previous``, units per edge): the plan
    of no less merit (every tier served as well, no more unit-days) that moves the least of them
    (:func:`keep.keep_most`), the smallest searches first, each a share of the phase (``KEEP_MOST_SHARE`` of the
    integer budget) by the lines it moved, within the caller's deadline. Blocks with packs
    compare with the previous lines as far as the kept lines still hold them (not what they were given besides). A
    divisible block's flow already prefers them among plans of the same unit-days need by need; HiGHS's LP holds the
    tiers instead."""
    if previous is None:
        return

    # Each block's previous lines (as far as its kept lines still hold them).
    old_lines = {
        id(s): np.minimum(s.kept.units, previous[s.block.edge_ids]) if s.kept is not None
        else previous[s.block.edge_ids]
        for s in stages if s.outcome.edge_ids is s.block.edge_ids
    }
    moved = [
        s for s in stages
        if id(s) in old_lines
        and ((s.kept is not None and s.rounded is not None and not _keeps(s))
             or (s.rounded is None and not s.block.is_integer
                 and moved_amount(s.block, s.outcome.units, old_lines[id(s)]) > 0))
    ]
    if not moved:
        return
    now = time.perf_counter()
    budget = max(KEEP_MOST_SHARE * options.integer_seconds(n_edges), KEEP_MOST_MIN_SECONDS)
    if deadline is not None:
        budget = min(budget, deadline - now)
    if budget < KEEP_MOST_MIN_SECONDS / 2:
        return
    # The smallest searches first (most finish in milliseconds), each a share of what is left of the phase by the
    # lines it moved (lines, not units: a generator is not a litre) among the blocks not yet started, so that the time
    # of blocks that finish early goes to the larger ones.
    lost = {id(s): int(np.count_nonzero(old_lines[id(s)] > s.outcome.units + 1e-9)) for s in moved}
    search = {id(s): int(np.count_nonzero((old_lines[id(s)] > 0) | (s.outcome.units > 0))) for s in moved}
    waiting = [sum(lost.values())]
    lock = threading.Lock()

    def one(stage: _Stage1) -> None:
        with lock:
            left = now + budget - time.perf_counter()
            share = min(left, left * workers * lost[id(stage)] / max(waiting[0], 1))
            waiting[0] -= lost[id(stage)]
        share = max(share, min(MIN_MIP_SECONDS, left))
        if share < MIN_MIP_SECONDS / 2:
            return
        started = time.perf_counter()
        block, rounded, kept = stage.block, stage.rounded, old_lines[id(stage)]
        plan = rounded.units if rounded is not None else stage.outcome.units
        tiers = rounded.tier_values if rounded is not None else block_tier_values(block, plan)
        units = keep_most(block, plan, tiers, kept, seconds=share, seed=options.seed)
        if units is None:
            return
        stage.outcome.log.append({
            "capability": names[block.capability], "stage": "kept-most", "seconds":
            round(time.perf_counter() - started, 4), "moved_before": round(moved_amount(block, plan, kept), 6),
            "moved_after": round(moved_amount(block, units, kept), 6),
        })
        if rounded is not None:
            # Every tier served as well, no more unit-days: HiGHS's bounds still hold.
            stage.rounded = replace(rounded, units=units, tier_values=block_tier_values(block, units))
        stage.outcome.units = units

    _for_each(one, sorted(moved, key=lambda s: (search[id(s)], s.block.capability)), workers)


def _keeps(stage: _Stage1) -> bool:
    """Whether the block's plan is still a re-plan's kept lines (HiGHS hands back a copy when it found
    nothing better)."""
    return (stage.kept is not None and stage.rounded is not None
            and np.array_equal(stage.rounded.units, stage.kept.units))


def _kept_room(stage: _Stage1, tier_gap: float) -> FloatArray:
    """People per tier within which another plan is of equal merit to a re-plan's kept lines: the tier gap of the
    block's own bound, at least ``KEPT_MIN_GAIN`` (so that over all blocks, what kept lines forgo stays within the
    plan's tier gap). HiGHS, stopped by its time limit in the first plan, finds a little more when a re-plan starts
    it from there: 2e4-edge scenarios, supply x0.3-x0.6, re-plans with nothing changed moved 342 generators for 3.9
    low-tier people and 58,944 litres of diesel for 0.1 of one."""
    return np.maximum(tier_gap * stage.outcome.tier_bound, KEPT_MIN_GAIN)


def _beats_kept(found: FloatArray, kept: FloatArray, room: FloatArray) -> bool:
    """Whether tier values ``found`` beat a re-plan's kept lines' (``kept``): some tier by more than its ``room``,
    every tier before it as well (to float noise, far below the margin HiGHS may hold a tier under its start,
    ``solve.START_HOLD_MARGIN``: else each re-plan could give that margin of a tier to the next, and move units to
    do it, with nothing changed). Kept lines make no trade."""
    noise = KEPT_NOISE * np.maximum(np.abs(kept), 1.0)
    for t in range(kept.size):
        if found[t] > kept[t] + room[t]:
            return True
        if found[t] < kept[t] - noise[t]:
            return False
    return False


def _kept_pledges(block: FlowBlock, plan: Rounded, kept: Rounded) -> Rounded:
    """A re-plan's HiGHS ``plan`` with its units sent by the pledges the ``kept`` lines used wherever that serves every
    need the same and travels no more (:func:`keep.keep_pledges`; 3e4 scenario, seed 3, supply x0.5: a re-plan that
    found 217 medium-tier people in its diesel block moved 146,163 litres; with this, 52,465)."""
    if np.array_equal(plan.units, kept.units):
        return plan
    units = keep_pledges(block, plan.units, kept.units)
    same = np.allclose(block_tier_values(block, units), plan.tier_values, rtol=1e-9, atol=1e-6)
    if not same or transit_of(block, units) > transit_of(block, plan.units) * (1 + 1e-12) + 1e-9:
        return plan
    return replace(plan, units=units)


def _polished(block: FlowBlock, plan: Rounded) -> Rounded:
    """HiGHS's plan, its stages stopped at their gaps, with each pack size solved again given the others, when
    that is better (the demo's generator block: 117 more high-tier people in 0.02 s)."""
    if plan.method not in ("mip", "restricted-mip", "patterns", "counts"):
        return plan
    polished = descend(block, plan.units)
    if better_plan(block, polished, plan):
        return replace(plan, units=polished.units, tier_values=polished.tier_values)
    return plan


def _transit_tie(stage: _Stage1) -> float:
    """The share of unit-days a HiGHS plan serving the tiers as well must save to replace the block's plan:
    none can replace a re-plan's kept lines (HiGHS's time-limited stages find, in a re-plan started from them,
    unit-days the first plan had no time for; see :func:`_transit_phase`), any saving counts otherwise."""
    return np.inf if _keeps(stage) else 0.0


def _whole_unit_bound(
    block: FlowBlock,
    flow: FlowResult,
    rounded: Rounded,
    tier_gap: float,
    deadline: float | None,
    entry: dict[str, float | str | int],
) -> FloatArray:
    """The block's bound per tier: its LP optimum (``flow``), or where ``rounded`` falls short of it by more than
    the tier gap, the lexicographically least of it and the whole-unit bounds, which no whole-unit plan beats
    and which the LP overstates there: the step bound (:func:`bounds.step_bound`, a flow: any block) and, where
    some of its packs exceed needs they reach, the oversize bound (:func:`bounds.whole_unit_bound`, HiGHS: blocks
    of at most ``WHOLE_UNIT_BOUND_ARCS`` arcs, within the plan's ``deadline``). Each bounds the block's
    lexicographic whole-unit optimum. In the first pass, so that a large block's bound is computed in parallel
    with the other blocks (scarce 1e5 scenario, seed 3, supply x0.5: a 40,617-arc diesel block's medium tier
    482,682 -> 454,306 people in 0.27 s, against 451,463 served; the 1e6 bench's 136,000-arc generator block's
    step bound 0.16 s)."""
    if float(tier_gaps(flow.tier_values, rounded.tier_values).max(initial=0.0)) <= tier_gap:
        return flow.tier_values
    found = {"step": step_bound(block)}
    if block.size <= WHOLE_UNIT_BOUND_ARCS and has_oversize(block) and (deadline is None
                                                                          or time.perf_counter() < deadline):
        found["oversize"] = whole_unit_bound(block, flow.amount > 0, deadline)
    bound = lex_least([flow.tier_values, *(b for b in found.values() if b is not None)])
    for name, value in found.items():
        if value is bound:
            entry["bound"] = name
            entry["bound_gap"] = float(tier_gaps(bound, rounded.tier_values).max(initial=0.0))
    return bound


def _first_short(bound: FloatArray, rounded: Rounded) -> int:
    """The first tier in which ``rounded`` serves fewer people than ``bound`` (the last when none does)."""
    short = np.flatnonzero(tier_gaps(bound, rounded.tier_values) > 0)
    return int(short[0]) if short.size else 3


def _plan_loss(stages: list[_Stage1]) -> tuple[FloatArray, FloatArray]:
    """The plan's LP bound per tier (all blocks) and what the chosen roundings lose against it."""
    bound = np.sum([s.outcome.tier_bound for s in stages], axis=0) if stages else np.zeros(4)
    loss = np.zeros(4)
    for s in stages:
        if s.rounded is not None:
            loss += np.maximum(s.outcome.tier_bound - s.rounded.tier_values, 0.0)
    return bound, loss


def _choose_roundings(stages: list[_Stage1], tier_gap: float) -> FloatArray:
    """Pick one rounding per block for the plan as a whole; return each tier's slack still unspent.

    Each block starts from its lexicographically best rounding (a re-plan's, from the previous lines where
    they are kept; they come first among its candidates, so that ties keep them) and moves to another only for a
    gain at a tier that gives up nothing at the tiers before it (beyond HiGHS's noise, or ``SLACK_SHARE`` of the
    tier's gap, which is none): largest gains first, earliest tiers first.
    """
    bound, loss = _plan_loss(stages)
    budget: FloatArray = SLACK_SHARE * tier_gap * bound - loss

    def gain(stage: _Stage1, candidate: Rounded, tier: int) -> float:
        """People ``candidate`` adds at ``tier`` over the block's plan (0 unless beyond solver noise and what it
        gives up at earlier tiers fits the budget). A re-plan's kept lines give up nothing for it (beyond the
        block's own noise: the plan's noise on its tier let a 316-arc block of the unseen 1.6e6 scenario, seed 71,
        trade 6.7 high-tier people for 97 medium-tier ones and move 13 units), and go only for more than the tier
        gap of the block's bound (:func:`_kept_room`): a plan within it is of equal merit, and they stay."""
        assert stage.rounded is not None
        current = stage.rounded
        delta = candidate.tier_values - current.tier_values
        noise = 1e-6 * max(abs(float(current.tier_values[tier])), 1.0)
        if _keeps(stage):
            noise = max(noise, float(_kept_room(stage, tier_gap)[tier]))
            allowed = -KEPT_NOISE * np.maximum(np.abs(current.tier_values[:tier]), 1.0)
        else:
            # What a move may give up at earlier tiers: the budget (none while SLACK_SHARE is 0) and HiGHS's integrality
            # noise on the block's own tiers (not the plan's: 1e-6 of a national tier is 20 people).
            allowed = -np.maximum(budget[:tier], 0.0) - MIP_NOISE * np.maximum(np.abs(current.tier_values[:tier]), 1.0)
        affordable = bool(np.all(delta[:tier] >= allowed))
        return float(delta[tier]) if delta[tier] > noise and affordable else 0.0

    def choices(stage: _Stage1, tier: int) -> list[int]:
        """The candidates a move may take the block to: a re-plan's kept lines alone where going back to them gains
        (a move elsewhere would move more units for the same people)."""
        kept = [j for j, c in enumerate(stage.candidates) if c is stage.kept]
        if kept and not _keeps(stage) and gain(stage, stage.candidates[kept[0]], tier) > 0:
            return kept
        return list(range(len(stage.candidates)))

    for tier in range(4):
        moves = sorted(
            (-gain(stage, stage.candidates[j], tier), i, j)
            for i, stage in enumerate(stages) if stage.rounded is not None
            for j in choices(stage, tier)
        )
        for negative_gain, i, j in moves:
            stage = stages[i]
            assert stage.rounded is not None
            candidate = stage.candidates[j]
            if negative_gain >= 0 or gain(stage, candidate, tier) <= 0:
                continue  # no gain, or an earlier move in this block or on the budget changed the picture
            delta = candidate.tier_values - stage.rounded.tier_values
            budget += delta  # what the plan loses changes by -delta in every tier (gains give slack back)
            stage.rounded = candidate
            stage.outcome.units = candidate.units
            stage.outcome.method = f"flow+{candidate.method}"
    _, loss = _plan_loss(stages)
    left: FloatArray = tier_gap * bound - loss
    return left


def _slack_shares(stages: list[_Stage1], budget_left: FloatArray) -> dict[int, FloatArray]:
    """Per block going to HiGHS MIP (by id): its share of ``SLACK_SHARE`` of what the plan may still lose per
    tier (``budget_left``, never below 0), less a margin (``MIP_SLACK_MARGIN``). A tier's slack is spent on
    the next tier only (see :func:`aidpack.allocation.solve.solve_block`), so it is split by the blocks'
    losses in that next tier; by the blocks' people in the tier where no block loses in the next."""
    later = []  # per block and tier, what it loses in the next tier
    for s in stages:
        assert s.rounded is not None
        later.append(np.append(np.maximum(s.outcome.tier_bound - s.rounded.tier_values, 0.0)[1:], 0.0))
    budget = np.maximum(budget_left, 0.0)
    people = [np.bincount(s.block.tier, weights=s.block.people, minlength=4)[:4].astype(np.float64) for s in stages]
    later_total, people_total = np.sum(later, axis=0), np.sum(people, axis=0)
    shares: dict[int, FloatArray] = {}
    for s, lost, own in zip(stages, later, people, strict=True):
        by_loss = np.divide(lost, later_total, out=np.zeros(4), where=later_total > 0)
        by_people = np.divide(own, people_total, out=np.zeros(4), where=people_total > 0)
        shares[id(s)] = MIP_SLACK_MARGIN * SLACK_SHARE * budget * np.where(later_total > 0, by_loss, by_people)
    return shares


def _highs_fallback(
    problem: Problem, edges: Edges, block: FlowBlock, options: SolveOptions, deadline: float | None
) -> BlockOutcome:
    """A block the flow solver cannot take (amounts beyond 64-bit costs): lexicographic HiGHS."""
    for model in build_blocks(problem, edges):
        if model.capability == block.capability:
            result = solve_block(model, options, deadline)
            return BlockOutcome(model.capability, model.edge_ids, result.x, result.tier_values,
                                termination=result.termination, other_gap=result.gap, method="highs", log=result.log)
    return BlockOutcome(block.capability, block.edge_ids, np.zeros(block.n_arcs), np.zeros(4))
