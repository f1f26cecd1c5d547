"""`aidpack report` and `aidpack export` end to end on a SQLite file of their own (the CLI commits)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from aidpack.allocation.explain import PROPOSED_HINT
from aidpack.allocation.models import Plan, ShortReason
from aidpack.audit.models import Event
from aidpack.cli import common
from aidpack.cli.main import app
from aidpack.db import make_engine
from aidpack.needs.models import Need
from tests.exports.data import load
from tests.factories import make_plan_need

runner = CliRunner()


@pytest.fixture
def cli_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("AIDPACK_DATABASE_URL", url)
    common.session_factory.cache_clear()
    engine = make_engine(url)
    try:
        common.session_factory()  # migrate
        with Session(engine) as session, session.begin():
            load(session, tmp_path / "scenario")
        yield engine
    finally:
        engine.dispose()
        common.close_database()


def flat(text: str) -> str:
    return " ".join(text.split())


def test_report_json_is_report_dict_plus_plan_and_totals(cli_engine: Engine) -> None:
    result = runner.invoke(app, ["report", "--json"])

    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert {"plan", "tiers", "categories", "regions", "gaps", "contributions", "latest_plan", "totals"} <= set(payload)
    assert payload["totals"]["needs"] == 4
    assert payload["latest_plan"]["id"] == payload["plan"]
    assert [t["key"] for t in payload["tiers"]] == ["critical", "high", "medium", "low"]
    assert {c["donor"] for c in payload["contributions"]} >= {"FR", "DE", "NATO-CAP"}
    assert all("ref" not in gap and "site" not in gap for gap in payload["gaps"])  # aggregated


def test_report_prints_tables(cli_engine: Engine) -> None:
    result = runner.invoke(app, ["report"], env={"COLUMNS": "200"})

    assert result.exit_code == 0, result.output
    text = flat(result.stdout)
    for title in ("Coverage by tier", "Coverage by category", "Coverage by region", "Contributions by donor",
                  "Largest gaps"):
        assert title in text
    assert "N4" in text  # a gap: no supply


def test_report_names_the_proposed_pledges_a_need_without_supply_waits_for(
    cli_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A plan's no_supply need whose capability only proposed pledges provide: the report said nothing more than
    'no_supply', as if nobody had pledged any."""
    with Session(cli_engine) as session, session.begin():
        plan = session.execute(select(Plan).order_by(Plan.id.desc()).limit(1)).scalar_one()
        need = session.execute(select(Need).where(Need.ref == "N4")).scalar_one()
        make_plan_need(session, plan=plan, need=need, reason=ShortReason.NO_SUPPLY,
                       detail={"proposed": ["P-PROPOSED"], "hint": PROPOSED_HINT})

    monkeypatch.setattr(common.console, "width", 250)
    result = runner.invoke(app, ["report"])

    assert result.exit_code == 0, result.output
    row = next(line for line in result.stdout.splitlines() if "│ N4 " in line)
    assert "no_supply" in row
    assert "only proposed pledges: P-PROPOSED (`aidpack allocate --include-proposed` would use them)" in row


def test_export_cli_writes_refuses_and_forces(cli_engine: Engine, tmp_path: Path) -> None:
    out = tmp_path / "out"
    ok = runner.invoke(app, ["export", "csv", str(out)])
    assert ok.exit_code == 0, ok.output
    assert (out / "needs.csv").exists()
    assert (out / "lines.csv").exists()

    again = runner.invoke(app, ["export", "csv", str(out)])
    assert again.exit_code == 1
    assert "EXPORT_TARGET_EXISTS" in again.output
    assert "--force" in flat(again.output)
    assert "Traceback" not in again.output
    assert runner.invoke(app, ["export", "csv", str(out), "--force"]).exit_code == 0

    unknown = runner.invoke(app, ["export", "pdf", str(tmp_path / "x")])
    assert unknown.exit_code == 1
    assert "UNKNOWN_EXPORT_FORMAT" in unknown.output

    as_json = runner.invoke(app, ["export", "iati", str(tmp_path / "a.xml"), "--json"])
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.stdout)["rows"] == {"activities": 3}

    with Session(cli_engine) as session:
        actions = session.execute(select(Event.action).where(Event.entity == "export")).scalars().all()
    assert actions == ["export.csv", "export.csv", "export.iati"]


def test_export_help_says_hxl_leaves_out_restricted_sites() -> None:
    result = runner.invoke(app, ["export", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "restricted sites are left out" in flat(result.stdout)
    assert "the site given as [restricted]" in flat(result.stdout)
