"""`make bench` checks the engine's saved plan as it checks the baselines' plans, rather than taking it on trust."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from bench.baselines import TIER_WEIGHTS, TRANSIT_WEIGHT, cbc_weighted, evaluate, highs_weighted
from bench.generate import generate
from bench.worker import check_lines, measure

from aidpack.allocation.blocks import Previous
from aidpack.allocation.engine import moved_units
from aidpack.allocation.loader import default_plan_date, load_problem
from aidpack.allocation.model import UNIT_EPSILON, candidate_edges
from aidpack.db import make_engine, make_session_factory, migrate, unit_of_work
from aidpack.ingest.service import import_path


@pytest.fixture(scope="module")
def bench_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A small generated scenario (real regions and hubs, several unit sizes, deadlines) in its own SQLite file."""
    folder: Path = tmp_path_factory.mktemp("bench")
    generate(folder / "scenario", edges=2_000, seed=5)
    url = f"sqlite:///{folder / 'bench.db'}"
    engine = make_engine(url)
    migrate(engine)
    with unit_of_work(make_session_factory(engine)) as session:
        import_path(session, path=folder / "scenario", kind=None, actor="test")
    engine.dispose()
    return url


def test_the_engine_row_is_the_saved_plan_checked(bench_db: str) -> None:
    result = measure("aidpack", bench_db, 60.0)
    assert result["integral"] is True
    assert result["feasible"] is True
    assert result["off_edge_units"] == 0
    assert result["rescored_served"] == pytest.approx(result["tier_served"], rel=1e-6)
    assert result["replan_moved"] == 0
    # After the strike (every fifth need grown by half), the re-plan that keeps what it can moves some units, and
    # fewer than a fresh plan of the same data, counted from the saved lines.
    assert isinstance(result["strike_moved"], float)
    assert isinstance(result["strike_fresh_moved"], float)
    assert 0 < result["strike_moved"] < result["strike_fresh_moved"]


def test_a_plan_that_breaks_the_model_fails_the_check(bench_db: str) -> None:
    factory = make_session_factory(make_engine(bench_db))
    with factory() as session:
        problem = load_problem(session, plan_date=default_plan_date(session), include_proposed=False).problem
    edges = candidate_edges(problem)
    whole = np.flatnonzero(problem.pledge_integer[edges.pledge])
    e = int(whole[0])
    pledge, need = int(edges.pledge[e]), int(edges.need[e])

    def lines(pledges: list[int], needs: list[int], units: list[float]) -> Previous:
        return Previous(np.array(pledges, dtype=np.int64), np.array(needs, dtype=np.int64), np.array(units))

    _, fine, off = check_lines(problem, edges, lines([pledge], [need], [1.0]))
    assert fine.feasible
    assert fine.integral
    assert off == 0
    assert not check_lines(problem, edges, lines([pledge], [need], [0.5]))[1].integral
    over = float(problem.pledge_supply[pledge]) + 1.0
    assert not check_lines(problem, edges, lines([pledge], [need], [over]))[1].feasible
    # A need this pledge has no candidate edge to (it does not provide its capability, or cannot arrive in time).
    reached = set(edges.need[edges.pledge == pledge].tolist())
    elsewhere = next(n for n in range(problem.n_needs) if n not in reached)
    assert check_lines(problem, edges, lines([pledge], [elsewhere], [1.0]))[2] == 1.0


def test_units_moved_count_what_the_later_plan_no_longer_sends_the_same_way() -> None:
    # The bench counts the strike's moves from saved lines (pledge and need ids) as the engine counts its own.
    before = Previous(pledge=np.array([1, 1, 2]), need=np.array([1, 2, 1]), units=np.array([5.0, 3.0, 1.0]))
    assert moved_units(before, np.array([1, 1, 3]), np.array([1, 2, 1]), np.array([2.0, 4.0, 1.0])) == 3.0 + 0.0 + 1.0
    assert moved_units(before, before.pledge, before.need, before.units) == 0.0


def test_pulp_s_lp_relaxation_solves_the_same_model_as_the_highs_baseline(bench_db: str) -> None:
    """Beyond the sizes where CBC solves the MILP, the PuLP + CBC row is the folded LP the HiGHS row solves: both
    reach the same folded objective (people by tier weight, less transit), and neither keeps whole units."""
    factory = make_session_factory(make_engine(bench_db))
    with factory() as session:
        problem = load_problem(session, plan_date=default_plan_date(session), include_proposed=False).problem
    edges = candidate_edges(problem)

    def objective(units: np.ndarray) -> float:
        """The folded objective both maximise (people weighted by tier, over the largest need's people; less
        transit, by a tiny weight)."""
        score = evaluate(problem, edges, units)
        assert score.feasible
        people = float(np.dot(TIER_WEIGHTS, score.tier_served)) / float(problem.need_people.max())
        return people - TRANSIT_WEIGHT * float((edges.transit + UNIT_EPSILON) @ units)

    by_highs, highs_status = highs_weighted(problem, edges, time_limit=60.0)
    by_cbc, cbc_status = cbc_weighted(problem, edges, time_limit=60.0, relax=True)
    assert (highs_status, cbc_status) == ("kOptimal", "Optimal")
    assert objective(by_cbc) == pytest.approx(objective(by_highs), rel=1e-6)
    assert not evaluate(problem, edges, by_cbc).integral


def _prepare_in_child(work: str, out: str) -> None:
    import bench.run as run

    run.WORK = Path(work)
    url, count, _ = run.prepare(1_500, 11)
    Path(out).write_text(f"{url} {count}")


def test_two_processes_preparing_one_scenario_take_turns(tmp_path: Path) -> None:
    # Without the lock, the second deleted the database the first was importing into and left an empty one behind
    # the first's marker.
    import multiprocessing as mp
    import sqlite3

    ctx = mp.get_context("fork")
    outs = [tmp_path / f"out{k}" for k in range(2)]
    children = [ctx.Process(target=_prepare_in_child, args=(str(tmp_path / "work"), str(out))) for out in outs]
    for child in children:
        child.start()
    for child in children:
        child.join(120)
        assert child.exitcode == 0
    urls = {out.read_text() for out in outs}
    assert len(urls) == 1
    db = urls.pop().split()[0].removeprefix("sqlite:///")
    with sqlite3.connect(db) as connection:
        assert connection.execute("SELECT COUNT(*) FROM needs").fetchone()[0] > 0
        assert connection.execute("SELECT COUNT(*) FROM pledges").fetchone()[0] > 0
