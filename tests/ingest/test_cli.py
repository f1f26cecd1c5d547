"""`aidpack import` end to end on a SQLite file of its own (the CLI commits)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner, Result

from aidpack.audit.models import Event
from aidpack.cli import common
from aidpack.cli.main import app
from aidpack.db import make_engine
from aidpack.needs.models import Need
from tests.ingest.scenario_files import (
    BASE_COUNTS,
    SCENARIO_SHEET,
    base,
    set_cell,
    write_csv,
    write_scenario,
    write_workbook,
)

runner = CliRunner()
TOTAL = sum(BASE_COUNTS.values())


@pytest.fixture
def cli_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("AIDPACK_DATABASE_URL", url)
    common.session_factory.cache_clear()
    engine = make_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()
        common.close_database()


def run(*args: str) -> Result:
    return runner.invoke(app, ["import", *args])


def flat(text: str) -> str:
    """Output with Rich's line wrapping undone."""
    return " ".join(text.split())


def count(engine: Engine, model: type[Need] | type[Event]) -> int:
    with engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(model)).scalar_one()


def test_import_prints_a_table_and_commits(cli_engine: Engine, tmp_path: Path) -> None:
    result = run(str(write_scenario(tmp_path / "sc")))

    assert result.exit_code == 0, result.output
    for word in ("needs.csv", "pledges.csv", "created", "unchanged", "total", str(TOTAL)):
        assert word in result.stdout
    assert count(cli_engine, Need) == 4
    assert count(cli_engine, Event) == TOTAL


def test_reimport_json_reports_everything_unchanged(cli_engine: Engine, tmp_path: Path) -> None:
    folder = write_scenario(tmp_path / "sc")
    assert run(str(folder)).exit_code == 0

    result = run(str(folder), "--json")

    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["totals"] == {"rows": TOTAL, "created": 0, "updated": 0, "unchanged": TOTAL}
    assert {f["file"]: f["unchanged"] for f in payload["files"]}["needs.csv"] == 4
    assert count(cli_engine, Event) == TOTAL


def test_bad_rows_exit_1_with_every_error_and_no_traceback(cli_engine: Engine, tmp_path: Path) -> None:
    files = base()
    set_cell(files["needs"], "N1", "quantity", "-3")
    set_cell(files["pledges"], "P2", "item", "WATER")

    result = run(str(write_scenario(tmp_path / "sc", files)))

    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert "IMPORT_INVALID" in result.stderr
    assert "file needs.csv, row 2, column quantity value '-3': a number greater than zero" in flat(
        result.stderr
    )
    assert "file pledges.csv, row 3, column item value 'WATER'" in flat(result.stderr)
    assert count(cli_engine, Need) == 0
    assert count(cli_engine, Event) == 0


def test_bad_rows_as_json(cli_engine: Engine, tmp_path: Path) -> None:
    files = base()
    set_cell(files["transit"], "RZE", "days", "1.5")
    result = run(str(write_scenario(tmp_path / "sc", files)), "--json")
    assert result.exit_code == 1
    payload = json.loads(result.stdout)
    assert payload["error"] == "IMPORT_INVALID"
    assert payload["context"]["errors"] == [
        {
            "file": "transit.csv",
            "row": 2,
            "column": "days",
            "value": "1.5",
            "expected": "a whole number",
        }
    ]


def test_single_files_by_name_and_by_kind(cli_engine: Engine, tmp_path: Path) -> None:
    assert run(str(write_scenario(tmp_path / "sc"))).exit_code == 0
    rows = [base()["needs"][0], ["N7", "UA-46", "", "BLANKET", "20", "high", "", "", ""]]

    assert run(str(write_csv(tmp_path / "needs-update-3.csv", rows))).exit_code == 0
    rows[1][4] = "25"
    anonymous = write_csv(tmp_path / "update.csv", rows)
    refused = run(str(anonymous))
    assert refused.exit_code == 1
    assert "--kind" in flat(refused.stderr)
    assert run(str(anonymous), "--kind", "needs").exit_code == 0

    with cli_engine.connect() as connection:
        assert connection.execute(select(Need.quantity).where(Need.ref == "N7")).scalar_one() == 25


def test_missing_path_is_a_clear_error(cli_engine: Engine, tmp_path: Path) -> None:
    result = run(str(tmp_path / "nowhere"))
    assert result.exit_code == 1
    assert "IMPORT_PATH_INVALID" in result.stderr
    assert "nowhere does not exist" in flat(result.stderr)


def test_a_workbook_of_sheets_imports_with_a_row_per_sheet_and_a_note_per_skipped_sheet(
    cli_engine: Engine, tmp_path: Path
) -> None:
    lines = [["plan", "id", "pledge", "need", "units", "amount", "eta", "status"]]
    path = write_workbook(tmp_path / "book.xlsx", {"scenario": SCENARIO_SHEET, **base(), "lines": lines, "notes": []})

    result = run(str(path))

    assert result.exit_code == 0, result.output
    table = flat(result.stdout.translate({ord(c): " " for c in "│┃"}))  # the table's cells, without its lines
    assert "file sheet kind rows created updated unchanged" in table
    assert "book.xlsx needs needs 4 4 0 0" in table
    assert f"total {TOTAL} {TOTAL} 0 0" in table
    assert "skipped sheet 'lines' of book.xlsx: plan lines" in flat(result.stderr)
    assert "skipped sheet 'notes' of book.xlsx: the sheet is empty" in flat(result.stderr)
    assert count(cli_engine, Need) == 4

    refused = run(str(path), "--kind", "needs")
    assert refused.exit_code == 1
    assert "IMPORT_PATH_INVALID" in refused.stderr
    assert "their names give their kinds: import it without --kind" in flat(refused.stderr)


def test_bad_cells_of_a_workbook_name_their_sheet_and_nothing_is_written(cli_engine: Engine, tmp_path: Path) -> None:
    files = base()
    set_cell(files["hubs"], "SCV", "lat", "147.65")
    path = write_workbook(tmp_path / "book.xlsx", {"scenario": SCENARIO_SHEET, **files})

    result = run(str(path), "--json")

    assert result.exit_code == 1
    errors = json.loads(result.stdout)["context"]["errors"]
    assert [(e["file"], e["sheet"], e["row"], e["column"]) for e in errors] == [("book.xlsx", "hubs", 3, "lat")]
    shown = run(str(path))
    assert "file book.xlsx, sheet hubs, row 3, column lat value '147.65'" in flat(shown.stderr)
    assert count(cli_engine, Event) == 0
