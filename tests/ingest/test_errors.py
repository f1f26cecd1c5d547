"""Bad scenarios are refused whole: every bad cell named by file, row, column, value; nothing written."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import select
from sqlalchemy.orm import Session

from aidpack.ingest.errors import ImportInvalid
from aidpack.ingest.service import import_path
from aidpack.needs.models import Need
from tests.ingest.scenario_files import (
    SCENARIO_TOML,
    Rows,
    add_column,
    base,
    drop_column,
    set_cell,
    table_counts,
    write_csv,
    write_scenario,
)

Files = dict[str, Rows]
Where = tuple[str, int | None, str | None]


def _set(kind: str, ref: str, column: str, value: str) -> Callable[[Files], None]:
    def change(files: Files) -> None:
        set_cell(files[kind], ref, column, value)

    return change


def _append(kind: str, row: list[str]) -> Callable[[Files], None]:
    def change(files: Files) -> None:
        files[kind].append(list(row))

    return change


def _drop(kind: str, column: str) -> Callable[[Files], None]:
    def change(files: Files) -> None:
        drop_column(files[kind], column)

    return change


def _add(kind: str, column: str) -> Callable[[Files], None]:
    def change(files: Files) -> None:
        add_column(files[kind], column, "x")

    return change


CASES: list[tuple[str, Callable[[Files], None], list[Where]]] = [
    ("missing required column", _drop("needs", "priority"), [("needs.csv", 1, "priority")]),
    ("missing key column", _drop("hubs", "code"), [("hubs.csv", 1, "code")]),
    ("unknown column", _add("hubs", "colour"), [("hubs.csv", 1, "colour")]),
    ("empty required cell", _set("needs", "N2", "capability", ""), [("needs.csv", 3, "capability")]),
    ("bad number", _set("needs", "N1", "quantity", "lots"), [("needs.csv", 2, "quantity")]),
    ("decimal comma", _set("needs", "N1", "quantity", "1,5"), [("needs.csv", 2, "quantity")]),
    ("not a number NaN", _set("pledges", "P2", "units", "NaN"), [("pledges.csv", 3, "units")]),
    ("infinite", _set("needs", "N2", "quantity", "inf"), [("needs.csv", 3, "quantity")]),
    (
        "bad boolean",
        _set("catalogue", "DIESEL-L", "indivisible", "maybe"),
        [("catalogue.csv", 3, "indivisible")],
    ),
    ("bad priority", _set("needs", "N3", "priority", "urgent"), [("needs.csv", 4, "priority")]),
    ("bad channel", _set("pledges", "P1", "channel", "airlift"), [("pledges.csv", 2, "channel")]),
    ("bad status", _set("pledges", "P2", "status", "maybe"), [("pledges.csv", 3, "status")]),
    ("bad sensitivity", _set("sites", "W1", "sensitivity", "secret"), [("sites.csv", 3, "sensitivity")]),
    ("bad donor kind", _set("donors", "DE", "kind", "pirate"), [("donors.csv", 3, "kind")]),
    ("authority as donor", _set("donors", "FR", "kind", "authority"), [("donors.csv", 2, "kind")]),
    (
        "bad organisation kind",
        _set("organisations", "UA-MOH", "kind", "ministry"),
        [("organisations.csv", 2, "kind")],
    ),
    ("impossible date", _set("needs", "N1", "deadline", "2022-02-30"), [("needs.csv", 2, "deadline")]),
    ("not an ISO date", _set("pledges", "P3", "available", "05/12/2022"), [("pledges.csv", 4, "available")]),
    ("month 13", _set("pledges", "P1", "available", "2022-13-01"), [("pledges.csv", 2, "available")]),
    # Dates and transit days the engine adds together: 9999-12-31 plus a day crashed `aidpack allocate`.
    ("deadline after 2100", _set("needs", "N1", "deadline", "9999-12-31"), [("needs.csv", 2, "deadline")]),
    ("available before 2000", _set("pledges", "P1", "available", "0001-01-01"), [("pledges.csv", 2, "available")]),
    ("transit days over a year", _set("transit", "RZE", "days", "2147483647"), [("transit.csv", 2, "days")]),
    ("negative quantity", _set("needs", "N2", "quantity", "-5"), [("needs.csv", 3, "quantity")]),
    ("zero quantity", _set("needs", "N4", "quantity", "0"), [("needs.csv", 5, "quantity")]),
    ("below six decimals", _set("needs", "N4", "quantity", "0.0000001"), [("needs.csv", 5, "quantity")]),
    ("zero units", _set("pledges", "P1", "units", "0"), [("pledges.csv", 2, "units")]),
    ("zero factor", _set("catalogue", "DIESEL-L", "factor", "0"), [("catalogue.csv", 3, "factor")]),
    ("negative value", _set("pledges", "P1", "value_eur", "-1"), [("pledges.csv", 2, "value_eur")]),
    (
        "fractional units of indivisible item",
        _set("pledges", "P1", "units", "2.5"),
        [("pledges.csv", 2, "units")],
    ),
    (
        "fractional units, item flag 'yes'",
        _set("pledges", "P3", "units", "0.5"),
        [("pledges.csv", 4, "units")],
    ),
    ("latitude out of range", _set("regions", "UA-30", "lat", "91"), [("regions.csv", 3, "lat")]),
    ("longitude out of range", _set("hubs", "RZE", "lon", "181"), [("hubs.csv", 2, "lon")]),
    ("site latitude out of range", _set("sites", "H1", "lat", "-95"), [("sites.csv", 2, "lat")]),
    ("negative population", _set("regions", "UA-63", "population", "-3"), [("regions.csv", 2, "population")]),
    ("zero people served", _set("needs", "N1", "people_served", "0"), [("needs.csv", 2, "people_served")]),
    ("fractional people", _set("sites", "H1", "people_served", "10.5"), [("sites.csv", 2, "people_served")]),
    (
        "duplicate ref",
        _append("needs", ["N1", "UA-46", "", "BLANKET", "1", "low", "", "", ""]),
        [("needs.csv", 6, "ref")],
    ),
    ("duplicate code", _append("donors", ["FR", "France again", "state", "FR"]), [("donors.csv", 5, "code")]),
    ("duplicate transit pair", _append("transit", ["RZE", "UA-46", "2"]), [("transit.csv", 4, "hub")]),
    ("unknown region", _set("needs", "N3", "region", "UA-99"), [("needs.csv", 4, "region")]),
    ("unknown site", _set("needs", "N2", "site", "H9"), [("needs.csv", 3, "site")]),
    ("unknown item", _set("pledges", "P2", "item", "WATER"), [("pledges.csv", 3, "item")]),
    ("unknown hub", _set("pledges", "P3", "hub", "WAW"), [("pledges.csv", 4, "hub")]),
    ("unknown donor", _set("pledges", "P1", "donor", "XX"), [("pledges.csv", 2, "donor")]),
    ("unknown site org", _set("sites", "W1", "org", "NOPE"), [("sites.csv", 3, "org")]),
    ("unknown site region", _set("sites", "W1", "region", "UA-99"), [("sites.csv", 3, "region")]),
    ("unknown transit hub", _set("transit", "SCV", "hub", "WAW"), [("transit.csv", 3, "hub")]),
    ("unknown transit region", _set("transit", "RZE", "region", "UA-99"), [("transit.csv", 2, "region")]),
    ("site in another region", _set("needs", "N1", "region", "UA-30"), [("needs.csv", 2, "site")]),
    ("negative transit days", _set("transit", "RZE", "days", "-1"), [("transit.csv", 2, "days")]),
    ("fractional transit days", _set("transit", "SCV", "days", "2.5"), [("transit.csv", 3, "days")]),
    (
        "too long code",
        _set("hubs", "SCV", "code", "H" * 65),
        [("hubs.csv", 3, "code"), ("pledges.csv", 4, "hub"), ("transit.csv", 3, "hub")],
    ),
    # Codes as the API has them: an invisible or look-alike character made a second N2 that looked like the first.
    ("space in a ref", _set("needs", "N2", "ref", "N 2"), [("needs.csv", 3, "ref")]),
    ("zero-width space in a ref", _set("needs", "N2", "ref", "N2\u200b"), [("needs.csv", 3, "ref")]),
    ("zero-width space in a reference", _set("pledges", "P1", "hub", "RZE\u200b"), [("pledges.csv", 2, "hub")]),
    ("Cyrillic letter in a code", _set("hubs", "SCV", "code", "S\u0421V"),
     [("hubs.csv", 3, "code"), ("pledges.csv", 4, "hub"), ("transit.csv", 3, "hub")]),
    ("space in a capability", _set("needs", "N3", "capability", "WARM BLANKET"), [("needs.csv", 4, "capability")]),
    (
        "a value under no header",
        _append("hubs", ["WAW", "Warsaw", "PL", "52.2", "21.0", "extra"]),
        [("hubs.csv", 4, "column 6")],
    ),
]


def _refused(session: Session, folder: Path) -> ImportInvalid:
    before = table_counts(session)
    with pytest.raises(ImportInvalid) as caught:
        import_path(session, path=folder, kind=None, actor="test")
    assert table_counts(session) == before, "nothing may be written"
    assert caught.value.code == "IMPORT_INVALID"
    assert caught.value.context["errors"] == [p.to_dict() for p in caught.value.problems]
    return caught.value


@pytest.mark.parametrize(
    ("change", "expected"), [(c, e) for _, c, e in CASES], ids=[name for name, _, _ in CASES]
)
def test_bad_cell_is_named_and_nothing_written(
    session: Session, tmp_path: Path, change: Callable[[Files], None], expected: list[Where]
) -> None:
    files = base()
    change(files)
    error = _refused(session, write_scenario(tmp_path / "sc", files))
    assert [(p.file, p.row, p.column) for p in error.problems] == expected
    assert all(p.expected for p in error.problems)


def test_value_and_expectation_are_reported(session: Session, tmp_path: Path) -> None:
    files = base()
    set_cell(files["needs"], "N1", "deadline", "2022-02-30")
    error = _refused(session, write_scenario(tmp_path / "sc", files))
    assert error.context["errors"] == [
        {
            "file": "needs.csv",
            "row": 2,
            "column": "deadline",
            "value": "2022-02-30",
            "expected": "a real calendar date YYYY-MM-DD (this day does not exist)",
        }
    ]


def test_every_bad_row_of_every_file_is_reported(session: Session, tmp_path: Path) -> None:
    files = base()
    set_cell(files["needs"], "N1", "quantity", "-1")
    set_cell(files["needs"], "N1", "priority", "soon")
    set_cell(files["needs"], "N3", "region", "UA-99")
    set_cell(files["needs"], "N4", "deadline", "tomorrow")
    set_cell(files["pledges"], "P1", "units", "1.5")
    set_cell(files["pledges"], "P3", "donor", "ZZ")
    set_cell(files["regions"], "UA-46", "lon", "200")

    error = _refused(session, write_scenario(tmp_path / "sc", files))

    assert [(p.file, p.row, p.column) for p in error.problems] == [
        ("regions.csv", 4, "lon"),
        ("needs.csv", 2, "quantity"),
        ("needs.csv", 2, "priority"),
        ("needs.csv", 4, "region"),
        ("needs.csv", 5, "deadline"),
        ("pledges.csv", 2, "units"),
        ("pledges.csv", 4, "donor"),
    ]


def test_refused_import_leaves_existing_rows_unchanged(session: Session, tmp_path: Path) -> None:
    import_path(session, path=write_scenario(tmp_path / "one"), kind=None, actor="test")
    files = base()
    set_cell(files["needs"], "N2", "quantity", "1")  # a good change ...
    files["needs"].append(["N8", "UA-46", "", "BLANKET", "3", "low", "", "", ""])  # ... a good new row ...
    set_cell(files["pledges"], "P2", "hub", "NOWHERE")  # ... and one bad cell

    error = _refused(session, write_scenario(tmp_path / "two", files))

    assert [(p.file, p.row, p.column) for p in error.problems] == [("pledges.csv", 3, "hub")]
    quantity = session.execute(select(Need.quantity).where(Need.ref == "N2")).scalar_one()
    assert str(quantity) == "10000.500000"


def test_reference_to_a_bad_row_is_not_reported_twice(session: Session, tmp_path: Path) -> None:
    files = base()
    set_cell(files["sites"], "H1", "people_served", "many")  # H1 is bad, but it exists in this import
    error = _refused(session, write_scenario(tmp_path / "sc", files))
    assert [(p.file, p.row, p.column) for p in error.problems] == [("sites.csv", 2, "people_served")]


def test_organisation_in_both_files_with_different_names(session: Session, tmp_path: Path) -> None:
    files = base()
    files["organisations"].append(["DE", "Deutschland", "", ""])
    error = _refused(session, write_scenario(tmp_path / "sc", files))
    assert [(p.file, p.row, p.column) for p in error.problems] == [("organisations.csv", 3, "name")]


def test_same_code_in_two_files_of_one_kind(session: Session, tmp_path: Path) -> None:
    folder = write_scenario(tmp_path / "sc")
    write_csv(
        folder / "needs-more.csv",
        [base()["needs"][0], ["N2", "UA-30", "", "DIESEL-L", "1", "low", "", "", ""]],
    )
    error = _refused(session, folder)
    assert [(p.file, p.row, p.column) for p in error.problems] == [("needs.csv", 3, "ref")]


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ('name = "x"\nplan_date = "2022-02-30"\n', [("scenario.toml", 2, "plan_date")]),
        ('name = "x"\nplan_date = "29.11.2022"\n', [("scenario.toml", 2, "plan_date")]),
        ('name = "x"\n', [("scenario.toml", None, "plan_date")]),
        ('name = "x"\nplan_date = 9999-12-31\n', [("scenario.toml", 2, "plan_date")]),
        ('name = "x"\nplan_date = 2022-11-29\ncountry = "UA"\n', [("scenario.toml", 3, "country")]),
        ('name = "x"\nplan_date = 2022-11-29\nx_country = "UA"\n', []),
        ('name = "x\nplan_date = 2022-11-29\n', [("scenario.toml", 1, None)]),
    ],
    ids=[
        "impossible date", "not ISO", "missing plan_date", "plan_date after 2100", "unknown key", "x_ key allowed",
        "not TOML",
    ],
)
def test_scenario_toml_errors(session: Session, tmp_path: Path, toml: str, expected: list[Where]) -> None:
    folder = write_scenario(tmp_path / "sc", scenario_toml=toml)
    if not expected:
        assert import_path(session, path=folder, kind=None, actor="test").total("created") > 0
        return
    error = _refused(session, folder)
    assert [(p.file, p.row, p.column) for p in error.problems] == expected


def test_binary_file_is_refused(session: Session, tmp_path: Path) -> None:
    folder = write_scenario(tmp_path / "sc")
    (folder / "needs.csv").write_bytes(b"PK\x03\x04\x00\x00binary zip content\x00\xff")
    error = _refused(session, folder)
    assert [(p.file, p.row) for p in error.problems] == [("needs.csv", None)]
    assert "binary" in error.problems[0].expected


def test_bad_utf8_names_its_line(session: Session, tmp_path: Path) -> None:
    folder = write_scenario(tmp_path / "sc")
    (folder / "hubs.csv").write_bytes("code,name,lat,lon\nRZE,Rzesz\u00f3w,50.1,22.0\n".encode("cp1250"))
    error = _refused(session, folder)
    assert [(p.file, p.row, p.value) for p in error.problems] == [("hubs.csv", 2, "bytes f3")]
    assert "UTF-8" in error.problems[0].expected


def test_xlsx_that_is_not_a_workbook(session: Session, tmp_path: Path) -> None:
    folder = write_scenario(tmp_path / "sc")
    (folder / "needs.csv").unlink()
    (folder / "needs.xlsx").write_text("ref,region\nN1,UA-63\n", encoding="utf-8")
    error = _refused(session, folder)
    assert [(p.file, p.row) for p in error.problems] == [("needs.xlsx", None)]
    assert ".xlsx workbook" in error.problems[0].expected


def test_xlsx_errors_use_sheet_row_numbers(session: Session, tmp_path: Path) -> None:
    folder = write_scenario(tmp_path / "sc")
    (folder / "hubs.csv").unlink()
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["code", "name", "country", "lat", "lon"])
    sheet.append(["#loc+code", "#loc+name", "#country+code", "#geo+lat", "#geo+lon"])
    sheet.append(["RZE", "Rzeszów", "PL", 50.11, 22.02])
    sheet.append([None, None, None, None, None])
    sheet.append(["SCV", "Suceava", "RO", 147.65, 26.25])
    workbook.save(folder / "hubs.xlsx")
    error = _refused(session, folder)
    assert [(p.file, p.row, p.column, p.value) for p in error.problems] == [("hubs.xlsx", 5, "lat", "147.65")]


def test_empty_file_is_refused(session: Session, tmp_path: Path) -> None:
    folder = write_scenario(tmp_path / "sc", scenario_toml=SCENARIO_TOML)
    (folder / "transit.csv").write_text("", encoding="utf-8")
    error = _refused(session, folder)
    assert [(p.file, p.row) for p in error.problems] == [("transit.csv", None)]


def test_unclosed_quote_is_refused_not_read_to_the_end_of_the_file(session: Session, tmp_path: Path) -> None:
    # Read leniently, the quote ran to the end of the file: N3 and N4 became text of N2's notes and were lost.
    folder = write_scenario(tmp_path / "sc")
    needs = (folder / "needs.csv").read_text(encoding="utf-8")
    (folder / "needs.csv").write_text(needs.replace("fuel for boilers", '"fuel for boilers'), encoding="utf-8")
    error = _refused(session, folder)
    assert [(p.file, p.row, p.column) for p in error.problems] == [("needs.csv", 3, None)]
    assert "closing quote" in error.problems[0].expected


def test_quote_inside_an_unquoted_cell_is_refused(session: Session, tmp_path: Path) -> None:
    folder = write_scenario(tmp_path / "sc")
    hubs = (folder / "hubs.csv").read_text(encoding="utf-8")
    (folder / "hubs.csv").write_text(hubs.replace("Suceava", '"Suce"ava'), encoding="utf-8")
    error = _refused(session, folder)
    assert [(p.file, p.row, p.column) for p in error.problems] == [("hubs.csv", 3, None)]
    assert '("")' in error.problems[0].expected


def test_an_invisible_character_in_a_code_is_named(session: Session, tmp_path: Path) -> None:
    files = base()
    set_cell(files["needs"], "N2", "ref", "N2\u200b")
    error = _refused(session, write_scenario(tmp_path / "sc", files))
    assert error.problems[0].expected.endswith("character 3 is U+200B ZERO WIDTH SPACE, which does not show")


def test_password_protected_workbook_is_told_to_drop_its_password(session: Session, tmp_path: Path) -> None:
    # Excel saves a workbook with a password as an OLE compound file (so is an old .xls): the error said
    # "BadZipFile: File is not a zip file", which tells a spreadsheet user nothing.
    folder = write_scenario(tmp_path / "sc")
    (folder / "needs.csv").unlink()
    (folder / "needs.xlsx").write_bytes(bytes.fromhex("d0cf11e0a1b11ae1") + bytes(504))
    error = _refused(session, folder)
    assert [(p.file, p.row) for p in error.problems] == [("needs.xlsx", None)]
    assert "password" in error.problems[0].expected
    assert "Zip" not in error.problems[0].expected


def test_unclosed_quote_in_a_long_file_is_named_as_such(session: Session, tmp_path: Path) -> None:
    # Past the csv module's cell limit the error said "a quote only around a whole cell ... (field larger than
    # field limit (131072))": nothing about the quote that was never closed.
    folder = write_scenario(tmp_path / "sc")
    rows = [["ref", "region", "capability", "quantity", "priority", "notes"], ["N9", "UA-63", "BLANKET", "1", "low"]]
    rows += [[f"M{i}", "UA-63", "BLANKET", "1", "low", "x" * 20] for i in range(5000)]
    text = "\n".join(",".join(row) for row in rows).replace("low\n", 'low,"unclosed\n', 1)
    (folder / "needs-more.csv").write_text(text + "\n", encoding="utf-8")
    error = _refused(session, folder)
    assert [(p.file, p.row, p.column) for p in error.problems] == [("needs-more.csv", 2, None)]
    assert "closing quote" in error.problems[0].expected
