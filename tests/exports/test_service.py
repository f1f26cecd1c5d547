"""Exports on both backends: files and sheets written, restricted sites kept out of HXL and IATI, audit event."""

from __future__ import annotations

import csv
import datetime as dt
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import hxl
import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aidpack.audit.models import Event
from aidpack.audit.service import verify
from aidpack.exports.iati import recipient_countries, sector_for
from aidpack.exports.service import (
    ExportNameMismatch,
    ExportPathUnwritable,
    ExportTargetExists,
    UnknownExportFormat,
    export,
)
from aidpack.exports.tables import COLUMNS, cell
from aidpack.ingest.kinds import RESTRICTED_SITE
from aidpack.needs.models import Need
from aidpack.pledges.models import Pledge
from tests.exports.data import NOTES, RESTRICTED, load


def read_csv(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


def hxl_data(path: Path) -> hxl.model.Dataset:
    return hxl.data(str(path), hxl.InputOptions(allow_local=True))


@pytest.fixture
def loaded(session: Session, tmp_path: Path) -> Session:
    load(session, tmp_path / "scenario")
    return session


def test_cell_formats_values_as_scenario_files_hold_them() -> None:
    from decimal import Decimal

    assert cell(Decimal("500.000000")) == "500"
    assert cell(Decimal("10000.500000")) == "10000.5"
    assert cell(Decimal("0E-6")) == "0"
    assert cell(True) == "true"
    assert cell(None) == ""
    assert cell(49.99) == "49.99"


def test_csv_export_writes_every_file_with_its_columns_and_an_audit_event(loaded: Session, tmp_path: Path) -> None:
    out = tmp_path / "out"
    before = loaded.execute(select(func.count()).select_from(Event)).scalar_one()

    result = export(loaded, fmt="CSV", path=out, force=False, actor="tester")

    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(["scenario.toml", *(f"{name}.csv" for name in COLUMNS)])
    assert [p.name for p in result.files][0] == "scenario.toml"
    needs = read_csv(out / "needs.csv")
    assert tuple(needs[0]) == COLUMNS["needs"]
    row = next(r for r in needs if r[0] == "N3")
    assert row[needs[0].index("notes")] == NOTES
    assert next(r for r in needs if r[0] == "N1")[2] == "H1"  # the operator's csv keeps restricted sites
    lines = read_csv(out / "lines.csv")
    assert [(r[2], r[3], r[4], r[7]) for r in lines[1:]] == [
        ("P1", "N1", "2", "accepted"),
        ("P2", "N2", "1000", "proposed"),
    ]
    donors = {r[0]: r for r in read_csv(out / "donors.csv")[1:]}
    assert donors["UA-MOH"][2] == ""  # donors.csv refuses `authority`: the kind stays in organisations.csv
    event = loaded.execute(select(Event).order_by(Event.id.desc()).limit(1)).scalar_one()
    assert loaded.execute(select(func.count()).select_from(Event)).scalar_one() == before + 1
    assert (event.action, event.entity, event.actor) == ("export.csv", "export", "tester")
    assert event.entity_ref == str(out.resolve())
    assert event.after is not None
    assert event.after["rows"]["needs"] == 4
    assert verify(loaded).ok


def test_hxl_export_has_hashtags_libhxl_reads_and_no_restricted_site(loaded: Session, tmp_path: Path) -> None:
    out = tmp_path / "hxl"
    export(loaded, fmt="hxl", path=out, force=False, actor="tester")

    needs = hxl_data(out / "needs.csv")
    assert needs.display_tags[:5] == ["#meta+ref", "#adm1+code", "#loc+code", "#item+type", "#item+needed"]
    assert "#affected" in needs.display_tags
    rows = {row.get("#meta+ref"): row for row in needs}
    assert rows["N1"].get("#loc+code") == RESTRICTED_SITE  # restricted site left out, said to be so ...
    assert rows["N1"].get("#adm1+code") == "UA-63"  # ... region and capability kept
    assert rows["N1"].get("#item+type") == "POWER-KW"
    assert rows["N1"].get("#affected") == "50000"  # the site's people served, as the need weighs
    assert rows["N4"].get("#loc+code") == "W1"  # a public site stays
    pledges = hxl_data(out / "pledges.csv")
    assert {"#meta+ref", "#org+code", "#item+code", "#value+eur", "#meta+source"} <= set(pledges.display_tags)
    for path in out.glob("*.csv"):
        assert hxl_data(path).tags, path.name
        for row in read_csv(path):
            assert not set(RESTRICTED) & set(row), path.name
    assert [r[0] for r in read_csv(out / "sites.csv")[2:]] == ["W1"]


def test_xlsx_has_one_sheet_per_table_with_the_csv_columns(loaded: Session, tmp_path: Path) -> None:
    path = tmp_path / "book.xlsx"
    need = loaded.execute(select(Need).where(Need.ref == "N2")).scalar_one()
    need.notes = "=HYPERLINK(1)"
    loaded.flush()
    export(loaded, fmt="xlsx", path=path, force=False, actor="tester")
    with zipfile.ZipFile(path) as archive:
        sheets = "".join(archive.read(n).decode() for n in archive.namelist() if n.startswith("xl/worksheets/"))
    assert "<f>" not in sheets  # a cell that starts with '=' is text, never a formula

    book = load_workbook(path, read_only=True)
    assert book.sheetnames == ["scenario", *COLUMNS]
    needs = [list(r) for r in book["needs"].iter_rows(values_only=True)]
    assert tuple(needs[0]) == COLUMNS["needs"]
    n2 = next(r for r in needs if r[0] == "N2")
    assert n2[needs[0].index("quantity")] == 10000.5
    assert next(r for r in needs if r[0] == "N3")[needs[0].index("notes")] == NOTES
    assert list(book["scenario"].iter_rows(values_only=True))[1][:2] == ("test-land", dt.datetime(2022, 11, 29))
    book.close()


def test_iati_has_one_activity_per_pledge_and_no_site_data(loaded: Session, tmp_path: Path) -> None:
    path = tmp_path / "iati.xml"
    export(loaded, fmt="iati", path=path, force=False, actor="tester")

    text = path.read_text(encoding="utf-8")
    root = ET.fromstring(text.encode("utf-8"))
    assert root.tag == "iati-activities"
    assert root.get("version") == "2.03"
    pledges = loaded.execute(select(Pledge.ref).order_by(Pledge.ref)).scalars().all()
    activities = root.findall("iati-activity")
    assert len(activities) == len(pledges)
    ids = [a.findtext("iati-identifier") for a in activities]
    reporters = [a.find("reporting-org").get("ref") for a in activities]  # type: ignore[union-attr]
    # IATI: an identifier starts with its reporting organisation's ref.
    assert ids == [f"{org}-AIDPACK-{ref}" for org, ref in zip(reporters, pledges, strict=True)]
    p1 = activities[ids.index("FR-AIDPACK-P1")]
    assert p1.find("reporting-org").get("ref") == "FR"  # type: ignore[union-attr]
    assert p1.find("participating-org").get("role") == "1"  # type: ignore[union-attr]
    assert p1.find("sector").get("code") == "23310"  # type: ignore[union-attr]
    assert p1.find("recipient-country").get("code") == "UA"  # type: ignore[union-attr]
    value = p1.find("transaction/value")
    assert value is not None
    assert value.text == "75000"
    assert value.get("currency") == "EUR"
    assert p1.find("transaction/transaction-date").get("iso-date") == "2022-12-01"  # type: ignore[union-attr]
    assert p1.find("activity-status").get("code") == "2"  # type: ignore[union-attr]
    assert p1.find("result/indicator/period/target").get("value") == "3"  # type: ignore[union-attr]
    assert p1.get("budget-not-provided") is None
    p3 = activities[ids.index(next(i for i in ids if i is not None and i.endswith("-AIDPACK-P3")))]
    assert p3.find("transaction") is None  # no value given
    assert p3.get("budget-not-provided") == "3"  # and it says why: a rapid onset emergency
    assert p3.find("activity-status").get("code") == "1"  # type: ignore[union-attr]  # proposed: pipeline
    for word in RESTRICTED:
        assert word not in text


def test_sector_and_country_mapping(loaded: Session) -> None:
    assert sector_for("fuel")[0] == "23641"
    assert sector_for("energy-grid")[0] == "23630"
    assert sector_for("energy-storage")[0] == "23310"
    assert sector_for("winter")[0] == "72010"
    assert recipient_countries(loaded)[0] == ("UA", 100)


def test_refuses_an_unknown_format(session: Session, tmp_path: Path) -> None:
    with pytest.raises(UnknownExportFormat) as caught:
        export(session, fmt="pdf", path=tmp_path / "x", force=False, actor="t")
    assert caught.value.exit_code == 1
    assert "csv" in caught.value.detail


def test_refuses_a_non_empty_folder_or_existing_file_unless_forced(loaded: Session, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    with pytest.raises(ExportTargetExists):
        export(loaded, fmt="csv", path=out, force=False, actor="t")
    export(loaded, fmt="csv", path=out, force=True, actor="t")
    assert (out / "needs.csv").exists()
    assert (out / "keep.txt").exists()

    book = tmp_path / "book.xlsx"
    book.write_bytes(b"old")
    with pytest.raises(ExportTargetExists):
        export(loaded, fmt="xlsx", path=book, force=False, actor="t")
    with pytest.raises(ExportTargetExists):  # a folder export onto a file, even forced
        export(loaded, fmt="hxl", path=book, force=True, actor="t")
    with pytest.raises(ExportTargetExists):  # a file export onto a folder
        export(loaded, fmt="iati", path=out, force=True, actor="t")
    export(loaded, fmt="xlsx", path=book, force=True, actor="t")
    assert book.read_bytes()[:2] == b"PK"
    for fmt, name in (("xlsx", "book.txt"), ("iati", "iati.json")):  # a file named for another kind of file
        with pytest.raises(ExportNameMismatch):
            export(loaded, fmt=fmt, path=tmp_path / name, force=False, actor="t")
        assert not (tmp_path / name).exists()


def test_an_unwritable_path_is_a_clear_error(loaded: Session, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ExportPathUnwritable) as caught:
        export(loaded, fmt="iati", path=blocker / "sub" / "a.xml", force=False, actor="t")
    assert str(blocker) in caught.value.detail


def test_iati_with_no_pledge_is_refused_and_writes_nothing(session: Session, tmp_path: Path) -> None:
    from aidpack.exports.iati import NothingToPublish

    path = tmp_path / "iati.xml"
    with pytest.raises(NothingToPublish):
        export(session, fmt="iati", path=path, force=False, actor="tester")
    assert not path.exists()
