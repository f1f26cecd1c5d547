"""Shipments, receipts, timelines and need progress over the API: who may do what, and what each one sees.

In the world, line_a carries 5 units of donor A's pledge (100 POWER-KW each) to recipient A's need at a
restricted site (1000 POWER-KW); line_b carries donor B's units to recipient B's need.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from aidpack.allocation.models import Line, LineStatus
from aidpack.auth.models import Role
from aidpack.auth.policy import Principal
from aidpack.logistics.api import RESTRICTED, timeline_entries
from aidpack.logistics.models import Discrepancy
from aidpack.logistics.timeline import TimelineEntry
from aidpack.pledges.models import Pledge
from tests.api.test_api import assert_error
from tests.web.helpers import World, bearer, line_status


def accept(client: TestClient, world: World, *lines: Line) -> None:
    response = client.post(
        f"/api/v1/plans/{world.plan.id}/accept",
        json={"lines": [line.id for line in lines]},
        headers=bearer(world.users["coordinator"]),
    )
    assert response.status_code == 200, response.text


def ship(client: TestClient, world: World, user: str, *lines: Line) -> dict[str, Any]:
    response = client.post(
        "/api/v1/shipments", json={"lines": [line.id for line in lines]}, headers=bearer(world.users[user])
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def current(client: TestClient, world: World, shipment: int) -> dict[str, str]:
    """If-Match with the shipment's ETag as a coordinator reads it now."""
    response = client.get(f"/api/v1/shipments/{shipment}", headers=bearer(world.users["coordinator"]))
    assert response.status_code == 200, response.text
    return {"If-Match": response.headers["ETag"]}


def progress(client: TestClient, world: World, user: str = "coordinator") -> dict[str, Any]:
    response = client.get(f"/api/v1/needs/{world.secret_need.ref}/progress", headers=bearer(world.users[user]))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


# --- dispatch ----------------------------------------------------------------------------------------------


def test_a_donor_dispatches_its_own_accepted_lines(client: TestClient, world: World, session: Session) -> None:
    accept(client, world, world.line_a, world.line_b)
    body = ship(client, world, "donor_a", world.line_a)
    assert body["donor"] == world.donor_a.code
    assert body["status"] == "dispatched"
    assert [line["id"] for line in body["lines"]] == [world.line_a.id]
    assert body["lines"][0]["status"] == "dispatched"
    assert line_status(session, world.line_a.id) is LineStatus.DISPATCHED
    read = client.get(f"/api/v1/shipments/{body['id']}", headers=bearer(world.users["donor_a"]))
    assert read.status_code == 200
    assert read.json()["id"] == body["id"]


def test_a_donor_cannot_dispatch_another_donors_lines(client: TestClient, world: World, session: Session) -> None:
    accept(client, world, world.line_a, world.line_b)
    response = client.post(
        "/api/v1/shipments", json={"lines": [world.line_b.id]}, headers=bearer(world.users["donor_a"])
    )
    assert response.status_code in (403, 404), response.text
    assert_error(response, response.status_code)
    assert line_status(session, world.line_b.id) is LineStatus.ACCEPTED
    mixed = client.post(
        "/api/v1/shipments",
        json={"lines": [world.line_a.id, world.line_b.id]},
        headers=bearer(world.users["donor_a"]),
    )
    assert mixed.status_code in (403, 404)
    assert line_status(session, world.line_a.id) is LineStatus.ACCEPTED


def test_a_coordinator_dispatches_any_donors_lines_but_never_proposed_ones(client: TestClient, world: World) -> None:
    proposed = client.post(
        "/api/v1/shipments", json={"lines": [world.line_b.id]}, headers=bearer(world.users["coordinator"])
    )
    assert_error(proposed, 422, "LINE_STATUS")
    accept(client, world, world.line_b)
    assert ship(client, world, "coordinator", world.line_b)["donor"] == world.donor_b.code


@pytest.mark.parametrize("user", ["recipient_a", "viewer"])
def test_recipients_and_viewers_may_not_dispatch(client: TestClient, world: World, user: str) -> None:
    accept(client, world, world.line_a)
    response = client.post("/api/v1/shipments", json={"lines": [world.line_a.id]}, headers=bearer(world.users[user]))
    assert_error(response, 403)


