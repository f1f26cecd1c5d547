"""Solve every capability block by the cheapest method that is exact for it.

Per block: the exact lexicographic LP optimum by two min-cost flows (:mod:`aidpack.allocation.flow`).
Divisible blocks, and indivisible ones whose optimum already sends whole units, are done. Otherwise
the optimum is rounded several ways (:mod:`aidpack.allocation.rounding`) and a block whose rounding falls short of
its LP gets a whole-unit bound, which no plan of whole units beats (the first pass:
:mod:`aidpack.allocation.first_pass`). One rounding per block is chosen for the plan as a whole
(:mod:`aidpack.allocation.choice`). While the plan is still further than the tier gap from its bound, the blocks that
lose in the short tiers go to HiGHS MIP with their rounding as incumbent (their pattern or count model where
they have one), within a time budget shared by all such blocks (:mod:`aidpack.allocation.mip_phase`).
HiGHS releases the GIL, so the MIP phase runs a thread per core; OR-Tools' flow solver does not, so the
first pass of a large plan runs in two processes (:mod:`aidpack.allocation.split`).
Last, each whole-unit block's unit-days in transit are measured against the LP's (or HiGHS's proved
transit bound), and while small blocks can bring the plan within the final gap, HiGHS MIP proves their
transit too (:mod:`aidpack.allocation.transit_phase`); the plan reports what remains. What the phases hand on per
block is a :class:`block_state.BlockState`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from aidpack.allocation.block_state import BlockOutcome, BlockState, parallel
from aidpack.allocation.choice import choose_roundings
from aidpack.allocation.first_pass import FirstPassParts, first_pass_parts
from aidpack.allocation.flow import FlowBlock, flow_blocks
from aidpack.allocation.mip_phase import improve_roundings
from aidpack.allocation.model import Edges, build_blocks
from aidpack.allocation.problem import FloatArray, IntArray, Problem
from aidpack.allocation.solve import SolveOptions, solve_block
from aidpack.allocation.split import map_split
from aidpack.allocation.transit_phase import finish_blocks

MAX_LOG = 200
#: Plans of at least this many edges run the first pass on two processes (:mod:`aidpack.allocation.split`).
SPLIT_ARCS = 50_000
#: Rounding an indivisible block costs about this many times its flow (the weight of the split).
ROUNDING_WEIGHT = 3.0


@dataclass(frozen=True)
class Previous:
    """The previous plan's proposed lines, as indices into the current Problem."""

    pledge: IntArray
    need: IntArray
    units: FloatArray


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

    def first(i: int) -> FirstPassParts | None:
        block = blocks[i]
        previous = keep[block.edge_ids] if keep is not None else None
        return first_pass_parts(block, previous, names[block.capability], options, deadline)

    # OR-Tools' min-cost flow holds the GIL: on two cores, a forked child takes half the blocks (by weight:
    # rounding an indivisible block costs about three times its flow). Its results come back pickled, so
    # small plans stay on one process.
    weights = [b.size * (ROUNDING_WEIGHT if b.is_integer else 1.0) for b in blocks]
    split = workers > 1 and sum(b.size for b in blocks) >= SPLIT_ARCS
    stage1 = []
    for block, parts in zip(blocks, map_split(first, weights, split=split), strict=True):
        if parts is None:
            stage1.append(BlockState(block, _highs_fallback(problem, edges, block, options, deadline)))
            continue
        outcome, amount, rounded, roundings, lp_transit, kept, transit_bound = parts
        outcome.edge_ids = block.edge_ids
        stage1.append(BlockState(block, outcome, amount, rounded, roundings, lp_transit=lp_transit, kept=kept,
                                 transit_bound=transit_bound))
    budget_left = choose_roundings(stage1, options.tier_gap)

    integer_end = improve_roundings(stage1, budget_left, options, deadline, workers, plan_edges, names)
    finish_blocks(stage1, keep, options, deadline, integer_end, workers, plan_edges, names)
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
