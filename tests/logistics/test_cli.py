"""The CLI end to end on a committed database of its own: accept, ship, receive, timeline, audit."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner, Result

from aidpack.allocation.models import Line, LineStatus
from aidpack.cli import common
from aidpack.cli.main import app
from aidpack.db import make_session_factory, unit_of_work
from aidpack.pledges.models import Pledge
from tests.factories import isolated_database, make_line, make_need, make_plan, make_pledge

runner = CliRunner()


@pytest.fixture
def cli_db(backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[sessionmaker[Session]]:
    with isolated_database(backend, tmp_path) as (url, engine):
        monkeypatch.setenv("AIDPACK_DATABASE_URL", url)
        common.session_factory.cache_clear()
        try:
            yield make_session_factory(engine)
        finally:
            common.close_database()


def run(*args: str) -> Result:
    return runner.invoke(app, list(args))


def _two_plans_one_pledge(factory: sessionmaker[Session]) -> dict[str, int | str]:
    """Plan A: 6 + 2 units of a 10-unit pledge for one need; plan B (stale): 8 more units of it."""
    with unit_of_work(factory) as s:
        pledge = make_pledge(s, units=Decimal(10))
        need = make_need(s, quantity=Decimal(2000))
        plan_a, plan_b = make_plan(s), make_plan(s)
        big = make_line(s, plan=plan_a, pledge=pledge, need=need, units=6)
        small = make_line(s, plan=plan_a, pledge=pledge, need=need, units=2)
        stale = make_line(s, plan=plan_b, pledge=pledge, need=need, units=8)
        return {
            "plan_a": plan_a.id,
            "plan_b": plan_b.id,
            "big": big.id,
            "small": small.id,
            "stale": stale.id,
            "pledge": pledge.ref,
            "need": need.ref,
        }


def test_accept_ship_receive_timeline_and_audit(cli_db: sessionmaker[Session], tmp_path: Path) -> None:
    ids = _two_plans_one_pledge(cli_db)

    accepted = run("plan", "accept", str(ids["plan_a"]), "--all", "--json")
    assert accepted.exit_code == 0, accepted.output
    body = json.loads(accepted.stdout)
    assert body["plan"] == ids["plan_a"]
    assert sorted(x["id"] for x in body["accepted"]) == sorted([str(ids["big"]), str(ids["small"])])
    assert {x["status"] for x in body["accepted"]} == {"accepted"}

    shipped = run("ship", str(ids["big"]), str(ids["small"]), "--json")
    assert shipped.exit_code == 0, shipped.output
    shipment = json.loads(shipped.stdout)
    assert shipment["status"] == "dispatched"
    assert sorted(shipment["lines"]) == sorted([ids["big"], ids["small"]])

    received = run("receive", str(shipment["shipment"]), "--line", str(ids["big"]), "--units", "4", "--json")
    assert received.exit_code == 0, received.output
    receipt = json.loads(received.stdout)
    assert receipt["status"] == "received"
    assert receipt["discrepancies"] == [
        {"id": receipt["discrepancies"][0]["id"], "line": ids["big"], "units": 2.0, "reason": "short"}
    ]
    assert {x["status"] for x in receipt["lines"]} == {"received"}

    timeline = run("timeline", "need", str(ids["need"]), "--json")
    assert timeline.exit_code == 0, timeline.output
    story = json.loads(timeline.stdout)
    assert story["progress"]["open"] == 2000 - 600
    assert story["progress"]["fulfil_status"] == "partial"
    actions = [e["action"] for e in story["events"]]
    assert actions.index("line.accept") < actions.index("line.dispatch") < actions.index("line.receive")
    assert "discrepancy.create" in actions
    pledge_story = run("timeline", "pledge", str(ids["pledge"]))
    assert pledge_story.exit_code == 0
    assert "pledge.reserve" in pledge_story.stdout

    verified = run("audit", "verify")
    assert verified.exit_code == 0, verified.output
    assert "intact" in verified.stdout
    out = tmp_path / "audit.jsonl"
    exported = run("audit", "export", str(out), "--json")
    assert exported.exit_code == 0, exported.output
    summary = json.loads(exported.stdout)
    last = json.loads(out.read_text(encoding="utf-8").splitlines()[-1])
    assert last == {"head": summary["head"], "events": summary["events"]}
    assert summary["events"] > 0
    assert summary["head"] in verified.stdout


def test_stale_plan_exits_2_and_changes_nothing(cli_db: sessionmaker[Session]) -> None:
    ids = _two_plans_one_pledge(cli_db)
    assert run("plan", "accept", str(ids["plan_a"]), "--all").exit_code == 0

    stale = run("plan", "accept", "latest", "--all")

    assert stale.exit_code == 2
    assert "PLAN_STALE" in stale.output
    assert str(ids["stale"]) in stale.output
    assert str(ids["pledge"]) in stale.output
    with unit_of_work(cli_db) as s:
        assert (
            s.execute(select(Line.status).where(Line.id == ids["stale"])).scalar_one() == LineStatus.PROPOSED
        )
        assert s.execute(select(Pledge.committed_units).where(Pledge.ref == ids["pledge"])).scalar_one() == 8
    as_json = run("plan", "accept", "latest", "--all", "--json")
    assert as_json.exit_code == 2
    error = json.loads(as_json.stdout)
    assert error["error"] == "PLAN_STALE"
    assert error["context"]["lines"] == [ids["stale"]]


def test_usage_errors_exit_1(cli_db: sessionmaker[Session]) -> None:
    ids = _two_plans_one_pledge(cli_db)
    assert run("plan", "accept", str(ids["plan_a"])).exit_code == 1
    assert run("plan", "accept", str(ids["plan_a"]), "--all", "--line", str(ids["big"])).exit_code == 1
    assert run("plan", "accept", "nonsense", "--all").exit_code == 1
    assert run("plan", "reject", str(ids["plan_a"]), "--line", "999999").exit_code == 1
    assert run("ship", str(ids["big"])).exit_code == 1  # not accepted yet
    assert run("receive", "999999").exit_code == 1
    assert run("receive", "1", "--line", "1").exit_code == 1  # --line without --units
    assert run("timeline", "need", "NO-SUCH").exit_code == 1


def test_a_line_named_twice_in_a_receipt_is_refused(cli_db: sessionmaker[Session]) -> None:
    # The last --units silently won: a typo in a line id put one line's count on another.
    ids = _two_plans_one_pledge(cli_db)
    assert run("plan", "accept", str(ids["plan_a"]), "--all").exit_code == 0
    shipment = json.loads(run("ship", str(ids["big"]), str(ids["small"]), "--json").stdout)["shipment"]
    big = str(ids["big"])
    result = run("receive", str(shipment), "--line", big, "--units", "5", "--line", big, "--units", "1")
    assert result.exit_code == 1
    assert f"line {big} is given twice" in " ".join(result.output.split())
    too_many = run("receive", str(shipment), "--line", big, "--units", "60")
    assert too_many.exit_code == 1
    assert f"line {big} value '60': between 0 and 6" in too_many.output  # it said "   value '60': ..."
    with unit_of_work(cli_db) as s:
        assert s.execute(select(Line.status).where(Line.id == ids["big"])).scalar_one() == LineStatus.DISPATCHED


def test_reject_lines(cli_db: sessionmaker[Session]) -> None:
    ids = _two_plans_one_pledge(cli_db)
    rejected = run("plan", "reject", str(ids["plan_b"]), "--line", str(ids["stale"]), "--json")
    assert rejected.exit_code == 0, rejected.output
    assert [x["status"] for x in json.loads(rejected.stdout)["rejected"]] == ["rejected"]


def test_audit_verify_exits_1_naming_the_edited_event(cli_db: sessionmaker[Session]) -> None:
    ids = _two_plans_one_pledge(cli_db)
    assert run("plan", "accept", str(ids["plan_a"]), "--all").exit_code == 0
    with unit_of_work(cli_db) as s:
        cast = "CAST(:v AS JSON)" if s.get_bind().dialect.name == "postgresql" else ":v"
        s.execute(
            text(f"UPDATE audit_events SET after = {cast} WHERE id = 2"), {"v": json.dumps({"forged": 1})}
        )

    broken = run("audit", "verify")

    assert broken.exit_code == 1
    assert "event 2" in broken.output
    assert run("audit", "export", "unused.jsonl").exit_code == 1


@pytest.mark.parametrize(
    "command",
    [
        ["plan", "accept"],
        ["plan", "reject"],
        ["ship"],
        ["deliver"],
        ["receive"],
        ["timeline", "need"],
        ["timeline", "pledge"],
        ["audit", "verify"],
        ["audit", "export"],
    ],
)
def test_every_command_has_help(command: list[str]) -> None:
    result = run(*command, "--help")
    assert result.exit_code == 0
    assert "Usage" in result.output
