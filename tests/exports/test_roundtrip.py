"""The csv export is a scenario folder: importing it into an empty database reproduces the data, and
importing it back into its source changes nothing. The hxl export imports too (without restricted sites)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from aidpack.audit.models import Event
from aidpack.catalogue.models import Item
from aidpack.exports.service import export
from aidpack.ingest.service import import_path
from aidpack.needs.models import Need
from aidpack.orgs.models import Organisation, OrgKind
from aidpack.sites.models import Site
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
