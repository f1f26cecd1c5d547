"""Consumables: the catalogue's ``consumes`` column, what a plan's generators burn, and those as needs."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from aidpack.allocation.consumables import BadConsumableDays, consumable_ref
from aidpack.allocation.service import run_plan
from aidpack.catalogue.models import Item, parse_consumes
from aidpack.ingest.errors import ImportInvalid
from aidpack.ingest.service import import_path
from aidpack.needs.models import Need, Priority
from tests.factories import PLAN_DATE, make_hub, make_item, make_need, make_pledge, make_region, unique


def test_parse_consumes_reads_capability_amount_pairs() -> None:
    assert parse_consumes("DIESEL-L:648") == {"DIESEL-L": Decimal(648)}
    assert parse_consumes(" DIESEL-L : 648 ; OIL-L:1.5 ") == {"DIESEL-L": Decimal(648), "OIL-L": Decimal("1.5")}
    assert parse_consumes(None) == {}
    for bad in ("DIESEL-L", "DIESEL-L:-1", "DIESEL-L:0", ":5", "DIESEL-L:abc", "A:1;A:2", "DIESEL-L:nan"):
        assert parse_consumes(bad) is None, bad


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


def generator_scenario(session: Session) -> tuple[Need, str, Item]:
    power, diesel = unique("POWER-KW"), unique("DIESEL-L")
    generator = make_item(session, provides=power, factor=Decimal(100), indivisible=True,
                          consumes=f"{diesel}:648")
    fuel = make_item(session, provides=diesel, factor=Decimal(1), indivisible=False)
    region, hub = make_region(session), make_hub(session)
    hospital = make_need(session, region=region, capability=power, quantity=Decimal(200), priority=Priority.HIGH,
                         people_served=5000)
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
