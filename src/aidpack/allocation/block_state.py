"""A capability block as the engine's phases hand it on (:mod:`aidpack.allocation.blocks`): its outcome in the plan,
what its first pass found (the LP optimum, the roundings, a re-plan's kept lines), the rounding chosen for it and the
bounds proved; and what the phases share: running blocks on threads, and whether a block still keeps its kept lines.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np

from aidpack.allocation.flow import FlowBlock
from aidpack.allocation.models import Termination
from aidpack.allocation.problem import FloatArray, IntArray
from aidpack.allocation.rounding import Rounded

T = TypeVar("T")
R = TypeVar("R")


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


def for_each(fn: Callable[[T], None], items: Sequence[T], workers: int) -> None:
    """``fn`` on every item, in order, on ``workers`` threads (HiGHS releases the GIL)."""
    if workers <= 1:
        for item in items:
            fn(item)
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(fn, items))


@dataclass
class BlockState:
    """One block as the phases hand it on: made by the first pass, its rounding chosen (and replaced by HiGHS's plan
    where that is better) by the MIP phase, its unit-days settled by the transit phase."""

    block: FlowBlock
    outcome: BlockOutcome
    amount: FloatArray | None = None  # the LP optimum, kept when the block may go to HiGHS MIP
    rounded: Rounded | None = None
    candidates: list[Rounded] = field(default_factory=list)
    unproved_bound: FloatArray | None = None  # the bound before HiGHS proved a tighter one for its plan
    lp_transit: float = 0.0  # unit-days of the LP optimum: a bound for plans that serve its tiers
    transit_bound: float | None = None  # a tighter one HiGHS proved for the plan kept (or its packs' count bound)
    kept: Rounded | None = None  # a re-plan's previous lines (rounding.kept_round), while the plan keeps them


def keeps(stage: BlockState) -> bool:
    """Whether the block's plan is still a re-plan's kept lines (HiGHS hands back a copy when it found
    nothing better)."""
    return (stage.kept is not None and stage.rounded is not None
            and np.array_equal(stage.rounded.units, stage.kept.units))


def transit_tie(stage: BlockState) -> float:
    """The share of unit-days a HiGHS plan serving the tiers as well must save to replace the block's plan:
    none can replace a re-plan's kept lines (HiGHS's time-limited stages find, in a re-plan started from them,
    unit-days the first plan had no time for; see :func:`transit_phase._transit_phase`), any saving counts otherwise."""
    return np.inf if keeps(stage) else 0.0


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
