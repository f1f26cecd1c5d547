"""Solve every capability block, in parallel, by the cheapest method that is exact for it.

Per block: the exact lexicographic LP optimum by two min-cost flows (:mod:`aidpack.allocation.flow`).
Divisible blocks, and indivisible ones whose optimum already sends whole units, are done. Otherwise
the optimum is rounded (:func:`greedy_round`); if that loses more than the tier gap against the LP
bound, the block goes to HiGHS MIP with the rounded plan as incumbent, within a time budget shared by
all such blocks. HiGHS and OR-Tools release the GIL, so a thread per core runs blocks side by side.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np

from aidpack.allocation.flow import FlowBlock, FlowUnsupported, block_is_whole, flow_blocks, solve_flow_block
from aidpack.allocation.model import Edges, build_blocks
from aidpack.allocation.models import Termination
from aidpack.allocation.problem import FloatArray, IntArray, Problem
from aidpack.allocation.rounding import (
    Rounded,
    better_plan,
    coarse_fine_round,
    greedy_round,
    mip_round,
    tier_gaps,
)
from aidpack.allocation.solve import SolveOptions, solve_block

T = TypeVar("T")
R = TypeVar("R")
MAX_LOG = 200
#: The least time a block handed to HiGHS MIP gets (small blocks usually finish well within it).
MIN_MIP_SECONDS = 0.1


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


def _parallel(fn: Callable[[T], R], items: Sequence[T], weights: Sequence[int], workers: int) -> list[R]:
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


def solve_blocks(
    problem: Problem,
    edges: Edges,
    options: SolveOptions,
    deadline: float | None,
    keep: FloatArray | None,
) -> tuple[list[BlockOutcome], dict[str, object]]:
    workers = worker_count(options)
    if options.method == "highs":
        outcomes = _solve_highs(problem, edges, options, deadline, workers)
    else:
        outcomes = _solve_flow(problem, edges, options, deadline, keep, workers)
    methods = [o.method for o in outcomes]
    figures: dict[str, object] = {
        "blocks": len(outcomes),
        "workers": workers,
        "block_methods": {m: methods.count(m) for m in sorted(set(methods))},
        "log": [entry for o in outcomes for entry in o.log][:MAX_LOG],
    }
    return outcomes, figures


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

    return _parallel(run, list(range(len(blocks))), [b.n_cols for b in blocks], workers)


@dataclass
class _Stage1:
    block: FlowBlock
    outcome: BlockOutcome
    amount: FloatArray | None = None  # the LP optimum, kept when the block may go to HiGHS MIP
    rounded: Rounded | None = None


def _solve_flow(
    problem: Problem,
    edges: Edges,
    options: SolveOptions,
    deadline: float | None,
    keep: FloatArray | None,
    workers: int,
) -> list[BlockOutcome]:
    blocks = flow_blocks(problem, edges)

    def first(block: FlowBlock) -> _Stage1:
        previous = keep[block.edge_ids] if keep is not None else None
        started = time.perf_counter()
        try:
            flow = solve_flow_block(block, previous=previous)
        except FlowUnsupported:
            return _Stage1(block, _highs_fallback(problem, edges, block, options, deadline))
        entry: dict[str, float | str | int] = {
            "capability": problem.capabilities[block.capability], "arcs": block.n_arcs,
            "stage": "flow", "seconds": round(time.perf_counter() - started, 4),
        }
        factor = block.factor[block.arc_pledge]
        if not block.is_integer or block_is_whole(block, flow.amount):
            units = flow.amount / factor
            if block.is_integer:
                units = np.where(block.integer[block.arc_pledge], np.rint(units), units)
            outcome = BlockOutcome(block.capability, block.edge_ids, units, flow.tier_values,
                                   other_gap=flow.transit_gap, method="flow", log=[entry])
            return _Stage1(block, outcome)
        candidates = [
            greedy_round(block, flow.amount, previous),
            coarse_fine_round(block, flow.amount, previous, extras=False, passes=2),
            coarse_fine_round(block, flow.amount, previous, extras=True, passes=1),
        ]
        rounded = candidates[0]
        for candidate in candidates[1:]:
            if better_plan(block, candidate, rounded):
                rounded = candidate
        entry["rounding_gap"] = float(tier_gaps(flow.tier_values, rounded.tier_values).max(initial=0.0))
        outcome = BlockOutcome(block.capability, block.edge_ids, rounded.units, flow.tier_values,
                               other_gap=flow.transit_gap, method=f"flow+{rounded.method}", log=[entry])
        return _Stage1(block, outcome, flow.amount, rounded)

    stage1 = _parallel(first, blocks, [b.n_arcs for b in blocks], workers)

    # Blocks whose rounding lost more than the tier gap: HiGHS MIP within the integer budget.
    candidates = [
        s for s in stage1
        if s.rounded is not None
        and float(tier_gaps(s.outcome.tier_bound, s.rounded.tier_values).max()) > options.tier_gap
    ]
    if candidates:
        # Most people lost first (the highest tier that lost anything decides), each block with a share of
        # the budget by size, never less than a small floor; the phase ends at its own deadline.
        def priority(stage: _Stage1) -> tuple[float, ...]:
            assert stage.rounded is not None
            loss = stage.outcome.tier_bound - stage.rounded.tier_values
            return tuple(-float(v) for v in loss) + (float(stage.block.capability),)

        candidates.sort(key=priority)
        now = time.perf_counter()
        budget = options.integer_seconds(len(edges)) if deadline is None else max(deadline - now, 0.0)
        phase_end = now + budget
        total_arcs = sum(min(s.block.n_arcs, 50_000) for s in candidates)

        def second(stage: _Stage1) -> None:
            if stage.rounded is None or stage.amount is None:
                return
            remaining = phase_end - time.perf_counter()
            share = budget * workers * min(stage.block.n_arcs, 50_000) / max(total_arcs, 1)
            share = min(max(share, MIN_MIP_SECONDS), remaining)
            if share < MIN_MIP_SECONDS / 2:
                return
            started = time.perf_counter()
            better = mip_round(stage.block, stage.amount, stage.rounded, budget=share, options=options)
            stage.outcome.units = better.units
            stage.outcome.method = better.method
            if better.proved_bound is not None:
                # HiGHS proved the whole block's lexicographic MIP within its gap: a tighter bound.
                stage.outcome.tier_bound = np.minimum(stage.outcome.tier_bound, better.proved_bound)
            stage.outcome.log.append({
                "capability": problem.capabilities[stage.block.capability], "stage": better.method,
                "seconds": round(time.perf_counter() - started, 4), "budget": round(share, 3),
                "gap": float(tier_gaps(stage.outcome.tier_bound, better.tier_values).max(initial=0.0)),
            })

        if workers <= 1:
            for stage in candidates:
                second(stage)
        else:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                list(pool.map(second, candidates))
    return [s.outcome for s in stage1]


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
