"""Turn each data row into a :class:`Record`: the row's key, its column values and its references by code.

Only columns the file has go into ``values``/``refs``: a column the file leaves out keeps the existing row's
value on update (and the model default on create); a present but empty optional cell means "not given".
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from aidpack.catalogue.models import parse_consumes
from aidpack.ingest.cells import DATE_RANGE, RowCells
from aidpack.ingest.errors import Problem
from aidpack.ingest.kinds import RESTRICTED_SITE, SCENARIO_KEYS, Kind, key_column
from aidpack.ingest.reader import Table
from aidpack.needs.models import Priority
from aidpack.orgs.models import OrgKind
from aidpack.pledges.models import Channel, PledgeStatus
from aidpack.sites.models import Sensitivity
from aidpack.web.fields import MAX_DATE, MIN_DATE

CODE_LENGTH = 64
REGION_CODE_LENGTH = 32
COUNTRY_LENGTH = 8
#: The longest transit a ``transit.csv`` row may set (a year; the great-circle rule gives at most 54 days): the engine
#: adds it to dates, and 2,147,483,647 days crashed it.
MAX_TRANSIT_DAYS = 365


@dataclass
class Record:
    """One valid-looking row, before references are checked."""

    kind: Kind
    file: str
    row: int
    key: str
    values: dict[str, object] = field(default_factory=dict)
    #: Referenced codes by column (``region``, ``site``, ``org``, ...); ``None`` clears the reference.
    refs: dict[str, str | None] = field(default_factory=dict)
    raw: dict[str, str] = field(default_factory=dict)
    #: Other files holding the same row (an organisation in both donors.csv and organisations.csv).
    more_files: list[str] = field(default_factory=list)
    #: False when the row has a problem of its own (then nothing is written, but its references are checked).
    ok: bool = True
    #: The row repeats a key used before in the import; it is not the row other rows refer to.
    duplicate: bool = False
    #: A need whose site cell says an export left its restricted site out: its site, notes and people served are
    #: the export's, not the data's, so an existing need keeps its own.
    site_hidden: bool = False


def _put(cells: RowCells, record: Record, column: str, value: object, attr: str | None = None) -> None:
    if cells.has(column):
        record.values[attr or column] = value


def _ref(cells: RowCells, record: Record, column: str, *, required: bool = False) -> None:
    if cells.has(column):
        record.refs[column] = cells.code(column, required=required)
        record.raw[column] = cells.raw(column)


def _regions(cells: RowCells, record: Record) -> None:
    _put(cells, record, "name", cells.text("name", required=True, max_length=200))
    _put(cells, record, "name_local", cells.text("name_local", max_length=200))
    _put(cells, record, "population", cells.integer("population"))
    _put(cells, record, "lat", cells.coordinate("lat", limit=90, required=True))
    _put(cells, record, "lon", cells.coordinate("lon", limit=180, required=True))


def _hubs(cells: RowCells, record: Record) -> None:
    _put(cells, record, "name", cells.text("name", required=True, max_length=200))
    _put(cells, record, "country", cells.text("country", max_length=COUNTRY_LENGTH))
    _put(cells, record, "lat", cells.coordinate("lat", limit=90, required=True))
    _put(cells, record, "lon", cells.coordinate("lon", limit=180, required=True))


def _catalogue(cells: RowCells, record: Record) -> None:
    _put(cells, record, "name", cells.text("name", required=True, max_length=300))
    _put(cells, record, "name_local", cells.text("name_local", max_length=300))
    _put(cells, record, "category", cells.text("category", required=True, max_length=64))
    _put(cells, record, "unit", cells.text("unit", required=True, max_length=32))
    _put(cells, record, "provides", cells.code("provides", required=True, max_length=CODE_LENGTH))
    _put(cells, record, "factor", cells.quantity("factor", required=True))
    record.raw.update({"provides": cells.raw("provides"), "factor": cells.raw("factor")})
    _put(cells, record, "indivisible", cells.boolean("indivisible", required=True))
    _put(cells, record, "unit_value_eur", cells.quantity("unit_value_eur", positive=False))
    consumes = cells.text("consumes", max_length=200)
    if consumes is not None and parse_consumes(consumes) is None:
        cells.problem("consumes", consumes, "CAPABILITY:amount per unit per day, e.g. DIESEL-L:648 (several with ;)")
    _put(cells, record, "consumes", consumes)


def _organisation(cells: RowCells, record: Record, *, donor: bool) -> None:
    _put(cells, record, "name", cells.text("name", required=True, max_length=300))
    kind = cells.choice("kind", OrgKind)
    if donor and kind is OrgKind.AUTHORITY:
        cells.problem(
            "kind",
            cells.raw("kind"),
            "one of state, multilateral, ngo, private (recipient authorities go in organisations.csv)",
        )
    _put(cells, record, "kind", kind)
    _put(cells, record, "country", cells.text("country", max_length=COUNTRY_LENGTH))
    record.values["is_donor" if donor else "is_recipient"] = True


def _donors(cells: RowCells, record: Record) -> None:
    _organisation(cells, record, donor=True)


def _organisations(cells: RowCells, record: Record) -> None:
    _organisation(cells, record, donor=False)


def _sites(cells: RowCells, record: Record) -> None:
    if record.key == RESTRICTED_SITE:
        cells.problem("code", record.key, f"a code other than {RESTRICTED_SITE} (it stands for a restricted site an "
                      "export leaves out)")
    _put(cells, record, "name", cells.text("name", required=True, max_length=300))
    _ref(cells, record, "region", required=True)
    _put(cells, record, "kind", cells.text("kind", max_length=64))
    _put(cells, record, "people_served", cells.integer("people_served"))
    _put(cells, record, "lat", cells.coordinate("lat", limit=90))
    _put(cells, record, "lon", cells.coordinate("lon", limit=180))
    _put(cells, record, "sensitivity", cells.choice("sensitivity", Sensitivity) or Sensitivity.RESTRICTED)
    _ref(cells, record, "org")


def _needs(cells: RowCells, record: Record) -> None:
    _ref(cells, record, "region", required=True)
    if cells.has("site") and cells.raw("site") == RESTRICTED_SITE:
        record.site_hidden = True
    else:
        _ref(cells, record, "site")
    _put(cells, record, "capability", cells.code("capability", required=True, max_length=CODE_LENGTH))
    _put(cells, record, "quantity", cells.quantity("quantity", required=True))
    record.raw["quantity"] = cells.raw("quantity")
    _put(cells, record, "priority", cells.choice("priority", Priority, required=True))
    _put(cells, record, "deadline", cells.date("deadline"))
    _put(cells, record, "people_served", cells.integer("people_served", minimum=1))
    _put(cells, record, "notes", cells.text("notes"))
    _ref(cells, record, "org")


def _pledges(cells: RowCells, record: Record) -> None:
    _ref(cells, record, "donor", required=True)
    _ref(cells, record, "item", required=True)
    _put(cells, record, "units", cells.quantity("units", required=True))
    record.raw["units"] = cells.raw("units")
    _put(cells, record, "available", cells.date("available"))
    _ref(cells, record, "hub", required=True)
    _put(cells, record, "channel", cells.choice("channel", Channel) or Channel.OTHER)
    _put(cells, record, "status", cells.choice("status", PledgeStatus) or PledgeStatus.CONFIRMED)
    _put(cells, record, "value_eur", cells.quantity("value_eur", positive=False))
    _put(cells, record, "source", cells.text("source"))


def _transit(cells: RowCells, record: Record) -> None:
    _put(cells, record, "days", cells.integer("days", required=True, maximum=MAX_TRANSIT_DAYS))


_ROW_PARSERS: dict[Kind, Callable[[RowCells, Record], None]] = {
    Kind.REGIONS: _regions,
    Kind.HUBS: _hubs,
    Kind.CATALOGUE: _catalogue,
    Kind.DONORS: _donors,
    Kind.ORGANISATIONS: _organisations,
    Kind.SITES: _sites,
    Kind.NEEDS: _needs,
    Kind.PLEDGES: _pledges,
    Kind.TRANSIT: _transit,
}


def transit_key(hub: str, region: str) -> str:
    return f"{hub} -> {region}"


def _key(kind: Kind, cells: RowCells, record_refs: dict[str, str | None]) -> tuple[str, str] | None:
    """The row's identity and the column that holds it (``None`` when it is missing or bad)."""
    if kind is Kind.TRANSIT:
        hub = cells.code("hub", required=True)
        region = cells.code("region", required=True)
        record_refs["hub"] = hub
        record_refs["region"] = region
        if hub is None or region is None:
            return None
        return transit_key(hub, region), "hub"
    column = key_column(kind)
    length = REGION_CODE_LENGTH if kind is Kind.REGIONS else CODE_LENGTH
    if kind is Kind.SITES and cells.raw(column) == RESTRICTED_SITE:
        return RESTRICTED_SITE, column  # refused by the sites parser, which says what it stands for
    key = cells.code(column, required=True, max_length=length)
    return None if key is None else (key, column)


