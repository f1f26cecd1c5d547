"""Read one CSV or XLSX file into a header and data rows, recognising an HXL hashtag row under the header.

Rows are numbered as a spreadsheet user counts them: the header is row 1; with an HXL row the first data
row is row 3. Completely empty rows are skipped but keep their numbers.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from aidpack.ingest.errors import Problem
from aidpack.ingest.kinds import Columns

#: libhxl's own pattern for one hashtag spec (``#tag +attr +attr``), used if libhxl cannot be imported.
_HXL_PATTERN = re.compile(r"^\s*(#[A-Za-z][_0-9A-Za-z]*)((?:\s*\+[A-Za-z][_0-9A-Za-z]*)*)\s*$")


def _hxl_tag_parser() -> Callable[[str], bool]:
    try:
        from hxl.model import Column
    except ImportError:  # libhxl 5.2.2 imports `six` without declaring it; keep working without it
        return lambda text: _HXL_PATTERN.match(text) is not None

    def is_tag(text: str) -> bool:
        return bool(Column.parse(text))

    return is_tag


_is_hxl_tag: Callable[[str], bool] | None = None


def is_hxl_row(cells: Sequence[str]) -> bool:
    """A hashtag row: at least one non-empty cell, and every non-empty cell a valid HXL tag spec."""
    global _is_hxl_tag
    if _is_hxl_tag is None:
        _is_hxl_tag = _hxl_tag_parser()
    filled = [cell for cell in cells if cell.strip()]
    return bool(filled) and all(_is_hxl_tag(cell) for cell in filled)


@dataclass
class Table:
    """A file's header (trimmed, lower-case) and its non-empty data rows as ``(row number, cells)``."""

    file: str
    header: list[str] = field(default_factory=list)
    rows: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    present: frozenset[str] = frozenset()
    hxl: bool = False


def _clean(value: str) -> str:
    return value.strip().strip("\ufeff").strip()


def _cell_text(value: object) -> str:
    """An XLSX cell as the text a CSV would hold."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0, 0):
            return value.date().isoformat()
        return value.isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        return repr(value)
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def _csv_rows(path: Path, name: str, problems: list[Problem]) -> list[list[str]] | None:
    data = path.read_bytes()
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        # Excel's "Unicode Text" and some exports: UTF-16, which SPEC's UTF-8 CSV is not.
        problems.append(Problem(name, None, None, "UTF-16", "UTF-8 text (save the file as 'CSV UTF-8')"))
        return None
    if b"\x00" in data:
        problems.append(Problem(name, None, None, "", "a UTF-8 CSV text file; this file is binary"))
        return None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        bad = data[exc.start : exc.end].hex(" ")
        problems.append(
            Problem(name, line, None, f"bytes {bad}", "UTF-8 text (save the file as 'CSV UTF-8')")
        )
        return None
    first = text.split("\n", 1)[0]
    delimiter = ","
    if "," not in first:
        if ";" in first:
            delimiter = ";"
        elif "\t" in first:
            delimiter = "\t"
    # Strict: a quoted cell whose closing quote is missing would otherwise run to the end of the file, every row
    # after it read as text of that one cell, and the import would go on with those rows silently gone.
    rows: list[list[str]] = []
    try:
        for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True):
            rows.append(list(row))
    except csv.Error as exc:
        number = len(rows) + 1
        if "end of data" in str(exc):
            expected = (
                "a closing quote (\") for the quoted cell that opens on this row; without it, every row after "
                "it reads as text of that cell"
            )
        elif "field limit" in str(exc):
            expected = (
                f"a cell of at most {csv.field_size_limit():,} characters; if this row has a quoted cell without "
                "its closing quote (\"), the rows after it read as text of that cell"
            )
        else:
            expected = f"well-formed CSV: a quote only around a whole cell, one inside a cell doubled (\"\") ({exc})"
        problems.append(Problem(name, number, None, "", expected))
        return None
    return rows


@dataclass(frozen=True)
class Sheet:
    """One sheet of a workbook: its name, as the user sees it on its tab, and its cells as text."""

    title: str
    rows: list[list[str]]

    @property
    def filled(self) -> bool:
        return any(not _blank(row) for row in self.rows)


#: The first bytes of an OLE compound file: an encrypted (password-protected) workbook or a legacy .xls.
_OLE_MAGIC = bytes.fromhex("d0cf11e0a1b11ae1")


def read_workbook(path: Path, problems: list[Problem]) -> list[Sheet] | None:
    """Every sheet of an .xlsx workbook in tab order, or ``None`` (with a problem) when it cannot be read."""
    from openpyxl import load_workbook

    name = path.name
    with path.open("rb") as handle:
        head = handle.read(len(_OLE_MAGIC))
    if head == _OLE_MAGIC:
        # An OLE compound file, not a zip: Excel writes a workbook with a password (encrypted) so, and an old .xls.
        problems.append(Problem(name, None, None, "", "an .xlsx workbook without a password: this file is "
                                "password-protected or an old .xls workbook; remove the password (File > Info > "
                                "Protect Workbook) or save it as 'Excel Workbook (.xlsx)'"))
        return None
    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, OSError, KeyError, ValueError, TypeError) as exc:
        problems.append(Problem(name, None, None, "", f"an .xlsx workbook ({type(exc).__name__}: {exc})"))
        return None
    except Exception as exc:  # openpyxl raises its own InvalidFileException and others on broken files
        problems.append(Problem(name, None, None, "", f"an .xlsx workbook ({type(exc).__name__}: {exc})"))
        return None
    try:
        if not workbook.worksheets:
            problems.append(Problem(name, None, None, "", "a workbook with one sheet"))
            return None
        return [
            Sheet(sheet.title, [[_cell_text(value) for value in row] for row in sheet.iter_rows(values_only=True)])
            for sheet in workbook.worksheets
        ]
    except Exception as exc:  # a corrupt sheet inside a valid zip
        problems.append(
            Problem(name, None, None, "", f"a readable .xlsx sheet ({type(exc).__name__}: {exc})")
        )
        return None
    finally:
        workbook.close()


def one_sheet_rows(name: str, sheets: list[Sheet], problems: list[Problem]) -> list[list[str]] | None:
    """The rows of a workbook read as one file: its one sheet of data (SPEC §3); empty sheets beside it are nothing.

    Several sheets of data are refused here (the first was once read alone and the others' rows dropped without a
    word); ``aidpack import`` given the workbook itself imports them as one import, each sheet named for its kind.
    """
    filled = [sheet for sheet in sheets if sheet.filled]
    if len(filled) > 1:
        titles = ", ".join(repr(sheet.title) for sheet in filled)
        problems.append(Problem(name, None, None, "", f"a workbook with one sheet of data (it has {len(filled)}: "
                                f"{titles}); keep the one to import, or save each as a file of its own, or import "
                                "the workbook alone with each sheet named for its kind"))
        return None
    return filled[0].rows if filled else sheets[0].rows


def _xlsx_rows(path: Path, name: str, problems: list[Problem]) -> list[list[str]] | None:
    sheets = read_workbook(path, problems)
    return None if sheets is None else one_sheet_rows(name, sheets, problems)


def raw_rows(path: Path, problems: list[Problem]) -> list[list[str]] | None:
    """The file's cells as text, or ``None`` (with a problem) when it is not a readable table."""
    name = path.name
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _csv_rows(path, name, problems)
    if suffix == ".xlsx":
        return _xlsx_rows(path, name, problems)
    problems.append(Problem(name, None, None, path.suffix, "a .csv or .xlsx file"))
    return None


