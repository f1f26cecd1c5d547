"""Write :class:`ExportData` as a CSV folder, an HXL folder (a hashtag row under each header) or one workbook."""

from __future__ import annotations

import csv
from decimal import Decimal, InvalidOperation
from pathlib import Path

from aidpack.exports.tables import COLUMNS, ExportData, scenario_toml

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


def _sheet_value(column: str, text: str) -> str | int | float:
    if column not in NUMERIC or not text:
        return text
    try:
        number = Decimal(text)
    except InvalidOperation:
        return text
    if number == number.to_integral_value() and abs(number) < 2**53:
        return int(number)
    as_float = float(number)
    return as_float if Decimal(repr(as_float)) == number else text


def write_workbook(path: Path, data: ExportData) -> list[Path]:
    """One workbook, one sheet per table with the CSV columns (and a ``scenario`` sheet first)."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    workbook = Workbook(write_only=True)
    if data.scenario is not None:
        sheet = workbook.create_sheet("scenario")
        sheet.append(list(SCENARIO_COLUMNS))
        info = data.scenario
        sheet.append([info.name, info.plan_date.isoformat(), info.description or ""])
    for name, rows in data.tables.items():
        sheet = workbook.create_sheet(name)
        header = COLUMNS[name]
        sheet.append(list(header))
        for row in rows:
            cells: list[object] = []
            for column, text in zip(header, row, strict=True):
                value = _sheet_value(column, text)
                if isinstance(value, str) and value.startswith("="):
                    literal = WriteOnlyCell(sheet, value=value)
                    literal.data_type = "s"  # text, never a formula
                    value_cell: object = literal
                else:
                    value_cell = value
                cells.append(value_cell)
            sheet.append(cells)
    path.parent.mkdir(parents=True, exist_ok=True)
    workbook.save(path)
    return [path]
