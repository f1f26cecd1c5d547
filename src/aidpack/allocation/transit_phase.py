"""The plan's unit-days in transit, once the tiers are settled (:func:`finish_blocks`): rounded blocks consolidated
(:mod:`aidpack.allocation.consolidation`), and while small blocks can bring the plan within the final gap (or one
alone is far above its bound), HiGHS's MIP proves their transit (:func:`_transit_phase`); a re-plan's blocks that
leave their kept lines then move the fewest of them that serving their people allows (:func:`_keep_most`,
:mod:`aidpack.allocation.keep`).
"""

from __future__ import annotations

import threading
import time
from dataclasses import replace

import numpy as np

from aidpack.allocation.block_state import BlockState, for_each, keeps, transit_tie
from aidpack.allocation.bounds import has_oversize, transit_hold, whole_unit_transit_bound
from aidpack.allocation.consolidation import fewer_unit_days
from aidpack.allocation.keep import keep_most, moved_amount
from aidpack.allocation.mip_phase import EXACT_PLAN_EDGES, MIN_MIP_SECONDS, WHOLE_UNIT_REACH_ARCS
from aidpack.allocation.problem import FloatArray
from aidpack.allocation.rounding import (
    EXACT,
    Rounded,
    beats_kept,
    better_plan,
    block_tier_values,
    exact_fine,
    lex_better,
    mip_round,
    tier_gaps,
    transit_of,
)
from aidpack.allocation.solve import SolveOptions

#: A re-plan's blocks that leave their kept lines look for the plan that moves the least of them
#: (:func:`_keep_most`) in this share of the integer budget, at least ``KEEP_MOST_MIN_SECONDS``. After a fifth of the
#: needs grew by half: the 1e6 bench's generator block found its plan in 1 s, not in 0.5 s; a scarce 1e5 scenario
#: (seed 3, supply x0.5) moved 263,812 units without this step, 247,405 with 0.5 s, 189,185 with 1.5 s; the 1e5 bench
#: 314,365 without, 313,191-314,302 with (its re-plan 0.8 s, with the step 1.3-2.3 s).
KEEP_MOST_SHARE = 1.0
KEEP_MOST_MIN_SECONDS = 1.0
#: HiGHS's transit stage runs again (at most this many rounds in all) when its plan served the tiers better.
TRANSIT_ROUNDS = 2
#: The largest block whose transit HiGHS MIP is asked to prove (see :func:`_transit_phase`; a 3,240-arc
#: diesel block of tankers, drums and loose litres: proved in 0.7 s, 3.3 times fewer unit-days than rounded).
TRANSIT_MIP_ARCS = 6_000
#: A block's first try in the transit phase gets this share of its part of the phase, so that the blocks HiGHS did
#: not prove get the rest (a core scenario of 4,000 edges: a 219-arc medicines block, proved in 0.55 s, had 0.49 s
#: while later, larger blocks took the rest of the phase and left the plan 2,997 unit-days above its bound).
FIRST_SHARE = 0.5
#: Without a time limit, the least time the transit phase has (see :func:`finish_blocks`), and in a plan of at most
#: ``mip_phase.EXACT_PLAN_EDGES`` edges, whose user waits for a proof (a core scenario of 4,000 edges, supply x0.5:
#: its tiers' MIP took 3.3 s, and a 219-arc medicines block was left 4,096 unit-days above its bound after 0.5 s,
#: transit gap 6.4e-3; proved in 1 s). The phase ends as soon as its blocks are proved.
TRANSIT_MIN_SECONDS = 0.5
TRANSIT_MIN_SECONDS_EXACT = 1.0
#: Without a time limit, a block within reach of the phase is tried even while blocks too large for it keep the plan
#: beyond the final gap, when its own excess over its bound is more than this share of the plan's unit-days: the
#: plan cannot be proved, but those unit-days are days sooner for its needs. The 1e5 bench: a 1,566-arc water block
#: of bladders and loose litres travelled 1,818,317 unit-days where HiGHS proves 1,608,342 in 0.25 s (3.9 % of the
#: plan's 5,355,763), and was never tried because a 23,000-arc diesel block kept the plan 25 % beyond the gap
#: (engine 0.47 -> 0.78 s). QA's bulk shape at 5e4 edges (seed 41): with the whole-unit bounds of the blocks
#: tried, the plan's reported transit gap 0.49 -> 0.098. Blocks of a smaller excess are left, as before, for speed.
TRANSIT_WORTH = 1e-2
#: The largest block too large for the stage whose whole-unit transit bound the phase makes when its excess is worth it
#: (see above; the 1e5 bench: a diesel block of 23,268 arcs, 35,000 edges, loose litres, drums and tankers, 1,333,076
#: unit-days above the LP's transit, 259,621 above its whole-unit bound, found in 0.06 s: the plan's reported transit
#: gap 0.27 -> 0.06; the 1e6 bench's 171,167-arc one would take 0.31 s).
BOUND_WORTH_ARCS = 50_000


