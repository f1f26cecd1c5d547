"""One benchmark measurement in its own process (so that peak memory is its own): prints one JSON line.

    python -m bench.worker aidpack|highs|cbc|cbc-lp|greedy DB_URL [--time-limit S]

Every method starts from the same database; its time includes reading the data. ``aidpack`` is the
product end to end (``run_plan``: load, solve, save the plan — rolled back afterwards); it then re-plans once
with nothing changed (not part of its time) and reports the seconds and the units that moved.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import time
from collections.abc import Sequence

import numpy as np
from sqlalchemy import select, text
from sqlalchemy.orm import Session

import aidpack.models  # noqa: F401  (every table, for the ORM)
from aidpack.allocation.blocks import Previous, previous_units
from aidpack.allocation.bounds import PlanProof, block_bounds, bound_totals, proved_plan_bound
from aidpack.allocation.engine import moved_units
from aidpack.allocation.loader import default_plan_date, load_problem
from aidpack.allocation.model import Edges, candidate_edges
from aidpack.allocation.models import Line
from aidpack.allocation.problem import TIER_NAMES, FloatArray, Problem
from aidpack.allocation.service import plan_payload, run_plan
from aidpack.allocation.summary import summarise
from aidpack.db import make_engine, make_session_factory
from bench.baselines import Score, cbc_weighted, evaluate, greedy_fcfs, highs_weighted

#: The bench's proof of the whole-unit optimum (after the timed run): HiGHS's MIP per short block of at most
#: PROOF_ARCS arcs, largest shortfall first, at most this long each and in all (1e6: the 136,000-arc generator
#: block, 138 pack classes, 49,644 columns: its critical and high tiers proved exactly in 40 s, its medium
#: tier within 0.6 %).
PROOF_BLOCK_SECONDS = 40.0
PROOF_SECONDS = 120.0
PROOF_ARCS = 300_000
#: Units of a saved plan on no candidate edge that are float noise, relative to the plan's units.
OFF_EDGE_NOISE = 1e-12


def _peak_mb() -> float:
    """Peak resident memory of this process plus its largest child (the engine's forked first-pass child
    runs beside it; its pages shared with this process count twice, so this is an upper bound)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return (own + child) / 1024.0


def _bounds(
    session: Session, plan_date: dt.date, lines: Sequence[tuple[int, int, float, float]]
) -> tuple[list[float], list[float], PlanProof, Score, float]:
    """The plan's LP bound and whole-unit bound per tier (see allocation.bounds), and its proved bound
    (HiGHS's MIP on the blocks that fall short, within ``PROOF_SECONDS``), after the timed run; and the saved
    lines scored as any baseline's plan is (:func:`bench.baselines.evaluate`: whole units, pledges' units, people
    served per tier), with how many lines lie on no candidate edge (a pledge that cannot reach the need by its
    deadline, or does not provide its capability). ``lines``: (pledge id, need id, units, amount)."""
    loaded = load_problem(session, plan_date=plan_date, include_proposed=False)
    problem = loaded.problem
    need_index = {need_id: i for i, need_id in enumerate(loaded.need_ids)}
    pledge_index = {pledge_id: i for i, pledge_id in enumerate(loaded.pledge_ids)}
    covered = np.zeros(problem.n_needs)
    for _, need_id, _, amount in lines:
        covered[need_index[need_id]] += amount
    edges = candidate_edges(problem)
    bounds = block_bounds(problem, edges, np.minimum(covered, problem.need_demand))
    lp, whole = bound_totals(bounds)
    sent = Previous(
        pledge=np.array([pledge_index[p] for p, _, _, _ in lines], dtype=np.int64),
        need=np.array([need_index[n] for _, n, _, _ in lines], dtype=np.int64),
        units=np.array([u for _, _, u, _ in lines], dtype=np.float64),
    )
    units, score, off_edge = check_lines(problem, edges, sent)
    proof = proved_plan_bound(
        bounds, units, seconds=PROOF_SECONDS, block_seconds=PROOF_BLOCK_SECONDS, max_arcs=PROOF_ARCS,
    )
    return [float(v) for v in lp], [float(v) for v in whole], proof, score, off_edge


