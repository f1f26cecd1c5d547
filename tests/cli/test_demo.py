"""`aidpack demo --no-serve`: the built-in Ukraine winter 2022 scenario loads, allocates and prints."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from aidpack.cli import common
from aidpack.cli.main import app

runner = CliRunner()


def test_demo_loads_the_ukraine_winter_and_prints_its_plan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIDPACK_DATABASE_URL", f"sqlite:///{tmp_path / 'demo.db'}")
    monkeypatch.setattr(common.console, "width", 200)
    common.session_factory.cache_clear()
    try:
        result = runner.invoke(app, ["demo", "--no-serve"])
        assert result.exit_code == 0, result.output
        text = " ".join(result.stdout.split())
        assert "Loaded the built-in scenario" in text
        for expected in ("Plan 1 for 2022-11-29", "critical", "no_supply", "too_late", "DE Germany", "FR France",
                         "NATO-CAP"):
            assert expected in text, expected
        # The demo accounts' new passwords, to sign in to a dashboard served later (`aidpack serve`).
        assert "Demo accounts" in text
        assert "coordinator@demo.aidpack.org" in text

        shown = runner.invoke(app, ["plan", "show", "--json"])
        assert shown.exit_code == 0, shown.output
        plan = json.loads(shown.stdout)
        assert plan["plan_date"] == "2022-11-29"
        # Every tier proved within 1e-4 of its bound, unit-days within 1e-3 (SPEC §4): the generator block too, by its
        # pattern bound (allocation.columns).
        assert plan["status"] == "optimal", plan["gap"]
        assert plan["gap"] <= 1e-3
        reasons = {need["reason"] for need in plan["needs"]}
        assert {"no_supply", "too_late"} <= reasons
        # Germany's generators (350 per the record) go to needs of POWER-KW.
        assert any(line["pledge"].startswith("P-DE") for line in plan["lines"])

        again = runner.invoke(app, ["import", "--json", str(Path(common.__file__).parents[1] / "scenarios"
                                                               / "ukraine-winter-2022")])
        assert again.exit_code == 0, again.output
        assert json.loads(again.stdout)["totals"]["created"] == 0
    finally:
        common.session_factory.cache_clear()