def test_an_empty_dispatch_is_invalid(client: TestClient, world: World) -> None:
    response = client.post("/api/v1/shipments", json={"lines": []}, headers=bearer(world.users["coordinator"]))
    assert_error(response, 422, "INVALID_REQUEST")


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("POST", "/api/v1/shipments", {"lines": [1]}),
        ("GET", "/api/v1/shipments", None),
        ("GET", "/api/v1/shipments/1", None),
        ("POST", "/api/v1/shipments/1/deliver", None),
        ("POST", "/api/v1/shipments/1/receive", {"lines": [], "condition": "good"}),
    ],
)
def test_anonymous_callers_are_refused_with_401(
    client: TestClient, world: World, method: str, url: str, body: dict[str, Any] | None
) -> None:
    response = client.request(method, url, json=body)
    assert_error(response, 401)


@pytest.mark.parametrize("what", ["need_timeline", "pledge_timeline", "progress"])
def test_anonymous_callers_get_no_timeline_or_progress(client: TestClient, world: World, what: str) -> None:
    url = {
        "need_timeline": f"/api/v1/needs/{world.secret_need.ref}/timeline",
        "pledge_timeline": f"/api/v1/pledges/{world.pledge_a.ref}/timeline",
        "progress": f"/api/v1/needs/{world.secret_need.ref}/progress",
    }[what]
    assert_error(client.get(url), 401)


# --- scope of the lists ---------------------------------------------------------------------------------


def test_shipments_are_listed_to_their_donor_their_recipient_and_staff(client: TestClient, world: World) -> None:
    accept(client, world, world.line_a, world.line_b)
    first = ship(client, world, "donor_a", world.line_a)["id"]
    second = ship(client, world, "donor_b", world.line_b)["id"]

    def listed(user: str) -> set[int]:
        response = client.get("/api/v1/shipments", headers=bearer(world.users[user]))
        assert response.status_code == 200, response.text
        return {item["id"] for item in response.json()["items"]}

    assert listed("coordinator") >= {first, second}
    assert listed("donor_a") == {first}
    assert listed("donor_b") == {second}
    assert listed("recipient_a") == {first}
    assert listed("recipient_b") == {second}
    assert_error(client.get(f"/api/v1/shipments/{first}", headers=bearer(world.users["recipient_b"])), 404)
    assert_error(client.get(f"/api/v1/shipments/{first}", headers=bearer(world.users["donor_b"])), 404)
    assert_error(client.get("/api/v1/shipments", headers=bearer(world.users["viewer"])), 403)
    filtered = client.get(
        f"/api/v1/shipments?donor={world.donor_b.code}&status=dispatched", headers=bearer(world.users["coordinator"])
    )
    assert [item["id"] for item in filtered.json()["items"]] == [second]


# --- delivery and receipt ---------------------------------------------------------------------------------


def test_only_the_donor_or_staff_mark_a_shipment_delivered(client: TestClient, world: World) -> None:
    accept(client, world, world.line_a)
    shipment = ship(client, world, "donor_a", world.line_a)["id"]
    url = f"/api/v1/shipments/{shipment}/deliver"
    tag = current(client, world, shipment)
    assert_error(client.post(url, headers={**bearer(world.users["donor_b"]), **tag}), 404)
    assert_error(client.post(url, headers={**bearer(world.users["recipient_a"]), **tag}), 403)
    response = client.post(url, headers={**bearer(world.users["donor_a"]), **tag})
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "delivered"
    assert response.json()["lines"][0]["status"] == "delivered"
    again = client.post(url, headers={**bearer(world.users["coordinator"]), **current(client, world, shipment)})
    assert_error(again, 422, "SHIPMENT_STATUS")


def test_a_short_receipt_opens_the_need_again(client: TestClient, world: World, session: Session) -> None:
    accept(client, world, world.line_a)
    before = progress(client, world)
    assert before["committed"] == 500
    assert before["open"] == 500
    assert before["commit_status"] == "partial"
    assert before["transit_status"] == "none"
    shipment = ship(client, world, "donor_a", world.line_a)["id"]
    moving = progress(client, world, "recipient_a")
    assert (moving["in_transit"], moving["transit_status"], moving["fulfil_status"]) == (500, "partial", "none")

    receipt = {"lines": [{"line": world.line_a.id, "units": 3}], "condition": "good"}
    url = f"/api/v1/shipments/{shipment}/receive"
    tag = current(client, world, shipment)
    assert_error(client.post(url, json=receipt, headers={**bearer(world.users["recipient_b"]), **tag}), 404)
    assert_error(client.post(url, json=receipt, headers={**bearer(world.users["donor_a"]), **tag}), 403)
    assert line_status(session, world.line_a.id) is LineStatus.DISPATCHED

    response = client.post(url, json=receipt, headers={**bearer(world.users["recipient_a"]), **tag})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "received"
    assert body["condition"] == "good"
    assert body["lines"][0]["received_units"] == 3
    assert [(d["line"], d["units"], d["reason"]) for d in body["discrepancies"]] == [(world.line_a.id, 2, "short")]
    assert line_status(session, world.line_a.id) is LineStatus.RECEIVED
    assert session.execute(select(Discrepancy.units).where(Discrepancy.line_id == world.line_a.id)).scalar_one() == 2

    after = progress(client, world, "recipient_a")
    assert after["committed"] == 300  # 3 of 5 units of 100 POWER-KW arrived
    assert after["fulfilled"] == 300
    assert after["open"] == before["open"] + 200  # grew back by exactly what did not arrive
    assert after["fulfil_status"] == "partial"
    fresh = current(client, world, shipment)
    again = client.post(url, json=receipt, headers={**bearer(world.users["coordinator"]), **fresh})
    assert_error(again, 422, "SHIPMENT_STATUS")


