"""run_plan on the real database (SQLite and PostgreSQL): loading, fixed lines, persistence, SPEC §4 output."""

from __future__ import annotations

import datetime as dt
import gc
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aidpack.allocation import service
from aidpack.allocation.models import Line, LineStatus, Plan, PlanNeed, Termination
from aidpack.allocation.service import PlanNotFound, get_plan, plan_payload, run_plan
from aidpack.audit.models import Event
from aidpack.audit.service import verify
from aidpack.geography.models import TransitOverride
from aidpack.needs.models import NeedStatus, Priority
from aidpack.pledges.models import PledgeStatus
from tests.factories import PLAN_DATE, make_hub, make_item, make_line, make_need, make_pledge, make_region, unique

SPEC_KEYS = {"plan", "status", "plan_date", "tiers", "lines", "needs", "solve_seconds", "gap"}


def plan_for(session: Session, **kwargs: object) -> dict[str, object]:
    plan = run_plan(session, actor="test", plan_date=PLAN_DATE, **kwargs)  # type: ignore[arg-type]
    return plan_payload(session, plan)


def mine(payload: dict[str, object], key: str, refs: set[str], field: str) -> list[dict[str, object]]:
    rows = payload[key]
    assert isinstance(rows, list)
    return [row for row in rows if row[field] in refs]


def test_a_plan_covers_needs_with_whole_generators_and_reports_spec_json(session: Session) -> None:
    capability = unique("POWER-KW")
    gen = make_item(session, provides=capability, factor=Decimal(100), indivisible=True)
    region = make_region(session, lat=50.45, lon=30.52)  # Kyiv
    hub = make_hub(session, lat=50.11, lon=22.019)  # Rzeszów-Jasionka: 1 + ceil(1.3 * 604 / 500) = 3 days
    hospital = make_need(session, region=region, capability=capability, quantity=Decimal(250), people_served=5000)
    shelter = make_need(session, region=region, capability=capability, quantity=Decimal(100),
                        priority=Priority.HIGH, people_served=300)
    pledge = make_pledge(session, item=gen, hub=hub, units=Decimal(3))

    payload = plan_for(session)

    assert set(payload) == SPEC_KEYS
    assert payload["status"] == "optimal"
    assert payload["plan_date"] == "2022-11-29"
    lines = mine(payload, "lines", {pledge.ref}, "pledge")
    assert lines == [
        {"id": lines[0]["id"], "pledge": pledge.ref, "need": hospital.ref, "units": 3, "amount": 300.0,
         "eta": "2022-12-02", "status": "proposed"},
    ]
    needs = {n["ref"]: n for n in mine(payload, "needs", {hospital.ref, shelter.ref}, "ref")}
    assert needs[hospital.ref]["covered"] == 250.0
    assert needs[hospital.ref]["reason"] is None
    assert needs[shelter.ref]["covered"] == 0.0
    assert needs[shelter.ref]["reason"] == "outcompeted"
    assert needs[shelter.ref]["detail"] == {"taken_by": [hospital.ref]}


def test_accepted_lines_are_fixed_their_units_gone_and_their_amounts_counted(session: Session) -> None:
    capability = unique("DIESEL-L")
    diesel = make_item(session, provides=capability, factor=Decimal(1), indivisible=False)
    need = make_need(session, capability=capability, quantity=Decimal(1000))
    pledge = make_pledge(session, item=diesel, units=Decimal(700))
    earlier = make_line(session, pledge=pledge, need=need, units=Decimal(400), status=LineStatus.ACCEPTED)

    payload = plan_for(session)

    lines = mine(payload, "lines", {pledge.ref}, "pledge")
    new = [line for line in lines if line["status"] == "proposed"]
    kept = [line for line in lines if line["status"] == "accepted"]
    assert kept == [{**kept[0], "id": str(earlier.id), "units": 400}]
    assert [line["units"] for line in new] == [300]  # 700 units, 400 of them already accepted
    (row,) = mine(payload, "needs", {need.ref}, "ref")
    assert row["quantity"] == 1000.0
    assert row["covered"] == 700.0
    assert row["reason"] == "short_supply"


