"""Real concurrent transactions on PostgreSQL: nothing over-used, nothing lost, the audit chain intact.

Each worker thread has its own session on its own connection and commits its own transaction. The data
lives in a schema of its own (``isolated_database``), committed and dropped afterwards: the rolled-back
``session`` fixture cannot be shared between connections.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from aidpack.allocation.decisions import PlanStale, accept_lines
from aidpack.allocation.models import Line, LineStatus
from aidpack.audit.models import Event
from aidpack.audit.service import verify
from aidpack.db import make_session_factory, unit_of_work
from aidpack.errors import DomainError
from aidpack.logistics.models import Condition, Discrepancy, Shipment, ShipmentStatus
from aidpack.logistics.service import receive_shipment, ship_lines
from aidpack.logistics.status import progress_for_needs
from aidpack.pledges.models import Pledge
from tests.factories import (
    PLAN_DATE,
    isolated_database,
    make_line,
    make_need,
    make_plan,
    make_plan_need,
    make_pledge,
)

T = TypeVar("T")
HOLD_SECONDS = 0.4


@pytest.fixture
def pg(backend: str, tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    if backend != "postgres":
        pytest.skip("real concurrent writers need PostgreSQL (SQLite serialises every write transaction)")
    with isolated_database(backend, tmp_path) as (_url, engine):
        yield make_session_factory(engine)


def in_threads(*jobs: Callable[[], T]) -> list[T | BaseException]:
    """Run the jobs in parallel threads; each outcome is a result or the exception it raised."""
    outcomes: list[T | BaseException | None] = [None] * len(jobs)

    def work(index: int, job: Callable[[], T]) -> None:
        try:
            outcomes[index] = job()
        except BaseException as exc:  # handed back to the test
            outcomes[index] = exc

    threads = [threading.Thread(target=work, args=(i, job)) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
        assert not thread.is_alive(), "a worker hung (deadlock?)"
    return [o for o in outcomes if o is not None]


def committed_units(factory: sessionmaker[Session], pledge_id: int) -> Decimal:
    with unit_of_work(factory) as s:
        return s.execute(select(Pledge.committed_units).where(Pledge.id == pledge_id)).scalar_one()


def assert_chain_ok(factory: sessionmaker[Session]) -> int:
    with unit_of_work(factory) as s:
        report = verify(s)
        assert report.ok, report.problem
        return report.events


def _competing_plans(factory: sessionmaker[Session]) -> tuple[int, int, int, int, int]:
    """A 10-unit pledge; plans A and B each want 8 of its units (for different needs)."""
    with unit_of_work(factory) as s:
        pledge = make_pledge(s, units=Decimal(10))
        plan_a, plan_b = make_plan(s), make_plan(s)
        line_a = make_line(s, plan=plan_a, pledge=pledge, units=8)
        line_b = make_line(s, plan=plan_b, pledge=pledge, units=8)
        return pledge.id, plan_a.id, plan_b.id, line_a.id, line_b.id


def test_two_coordinators_competing_for_one_pledge_interleaved(pg: sessionmaker[Session]) -> None:
    """B reads the pledge while A's acceptance is uncommitted: a check-then-act would let both through."""
    pledge_id, plan_a, plan_b, line_a, line_b = _competing_plans(pg)
    a_reserved = threading.Event()
    b_read: dict[str, Decimal | float] = {}

    def coordinator_a() -> list[int]:
        with unit_of_work(pg) as s:
            lines = accept_lines(s, actor="alice", plan_id=plan_a, line_ids=None)
            a_reserved.set()
            time.sleep(HOLD_SECONDS)  # hold the row lock while B tries
            return [x.id for x in lines]

    def coordinator_b() -> list[int]:
        assert a_reserved.wait(10)
        with unit_of_work(pg) as s:
            b_read["committed_seen"] = s.execute(
                select(Pledge.committed_units).where(Pledge.id == pledge_id)
            ).scalar_one()
            started = time.monotonic()
            try:
                return [x.id for x in accept_lines(s, actor="bob", plan_id=plan_b, line_ids=None)]
            finally:
                b_read["waited"] = time.monotonic() - started

    result_a, result_b = in_threads(coordinator_a, coordinator_b)

    assert result_a == [line_a]
    assert isinstance(result_b, PlanStale), result_b
    assert result_b.context["lines"] == [line_b]
    assert b_read["committed_seen"] == 0  # B saw the pledge as free: only the conditional UPDATE saved us
    assert b_read["waited"] >= HOLD_SECONDS / 2  # B's UPDATE really waited for A's lock
    assert committed_units(pg, pledge_id) == Decimal(8)
    with unit_of_work(pg) as s:
        assert s.execute(select(Line.status).where(Line.id == line_b)).scalar_one() == LineStatus.PROPOSED
    assert_chain_ok(pg)


