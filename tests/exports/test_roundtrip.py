"""The csv export is a scenario folder and the xlsx export a workbook of the same tables: importing either into an
empty database reproduces the data, and importing it back into its source changes nothing. The hxl export
imports too (without restricted sites), and never blanks them in its source."""

from __future__ import annotations

from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from aidpack.audit.models import Event
from aidpack.catalogue.models import Item
from aidpack.exports.service import export
from aidpack.ingest.errors import ImportInvalid
from aidpack.ingest.kinds import KIND_ORDER
from aidpack.ingest.service import ImportReport, import_path
from aidpack.needs.models import Need
from aidpack.orgs.models import Organisation, OrgKind
from aidpack.scenarios import builtin_scenario
from aidpack.sites.models import Sensitivity, Site
from tests.exports.data import CONSUMES, NOTES, RESTRICTED, load
from tests.factories import isolated_database


def _dir(path: Path) -> Path:
    path.mkdir()
    return path


def _export(engine: Engine, fmt: str, path: Path) -> None:
    with Session(engine) as session, session.begin():
        export(session, fmt=fmt, path=path, force=False, actor="test")


def _events(engine: Engine) -> int:
    with Session(engine) as session:
        return session.execute(select(func.count()).select_from(Event)).scalar_one()


def test_csv_round_trip_reproduces_the_data_and_reimport_changes_nothing(backend: str, tmp_path: Path) -> None:
    with isolated_database(backend, _dir(tmp_path / "a")) as (_, source), isolated_database(
        backend, _dir(tmp_path / "b")
    ) as (_, target):
        with Session(source) as session, session.begin():
            load(session, tmp_path / "scenario")
        first = tmp_path / "first"
        _export(source, "csv", first)

        with Session(target) as session, session.begin():
            report = import_path(session, path=first, kind=None, actor="test")
        assert report.skipped == ("lines.csv",)
        assert report.total("created") == report.total("rows") == 26
        second = tmp_path / "second"
        _export(target, "csv", second)
        for path in sorted(first.iterdir()):
            if path.name != "lines.csv":
                assert (second / path.name).read_bytes() == path.read_bytes(), path.name
        with Session(target) as session:
            n3 = session.execute(select(Need).where(Need.ref == "N3")).scalar_one()
            assert n3.notes == NOTES
            moh = session.execute(select(Organisation).where(Organisation.code == "UA-MOH")).scalar_one()
            assert (moh.kind, moh.is_donor, moh.is_recipient) == (OrgKind.AUTHORITY, True, True)
            generator = session.execute(select(Item).where(Item.code == "GEN-100KW")).scalar_one()
            assert generator.consumes == CONSUMES

        events = _events(source)
        with Session(source) as session, session.begin():
            again = import_path(session, path=first, kind=None, actor="test")
        assert (again.total("created"), again.total("updated")) == (0, 0)
        assert again.total("unchanged") == again.total("rows")
        assert _events(source) == events


def test_hxl_export_imports_into_an_empty_database_without_restricted_sites(backend: str, tmp_path: Path) -> None:
    with isolated_database(backend, _dir(tmp_path / "a")) as (_, source), isolated_database(
        backend, _dir(tmp_path / "b")
    ) as (_, target):
        with Session(source) as session, session.begin():
            load(session, tmp_path / "scenario")
        out = tmp_path / "hxl"
        _export(source, "hxl", out)
        with Session(target) as session, session.begin():
            import_path(session, path=out, kind=None, actor="test")
        with Session(target) as session:
            assert session.execute(select(Site.code)).scalars().all() == ["W1"]
            n1 = session.execute(select(Need).where(Need.ref == "N1")).scalar_one()
            assert (n1.site_id, n1.region.code, n1.capability, n1.people_served) == (None, "UA-63", "POWER-KW", 50000)
            assert session.execute(select(func.count()).select_from(Need)).scalar_one() == 4
            names = session.execute(select(Site.name)).scalars().all()
            assert RESTRICTED[1] not in names


def _import(engine: Engine, path: Path) -> ImportReport:
    with Session(engine) as session, session.begin():
        return import_path(session, path=path, kind=None, actor="test")


def _edited(book: Path, to: Path, edits: dict[str, tuple[int, str, int]]) -> Path:
    """A copy of the workbook with, per sheet, one cell (row as a spreadsheet counts it, column by header) set."""
    workbook = load_workbook(book)
    for title, (row, column, value) in edits.items():
        sheet = workbook[title]
        header = [cell.value for cell in sheet[1]]
        sheet.cell(row=row, column=header.index(column) + 1, value=value)
    workbook.save(to)
    return to


