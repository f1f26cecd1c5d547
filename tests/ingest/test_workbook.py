"""A workbook of several sheets of data, each named for its kind (as `aidpack export xlsx` writes it), is one import:
every sheet checked before anything is written, in the order a folder is imported, one report per sheet, every
problem of every sheet reported with its sheet and row; sheets that are not input are skipped with a note; a
sheet of an unknown name is an error; a workbook of one sheet of data is one file, as before."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from aidpack.audit.models import Event
from aidpack.ingest.errors import ImportInvalid, ImportPathInvalid
from aidpack.ingest.kinds import KIND_ORDER
from aidpack.ingest.service import EMPTY_SHEET, ImportReport, import_path
from aidpack.needs.models import Need
from aidpack.scenario.models import ScenarioInfo
from tests.ingest.scenario_files import (
    BASE_COUNTS,
    SCENARIO_SHEET,
    Rows,
    base,
    set_cell,
    table_counts,
    write_scenario,
    write_workbook,
)

ACTOR = "test:workbook"
LINES: Rows = [["plan", "id", "pledge", "need", "units", "amount", "eta", "status"], ["1", "1", "P1", "N1", "2", "200",
                                                                                      "2022-12-03", "accepted"]]


def run(session: Session, path: Path, kind: str | None = None) -> ImportReport:
    return import_path(session, path=path, kind=kind, actor=ACTOR)


def refused(session: Session, path: Path) -> ImportInvalid:
    before = table_counts(session)
    with pytest.raises(ImportInvalid) as caught:
        run(session, path)
    assert table_counts(session) == before, "nothing may be written"
    return caught.value


def book(tmp_path: Path, sheets: dict[str, Rows] | None = None, name: str = "book.xlsx") -> Path:
    """The base scenario as one workbook: a scenario sheet and a sheet per kind, named as the export names them."""
    return write_workbook(tmp_path / name, sheets if sheets is not None else {"scenario": SCENARIO_SHEET, **base()})


def by_sheet(report: ImportReport) -> dict[str | None, tuple[str, int, int, int, int]]:
    return {f.sheet: (f.kind, f.rows, f.created, f.updated, f.unchanged) for f in report.files}


def test_every_sheet_is_imported_in_dependency_order_whatever_the_tabs_order_and_case(
    session: Session, tmp_path: Path
) -> None:
    files = base()
    titles = {"regions": "Regions", "pledges": "PLEDGES", "needs": "Needs 2022-12", "catalogue": "catalog"}
    # Tabs in reverse dependency order: pledges come before the donors, items and hubs they refer to.
    sheets = {titles.get(kind, kind): rows for kind, rows in reversed(list(files.items()))}
    start = len(session.execute(select(Event.id)).all())

    report = run(session, book(tmp_path, {**sheets, "Scenario": SCENARIO_SHEET}))

    assert [f.kind for f in report.files] == ["scenario", *(kind.value for kind in KIND_ORDER)]
    assert {f.file for f in report.files} == {"book.xlsx"}
    expected = {titles.get(kind, kind): (kind, n, n, 0, 0) for kind, n in BASE_COUNTS.items() if kind in files}
    assert by_sheet(report) == {"Scenario": ("scenario", 1, 1, 0, 0), **expected}
    assert report.skipped_sheets == ()
    assert session.execute(select(ScenarioInfo.name)).scalar_one() == "test-land"
    assert session.execute(select(Need.ref).order_by(Need.ref)).scalars().all() == ["N1", "N2", "N3", "N4"]
    assert len(session.execute(select(Event.id)).all()) - start == report.total("created")


def test_reimporting_the_workbook_changes_nothing_and_one_edited_cell_is_one_update(
    session: Session, tmp_path: Path
) -> None:
    path = book(tmp_path)
    run(session, path)
    events = table_counts(session)["Event"]

    again = run(session, path)
    assert {sheet: counts[3:] for sheet, counts in by_sheet(again).items()} == {
        sheet: (0, rows) for sheet, (_, rows, *_) in by_sheet(again).items()}
    assert table_counts(session)["Event"] == events

    files = base()
    set_cell(files["needs"], "N2", "quantity", "12000")
    edited = run(session, book(tmp_path, {"scenario": SCENARIO_SHEET, **files}, name="edited.xlsx"))
    assert (edited.total("created"), edited.total("updated")) == (0, 1)
    assert by_sheet(edited)["needs"] == ("needs", 4, 0, 1, 3)
    changes = session.execute(select(Event.action, Event.entity_ref).order_by(Event.id)).all()
    assert changes[events:] == [("import.update", "N2")]


def test_the_plan_lines_sheet_and_empty_sheets_are_skipped_with_a_note(session: Session, tmp_path: Path) -> None:
    report = run(session, book(tmp_path, {"scenario": SCENARIO_SHEET, **base(), "lines": LINES, "Sheet3": []}))

    assert [(s.file, s.sheet) for s in report.skipped_sheets] == [("book.xlsx", "lines"), ("book.xlsx", "Sheet3")]
    assert "plan lines" in report.skipped_sheets[0].reason
    assert report.skipped_sheets[1].reason == EMPTY_SHEET
    assert report.total("created") == sum(BASE_COUNTS.values())
    assert report.skipped_sheets[0].to_dict() == {
        "file": "book.xlsx", "sheet": "lines", "reason": report.skipped_sheets[0].reason}
    assert report.to_dict()["skipped_sheets"] == [sheet.to_dict() for sheet in report.skipped_sheets]


def test_problems_of_every_sheet_are_reported_together_with_sheet_and_row_and_nothing_is_written(
    session: Session, tmp_path: Path
) -> None:
    files = base()
    set_cell(files["hubs"], "SCV", "lat", "147.65")  # the workbook's second sheet, its third row
    set_cell(files["needs"], "N1", "quantity", "-3")
    set_cell(files["pledges"], "P2", "item", "WATER")  # a reference to no item

    error = refused(session, book(tmp_path, {"regions": files["regions"], "hubs": files["hubs"],
                                             **{k: v for k, v in files.items() if k not in ("regions", "hubs")}}))

    assert [(p.file, p.sheet, p.row, p.column, p.value) for p in error.problems] == [
        ("book.xlsx", "hubs", 3, "lat", "147.65"),
        ("book.xlsx", "needs", 2, "quantity", "-3"),
        ("book.xlsx", "pledges", 3, "item", "WATER"),
    ]
    assert error.context["errors"][0] == {"file": "book.xlsx", "sheet": "hubs", "row": 3, "column": "lat",
                                          "value": "147.65", "expected": error.problems[0].expected}
    assert "book.xlsx (sheets hubs, needs, pledges)" in error.detail


def test_a_sheet_of_an_unknown_name_is_an_error_naming_it_and_the_kinds(session: Session, tmp_path: Path) -> None:
    files = base()
    sheets = {("regoins" if kind == "regions" else kind): rows for kind, rows in files.items()}

    error = refused(session, book(tmp_path, sheets))

    # One problem: the sites, needs and transit that refer to the regions of the misnamed sheet are not reported.
    assert [(p.sheet, p.row, p.value) for p in error.problems] == [("regoins", None, "regoins")]
    for kind in ("scenario", *(kind.value for kind in KIND_ORDER)):
        assert kind in error.problems[0].expected


def test_kind_option_with_a_workbook_of_several_sheets_is_refused(session: Session, tmp_path: Path) -> None:
    with pytest.raises(ImportPathInvalid) as caught:
        run(session, book(tmp_path, name="needs.xlsx"), kind="needs")
    assert "names give their kinds" in caught.value.detail
    assert "without --kind" in caught.value.detail
    assert caught.value.context["sheets"][:2] == ["scenario", "regions"]


def test_a_workbook_of_one_sheet_of_data_takes_its_kind_from_its_name_as_before(
    session: Session, tmp_path: Path
) -> None:
    run(session, write_scenario(tmp_path / "sc"))
    files = base()
    set_cell(files["needs"], "N3", "quantity", "250")
    # Its one sheet of data is named for another kind and an empty sheet stands beside it: the file name says needs.
    path = book(tmp_path, {"pledges": files["needs"], "notes": []}, name="needs-update.xlsx")

    report = run(session, path)

    assert [(f.file, f.sheet, f.kind, f.updated) for f in report.files] == [("needs-update.xlsx", None, "needs", 1)]
    assert report.skipped_sheets == ()
    with pytest.raises(ImportPathInvalid, match="cannot tell the kind"):
        run(session, book(tmp_path, {"needs": files["needs"]}, name="update.xlsx"))
    assert run(session, book(tmp_path, {"needs": files["needs"]}, name="update.xlsx"), kind="needs").total(
        "unchanged") == 4


def test_two_sheets_of_one_kind_import_together_and_a_ref_in_both_is_named(session: Session, tmp_path: Path) -> None:
    files = base()
    more = [files["needs"][0], ["N7", "UA-46", "", "BLANKET", "20", "high", "", "", ""]]
    report = run(session, book(tmp_path, {"scenario": SCENARIO_SHEET, **files, "needs 2": more}))
    assert by_sheet(report)["needs 2"] == ("needs", 1, 1, 0, 0)

    more.append(["N1", "UA-63", "", "POWER-KW", "1", "low", "", "", ""])
    error = refused(session, book(tmp_path, {**files, "needs 2": more}, name="again.xlsx"))
    assert [(p.sheet, p.row, p.column) for p in error.problems] == [("needs 2", 3, "ref")]
    assert "again.xlsx [needs]" in error.problems[0].expected


def test_the_scenario_sheet_holds_one_scenario(session: Session, tmp_path: Path) -> None:
    bad = [SCENARIO_SHEET[0], ["test-land", "29.11.2022", ""], ["other", "2022-12-01", ""]]

    error = refused(session, book(tmp_path, {"scenario": bad, **base()}))

    assert [(p.sheet, p.row, p.column, p.value) for p in error.problems] == [
        ("scenario", 2, "plan_date", "29.11.2022"), ("scenario", 3, None, "")]
    assert "one scenario" in error.problems[1].expected
