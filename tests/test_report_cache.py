"""The public reports' cache (SQLite and PostgreSQL): a report is computed once per version of the data, every change
aidpack makes gives a new version, and nothing is shared between databases or kept from data that changed under it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from aidpack.allocation import decisions
from aidpack.allocation.service import run_plan
from aidpack.audit.service import GENESIS_HASH, record
from aidpack.auth.models import Role
from aidpack.auth.policy import Principal
from aidpack.ingest.service import import_path
from aidpack.logistics import service as logistics
from aidpack.needs import service as needs
from aidpack.needs.schemas import NeedUpdate
from aidpack.pledges import service as pledges
from aidpack.pledges.schemas import PledgeUpdate
from aidpack.reports import service
from aidpack.reports.cache import DataVersion, PublicReports, data_version
from aidpack.reports.service import PublicCoverage
from tests.factories import PLAN_DATE, isolated_database, make_need, make_region
from tests.web.helpers import World, build_world


def staff(world: World) -> Principal:
    user = world.users["coordinator"]
    return Principal(user_id=user.id, email=user.email, role=Role.COORDINATOR)


@pytest.fixture
def world(session: Session) -> World:
    return build_world(session)


@pytest.fixture
def computed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The reports computed (by kind) while the test runs."""
    calls: list[str] = []
    coverage, contributions = service.coverage, service.contributions

    def counted_coverage(session: Session) -> service.CoverageReport:
        calls.append("coverage")
        return coverage(session)

    def counted_contributions(session: Session) -> list[service.Contribution]:
        calls.append("contributions")
        return contributions(session)

    monkeypatch.setattr(service, "coverage", counted_coverage)
    monkeypatch.setattr(service, "contributions", counted_contributions)
    return calls


def figures(report: PublicCoverage) -> dict[str, Any]:
    return {
        "plan": report.plan_id,
        "tiers": [g.to_dict() for g in report.tiers],
        "categories": [g.to_dict() for g in report.categories],
        "regions": [g.to_dict() for g in report.regions],
        "gaps": [g.to_dict() for g in report.gaps],
    }


def test_a_second_request_for_the_same_data_is_answered_from_the_cache(
    session: Session, world: World, computed: list[str]
) -> None:
    cache = PublicReports()
    version = cache.version(session)
    first = cache.coverage(session, version)
    again = cache.coverage(session, cache.version(session))
    assert again is first
    assert cache.contributions(session, version) is cache.contributions(session, version)
    assert computed == ["coverage", "contributions"]
    assert figures(first) == figures(service.coverage(session).public())


def test_the_public_report_holds_no_need_and_no_restricted_site(session: Session, world: World) -> None:
    report = PublicReports().coverage(session, data_version(session))
    kept = repr(report)
    assert world.secret_need.ref not in kept
    for secret in world.secrets:
        assert secret not in kept
    assert report.gaps, "the world has gaps, aggregated to region, capability, tier and reason"


# --- every change gives a new version ----------------------------------------------------------------------------


def edit_need(session: Session, world: World, tmp_path: Path) -> None:
    need = needs.get_need_for_update(session, principal=staff(world), ref=world.other_need.ref)
    needs.update_need(session, principal=staff(world), need=need, need_in=NeedUpdate(quantity=Decimal(400)))


def edit_pledge(session: Session, world: World, tmp_path: Path) -> None:
    principal = staff(world)
    pledge = pledges.get_pledge_for_update(session, principal=principal, ref=world.pledge_a.ref)
    pledges.update_pledge(session, principal=principal, pledge=pledge, pledge_in=PledgeUpdate(value_eur=Decimal(1)))


def save_a_plan(session: Session, world: World, tmp_path: Path) -> None:
    run_plan(session, actor="test", plan_date=PLAN_DATE)


def accept_a_line(session: Session, world: World, tmp_path: Path) -> None:
    decisions.accept_lines(session, actor="test", plan_id=world.plan.id, line_ids=[world.line_a.id])


def ship_a_line(session: Session, world: World, tmp_path: Path) -> None:
    accept_a_line(session, world, tmp_path)
    logistics.ship_lines(session, actor="test", line_ids=[world.line_a.id], donor_org_id=None)


def import_a_need(session: Session, world: World, tmp_path: Path) -> None:
    csv = tmp_path / "needs.csv"
    csv.write_text(f"ref,region,capability,quantity,priority\nN-IMPORTED,{world.region.code},POWER-KW,700,high\n")
    import_path(session, path=csv, kind="needs", actor="test")


CHANGES: list[Callable[[Session, World, Path], None]] = [
    edit_need,
    edit_pledge,
    save_a_plan,
    accept_a_line,
    ship_a_line,
    import_a_need,
]