#: The bench's strike: every this-many-th need (by id) grows by half before a re-plan.
STRIKE_EVERY = 5


def check_lines(problem: Problem, edges: Edges, lines: Previous) -> tuple[FloatArray, Score, float]:
    """A saved plan's ``lines`` (pledge and need indices, units) as units per candidate edge, scored as the
    baselines' plans are (:func:`bench.baselines.evaluate`), and the units of lines on no candidate edge."""
    found = previous_units(problem, edges, lines)
    units = np.zeros(len(edges)) if found is None else found
    return units, evaluate(problem, edges, units), float(lines.units.sum()) - float(units.sum())


def _lines(session: Session, plan_id: int) -> Previous:
    """A saved plan's lines as pledge and need ids and units (for :func:`engine.moved_units`)."""
    rows = session.execute(select(Line.pledge_id, Line.need_id, Line.units).where(Line.plan_id == plan_id)).all()
    return Previous(pledge=np.asarray([r[0] for r in rows], dtype=np.int64),
                    need=np.asarray([r[1] for r in rows], dtype=np.int64),
                    units=np.asarray([float(r[2]) for r in rows]))


def _strike(session: Session, plan_date: dt.date, previous_id: int) -> dict[str, object]:
    """After a strike: every fifth need (by id) grown by half (in this transaction, rolled back by the caller), then a
    re-plan that keeps what it can of plan ``previous_id``, and a fresh plan of the same data (``--reshuffle``):
    seconds, units moved and people served per tier of each."""
    session.execute(text(f"UPDATE needs SET quantity = quantity * 3 / 2 WHERE id % {STRIKE_EVERY} = 0"))
    session.expire_all()
    before = _lines(session, previous_id)
    found: dict[str, object] = {}
    for name, stable in (("strike", True), ("strike_fresh", False)):
        started = time.perf_counter()
        plan = run_plan(session, actor="bench", plan_date=plan_date, stable=stable)
        session.flush()
        found[f"{name}_seconds"] = time.perf_counter() - started
        after = _lines(session, plan.id)
        found[f"{name}_moved"] = moved_units(before, after.pledge, after.need, after.units)
        found[f"{name}_served"] = [float(plan.tiers[tier]["served"]) for tier in TIER_NAMES]
    return found


