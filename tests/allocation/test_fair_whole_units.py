"""`--fair regions` with whole units (SPEC §4, issue 3 item 4): within each tier the worst-served region's coverage
is raised as far as whole units can raise it, not as far as the fair LP's rounding happens to; and the plan says
`optimal` only when that is proved, its gap measured against a bound whole-unit plans meet."""

from __future__ import annotations

import random

import numpy as np
import pytest
from scipy.optimize import Bounds, LinearConstraint, milp

from aidpack.allocation.fairness import allocate_fair, region_coverage
from aidpack.allocation.models import Termination
from aidpack.allocation.problem import Problem
from aidpack.allocation.solve import TIER_GAP
from tests.allocation.builders import TIERS, Instance, N, P
from tests.allocation.reference import _dense


def generators() -> Instance:
    """The QA's world: 4 generators of 5 kW (pledges of 1 and 3). Region 0: a 9 kW critical need of 10 people.
    Region 1: critical needs of 9 kW (4,810 people), 95 kW (500), 96 kW (1) and 4 kW (1), and a low one."""
    return Instance(
        needs=[N("A9", "POWER", 9, people=10, region=0),
               N("B9", "POWER", 9, people=4810, region=1), N("B95", "POWER", 95, people=500, region=1),
               N("B96", "POWER", 96, people=1, region=1), N("B4", "POWER", 4, people=1, region=1),
               N("BLOW", "POWER", 91, tier="low", people=1, region=1)],
        pledges=[P("G1", "POWER", 1, factor=5, integer=True), P("G3", "POWER", 3, factor=5, integer=True)],
        transit=[[2, 2]],
    )


def test_two_generators_to_each_regions_9_kw_need_is_the_fair_plan_and_it_is_proved() -> None:
    # The fair LP splits the generators 1.8 and 1.8 (region 1 at 4810/5312 = 0.9055, region 0 in full); its rounding
    # gave region 0 one generator (5/9 = 0.5556) and called the plan optimal, gap 0.
    problem = generators().problem()
    fair = allocate_fair(problem)
    units = np.bincount(fair.line_need, weights=fair.line_units, minlength=problem.n_needs)
    assert dict(zip(problem.need_refs, units.tolist(), strict=True)) == {
        "A9": 2.0, "B9": 2.0, "B95": 0.0, "B96": 0.0, "B4": 0.0, "BLOW": 0.0}
    assert region_coverage(problem, fair.need_covered).coverage[0] == pytest.approx(4810 / 5312)
    assert fair.termination is Termination.OPTIMAL
    assert fair.gap <= TIER_GAP


def test_whole_units_that_cannot_reach_the_fair_lps_shares_are_proved_optimal_not_out_of_time() -> None:
    # 3 units of 2 kW for two 3 kW medium needs in two regions: the LP gives each 1.5 units (both in full); whole
    # units serve one in full and the other 2/3, and no whole-unit plan does better. The plan said time_limit, its gap
    # measured against the LP's fractional shares.
    problem = Instance(
        needs=[N("M0", "POWER", 3, tier="medium", region=0), N("M1", "POWER", 3, tier="medium", region=1)],
        pledges=[P("G", "POWER", 3, factor=2, integer=True)],
        transit=[[2, 2]],
    ).problem()
    fair = allocate_fair(problem)
    assert sorted(fair.need_covered.tolist()) == pytest.approx([2.0, 3.0])
    assert region_coverage(problem, fair.need_covered).coverage[2] == pytest.approx(2 / 3)
    assert fair.termination is Termination.OPTIMAL
    assert fair.gap <= TIER_GAP


