"""Write :class:`ExportData` as a CSV folder, an HXL folder (a hashtag row under each header) or one workbook."""

from __future__ import annotations

import csv
import datetime as dt
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING

from aidpack.exports.tables import COLUMNS, ExportData, scenario_toml

if TYPE_CHECKING:
    from openpyxl import Workbook

#: The HXL hashtag of every column (SPEC §3 files may carry them; ``aidpack import`` skips that row). Every hashtag
#: is one of the HXL 1.1 dictionary's (a need's priority tier is its ``#severity``); numbers in ``#indicator``
#: columns say ``+num``; a hub's code has one tag in every file, so that HXL tools join on it.
HXL_TAGS: dict[str, dict[str, str]] = {
    "regions": {
        "code": "#adm1+code", "name": "#adm1+name", "name_local": "#adm1+name+local",
        "population": "#population", "lat": "#geo+lat", "lon": "#geo+lon",
    },
    "hubs": {
        "code": "#loc+hub+code", "name": "#loc+hub+name", "country": "#country+code",
        "lat": "#geo+lat", "lon": "#geo+lon",
    },
    "catalogue": {
        "code": "#item+code", "name": "#item+name", "name_local": "#item+name+local", "category": "#sector",
        "unit": "#item+unit", "provides": "#item+type", "factor": "#indicator+factor+num",
        "indivisible": "#indicator+indivisible", "unit_value_eur": "#value+eur+unit", "consumes": "#item+consumes",
    },
    "donors": {"code": "#org+code", "name": "#org+name", "kind": "#org+type", "country": "#country+code"},
    "organisations": {"code": "#org+code", "name": "#org+name", "kind": "#org+type", "country": "#country+code"},
    "sites": {
        "code": "#loc+code", "name": "#loc+name", "region": "#adm1+code", "kind": "#loc+type",
        "people_served": "#affected", "lat": "#geo+lat", "lon": "#geo+lon", "sensitivity": "#meta+sensitivity",
        "org": "#org+code",
    },
    "needs": {
        "ref": "#meta+ref", "region": "#adm1+code", "site": "#loc+code", "capability": "#item+type",
        "quantity": "#item+needed", "priority": "#severity+priority", "deadline": "#date+deadline",
        "people_served": "#affected", "notes": "#description", "org": "#org+code",
    },
    "pledges": {
        "ref": "#meta+ref", "donor": "#org+code", "item": "#item+code", "units": "#item+supplied",
        "available": "#date+available", "hub": "#loc+hub+code", "channel": "#channel", "status": "#status",
        "value_eur": "#value+eur", "source": "#meta+source",
    },
    "transit": {"hub": "#loc+hub+code", "region": "#adm1+code", "days": "#indicator+days+num"},
    "lines": {
        "plan": "#meta+plan", "id": "#meta+id", "pledge": "#meta+pledge", "need": "#meta+need",
        "units": "#item+supplied", "amount": "#item+amount", "eta": "#date+eta", "status": "#status",
    },
}

#: Columns written as numbers in a workbook (when the number survives as a float exactly).
NUMERIC = frozenset(
    {"population", "lat", "lon", "factor", "unit_value_eur", "people_served", "quantity", "units", "value_eur",
     "days", "amount", "plan", "id"}
)
SCENARIO_FILE = "scenario.toml"
SCENARIO_COLUMNS = ("name", "plan_date", "description")


def _write_csv(path: Path, header: tuple[str, ...], rows: list[list[str]], tags: list[str] | None) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        if tags is not None:
            writer.writerow(tags)
        writer.writerows(rows)


def write_folder(folder: Path, data: ExportData, *, hxl: bool) -> list[Path]:
    """scenario.toml and one CSV per table (with a hashtag row when ``hxl``); the files written."""
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    if data.scenario is not None:
        path = folder / SCENARIO_FILE
        path.write_text(scenario_toml(data.scenario), encoding="utf-8")
        written.append(path)
    for name, rows in data.tables.items():
        header = COLUMNS[name]
        tags = [HXL_TAGS[name][column] for column in header] if hxl else None
        path = folder / f"{name}.csv"
        _write_csv(path, header, rows, tags)
        written.append(path)
    return written


#: Columns written as dates and as true/false in a workbook (``aidpack import`` reads such cells back as ISO text).
DATES = frozenset({"available", "deadline", "eta", "plan_date"})
BOOLEANS = frozenset({"indivisible"})
#: Column widths in characters: wide enough for the header and the longest value, never a page wide.
MIN_WIDTH, MAX_WIDTH = 8, 60


def _sheet_value(column: str, text: str) -> str | int | float | bool | dt.date:
    if not text:
        return text
    if column in DATES:
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            return text
    if column in BOOLEANS and text in ("true", "false"):
        return text == "true"
    if column not in NUMERIC:
        return text
    try:
        number = Decimal(text)
    except InvalidOperation:
        return text
    if number == number.to_integral_value() and abs(number) < 2**53:
        return int(number)
    as_float = float(number)
    return as_float if Decimal(repr(as_float)) == number else text


def _width(header: str, column: list[str]) -> float:
    longest = max([len(header), *(max((len(part) for part in text.split("\n")), default=0) for text in column)])
    return float(min(MAX_WIDTH, max(MIN_WIDTH, longest + 2)))


def _write_sheet(workbook: Workbook, name: str, header: tuple[str, ...], rows: list[list[str]]) -> None:
    """A sheet: a bold header row that stays in view, sized columns, typed cells; text that starts with ``=`` stays
    text (a spreadsheet would otherwise run it as a formula)."""
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    sheet = workbook.create_sheet(name)
    sheet.freeze_panes = "A2"
    for index, column in enumerate(header, start=1):
        width = _width(column, [row[index - 1] for row in rows])
        sheet.column_dimensions[get_column_letter(index)].width = width
    bold = Font(bold=True)
    titles = []
    for column in header:
        title = WriteOnlyCell(sheet, value=column)
        title.font = bold
        titles.append(title)
    sheet.append(titles)
    for row in rows:
        cells: list[object] = []
        for column, text in zip(header, row, strict=True):
            value = _sheet_value(column, text)
            if isinstance(value, str) and value.startswith("="):
                literal = WriteOnlyCell(sheet, value=value)
                literal.data_type = "s"  # text, never a formula
                cells.append(literal)
            else:  # a date gets openpyxl's yyyy-mm-dd format
                cells.append(value)
        sheet.append(cells)


def write_workbook(path: Path, data: ExportData) -> list[Path]:
    """One workbook, one sheet per table with the CSV columns (and a ``scenario`` sheet first)."""
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    if data.scenario is not None:
        info = data.scenario
        _write_sheet(
            workbook, "scenario", SCENARIO_COLUMNS, [[info.name, info.plan_date.isoformat(), info.description or ""]]
        )
    for name, rows in data.tables.items():
        _write_sheet(workbook, name, COLUMNS[name], rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    workbook.save(path)
    return [path]