def measure(method: str, url: str, time_limit: float) -> dict[str, object]:
    factory = make_session_factory(make_engine(url))
    with factory() as session:
        plan_date = default_plan_date(session)
        if method == "aidpack":
            started = time.perf_counter()
            plan = run_plan(session, actor="bench", plan_date=plan_date)
            session.flush()
            seconds = time.perf_counter() - started
            peak = _peak_mb()  # the timed run's (the bounds below need more for themselves)
            rows = session.execute(
                select(Line.units, Line.transit_days, Line.need_id, Line.amount, Line.pledge_id)
                .where(Line.plan_id == plan.id)
            ).all()
            transit = float(sum(float(u) * d for u, d, _, _, _ in rows))
            _, whole_bound, proof, score, off_edge = _bounds(
                session, plan_date, [(p, n, float(u), float(a)) for u, _, n, a, p in rows]
            )
            reported = [float(plan.tiers[name]["served"]) for name in TIER_NAMES]
            result: dict[str, object] = {
                "seconds": seconds,
                "status": plan.status.value,
                "tier_served": reported,
                "tier_people": [float(plan.tiers[name]["people"]) for name in TIER_NAMES],
                "tier_bound": [float(plan.figures["tier_bound"][name]) for name in TIER_NAMES],
                "tier_lp_bound": [float(plan.figures["tier_lp_bound"][name]) for name in TIER_NAMES],
                "tier_whole_unit_bound": whole_bound,
                "tier_proved_bound": [float(v) for v in proof.bound],
                "proof_blocks": [proof.proved_blocks, proof.exact_blocks, proof.open_blocks],
                "transit": transit,
                # The saved lines checked as the baselines' plans are, not taken on trust: whole units where
                # items are indivisible, no pledge over its units, every line on a candidate edge, and the
                # people served per tier as the plan reports them (to a millionth).
                "integral": score.integral,
                # Units off the candidate edges: float noise only, relative to the plan's units (QA's all-divisible
                # 1.47e6-edge scenario: 7.45e-9 of 38.8 million units, flagged by an absolute 1e-9).
                "feasible": score.feasible and off_edge <= OFF_EDGE_NOISE * max(sum(float(u) for u, *_ in rows), 1.0)
                and all(
                    abs(a - b) <= 1e-6 * max(abs(b), 1.0) for a, b in zip(score.tier_served, reported, strict=True)
                ),
                "off_edge_units": off_edge,
                "rescored_served": [float(v) for v in score.tier_served],
                "gap": plan.gap,
                "transit_gap": float(plan.figures.get("transit_gap", 0.0)),
                "engine_seconds": plan.solve_seconds,
                "edges": plan.figures.get("edges"),
                "lines": len(rows),
                "block_methods": plan.figures.get("block_methods"),
                "peak_mb": peak,
            }
            # A re-plan with nothing changed (after the measurements above): the first plan's lines are its
            # previous plan. Units moved should be none, or few that a better plan moved.
            started = time.perf_counter()
            again = run_plan(session, actor="bench", plan_date=plan_date)
            session.flush()
            result["replan_seconds"] = time.perf_counter() - started
            result["replan_moved"] = again.figures.get("moved_units")
            result["plan_units"] = float(sum(float(u) for u, _, _, _, _ in rows))
            # Reading the first plan back as `aidpack allocate` prints it and as SPEC §4's JSON (not part of the
            # timed run), and as a baseline in the same run, its lines and needs loaded as ORM objects, as the
            # summary and the JSON did before (each line with its pledge, donor, item, hub, need and region).
            session.expire_all()
            started = time.perf_counter()
            summarise(session, plan)
            plan_payload(session, plan)
            result["read_seconds"] = time.perf_counter() - started
            session.expire_all()
            started = time.perf_counter()
            objects = [*plan.lines, *plan.kept_lines, *(outcome.need for outcome in plan.outcomes)]
            result["read_orm_seconds"] = time.perf_counter() - started
            result["read_rows"] = len(objects)
            result.update(_strike(session, plan_date, again.id))
            session.rollback()
            return result
        started = time.perf_counter()
        problem = load_problem(session, plan_date=plan_date, include_proposed=False).problem
        edges = candidate_edges(problem)
        if method == "highs":
            units, status = highs_weighted(problem, edges, time_limit=time_limit)
        elif method == "cbc":
            units, status = cbc_weighted(problem, edges, time_limit=time_limit)
        elif method == "cbc-lp":
            units, status = cbc_weighted(problem, edges, time_limit=time_limit, relax=True)
        elif method == "greedy":
            units, status = greedy_fcfs(problem, edges), "heuristic"
        else:
            raise SystemExit(f"unknown method {method}")
        seconds = time.perf_counter() - started
        score = evaluate(problem, edges, np.asarray(units))
        return {
            "seconds": seconds,
            "status": status,
            "tier_served": [float(v) for v in score.tier_served],
            "transit": score.transit,
            "integral": score.integral,
            "feasible": score.feasible,
            "edges": len(edges),
            "peak_mb": _peak_mb(),
        }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("method")
    parser.add_argument("url")
    parser.add_argument("--time-limit", type=float, default=300.0)
    args = parser.parse_args()
    result = measure(args.method, args.url, args.time_limit)
    result["method"] = args.method
    result["at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