def parse_table(kind: Kind, table: Table, problems: list[Problem]) -> list[Record]:
    """A record for every row, bad ones too (their references are still checked), duplicates marked."""
    parser = _ROW_PARSERS[kind]
    records: list[Record] = []
    first_row: dict[str, int] = {}
    for number, values in table.rows:
        cells = RowCells(table.file, number, values, table.present, problems)
        refs: dict[str, str | None] = {}
        found = _key(kind, cells, refs)
        record = Record(kind=kind, file=table.file, row=number, key=found[0] if found else "", refs=refs)
        if kind is Kind.TRANSIT:
            record.raw.update({"hub": cells.raw("hub"), "region": cells.raw("region")})
        parser(cells, record)
        if found is not None:
            key, column = found
            if key in first_row:
                shown = "hub and region pair" if kind is Kind.TRANSIT else column
                cells.problem(
                    column, key, f"a {shown} not used before in this file (row {first_row[key]} has it)"
                )
                record.duplicate = True
            else:
                first_row[key] = number
        record.ok = cells.ok
        records.append(record)
    return records


@dataclass(frozen=True)
class ScenarioRecord:
    file: str
    name: str
    plan_date: dt.date
    description: str | None
    has_description: bool


def parse_scenario_table(table: Table, problems: list[Problem]) -> ScenarioRecord | None:
    """A workbook's scenario sheet (as the xlsx export writes it): the columns of scenario.toml, one row."""
    if not table.rows:
        return None
    for number, _ in table.rows[1:]:
        problems.append(Problem(table.file, number, None, "", "one row: a database holds one scenario"))
    number, values = table.rows[0]
    cells = RowCells(table.file, number, values, table.present, problems)
    name = cells.text("name", required=True, max_length=200)
    plan_date = cells.date("plan_date", required=True)
    description = cells.text("description")
    if name is None or plan_date is None or len(table.rows) > 1:
        return None
    return ScenarioRecord(table.file, name, plan_date, description, has_description=cells.has("description"))


