"""Consumables of equipment already in the field: every line accepted or later counts, whatever its pledge's
status now (a pledge withdrawn or back to ``proposed`` does not take back generators shipped or delivered),
with the units that arrived usable once received; lines on cancelled needs ask for nothing."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aidpack.allocation.diff import what_if
from aidpack.allocation.models import Line, LineStatus, Plan
from aidpack.allocation.service import run_plan
from aidpack.logistics.models import Condition
from aidpack.logistics.service import mark_delivered, receive_shipment, ship_lines
from aidpack.needs.models import Need, NeedStatus, Priority
from aidpack.pledges.models import Pledge, PledgeStatus
from tests.factories import (
    PLAN_DATE,
    make_hub,
    make_item,
    make_line,
    make_need,
    make_pledge,
    make_region,
    unique,
)

#: Litres of diesel one 5 kW generator burns a day in these scenarios.
RATE = 10


@dataclass
class Field:
    hospital: Need
    diesel: str
    generators: Pledge
    line: Line


def in_the_field(
    session: Session,
    *,
    pledge_status: PledgeStatus = PledgeStatus.CONFIRMED,
    line_status: LineStatus = LineStatus.DELIVERED,
    units: int = 6,
    spare: int = 0,
) -> Field:
    """QA's repro of D5: a critical 500 kW need, ``units`` 5 kW generators (10 l a day each) of one pledge
    already sent to it by a line of ``line_status``, ``spare`` more units pledged, then the pledge set to
    ``pledge_status``; diesel enough for anything."""
    power, diesel = unique("POWER-KW"), unique("DIESEL-L")
    generator = make_item(session, provides=power, factor=Decimal(5), indivisible=True, consumes=f"{diesel}:{RATE}")
    fuel = make_item(session, provides=diesel, factor=Decimal(1), indivisible=False)
    region, hub = make_region(session), make_hub(session)
    hospital = make_need(session, region=region, capability=power, quantity=Decimal(500), priority=Priority.CRITICAL,
                         people_served=100)
    generators = make_pledge(session, item=generator, hub=hub, units=Decimal(units + spare))
    line = make_line(session, pledge=generators, need=hospital, units=units, status=line_status)
    make_pledge(session, item=fuel, hub=hub, units=Decimal(100_000))
    generators.status = pledge_status
    session.flush()
    return Field(hospital, diesel, generators, line)


def fuel_needs(session: Session, served: Need) -> list[Need]:
    return list(session.execute(select(Need).where(Need.consumed_by_need_id == served.id)).scalars())


def brought(plan: Plan, need: Need) -> Decimal:
    return sum((line.amount for line in plan.lines if line.need_id == need.id), Decimal(0))


@pytest.mark.parametrize("line_status", [LineStatus.ACCEPTED, LineStatus.DISPATCHED, LineStatus.DELIVERED,
                                         LineStatus.RECEIVED])
@pytest.mark.parametrize("pledge_status", list(PledgeStatus))
def test_generators_in_the_field_need_fuel_whatever_their_pledges_status_now(
    session: Session, pledge_status: PledgeStatus, line_status: LineStatus
) -> None:
    field = in_the_field(session, pledge_status=pledge_status, line_status=line_status)

    plan = run_plan(session, actor="test", plan_date=PLAN_DATE, consumable_days=1, with_consumables=True)

    assert plan.figures["consumables"] == {"days": 1, "implied": {field.diesel: 6.0 * RATE}, "added_needs": 1}
    [fuel] = fuel_needs(session, field.hospital)
    assert (fuel.capability, fuel.quantity, fuel.status) == (field.diesel, Decimal(6 * RATE), NeedStatus.OPEN)
    assert fuel.priority is Priority.CRITICAL
    assert brought(plan, fuel) == Decimal(6 * RATE)


@pytest.mark.parametrize("pledge_status", [PledgeStatus.PROPOSED, PledgeStatus.WITHDRAWN])
def test_the_report_alone_counts_generators_in_the_field_too(session: Session, pledge_status: PledgeStatus) -> None:
    field = in_the_field(session, pledge_status=pledge_status)

    plan = run_plan(session, actor="test", plan_date=PLAN_DATE, consumable_days=7)

    assert plan.figures["consumables"] == {"days": 7, "implied": {field.diesel: 6.0 * RATE * 7}, "added_needs": 0}
    assert fuel_needs(session, field.hospital) == []


def test_a_proposed_pledges_new_lines_and_its_lines_in_the_field_each_count_once(session: Session) -> None:
    field = in_the_field(session, pledge_status=PledgeStatus.PROPOSED, spare=4)

    without = run_plan(session, actor="test", plan_date=PLAN_DATE, consumable_days=1)
    with_proposed = run_plan(session, actor="test", plan_date=PLAN_DATE, consumable_days=1, include_proposed=True)

    assert without.figures["consumables"]["implied"] == {field.diesel: 6.0 * RATE}
    assert sum(line.units for line in with_proposed.lines if line.need_id == field.hospital.id
               and line.status is LineStatus.PROPOSED) == 4
    assert with_proposed.figures["consumables"]["implied"] == {field.diesel: 10.0 * RATE}


def receive(session: Session, line: Line, units: Decimal) -> None:
    shipment = ship_lines(session, actor="test", line_ids=[line.id], donor_org_id=None)
    mark_delivered(session, actor="test", shipment_id=shipment.id)
    receive_shipment(session, actor="test", shipment_id=shipment.id, received={line.id: units},
                     condition=Condition.GOOD, recipient_org_id=None)
    session.refresh(line)
    assert (line.status, line.received_units) == (LineStatus.RECEIVED, units)


@pytest.mark.parametrize("pledge_status", list(PledgeStatus))
def test_a_short_receipt_counts_the_generators_that_arrived(session: Session, pledge_status: PledgeStatus) -> None:
    field = in_the_field(session, line_status=LineStatus.ACCEPTED)
    receive(session, field.line, Decimal(4))  # 2 of the 6 never arrived
    field.generators.status = pledge_status
    session.flush()

    plan = run_plan(session, actor="test", plan_date=PLAN_DATE, consumable_days=1, with_consumables=True)

    assert plan.figures["consumables"]["implied"] == {field.diesel: 4.0 * RATE}
    [fuel] = fuel_needs(session, field.hospital)
    assert fuel.quantity == Decimal(4 * RATE)


def test_nothing_received_asks_no_fuel(session: Session) -> None:
    field = in_the_field(session, line_status=LineStatus.ACCEPTED)
    receive(session, field.line, Decimal(0))

    plan = run_plan(session, actor="test", plan_date=PLAN_DATE, consumable_days=1, with_consumables=True)

    assert plan.figures["consumables"] == {"days": 1, "implied": {}, "added_needs": 0}
    assert fuel_needs(session, field.hospital) == []


def test_planning_again_keeps_one_fuel_need_for_generators_in_the_field(session: Session) -> None:
    field = in_the_field(session, pledge_status=PledgeStatus.WITHDRAWN)
    first = run_plan(session, actor="test", plan_date=PLAN_DATE, consumable_days=1, with_consumables=True)
    [fuel] = fuel_needs(session, field.hospital)
    fuel_line = next(line for line in first.lines if line.need_id == fuel.id)
    fuel_line.status = LineStatus.ACCEPTED  # the fuel is on its way
    fuel_line.pledge.committed_units += fuel_line.units
    session.flush()

    again = run_plan(session, actor="test", plan_date=PLAN_DATE, consumable_days=1, with_consumables=True)
    fair = run_plan(session, actor="test", plan_date=PLAN_DATE, consumable_days=1, with_consumables=True,
                    fair="regions")

    for plan in (again, fair):
        assert plan.figures["consumables"] == {"days": 1, "implied": {field.diesel: 6.0 * RATE}, "added_needs": 0}
        assert brought(plan, fuel) == 0  # what is on its way covers it
    assert [(n.id, n.quantity, n.status) for n in fuel_needs(session, field.hospital)] == [
        (fuel.id, Decimal(6 * RATE), NeedStatus.OPEN)
    ]


def test_fair_plans_count_generators_in_the_field(session: Session) -> None:
    field = in_the_field(session, pledge_status=PledgeStatus.WITHDRAWN, line_status=LineStatus.DISPATCHED)

    plan = run_plan(session, actor="test", plan_date=PLAN_DATE, consumable_days=2, with_consumables=True,
                    fair="regions")

    assert plan.figures["consumables"]["implied"] == {field.diesel: 6.0 * RATE * 2}
    [fuel] = fuel_needs(session, field.hospital)
    assert brought(plan, fuel) == Decimal(6 * RATE * 2)


def test_a_what_if_counts_generators_in_the_field_and_saves_nothing(session: Session, tmp_path: Path) -> None:
    field = in_the_field(session, pledge_status=PledgeStatus.WITHDRAWN)
    run_plan(session, actor="test", plan_date=PLAN_DATE)
    needs_before = session.execute(select(func.count(Need.id))).scalar_one()
    changes = tmp_path / "needs.csv"
    changes.write_text("ref,region,capability,quantity,priority,people_served\n"
                       f"{unique('NEW')},{field.hospital.region.code},BLANKET,5,low,20\n", encoding="utf-8")

    result = what_if(session, path=changes, actor="test", plan_date=PLAN_DATE, consumable_days=1,
                     with_consumables=True)

    assert result.figures["consumables"] == {"days": 1, "implied": {field.diesel: 6.0 * RATE}, "added_needs": 1}
    fuel_lines = [line for line in result.payload["lines"] if line["status"] == LineStatus.PROPOSED.value
                  and line["need"] != field.hospital.ref]
    assert sum(line["units"] for line in fuel_lines) == 6 * RATE
    assert session.execute(select(func.count(Need.id))).scalar_one() == needs_before


def test_generators_on_a_cancelled_need_ask_no_fuel_and_its_fuel_need_is_cancelled(session: Session) -> None:
    field = in_the_field(session, pledge_status=PledgeStatus.WITHDRAWN)
    run_plan(session, actor="test", plan_date=PLAN_DATE, consumable_days=1, with_consumables=True)
    [fuel] = fuel_needs(session, field.hospital)

    field.hospital.status = NeedStatus.CANCELLED
    session.flush()
    report = run_plan(session, actor="test", plan_date=PLAN_DATE, consumable_days=1)
    plan = run_plan(session, actor="test", plan_date=PLAN_DATE, consumable_days=1, with_consumables=True)

    assert report.figures["consumables"]["implied"] == {}
    assert plan.figures["consumables"] == {"days": 1, "implied": {}, "added_needs": 1}
    session.refresh(fuel)
    assert fuel.status is NeedStatus.CANCELLED
    assert brought(plan, fuel) == 0
