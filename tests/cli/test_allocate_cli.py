"""`aidpack import` + `allocate --json` + `plan show` on a scenario aidpack was not built around.

The scenario is the Türkiye earthquake of February 2023 in miniature: another country, another
catalogue, an XLSX pledges file, HXL hashtag rows, a transit override, proposed and withdrawn pledges.
Every figure below is worked out by hand from SPEC §4.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from typer.testing import CliRunner, Result

from aidpack.cli import common
from aidpack.cli.main import app

runner = CliRunner()

FILES = {
    "scenario.toml": 'name = "turkiye-2023-mini"\nplan_date = 2023-02-07\ndescription = "test"\n',
    "regions.csv": (
        "code,name,population,lat,lon\n"
        "#adm1+code,#adm1+name,#population,#geo+lat,#geo+lon\n"
        "TR-46,Kahramanmaraş,1177436,37.5858,36.9371\n"
        "TR-31,Hatay,1686043,36.2023,36.1613\n"
    ),
    "hubs.csv": (
        "code,name,country,lat,lon\n"
        "ADA,Adana Şakirpaşa Airport,TR,36.9822,35.2804\n"
        "IST,Istanbul Airport,TR,41.2753,28.7519\n"
    ),
    "catalogue.csv": (
        "code,name,category,unit,provides,factor,indivisible\n"
        "TENT-F,Family tent,shelter,unit,TENT,1,true\n"
        "GEN-50KVA,Generator 50 kVA,energy,unit,POWER-KW,40,true\n"
        "DIESEL-L,Diesel,fuel,litre,DIESEL-L,1,false\n"
    ),
    "donors.csv": "code,name,kind,country\nDE,Germany,state,DE\nEU,European Union,multilateral,\n",
    "needs.csv": (
        "ref,region,capability,quantity,priority,deadline,people_served,x_comment\n"
        "#meta+ref,#adm1+code,#item+type,#item+needed,#priority,#date+deadline,#affected,\n"
        "N1,TR-31,TENT,100,critical,2023-02-12,500,\n"
        "N2,TR-46,TENT,80,high,,400,\n"
        "N3,TR-31,POWER-KW,100,critical,,2000,hospital\n"
        "N4,TR-46,DIESEL-L,5000,medium,2023-02-09,1000,\n"
        "N5,TR-46,WATER-PUMP,3,low,,100,\n"
    ),
    "transit.csv": "hub,region,days\nADA,TR-31,1\nADA,TR-46,1\n",
}
PLEDGES: list[list[Any]] = [
    ["ref", "donor", "item", "units", "available", "hub", "channel", "status"],
    ["P1", "DE", "TENT-F", 150, "2023-02-08", "ADA", "bilateral", "confirmed"],
    ["P2", "EU", "GEN-50KVA", 2, None, "IST", "eu-ucpm", "proposed"],
    ["P3", "EU", "GEN-50KVA", 2, None, "ADA", "eu-ucpm", None],
    ["P4", "DE", "DIESEL-L", 10000, "2023-02-08", "IST", "bilateral", "confirmed"],
    ["P5", "EU", "TENT-F", 50, None, "ADA", "eu-ucpm", "withdrawn"],
]


def write_scenario(folder: Path) -> Path:
    folder.mkdir(parents=True)
    for name, text in FILES.items():
        (folder / name).write_text(text, encoding="utf-8")
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    for row in PLEDGES:
        sheet.append(list(row))
    book.save(folder / "pledges.xlsx")
    return folder


@pytest.fixture
def scenario(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("AIDPACK_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    common.session_factory.cache_clear()
    folder = write_scenario(tmp_path / "turkiye")
    result = runner.invoke(app, ["import", str(folder)])
    assert result.exit_code == 0, result.output
    yield folder
    common.session_factory.cache_clear()


def invoke(*args: str) -> Result:
    return runner.invoke(app, list(args))


def as_json(result: Result) -> dict[str, Any]:
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert isinstance(payload, dict)
    return payload


def test_allocate_json_is_the_spec_object_with_the_hand_worked_optimum(scenario: Path) -> None:
    plan = as_json(invoke("allocate", "--json"))

    assert set(plan) == {"plan", "status", "plan_date", "tiers", "lines", "needs", "solve_seconds", "gap"}
    assert plan["status"] == "optimal"
    assert plan["plan_date"] == "2023-02-07"
    assert plan["gap"] == pytest.approx(0.0, abs=1e-4)
    # Critical: N1 (500 people) fully, N3 (2000 people) 80 of 100 kW. High: N2 50 of 80 tents.
    assert plan["tiers"] == {
        "critical": {"served": pytest.approx(2100.0), "people": 2500.0},
        "high": {"served": pytest.approx(250.0), "people": 400.0},
        "medium": {"served": 0.0, "people": 1000.0},
        "low": {"served": 0.0, "people": 100.0},
    }
    lines = {(line["pledge"], line["need"]): line for line in plan["lines"]}
    assert set(lines) == {("P1", "N1"), ("P1", "N2"), ("P3", "N3")}
    assert lines[("P1", "N1")]["units"] == 100
    assert lines[("P1", "N1")]["eta"] == "2023-02-09"  # available 02-08 + 1 day (transit override)
    assert lines[("P1", "N2")]["units"] == 50
    assert lines[("P3", "N3")] | {"id": "x"} == {
        "id": "x", "pledge": "P3", "need": "N3", "units": 2, "amount": 80.0, "eta": "2023-02-08", "status": "proposed",
    }
    needs = {need["ref"]: need for need in plan["needs"]}
    assert needs["N1"]["covered"] == 100.0
    assert needs["N1"]["reason"] is None
    assert needs["N2"]["reason"] == "outcompeted"
    assert needs["N2"]["detail"] == {"taken_by": ["N1"]}
    assert needs["N3"]["reason"] == "short_supply"
    assert needs["N3"]["covered"] == 80.0
    # Istanbul → Kahramanmaraş is 813 km: 1 + ⌈1.3 × 813 / 500⌉ = 4 days; 02-08 + 4 = 02-12 > 02-09.
    assert needs["N4"]["reason"] == "too_late"
    assert needs["N4"]["detail"] == {"earliest_eta": "2023-02-12"}
    assert needs["N5"]["reason"] == "no_supply"

    shown = as_json(invoke("plan", "show", "--json"))
    assert shown == plan
    assert as_json(invoke("plan", "show", str(plan["plan"]), "--json")) == plan


def test_include_proposed_brings_the_proposed_generator_but_never_the_withdrawn_tents(scenario: Path) -> None:
    plan = as_json(invoke("allocate", "--json", "--include-proposed"))
    lines = {(line["pledge"], line["need"]): line["units"] for line in plan["lines"]}
    # N3 needs 100 kW: both ADA generators (1 day) and one from Istanbul (nearer units first, no overshoot).
    assert lines[("P3", "N3")] == 2
    assert lines[("P2", "N3")] == 1
    assert not any(pledge == "P5" for pledge, _ in lines)
    needs = {need["ref"]: need for need in plan["needs"]}
    assert needs["N3"]["covered"] == 100.0
    assert needs["N3"]["reason"] is None


def test_importing_the_same_scenario_again_changes_nothing(scenario: Path) -> None:
    first = as_json(invoke("allocate", "--json"))
    again = invoke("import", str(scenario))
    assert again.exit_code == 0
    assert "unchanged" in again.stdout
    second = as_json(invoke("allocate", "--json"))
    def strip(plan: dict[str, Any]) -> list[tuple[str, str, int]]:
        return [(x["pledge"], x["need"], x["units"]) for x in plan["lines"]]

    assert strip(first) == strip(second)
    assert first["tiers"] == second["tiers"]


def test_human_output_shows_tiers_gaps_and_donors(scenario: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(common.console, "width", 200)
    result = invoke("allocate")
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())
    for expected in ("critical", "too_late", "no_supply", "outcompeted", "DE Germany", "EU European Union"):
        assert expected in text
    assert re.search(r"gap [0-9.e+-]+ \(tiers [0-9.e+-]+, transit [0-9.e+-]+\)", text), text


def test_a_narrow_console_folds_text_and_never_cuts_a_figure_short(scenario: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(common.console, "width", 70)
    result = invoke("allocate")
    assert result.exit_code == 0, result.output
    assert "…" not in result.stdout
    gaps = result.stdout[result.stdout.index("Largest gaps"):result.stdout.index("What each donor")]
    for people in ("1,000", "400", "100"):  # N4, N2, N5: whole, on one line
        assert re.search(rf"│ +{people} │", gaps), gaps


def test_plan_errors_are_clear_and_exit_1(scenario: Path) -> None:
    missing = invoke("plan", "show", "--json")
    assert missing.exit_code == 1
    assert json.loads(missing.stdout)["error"] == "PLAN_NOT_FOUND"
    bad = invoke("plan", "show", "seven")
    assert bad.exit_code == 1
    assert "not a plan id" in bad.output
    assert "Traceback" not in bad.output


def test_json_output_has_nothing_but_the_object(scenario: Path) -> None:
    result = invoke("allocate", "--json")
    assert result.stdout.count("\n") == 1
    assert "HiGHS" not in result.stdout


def test_a_donor_row_names_its_largest_shares_first_and_counts_the_rest() -> None:
    from decimal import Decimal

    from aidpack.cli.allocate import DONOR_CAPABILITIES, _donor_amounts

    amounts = {f"CAP-{i:02d}": Decimal(i + 1) for i in range(12)}
    totals = {cap: 100.0 for cap in amounts} | {"CAP-00": 1.0}  # CAP-00: 1 of 1, the donor's largest share
    text = _donor_amounts(amounts, totals)
    assert text.startswith("CAP-00 1.00, CAP-11 12.00, CAP-10 11.00")
    assert text.endswith(f"and {12 - DONOR_CAPABILITIES} more capabilities")
    nine = dict(list(amounts.items())[:DONOR_CAPABILITIES + 1])
    assert "more" not in _donor_amounts(nine, totals)  # one more is named, not counted


def test_what_if_json_carries_the_comparison_and_kind_names_a_file_s_kind(scenario: Path, tmp_path: Path) -> None:
    saved = as_json(invoke("allocate", "--json"))
    changes = tmp_path / "new-requests.csv"  # a name that does not say its kind
    changes.write_text("ref,region,capability,quantity,priority,people_served\nN9,TR-31,TENT,40,critical,900\n",
                       encoding="utf-8")
    unnamed = invoke("allocate", "--what-if", str(changes))
    assert unnamed.exit_code == 1
    assert "--kind" in unnamed.output
    found = as_json(invoke("allocate", "--what-if", str(changes), "--kind", "needs", "--json"))
    assert found["plan"] == "what-if"
    assert found["compared_with"] == int(saved["plan"])
    assert {row["need"] for row in found["diff"]["gains"]} >= {"N9"}
    assert all(line["id"] is None for line in found["lines"])
    alone = invoke("allocate", "--kind", "needs")
    assert alone.exit_code != 0
    assert "--what-if" in alone.output


def test_plan_diff_latest_latest_compares_the_latest_plan_with_itself(scenario: Path) -> None:
    as_json(invoke("allocate", "--json"))
    as_json(invoke("allocate", "--json", "--reshuffle"))
    same = as_json(invoke("plan", "diff", "latest", "latest", "--json"))
    assert same["before"] == same["after"]
    assert same["moved_units"] == 0.0
    previous = as_json(invoke("plan", "diff", "--json"))
    assert int(previous["before"]) == int(previous["after"]) - 1


def test_human_output_names_the_proposed_pledges_a_need_without_supply_waits_for(
    scenario: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """N5's water pumps: only a proposed pledge provides them. `allocate --json` named it; the summary said
    'no_supply' alone, as if nobody had pledged any (QA's edge1)."""
    monkeypatch.setattr(common.console, "width", 200)
    pumps = tmp_path / "pumps"
    pumps.mkdir()
    (pumps / "catalogue-pumps.csv").write_text(
        "code,name,category,unit,provides,factor,indivisible\nPUMP-W,Water pump,wash,unit,WATER-PUMP,1,true\n",
        encoding="utf-8")
    (pumps / "pledges-pumps.csv").write_text(
        "ref,donor,item,units,available,hub,channel,status\nP6,EU,PUMP-W,3,,ADA,eu-ucpm,proposed\n",
        encoding="utf-8")
    for name in ("catalogue-pumps.csv", "pledges-pumps.csv"):
        imported = invoke("import", str(pumps / name))
        assert imported.exit_code == 0, imported.output

    plan = as_json(invoke("allocate", "--json"))
    assert {n["ref"]: n["detail"] for n in plan["needs"]}["N5"]["proposed"] == ["P6"]
    for result in (invoke("allocate"), invoke("plan", "show")):
        assert result.exit_code == 0, result.output
        text = " ".join(result.stdout.split())
        row = re.search(r"│ N5 .*?\n", result.stdout)
        assert row is not None, result.stdout
        assert "only proposed pledges: P6" in row.group(0)
        assert "Only proposed pledges provide what N5 needs: `aidpack allocate --include-proposed` would use them." \
            in text