def read_table(path: Path, columns: Columns, problems: list[Problem]) -> Table | None:
    """Read and check the header of ``path``; every problem found is appended to ``problems``."""
    rows = raw_rows(path, problems)
    if rows is None:
        return None
    return build_table(path.name, rows, columns, problems)


def _blank(cells: Iterable[str]) -> bool:
    return all(not cell.strip() for cell in cells)


def build_table(name: str, rows: list[list[str]], columns: Columns, problems: list[Problem]) -> Table | None:
    table = Table(file=name)
    start = 0
    while start < len(rows) and _blank(rows[start]):
        start += 1
    if start >= len(rows):
        problems.append(
            Problem(name, None, None, "", f"a header row with the columns {', '.join(columns.all)}")
        )
        return None
    if start > 0:
        problems.append(Problem(name, 1, None, "", "the header row first (the file starts with empty rows)"))
        return None
    header = [_clean(cell).lower() for cell in rows[0]]
    table.header = header
    known = set(columns.all)
    seen: set[str] = set()
    blank_headers: list[int] = []
    for index, column in enumerate(header):
        if not column:
            blank_headers.append(index)
            continue
        if column in seen:
            problems.append(Problem(name, 1, column, column, "each column once (this column is repeated)"))
        seen.add(column)
        if column not in known and not column.startswith("x_"):
            problems.append(
                Problem(
                    name, 1, column, column, f"one of the columns {', '.join(columns.all)} (or x_ for extras)"
                )
            )
    for column in columns.required:
        if column not in seen:
            problems.append(Problem(name, 1, column, "", "this required column in the header row"))
    table.present = frozenset(seen & known)
    first_data = 1
    if len(rows) > 1 and is_hxl_row(rows[1]):
        table.hxl = True
        first_data = 2
    reported_blank: set[int] = set()
    for index in range(first_data, len(rows)):
        cells = rows[index]
        if _blank(cells):
            continue
        number = index + 1
        values: dict[str, str] = {}
        for position, cell in enumerate(cells):
            text = _clean(cell)
            column = header[position] if position < len(header) else ""
            if not column:
                if text and position not in reported_blank:
                    reported_blank.add(position)
                    problems.append(
                        Problem(
                            name,
                            number,
                            f"column {position + 1}",
                            text,
                            "a header for every column with values",
                        )
                    )
                continue
            if column in known and column not in values:
                values[column] = text
        table.rows.append((number, values))
    return table
