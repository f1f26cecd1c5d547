"""Importing valid scenarios: round trips, idempotence, XLSX, HXL rows, extension columns, kinds."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from aidpack.audit.models import Event
from aidpack.audit.service import record, verify
from aidpack.catalogue.models import Item
from aidpack.geography.models import Hub, Region, TransitOverride
from aidpack.ingest.errors import ImportInvalid, ImportPathInvalid
from aidpack.ingest.kinds import RESTRICTED_SITE
from aidpack.ingest.service import ImportReport, import_path
from aidpack.needs.models import Need, Priority
from aidpack.orgs.models import Organisation, OrgKind
from aidpack.pledges.models import Channel, Pledge, PledgeStatus
from aidpack.scenario.models import ScenarioInfo
from aidpack.sites.models import Sensitivity, Site
from tests.ingest.scenario_files import (
    BASE_COUNTS,
    add_column,
    base,
    set_cell,
    table_counts,
    write_csv,
    write_scenario,
    write_xlsx,
)

ACTOR = "test:ingest"


def run(session: Session, path: Path, kind: str | None = None) -> ImportReport:
    return import_path(session, path=path, kind=kind, actor=ACTOR)


def by_file(report: ImportReport) -> dict[str, tuple[int, int, int, int]]:
    return {f.file: (f.rows, f.created, f.updated, f.unchanged) for f in report.files}


def need(session: Session, ref: str) -> Need:
    return session.execute(select(Need).where(Need.ref == ref)).scalar_one()


def pledge(session: Session, ref: str) -> Pledge:
    return session.execute(select(Pledge).where(Pledge.ref == ref)).scalar_one()


def test_folder_imports_every_kind(session: Session, tmp_path: Path) -> None:
    start = table_counts(session)
    report = run(session, write_scenario(tmp_path / "sc"))

    expected = {("scenario.toml" if k == "scenario.toml" else f"{k}.csv"): n for k, n in BASE_COUNTS.items()}
    assert by_file(report) == {name: (n, n, 0, 0) for name, n in expected.items()}
    assert [f.kind for f in report.files] == [
        "scenario",
        "regions",
        "hubs",
        "catalogue",
        "donors",
        "organisations",
        "sites",
        "needs",
        "pledges",
        "transit",
    ]
    added = {name: n - start[name] for name, n in table_counts(session).items()}
    assert added == {
        "ScenarioInfo": 0 if start["ScenarioInfo"] else 1,
        "Region": 3,
        "Hub": 2,
        "TransitOverride": 2,
        "Item": 3,
        "Organisation": 4,
        "Site": 2,
        "Need": 4,
        "Pledge": 3,
        "Event": sum(BASE_COUNTS.values()),
    }
    info = session.execute(select(ScenarioInfo)).scalar_one()
    assert (info.name, info.plan_date.isoformat(), info.description) == (
        "test-land",
        "2022-11-29",
        "a small test scenario",
    )
    kharkiv = session.execute(select(Region).where(Region.code == "UA-63")).scalar_one()
    assert (kharkiv.name_local, kharkiv.population, kharkiv.lat, kharkiv.lon) == (
        "Харків",
        2600000,
        49.99,
        36.23,
    )
    lviv = session.execute(select(Region).where(Region.code == "UA-46")).scalar_one()
    assert lviv.population is None
    assert lviv.name_local is None
    gen = session.execute(select(Item).where(Item.code == "GEN-100KW")).scalar_one()
    assert (gen.provides, gen.factor, gen.indivisible, gen.unit_value_eur) == (
        "POWER-KW",
        Decimal(100),
        True,
        Decimal(25000),
    )
    blanket = session.execute(select(Item).where(Item.code == "BLANKET")).scalar_one()
    assert blanket.indivisible is True
    assert blanket.unit_value_eur == Decimal("12.5")

    orgs = {o.code: o for o in session.execute(select(Organisation)).scalars()}
    assert orgs["FR"].is_donor
    assert not orgs["FR"].is_recipient
    assert orgs["FR"].kind is OrgKind.STATE
    assert orgs["UA-MOH"].is_recipient
    assert not orgs["UA-MOH"].is_donor
    assert orgs["UA-MOH"].kind is OrgKind.AUTHORITY
    assert orgs["NATO-CAP"].country is None

    h1 = session.execute(select(Site).where(Site.code == "H1")).scalar_one()
    w1 = session.execute(select(Site).where(Site.code == "W1")).scalar_one()
    assert h1.sensitivity is Sensitivity.RESTRICTED
    assert h1.org is not None
    assert h1.org.code == "UA-MOH"
    assert w1.sensitivity is Sensitivity.PUBLIC
    assert w1.org_id is None
    assert w1.people_served is None

    n1, n2, n4 = need(session, "N1"), need(session, "N2"), need(session, "N4")
    assert (n1.site, n1.org_id) == (h1, h1.org_id), "a need at a site belongs to the site's authority"
    assert n1.people_served is None
    assert n1.effective_people_served == 50000
    assert (n1.priority, n1.deadline is not None, n1.quantity) == (Priority.CRITICAL, True, Decimal(500))
    assert (n2.quantity, n2.deadline, n2.people_served, n2.notes) == (
        Decimal("10000.5"),
        None,
        1000,
        "fuel for boilers",
    )
    assert n4.capability == "NOTHING-PROVIDES-THIS", "a capability no item provides is accepted (no_supply)"

    p1, p2, p3 = pledge(session, "P1"), pledge(session, "P2"), pledge(session, "P3")
    assert (p1.donor.code, p1.item.code, p1.units, p1.hub.code) == ("FR", "GEN-100KW", Decimal(3), "RZE")
    assert (p1.channel, p1.status, p1.value_eur) == (
        Channel.BILATERAL,
        PledgeStatus.CONFIRMED,
        Decimal(75000),
    )
    assert (p2.units, p2.available, p2.channel, p2.status) == (
        Decimal("5000.25"),
        None,
        Channel.OTHER,
        PledgeStatus.CONFIRMED,
    )
    assert (p3.channel, p3.status) == (Channel.NATO_CAP, PledgeStatus.PROPOSED)

    transit = {(t.hub_id, t.region_id): t.days for t in session.execute(select(TransitOverride)).scalars()}
    rze = session.execute(select(Hub).where(Hub.code == "RZE")).scalar_one()
    assert transit[(rze.id, lviv.id)] == 1
    assert len(transit) == 2

    actions = session.execute(select(Event.action, Event.entity, Event.entity_ref).order_by(Event.id)).all()
    assert {a for a, _, _ in actions} == {"import.create"}
    assert ("import.create", "need", "N1") in actions
    assert ("import.create", "pledge", "P3") in actions
    assert verify(session).ok


def test_reimport_changes_nothing(session: Session, tmp_path: Path) -> None:
    folder = write_scenario(tmp_path / "sc")
    run(session, folder)
    before = table_counts(session)
    versions = {n.ref: n.version for n in session.execute(select(Need)).scalars()}

    report = run(session, folder)

    assert all(f.created == f.updated == 0 and f.unchanged == f.rows for f in report.files)
    assert report.total("unchanged") == sum(BASE_COUNTS.values())
    assert table_counts(session) == before, "no row and no audit event written"
    assert {n.ref: n.version for n in session.execute(select(Need)).scalars()} == versions


def test_changed_rows_are_updated_with_an_audit_event(session: Session, tmp_path: Path) -> None:
    files = base()
    run(session, write_scenario(tmp_path / "one", files))
    set_cell(files["needs"], "N2", "quantity", "7000")
    set_cell(files["needs"], "N2", "deadline", "2022-12-31")
    set_cell(files["pledges"], "P3", "status", "withdrawn")
    files["needs"].append(["N5", "UA-46", "", "POWER-KW", "100", "low", "", "", ""])
    events_before = table_counts(session)["Event"]

    report = run(session, write_scenario(tmp_path / "two", files))

    assert by_file(report)["needs.csv"] == (5, 1, 1, 3)
    assert by_file(report)["pledges.csv"] == (3, 0, 1, 2)
    assert need(session, "N2").quantity == 7000
    assert need(session, "N2").deadline is not None
    assert pledge(session, "P3").status is PledgeStatus.WITHDRAWN
    new_events = (
        session.execute(select(Event).where(Event.id > events_before).order_by(Event.id)).scalars().all()
    )
    assert [(e.action, e.entity, e.entity_ref) for e in new_events] == [
        ("import.create", "need", "N5"),
        ("import.update", "need", "N2"),
        ("import.update", "pledge", "P3"),
    ]
    update = new_events[1]
    assert update.before is not None
    assert update.after is not None
    assert Decimal(update.before["quantity"]) == Decimal("10000.5")
    assert Decimal(update.after["quantity"]) == 7000
    assert update.before["deadline"] is None
    assert update.after["deadline"] == "2022-12-31"
    assert update.actor == ACTOR
    assert verify(session).ok


def test_xlsx_scenario_imports_the_same_rows(session: Session, tmp_path: Path) -> None:
    report = run(session, write_scenario(tmp_path / "x", fmt="xlsx"))
    assert report.total("created") == sum(BASE_COUNTS.values())
    assert {f.file for f in report.files} >= {"needs.xlsx", "pledges.xlsx", "catalogue.xlsx"}
    assert need(session, "N1").deadline is not None
    assert need(session, "N2").quantity == Decimal("10000.5")

    again = run(session, write_scenario(tmp_path / "c"))  # the same scenario as CSV finds nothing to change

    assert again.total("unchanged") == sum(BASE_COUNTS.values())
    assert again.total("updated") == 0


def test_xlsx_with_text_cells_imports_too(session: Session, tmp_path: Path) -> None:
    folder = tmp_path / "x"
    write_scenario(folder, {})
    for kind, rows in base().items():
        write_xlsx(folder / f"{kind}.xlsx", rows, typed=False)
    assert run(session, folder).total("created") == sum(BASE_COUNTS.values())


def test_hxl_row_is_skipped_and_rows_keep_spreadsheet_numbers(session: Session, tmp_path: Path) -> None:
    files = base()
    files["regions"].insert(
        1, ["#adm1 +code", "#adm1+name", "#adm1+name+i_uk", "#population", "#geo+lat", ""]
    )
    files["needs"].insert(
        1,
        [
            "#sector+id",
            "#adm1+code",
            "#loc",
            "#item+type",
            "#value",
            "#priority",
            "#date",
            "#affected",
            "#meta+notes",
        ],
    )
    report = run(session, write_scenario(tmp_path / "ok", files))
    assert by_file(report)["regions.csv"][:2] == (3, 3)
    assert by_file(report)["needs.csv"][:2] == (4, 4)

    set_cell(files["needs"], "N2", "quantity", "-1")  # N2 is the second data row: spreadsheet row 4
    with pytest.raises(ImportInvalid) as caught:
        run(session, write_scenario(tmp_path / "bad", files))
    assert [(p.file, p.row, p.column) for p in caught.value.problems] == [("needs.csv", 4, "quantity")]


def test_hxl_row_in_xlsx_is_skipped(session: Session, tmp_path: Path) -> None:
    files = base()
    files["hubs"].insert(1, ["#loc+code", "#loc+name", "#country+code", "#geo+lat", "#geo+lon"])
    folder = write_scenario(
        tmp_path / "x",
        {k: v for k, v in files.items() if k in ("regions", "hubs")},
        fmt="xlsx",
        scenario_toml=None,
    )
    assert by_file(run(session, folder))["hubs.xlsx"] == (2, 2, 0, 0)


def test_bom_header_case_order_and_x_columns(session: Session, tmp_path: Path) -> None:
    folder = tmp_path / "sc"
    write_scenario(folder)
    regions = base()["regions"]
    regions = [[row[i] for i in (5, 4, 3, 2, 1, 0)] for row in regions]
    regions[0] = [f" {name.upper()} " for name in regions[0]]
    write_csv(folder / "regions.csv", add_column(regions, "x_source", "OCHA COD"), bom=True)
    needs = add_column(base()["needs"], "X_Comment", "anything at all")
    write_csv(folder / "needs.csv", needs)

    report = run(session, folder)

    assert by_file(report)["regions.csv"] == (3, 3, 0, 0)
    kharkiv = session.execute(select(Region).where(Region.code == "UA-63")).scalar_one()
    assert (kharkiv.name, kharkiv.lat) == ("Kharkiv", 49.99)


def test_single_file_kind_from_name_or_option(session: Session, tmp_path: Path) -> None:
    run(session, write_scenario(tmp_path / "sc"))
    update = [base()["needs"][0], ["N9", "UA-63", "", "POWER-KW", "300", "high", "", "", ""]]

    by_name = run(session, write_csv(tmp_path / "needs-update-3.csv", update))
    assert [(f.file, f.kind, f.created) for f in by_name.files] == [("needs-update-3.csv", "needs", 1)]

    update[1][4] = "350"
    by_option = run(session, write_csv(tmp_path / "latest.csv", update), kind="needs")
    assert [(f.kind, f.updated) for f in by_option.files] == [("needs", 1)]
    assert need(session, "N9").quantity == 350

    with pytest.raises(ImportPathInvalid):
        run(session, tmp_path / "latest.csv")
    with pytest.raises(ImportPathInvalid):
        run(session, tmp_path / "latest.csv", kind="shoes")
    with pytest.raises(ImportPathInvalid):
        run(session, tmp_path / "missing.csv")
    with pytest.raises(ImportPathInvalid):
        run(session, tmp_path / "sc", kind="needs")


def test_single_scenario_toml_updates_the_one_scenario(session: Session, tmp_path: Path) -> None:
    run(session, write_scenario(tmp_path / "sc"))
    toml = tmp_path / "scenario.toml"
    toml.write_text('name = "other-land"\nplan_date = "2023-01-15"\n', encoding="utf-8")

    report = run(session, toml)

    assert by_file(report) == {"scenario.toml": (1, 0, 1, 0)}
    info = session.execute(select(ScenarioInfo)).scalar_one()
    assert (info.name, info.plan_date.isoformat()) == ("other-land", "2023-01-15")
    assert info.description == "a small test scenario", "a key left out keeps its value"


def test_organisation_in_donors_and_organisations_is_one_row(session: Session, tmp_path: Path) -> None:
    files = base()
    files["organisations"].append(["DE", "Germany", "", ""])
    report = run(session, write_scenario(tmp_path / "sc", files))

    germany = session.execute(select(Organisation).where(Organisation.code == "DE")).scalar_one()
    assert germany.is_donor
    assert germany.is_recipient
    assert germany.kind is OrgKind.STATE
    assert by_file(report)["organisations.csv"] == (2, 2, 0, 0)
    assert run(session, tmp_path / "sc").total("updated") == 0

    donor_only = tmp_path / "donors-more.csv"
    write_csv(donor_only, [["code", "name", "kind"], ["UA-MOH", "Ministry of Health of Ukraine", "ngo"]])
    run(session, donor_only)
    moh = session.execute(select(Organisation).where(Organisation.code == "UA-MOH")).scalar_one()
    assert (moh.is_donor, moh.is_recipient) == (True, True), "each file sets its own flag and keeps the other"


def test_need_org_column_and_inheritance(session: Session, tmp_path: Path) -> None:
    files = base()
    add_column(files["needs"], "org")
    set_cell(files["needs"], "N2", "org", "UA-MOH")
    run(session, write_scenario(tmp_path / "sc", files))
    moh = session.execute(select(Organisation).where(Organisation.code == "UA-MOH")).scalar_one()
    assert need(session, "N2").org_id == moh.id
    assert need(session, "N1").org_id == moh.id, "inherited from site H1"
    assert need(session, "N4").org_id is None, "site W1 has no org"


def test_absent_optional_column_keeps_values_empty_cell_clears(session: Session, tmp_path: Path) -> None:
    run(session, write_scenario(tmp_path / "sc"))
    needs = base()["needs"]
    without_notes = [row[:8] for row in needs]
    assert run(session, write_csv(tmp_path / "needs-a.csv", without_notes)).total("unchanged") == 4
    assert need(session, "N2").notes == "fuel for boilers"

    set_cell(needs, "N2", "notes", "")
    report = run(session, write_csv(tmp_path / "needs-b.csv", needs))
    assert report.total("updated") == 1
    assert need(session, "N2").notes is None


def test_need_quantity_may_drop_below_what_lines_cover(session: Session, tmp_path: Path) -> None:
    run(session, write_scenario(tmp_path / "sc"))
    needs = base()["needs"]
    set_cell(needs, "N1", "quantity", "1")
    assert run(session, write_csv(tmp_path / "needs.csv", needs)).total("updated") == 1


def test_pledge_units_must_cover_committed_units(session: Session, tmp_path: Path) -> None:
    run(session, write_scenario(tmp_path / "sc"))
    p2 = pledge(session, "P2")
    p2.committed_units = Decimal("4000")  # as if accepted lines held 4000 units
    session.flush()
    pledges = base()["pledges"]
    set_cell(pledges, "P2", "units", "3999.5")
    before = table_counts(session)

    with pytest.raises(ImportInvalid) as caught:
        run(session, write_csv(tmp_path / "pledges.csv", pledges))

    assert [(p.file, p.row, p.column, p.value) for p in caught.value.problems] == [
        ("pledges.csv", 3, "units", "3999.5")
    ]
    assert table_counts(session) == before
    assert pledge(session, "P2").units == Decimal("5000.25")
    set_cell(pledges, "P2", "units", "4000")
    assert run(session, write_csv(tmp_path / "pledges.csv", pledges)).total("updated") == 1


def test_folder_skips_foreign_files_and_reports_them(session: Session, tmp_path: Path) -> None:
    folder = write_scenario(tmp_path / "sc")
    (folder / "README.md").write_text("about this scenario", encoding="utf-8")
    write_csv(folder / "contacts.csv", [["name"], ["someone"]])
    report = run(session, folder)
    assert report.skipped == ("contacts.csv",)
    assert report.total("created") == sum(BASE_COUNTS.values())


def test_references_resolve_against_the_database(session: Session, tmp_path: Path) -> None:
    files = base()
    run(
        session,
        write_scenario(tmp_path / "a", {k: v for k, v in files.items() if k not in ("needs", "pledges")}),
    )
    report = run(
        session,
        write_scenario(
            tmp_path / "b", {"needs": files["needs"], "pledges": files["pledges"]}, scenario_toml=None
        ),
    )
    assert by_file(report) == {"needs.csv": (4, 4, 0, 0), "pledges.csv": (3, 3, 0, 0)}


def test_import_events_chain_with_single_events(session: Session, tmp_path: Path) -> None:
    start = table_counts(session)["Event"]
    record(session, actor="someone", action="test.event", entity="test", entity_ref="before-import")
    run(session, write_scenario(tmp_path / "sc"))
    record(session, actor="someone", action="test.event", entity="test", entity_ref="after-import")
    report = verify(session)
    assert report.ok, report.problem
    assert report.events == start + sum(BASE_COUNTS.values()) + 2


def test_item_of_a_pledge_with_accepted_lines_cannot_change(session: Session, tmp_path: Path) -> None:
    run(session, write_scenario(tmp_path / "sc"))
    pledge(session, "P1").committed_units = Decimal(1)
    session.flush()
    pledges = base()["pledges"]
    set_cell(pledges, "P1", "item", "BLANKET")
    with pytest.raises(ImportInvalid) as caught:
        run(session, write_csv(tmp_path / "pledges.csv", pledges))
    assert [(p.row, p.column, p.value) for p in caught.value.problems] == [(2, "item", "BLANKET")]


def test_a_pledge_with_accepted_lines_cannot_be_withdrawn_by_an_import(session: Session, tmp_path: Path) -> None:
    run(session, write_scenario(tmp_path / "sc"))
    pledge(session, "P1").committed_units = Decimal(2)  # as if accepted lines held 2 of its 3 generators
    session.flush()
    pledges = base()["pledges"]
    set_cell(pledges, "P1", "status", "withdrawn")
    before = table_counts(session)
    with pytest.raises(ImportInvalid) as caught:
        run(session, write_csv(tmp_path / "pledges.csv", pledges))
    assert [(p.row, p.column, p.value) for p in caught.value.problems] == [(2, "status", "withdrawn")]
    assert "reject or deliver them" in caught.value.problems[0].expected
    assert table_counts(session) == before
    assert pledge(session, "P1").status is PledgeStatus.CONFIRMED


def test_a_need_that_accepted_lines_serve_keeps_its_capability_and_region(session: Session,
                                                                          tmp_path: Path) -> None:
    from aidpack.allocation.models import LineStatus
    from tests.factories import make_line

    run(session, write_scenario(tmp_path / "sc"))
    make_line(session, pledge=pledge(session, "P1"), need=need(session, "N1"), units=1, status=LineStatus.ACCEPTED)
    needs = base()["needs"]
    set_cell(needs, "N1", "capability", "DIESEL-L")
    set_cell(needs, "N1", "region", "UA-30")
    set_cell(needs, "N1", "site", "")
    set_cell(needs, "N2", "capability", "BLANKET")  # no fixed lines: may change
    with pytest.raises(ImportInvalid) as caught:
        run(session, write_csv(tmp_path / "needs.csv", needs))
    assert [(p.row, p.column, p.value) for p in caught.value.problems] == [
        (2, "capability", "DIESEL-L"), (2, "region", "UA-30")]
    assert need(session, "N2").capability == "DIESEL-L"  # nothing written
    set_cell(needs, "N1", "capability", "POWER-KW")
    set_cell(needs, "N1", "region", "UA-63")
    set_cell(needs, "N1", "quantity", "400")  # the rest of the row may change
    assert run(session, write_csv(tmp_path / "needs.csv", needs)).total("updated") == 2


def test_a_need_may_ask_for_less_than_its_accepted_lines_bring(session: Session, tmp_path: Path) -> None:
    # After a strike a need can shrink too (people evacuated, a line repaired): the import records it, as the API
    # does; the accepted lines stay until a coordinator rejects them.
    from aidpack.allocation.models import LineStatus
    from tests.factories import make_line

    run(session, write_scenario(tmp_path / "sc"))
    line = make_line(session, pledge=pledge(session, "P1"), need=need(session, "N1"), units=2,
                     status=LineStatus.ACCEPTED)
    needs = base()["needs"]
    set_cell(needs, "N1", "quantity", "150")  # the two accepted generators bring 200 kW
    assert run(session, write_csv(tmp_path / "needs.csv", needs)).total("updated") == 1
    assert need(session, "N1").quantity == Decimal("150")
    assert line.status is LineStatus.ACCEPTED


def test_an_item_whose_pledges_have_accepted_lines_keeps_what_it_provides(session: Session,
                                                                           tmp_path: Path) -> None:
    # It could change: accepted generators then brought 100 "WATER-L" each to a POWER-KW need.
    from aidpack.allocation.models import LineStatus
    from tests.factories import make_line

    run(session, write_scenario(tmp_path / "sc"))
    make_line(session, pledge=pledge(session, "P1"), need=need(session, "N1"), units=1, status=LineStatus.ACCEPTED)
    catalogue = base()["catalogue"]
    set_cell(catalogue, "GEN-100KW", "provides", "WATER-L")
    set_cell(catalogue, "GEN-100KW", "factor", "120")
    set_cell(catalogue, "BLANKET", "factor", "2")  # no accepted lines: may change
    before = table_counts(session)
    with pytest.raises(ImportInvalid) as caught:
        run(session, write_csv(tmp_path / "catalogue.csv", catalogue))
    assert [(p.row, p.column, p.value) for p in caught.value.problems] == [
        (2, "provides", "WATER-L"), (2, "factor", "120")]
    assert table_counts(session) == before
    set_cell(catalogue, "GEN-100KW", "provides", "POWER-KW")
    set_cell(catalogue, "GEN-100KW", "factor", "100.0")
    set_cell(catalogue, "GEN-100KW", "name", "Generator, 100 kW")  # the rest of the row may change
    assert run(session, write_csv(tmp_path / "catalogue.csv", catalogue)).total("updated") == 2


def test_a_site_moves_to_another_region_only_with_its_needs(session: Session, tmp_path: Path) -> None:
    run(session, write_scenario(tmp_path / "sc"))  # N1 is at H1, both in UA-63
    files = base()
    set_cell(files["sites"], "H1", "region", "UA-30")
    before = table_counts(session)
    with pytest.raises(ImportInvalid) as caught:
        run(session, write_csv(tmp_path / "sites.csv", files["sites"]))
    assert [(p.file, p.row, p.column, p.value) for p in caught.value.problems] == [("sites.csv", 2, "region", "UA-30")]
    assert "N1" in caught.value.problems[0].expected
    assert table_counts(session) == before
    set_cell(files["needs"], "N1", "region", "UA-30")  # the need moves with it, in the same import
    moved = run(session, write_scenario(tmp_path / "moved", {"sites": files["sites"], "needs": files["needs"]},
                                        scenario_toml=None))
    assert moved.total("updated") == 2
    assert need(session, "N1").region.code == "UA-30"


def test_a_workbook_of_several_sheets_of_data_not_named_for_kinds_is_refused_and_an_empty_one_beside_its_sheet_is_not(
    session: Session, tmp_path: Path
) -> None:
    from openpyxl import load_workbook

    run(session, write_scenario(tmp_path / "sc"))
    path = write_xlsx(tmp_path / "needs.xlsx", base()["needs"])  # its one sheet is called "Sheet"
    book = load_workbook(path)
    book.create_sheet("notes")  # empty: nothing
    book.save(path)
    assert run(session, path).total("unchanged") == len(base()["needs"]) - 1
    book["notes"].append(["ref", "region"])  # a second sheet of data: the sheets' names must say their kinds
    book["notes"]["A2"] = "N9"
    book.save(path)
    before = table_counts(session)
    with pytest.raises(ImportInvalid) as caught:
        run(session, path)
    assert [(p.file, p.sheet, p.row, p.value) for p in caught.value.problems] == [
        ("needs.xlsx", "Sheet", None, "Sheet"), ("needs.xlsx", "notes", None, "notes")]
    assert all("regions" in p.expected and "pledges" in p.expected for p in caught.value.problems)
    assert table_counts(session) == before


def test_a_utf_16_file_is_told_to_be_saved_as_csv_utf_8(session: Session, tmp_path: Path) -> None:
    path = tmp_path / "needs.csv"
    path.write_text("\n".join(",".join(row) for row in base()["needs"]), encoding="utf-16")
    with pytest.raises(ImportInvalid) as caught:
        run(session, path)
    assert [(p.value, p.expected) for p in caught.value.problems] == [
        ("UTF-16", "UTF-8 text (save the file as 'CSV UTF-8')")]


def test_a_need_whose_site_cell_says_restricted_keeps_its_site_notes_and_people_served(
    session: Session, tmp_path: Path
) -> None:
    files = base()
    set_cell(files["needs"], "N1", "notes", "generator for the ICU")
    run(session, write_scenario(tmp_path / "sc", files))
    events = table_counts(session)["Event"]
    # As the HXL publication writes a need at a restricted site: no site, no notes, the effective people served.
    needs = base()["needs"]
    set_cell(needs, "N1", "site", RESTRICTED_SITE)
    set_cell(needs, "N1", "people_served", "50000")
    needs.append(["N8", "UA-63", RESTRICTED_SITE, "POWER-KW", "100", "high", "", "900", ""])

    report = run(session, write_csv(tmp_path / "needs-published.csv", needs))

    assert (report.total("created"), report.total("updated"), report.total("unchanged")) == (1, 0, 4)
    n1 = need(session, "N1")
    assert (n1.site.code if n1.site else None, n1.notes, n1.people_served) == ("H1", "generator for the ICU", None)
    n8 = need(session, "N8")  # a need new to the database gets no site: the file does not name one
    assert (n8.site_id, n8.people_served) == (None, 900)
    assert table_counts(session)["Event"] == events + 1

    set_cell(needs, "N1", "quantity", "600")  # the rest of the row still updates the need
    assert run(session, write_csv(tmp_path / "needs-edited.csv", needs)).total("updated") == 1
    n1 = need(session, "N1")
    assert (n1.quantity, n1.site.code if n1.site else None) == (Decimal(600), "H1")


def test_a_need_whose_restricted_site_is_left_out_stays_in_its_region_and_no_site_takes_the_marker_as_code(
    session: Session, tmp_path: Path
) -> None:
    run(session, write_scenario(tmp_path / "sc"))
    needs = base()["needs"]
    set_cell(needs, "N1", "site", RESTRICTED_SITE)
    set_cell(needs, "N1", "region", "UA-30")
    sites = [base()["sites"][0], [RESTRICTED_SITE, "Somewhere", "UA-63", "", "", "", "", "", ""]]
    before = table_counts(session)

    with pytest.raises(ImportInvalid) as caught:
        run(session, write_scenario(tmp_path / "bad", {"sites": sites, "needs": needs}, scenario_toml=None))

    assert [(p.file, p.row, p.column, p.value) for p in caught.value.problems] == [
        ("sites.csv", 2, "code", RESTRICTED_SITE), ("needs.csv", 2, "region", "UA-30")]
    assert caught.value.problems[1].expected.startswith("UA-63, the region of the need's restricted site")
    assert table_counts(session) == before
