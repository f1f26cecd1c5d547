"""A re-plan's new plan keeps the kept lines' pledges wherever that changes nothing else (allocation.keep)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aidpack.allocation.flow import FlowBlock
from aidpack.allocation.keep import keep_pledges
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
    block = only_block(Instance(needs=[N("clinic", "DIESEL-L", 1_000)],
                                pledges=[P("A-near", "DIESEL-L", 5, factor=200.0, integer=True, hub=0),
                                         P("B-far", "DIESEL-L", 5, factor=200.0, integer=True, hub=1)],
                                transit=[[1], [3]]))
    near, far = _arc(block, 0, 0), _arc(block, 1, 0)
    plan, kept = np.zeros(block.n_arcs), np.zeros(block.n_arcs)
    plan[near], kept[far] = 5.0, 5.0
    assert keep_pledges(block, plan, kept)[[near, far]].tolist() == [5.0, 0.0]


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
    block = only_block(instance)
    plan, kept = random_plan(block, data), random_plan(block, data)
    kept_back = keep_pledges(block, plan, kept)
    assert _per_need_and_size(block, kept_back) == _per_need_and_size(block, plan)
    assert block_tier_values(block, kept_back).tolist() == block_tier_values(block, plan).tolist()
    assert transit_of(block, kept_back) <= transit_of(block, plan) + 1e-9
    used = np.bincount(block.arc_pledge, weights=kept_back, minlength=block.pledges.size)
    assert np.all(used <= block.units + 1e-9)
    assert np.all(kept_back >= 0)
    # Of the assignments with the fewest unit-days, one that sends the most kept units again.
    fewest = keep_pledges(block, plan, np.zeros(block.n_arcs))
    assert transit_of(block, kept_back) == pytest.approx(transit_of(block, fewest), rel=1e-12)
    assert float(np.minimum(kept_back, kept).sum()) >= float(np.minimum(fewest, kept).sum()) - 1e-9
