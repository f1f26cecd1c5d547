"""A re-plan's new plan keeps the kept lines' pledges wherever that changes nothing else, and moves no more of them
than serving its people needs (allocation.keep)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aidpack.allocation.flow import FlowBlock
from aidpack.allocation.keep import keep_most, keep_pledges, moved_amount
from aidpack.allocation.rounding import block_tier_values, transit_of
from tests.allocation.builders import TIERS, Instance, N, P, only_block
from tests.allocation.test_patterns import random_plan


def _per_need_and_size(block: FlowBlock, units: np.ndarray) -> dict[tuple[int, float, bool], float]:
    """What each need gets of each pack size (factor, whole or not)."""
    got: dict[tuple[int, float, bool], float] = {}
    for arc in np.flatnonzero(units > 0).tolist():
        p = int(block.arc_pledge[arc])
        key = (int(block.arc_need[arc]), float(block.factor[p]), bool(block.integer[p]))
        got[key] = got.get(key, 0.0) + float(units[arc])
    return got


def _arc(block: FlowBlock, pledge: int, need: int) -> int:
    return int(np.flatnonzero((block.arc_pledge == pledge) & (block.arc_need == need))[0])


def _block_and_plans(instance: Instance, data: st.DataObject) -> tuple[FlowBlock, np.ndarray, np.ndarray]:
    """The instance's one block, a plan of it and a previous plan's kept lines, both drawn at random."""
    block = only_block(instance)
    return block, random_plan(block, data), random_plan(block, data)


def _within_the_pledges(block: FlowBlock, units: np.ndarray) -> bool:
    """No pledge gives more than its units, and no arc carries less than nothing."""
    used = np.bincount(block.arc_pledge, weights=units, minlength=block.pledges.size)
    return bool(np.all(used <= block.units + 1e-9) and np.all(units >= 0))


def test_the_same_need_gets_its_drums_from_the_pledge_it_had_them_from() -> None:
    # Two pledges of 200-litre drums at the same hub, one need: the new plan took them from A, the kept lines from B.
    block = only_block(Instance(needs=[N("clinic", "DIESEL-L", 1_000)],
                                pledges=[P("A", "DIESEL-L", 5, factor=200.0, integer=True),
                                         P("B", "DIESEL-L", 5, factor=200.0, integer=True)]))
    a, b = _arc(block, 0, 0), _arc(block, 1, 0)
    plan, kept = np.zeros(block.n_arcs), np.zeros(block.n_arcs)
    plan[a], kept[b] = 5.0, 5.0
    assert keep_pledges(block, plan, kept)[[a, b]].tolist() == [0.0, 5.0]


def test_a_kept_pledge_that_travels_longer_is_not_taken_back() -> None:
    # Unit-days are the last objective: neither sending each need's sizes by the kept pledges nor keeping the most of
    # the kept lines brings the far drums back.
    block = only_block(Instance(needs=[N("clinic", "DIESEL-L", 1_000)],
                                pledges=[P("A-near", "DIESEL-L", 5, factor=200.0, integer=True, hub=0),
                                         P("B-far", "DIESEL-L", 5, factor=200.0, integer=True, hub=1)],
                                transit=[[1], [3]]))
    near, far = _arc(block, 0, 0), _arc(block, 1, 0)
    plan, kept = np.zeros(block.n_arcs), np.zeros(block.n_arcs)
    plan[near], kept[far] = 5.0, 5.0
    assert keep_pledges(block, plan, kept)[[near, far]].tolist() == [5.0, 0.0]
    assert keep_most(block, plan, block_tier_values(block, plan), kept, seconds=5.0) is None


def test_loose_litres_go_back_to_the_kept_need_pledge_pairs() -> None:
    # Two needs, two litre pledges, all one day apart: the new plan crossed them over.
    block = only_block(Instance(needs=[N("n1", "DIESEL-L", 300), N("n2", "DIESEL-L", 300)],
                                pledges=[P("A", "DIESEL-L", 300), P("B", "DIESEL-L", 300)]))
    plan, kept = np.zeros(block.n_arcs), np.zeros(block.n_arcs)
    plan[[_arc(block, 0, 1), _arc(block, 1, 0)]] = 300.0
    kept[[_arc(block, 0, 0), _arc(block, 1, 1)]] = 300.0
    np.testing.assert_allclose(keep_pledges(block, plan, kept), kept)


@st.composite
def mixed_blocks(draw: st.DrawFn) -> Instance:
    """Needs in several tiers and regions; drums, tankers and loose litres from two hubs."""
    needs = [N(f"N{i}", "DIESEL-L", draw(st.sampled_from([150, 400, 900, 2_000, 5_000])),
               tier=draw(st.sampled_from(TIERS)), people=draw(st.integers(1, 300)), region=draw(st.integers(0, 1)))
             for i in range(draw(st.integers(1, 6)))]
    pledges = [P(f"P{j}", "DIESEL-L", draw(st.integers(1, 6)) * (1 if size > 1 else 100), factor=float(size),
                 integer=size > 1, hub=draw(st.integers(0, 1)))
               for j, size in enumerate(draw(st.lists(st.sampled_from([1, 200, 1_000]), min_size=1, max_size=6)))]
    return Instance(needs=needs, pledges=pledges, transit=[[1, 2], [2, 1]])


@settings(max_examples=80, deadline=None)
@given(mixed_blocks(), st.data())
def test_every_need_gets_the_same_of_each_size_no_unit_travels_longer_and_no_pledge_gives_more(
    instance: Instance, data: st.DataObject
) -> None:
    block, plan, kept = _block_and_plans(instance, data)
    kept_back = keep_pledges(block, plan, kept)
    assert _per_need_and_size(block, kept_back) == _per_need_and_size(block, plan)
    assert block_tier_values(block, kept_back).tolist() == block_tier_values(block, plan).tolist()
    assert transit_of(block, kept_back) <= transit_of(block, plan) + 1e-9
    assert _within_the_pledges(block, kept_back)
    # Of the assignments with the fewest unit-days, one that sends the most kept units again.
    fewest = keep_pledges(block, plan, np.zeros(block.n_arcs))
    assert transit_of(block, kept_back) == pytest.approx(transit_of(block, fewest), rel=1e-12)
    assert float(np.minimum(kept_back, kept).sum()) >= float(np.minimum(fewest, kept).sum()) - 1e-9


def _tanker_and_drums() -> FlowBlock:
    # Two medium-tier needs of 3,000 litres, one 3,000-litre tanker and fifteen 200-litre drums, one hub.
    return only_block(Instance(needs=[N("n1", "DIESEL-L", 3_000, tier="medium", people=50),
                                      N("n2", "DIESEL-L", 3_000, tier="medium", people=50)],
                               pledges=[P("D", "DIESEL-L", 15, factor=200.0, integer=True),
                                        P("T", "DIESEL-L", 1, factor=3_000.0, integer=True)]))


def test_a_plan_of_the_same_people_gives_the_kept_tanker_and_drums_back_to_their_needs() -> None:
    # The kept lines sent the tanker to n1 and the drums to n2; the new plan swapped them. Per need and size nothing
    # is the same, so only a plan that swaps them back keeps the lines.
    block = _tanker_and_drums()
    drums, tanker = 0, 1
    plan, kept = np.zeros(block.n_arcs), np.zeros(block.n_arcs)
    plan[_arc(block, drums, 0)], plan[_arc(block, tanker, 1)] = 15.0, 1.0
    kept[_arc(block, tanker, 0)], kept[_arc(block, drums, 1)] = 1.0, 15.0
    assert keep_pledges(block, plan, kept).tolist() == plan.tolist()
    kept_most = keep_most(block, plan, block_tier_values(block, plan), kept, seconds=5.0)
    assert kept_most is not None
    assert kept_most.tolist() == kept.tolist()
    assert moved_amount(block, kept_most, kept) == 0.0


def test_only_what_serving_a_new_need_takes_moves() -> None:
    # The kept lines sent 15 drums to n1; the new plan serves a new need n2 of the same merit too, and sent the
    # tanker to n1 and the drums to n2. Keeping the drums at n1 and sending the tanker to n2 serves the same.
    block = _tanker_and_drums()
    drums, tanker = 0, 1
    plan, kept = np.zeros(block.n_arcs), np.zeros(block.n_arcs)
    plan[_arc(block, tanker, 0)], plan[_arc(block, drums, 1)] = 1.0, 15.0
    kept[_arc(block, drums, 0)] = 15.0
    kept_most = keep_most(block, plan, block_tier_values(block, plan), kept, seconds=5.0)
    assert kept_most is not None
    assert kept_most[_arc(block, drums, 0)] == 15.0
    assert kept_most[_arc(block, tanker, 1)] == 1.0
    assert block_tier_values(block, kept_most).tolist() == block_tier_values(block, plan).tolist()


def test_lines_that_must_move_to_serve_the_plans_people_move() -> None:
    # The kept lines sent the tanker to a low-tier need; the new plan serves a high-tier need with it. No plan keeps
    # it and serves the high tier as well: the plan stands.
    block = only_block(Instance(needs=[N("high", "DIESEL-L", 3_000, tier="high", people=500),
                                       N("low", "DIESEL-L", 3_000, tier="low", people=500)],
                                pledges=[P("T", "DIESEL-L", 1, factor=3_000.0, integer=True)]))
    plan, kept = np.zeros(block.n_arcs), np.zeros(block.n_arcs)
    plan[_arc(block, 0, 0)], kept[_arc(block, 0, 1)] = 1.0, 1.0
    assert keep_most(block, plan, block_tier_values(block, plan), kept, seconds=5.0) is None


def test_a_plan_that_moves_nothing_is_left_alone() -> None:
    block = _tanker_and_drums()
    plan = np.zeros(block.n_arcs)
    plan[_arc(block, 1, 0)] = 1.0
    assert keep_most(block, plan, block_tier_values(block, plan), plan.copy(), seconds=5.0) is None


@settings(max_examples=60, deadline=None)
@given(mixed_blocks(), st.data())
def test_the_plan_moving_the_least_serves_every_tier_as_well_within_the_pledges(
    instance: Instance, data: st.DataObject
) -> None:
    block, plan, kept = _block_and_plans(instance, data)
    tiers = block_tier_values(block, plan)
    kept_most = keep_most(block, plan, tiers, kept, seconds=5.0)
    if kept_most is None:
        return
    assert np.all(block_tier_values(block, kept_most) >= tiers - np.maximum(1e-9 * tiers, 1e-6))
    assert moved_amount(block, kept_most, kept) < moved_amount(block, plan, kept)
    assert transit_of(block, kept_most) <= transit_of(block, plan) * (1 + 1e-9) + 1e-6
    assert _within_the_pledges(block, kept_most)
    whole = block.integer[block.arc_pledge]
    assert np.array_equal(kept_most[whole], np.rint(kept_most[whole]))
    # No worse than sending each need's sizes by the kept pledges.
    by_kept_pledges = keep_pledges(block, plan, kept)
    assert moved_amount(block, kept_most, kept) <= moved_amount(block, by_kept_pledges, kept) + 1e-6