def test_only_confirmed_pledges_unless_proposed_are_asked_for_and_never_withdrawn(session: Session) -> None:
    capability = unique("KIT")
    kit = make_item(session, provides=capability, factor=Decimal(1), indivisible=True)
    need = make_need(session, capability=capability, quantity=Decimal(30))
    proposed = make_pledge(session, item=kit, units=Decimal(10), status=PledgeStatus.PROPOSED)
    withdrawn = make_pledge(session, item=kit, units=Decimal(10), status=PledgeStatus.WITHDRAWN)
    confirmed = make_pledge(session, item=kit, units=Decimal(10))
    refs = {proposed.ref, withdrawn.ref, confirmed.ref}

    default = plan_for(session)
    assert {line["pledge"] for line in mine(default, "lines", refs, "pledge")} == {confirmed.ref}
    widened = plan_for(session, include_proposed=True)
    assert {line["pledge"] for line in mine(widened, "lines", refs, "pledge")} == {confirmed.ref, proposed.ref}
    (row,) = mine(widened, "needs", {need.ref}, "ref")
    assert row["covered"] == 20.0


def test_transit_override_replaces_the_distance_rule(session: Session) -> None:
    capability = unique("TENT")
    tent = make_item(session, provides=capability, factor=Decimal(1), indivisible=True)
    region = make_region(session, lat=50.45, lon=30.52)
    hub = make_hub(session, lat=50.11, lon=22.019)
    deadline = PLAN_DATE + dt.timedelta(days=2)  # the rule gives 3 days: too late without the override
    need = make_need(session, region=region, capability=capability, quantity=Decimal(5), deadline=deadline)
    pledge = make_pledge(session, item=tent, hub=hub, units=Decimal(5))

    late = plan_for(session)
    (row,) = mine(late, "needs", {need.ref}, "ref")
    assert row["reason"] == "too_late"
    assert row["detail"] == {"earliest_eta": "2022-12-02"}

    session.add(TransitOverride(hub_id=hub.id, region_id=region.id, days=1))
    session.flush()
    fast = plan_for(session)
    (line,) = mine(fast, "lines", {pledge.ref}, "pledge")
    assert line["eta"] == "2022-11-30"


def test_cancelled_needs_and_unknown_capabilities(session: Session) -> None:
    capability = unique("WATER-PUMP")
    cancelled = make_need(session, capability=capability, status=NeedStatus.CANCELLED)
    lonely = make_need(session, capability=capability)
    payload = plan_for(session)
    assert mine(payload, "needs", {cancelled.ref}, "ref") == []
    (row,) = mine(payload, "needs", {lonely.ref}, "ref")
    assert row["reason"] == "no_supply"


def test_a_plan_is_saved_with_its_audit_event_and_read_back_the_same(session: Session) -> None:
    capability = unique("BLANKET")
    blanket = make_item(session, provides=capability, factor=Decimal(1), indivisible=True)
    make_need(session, capability=capability, quantity=Decimal(40))
    make_pledge(session, item=blanket, units=Decimal(25))
    events_before = session.scalar(select(func.count()).select_from(Event))

    plan = run_plan(session, actor="coordinator@test", plan_date=PLAN_DATE)

    assert plan.status is Termination.OPTIMAL
    assert session.scalar(select(func.count()).select_from(Event)) == (events_before or 0) + 1
    event = session.execute(select(Event).order_by(Event.id.desc()).limit(1)).scalar_one()
    assert (event.action, event.entity, event.entity_ref, event.actor) == (
        "plan.create", "plan", str(plan.id), "coordinator@test",
    )
    assert verify(session).ok
    assert plan_payload(session, get_plan(session, plan.id)) == plan_payload(session, plan)
    latest = get_plan(session)
    assert latest.id == session.scalar(select(func.max(Plan.id)))


def test_same_data_gives_the_same_lines(session: Session) -> None:
    capability = unique("HEATER")
    heater = make_item(session, provides=capability, factor=Decimal(1), indivisible=True)
    region = make_region(session)
    needs = [make_need(session, region=region, capability=capability, quantity=Decimal(7 + i % 3),
                       people_served=100 + i % 4) for i in range(10)]
    pledges = [make_pledge(session, item=heater, units=Decimal(9)) for _ in range(4)]
    refs = {p.ref for p in pledges}
    first = [(x["pledge"], x["need"], x["units"]) for x in mine(plan_for(session), "lines", refs, "pledge")]
    second = [(x["pledge"], x["need"], x["units"]) for x in mine(plan_for(session), "lines", refs, "pledge")]
    assert first == second
    assert sum(units for _, _, units in first) == 36  # type: ignore[misc]
    assert len(needs) == 10