def _reaches_lp(stage: BlockState) -> bool:
    assert stage.rounded is not None
    assert stage.outcome.lp_bound is not None
    return float(tier_gaps(stage.outcome.lp_bound, stage.rounded.tier_values).max(initial=0.0)) == 0.0


def _transit_excess(stage: BlockState, within: float = 0.0) -> float:
    """Unit-days the block's whole-unit plan spends above the best bound proved for a plan serving its
    tiers: the LP's transit (once the plan serves the LP's tiers) or HiGHS's transit bound. A block that serves
    the tiers HiGHS proved optimal, below the LP's, or within ``within`` of its tiers' bound (a small plan: its tier
    gap, which the plan calls optimal), has only HiGHS's transit bound (none: every unit-day is unproved; the LP's
    transit bounds plans serving the LP's tiers, not fewer people). A block short of its tiers' bound carries its tier
    gap instead (0 here). (A block of three needs whose MIP proved its tiers travelled 55 unit-days where 47 serve
    them, and the plan said optimal, gap 0; one of ten needs 8.9e-7 of its critical tier short of the LP, 75.6 where
    72 do.)"""
    if stage.rounded is None:
        return 0.0
    proved = stage.transit_bound if stage.transit_bound is not None else 0.0
    if _reaches_lp(stage):
        bound = max(stage.lp_transit, proved)
    elif float(tier_gaps(stage.outcome.tier_bound, stage.rounded.tier_values).max(initial=0.0)) <= within:
        bound = proved
    else:
        return 0.0
    return max(transit_of(stage.block, stage.rounded.units) - bound, 0.0)


