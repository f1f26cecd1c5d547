"""Reading files: HXL hashtag rows, delimiters, XLSX cell values, header checks (no database)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from aidpack.ingest.errors import Problem
from aidpack.ingest.kinds import COLUMNS, Kind, kind_of_name, parse_kind
from aidpack.ingest.reader import _HXL_PATTERN, _cell_text, is_hxl_row, read_table
from tests.ingest.scenario_files import write_xlsx

HXL_SAMPLES = [
    "#adm1",
    "#adm1+code",
    " #geo +lat ",
    "#x_y+a_b+c",
    "#Population",
    "adm1",
    "#1x",
    "#a+",
    "# a",
    "#a b",
    "code",
    "#a+b c",
    "#a++b",
    "+x",
    "#",
]


@pytest.mark.parametrize(
    ("cells", "expected"),
    [
        (["#adm1+code", "#adm1+name", "#geo+lat"], True),
        (["#adm1+code", "", "  "], True),
        (["#adm1+code", "Kharkiv"], False),
        (["", ""], False),
        (["#1bad"], False),
        (["UA-63", "Kharkiv", "49.9"], False),
    ],
)
def test_hxl_row_needs_every_filled_cell_to_be_a_tag(cells: list[str], expected: bool) -> None:
    assert is_hxl_row(cells) is expected


def test_fallback_pattern_agrees_with_libhxl() -> None:
    hxl_model = pytest.importorskip("hxl.model")
    for sample in HXL_SAMPLES:
        assert bool(hxl_model.Column.parse(sample)) == (_HXL_PATTERN.match(sample) is not None), sample


def test_kind_from_file_name_and_option() -> None:
    assert kind_of_name("needs-update-3.csv") is Kind.NEEDS
    assert kind_of_name("Pledges_2022-12.xlsx") is Kind.PLEDGES
    assert kind_of_name("organisations.csv") is Kind.ORGANISATIONS
    assert kind_of_name("catalog.csv") is Kind.CATALOGUE
    assert kind_of_name("notes.csv") is None
    assert parse_kind(" Needs ") is Kind.NEEDS
    assert parse_kind("shoes") is None


def test_cell_text_of_typed_xlsx_values() -> None:
    assert _cell_text(None) == ""
    assert _cell_text(True) == "true"
    assert _cell_text(3.0) == "3"
    assert _cell_text(0.1) == "0.1"
    assert _cell_text(12) == "12"
    assert _cell_text(dt.datetime(2022, 12, 1)) == "2022-12-01"
    assert _cell_text(dt.datetime(2022, 12, 1, 10, 30)) == "2022-12-01T10:30:00"


def test_semicolon_csv_with_bom_and_crlf(tmp_path: Path) -> None:
    path = tmp_path / "hubs.csv"
    path.write_bytes("\ufeffCode;Name;Lat;Lon\r\nRZE;Rzeszów;50.1;22.0\r\n\r\n".encode())
    problems: list[Problem] = []
    table = read_table(path, COLUMNS[Kind.HUBS], problems)
    assert problems == []
    assert table is not None
    assert table.rows == [(2, {"code": "RZE", "name": "Rzeszów", "lat": "50.1", "lon": "22.0"})]


def test_quoted_newlines_count_as_one_spreadsheet_row(tmp_path: Path) -> None:
    path = tmp_path / "hubs.csv"
    path.write_text('code,name,lat,lon\nA,"two\nlines",1,2\nB,b,3,4\n', encoding="utf-8")
    problems: list[Problem] = []
    table = read_table(path, COLUMNS[Kind.HUBS], problems)
    assert table is not None
    assert [number for number, _ in table.rows] == [2, 3]


def test_header_problems(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "hubs.xlsx", [["code", "Name", "name", "lat", "x_note", "weight"], ["A"]])
    problems: list[Problem] = []
    read_table(path, COLUMNS[Kind.HUBS], problems)
    assert [(p.row, p.column) for p in problems] == [(1, "name"), (1, "weight"), (1, "lon")]