def test_a_plan_runs_without_the_cyclic_garbage_collector_and_leaves_it_as_it_was(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    capability = unique("BLANKET")
    make_need(session, capability=capability, quantity=Decimal(4))
    make_pledge(session, item=make_item(session, provides=capability, factor=Decimal(1)), units=Decimal(4))
    seen: list[bool] = []
    allocate = service._allocate

    def watched(*args: Any, **kwargs: Any) -> Any:
        seen.append(gc.isenabled())
        return allocate(*args, **kwargs)

    monkeypatch.setattr(service, "_allocate", watched)
    run_plan(session, actor="test", plan_date=PLAN_DATE)
    assert seen == [False]
    assert gc.isenabled()

    def failing(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the engine broke")

    monkeypatch.setattr(service, "_allocate", failing)
    with pytest.raises(RuntimeError):
        run_plan(session, actor="test", plan_date=PLAN_DATE)
    assert gc.isenabled()
    gc.disable()
    try:
        monkeypatch.setattr(service, "_allocate", watched)
        run_plan(session, actor="test", plan_date=PLAN_DATE)
        assert not gc.isenabled()  # found off, left off
    finally:
        gc.enable()


def test_unknown_plan_is_a_clear_not_found(session: Session) -> None:
    with pytest.raises(PlanNotFound) as caught:
        get_plan(session, 10**9)
    assert caught.value.code == "PLAN_NOT_FOUND"
    assert "does not exist" in caught.value.detail


def test_quantities_with_six_decimals_are_saved_exactly_in_lines_and_outcomes(session: Session) -> None:
    # Lines and outcomes are written in bulk as pre-scaled integers: nothing may drift in the last decimal.
    capability = unique("FUEL-T")
    fuel = make_item(session, provides=capability, factor=Decimal("0.001"), indivisible=False)
    region = make_region(session, lat=50.45, lon=30.52)
    hub = make_hub(session, lat=50.11, lon=22.019)
    need = make_need(session, region=region, capability=capability, quantity=Decimal("1234.567891"))
    pledge = make_pledge(session, item=fuel, hub=hub, units=Decimal("9999999.999999"))

    plan = run_plan(session, actor="test", plan_date=PLAN_DATE)

    (line,) = session.execute(select(Line).where(Line.plan_id == plan.id, Line.pledge_id == pledge.id)).scalars()
    assert line.units == Decimal("1234567.891000")
    assert line.amount == Decimal("1234.567891")
    outcome = session.get(PlanNeed, (plan.id, need.id))
    assert outcome is not None
    assert outcome.open_quantity == Decimal("1234.567891")
    assert outcome.covered_new == Decimal("1234.567891")
    assert outcome.covered_fixed == Decimal(0)


def test_a_plans_lines_and_outcomes_are_stored_as_the_orm_reads_them(session: Session) -> None:
    # Lines and outcomes are written in one driver executemany (aidpack.db.bulk_insert): the date, the
    # status enum, the scaled quantities and the JSON detail read back through the ORM on every backend.
    capability = unique("FUEL")
    fuel = make_item(session, provides=capability, factor=Decimal(1), indivisible=False)
    region = make_region(session, lat=50.45, lon=30.52)
    hub = make_hub(session, lat=50.11, lon=22.019)  # 3 days by the rule
    late = make_need(session, region=region, capability=capability, quantity=Decimal(10),
                     deadline=PLAN_DATE + dt.timedelta(days=1))
    served = make_need(session, region=region, capability=capability, quantity=Decimal("2.5"))
    make_pledge(session, item=fuel, hub=hub, units=Decimal("7.25"))
    plan = run_plan(session, actor="tester", plan_date=PLAN_DATE)
    session.expire_all()
    lines = session.scalars(select(Line).where(Line.plan_id == plan.id)).all()
    mine = [line for line in lines if line.need_id == served.id]
    assert len(mine) == 1
    assert mine[0].status is LineStatus.PROPOSED
    assert mine[0].units == Decimal("2.5")
    assert isinstance(mine[0].eta, dt.date)
    assert mine[0].eta >= PLAN_DATE
    outcome = session.get(PlanNeed, (plan.id, late.id))
    assert outcome is not None
    assert outcome.reason is not None
    assert outcome.reason.value == "too_late"
    assert outcome.detail == {"earliest_eta": mine[0].eta.isoformat()}
    assert outcome.open_quantity == Decimal("10")
    kept = session.get(PlanNeed, (plan.id, served.id))
    assert kept is not None
    assert kept.reason is None
    assert kept.detail is None
    assert kept.covered_new == Decimal("2.5")