def test_two_coordinators_at_the_same_moment_many_times(pg: sessionmaker[Session]) -> None:
    rounds = 12
    for _ in range(rounds):
        pledge_id, plan_a, plan_b, _line_a, _line_b = _competing_plans(pg)
        barrier = threading.Barrier(2)

        def accept(plan_id: int, actor: str, barrier: threading.Barrier) -> Callable[[], int]:
            def job() -> int:
                barrier.wait(10)
                with unit_of_work(pg) as s:
                    return len(accept_lines(s, actor=actor, plan_id=plan_id, line_ids=None))

            return job

        outcomes = in_threads(accept(plan_a, "alice", barrier), accept(plan_b, "bob", barrier))

        assert sorted(type(o).__name__ for o in outcomes) == ["PlanStale", "int"], outcomes
        assert committed_units(pg, pledge_id) == Decimal(8)
    with unit_of_work(pg) as s:
        over = s.execute(
            select(func.count()).select_from(Pledge).where(Pledge.committed_units > Pledge.units)
        )
        assert over.scalar_one() == 0
        accepts = s.execute(select(func.count()).select_from(Event).where(Event.action == "line.accept"))
        assert accepts.scalar_one() == rounds
    assert_chain_ok(pg)


def test_the_same_plan_accepted_twice_at_once_reserves_once(pg: sessionmaker[Session]) -> None:
    with unit_of_work(pg) as s:
        pledge = make_pledge(s, units=Decimal(10))
        line = make_line(s, pledge=pledge, units=4)
        pledge_id, plan_id = pledge.id, line.plan_id
    barrier = threading.Barrier(2)

    def accept() -> int:
        barrier.wait(10)
        with unit_of_work(pg) as s:
            return len(accept_lines(s, actor="c", plan_id=plan_id, line_ids=None))

    outcomes = in_threads(accept, accept)

    successes = [o for o in outcomes if o == 1]
    failures = [o for o in outcomes if isinstance(o, DomainError)]
    # The loser either saw the line already accepted or lost the conditional UPDATE on the line.
    assert len(successes) == 1
    assert len(failures) == 1, outcomes
    assert committed_units(pg, pledge_id) == Decimal(4)
    assert_chain_ok(pg)


def test_two_plans_covering_one_need_from_different_pledges_race(pg: sessionmaker[Session]) -> None:
    """No pledge is shared, so only the need lock keeps the second plan from duplicating the first."""
    with unit_of_work(pg) as s:
        need = make_need(s, quantity=Decimal(500))
        plans = [make_plan(s), make_plan(s)]
        for plan in plans:
            make_plan_need(s, plan=plan, need=need)
            make_line(s, plan=plan, need=need, units=5)
        need_id, plan_ids = need.id, [p.id for p in plans]
    barrier = threading.Barrier(2)

    def accept(plan_id: int) -> Callable[[], int]:
        def job() -> int:
            barrier.wait(10)
            with unit_of_work(pg) as s:
                return len(accept_lines(s, actor="c", plan_id=plan_id, line_ids=None))

        return job

    outcomes = in_threads(*(accept(p) for p in plan_ids))

    assert sorted(type(o).__name__ for o in outcomes) == ["PlanStale", "int"], outcomes
    with unit_of_work(pg) as s:
        assert progress_for_needs(s, [need_id])[need_id].committed == Decimal(500)
    assert_chain_ok(pg)


def _shipped_line(factory: sessionmaker[Session]) -> dict[str, int]:
    """A 20-unit pledge: 6 units shipped to need N, plus a proposed plan wanting 10 more of it for need M."""
    with unit_of_work(factory) as s:
        pledge = make_pledge(s, units=Decimal(20))
        need = make_need(s, quantity=Decimal(1000))
        first = make_plan(s)
        line = make_line(s, plan=first, pledge=pledge, need=need, units=6)
        accept_lines(s, actor="c", plan_id=first.id, line_ids=None)
        shipment = ship_lines(s, actor="donor", line_ids=[line.id], donor_org_id=None)
        second = make_plan(s)
        other_need = make_need(s, quantity=Decimal(1000))
        other = make_line(s, plan=second, pledge=pledge, need=other_need, units=10)
        return {
            "pledge": pledge.id,
            "need": need.id,
            "line": line.id,
            "shipment": shipment.id,
            "plan2": second.id,
            "other": other.id,
        }