def whole_unit_max_min(problem: Problem, tier: int) -> float | None:
    """The reference: the most the worst region of the first tier, ``tier``, can be covered by whole units, a dense
    MILP over every edge written here (:func:`reference._dense`)."""
    model = _dense(problem)
    n_e, n_n = model.n_edges, problem.n_needs
    mask = (problem.need_tier == tier) & (problem.need_people > 0)
    regions = sorted(set(problem.need_region[mask].tolist()))
    if not regions:
        return None
    rows = [np.append(row, 0.0) for row in model.rows]
    lower, upper = list(model.lower), list(model.upper)
    for region in regions:
        members = mask & (problem.need_region == region)
        row = np.zeros(n_e + n_n + 1)
        row[n_e + np.flatnonzero(members)] = problem.need_people[members]
        row[-1] = -problem.need_people[members].sum()
        rows.append(row)
        lower.append(0.0)
        upper.append(np.inf)
    cost = np.zeros(n_e + n_n + 1)
    cost[-1] = -1.0
    result = milp(cost, constraints=[LinearConstraint(np.array(rows), np.array(lower), np.array(upper))],
                  integrality=np.append(model.integrality, 0), bounds=Bounds(np.zeros(n_e + n_n + 1),
                                                                             np.append(model.ub, 1.0)),
                  options={"mip_rel_gap": 1e-9})
    assert result.status == 0
    return float(-result.fun)


def random_world(seed: int) -> Instance:
    """A few critical needs in two or three regions sharing whole units of one or two sizes (some larger than a need),
    and a tier after them."""
    r = random.Random(seed)
    n_regions = r.randint(2, 3)
    needs = [N(f"N{i}", "POWER", r.choice([3, 4, 9, 10, 25, 60]), tier=r.choice(TIERS[:1] * 3 + TIERS[1:2]),
               people=r.choice([1, 10, 500, 4810]), region=r.randrange(n_regions)) for i in range(r.randint(3, 7))]
    pledges = [P(f"P{j}", "POWER", r.randint(1, 4), factor=r.choice([2, 5, 7, 30]), integer=True, hub=r.randrange(2))
               for j in range(r.randint(1, 3))]
    transit = [[r.randint(1, 4) for _ in range(n_regions)] for _ in range(2)]
    return Instance(needs=needs, pledges=pledges, transit=transit)


@pytest.mark.parametrize("seed", range(40))
def test_the_critical_tiers_worst_region_is_the_whole_unit_max_min(seed: int) -> None:
    problem = random_world(seed).problem()
    fair = allocate_fair(problem)
    sent = np.bincount(fair.line_pledge, weights=fair.line_units, minlength=problem.n_pledges)
    assert np.all(sent <= problem.pledge_supply + 1e-9)
    assert np.all(fair.line_units == np.rint(fair.line_units))
    best = whole_unit_max_min(problem, 0)
    if best is None:
        return
    worst = region_coverage(problem, fair.need_covered).coverage[0]
    assert worst is not None
    # To the tier gap HiGHS proves it to (seed 22: 0.998869 where 0.998935 is reached).
    assert best * (1 - TIER_GAP) - 1e-9 <= worst <= best + 1e-6
    # Proved, and what it proves holds: its gap is no larger than the tier gap.
    assert fair.termination is Termination.OPTIMAL
    assert fair.gap <= TIER_GAP


def test_a_plan_that_misses_the_max_min_is_not_called_optimal(monkeypatch: pytest.MonkeyPatch) -> None:
    # Without the exact stages (a plan too large for them), the fair LP's rounding of the generators' world stays: its
    # worst region short of the fair LP's bound, and the plan says so.
    import aidpack.allocation.fairness as fairness

    monkeypatch.setattr(fairness, "EXACT_FAIR_EDGES", 0)
    problem = generators().problem()
    fair = allocate_fair(problem)
    worst = region_coverage(problem, fair.need_covered).coverage[0]
    assert worst is not None
    if worst < 4810 / 5312 - 1e-6:
        assert fair.termination is Termination.TIME_LIMIT
        assert fair.gap >= (4810 / 5312 - worst) / (4810 / 5312) - 1e-6
    assert fair.figures["fair_bound"] == "fair-lp"
