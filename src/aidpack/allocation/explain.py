"""Why each need left short is short: no_supply, too_late, outcompeted or short_supply (SPEC §4)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from aidpack.allocation.model import Edges
from aidpack.allocation.models import ShortReason
from aidpack.allocation.problem import BoolArray, FloatArray, IntArray, Problem

MAX_NAMED = 3
#: Short needs whose takers are counted at once (bounds the product's memory: rows × takers).
CHUNK_ROWS = 512
#: What a no_supply need's detail says when only proposed pledges provide its capability.
PROPOSED_HINT = "only proposed pledges provide this capability; `aidpack allocate --include-proposed` would use them"


@dataclass(frozen=True)
class Shortfall:
    reason: ShortReason
    earliest_eta: dt.date | None = None  # too_late: the earliest any providing pledge could arrive
    taken_by: tuple[str, ...] = ()  # outcompeted: up to 3 needs that took the feasible pledges' units
    #: no_supply: up to 3 proposed pledges that provide the capability (a plan leaves them out unless asked)
    proposed: tuple[str, ...] = ()

    def detail(self) -> dict[str, str | list[str]]:
        if self.reason is ShortReason.TOO_LATE and self.earliest_eta is not None:
            return {"earliest_eta": self.earliest_eta.isoformat()}
        if self.reason is ShortReason.OUTCOMPETED:
            return {"taken_by": list(self.taken_by)}
        if self.reason is ShortReason.NO_SUPPLY and self.proposed:
            return {"proposed": list(self.proposed), "hint": PROPOSED_HINT}
        return {}


def explain(
    problem: Problem,
    edges: Edges,
    short: BoolArray,
    line_pledge: IntArray,
    line_need: IntArray,
    line_amount: FloatArray,
) -> dict[int, Shortfall]:
    """A reason for every need index where ``short`` is true."""
    result: dict[int, Shortfall] = {}
    if not short.any():
        return result
    n_needs, n_pledges = problem.n_needs, problem.n_pledges
    has_provider = np.bincount(problem.pledge_capability, minlength=len(problem.capabilities)) > 0
    has_edge = np.bincount(edges.need, minlength=n_needs) > 0 if len(edges) else np.zeros(n_needs, dtype=bool)

    for n in np.flatnonzero(short & ~has_provider[problem.need_capability]):
        result[int(n)] = Shortfall(ShortReason.NO_SUPPLY)

    late = np.flatnonzero(short & has_provider[problem.need_capability] & ~has_edge)
    for cap in np.unique(problem.need_capability[late]):
        needs = late[problem.need_capability[late] == cap]
        providers = np.flatnonzero(problem.pledge_capability == cap)
        etas = problem.pledge_start[providers][:, None] + problem.transit[
            problem.pledge_hub[providers][:, None], problem.need_region[needs][None, :]
        ]
        for n, eta in zip(needs, etas.min(axis=0), strict=True):
            result[int(n)] = Shortfall(ShortReason.TOO_LATE, earliest_eta=dt.date.fromordinal(int(eta)))

    contested = np.flatnonzero(short & has_edge)
    if contested.size == 0:
        return result
    # Who took units of each pledge: new lines and fixed lines, as amounts per (pledge, taker need).
    extra_refs = sorted(set(problem.fixed_need_ref) - set(problem.need_refs))
    taker_refs = list(problem.need_refs) + extra_refs
    taker_index = {ref: i for i, ref in enumerate(taker_refs)}
    fixed_taker = np.array([taker_index[r] for r in problem.fixed_need_ref], dtype=np.int64)
    fixed_amount = problem.fixed_units * problem.pledge_factor[problem.fixed_pledge]
    takes = sp.csr_matrix(
        (
            np.concatenate([line_amount, fixed_amount]),
            (np.concatenate([line_pledge, problem.fixed_pledge]), np.concatenate([line_need, fixed_taker])),
        ),
        shape=(n_pledges, len(taker_refs)),
    )
    row_of = np.full(n_needs, -1, dtype=np.int64)
    row_of[contested] = np.arange(contested.size)
    keep = row_of[edges.need] >= 0
    feasible = sp.csr_matrix(
        (np.ones(int(keep.sum())), (row_of[edges.need[keep]], edges.pledge[keep])),
        shape=(contested.size, n_pledges),
    )
    feasible.data[:] = 1.0  # an indicator, whatever duplicates summed to
    # Takers in ref order, as numbers: the names are looked up for the three named only (10,000 needs short of
    # 150 pledges that reach them all: each short need's takers were thousands of names, 8.9 s of the plan).
    rank = np.empty(len(taker_refs), dtype=np.int64)
    rank[sorted(range(len(taker_refs)), key=taker_refs.__getitem__)] = np.arange(len(taker_refs))
    for first in range(0, contested.size, CHUNK_ROWS):
        # A chunk of short needs at a time: the product is dense where a few pledges reach every need.
        taken = (feasible[first:first + CHUNK_ROWS] @ takes).tocsr()
        for row, n in enumerate(contested[first:first + CHUNK_ROWS].tolist()):
            start, end = taken.indptr[row], taken.indptr[row + 1]
            takers, amounts = taken.indices[start:end], taken.data[start:end]
            mask = (takers != n) & (amounts > 1e-9)
            takers, amounts = takers[mask], amounts[mask]
            if takers.size == 0:
                result[n] = Shortfall(ShortReason.SHORT_SUPPLY)
                continue
            if takers.size > MAX_NAMED:
                # The largest takers, and every taker tied with the last of them (the refs break the ties).
                least = np.partition(amounts, takers.size - MAX_NAMED)[takers.size - MAX_NAMED]
                takers, amounts = takers[amounts >= least], amounts[amounts >= least]
            order = np.lexsort((rank[takers], -amounts))[:MAX_NAMED]
            result[n] = Shortfall(ShortReason.OUTCOMPETED, taken_by=tuple(taker_refs[t] for t in takers[order]))
    return result