def _line_of(text: str, key: str) -> int | None:
    pattern = re.compile(rf"^\s*{re.escape(key)}\s*=", re.MULTILINE)
    match = pattern.search(text)
    return None if match is None else text.count("\n", 0, match.start()) + 1


def parse_scenario(path: Path, problems: list[Problem]) -> ScenarioRecord | None:
    """``scenario.toml``: name, plan_date (ISO date), description."""
    name = path.name
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        problems.append(
            Problem(name, line, None, f"bytes {data[exc.start : exc.end].hex(' ')}", "UTF-8 text")
        )
        return None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = re.search(r"line (\d+)", str(exc))
        problems.append(
            Problem(name, int(found.group(1)) if found else None, None, "", f"valid TOML ({exc})")
        )
        return None
    count = len(problems)
    for key in document:
        if key not in SCENARIO_KEYS.all and not key.startswith("x_"):
            problems.append(
                Problem(
                    name,
                    _line_of(text, key),
                    key,
                    key,
                    f"one of the keys {', '.join(SCENARIO_KEYS.all)} (or x_ for extras)",
                )
            )
    for key in SCENARIO_KEYS.required:
        if key not in document:
            problems.append(Problem(name, None, key, "", "this required key"))
    title = document.get("name")
    if "name" in document and (not isinstance(title, str) or not title.strip() or len(title.strip()) > 200):
        problems.append(
            Problem(name, _line_of(text, "name"), "name", str(title), "a text of 1 to 200 characters")
        )
    given = document.get("plan_date")
    plan_date = given
    if isinstance(given, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", given.strip()):
        try:
            plan_date = dt.date.fromisoformat(given.strip())
        except ValueError:
            problems.append(
                Problem(
                    name,
                    _line_of(text, "plan_date"),
                    "plan_date",
                    given,
                    "a real calendar date YYYY-MM-DD (this day does not exist)",
                )
            )
            plan_date = None
    elif "plan_date" in document and (
        not isinstance(plan_date, dt.date) or isinstance(plan_date, dt.datetime)
    ):
        problems.append(
            Problem(name, _line_of(text, "plan_date"), "plan_date", str(plan_date), "an ISO date YYYY-MM-DD")
        )
        plan_date = None
    if isinstance(plan_date, dt.date) and not MIN_DATE <= plan_date <= MAX_DATE:
        problems.append(Problem(name, _line_of(text, "plan_date"), "plan_date", str(given), DATE_RANGE))
        plan_date = None
    description = document.get("description")
    if description is not None and not isinstance(description, str):
        problems.append(
            Problem(name, _line_of(text, "description"), "description", str(description), "a text")
        )
    if len(problems) > count or not isinstance(title, str) or not isinstance(plan_date, dt.date):
        return None
    return ScenarioRecord(
        file=name,
        name=title.strip(),
        plan_date=plan_date,
        description=description.strip() or None if isinstance(description, str) else None,
        has_description="description" in document,
    )
