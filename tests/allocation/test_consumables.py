"""Consumables: the catalogue's ``consumes`` column, what a plan's generators burn, and those as needs."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from aidpack.allocation.consumables import (
    MAX_REF,
    BadConsumableDays,
    BadStoredConsumes,
    ConsumptionTooLarge,
    consumable_ref,
)
from aidpack.allocation.models import LineStatus, Plan
from aidpack.allocation.service import run_plan
from aidpack.audit.models import Event
from aidpack.catalogue.models import Item, parse_consumes
from aidpack.db import alembic_config
from aidpack.ingest.errors import ImportInvalid
from aidpack.ingest.service import import_path
from aidpack.needs.models import Need, NeedStatus, Priority
from aidpack.pledges.models import Pledge, PledgeStatus
from tests.factories import (
    PLAN_DATE,
    isolated_database,
    make_hub,
    make_item,
    make_line,
    make_need,
    make_pledge,
    make_region,
    unique,
)


def test_parse_consumes_reads_capability_amount_pairs() -> None:
    assert parse_consumes("DIESEL-L:648") == {"DIESEL-L": Decimal(648)}
    assert parse_consumes(" DIESEL-L : 648 ; OIL-L:1.5 ") == {"DIESEL-L": Decimal(648), "OIL-L": Decimal("1.5")}
    assert parse_consumes(None) == {}
    for bad in ("DIESEL-L", "DIESEL-L:-1", "DIESEL-L:0", ":5", "DIESEL-L:abc", "A:1;A:2", "DIESEL-L:nan"):
        assert parse_consumes(bad) is None, bad


def test_parse_consumes_refuses_amounts_a_quantity_cannot_hold() -> None:
    assert parse_consumes("DIESEL-L:1000000") == {"DIESEL-L": Decimal(10**6)}
    assert parse_consumes("DIESEL-L:0.000001") == {"DIESEL-L": Decimal("0.000001")}
    for bad in ("DIESEL-L:1e400", "DIESEL-L:1e15", "DIESEL-L:1000000.5", "DIESEL-L:0.0000001", "DIESEL-L:1e-400",
                "DIESEL-L:648;OIL-L:2e6"):
        assert parse_consumes(bad) is None, bad


def test_the_catalogue_import_reports_an_absurd_consumes_on_its_row(session: Session, tmp_path: Path) -> None:
    path = tmp_path / "catalogue.csv"
    path.write_text(
        "code,name,category,unit,provides,factor,indivisible,consumes\n"
        f"{unique('GEN')},Generator,energy,unit,POWER-KW,100,true,DIESEL-L:648\n"
        f"{unique('GEN')},Generator,energy,unit,POWER-KW,100,true,DIESEL-L:1e400\n"
        f"{unique('GEN')},Generator,energy,unit,POWER-KW,100,true,DIESEL-L:0.1234567\n",
        encoding="utf-8",
    )
    with pytest.raises(ImportInvalid) as caught:
        import_path(session, path=path, kind=None, actor="test")
    problems = caught.value.context["errors"]
    assert [(p["row"], p["column"], p["value"]) for p in problems] == [
        (3, "consumes", "DIESEL-L:1e400"), (4, "consumes", "DIESEL-L:0.1234567"),
    ]


def test_the_catalogue_imports_consumes_and_refuses_a_bad_one(session: Session, tmp_path: Path) -> None:
    code = unique("GEN")
    good = tmp_path / "catalogue.csv"
    good.write_text(
        "code,name,category,unit,provides,factor,indivisible,consumes\n"
        f"{code},Diesel generator 100 kW,energy,unit,POWER-KW,100,true,DIESEL-L:648\n",
        encoding="utf-8",
    )
    import_path(session, path=good, kind=None, actor="test")
    item = session.execute(select(Item).where(Item.code == code)).scalar_one()
    assert item.consumes == "DIESEL-L:648"

    bad = tmp_path / "catalogue-bad.csv"
    bad.write_text(
        "code,name,category,unit,provides,factor,indivisible,consumes\n"
        f"{unique('GEN')},Generator,energy,unit,POWER-KW,30,true,diesel please\n",
        encoding="utf-8",
    )
    with pytest.raises(ImportInvalid) as caught:
        import_path(session, path=bad, kind=None, actor="test")
    problems = caught.value.context["errors"]
    assert [(p["row"], p["column"], p["value"]) for p in problems] == [(2, "consumes", "diesel please")]


def generator_scenario(session: Session, *, ref: str | None = None, consumes: str | None = None
                       ) -> tuple[Need, str, Item]:
    power, diesel = unique("POWER-KW"), unique("DIESEL-L")
    generator = make_item(session, provides=power, factor=Decimal(100), indivisible=True,
                          consumes=consumes or f"{diesel}:648")
    fuel = make_item(session, provides=diesel, factor=Decimal(1), indivisible=False)
    region, hub = make_region(session), make_hub(session)
    hospital = make_need(session, region=region, capability=power, quantity=Decimal(200), priority=Priority.HIGH,
                         people_served=5000, ref=ref or unique("NEED"))
    make_pledge(session, item=generator, hub=hub, units=Decimal(2))
    make_pledge(session, item=fuel, hub=hub, units=Decimal(100_000))
    return hospital, diesel, generator


def test_a_plan_reports_the_fuel_its_generators_burn(session: Session) -> None:
    _, diesel, _ = generator_scenario(session)
    plan = run_plan(session, actor="test", plan_date=PLAN_DATE, consumable_days=30)
    assert plan.figures["consumables"] == {"days": 30, "implied": {diesel: 2 * 648 * 30.0}, "added_needs": 0}
    assert session.execute(select(Need).where(Need.capability == diesel)).first() is None


def test_with_consumables_adds_the_fuel_as_needs_of_the_same_tier_and_plans_it(session: Session) -> None:
    hospital, diesel, _ = generator_scenario(session)
    plan = run_plan(session, actor="test", plan_date=PLAN_DATE, consumable_days=10, with_consumables=True)
    fuel_need = session.execute(select(Need).where(Need.ref == consumable_ref(hospital.ref, diesel))).scalar_one()
    assert fuel_need.quantity == Decimal(2 * 648 * 10)
    assert fuel_need.priority is Priority.HIGH
    assert fuel_need.region_id == hospital.region_id
    assert fuel_need.people_served == 5000
    assert plan.figures["consumables"]["added_needs"] == 1
    brought = sum(line.amount for line in plan.lines if line.need_id == fuel_need.id)
    assert brought == Decimal(2 * 648 * 10)
    # Planning again updates the same need rather than adding another.
    run_plan(session, actor="test", plan_date=PLAN_DATE, consumable_days=5, with_consumables=True)
    session.refresh(fuel_need)
    assert fuel_need.quantity == Decimal(2 * 648 * 5)
    assert len(session.execute(select(Need).where(Need.capability == diesel)).all()) == 1


def test_days_must_be_positive(session: Session) -> None:
    generator_scenario(session)
    with pytest.raises(BadConsumableDays):
        run_plan(session, actor="test", plan_date=PLAN_DATE, consumable_days=0)


def test_days_must_be_a_finite_number(session: Session) -> None:
    generator_scenario(session)
    for days in (float("inf"), float("nan")):
        with pytest.raises(BadConsumableDays):
            run_plan(session, actor="test", plan_date=PLAN_DATE, consumable_days=days, with_consumables=True)


def test_fuel_more_than_a_need_can_hold_is_refused_before_anything_is_written(session: Session) -> None:
    _, diesel, _ = generator_scenario(session)
    # 2 generators × 648 l × 1e10 days = 1.3e13 l: over the 9.2e12 a quantity (scaled BIGINT) can store.
    with pytest.raises(ConsumptionTooLarge) as caught:
        run_plan(session, actor="test", plan_date=PLAN_DATE, consumable_days=1e10, with_consumables=True)
    assert caught.value.context["capability"] == diesel
    assert session.execute(select(Need).where(Need.capability == diesel)).first() is None


def test_an_absurd_consumes_stored_before_the_rule_is_reported_not_ignored(session: Session) -> None:
    _, _, generator = generator_scenario(session)
    generator.consumes = "DIESEL-L:1e15"
    session.flush()
    with pytest.raises(BadStoredConsumes) as caught:
        run_plan(session, actor="test", plan_date=PLAN_DATE, consumable_days=7)
    assert caught.value.context == {"item": generator.code, "consumes": "DIESEL-L:1e15"}


def fuel_needs(session: Session, served: Need) -> dict[str, Need]:
    """The consumable needs of ``served``, by capability."""
    found = session.execute(select(Need).where(Need.consumed_by_need_id == served.id)).scalars()
    return {need.capability: need for need in found}


def test_a_coordinators_need_with_the_fuel_needs_ref_is_never_touched(session: Session) -> None:
    hospital, diesel, _ = generator_scenario(session)
    blankets = make_need(session, ref=f"{hospital.ref}~{diesel}", capability="BLANKET", quantity=Decimal(40),
                         priority=Priority.LOW)
    before = (blankets.capability, blankets.quantity, blankets.priority, blankets.version, blankets.status)

    plan = run_plan(session, actor="test", plan_date=PLAN_DATE, consumable_days=10, with_consumables=True)

    session.refresh(blankets)
    assert (blankets.capability, blankets.quantity, blankets.priority, blankets.version, blankets.status) == before
    assert blankets.consumed_by_need_id is None
    fuel = fuel_needs(session, hospital)[diesel]
    assert fuel.ref != blankets.ref
    assert fuel.ref.startswith(f"{hospital.ref}~")
    assert len(fuel.ref) <= MAX_REF
    assert fuel.quantity == Decimal(2 * 648 * 10)
    assert sum(line.amount for line in plan.lines if line.need_id == fuel.id) == Decimal(2 * 648 * 10)
    # Planning again finds the fuel need by what it is, and still leaves the blankets alone.
    run_plan(session, actor="test", plan_date=PLAN_DATE, consumable_days=5, with_consumables=True)
    session.refresh(blankets)
    assert (blankets.capability, blankets.quantity, blankets.priority, blankets.version, blankets.status) == before
    assert {c: n.quantity for c, n in fuel_needs(session, hospital).items()} == {diesel: Decimal(2 * 648 * 5)}


def test_two_consumables_of_a_long_ref_get_two_needs(session: Session) -> None:
    lube = unique("DIESEL-LUBE")
    diesel = unique("DIESEL-L")
    long_ref = unique("NEED").ljust(MAX_REF - 2, "X")
    hospital, _, _ = generator_scenario(session, ref=long_ref, consumes=f"{diesel}:648;{lube}:2")

    added = run_plan(session, actor="test", plan_date=PLAN_DATE, consumable_days=10,
                     with_consumables=True).figures["consumables"]["added_needs"]

    needs = fuel_needs(session, hospital)
    assert added == 2
    assert {c: n.quantity for c, n in needs.items()} == {diesel: Decimal(2 * 648 * 10), lube: Decimal(2 * 2 * 10)}
    refs = [n.ref for n in needs.values()]
    assert len(set(refs)) == 2
    assert all(len(ref) <= MAX_REF and ref.startswith(long_ref[:40]) for ref in refs)
    assert consumable_ref(long_ref, diesel) == consumable_ref(long_ref, diesel)  # stable


def two_hospitals(session: Session) -> tuple[Need, Need, str, Pledge]:
    """A critical and a low hospital of 100 kW each, two 100 kW generators (648 l a day each), fuel enough."""
    power, diesel = unique("POWER-KW"), unique("DIESEL-L")
    generator = make_item(session, provides=power, factor=Decimal(100), indivisible=True, consumes=f"{diesel}:648")
    fuel = make_item(session, provides=diesel, factor=Decimal(1), indivisible=False)
    region, hub = make_region(session), make_hub(session)
    first = make_need(session, region=region, capability=power, quantity=Decimal(100), priority=Priority.CRITICAL)
    second = make_need(session, region=region, capability=power, quantity=Decimal(100), priority=Priority.LOW)
    generators = make_pledge(session, item=generator, hub=hub, units=Decimal(2))
    make_pledge(session, item=fuel, hub=hub, units=Decimal(100_000))
    return first, second, diesel, generators


def brought(plan: Plan, need: Need) -> Decimal:
    return sum((line.amount for line in plan.lines if line.need_id == need.id), Decimal(0))


def test_a_fuel_need_the_generators_left_is_cancelled_and_reopened_when_they_come_back(session: Session) -> None:
    first, second, diesel, generators = two_hospitals(session)
    run_plan(session, actor="test", plan_date=PLAN_DATE, consumable_days=10, with_consumables=True)
    stale = fuel_needs(session, second)[diesel]
    assert stale.quantity == Decimal(648 * 10)

    generators.units = Decimal(1)  # the one generator left goes to the critical hospital
    session.flush()
    plan = run_plan(session, actor="test", plan_date=PLAN_DATE, consumable_days=10, with_consumables=True)

    session.refresh(stale)
    assert stale.status is NeedStatus.CANCELLED
    assert brought(plan, stale) == 0
    assert plan.figures["consumables"]["added_needs"] == 1  # the cancellation; the first's fuel is unchanged
    assert fuel_needs(session, first)[diesel].status is NeedStatus.OPEN
    event = session.execute(
        select(Event).where(Event.entity_ref == stale.ref).order_by(Event.id.desc()).limit(1)
    ).scalar_one()
    assert event.action == "need.update"
    assert (event.before or {})["status"] == "open"
    assert (event.after or {})["status"] == "cancelled"

    generators.units = Decimal(2)
    session.flush()
    plan = run_plan(session, actor="test", plan_date=PLAN_DATE, consumable_days=5, with_consumables=True)

    session.refresh(stale)
    assert (stale.status, stale.quantity) == (NeedStatus.OPEN, Decimal(648 * 5))
    assert brought(plan, stale) == Decimal(648 * 5)
    assert len(fuel_needs(session, second)) == 1


def test_a_fuel_need_the_generators_left_keeps_what_accepted_lines_bring(session: Session) -> None:
    _, second, diesel, generators = two_hospitals(session)
    plan = run_plan(session, actor="test", plan_date=PLAN_DATE, consumable_days=10, with_consumables=True)
    stale = fuel_needs(session, second)[diesel]
    fuel_line = next(line for line in plan.lines if line.need_id == stale.id)
    make_line(session, pledge=fuel_line.pledge, need=stale, units=Decimal(1000), status=LineStatus.ACCEPTED)

    generators.units = Decimal(1)
    session.flush()
    plan = run_plan(session, actor="test", plan_date=PLAN_DATE, consumable_days=10, with_consumables=True)

    session.refresh(stale)
    assert (stale.status, stale.quantity) == (NeedStatus.OPEN, Decimal(1000))
    assert brought(plan, stale) == 0  # nothing more is planned for it


BEFORE_CONSUMED_BY = "3c9f2b7d1e4a"


def upgrade_to(engine: Engine, revision: str) -> None:
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


@pytest.fixture
def engine_before_consumed_by(backend: str, tmp_path: Path) -> Iterator[Engine]:
    """A database of its own at the revision before ``needs.consumed_by_need_id``."""
    with isolated_database(backend, tmp_path, migrated=False) as (_, engine):
        upgrade_to(engine, BEFORE_CONSUMED_BY)
        yield engine


def test_the_migration_links_the_fuel_needs_written_before_it_and_nothing_else(
    engine_before_consumed_by: Engine,
) -> None:
    notes = "DIESEL-L for 10 days of use of what plan lines send to N-1 (from 2022-11-29)"
    rows = [  # id, ref, capability, notes
        (1, "N-1", "POWER-KW", None),
        (2, "N-1~DIESEL-L", "DIESEL-L", notes),  # written by --with-consumables
        (3, "N-1~BLANKET", "BLANKET", "warm ones"),  # a coordinator's
        (4, "N-1~OIL-L", "OIL-L", "OIL-L, see N-1"),  # a coordinator's, with the pattern's ref
    ]
    with engine_before_consumed_by.begin() as connection:
        connection.execute(text("INSERT INTO regions (id, code, name, lat, lon) VALUES (1, 'R1', 'Region', 50, 30)"))
        for need_id, ref, capability, need_notes in rows:
            connection.execute(
                text("INSERT INTO needs (id, ref, region_id, capability, quantity, priority, notes, status, version) "
                     "VALUES (:id, :ref, 1, :capability, 1000000, 'high', :notes, 'open', 1)"),
                {"id": need_id, "ref": ref, "capability": capability, "notes": need_notes},
            )

    upgrade_to(engine_before_consumed_by, "head")

    with engine_before_consumed_by.connect() as connection:
        rows_after = connection.execute(text("SELECT id, consumed_by_need_id FROM needs ORDER BY id")).all()
    linked = {row.id: row.consumed_by_need_id for row in rows_after}
    assert linked == {1: None, 2: 1, 3: None, 4: None}


def test_every_fuel_need_is_cancelled_when_no_generator_is_left_at_all(session: Session) -> None:
    first, second, diesel, generators = two_hospitals(session)
    run_plan(session, actor="test", plan_date=PLAN_DATE, consumable_days=10, with_consumables=True)
    fuel = [fuel_needs(session, first)[diesel], fuel_needs(session, second)[diesel]]

    generators.status = PledgeStatus.WITHDRAWN  # the plan implies no fuel at all now
    session.flush()
    plan = run_plan(session, actor="test", plan_date=PLAN_DATE, consumable_days=10, with_consumables=True)

    assert plan.figures["consumables"] == {"days": 10, "implied": {}, "added_needs": 2}
    for need in fuel:
        session.refresh(need)
        assert need.status is NeedStatus.CANCELLED
        assert brought(plan, need) == 0