@pytest.mark.parametrize("change", CHANGES, ids=lambda change: change.__name__)
def test_a_change_through_the_services_gives_a_new_version_and_the_reports_are_computed_again(
    session: Session, world: World, tmp_path: Path, computed: list[str], change: Callable[[Session, World, Path], None]
) -> None:
    cache = PublicReports()
    before = cache.version(session)
    cache.coverage(session, before)
    cache.contributions(session, before)

    change(session, world, tmp_path)

    after = cache.version(session)
    assert after != before
    assert after.tag != before.tag
    report = cache.coverage(session, after)
    assert computed == ["coverage", "contributions", "coverage"]
    assert figures(report) == figures(service.coverage(session).public())
    assert [c.to_dict() for c in cache.contributions(session, after)] == [
        c.to_dict() for c in service.contributions(session)
    ]


def test_a_saved_plan_is_the_reports_plan(session: Session, world: World) -> None:
    cache = PublicReports()
    assert cache.coverage(session, cache.version(session)).plan_id == world.plan.id
    plan = run_plan(session, actor="test", plan_date=PLAN_DATE)
    version = cache.version(session)
    assert version.plan_id == plan.id
    assert cache.coverage(session, version).plan_id == plan.id


def test_sign_ins_accounts_and_exports_leave_the_version_as_it_was(session: Session, world: World) -> None:
    """They change nothing a report reads, and anyone may cause a failed sign-in."""
    before = data_version(session)
    for entity, action in [("user", "user.login_failed"), ("client", "client.locked"), ("export", "export.csv")]:
        record(session, actor="anonymous", action=action, entity=entity, entity_ref="x")
    assert data_version(session) == before
    record(session, actor="test", action="need.update", entity="need", entity_ref=world.other_need.ref)
    assert data_version(session) != before


# --- what is never kept, never shared ----------------------------------------------------------------------------


def test_two_databases_at_the_same_version_never_share_a_report(
    backend: str, tmp_path: Path, computed: list[str]
) -> None:
    cache = PublicReports()
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with (
        isolated_database(backend, tmp_path / "a") as (_, engine_a),
        isolated_database(backend, tmp_path / "b") as (_, engine_b),
    ):
        with Session(engine_a) as session:
            make_need(session, region=make_region(session))
            session.commit()
        with Session(engine_a) as a, Session(engine_b) as b:
            assert data_version(a) == data_version(b) == DataVersion(0, GENESIS_HASH, None)
            assert sum(g.needs for g in cache.coverage(a, data_version(a)).tiers) == 1
            assert sum(g.needs for g in cache.coverage(b, data_version(b)).tiers) == 0
            assert sum(g.needs for g in cache.coverage(a, data_version(a)).tiers) == 1
    assert computed == ["coverage", "coverage"]


def test_a_report_whose_data_changed_while_it_was_computed_is_not_kept(
    session: Session, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each statement may see newer data than the version read before it (READ COMMITTED): such a report is
    answered once and never kept under the older version."""
    coverage = service.coverage

    def changed_meanwhile(session: Session) -> service.CoverageReport:
        record(session, actor="test", action="need.update", entity="need", entity_ref=world.other_need.ref)
        return coverage(session)

    monkeypatch.setattr(service, "coverage", changed_meanwhile)
    cache = PublicReports()
    cache.coverage(session, data_version(session))
    assert len(cache) == 0


def test_the_cache_keeps_at_most_its_size_least_recently_used_out(
    session: Session, world: World, computed: list[str]
) -> None:
    cache = PublicReports(max_entries=2)
    first = cache.version(session)
    cache.coverage(session, first)
    cache.contributions(session, first)
    cache.coverage(session, first)  # the coverage is now the more recently used
    record(session, actor="test", action="need.update", entity="need", entity_ref=world.other_need.ref)
    cache.coverage(session, cache.version(session))
    assert len(cache) == 2
    assert computed == ["coverage", "contributions", "coverage"]
    cache.coverage(session, first)
    assert computed == ["coverage", "contributions", "coverage"]  # kept
    cache.contributions(session, first)
    assert computed == ["coverage", "contributions", "coverage", "contributions"]  # was let go


def test_many_requests_at_once_compute_the_report_once(session: Session, world: World, monkeypatch: Any) -> None:
    coverage = service.coverage
    calls: list[float] = []

    def slow(session: Session) -> service.CoverageReport:
        calls.append(time.monotonic())
        report = coverage(session)
        time.sleep(0.2)  # the others arrive meanwhile
        return report

    monkeypatch.setattr(service, "coverage", slow)
    cache = PublicReports()
    version = cache.version(session)
    answers: list[PublicCoverage] = []
    threads = [threading.Thread(target=lambda: answers.append(cache.coverage(session, version))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1
    assert len(answers) == 8
    assert all(answer is answers[0] for answer in answers)
