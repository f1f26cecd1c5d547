"""`allocate --what-if FILE` saves nothing; `plan diff A B` shows what moved and who gains or loses."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aidpack.allocation.decisions import accept_lines, reject_lines
from aidpack.allocation.diff import NeedChange, NothingToCompare, diff_saved, gains_and_losses, what_if
from aidpack.allocation.models import Line, Plan
from aidpack.allocation.service import UnknownFairness, run_plan
from aidpack.audit.models import Event
from aidpack.needs.models import Need
from aidpack.pledges.models import Pledge, PledgeStatus
from tests.factories import PLAN_DATE, make_hub, make_item, make_need, make_org, make_pledge, make_region, unique

SPEC_KEYS = {"plan", "status", "plan_date", "tiers", "lines", "needs", "solve_seconds", "gap"}


def scenario(session: Session) -> tuple[Pledge, Need, Need]:
    capability = unique("KIT")
    item = make_item(session, provides=capability, factor=Decimal(1), indivisible=True)
    region, hub, donor = make_region(session), make_hub(session), make_org(session, is_donor=True)
    big = make_need(session, region=region, capability=capability, quantity=Decimal(10), people_served=1000)
    small = make_need(session, region=region, capability=capability, quantity=Decimal(10), people_served=10)
    pledge = make_pledge(session, item=item, hub=hub, donor=donor, units=Decimal(15))
    return pledge, big, small


def counts(session: Session) -> tuple[int, int, int, int]:
    return (
        session.execute(select(func.count(Plan.id))).scalar_one(),
        session.execute(select(func.count(Line.id))).scalar_one(),
        session.execute(select(func.count(Need.id))).scalar_one(),
        session.execute(select(func.count(Event.id))).scalar_one(),
    )


def test_what_if_plans_with_the_changes_and_saves_nothing(session: Session, tmp_path: Path) -> None:
    pledge, big, small = scenario(session)
    first = run_plan(session, actor="test", plan_date=PLAN_DATE)
    before = counts(session)
    # The donor withdraws the pledge and a new need is filed.
    changes = tmp_path / "changes"
    changes.mkdir()
    (changes / "pledges.csv").write_text(
        "ref,donor,item,units,hub,status\n"
        f"{pledge.ref},{pledge.donor.code},{pledge.item.code},{pledge.units},{pledge.hub.code},withdrawn\n",
        encoding="utf-8",
    )
    new_ref = unique("NEW")
    (changes / "needs.csv").write_text(
        "ref,region,capability,quantity,priority,people_served\n"
        f"{new_ref},{big.region.code},{big.capability},5,critical,20\n",
        encoding="utf-8",
    )
    found = what_if(session, path=changes, actor="test", plan_date=PLAN_DATE)
    payload, diff = found.payload, found.diff

    assert set(payload) == SPEC_KEYS
    assert payload["plan"] == "what-if"
    assert all(line["id"] is None for line in payload["lines"])  # nothing was saved: no line has an id
    assert found.compared_with == first.id
    mine = {row["ref"]: row for row in payload["needs"] if row["ref"] in {big.ref, small.ref, new_ref}}
    assert mine[big.ref]["covered"] == 0.0
    assert mine[new_ref]["reason"] == "no_supply"  # the only pledge of its capability is withdrawn
    assert diff is not None
    assert diff["moved_units"] == 15.0
    assert {row["need"] for row in diff["losses"]} == {big.ref, small.ref}
    # Nothing was saved: same plans, lines, needs and audit events; the pledge is still confirmed.
    assert counts(session) == before
    session.refresh(pledge)
    assert pledge.status is PledgeStatus.CONFIRMED
    assert session.execute(select(Need).where(Need.ref == new_ref)).first() is None


def test_a_need_covered_in_full_in_both_plans_or_within_the_solvers_tolerance_neither_gains_nor_loses() -> None:
    def change(ref: str, before: float, after: float, quantity: float = 100.0) -> NeedChange:
        return NeedChange(ref, "critical", "R", "DIESEL-L", quantity, before, after, 1_000, quantity)

    full_more, full_less = change("FULL+", 100.0, 120.0), change("FULL-", 130.0, 110.0)
    tolerance = change("LP-TOLERANCE", 99.99999, 100.0)  # a fair plan's LP holds tiers to 1e-7
    gained, lost = change("GAINED", 50.0, 75.0), change("LOST", 100.0, 60.0)
    gains, losses = gains_and_losses([full_more, full_less, tolerance, gained, lost])
    assert gains == [gained]
    assert losses == [lost]
    assert gained.people_delta == pytest.approx(250.0)


def test_plan_diff_names_moved_units_and_who_gains_or_loses(session: Session) -> None:
    pledge, big, small = scenario(session)
    first = run_plan(session, actor="test", plan_date=PLAN_DATE)
    # A larger need appears for many more people: the units move to it.
    urgent = make_need(session, region=big.region, capability=big.capability, quantity=Decimal(10),
                       people_served=100_000)
    second = run_plan(session, actor="test", plan_date=PLAN_DATE)
    found = diff_saved(session, before_id=first.id, after_id=second.id).as_dict()
    assert found["before"] == str(first.id)
    assert found["after"] == str(second.id)
    assert [row["need"] for row in found["gains"]] == [urgent.ref]
    assert found["gains"][0]["people_served_change"] == pytest.approx(100_000.0)
    assert {row["need"] for row in found["losses"]} <= {big.ref, small.ref}
    assert found["moved_units"] == 10.0
    assert found["tiers"]["critical"]["change"] > 0
    # Without A: the plan before B.
    assert diff_saved(session, before_id=None, after_id=second.id).before == str(first.id)
    assert pledge.units == Decimal(15)


def test_diff_of_the_first_plan_alone_is_refused(session: Session) -> None:
    scenario(session)
    plan = run_plan(session, actor="test", plan_date=PLAN_DATE)
    earlier = session.execute(select(func.count(Plan.id)).where(Plan.id < plan.id)).scalar_one()
    if earlier == 0:
        with pytest.raises(NothingToCompare):
            diff_saved(session, before_id=None, after_id=plan.id)


def test_a_what_if_takes_the_options_allocate_takes(session: Session, tmp_path: Path) -> None:
    pledge, big, _ = scenario(session)
    run_plan(session, actor="test", plan_date=PLAN_DATE)
    before = counts(session)
    changes = tmp_path / "needs.csv"
    changes.write_text("ref,region,capability,quantity,priority,people_served\n"
                       f"{unique('NEW')},{big.region.code},{big.capability},5,critical,20\n", encoding="utf-8")
    fair = what_if(session, path=changes, actor="test", plan_date=PLAN_DATE, fair="regions")
    assert "fairness" in fair.figures
    with pytest.raises(UnknownFairness):
        what_if(session, path=changes, actor="test", plan_date=PLAN_DATE, fair="donors")
    fresh = what_if(session, path=changes, actor="test", plan_date=PLAN_DATE, stable=False)
    assert fresh.figures.get("moved_units") is None  # no previous plan preferred
    assert counts(session) == before


def test_a_diff_reads_each_plan_as_it_was_made(session: Session) -> None:
    _, big, small = scenario(session)
    first = run_plan(session, actor="test", plan_date=PLAN_DATE)
    # Accepting the first plan's lines changes nothing that a plan did: the next plan keeps them, nothing moves,
    # nobody gains or loses (SPEC's V_t counts the open part of a need, so the plans' own tier figures differ).
    accept_lines(session, actor="test", plan_id=first.id, line_ids=None)
    second = run_plan(session, actor="test", plan_date=PLAN_DATE)
    same = diff_saved(session, before_id=first.id, after_id=second.id)
    assert (same.moved_units, same.gains, same.losses) == (0.0, [], [])
    assert all(values["change"] == 0.0 for values in same.tiers.values())
    # A need that grows is read at its quantity in each plan: its loss is the tier's.
    small.quantity = Decimal(100)
    session.flush()
    third = run_plan(session, actor="test", plan_date=PLAN_DATE)
    grown = diff_saved(session, before_id=second.id, after_id=third.id)
    assert [change.ref for change in grown.losses] == [small.ref]
    assert grown.losses[0].quantity_before == 10.0
    tier = grown.losses[0].priority
    assert grown.tiers[tier]["change"] == pytest.approx(grown.losses[0].people_delta)
    # Rejecting a line later does not rewrite what its plan proposed.
    before_reject = diff_saved(session, before_id=first.id, after_id=third.id).as_dict()
    reject_lines(session, actor="test", plan_id=third.id, line_ids=None)
    assert diff_saved(session, before_id=first.id, after_id=third.id).as_dict() == before_reject
    assert big.quantity == Decimal(10)