def test_xlsx_round_trip_of_the_demo_scenario(backend: str, tmp_path: Path) -> None:
    """The coordinator's loop: export the workbook, edit it, import the same workbook back."""
    with isolated_database(backend, _dir(tmp_path / "a")) as (_, source), isolated_database(
        backend, _dir(tmp_path / "b")
    ) as (_, target):
        loaded = _import(source, builtin_scenario())
        book = tmp_path / "demo.xlsx"
        _export(source, "xlsx", book)
        _export(source, "csv", tmp_path / "source-csv")
        events = _events(source)

        back = _import(source, book)  # into its own database: nothing changes, no event
        assert [f.sheet for f in back.files] == ["scenario", *(kind.value for kind in KIND_ORDER)]
        assert [(f.rows, f.created, f.updated) for f in back.files] == [(f.rows, 0, 0) for f in loaded.files]
        assert back.total("unchanged") == back.total("rows") == loaded.total("rows")
        assert [s.sheet for s in back.skipped_sheets] == ["lines"]
        assert _events(source) == events

        fresh = _import(target, book)  # into an empty database: the same data
        assert fresh.total("created") == fresh.total("rows") == loaded.total("rows")
        _export(target, "csv", tmp_path / "target-csv")
        for path in sorted((tmp_path / "source-csv").iterdir()):
            assert (tmp_path / "target-csv" / path.name).read_bytes() == path.read_bytes(), path.name

        with Session(source) as session:
            need = session.execute(select(Need).order_by(Need.ref).limit(1)).scalar_one()
            ref, quantity = need.ref, need.quantity
        edited = _edited(book, tmp_path / "edited.xlsx", {"needs": (2, "quantity", int(quantity) + 7)})
        one = _import(source, edited)  # one cell edited: one update, one event
        assert (one.total("created"), one.total("updated")) == (0, 1)
        assert {f.sheet: f.updated for f in one.files if f.updated} == {"needs": 1}
        with Session(source) as session:
            changes = session.execute(select(Event.action, Event.entity_ref).where(Event.id > events)).all()
            assert [tuple(change) for change in changes] == [("import.update", ref)]
            assert session.execute(select(Need.quantity).where(Need.ref == ref)).scalar_one() == quantity + 7
        events = _events(source)

        # A bad cell on the second sheet: nothing of the workbook is written, the needs sheet's edit neither.
        bad = _edited(book, tmp_path / "bad.xlsx", {"regions": (3, "lat", 200), "needs": (2, "quantity", 1)})
        with Session(source) as session, session.begin(), pytest.raises(ImportInvalid) as caught:
            import_path(session, path=bad, kind=None, actor="test")
        assert [(p.file, p.sheet, p.row, p.column, p.value) for p in caught.value.problems] == [
            ("bad.xlsx", "regions", 3, "lat", "200")]
        assert _events(source) == events
        with Session(source) as session:
            assert session.execute(select(Need.quantity).where(Need.ref == ref)).scalar_one() == quantity + 7


def test_importing_an_export_back_never_blanks_a_restricted_site(backend: str, tmp_path: Path) -> None:
    """The xlsx export (as the csv one) holds restricted sites whole; the HXL publication leaves them out, its
    needs saying [restricted] where the site was: neither, imported back, changes the site or its needs."""
    with isolated_database(backend, _dir(tmp_path / "a")) as (_, source):
        with Session(source) as session, session.begin():
            load(session, tmp_path / "scenario")
            n1 = session.execute(select(Need).where(Need.ref == "N1")).scalar_one()
            n1.notes = "generator for the ICU"
        _export(source, "xlsx", tmp_path / "book.xlsx")
        _export(source, "hxl", tmp_path / "hxl")

        def restricted() -> tuple[object, ...]:
            with Session(source) as session:
                site = session.execute(select(Site).where(Site.code == RESTRICTED[0])).scalar_one()
                need = session.execute(select(Need).where(Need.ref == "N1")).scalar_one()
                return (site.name, site.lat, site.lon, site.sensitivity, site.people_served,
                        need.site_id == site.id, need.notes, need.people_served)

        before, events = restricted(), _events(source)
        assert before[:4] == (RESTRICTED[1], 49.9, 36.3, Sensitivity.RESTRICTED)
        assert before[5:] == (True, "generator for the ICU", None)
        for path in (tmp_path / "book.xlsx", tmp_path / "hxl"):
            report = _import(source, path)
            assert (report.total("created"), report.total("updated")) == (0, 0), path.name
            assert restricted() == before, path.name
        assert _events(source) == events
