"""HiGHS's MIP on the blocks whose rounding loses people (:func:`improve_roundings`): while the plan is further than
the tier gap from its bound, the blocks that lose in the tiers it is short of go to their pattern or count model where
they have one (:mod:`aidpack.allocation.patterns`, :mod:`aidpack.allocation.counts`), else to the arc MIP
(:func:`rounding.mip_round`), each with its rounding as HiGHS's start and a share of the integer budget, on a thread
per core (HiGHS releases the GIL). A block that still loses much of its first short tier gets a second round.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np

from aidpack.allocation.block_state import BlockState, for_each, keeps, transit_tie
from aidpack.allocation.choice import choose_roundings, kept_room, plan_loss, tiers_beat_kept
from aidpack.allocation.counts import count_model, count_round
from aidpack.allocation.flow import FlowBlock
from aidpack.allocation.keep import keep_pledges
from aidpack.allocation.packs import descend
from aidpack.allocation.patterns import engine_patterns, pattern_round
from aidpack.allocation.problem import BoolArray, FloatArray
from aidpack.allocation.rounding import (
    EXACT,
    FULL_MIP_ARCS,
    Rounded,
    better_plan,
    block_tier_values,
    mip_round,
    tier_gaps,
    transit_of,
)
from aidpack.allocation.solve import SolveOptions

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
#: A plan of at most this many candidate edges (the demo has 2,522) is solved exactly, its MIPs taking milliseconds:
#: every block whose rounding loses people goes to HiGHS's MIP, not only those that lose more than the tier gap (see
#: :func:`improve_roundings`), and a re-plan's kept lines go to HiGHS's transit stage too, for its proof of their
#: unit-days (they stay unless it finds more than the final gap, :func:`rounding.beats_kept`): a re-plan with nothing
#: changed then proves what its first plan proved (QA scenarios of 3-12 needs: "time_limit", gap 0.02-0.42, for the
#: same plan the first one proved optimal). Larger plans keep their re-plans fast (the 1e4 bench's re-plan with
#: nothing changed: 0.4 s without; 1.9-2.0 s with every kept block proved, 0.9-1.0 s with those of at most 200 arcs).
EXACT_PLAN_EDGES = 5_000
#: The tier stages' relative MIP gap in such a plan: the optimum, to HiGHS's tolerances.
EXACT_MIP_GAP = 1e-9
#: In a plan of at most this many candidate edges, a block's count MIP gives each stage that HiGHS's branch and bound
#: does not prove quickly its pattern bound and plan (:mod:`aidpack.allocation.columns`; the demo's generator block:
#: 18,751,988 high-tier people and `time_limit`, gap 8.5e-4, without; 18,760,757, optimal, with). Not in larger plans,
#: whose blocks' shares of the budget are short: the 1e6 bench's re-plan after a strike gave a 441-need generator
#: block's low stage 1.93 s, of which its pattern stage took 1.25 s (converged; its restricted MIP found nothing in
#: 0.54 s under three tight holds) and HiGHS's branch and bound, left the rest, found 36,289 low-tier people fewer (with
#: branch and bound first, as now, the same loss).
PATTERN_PLAN_EDGES = EXACT_PLAN_EDGES
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
#: A block that still loses more than this share of the plan's bound in the first tier the plan is short of, after
#: HiGHS's MIP, gets a second round of ``EXTEND_SECONDS`` (see :func:`_to_extend`). At 1e-3 (ten times the tier gap)
#: five scarce scenarios of 3e4-5e4 edges (seeds 3, 6, 10, 11, 12) each spent 2 s more; seed 3's generator block
#: gained 54,168 medium-tier people (4.1 % of the tier), the others 0 to 443 people. At 1e-2, once the count MIP
#: proved a generator block's bound, a scarce core 1e5 scenario (seed 11, supply x0.5) left 13,386 medium-tier
#: people (0.93 % of the tier) that the second round finds; at 5e-3 none of the other seven scarce scenarios tried
#: spends more.
EXTEND_LOSS = 5e-3
EXTEND_SECONDS = 2.0
#: The largest block that gets a second round of HiGHS (:func:`_to_extend`) or a whole-unit transit bound
#: (:func:`transit_phase._transit_phase`).
WHOLE_UNIT_REACH_ARCS = 20_000
#: Within a caller's time limit, the share of it the tiers' MIP phase leaves to the transit phase.
TRANSIT_RESERVE = 0.2


@dataclass(frozen=True)
class _Attempt:
    """One HiGHS MIP run on a block in the MIP phase: its random seed, the plan it kept, the plan it started
    from, its time share and the seconds it took."""

    seed: int
    plan: Rounded
    start: Rounded
    share: float
    seconds: float


def _mip_phase(
    stage1: list[BlockState],
    candidates: list[BlockState],
    short: BoolArray,
    options: SolveOptions,
    integer_end: float,
    workers: int,
    n_edges: int,
    names: tuple[str, ...],
    large_seconds: float | None = None,
) -> tuple[FloatArray, set[int]]:
    """HiGHS's MIP on ``candidates`` (blocks that lose people in the tiers the plan is ``short`` of) until
    ``integer_end``; the roundings chosen again for the plan as a whole. Returns what the plan may still lose per
    tier within the tier gap (:func:`choice.choose_roundings`), and the blocks (``id``) HiGHS ran on before the
    budget ran out."""
    # In a small plan HiGHS's tier stages go to the exact optimum, not only within the tier gap (a block's start 3e-6
    # of its medium tier short of it was within the gap, and HiGHS stopped there at once).
    mip_gap = EXACT_MIP_GAP if n_edges <= EXACT_PLAN_EDGES else options.tier_gap
    # Each block gets a share of the budget by size, never less than a small floor; the phase ends at its
    # own deadline.
    candidates = _mip_order(candidates, short)
    budget = integer_end - time.perf_counter()
    phase_end = integer_end
    total_arcs = sum(min(s.block.size, MIP_SHARE_ARCS) for s in candidates)
    large_cap = large_mip_seconds(n_edges) if large_seconds is None else large_seconds
    if large_cap < MIN_MIP_SECONDS:
        # A plan too small for a large block's MIP to pay (see LARGE_MIP_FROM_EDGES): its shares of the
        # budget, counted above, goes unused, and the phase ends that much sooner.
        candidates = [s for s in candidates if s.block.size <= LARGE_MIP_ARCS]
    else:
        candidates = [s for s in candidates if s.block.size <= LARGE_MIP_ARCS
                      or LARGE_MIP_FIXED_SHARE * s.outcome.flow_seconds <= large_cap]

    # HiGHS's search within a fraction of a second depends much on its random seed (1.5e6 bench, seed 9, a
    # transformer block in 0.5 s: 336,802 medium-tier people with one seed, none gained with the next) and on its
    # start. Where fewer blocks than threads go to HiGHS, the idle threads run the first blocks again with other
    # seeds from other starts (:func:`other_start`), in the same time; each block keeps the better plan, its first
    # seed's on ties.
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
    # A second round's large blocks (see _to_extend) take their count model with divisible pledges too.
    counts = {id(stage): count_model(stage.block, with_divisible=large_seconds is not None
                                     and stage.block.size > LARGE_MIP_ARCS)
              for stage in candidates if patterns[id(stage)] is None}

    def second(task: tuple[BlockState, int]) -> None:
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
        start = mip_start(stage) if seed == options.seed else other_start(stage)
        model, by_count = patterns[id(stage)], counts.get(id(stage))
        # A re-plan's kept lines: the pledges of a better plan's patterns or counts go where they went, where that
        # travels no more (unseen 3e4 scenario, seed 12, supply x0.5: a re-plan with nothing changed whose count MIP
        # found 308 more medium-tier people moved 825 generators).
        kept = stage.kept.units if stage.kept is not None and keeps(stage) else None
        if model is not None:
            better = _polished(stage.block, pattern_round(
                stage.block, model, start, budget=share, options=seeded, kept=kept), mip_gap)
        elif by_count is not None:
            better = _polished(stage.block, count_round(
                stage.block, by_count, start, budget=share, options=seeded, kept=kept,
                pattern_bound=n_edges <= PATTERN_PLAN_EDGES), mip_gap)
        else:
            # A restricted MIP also keeps every rounding's arcs, not only its start's (an independent 1.4e6-edge
            # scenario, 5,000-litre bladders and loose litres: from the greedy rounding's arcs alone HiGHS
            # reached 68,181 high-tier people, from the matched rounding's 69,922, from both and the others'
            # 70,287 in the same 0.3 s; the optimum lies between 70,800 and 70,910).
            also = np.logical_or.reduce([c.units > 0 for c in stage.candidates]) if stage.candidates else None
            rounds = RESTRICTED_MIP_ROUNDS if stage.block.size > FULL_MIP_ARCS and share >= ROUNDS_FROM_SECONDS \
                else 1
            better = _polished(stage.block, mip_round(
                stage.block, stage.amount, start, budget=share / rounds, options=seeded, transit_tie=transit_tie(stage),
                also=also), mip_gap)
            # Its next round starts from the plan the round before found and polished, with that plan's arcs too.
            while (rounds := rounds - 1) > 0 and better_plan(stage.block, better, start):
                left = started + share - time.perf_counter()
                if left < MIN_MIP_SECONDS / 2:
                    break
                found = better.units > 0
                again = _polished(stage.block, mip_round(
                    stage.block, stage.amount, better, budget=left, options=seeded, transit_tie=transit_tie(stage),
                    also=found if also is None else also | found), mip_gap)
                if not better_plan(stage.block, again, better):
                    break
                better = again
        attempts.setdefault(id(stage), []).append(_Attempt(seed, better, start, share,
                                                           time.perf_counter() - started))

    for_each(second, tasks, workers)
    for stage in candidates:
        tried = sorted(attempts.get(id(stage), []), key=lambda attempt: attempt.seed)
        if not tried or stage.rounded is None:
            continue
        better, start, share = tried[0].plan, tried[0].start, tried[0].share
        for other in tried[1:]:
            # In a small plan, solved exactly, a seed's plan is better only beyond float noise: another seed's from
            # another start served a 12-need diesel block's critical tier 1e-7 less (188,492.5975 people of the
            # optimum's 188,492.6164) for more of its high tier, within the usual 1e-6 of HiGHS's tolerances.
            if better_plan(stage.block, other.plan, better, rel=EXACT if mip_gap <= EXACT_MIP_GAP else 1e-6):
                better = other.plan
        if stage.kept is not None:
            better = _kept_pledges(stage.block, better, stage.kept)
        stage.candidates.append(better)
        # Tiers, then unit-days (else a re-plan, which starts HiGHS from the plan kept,
        # would find those unit-days and move lines).
        # A re-plan's kept lines stay for a plan of equal merit (see kept_room).
        stays = keeps(stage) and not tiers_beat_kept(better.tier_values, stage.rounded.tier_values,
                                                  kept_room(stage, options.tier_gap))
        if not stays and (start is stage.rounded
                          or better_plan(stage.block, better, stage.rounded)):
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
    left = choose_roundings(stage1, options.tier_gap)
    for stage in candidates:
        # HiGHS's bounds hold for the plan now chosen as far as it serves the earlier tiers as well as
        # HiGHS held them; its transit bound, for its own plan.
        proved, chosen = stage.candidates[-1].stage_bounds, stage.rounded
        if stage.unproved_bound is not None and proved is not None and chosen is not None:
            stage.outcome.tier_bound = np.minimum(stage.unproved_bound, proved.for_plan(chosen.tier_values))
        if chosen is stage.candidates[-1]:
            stage.transit_bound = chosen.transit_bound
    return left, set(attempts)


def _to_extend(
    stages: list[BlockState], tried: list[BlockState], budget_left: FloatArray, ran: set[int], mip_gap: float
) -> list[BlockState]:
    """The blocks HiGHS tried that still lose more than ``EXTEND_LOSS`` of the plan's bound in a tier the plan is
    short of, against a bound that whole units can reach there: blocks of at most ``WHOLE_UNIT_REACH_ARCS`` arcs
    (whose bound is their whole-unit bound or what HiGHS proved), or of at most ``LARGE_MIP_ARCS`` whose bound in that
    tier is a whole-unit bound below the LP's or that HiGHS takes as its count or pattern model (whose stages' rows are
    the block's, Hall's rows added as needed: QA's strike shape at 1e5 edges, seed 79, a 40,974-arc generator block
    19,054 high-tier people short left 1,111,333 medium-tier ones, 30 % of the tier, of which its count model's second
    round finds 319,618, and 13,000 high-tier people), or of more that serve every earlier tier at its bound and have
    such a model (on the others, where the bound is the LP's, it may be out of any plan's reach, and their MIPs gain
    little in seconds). With them, the blocks of at most ``WHOLE_UNIT_REACH_ARCS`` that the budget ran out before
    HiGHS reached.
    Any short tier, not only the first: HiGHS holds a block's earlier tiers while it works on a later one, and a
    scarce 1e5 scenario (national, seed 106, supply x0.3) whose high tier was short by 2e-4 left 7 % of its medium
    tier in a diesel block of 40,832 arcs (its oversize bound, which HiGHS reaches), and a 211-arc block that the
    budget never reached half its medium-tier people."""
    short = budget_left < 0
    if not short.any():
        return []
    bound, _ = plan_loss(stages)

    def reachable(stage: BlockState, tier: int) -> bool:
        if stage.block.size <= WHOLE_UNIT_REACH_ARCS or (
                (stage.block.size <= LARGE_MIP_ARCS or only_last_tier(stage, tier)) and has_own_model(stage)):
            return True
        lp = stage.outcome.lp_bound
        return stage.block.size <= LARGE_MIP_ARCS and lp is not None and bool(
            stage.outcome.tier_bound[tier] < lp[tier] - 1e-9 * max(abs(float(lp[tier])), 1.0))

    tiers: list[int] = np.flatnonzero(short).tolist()

    def only_last_tier(stage: BlockState, tier: int) -> bool:
        """Whether the block loses people in the plan's last short tier only, serving every earlier tier at its bound
        (within ``mip_gap``, where HiGHS's stages stop): its model's earlier stages are then proved at once, and
        HiGHS's time goes to that tier (a scarce core scenario, seed 131, 1.2e6 edges, x0.3: a diesel and a generator
        block losing in earlier tiers too took 5 s more in a second round and gained nothing). QA's strike shape at
        1e5 edges, seed 77: a 39,262-arc generator block 2 high-tier people short of its bound of 3,444,352 (6e-7)
        left 569,603 medium-tier people, 7.5 % of the tier, that a second round finds."""
        assert stage.rounded is not None
        lost = tier_gaps(stage.outcome.tier_bound, stage.rounded.tier_values) > mip_gap
        return tier == tiers[-1] and not bool(lost[:tier].any())

    def loses(stage: BlockState) -> bool:
        assert stage.rounded is not None
        loss = stage.outcome.tier_bound - stage.rounded.tier_values
        return any(float(loss[t]) > EXTEND_LOSS * float(bound[t]) and reachable(stage, t) for t in tiers)

    usable = [s for s in tried if s.rounded is not None and s.amount is not None]
    chosen = [s for s in usable if loses(s)]
    if not chosen:
        return []
    taken = ran | {id(s) for s in chosen}
    return chosen + [s for s in usable if id(s) not in taken and s.block.size <= WHOLE_UNIT_REACH_ARCS]


def has_own_model(stage: BlockState) -> bool:
    """Whether HiGHS can take the block as its pattern or count model (divisible pledges included): one column per
    need and pattern or size, however many arcs the block has, so that its MIP gets somewhere within a second round
    at any size (QA's unseen 'bulk' scenario: a 444,169-arc diesel block of tankers, IBCs and loose litres, whose
    rounding left 24,960 low-tier people, 3.4 % of the tier, that its count model finds in 1.2-1.9 s)."""
    return engine_patterns(stage.block) is not None or count_model(stage.block, with_divisible=True) is not None


def mip_start(stage: BlockState) -> Rounded:
    """HiGHS's start for a block's MIP: the block's plan, unless coordinate descent over its pack sizes made it;
    then the best of its other roundings. From a descent's plan, at a local optimum of every size given the
    others, HiGHS searches around it and ends lower (the demo's generator block: 1,987,073 high-tier people in 2 s,
    against 2,075,207 from any rounding of the LP; HiGHS proved 2,092,569 possible); the plan keeps whichever is
    better."""
    assert stage.rounded is not None
    if stage.rounded.method != "descent":
        return stage.rounded
    return _best(stage.block, [c for c in stage.candidates if c.method != "descent"], stage.rounded)


def other_start(stage: BlockState) -> Rounded:
    """HiGHS's start for a block's MIP on an idle thread, beside the first seed's from :func:`mip_start`: the best of
    the block's other plans (not a descent's, as there), so that the two searches begin apart. From one start HiGHS
    may end where it began whatever its seed: QA's strike shape at 1e5 edges (seed 77), a generator block's second
    round from its plan found nothing in 2 s on either seed; from the first pass's best other rounding, 439,126
    medium-tier people more (the plan's medium tier 7.5e-2 -> 6.7e-3 short of its bound). The start itself where the
    block has no other plan."""
    first = mip_start(stage)
    return _best(stage.block, [c for c in stage.candidates
                               if c.method != "descent" and not np.array_equal(c.units, first.units)], first)


def _best(block: FlowBlock, plans: list[Rounded], otherwise: Rounded) -> Rounded:
    """The best of ``plans`` (the first on ties), ``otherwise`` where there are none."""
    if not plans:
        return otherwise
    best = plans[0]
    for candidate in plans[1:]:
        if better_plan(block, candidate, best):
            best = candidate
    return best


def large_mip_seconds(edges: int) -> float:
    """The most HiGHS's MIP gets on a block of more than ``LARGE_MIP_ARCS`` arcs in a plan of ``edges``:
    nothing up to ``LARGE_MIP_FROM_EDGES``, then ``LARGE_MIP_SECONDS_PER_MILLION_EDGES`` per million beyond."""
    return max(0.0, LARGE_MIP_SECONDS_PER_MILLION_EDGES * (edges - LARGE_MIP_FROM_EDGES) / 1e6)


def _mip_order(stages: list[BlockState], short: BoolArray) -> list[BlockState]:
    """The order in which blocks go to HiGHS MIP: blocks of at most ``LARGE_MIP_ARCS`` first (HiGHS often
    improves them within the budget), the larger ones with what is left; among them, most people lost
    first in the tiers the plan is ``short`` of (the first such tier decides: a block that lost a few
    high-tier people within that tier's gap waits behind one that lost thousands of medium-tier ones)."""

    def priority(stage: BlockState) -> tuple[float, ...]:
        assert stage.rounded is not None
        loss = (stage.outcome.tier_bound - stage.rounded.tier_values)[short]
        large = float(stage.block.size > LARGE_MIP_ARCS)
        return (large, *(-float(v) for v in loss), float(stage.block.capability))

    return sorted(stages, key=priority)


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


def _polished(block: FlowBlock, plan: Rounded, gap: float) -> Rounded:
    """HiGHS's plan, its stages stopped at their gaps, with each pack size solved again given the others, when
    that is better (the demo's generator block: 117 more high-tier people in 0.02 s) and not only by a share of a tier
    within ``gap`` (HiGHS's stages', SPEC §4's 1e-4) bought with more than that of a later one: HiGHS's stages proved
    each tier within its gap and held it there, and the later tiers are what that hold leaves. QA's strike shape at
    1e5 edges, seed 79: a generator block's count MIP served 2,984,755 high-tier people (2.5e-5 below the optimum) and
    1,476,724 medium-tier ones; the descent from it, 74 high-tier people more and 1,026,524 medium-tier ones fewer."""
    if plan.method not in ("mip", "restricted-mip", "patterns", "counts"):
        return plan
    polished = descend(block, plan.units)
    if better_plan(block, polished, plan) and not _trades_within_gap(polished.tier_values, plan.tier_values, gap):
        return replace(plan, units=polished.units, tier_values=polished.tier_values)
    return plan


def _trades_within_gap(new: FloatArray, old: FloatArray, gap: float) -> bool:
    """Whether ``new`` serves its first tier above ``old`` by at most ``gap`` of it and some later tier less by more."""
    scale = np.maximum(np.abs(old), 1.0)
    gained = np.flatnonzero(new - old > 1e-6 * scale)
    if gained.size == 0:
        return False
    first = int(gained[0])
    return bool(new[first] - old[first] <= gap * scale[first]) and bool(
        np.any(old[first + 1:] - new[first + 1:] > gap * scale[first + 1:]))


def improve_roundings(
    stage1: list[BlockState],
    budget_left: FloatArray,
    options: SolveOptions,
    deadline: float | None,
    workers: int,
    plan_edges: int,
    names: tuple[str, ...],
) -> float:
    """HiGHS's MIP on the blocks whose chosen rounding loses people (``budget_left``: what the plan may still lose per
    tier, :func:`choice.choose_roundings`), within the integer budget (or until ``deadline``); the roundings chosen
    again. Returns when the integer budget ends (the transit phase's time runs to it)."""
    now = time.perf_counter()
    integer_end = now + (options.integer_seconds(plan_edges) if deadline is None else max(deadline - now, 0.0))
    # Within a caller's time limit, the tiers' MIP leaves the transit phase its share (QA: a 163-need generator plan
    # given 10 s and 30 s spent them all on a tier HiGHS could not prove, and reported a transit gap of 0.40-0.49
    # where the transit phase brings it to 0.003 in 0.5 s).
    mip_end = integer_end if deadline is None else now + (1.0 - TRANSIT_RESERVE) * (integer_end - now)
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
        budget_left, ran = _mip_phase(stage1, candidates, short, options, mip_end, workers, plan_edges, names)
        # A block that still loses a large share of a tier the plan is short of gets a second round, with
        # time of its own (a scarce 3e4-edge scenario, seed 3, supply x0.5: a 4,061-arc generator block lost 54,000
        # medium-tier people, 4 % of the tier, which HiGHS finds in 1-1.4 s and not in the 0.36 s of its share). Not
        # when the caller set the time (a time limit, or the integer budget itself).
        extend = _to_extend(stage1, candidates, budget_left, ran, EXACT_MIP_GAP if exact else options.tier_gap) \
            if deadline is None and options.integer_budget is None else []
        if extend:
            integer_end = time.perf_counter() + EXTEND_SECONDS
            budget_left, _ = _mip_phase(stage1, extend, budget_left < 0, options, integer_end, workers, plan_edges,
                                        names, large_seconds=EXTEND_SECONDS)
    return integer_end