def _transit_phase(
    stages: list[BlockState],
    options: SolveOptions,
    deadline: float | None,
    phase_end: float,
    workers: int,
    names: tuple[str, ...],
    prove_kept: bool = False,
    within: float = 0.0,
) -> None:
    """While the plan's transit is further than the final gap from its bound, and only when the blocks
    below can bring it within (or one of them alone is more than ``TRANSIT_WORTH`` of the plan's unit-days above its
    bound, see ``within_reach``): whole-unit blocks that serve the LP's tiers but travel more than the LP
    first get the tighter bound of their whole-unit LP (:func:`bounds.whole_unit_transit_bound`: the LP
    pours a 30,000-litre tanker into four villages, whole it goes to one need), then the small ones still
    above it go to HiGHS MIP for their transit stage too (a drum sent from a far hub so that a near one
    can fill another need whole), most excess first, in whatever integer budget is left. HiGHS keeps the
    tiers and proves a bound on the transit, which the plan reports."""
    plan_transit = sum(transit_of(s.block, s.outcome.units) for s in stages if s.outcome.edge_ids is s.block.edge_ids)
    allowed = options.final_gap * max(plan_transit, 1.0)
    worth = TRANSIT_WORTH * max(plan_transit, 1.0)  # an excess worth HiGHS's time whatever the other blocks do

    def within_reach(limit: int) -> list[BlockState]:
        """The blocks up to ``limit`` arcs above their transit bound, most excess first, when they are what stands
        between the plan and the final gap (none when the plan is within it already; when larger blocks alone are
        further from their bound than the gap allows, this run cannot prove it, and only blocks whose own excess is
        more than ``TRANSIT_WORTH`` of the plan's unit-days are worth the time). With a time limit of the caller's,
        they are tried whatever the larger ones do: the caller gave the time, and each block's unit-days saved are
        days sooner for its needs (a 3e4-edge core scenario, seed 105, supply x4: a 646-arc block travelled 917,542
        unit-days against a bound of 813,408 while an 8,685-arc one kept the plan beyond the gap, and no block was
        tried with 30 s given)."""
        excess = {id(s): _transit_excess(s, within) for s in stages}
        selected = [
            s for s in stages
            if excess[id(s)] > 0 and s.amount is not None and s.block.size <= limit
        ]
        total = sum(excess.values())
        beyond = total - sum(excess[id(s)] for s in selected) > allowed
        if total <= allowed:
            return []
        if beyond and deadline is None:
            selected = [s for s in selected if excess[id(s)] > worth]
        return sorted(selected, key=lambda s: (-excess[id(s)], s.block.capability))

    def tighten(stage: BlockState) -> None:
        """The block's whole-unit transit bound, where some pack exceeds a need (else it is the LP's)."""
        assert stage.rounded is not None
        if not has_oversize(stage.block):
            return  # no pack exceeds a need: the whole-unit LP is the LP
        started = time.perf_counter()
        bound = whole_unit_transit_bound(stage.block, stage.rounded.tier_values, stage.rounded.units > 0, deadline)
        if bound is not None:
            stage.transit_bound = max(bound, stage.transit_bound or 0.0)
        stage.outcome.log.append({
            "capability": names[stage.block.capability], "stage": "whole-unit transit bound",
            "seconds": round(time.perf_counter() - started, 4),
        })

    # A block too large for the stage whose excess over the LP's unit-days is more than TRANSIT_WORTH of the plan's
    # gets its whole-unit bound all the same, up to BOUND_WORTH_ARCS arcs: what it proves is the plan's reported gap.
    for stage in stages:
        if (WHOLE_UNIT_REACH_ARCS < stage.block.size <= BOUND_WORTH_ARCS and stage.amount is not None
                and _transit_excess(stage, within) > worth):
            tighten(stage)
    # With a time limit of the caller's, that time goes to larger blocks too (HiGHS's restricted MIP).
    mip_arcs = TRANSIT_MIP_ARCS if deadline is None else WHOLE_UNIT_REACH_ARCS
    bounded = within_reach(WHOLE_UNIT_REACH_ARCS)
    if not bounded:
        return
    for stage in bounded:
        tighten(stage)
    # A re-plan's kept lines stay (in a small plan, HiGHS proves their unit-days, ``prove_kept``, and they stay unless
    # it finds more than the final gap): HiGHS's transit stage, time-limited, would find in a re-plan (whose tier
    # stages, started from the kept plan, finish sooner) unit-days the first plan had no time for, and reshuffle what
    # donors prepare for them (1e4 bench, nothing changed: 764 units moved in two blocks of 28 and 39 arcs for 76
    # unit-days, 1.3e-4 of the plan's). A changed block whose fresh roundings travel less by more than the final
    # gap has left its kept lines in the first pass already.
    todo = [s for s in within_reach(mip_arcs) if not keeps(s) or prove_kept]
    if not todo:
        return
    # First a share of the phase by size (a 3,240-arc diesel block needs 0.7 s, a 20-arc one a few milliseconds), half
    # of it (``FIRST_SHARE``); then the blocks HiGHS did not prove go again, most excess first, each with what is left
    # (a 4,000-edge national scenario, seed 3: a 1,642-arc diesel block proved in 0.08 s of its 1.06 s share, while a
    # 121-arc medicines block, whose proof takes 0.3-0.6 s, had 0.12 s and left the plan 8,562 unit-days short of
    # its bound, transit gap 8.8e-3; the 1e4 bench's plan, 7.4e-3 with whole shares, is proved with halves).
    phase, total_arcs = phase_end - time.perf_counter(), sum(s.block.size for s in todo)

    def run(stage: BlockState, retry: bool = False) -> None:
        assert stage.amount is not None
        # (a retry: whatever is left of the phase)
        share = phase_end - time.perf_counter() if retry else max(
            FIRST_SHARE * phase * min(workers, len(todo)) * stage.block.size / max(total_arcs, 1), MIN_MIP_SECONDS)
        started = time.perf_counter()
        ends = min(started + share, phase_end)
        if ends - started < MIN_MIP_SECONDS / 2:
            return  # (the phase is over)
        # A second round when HiGHS's plan served a tier better than the plan it held (a rounding within the tier
        # gap): its bound holds for plans serving the old tiers, so the new plan's unit-days are proved at its own.
        for _ in range(TRANSIT_ROUNDS):
            assert stage.rounded is not None
            budget = ends - time.perf_counter()
            if budget < MIN_MIP_SECONDS / 2:
                break
            before = stage.rounded
            # The plan already serves the LP's tiers (else its transit is not what stands in the way): HiGHS holds
            # them there and minimises transit alone, so that its bound holds for every plan that serves them.
            hold = transit_hold(stage.block, before.tier_values)
            # A tier the plan serves in full is held in full (every need of it covered), not a hair below.
            full = np.bincount(stage.block.tier, weights=stage.block.people, minlength=4)[:4]
            hold = np.where(before.tier_values >= full * (1 - 1e-12), full, hold)
            better = exact_fine(stage.block, mip_round(stage.block, stage.amount, before, budget=budget,
                                                       options=options, by_hub=True, fixed_tiers=hold,
                                                       transit_tie=transit_tie(stage)))
            # Taken when it serves the tiers better, or as well and travels less: tiers compared to float noise,
            # so that no hair of a tier is traded for unit-days (nor a re-plan's kept lines for the final gap); or
            # when it serves each tier at least as HiGHS held it (within SPEC §4's tolerance of the plan's) and
            # travels less by more than the final gap (a block of six needs: 69 unit-days where the plan's took
            # 137, refused for the 1e-8 of a person its hold let HiGHS give up).
            saves = transit_of(stage.block, better.units) < transit_of(stage.block, before.units) * (
                1 - options.final_gap)
            held_up = bool(np.all(better.tier_values >= hold))
            if (better_plan(stage.block, better, before, rel=EXACT) or (held_up and saves)) and (
                stage.kept is None or not keeps(stage)
                or beats_kept(stage.block, better, stage.kept, options.final_gap, EXACT)
            ):
                # A bound proved for plans that serve every tier at least as the old one did still holds for
                # the new plan when it does; HiGHS's own holds for the plan it was checked against.
                kept = stage.transit_bound if held_up else None
                bounds = [b for b in (kept, better.transit_bound) if b is not None]
                stage.transit_bound = max(bounds) if bounds else None
                stage.rounded = better
                stage.outcome.units = better.units
                stage.outcome.method = f"flow+{better.method}"
                if not lex_better(better.tier_values, before.tier_values, rel=EXACT):
                    break
            else:
                if better.transit_bound is not None:
                    # The plan kept travels less than HiGHS's (often the same plan, HiGHS's a millionth of a
                    # unit-day off by its tolerances): HiGHS's bound holds for it too, as it serves the tiers HiGHS
                    # held (a fuel block proved optimal reported a transit gap of 0.25 without this).
                    stage.transit_bound = max(better.transit_bound, stage.transit_bound or 0.0)
                break
        stage.outcome.log.append({
            "capability": names[stage.block.capability], "stage": "transit mip",
            "seconds": round(time.perf_counter() - started, 4), "budget": round(ends - started, 3),
        })

    for_each(run, todo, workers)
    # Again, most excess first, each with what is left of the phase, while the plan is still beyond the final gap and
    # these blocks could bring it within (or the caller gave the time; the 1e4 bench: a plan 7e-3 beyond the gap
    # by blocks too large for the stage would take 0.6 s more for nothing).
    excess = {id(s): _transit_excess(s, within) for s in stages}
    again = sorted((s for s in todo if excess[id(s)] > 0), key=lambda s: (-excess[id(s)], s.block.capability))
    total = sum(excess.values())
    others = total - sum(excess[id(s)] for s in again)
    if again and phase_end - time.perf_counter() >= MIN_MIP_SECONDS and total > allowed and (
            others <= allowed or deadline is not None):
        for_each(lambda stage: run(stage, retry=True), again, workers)


