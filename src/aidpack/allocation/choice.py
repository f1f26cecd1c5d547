"""One rounding per block, chosen for the plan as a whole (:func:`choose_roundings`): a tier's gap is relative to the
plan's tier, so the blocks are compared by what they lose of it, the earliest tier first; and when another plan is of
more merit than a re-plan's kept lines (:func:`kept_room`, :func:`tiers_beat_kept`).
"""

from __future__ import annotations

import numpy as np

from aidpack.allocation.block_state import BlockState, keeps
from aidpack.allocation.problem import FloatArray
from aidpack.allocation.rounding import Rounded, tier_gaps
from aidpack.allocation.solve import MIP_NOISE

#: How much less of a tier (relative) than its kept lines serve a re-plan's plan may serve and still count as serving
#: it as well (see :func:`tiers_beat_kept`).
KEPT_NOISE = 1e-12
#: The least people a tier must gain for a re-plan to move its kept lines (see :func:`kept_room`).
KEPT_MIN_GAIN = 1.0


def kept_room(stage: BlockState, tier_gap: float) -> FloatArray:
    """People per tier within which another plan is of equal merit to a re-plan's kept lines: the tier gap of the
    block's own bound, at least ``KEPT_MIN_GAIN`` (so that over all blocks, what kept lines forgo stays within the
    plan's tier gap). HiGHS, stopped by its time limit in the first plan, finds a little more when a re-plan starts
    it from there: 2e4-edge scenarios, supply x0.3-x0.6, re-plans with nothing changed moved 342 generators for 3.9
    low-tier people and 58,944 litres of diesel for 0.1 of one."""
    return np.maximum(tier_gap * stage.outcome.tier_bound, KEPT_MIN_GAIN)


def tiers_beat_kept(found: FloatArray, kept: FloatArray, room: FloatArray) -> bool:
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


def first_short(bound: FloatArray, rounded: Rounded) -> int:
    """The first tier in which ``rounded`` serves fewer people than ``bound`` (the last when none does)."""
    short = np.flatnonzero(tier_gaps(bound, rounded.tier_values) > 0)
    return int(short[0]) if short.size else 3


def plan_loss(stages: list[BlockState]) -> tuple[FloatArray, FloatArray]:
    """The plan's LP bound per tier (all blocks) and what the chosen roundings lose against it."""
    bound = np.sum([s.outcome.tier_bound for s in stages], axis=0) if stages else np.zeros(4)
    loss = np.zeros(4)
    for s in stages:
        if s.rounded is not None:
            loss += np.maximum(s.outcome.tier_bound - s.rounded.tier_values, 0.0)
    return bound, loss


def choose_roundings(stages: list[BlockState], tier_gap: float) -> FloatArray:
    """Pick one rounding per block for the plan as a whole; return what the plan may still lose per tier within the
    tier gap (negative where the roundings lose more: the tiers HiGHS's MIP phase works on).

    Each block starts from its lexicographically best rounding (a re-plan's, from the previous lines where
    they are kept; they come first among its candidates, so that ties keep them) and moves to another only for a
    gain at a tier that gives up nothing at the tiers before it (beyond HiGHS's integrality noise): largest gains
    first, earliest tiers first. The plan is lexicographic, as SPEC §4 has it: a tier's gap is what the solver could
    not prove, never a budget to trade its people for a later tier's. (With half the gap to spend, as up to session
    22, the plans traded: on the demo, a critical need of 1,500 people got nothing while high-tier needs took the
    generators it asked for; on 200 random small scenarios checked against an exact lexicographic MIP, a 1-person
    critical need's blankets went to a high-tier one.)
    """
    bound, _ = plan_loss(stages)

    def gain(stage: BlockState, candidate: Rounded, tier: int) -> float:
        """People ``candidate`` adds at ``tier`` over the block's plan (0 unless beyond solver noise and it gives up
        nothing at earlier tiers beyond HiGHS's integrality noise). A re-plan's kept lines give up nothing for it
        (beyond the block's own noise: the plan's noise on its tier let a 316-arc block of the unseen 1.6e6 scenario,
        seed 71, trade 6.7 high-tier people for 97 medium-tier ones and move 13 units), and go only for more than the
        tier gap of the block's bound (:func:`kept_room`): a plan within it is of equal merit, and they stay."""
        assert stage.rounded is not None
        current = stage.rounded
        delta = candidate.tier_values - current.tier_values
        noise = 1e-6 * max(abs(float(current.tier_values[tier])), 1.0)
        if keeps(stage):
            noise = max(noise, float(kept_room(stage, tier_gap)[tier]))
            allowed = -KEPT_NOISE * np.maximum(np.abs(current.tier_values[:tier]), 1.0)
        else:
            # What a move may give up at earlier tiers: HiGHS's integrality noise on the block's own tiers (not the
            # plan's: 1e-6 of a national tier is 20 people).
            allowed = -MIP_NOISE * np.maximum(np.abs(current.tier_values[:tier]), 1.0)
        affordable = bool(np.all(delta[:tier] >= allowed))
        return float(delta[tier]) if delta[tier] > noise and affordable else 0.0

    def choices(stage: BlockState, tier: int) -> list[int]:
        """The candidates a move may take the block to: a re-plan's kept lines alone where going back to them gains
        (a move elsewhere would move more units for the same people)."""
        kept = [j for j, c in enumerate(stage.candidates) if c is stage.kept]
        if kept and not keeps(stage) and gain(stage, stage.candidates[kept[0]], tier) > 0:
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
                continue  # no gain, or an earlier move in this block changed the picture
            stage.rounded = candidate
            stage.outcome.units = candidate.units
            stage.outcome.method = f"flow+{candidate.method}"
    _, loss = plan_loss(stages)
    left: FloatArray = tier_gap * bound - loss
    return left