def test_a_receipt_racing_an_acceptance_loses_nothing(pg: sessionmaker[Session]) -> None:
    ids = _shipped_line(pg)
    events_before = assert_chain_ok(pg)
    barrier = threading.Barrier(2)

    def recipient() -> str:
        barrier.wait(10)
        with unit_of_work(pg) as s:
            done = receive_shipment(
                s,
                actor="recipient",
                shipment_id=ids["shipment"],
                received={ids["line"]: Decimal(4)},
                condition=Condition.GOOD,
                recipient_org_id=None,
            )
            time.sleep(HOLD_SECONDS / 2)
            return done.status.value

    def coordinator() -> int:
        barrier.wait(10)
        with unit_of_work(pg) as s:
            return len(accept_lines(s, actor="coordinator", plan_id=ids["plan2"], line_ids=None))

    received, accepted = in_threads(recipient, coordinator)

    assert received == "received", received
    assert accepted == 1, accepted
    with unit_of_work(pg) as s:
        line = s.get(Line, ids["line"])
        other = s.get(Line, ids["other"])
        assert line is not None
        assert other is not None
        assert (line.status, line.received_units) == (LineStatus.RECEIVED, Decimal(4))
        assert other.status == LineStatus.ACCEPTED
        [discrepancy] = s.execute(select(Discrepancy).where(Discrepancy.line_id == ids["line"])).scalars()
        assert discrepancy.units == Decimal(2)
        assert progress_for_needs(s, [ids["need"]])[ids["need"]].open_quantity == Decimal(1000 - 400)
    assert committed_units(pg, ids["pledge"]) == Decimal(16)
    # shipment.receive + line.receive + discrepancy.create, line.accept + pledge.reserve: all five kept.
    assert assert_chain_ok(pg) == events_before + 5


def test_two_receipts_of_one_shipment_at_once_one_wins(pg: sessionmaker[Session]) -> None:
    ids = _shipped_line(pg)
    barrier = threading.Barrier(2)

    def receive(units: int) -> Callable[[], int]:
        def job() -> int:
            barrier.wait(10)
            with unit_of_work(pg) as s:
                receive_shipment(
                    s,
                    actor=f"recipient-{units}",
                    shipment_id=ids["shipment"],
                    received={ids["line"]: Decimal(units)},
                    condition=Condition.GOOD,
                    recipient_org_id=None,
                )
                return units

        return job

    outcomes = in_threads(receive(5), receive(3))

    winners = [o for o in outcomes if isinstance(o, int)]
    losers = [o for o in outcomes if isinstance(o, DomainError)]
    assert len(winners) == 1
    assert len(losers) == 1, outcomes
    with unit_of_work(pg) as s:
        shipment = s.get(Shipment, ids["shipment"])
        assert shipment is not None
        assert shipment.status == ShipmentStatus.RECEIVED
        assert s.execute(select(Line.received_units).where(Line.id == ids["line"])).scalar_one() == winners[0]
        discrepancies = list(
            s.execute(select(Discrepancy).where(Discrepancy.line_id == ids["line"])).scalars()
        )
        assert [d.units for d in discrepancies] == [Decimal(6 - winners[0])]
    assert_chain_ok(pg)


def test_a_receipt_racing_a_replan_then_the_next_plan_covers_the_shortfall(pg: sessionmaker[Session]) -> None:
    from aidpack.allocation.service import run_plan

    ids = _shipped_line(pg)
    with unit_of_work(pg) as s:  # spare supply for the shortfall, same capability as the need
        shipped = s.get(Line, ids["line"])
        assert shipped is not None
        make_pledge(s, item=shipped.pledge.item, units=Decimal(5))
    barrier = threading.Barrier(2)

    def recipient() -> str:
        barrier.wait(10)
        with unit_of_work(pg) as s:
            done = receive_shipment(
                s,
                actor="recipient",
                shipment_id=ids["shipment"],
                received={ids["line"]: Decimal(4)},
                condition=Condition.GOOD,
                recipient_org_id=None,
            )
            return done.status.value

    def planner() -> int:
        barrier.wait(10)
        with unit_of_work(pg) as s:
            return run_plan(s, actor="planner", plan_date=PLAN_DATE).id

    received, plan_id = in_threads(recipient, planner)

    assert received == "received", received
    assert isinstance(plan_id, int), plan_id
    assert_chain_ok(pg)
    with unit_of_work(pg) as s:
        assert s.execute(select(Line.received_units).where(Line.id == ids["line"])).scalar_one() == Decimal(4)
        # The race is over: a new plan sees the 200 kW that did not arrive as open again.
        plan = run_plan(s, actor="planner", plan_date=PLAN_DATE)
        for_need = [x for x in plan.lines if x.need_id == ids["need"]]
        assert sum((x.amount for x in for_need), Decimal(0)) >= Decimal(1000 - 400)
    assert_chain_ok(pg)