def test_a_receipt_naming_a_line_twice_or_too_many_units_is_refused(
    client: TestClient, world: World, session: Session
) -> None:
    accept(client, world, world.line_a)
    shipment = ship(client, world, "donor_a", world.line_a)["id"]
    url = f"/api/v1/shipments/{shipment}/receive"
    headers = {**bearer(world.users["recipient_a"]), **current(client, world, shipment)}
    twice = {"lines": [{"line": world.line_a.id, "units": 1}, {"line": world.line_a.id, "units": 2}]}
    assert_error(client.post(url, json=twice, headers=headers), 422, "VALIDATION_FAILED")
    too_many = {"lines": [{"line": world.line_a.id, "units": 6}]}
    assert_error(client.post(url, json=too_many, headers=headers), 422, "BAD_RECEIPT")
    foreign = {"lines": [{"line": world.line_b.id, "units": 1}]}
    assert_error(client.post(url, json=foreign, headers=headers), 422, "BAD_RECEIPT")
    assert line_status(session, world.line_a.id) is LineStatus.DISPATCHED


def test_a_damaged_receipt_in_full_loses_nothing(client: TestClient, world: World) -> None:
    accept(client, world, world.line_a)
    shipment = ship(client, world, "coordinator", world.line_a)["id"]
    response = client.post(
        f"/api/v1/shipments/{shipment}/receive",
        json={"condition": "damaged"},
        headers={**bearer(world.users["coordinator"]), **current(client, world, shipment)},
    )
    assert response.status_code == 200, response.text
    assert response.json()["discrepancies"] == []
    assert progress(client, world)["fulfil_status"] == "partial"
    assert progress(client, world)["fulfilled"] == 500


# --- timelines -------------------------------------------------------------------------------------------


def _shipped_and_received(client: TestClient, world: World) -> int:
    accept(client, world, world.line_a)
    shipment = int(ship(client, world, "donor_a", world.line_a)["id"])
    response = client.post(
        f"/api/v1/shipments/{shipment}/receive",
        json={"lines": [{"line": world.line_a.id, "units": 4}]},
        headers={**bearer(world.users["recipient_a"]), **current(client, world, shipment)},
    )
    assert response.status_code == 200, response.text
    return shipment


def test_a_needs_timeline_runs_from_acceptance_to_receipt(client: TestClient, world: World) -> None:
    shipment = _shipped_and_received(client, world)
    response = client.get(f"/api/v1/needs/{world.secret_need.ref}/timeline", headers=bearer(world.users["recipient_a"]))
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["subject"], body["ref"]) == ("need", world.secret_need.ref)
    actions = [entry["action"] for entry in body["entries"]]
    for action in ("line.propose", "line.accept", "shipment.dispatch", "line.dispatch", "line.receive"):
        assert action in actions, actions
    assert actions.index("line.accept") < actions.index("shipment.dispatch") < actions.index("line.receive")
    assert "discrepancy.create" in actions
    assert any(e["entity"] == "shipment" and e["entity_ref"] == str(shipment) for e in body["entries"])
    times = [dt.datetime.fromisoformat(e["at"].replace("Z", "+00:00")) for e in body["entries"]]
    assert times == sorted(times)


@pytest.mark.parametrize(
    ("user", "subject", "status"),
    [
        ("coordinator", "need", 200),
        ("admin", "pledge", 200),
        ("recipient_a", "need", 200),
        ("recipient_b", "need", 404),
        ("recipient_a", "pledge", 403),
        ("donor_a", "pledge", 200),
        ("donor_b", "pledge", 404),
        ("donor_a", "need", 403),
        ("viewer", "need", 403),
    ],
)
def test_timelines_are_scoped(client: TestClient, world: World, user: str, subject: str, status: int) -> None:
    _shipped_and_received(client, world)
    ref = world.secret_need.ref if subject == "need" else world.pledge_a.ref
    response = client.get(f"/api/v1/{subject}s/{ref}/timeline", headers=bearer(world.users[user]))
    assert response.status_code == status, response.text
    if status != 200:
        assert_error(response, status)


