"""The JSON API over real HTTP semantics: auth, role and organisation scope, ETag / If-Match, filters,
pagination, the error shape, plans and line decisions, audit events."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aidpack.allocation.explain import PROPOSED_HINT
from aidpack.allocation.models import LineStatus, PlanNeed, ShortReason
from aidpack.audit.models import Event
from aidpack.needs.models import Need, Priority
from aidpack.pledges.models import Pledge
from tests.factories import make_need
from tests.web.helpers import World, bearer, line_status


def assert_error(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"error", "detail", "context"}
    assert isinstance(body["detail"], str)
    assert isinstance(body["context"], dict)
    if code is not None:
        assert body["error"] == code
    return body


def need_body(world: World, **overrides: Any) -> dict[str, Any]:
    return {
        "ref": "N-API-1",
        "region": world.region.code,
        "capability": "POWER-KW",
        "quantity": 150,
        "priority": "high",
        **overrides,
    }


def pledge_body(world: World, **overrides: Any) -> dict[str, Any]:
    return {"ref": "P-API-1", "item": world.item.code, "units": 2, "hub": world.hub.code, **overrides}


# --- authentication --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("post", "/api/v1/needs"),
        ("post", "/api/v1/pledges"),
        ("post", "/api/v1/sites"),
        ("post", "/api/v1/plans"),
        ("post", "/api/v1/plans/1/accept"),
        ("post", "/api/v1/users"),
    ],
)
def test_an_anonymous_write_is_refused_with_401(client: TestClient, world: World, method: str, url: str) -> None:
    body = {"needs": need_body(world), "pledges": pledge_body(world)}.get(url.split("/")[3], {})
    response = client.request(method.upper(), url, json=body)
    assert_error(response, 401, "UNAUTHORIZED")
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_an_anonymous_patch_is_refused_with_401(client: TestClient, world: World) -> None:
    response = client.patch(f"/api/v1/pledges/{world.pledge_a.ref}", json={"units": 1}, headers={"If-Match": '"1"'})
    assert_error(response, 401)


def test_a_forged_token_is_refused(client: TestClient, world: World) -> None:
    response = client.get("/api/v1/needs", headers={"Authorization": "Bearer forged.token.value"})
    assert_error(response, 401, "TOKEN_INVALID")


# --- organisation scope ----------------------------------------------------------------------------


def test_a_donor_cannot_change_another_donors_pledge(client: TestClient, world: World, session: Session) -> None:
    url = f"/api/v1/pledges/{world.pledge_b.ref}"
    response = client.patch(url, json={"units": 1}, headers={"If-Match": '"1"', **bearer(world.users["donor_a"])})
    assert response.status_code in (403, 404)
    assert_error(response, response.status_code)
    session.expire_all()
    assert session.get(Pledge, world.pledge_b.id).units == 4  # type: ignore[union-attr]


def test_a_recipient_may_read_but_not_change_a_pledge(client: TestClient, world: World) -> None:
    url = f"/api/v1/pledges/{world.pledge_a.ref}"
    headers = bearer(world.users["recipient_a"])
    assert client.get(url, headers=headers).status_code == 200
    assert_error(client.patch(url, json={"units": 1}, headers={"If-Match": '"1"', **headers}), 403, "FORBIDDEN")


def test_a_donor_lists_only_its_own_pledges(client: TestClient, world: World) -> None:
    body = client.get("/api/v1/pledges", headers=bearer(world.users["donor_a"])).json()
    assert [p["ref"] for p in body["items"]] == [world.pledge_a.ref]
    assert body["total"] == 1


def test_a_donor_pledges_for_itself_only(client: TestClient, world: World) -> None:
    headers = bearer(world.users["donor_a"])
    created = client.post("/api/v1/pledges", json=pledge_body(world), headers=headers)
    assert created.status_code == 201, created.text
    assert created.json()["donor"] == world.donor_a.code
    assert created.headers["Location"] == "/api/v1/pledges/P-API-1"
    other = client.post(
        "/api/v1/pledges", json=pledge_body(world, ref="P-API-2", donor=world.donor_b.code), headers=headers
    )
    assert_error(other, 403)


def test_a_recipient_creates_needs_for_its_own_organisation(client: TestClient, world: World) -> None:
    headers = bearer(world.users["recipient_a"])
    created = client.post("/api/v1/needs", json=need_body(world, site=world.secret_site.code), headers=headers)
    assert created.status_code == 201, created.text
    assert created.json()["org"] == world.recipient_a.code
    assert created.json()["site"]["name"] == world.secret_site.name
    # another recipient cannot even name that site
    other = client.post(
        "/api/v1/needs",
        json=need_body(world, ref="N-API-2", site=world.secret_site.code),
        headers=bearer(world.users["recipient_b"]),
    )
    body = assert_error(other, 404, "SITE_NOT_FOUND")
    assert world.secret_site.code not in other.text
    assert body["context"] == {}


def test_donors_and_viewers_cannot_create_needs(client: TestClient, world: World) -> None:
    assert_error(client.post("/api/v1/needs", json=need_body(world), headers=bearer(world.users["donor_a"])), 403)
    assert_error(client.post("/api/v1/needs", json=need_body(world), headers=bearer(world.users["viewer"])), 403)


def test_a_coordinator_creates_a_need_for_any_organisation(client: TestClient, world: World) -> None:
    body = need_body(world, org=world.recipient_b.code, deadline="2022-12-24", people_served=4000)
    created = client.post("/api/v1/needs", json=body, headers=bearer(world.users["coordinator"]))
    assert created.status_code == 201, created.text
    assert created.json()["org"] == world.recipient_b.code
    assert created.json()["people_served"] == 4000
    duplicate = client.post("/api/v1/needs", json=body, headers=bearer(world.users["coordinator"]))
    assert_error(duplicate, 409, "NEED_EXISTS")


def test_an_unknown_region_is_named_in_the_error(client: TestClient, world: World) -> None:
    response = client.post(
        "/api/v1/needs", json=need_body(world, region="UA-99"), headers=bearer(world.users["coordinator"])
    )
    body = assert_error(response, 404, "REGION_NOT_FOUND")
    assert body["context"] == {"region": "UA-99"}


# --- ETag and If-Match -----------------------------------------------------------------------------


def test_get_returns_the_etag_and_a_stale_if_match_gets_412(client: TestClient, world: World) -> None:
    headers = bearer(world.users["donor_a"])
    url = f"/api/v1/pledges/{world.pledge_a.ref}"
    etag = client.get(url, headers=headers).headers["ETag"]
    assert etag == f'"{world.pledge_a.version}"'
    updated = client.patch(url, json={"units": 8}, headers={"If-Match": etag, **headers})
    assert updated.status_code == 200, updated.text
    assert updated.json()["units"] == 8
    new_etag = updated.headers["ETag"]
    assert new_etag != etag
    stale = client.patch(url, json={"units": 9}, headers={"If-Match": etag, **headers})
    body = assert_error(stale, 412, "STALE_VERSION")
    assert body["context"]["etag"] == new_etag
    assert client.get(url, headers=headers).json()["units"] == 8


def test_a_patch_without_if_match_gets_428(client: TestClient, world: World) -> None:
    response = client.patch(
        f"/api/v1/needs/{world.secret_need.ref}",
        json={"priority": "low"},
        headers=bearer(world.users["coordinator"]),
    )
    assert_error(response, 428, "PRECONDITION_REQUIRED")


def test_a_recipient_updates_its_need_and_an_audit_event_is_written(
    client: TestClient, world: World, session: Session
) -> None:
    before = session.execute(select(func.count()).select_from(Event)).scalar_one()
    url = f"/api/v1/needs/{world.secret_need.ref}"
    headers = bearer(world.users["recipient_a"])
    etag = client.get(url, headers=headers).headers["ETag"]
    response = client.patch(url, json={"priority": "low", "deadline": None}, headers={"If-Match": etag, **headers})
    assert response.status_code == 200, response.text
    assert response.json()["priority"] == "low"
    session.expire_all()
    assert session.get(Need, world.secret_need.id).priority is Priority.LOW  # type: ignore[union-attr]
    event = session.execute(select(Event).order_by(Event.id.desc()).limit(1)).scalar_one()
    assert session.execute(select(func.count()).select_from(Event)).scalar_one() == before + 1
    assert (event.action, event.entity_ref, event.actor) == (
        "need.update",
        world.secret_need.ref,
        f"user:{world.users['recipient_a'].email}",
    )
    assert event.before is not None
    assert event.before["priority"] == "critical"


def test_another_recipient_cannot_see_or_change_the_need(client: TestClient, world: World) -> None:
    response = client.patch(
        f"/api/v1/needs/{world.secret_need.ref}",
        json={"priority": "low"},
        headers={"If-Match": '"1"', **bearer(world.users["recipient_b"])},
    )
    assert_error(response, 404, "NEED_NOT_FOUND")


def test_units_below_what_accepted_lines_hold_are_refused(client: TestClient, world: World) -> None:
    headers = bearer(world.users["coordinator"])
    accepted = client.post(f"/api/v1/plans/{world.plan.id}/accept", json={"lines": [world.line_a.id]}, headers=headers)
    assert accepted.status_code == 200, accepted.text
    url = f"/api/v1/pledges/{world.pledge_a.ref}"
    etag = client.get(url, headers=headers).headers["ETag"]
    response = client.patch(url, json={"units": 4}, headers={"If-Match": etag, **headers})
    assert_error(response, 409, "PLEDGE_COMMITTED")


# --- filters, pagination, errors -------------------------------------------------------------------


def test_list_filters_and_pagination(client: TestClient, world: World, session: Session) -> None:
    for i in range(3):
        make_need(session, region=world.other_region, ref=f"N-PAGE-{i}", priority=Priority.LOW)
    headers = bearer(world.users["coordinator"])
    by_region = client.get("/api/v1/needs", params={"region": world.other_region.code}, headers=headers).json()
    assert by_region["total"] == 4
    low = client.get(
        "/api/v1/needs", params={"region": world.other_region.code, "priority": "low"}, headers=headers
    ).json()
    assert [n["ref"] for n in low["items"]] == ["N-PAGE-0", "N-PAGE-1", "N-PAGE-2"]
    page = client.get("/api/v1/needs", params={"priority": "low", "limit": 2, "offset": 1}, headers=headers).json()
    assert (page["limit"], page["offset"], len(page["items"])) == (2, 1, 2)
    assert [n["ref"] for n in page["items"]] == ["N-PAGE-1", "N-PAGE-2"]
    donor = client.get("/api/v1/pledges", params={"donor": world.donor_b.code}, headers=headers).json()
    assert [p["ref"] for p in donor["items"]] == [world.pledge_b.ref]
    proposed = client.get(
        "/api/v1/lines", params={"status": "proposed", "donor": world.donor_a.code}, headers=headers
    ).json()
    assert [line["id"] for line in proposed["items"]] == [world.line_a.id]
    assert_error(client.get("/api/v1/needs", params={"limit": 0}, headers=headers), 422, "INVALID_REQUEST")
    assert_error(client.get("/api/v1/needs", params={"priority": "urgent"}, headers=headers), 422)


def test_errors_always_have_the_same_shape(client: TestClient, world: World) -> None:
    headers = bearer(world.users["coordinator"])
    assert_error(client.get("/api/v1/nothing-here"), 404, "NOT_FOUND")
    assert_error(client.get("/api/v1/needs/NO-SUCH-NEED", headers=headers), 404, "NEED_NOT_FOUND")
    malformed = client.post(
        "/api/v1/needs", content=b"{not json", headers={"Content-Type": "application/json", **headers}
    )
    assert_error(malformed, 400, "MALFORMED_REQUEST")
    invalid = client.post("/api/v1/needs", json=need_body(world, quantity=-1), headers=headers)
    body = assert_error(invalid, 422, "INVALID_REQUEST")
    assert body["context"]["errors"][0]["loc"] == ["body", "quantity"]
    not_allowed = client.delete(f"/api/v1/needs/{world.secret_need.ref}", headers=headers)
    assert_error(not_allowed, 405, "METHOD_NOT_ALLOWED")
    assert set(not_allowed.headers["Allow"].split(", ")) == {"GET", "PATCH"}


def test_openapi_documents_every_error_answer(client: TestClient) -> None:
    spec = client.get("/api/v1/openapi.json").json()
    patch = spec["paths"]["/api/v1/needs/{ref}"]["patch"]["responses"]
    assert {"400", "401", "403", "404", "409", "412", "422", "428"} <= set(patch)
    assert patch["412"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorBody")
    assert "OAuth2PasswordBearer" in spec["components"]["securitySchemes"]


# --- plans and lines -------------------------------------------------------------------------------


def test_a_coordinator_accepts_and_rejects_lines(client: TestClient, world: World, session: Session) -> None:
    headers = bearer(world.users["coordinator"])
    accepted = client.post(f"/api/v1/plans/{world.plan.id}/accept", json={"lines": [world.line_a.id]}, headers=headers)
    assert accepted.status_code == 200, accepted.text
    assert [(line["id"], line["status"]) for line in accepted.json()] == [(world.line_a.id, "accepted")]
    rejected = client.post(f"/api/v1/plans/{world.plan.id}/reject", json={}, headers=headers)
    assert rejected.status_code == 200, rejected.text
    assert line_status(session, world.line_a.id) is LineStatus.ACCEPTED
    assert line_status(session, world.line_b.id) is LineStatus.REJECTED
    again = client.post(f"/api/v1/plans/{world.plan.id}/accept", json={"lines": [world.line_b.id]}, headers=headers)
    assert again.status_code in (409, 422)
    assert_error(again, again.status_code)


def test_only_staff_decide_plans(client: TestClient, world: World) -> None:
    response = client.post(
        f"/api/v1/plans/{world.plan.id}/accept",
        json={"lines": [world.line_a.id]},
        headers=bearer(world.users["donor_a"]),
    )
    assert_error(response, 403)


def test_a_line_is_read_with_its_version_as_the_etag(client: TestClient, world: World) -> None:
    response = client.get(f"/api/v1/lines/{world.line_a.id}", headers=bearer(world.users["coordinator"]))
    assert response.status_code == 200
    assert response.headers["ETag"] == f'"{world.line_a.version}"'
    assert response.json()["id"] == world.line_a.id
    assert_error(client.get(f"/api/v1/lines/{world.line_a.id}", headers=bearer(world.users["donor_b"])), 404)


def test_a_plan_is_cut_to_the_callers_lines(client: TestClient, world: World) -> None:
    url = f"/api/v1/plans/{world.plan.id}"
    full = client.get(url, headers=bearer(world.users["coordinator"])).json()
    assert {line["id"] for line in full["lines"]} == {str(world.line_a.id), str(world.line_b.id)}
    donor = client.get(url, headers=bearer(world.users["donor_b"])).json()
    assert [line["id"] for line in donor["lines"]] == [str(world.line_b.id)]
    assert [n["ref"] for n in donor["needs"]] == [world.other_need.ref]
    recipient = client.get(url, headers=bearer(world.users["recipient_a"])).json()
    assert [line["id"] for line in recipient["lines"]] == [str(world.line_a.id)]
    assert_error(client.get(url, headers=bearer(world.users["viewer"])), 403)
    assert_error(client.get("/api/v1/plans/999999", headers=bearer(world.users["coordinator"])), 404)


def test_a_recipient_reads_when_pledges_could_arrive_but_not_which_needs_took_them(
    client: TestClient, world: World, session: Session
) -> None:
    # recipient_a's own needs: one too late (its earliest arrival is its to know), one outcompeted (which needs took
    # the units is another organisation's business: staff only).
    outcome = session.get(PlanNeed, (world.plan.id, world.secret_need.id))
    assert outcome is not None
    outcome.reason, outcome.detail = ShortReason.TOO_LATE, {"earliest_eta": "2022-12-03"}
    session.flush()
    url = f"/api/v1/plans/{world.plan.id}"
    seen = {n["ref"]: n for n in client.get(url, headers=bearer(world.users["recipient_a"])).json()["needs"]}
    assert seen[world.secret_need.ref]["detail"] == {"earliest_eta": "2022-12-03"}
    assert seen[world.public_need.ref]["reason"] == "outcompeted"
    assert seen[world.public_need.ref]["detail"] is None
    staff = {n["ref"]: n for n in client.get(url, headers=bearer(world.users["coordinator"])).json()["needs"]}
    assert staff[world.public_need.ref]["detail"] == {"taken_by": [world.secret_need.ref]}


def test_a_recipient_reads_that_only_proposed_pledges_could_serve_but_not_whose(
    client: TestClient, world: World, session: Session
) -> None:
    outcome = session.get(PlanNeed, (world.plan.id, world.secret_need.id))
    assert outcome is not None
    outcome.reason, outcome.detail = ShortReason.NO_SUPPLY, {"proposed": ["P-UNCONFIRMED"], "hint": PROPOSED_HINT}
    session.flush()
    url = f"/api/v1/plans/{world.plan.id}"
    seen = {n["ref"]: n for n in client.get(url, headers=bearer(world.users["recipient_a"])).json()["needs"]}
    assert seen[world.secret_need.ref]["detail"] == {"hint": PROPOSED_HINT}
    staff = {n["ref"]: n for n in client.get(url, headers=bearer(world.users["coordinator"])).json()["needs"]}
    assert staff[world.secret_need.ref]["detail"] == {"proposed": ["P-UNCONFIRMED"], "hint": PROPOSED_HINT}


def test_a_coordinator_runs_a_plan(client: TestClient, world: World) -> None:
    headers = bearer(world.users["coordinator"])
    response = client.post("/api/v1/plans", json={"plan_date": "2022-11-29"}, headers=headers)
    assert response.status_code == 201, response.text
    plan = response.json()
    assert plan["status"] == "optimal"
    assert plan["plan_date"] == "2022-11-29"
    assert plan["lines"], plan
    assert client.get("/api/v1/plans/latest", headers=headers).json()["plan"] == plan["plan"]
    assert_error(client.post("/api/v1/plans", json={}, headers=bearer(world.users["recipient_a"])), 403)
    assert_error(client.post("/api/v1/plans", json={"plan_date": "1999-01-01"}, headers=headers), 422)


# --- public reports and reference data --------------------------------------------------------------


def test_public_reports(client: TestClient, world: World) -> None:
    coverage = client.get("/api/v1/reports/coverage").json()
    tiers = {t["key"]: t for t in coverage["tiers"]}
    assert tiers["critical"]["needs"] == 1
    assert tiers["critical"]["planned"] == pytest.approx(0.5)  # 500 of 1000 by the plan's proposed line
    assert tiers["critical"]["committed"] == 0
    regions = {r["key"]: r for r in coverage["regions"]}
    assert regions[world.other_region.code]["planned"] == pytest.approx(1.0)
    gaps = client.get("/api/v1/reports/gaps").json()
    assert gaps[0]["tier"] == "critical"
    assert gaps[0]["reason"] == "short_supply"
    assert "ref" not in gaps[0]
    contributions = {c["donor"]: c for c in client.get("/api/v1/reports/contributions").json()}
    assert contributions[world.donor_a.code]["value_eur"] == 60000


def test_reference_data_is_public(client: TestClient, world: World) -> None:
    assert client.get(f"/api/v1/regions/{world.region.code}").json()["name"] == world.region.name
    assert client.get(f"/api/v1/hubs/{world.hub.code}").status_code == 200
    assert client.get(f"/api/v1/catalogue/{world.item.code}").json()["provides"] == "POWER-KW"
    assert world.donor_a.code in [d["code"] for d in client.get("/api/v1/donors").json()]
    assert_error(client.get("/api/v1/donors/NOPE"), 404, "ORG_NOT_FOUND")


def test_an_answer_for_a_signed_in_caller_is_kept_by_no_cache(client: TestClient, world: World) -> None:
    """The restricted site's JSON for its owner (and every answer to a bearer token) says no-store, as the pages of a
    signed-in account do; it said nothing, so a browser or proxy could keep it on disk."""
    owner = bearer(world.users["recipient_a"])
    site = client.get(f"/api/v1/sites/{world.secret_site.code}", headers=owner)
    assert site.status_code == 200
    assert site.headers["cache-control"] == "no-store"
    plan = client.get(f"/api/v1/plans/{world.plan.id}", headers=bearer(world.users["donor_a"]))
    assert plan.headers["cache-control"] == "no-store"
    refused = client.get(f"/api/v1/sites/{world.secret_site.code}", headers=bearer(world.users["donor_a"]))
    assert refused.status_code == 404
    assert refused.headers["cache-control"] == "no-store"
    assert "no-store" not in client.get("/api/v1/regions").headers.get("cache-control", "")  # public data


def test_only_admins_manage_users(client: TestClient, world: World) -> None:
    body = {
        "email": "new.donor@example.org",
        "password": "long enough pw",
        "role": "donor",
        "org": world.donor_a.code,
    }
    assert_error(client.post("/api/v1/users", json=body, headers=bearer(world.users["coordinator"])), 403)
    created = client.post("/api/v1/users", json=body, headers=bearer(world.users["admin"]))
    assert created.status_code == 201, created.text
    assert created.json() == {
        "email": "new.donor@example.org",
        "role": "donor",
        "org": world.donor_a.code,
        "active": True,
    }
    listed = client.get("/api/v1/users", headers=bearer(world.users["admin"])).json()
    assert "new.donor@example.org" in [u["email"] for u in listed]
    assert "password" not in str(listed)