def _consolidate(stages: list[BlockState], final_gap: float, names: tuple[str, ...]) -> None:
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
        if keeps(stage) and stage.kept is not None and not beats_kept(stage.block, candidate, stage.kept, final_gap):
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
    stages: list[BlockState], previous: FloatArray | None, options: SolveOptions, deadline: float | None, n_edges: int,
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
        and ((s.kept is not None and s.rounded is not None and not keeps(s))
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

    def one(stage: BlockState) -> None:
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

    for_each(one, sorted(moved, key=lambda s: (search[id(s)], s.block.capability)), workers)


def finish_blocks(
    stage1: list[BlockState],
    keep: FloatArray | None,
    options: SolveOptions,
    deadline: float | None,
    integer_end: float,
    workers: int,
    plan_edges: int,
    names: tuple[str, ...],
) -> None:
    """The blocks' unit-days once their tiers are settled: consolidated, the small ones' transit proved by HiGHS until
    ``integer_end``, a re-plan's kept lines moved no more than serving people needs (``keep``: the previous plan's
    units per edge); each block's transit excess over its best bound recorded."""
    # Blocks too large for HiGHS's transit stage first, so that the phase sees what stands between the plan and
    # the final gap; the others after it (before, a better incumbent sent HiGHS down another path: 1e4 bench,
    # generators, 806 unit-days in its time budget instead of 785).
    # The transit phase changes no block of the first kind, so each block is consolidated once.
    large = [s.block.size > TRANSIT_MIP_ARCS for s in stage1]
    # A small plan proves the unit-days of every block it calls optimal, those within the tier gap too.
    exact = plan_edges <= EXACT_PLAN_EDGES
    within = options.tier_gap if exact else 0.0
    _consolidate([s for s, big in zip(stage1, large, strict=True) if big], options.final_gap, names)
    # Unless the caller set the time (a time limit, or the integer budget itself), the transit phase has at least
    # TRANSIT_MIN_SECONDS, however long the tiers' MIP took (QA: a 163-need generator plan's MIP took its 2 s, and
    # the plan reported a transit gap of 0.08 that 0.5 s of the transit phase brings to 0.003).
    phase_end = integer_end
    if deadline is None and options.integer_budget is None:
        floor = TRANSIT_MIN_SECONDS_EXACT if exact else TRANSIT_MIN_SECONDS
        phase_end = max(integer_end, time.perf_counter() + floor)
    _transit_phase(stage1, options, deadline, phase_end, workers, names, prove_kept=exact, within=within)
    _consolidate([s for s, big in zip(stage1, large, strict=True) if not big], options.final_gap,
                 names)
    _keep_most(stage1, keep, options, deadline, plan_edges, workers, names)
    for stage in stage1:
        stage.outcome.transit_excess = _transit_excess(stage, within)
