"""A small valid scenario, written by tests as CSV or XLSX files, with helpers to change it."""

from __future__ import annotations

import copy
import csv
import datetime as dt
from collections.abc import Callable
from pathlib import Path

from openpyxl import Workbook
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aidpack.audit.models import Event
from aidpack.catalogue.models import Item
from aidpack.geography.models import Hub, Region, TransitOverride
from aidpack.needs.models import Need
from aidpack.orgs.models import Organisation
from aidpack.pledges.models import Pledge
from aidpack.scenario.models import ScenarioInfo
from aidpack.sites.models import Site

Rows = list[list[str]]

SCENARIO_TOML = 'name = "test-land"\nplan_date = 2022-11-29\ndescription = "a small test scenario"\n'

BASE: dict[str, Rows] = {
    "regions": [
        ["code", "name", "name_local", "population", "lat", "lon"],
        ["UA-63", "Kharkiv", "Харків", "2600000", "49.99", "36.23"],
        ["UA-30", "Kyiv city", "Київ", "2950000", "50.45", "30.52"],
        ["UA-46", "Lviv", "", "", "49.84", "24.03"],
    ],
    "hubs": [
        ["code", "name", "country", "lat", "lon"],
        ["RZE", "Rzeszów-Jasionka", "PL", "50.11", "22.02"],
        ["SCV", "Suceava", "RO", "47.65", "26.25"],
    ],
    "catalogue": [
        ["code", "name", "category", "unit", "provides", "factor", "indivisible", "unit_value_eur"],
        ["GEN-100KW", "Generator 100 kW", "energy", "unit", "POWER-KW", "100", "true", "25000"],
        ["DIESEL-L", "Diesel", "fuel", "litre", "DIESEL-L", "1", "false", ""],
        ["BLANKET", "Blanket", "winter", "piece", "BLANKET", "1", "yes", "12.5"],
    ],
    "donors": [
        ["code", "name", "kind", "country"],
        ["FR", "France", "state", "FR"],
        ["DE", "Germany", "state", "DE"],
        ["NATO-CAP", "NATO Comprehensive Assistance Package", "multilateral", ""],
    ],
    "organisations": [
        ["code", "name", "kind", "country"],
        ["UA-MOH", "Ministry of Health of Ukraine", "authority", "UA"],
    ],
    "sites": [
        ["code", "name", "region", "kind", "people_served", "lat", "lon", "sensitivity", "org"],
        ["H1", "Hospital 1", "UA-63", "hospital", "50000", "49.9", "36.3", "", "UA-MOH"],
        ["W1", "Water station 1", "UA-30", "water", "", "", "", "public", ""],
    ],
    "needs": [
        ["ref", "region", "site", "capability", "quantity", "priority", "deadline", "people_served", "notes"],
        ["N1", "UA-63", "H1", "POWER-KW", "500", "critical", "2022-12-15", "", ""],
        ["N2", "UA-30", "", "DIESEL-L", "10000.5", "high", "", "1000", "fuel for boilers"],
        ["N3", "UA-46", "", "BLANKET", "200", "medium", "2023-01-31", "300", ""],
        ["N4", "UA-30", "W1", "NOTHING-PROVIDES-THIS", "5", "low", "", "", ""],
    ],
    "pledges": [
        ["ref", "donor", "item", "units", "available", "hub", "channel", "status", "value_eur", "source"],
        [
            "P1",
            "FR",
            "GEN-100KW",
            "3",
            "2022-12-01",
            "RZE",
            "bilateral",
            "",
            "75000",
            "https://example.org/fr",
        ],
        ["P2", "DE", "DIESEL-L", "5000.25", "", "RZE", "", "", "", ""],
        ["P3", "NATO-CAP", "BLANKET", "100", "2022-12-05", "SCV", "nato-cap", "proposed", "", ""],
    ],
    "transit": [
        ["hub", "region", "days"],
        ["RZE", "UA-46", "1"],
        ["SCV", "UA-63", "4"],
    ],
}

#: Rows each base file creates (scenario.toml included).
BASE_COUNTS = {
    "scenario.toml": 1,
    "regions": 3,
    "hubs": 2,
    "catalogue": 3,
    "donors": 3,
    "organisations": 1,
    "sites": 2,
    "needs": 4,
    "pledges": 3,
    "transit": 2,
}


def base() -> dict[str, Rows]:
    return copy.deepcopy(BASE)


def write_csv(path: Path, rows: Rows, *, bom: bool = False) -> Path:
    with path.open("w", encoding="utf-8-sig" if bom else "utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return path


def _typed(cell: str) -> object:
    """A cell as a spreadsheet would hold it: numbers, dates and booleans typed."""
    if cell == "":
        return None
    if cell in ("true", "false"):
        return cell == "true"
    try:
        return dt.date.fromisoformat(cell) if len(cell) == 10 and cell[4] == "-" else int(cell)
    except ValueError:
        pass
    try:
        return float(cell)
    except ValueError:
        return cell


def write_xlsx(path: Path, rows: Rows, *, typed: bool = True) -> Path:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    for index, row in enumerate(rows):
        keep_text = not typed or index == 0 or row[:1] and row[0].startswith("#")
        sheet.append([cell or None if keep_text else _typed(cell) for cell in row])
    workbook.save(path)
    return path


#: The scenario as a workbook's sheet holds it (as the xlsx export writes it).
SCENARIO_SHEET: Rows = [["name", "plan_date", "description"], ["test-land", "2022-11-29", "a small test scenario"]]


def write_workbook(path: Path, sheets: dict[str, Rows], *, typed: bool = True) -> Path:
    """One workbook, a sheet per entry in the given order (an empty list: an empty sheet), cells typed as a
    spreadsheet holds them."""
    workbook = Workbook()
    default = workbook.active
    assert default is not None
    workbook.remove(default)
    for title, rows in sheets.items():
        sheet = workbook.create_sheet(title)
        for index, row in enumerate(rows):
            keep_text = not typed or index == 0 or row[:1] and row[0].startswith("#")
            sheet.append([cell or None if keep_text else _typed(cell) for cell in row])
    workbook.save(path)
    return path


def write_scenario(
    folder: Path,
    files: dict[str, Rows] | None = None,
    *,
    fmt: str = "csv",
    scenario_toml: str | None = SCENARIO_TOML,
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if scenario_toml is not None:
        (folder / "scenario.toml").write_text(scenario_toml, encoding="utf-8")
    for kind, rows in (files if files is not None else base()).items():
        if fmt == "xlsx":
            write_xlsx(folder / f"{kind}.xlsx", rows)
        else:
            write_csv(folder / f"{kind}.csv", rows)
    return folder


def set_cell(rows: Rows, ref: str, column: str, value: str) -> Rows:
    """Set ``column`` of the row whose first cell is ``ref``."""
    index = rows[0].index(column)
    for row in rows[1:]:
        if row[0] == ref:
            row[index] = value
            return rows
    raise KeyError(ref)


def drop_column(rows: Rows, column: str) -> Rows:
    index = rows[0].index(column)
    for row in rows:
        del row[index]
    return rows


def add_column(rows: Rows, column: str, value: str = "") -> Rows:
    rows[0].append(column)
    for row in rows[1:]:
        row.append(value)
    return rows


Change = Callable[[dict[str, Rows]], None]

COUNTED = (ScenarioInfo, Region, Hub, TransitOverride, Item, Organisation, Site, Need, Pledge, Event)


def table_counts(session: Session) -> dict[str, int]:
    return {
        model.__name__: session.execute(select(func.count()).select_from(model)).scalar_one()
        for model in COUNTED
    }
