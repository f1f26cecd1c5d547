"""QA's stress shapes (bench/stress) at a small size: each is imported by `aidpack import` into its own SQLite file,
planned by `aidpack allocate --json`, and the plan passes the independent SPEC §4 checker; the checker in turn
fails plans (and data) broken on purpose, one rule at a time."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from bench.stress.check import Scenario, Transit, check_plan, load_scenario
from bench.stress.check import main as check_main
from bench.stress.generate import generate
from bench.stress.shapes import SHAPES, STRIKE_REGIONS
from typer.testing import CliRunner

from aidpack.cli import common
from aidpack.cli.main import app

runner = CliRunner()
SMALL = 4_000  # candidate edges per shape: the whole file runs in well under a minute

Plan = dict[str, Any]


@dataclasses.dataclass
class Planned:
    folder: Path
    database: str
    manifest: dict[str, Any]
    scenario: Scenario
    plan: Plan


def _cli(database: str, *args: str) -> str:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AIDPACK_DATABASE_URL", database)
        common.session_factory.cache_clear()
        try:
            result = runner.invoke(app, list(args))
        finally:
            common.close_database()
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture(scope="module")
def planned(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Planned]:
    """Each shape generated (seed 1), imported and planned once per module, on first use."""
    done: dict[str, Planned] = {}

    def get(shape: str) -> Planned:
        if shape not in done:
            root = tmp_path_factory.mktemp(shape)
            manifest = generate(root / shape, shape=shape, edges=SMALL, seed=1)
            database = f"sqlite:///{root / 'stress.db'}"
            _cli(database, "import", str(root / shape))
            plan = json.loads(_cli(database, "allocate", "--json"))
            done[shape] = Planned(root / shape, database, manifest, load_scenario(root / shape), plan)
        return done[shape]

    return get


def _share(test: Callable[[Any], bool], rows: list[Any]) -> float:
    return sum(1 for row in rows if test(row)) / max(1, len(rows))


def _shape_holds(shape: str, sc: Scenario) -> None:
    """What makes each shape that shape, read back from the files."""
    items = sc.items.values()
    t = sc.plan_date
    if shape == "giant":
        assert {i.provides for i in items} == {"POWER-KW", "HEAT-KW"}
        assert all(i.indivisible for i in items)
        assert {i.factor for i in items if i.provides == "POWER-KW"} >= {7.0, 800.0}
        assert all(n.deadline is None for n in sc.needs)
    elif shape == "fuel":
        assert not any(i.indivisible for i in items)
        assert len({i.provides for i in items}) == 7
        assert {1000.0, 0.001} <= {i.factor for i in items}
        assert sc.transit
        assert min(sc.transit.values()) == 0
    elif shape == "longtail":
        assert len({i.provides for i in items}) >= 850
        assert all(i.indivisible for i in items)
        assert 0.3 < _share(lambda p: p.status == "proposed", sc.pledges) < 0.5
        assert sc.sites
        assert _share(lambda n: n.site is not None, sc.needs) > 0.5
    elif shape == "late":
        assert 35 <= len({i.provides for i in items}) <= 45
        assert any(i.indivisible for i in items)
        assert not all(i.indivisible for i in items)
        assert max(p.available for p in sc.pledges if p.available) > t + dt.timedelta(days=35)
        assert _share(lambda n: n.deadline is not None, sc.needs) > 0.85
    elif shape == "bulk":
        largest_pack = {c: max(i.factor for i in items if i.provides == c) for c in {i.provides for i in items}}
        supplied = [n for n in sc.needs if n.capability in largest_pack]
        assert _share(lambda n: n.quantity < largest_pack[n.capability] / 2, supplied) > 0.85
    elif shape == "strike":
        hit = [n for n in sc.needs if n.region in STRIKE_REGIONS]
        assert len(hit) > 0.8 * len(sc.needs)
        assert all(n.deadline is not None and 2 <= (n.deadline - t).days <= 5 for n in hit)
    regions_used = {n.region for n in sc.needs}
    assert len(sc.regions) == 27
    assert len(regions_used) >= (20 if shape != "strike" else 3)


@pytest.mark.parametrize("shape", list(SHAPES))
def test_each_shape_imports_plans_and_passes_the_checker(shape: str, planned: Callable[[str], Planned]) -> None:
    run = planned(shape)
    assert 0.7 * SMALL <= run.manifest["edges"] <= 1.3 * SMALL
    _shape_holds(shape, run.scenario)
    assert run.plan["lines"], "a plan of nothing checks nothing"
    verdict = check_plan(run.scenario, run.plan)
    assert verdict.valid, verdict.summary()
    assert verdict.short > 0  # every shape leaves needs short, so the reasons are checked too


UNPROVED = pytest.mark.xfail(
    reason="engine defect found by QA: without --time-limit, plans with whole units come back `time_limit` with an "
    "unproved gap after the engine's own integer budget (2 s at this size; QA's first run: giant 0.08, longtail "
    "0.032, late 0.0015 or optimal by the machine's load; after session 28's transit-phase floor giant 0.003, and "
    "late, bulk and strike proved; after session 29's pattern bound and transit retries longtail too, giant not: "
    "a 16-size generator block's tiers 1e-3 short and its unit-days 4e-3 to 9e-2), where SPEC §4 asks for a proved "
    "1e-4 per tier (1e-3 for transit) unless the user gives a time limit. Not strict: whether HiGHS proves a block "
    "within the budget depends on the load (late, strike and longtail end within 2.6 s of a 2 s budget)",
    strict=False)
#: Shapes proved whatever the load: all divisible (fuel), or packs that HiGHS proves in a fraction of a second (bulk).
PROVED = ("fuel", "bulk")


@pytest.mark.parametrize("shape", [s if s in PROVED else pytest.param(s, marks=UNPROVED) for s in SHAPES])
def test_without_a_time_limit_the_plan_is_proved_optimal(shape: str, planned: Callable[[str], Planned]) -> None:
    plan = planned(shape).plan
    assert (plan["status"], plan["gap"] <= 1e-3) == ("optimal", True), f"{plan['status']}, gap {plan['gap']}"


def test_proposed_pledges_only_when_asked(planned: Callable[[str], Planned]) -> None:
    run = planned("longtail")
    plan = json.loads(_cli(run.database, "allocate", "--json", "--include-proposed"))
    assert check_plan(run.scenario, plan, include_proposed=True).valid
    proposed = {p.ref for p in run.scenario.pledges if p.status == "proposed"}
    assert any(line["pledge"] in proposed for line in plan["lines"])
    assert "proposed_pledge" in check_plan(run.scenario, plan).codes()


def test_the_saved_plan_is_checked_from_the_database(planned: Callable[[str], Planned],
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    run = planned("strike")
    assert check_main([str(run.folder), "--db", run.database, "--plan", str(run.plan["plan"])]) == 0
    assert "VALID" in capsys.readouterr().out


def test_generation_is_seeded_and_deterministic(tmp_path: Path) -> None:
    generate(tmp_path / "a", shape="longtail", edges=2_000, seed=7)  # its donors are an .xlsx file
    generate(tmp_path / "b", shape="longtail", edges=2_000, seed=7)
    generate(tmp_path / "c", shape="longtail", edges=2_000, seed=8)
    names = sorted(path.name for path in (tmp_path / "a").iterdir())
    assert names == sorted(path.name for path in (tmp_path / "b").iterdir())
    assert all((tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes() for name in names)
    assert (tmp_path / "a" / "needs.csv").read_bytes() != (tmp_path / "c" / "needs.csv").read_bytes()


# --- the checker fails broken plans -----------------------------------------------------------------------------

Corruption = Callable[[Plan, Scenario], tuple[Plan, Scenario]]


def _line(plan: Plan, sc: Scenario, test: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    line: dict[str, Any] = next(line for line in plan["lines"] if test(line))
    return line


def _whole(sc: Scenario) -> Callable[[dict[str, Any]], bool]:
    pledges = {p.ref: p for p in sc.pledges}
    return lambda line: sc.items[pledges[line["pledge"]].item].indivisible


def _short(plan: Plan, reason: str) -> dict[str, Any]:
    need: dict[str, Any] = next(n for n in plan["needs"] if n["reason"] == reason)
    return need


def fractional_units(plan: Plan, sc: Scenario) -> tuple[Plan, Scenario]:
    line = _line(plan, sc, _whole(sc))
    factor = line["amount"] / line["units"]
    line["units"] -= 0.5
    line["amount"] = line["units"] * factor
    return plan, sc


def pledge_over(plan: Plan, sc: Scenario) -> tuple[Plan, Scenario]:
    line = plan["lines"][0]
    pledge = next(p for p in sc.pledges if p.ref == line["pledge"])
    twin = dict(line, id="twin", units=pledge.units, amount=line["amount"] / line["units"] * pledge.units)
    plan["lines"].append(twin)
    return plan, sc


def eta_a_day_off(plan: Plan, sc: Scenario) -> tuple[Plan, Scenario]:
    line = plan["lines"][0]
    line["eta"] = (dt.date.fromisoformat(line["eta"]) - dt.timedelta(days=1)).isoformat()
    return plan, sc


def past_the_deadline(plan: Plan, sc: Scenario) -> tuple[Plan, Scenario]:
    line = plan["lines"][0]
    eta = dt.date.fromisoformat(line["eta"])
    sc.needs = [dataclasses.replace(n, deadline=eta - dt.timedelta(days=1)) if n.ref == line["need"] else n
                for n in sc.needs]
    return plan, sc


def withdrawn_pledge(plan: Plan, sc: Scenario) -> tuple[Plan, Scenario]:
    used = plan["lines"][0]["pledge"]
    sc.pledges = [dataclasses.replace(p, status="withdrawn") if p.ref == used else p for p in sc.pledges]
    return plan, sc


def proposed_pledge(plan: Plan, sc: Scenario) -> tuple[Plan, Scenario]:
    used = plan["lines"][0]["pledge"]
    sc.pledges = [dataclasses.replace(p, status="proposed") if p.ref == used else p for p in sc.pledges]
    return plan, sc


def wrong_capability(plan: Plan, sc: Scenario) -> tuple[Plan, Scenario]:
    line = plan["lines"][0]
    capability = next(n.capability for n in sc.needs if n.ref == line["need"])
    line["need"] = next(n.ref for n in sc.needs if n.capability != capability)
    return plan, sc


def amount_not_units_times_factor(plan: Plan, sc: Scenario) -> tuple[Plan, Scenario]:
    plan["lines"][0]["amount"] *= 1.01
    return plan, sc


def no_reason(plan: Plan, sc: Scenario) -> tuple[Plan, Scenario]:
    _short(plan, "outcompeted")["reason"] = None
    return plan, sc


def too_late_called_short_supply(plan: Plan, sc: Scenario) -> tuple[Plan, Scenario]:
    _short(plan, "too_late")["reason"] = "short_supply"
    return plan, sc


def wrong_earliest_eta(plan: Plan, sc: Scenario) -> tuple[Plan, Scenario]:
    need = _short(plan, "too_late")
    need["detail"] = {"earliest_eta": (dt.date.fromisoformat(need["detail"]["earliest_eta"])
                                       + dt.timedelta(days=1)).isoformat()}
    return plan, sc


def tier_people(plan: Plan, sc: Scenario) -> tuple[Plan, Scenario]:
    plan["tiers"]["high"]["people"] += 1
    return plan, sc


def tier_served(plan: Plan, sc: Scenario) -> tuple[Plan, Scenario]:
    plan["tiers"]["critical"]["served"] *= 1.01
    return plan, sc


def need_missing(plan: Plan, sc: Scenario) -> tuple[Plan, Scenario]:
    plan["needs"].pop()
    return plan, sc


def covered_overstated(plan: Plan, sc: Scenario) -> tuple[Plan, Scenario]:
    need = _short(plan, "outcompeted")
    need["covered"] = need["quantity"]
    need["reason"] = None
    return plan, sc


def idle_units(plan: Plan, sc: Scenario) -> tuple[Plan, Scenario]:
    """A line dropped and its need's figures lowered to match: the pledge's units sit idle while the need is short."""
    people = {n.ref: sc.people(n) / n.quantity for n in sc.needs}
    line = max(plan["lines"], key=lambda line: people[line["need"]] * line["amount"])
    plan["lines"].remove(line)
    need = next(n for n in plan["needs"] if n["ref"] == line["need"])
    brought = sum(other["amount"] for other in plan["lines"] if other["need"] == need["ref"])
    before, need["covered"] = need["covered"], min(need["quantity"], brought)
    need["reason"] = "short_supply"
    tier = next(n.priority for n in sc.needs if n.ref == need["ref"])
    plan["tiers"][tier]["served"] -= people[need["ref"]] * (before - need["covered"])
    plan["status"], plan["gap"] = "optimal", 0.0  # what the plan claims: the engine's own status varies with load
    return plan, sc


def needless_units(plan: Plan, sc: Scenario) -> tuple[Plan, Scenario]:
    """An "optimal" plan sending a covered need the same units twice: half its unit-days in transit are needless."""
    covered = next(n["ref"] for n in plan["needs"] if n["reason"] is None and n["covered"] > 0)
    lines = [line for line in plan["lines"] if line["need"] == covered]
    plan["lines"] = lines + [dict(line, id=f"{line['id']}-again") for line in lines]
    plan["status"], plan["gap"] = "optimal", 0.0
    return plan, sc


CORRUPTIONS: dict[str, tuple[Corruption, str]] = {
    "fractional_units": (fractional_units, "fractional_units"),
    "pledge_over": (pledge_over, "pledge_over"),
    "eta": (eta_a_day_off, "eta"),
    "late": (past_the_deadline, "late"),
    "withdrawn": (withdrawn_pledge, "withdrawn_pledge"),
    "proposed": (proposed_pledge, "proposed_pledge"),
    "capability": (wrong_capability, "capability"),
    "amount": (amount_not_units_times_factor, "amount"),
    "no_reason": (no_reason, "no_reason"),
    "reason_wrong": (too_late_called_short_supply, "reason_wrong"),
    "earliest_eta": (wrong_earliest_eta, "reason_detail"),
    "tier_people": (tier_people, "tier_people"),
    "tier_served": (tier_served, "tier_served"),
    "need_missing": (need_missing, "need_missing"),
    "covered": (covered_overstated, "covered"),
    "idle": (idle_units, "idle_supply"),
    "transit": (needless_units, "transit_not_minimal"),
}


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_the_checker_catches_a_broken_plan(name: str, planned: Callable[[str], Planned]) -> None:
    run = planned("late")  # whole and divisible units, deadlines, every reason but no_supply's neighbours
    corrupt, code = CORRUPTIONS[name]
    plan, scenario = corrupt(copy.deepcopy(run.plan), copy.deepcopy(run.scenario))
    verdict = check_plan(scenario, plan)
    assert code in verdict.codes(), verdict.summary()


def test_the_transit_rule_is_the_spec_s() -> None:
    # Rzeszów-Jasionka (50.11, 22.019) to Kyiv (50.45466, 30.5238): 606 km, 1 + ⌈1.3 × 606 / 500⌉ = 3 days;
    # a hub on the region's own point is 1 day; an override wins.
    sc = Scenario("t", dt.date(2022, 11, 29), {"UA-30": (50.45466, 30.5238), "UA-46": (49.83826, 24.02324)},
                  {"RZE": (50.11, 22.019), "LVIV": (49.83826, 24.02324)}, {}, {}, [], [],
                  {("RZE", "UA-46"): 4})
    transit = Transit.of(sc)
    day = sc.plan_date
    assert transit.etas(day, "RZE", "UA-30") == {day + dt.timedelta(days=3)}
    assert transit.etas(day, "LVIV", "UA-46") == {day + dt.timedelta(days=1)}
    assert transit.etas(day, "RZE", "UA-46") == {day + dt.timedelta(days=4)}