def test_a_donors_timeline_never_names_the_restricted_site(client: TestClient, world: World) -> None:
    _shipped_and_received(client, world)
    response = client.get(f"/api/v1/pledges/{world.pledge_a.ref}/timeline", headers=bearer(world.users["donor_a"]))
    assert response.status_code == 200
    assert world.secret_need.ref in response.text  # the donor knows the need it feeds, by ref
    for secret in world.secrets:
        assert secret not in response.text
    for url in ("/api/v1/shipments", f"/api/v1/needs/{world.secret_need.ref}/progress"):
        answer = client.get(url, headers=bearer(world.users["donor_a"]))
        assert answer.status_code == 200
        for secret in world.secrets:
            assert secret not in answer.text


@pytest.mark.parametrize("subject", ["need", "pledge"])
def test_a_timeline_never_shows_the_events_of_another_organisations_row_whose_ref_is_its_id(
    client: TestClient, world: World, subject: str
) -> None:
    """Recipient B's need (donor B's pledge) whose ref is the id of recipient A's need (donor A's pledge): its
    events, and who wrote them, stay out of A's timeline (they were matched by ref or id)."""
    if subject == "need":
        own_id, own_ref, other, intruder = world.secret_need.id, world.secret_need.ref, "recipient_a", "recipient_b"
        body: dict[str, Any] = {"ref": str(own_id), "region": world.other_region.code, "capability": "POWER-KW",
                                "quantity": 5, "priority": "high"}
    else:
        own_id, own_ref, other, intruder = world.pledge_a.id, world.pledge_a.ref, "donor_a", "donor_b"
        body = {"ref": str(own_id), "item": world.item.code, "units": 1, "hub": world.hub.code}
    created = client.post(f"/api/v1/{subject}s", json=body, headers=bearer(world.users[intruder]))
    assert created.status_code == 201, created.text

    response = client.get(f"/api/v1/{subject}s/{own_ref}/timeline", headers=bearer(world.users[other]))
    assert response.status_code == 200, response.text
    entries = response.json()["entries"]
    assert entries, "the timeline shows the lines of its own row"
    assert all(entry["entity_ref"] != str(own_id) for entry in entries if entry["entity"] == subject)
    assert world.users[intruder].email not in response.text


def test_timeline_text_blanks_sites_the_caller_may_not_see(world: World) -> None:
    entry = TimelineEntry(
        at=dt.datetime(2022, 11, 29, tzinfo=dt.UTC),
        action="note",
        entity="need",
        entity_ref=world.secret_site.code,
        actor="test",
        summary=f"goods reached {world.secret_site.name} ({world.secret_site.code})",
    )
    donor = Principal(user_id=1, email="d@example.org", role=Role.DONOR, org_id=world.donor_a.id)
    owner = Principal(user_id=2, email="r@example.org", role=Role.RECIPIENT, org_id=world.recipient_a.id)
    [blanked] = timeline_entries(donor, [entry], [world.secret_site])
    assert world.secret_site.name not in blanked.summary
    assert world.secret_site.code not in blanked.summary + blanked.entity_ref
    assert blanked.summary == f"goods reached {RESTRICTED} ({RESTRICTED})"
    [shown] = timeline_entries(owner, [entry], [world.secret_site])
    assert shown.summary == entry.summary


def test_progress_follows_need_scope(client: TestClient, world: World) -> None:
    accept(client, world, world.line_a)
    assert progress(client, world, "donor_a")["committed"] == 500  # it feeds the need
    url = f"/api/v1/needs/{world.secret_need.ref}/progress"
    assert_error(client.get(url, headers=bearer(world.users["donor_b"])), 404)
    assert_error(client.get(url, headers=bearer(world.users["recipient_b"])), 404)
    unknown = client.get("/api/v1/needs/N-NOPE-0/progress", headers=bearer(world.users["coordinator"]))
    assert_error(unknown, 404)


def test_the_pledges_committed_units_do_not_change_on_a_short_receipt(
    client: TestClient, world: World, session: Session
) -> None:
    _shipped_and_received(client, world)
    session.expire_all()
    committed = session.execute(select(Pledge.committed_units).where(Pledge.id == world.pledge_a.id)).scalar_one()
    assert committed == 5  # those units left the donor
