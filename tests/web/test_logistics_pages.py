"""The shipments pages and the need / pledge timeline pages, for every role, in English and Ukrainian."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.orm import Session

from aidpack.allocation import decisions
from aidpack.allocation.models import Line, LineStatus
from aidpack.logistics import service
from aidpack.logistics.models import Condition, Discrepancy
from tests.web.helpers import World, bearer, line_status, page_client
from tests.web.test_restricted_sites import BLIND, crawl

ROLES = ["admin", "coordinator", "recipient_a", "recipient_b", "donor_a", "donor_b", "viewer"]


def accept_all(session: Session, world: World) -> None:
    decisions.accept_lines(session, actor="test", plan_id=world.plan.id, line_ids=[world.line_a.id, world.line_b.id])


def ship_a(session: Session, world: World) -> int:
    accept_all(session, world)
    shipment = service.ship_lines(session, actor="test", line_ids=[world.line_a.id], donor_org_id=None)
    return shipment.id


def test_a_donor_dispatches_its_accepted_lines_with_the_form(app: FastAPI, world: World, session: Session) -> None:
    accept_all(session, world)
    browser, csrf = page_client(app, world.users["donor_a"])
    with browser:
        page = browser.get("/shipments")
        assert page.status_code == 200
        boxes = set(re.findall(r'name="line" value="(\d+)"', page.text))
        assert boxes == {str(world.line_a.id)}  # its own accepted line, not donor B's
        assert world.secret_site.name not in page.text
        refused = browser.post("/shipments", data={"line": [str(world.line_a.id)]})
        assert refused.status_code == 403  # no CSRF token
        assert line_status(session, world.line_a.id) is LineStatus.ACCEPTED
        sent = browser.post("/shipments", data={"csrf_token": csrf, "line": [str(world.line_a.id)]})
        assert sent.status_code == 303, sent.text
        target = sent.headers["location"]
        assert re.fullmatch(r"/shipments/\d+\?done=dispatched", target)
        shown = browser.get(target)
        assert shown.status_code == 200
        assert "Shipment dispatched." in shown.text
        assert world.secret_need.ref in shown.text
        assert world.secret_site.name not in shown.text
        assert f'action="/shipments/{target.split("/")[2].split("?")[0]}/deliver"' in shown.text  # its donor may
        assert "/receive" not in shown.text
    assert line_status(session, world.line_a.id) is LineStatus.DISPATCHED


def test_a_donor_cannot_dispatch_another_donors_line_with_the_form(
    app: FastAPI, world: World, session: Session
) -> None:
    accept_all(session, world)
    browser, csrf = page_client(app, world.users["donor_a"])
    with browser:
        response = browser.post("/shipments", data={"csrf_token": csrf, "line": [str(world.line_b.id)]})
    assert response.status_code == 403
    assert "NOT_YOUR_LINES" in response.text
    assert line_status(session, world.line_b.id) is LineStatus.ACCEPTED


def test_the_recipient_confirms_a_short_receipt_on_the_page(app: FastAPI, world: World, session: Session) -> None:
    shipment = ship_a(session, world)
    other, _ = page_client(app, world.users["recipient_b"])
    with other:
        assert other.get(f"/shipments/{shipment}").status_code == 404
    browser, csrf = page_client(app, world.users["recipient_a"])
    with browser:
        page = browser.get(f"/shipments/{shipment}")
        assert page.status_code == 200
        assert 'id="receive"' in page.text
        assert world.secret_site.name in page.text  # its own restricted site
        bad = browser.post(
            f"/shipments/{shipment}/receive",
            data={"csrf_token": csrf, "line": [str(world.line_a.id)], "units": ["many"], "condition": "good"},
        )
        assert bad.status_code == 422
        assert "is not a number of units" in bad.text
        kept = browser.post(
            f"/shipments/{shipment}/receive",
            data={"csrf_token": csrf, "line": [str(world.line_a.id)], "units": ["many"], "condition": "damaged"},
        )
        # A refused receipt keeps the condition chosen (it fell back to 'good', to be confirmed so by mistake).
        assert re.search(r'<option value="damaged"\s+selected>', kept.text), kept.text
        assert 'value="many"' in kept.text
        too_many = browser.post(
            f"/shipments/{shipment}/receive",
            data={"csrf_token": csrf, "line": [str(world.line_a.id)], "units": ["9"], "condition": "good"},
        )
        assert too_many.status_code == 422
        assert "BAD_RECEIPT" in too_many.text
        assert line_status(session, world.line_a.id) is LineStatus.DISPATCHED
        done = browser.post(
            f"/shipments/{shipment}/receive",
            data={"csrf_token": csrf, "line": [str(world.line_a.id)], "units": [" 3 "], "condition": "damaged"},
        )
        assert done.status_code == 303, done.text
        after = browser.get(done.headers["location"])
        assert "Receipt confirmed." in after.text
        assert "Discrepancies" in after.text
        assert 'id="receive"' not in after.text
    assert line_status(session, world.line_a.id) is LineStatus.RECEIVED
    units, reason = session.execute(
        select(Discrepancy.units, Discrepancy.reason).where(Discrepancy.line_id == world.line_a.id)
    ).one()
    assert (units, reason) == (Decimal(2), "damaged")
    line = session.execute(select(Line).where(Line.id == world.line_a.id)).scalar_one()
    assert line.received_units == 3


def test_a_receipt_form_naming_no_line_id_is_refused_not_a_server_error(
    app: FastAPI, world: World, session: Session
) -> None:
    """A ``line`` field of 5,000 digits was turned into an int (Python refuses beyond 4,300 digits: a 500), and one
    that was not a line id was skipped, so the shipment was received in full without a word."""
    shipment = ship_a(session, world)
    browser, csrf = page_client(app, world.users["recipient_a"])
    with browser:
        for junk in ("9" * 5000, "99999999999", "line-1"):
            answer = browser.post(
                f"/shipments/{shipment}/receive",
                data={"csrf_token": csrf, "line": [junk], "units": ["1"], "condition": "good"},
            )
            assert answer.status_code == 422, answer.text[:300]
            assert "is not a line of this shipment" in answer.text
    assert line_status(session, world.line_a.id) is LineStatus.DISPATCHED


def test_a_donor_may_not_confirm_receipt(app: FastAPI, world: World, session: Session) -> None:
    shipment = ship_a(session, world)
    browser, csrf = page_client(app, world.users["donor_a"])
    with browser:
        assert 'id="receive"' not in browser.get(f"/shipments/{shipment}").text
        response = browser.post(
            f"/shipments/{shipment}/receive",
            data={"csrf_token": csrf, "line": [str(world.line_a.id)], "units": ["0"]},
        )
    assert response.status_code == 403
    assert line_status(session, world.line_a.id) is LineStatus.DISPATCHED


def test_the_coordinator_marks_a_shipment_delivered(app: FastAPI, world: World, session: Session) -> None:
    shipment = ship_a(session, world)
    browser, csrf = page_client(app, world.users["coordinator"])
    with browser:
        response = browser.post(f"/shipments/{shipment}/deliver", data={"csrf_token": csrf})
        assert response.status_code == 303
        page = browser.get(response.headers["location"])
    assert "awaits the recipient" in page.text
    assert line_status(session, world.line_a.id) is LineStatus.DELIVERED


@pytest.mark.parametrize("role", ROLES)
def test_the_shipment_pages_render_for_every_role(app: FastAPI, world: World, session: Session, role: str) -> None:
    shipment = ship_a(session, world)
    expected_list = 403 if role == "viewer" else 200
    expected_one = {"viewer": 403, "recipient_b": 404, "donor_b": 404}.get(role, 200)
    browser, _ = page_client(app, world.users[role])
    with browser:
        listing = browser.get("/shipments")
        one = browser.get(f"/shipments/{shipment}")
        ukrainian = browser.get(f"/shipments/{shipment}?lang=uk")
    assert listing.status_code == expected_list
    assert one.status_code == expected_one
    assert ukrainian.status_code == expected_one
    if expected_one == 200:
        assert f"/shipments/{shipment}" in listing.text
        assert "Відправлення" in ukrainian.text
    sighted = role in ("admin", "coordinator", "recipient_a")
    assert (world.secret_site.name in one.text) is sighted


def test_anonymous_visitors_are_sent_to_sign_in(app: FastAPI, world: World, session: Session) -> None:
    shipment = ship_a(session, world)
    browser, csrf = page_client(app, None)
    with browser:
        for url in ("/shipments", f"/shipments/{shipment}", f"/needs/{world.secret_need.ref}/timeline"):
            response = browser.get(url)
            assert response.status_code == 303
            assert response.headers["location"].startswith("/login?next=")
        posted = browser.post(f"/shipments/{shipment}/receive", data={"csrf_token": csrf})
        assert posted.status_code == 303
    assert line_status(session, world.line_a.id) is LineStatus.DISPATCHED


def test_timeline_pages(app: FastAPI, world: World, session: Session) -> None:
    shipment = ship_a(session, world)
    service.receive_shipment(
        session,
        actor="test",
        shipment_id=shipment,
        received={world.line_a.id: Decimal(4)},
        condition=Condition.GOOD,
        recipient_org_id=None,
    )
    need_url = f"/needs/{world.secret_need.ref}/timeline"
    pledge_url = f"/pledges/{world.pledge_a.ref}/timeline"
    expected = {
        "coordinator": (200, 200),
        "admin": (200, 200),
        "recipient_a": (200, 403),
        "recipient_b": (404, 403),
        "donor_a": (403, 200),
        "donor_b": (404, 404),
        "viewer": (403, 403),
    }
    for role, (need_status, pledge_status) in expected.items():
        browser, _ = page_client(app, world.users[role])
        with browser:
            need_page = browser.get(need_url)
            pledge_page = browser.get(pledge_url)
            pledge_uk = browser.get(pledge_url + "?lang=uk")
        assert (need_page.status_code, pledge_page.status_code) == (need_status, pledge_status), role
        if need_status == 200:
            assert f"shipment {shipment} dispatched" in need_page.text
            assert "Still open" in need_page.text
            assert world.secret_site.name in need_page.text
        if pledge_status == 200:
            assert f"line {world.line_a.id} received" in pledge_page.text
            assert "Хронологія обіцянки" in pledge_uk.text
        if role.startswith("donor"):
            for secret in world.secrets:
                assert secret not in need_page.text + pledge_page.text + pledge_uk.text


def test_the_lists_link_to_timelines_for_those_who_may_read_them(app: FastAPI, world: World) -> None:
    need_link = f'href="/needs/{world.secret_need.ref}/timeline"'
    pledge_link = f'href="/pledges/{world.pledge_a.ref}/timeline"'
    for role, (needs_linked, pledges_linked) in {
        "coordinator": (True, True),
        "recipient_a": (True, False),
        "donor_a": (False, True),
    }.items():
        browser, _ = page_client(app, world.users[role])
        with browser:
            needs = browser.get("/needs").text
            pledges = browser.get("/pledges").text
        assert (need_link in needs) is needs_linked, role
        assert (pledge_link in pledges) is pledges_linked, role
    browser, _ = page_client(app, world.users["donor_a"])
    with browser:
        assert 'href="/shipments"' in browser.get("/").text


@pytest.mark.parametrize("role", BLIND)
def test_the_crawl_with_a_received_shipment_leaks_no_restricted_site(
    app: FastAPI, world: World, session: Session, role: str
) -> None:
    shipment = ship_a(session, world)
    service.receive_shipment(
        session,
        actor="test",
        shipment_id=shipment,
        received={world.line_a.id: Decimal(2)},
        condition=Condition.GOOD,
        recipient_org_id=None,
    )
    session.refresh(world.line_a)
    bodies = crawl(app, world, role)
    assert f"/shipments/{shipment}" in bodies
    assert f"/api/v1/shipments/{shipment}" in bodies
    leaks = [(url, secret) for url, body in bodies.items() for secret in world.secrets if secret in body]
    assert leaks == []


def test_the_ready_to_dispatch_table_says_what_is_shipped(app: FastAPI, world: World, session: Session) -> None:
    """The table of accepted lines ready to dispatch named a pledge and a number of units, not what they are: now
    each row has the item, its units, the need (linked) with the amount it brings in the need's capability, and
    the region; a restricted site the donor may not see reads 'restricted', never its name."""
    accept_all(session, world)
    browser, _ = page_client(app, world.users["donor_a"])
    with browser:
        page = browser.get("/shipments?lang=en").text
    table = re.search(r'<form method="post" action="/shipments" id="dispatch">.*?<table>(.*?)</table>', page, re.S)
    assert table is not None
    head = [re.sub(r"<[^>]+>", "", h) for h in re.findall(r"<th[^>]*>(.*?)</th>", table.group(1), re.S)]
    rows = re.findall(r"<tr>(.*?)</tr>", table.group(1), re.S)[1:]
    assert len(rows) == 1
    cells = dict(zip(head, (re.sub(r"<[^>]+>", "", td).strip()
                            for td in re.findall(r"<td[^>]*>(.*?)</td>", rows[0], re.S)), strict=True))
    assert cells["Item"] == world.item.code
    assert cells["Units"] == "5"
    assert cells["Need"] == world.secret_need.ref
    assert cells["Amount"] == "500 POWER-KW"
    assert cells["Region"] == world.region.name
    assert cells["Site"] == "restricted"
    assert f'href="/needs/{world.secret_need.ref}"' in rows[0]
    for secret in world.secrets:
        assert secret not in page


def _in_transit(page: str) -> str:
    found = re.search(r'<dd id="in-transit">([^<]*)</dd>', page)
    assert found is not None, "no 'In transit' figure"
    return found.group(1)


def test_in_transit_no_longer_counts_a_received_shipment(app: FastAPI, world: World, session: Session) -> None:
    """A need's 'In transit' still counted a shipment after the recipient had received it (it was what had ever
    left the donor); now it is what is on its way, and what was shipped is told apart as 'Shipped'."""
    shipment = ship_a(session, world)
    url = f"/needs/{world.secret_need.ref}/timeline"
    staff, _ = page_client(app, world.users["coordinator"])
    owner, _ = page_client(app, world.users["recipient_a"])
    with staff, owner:
        moving = staff.get(url).text
        service.receive_shipment(
            session,
            actor="test",
            shipment_id=shipment,
            received={world.line_a.id: Decimal(4)},
            condition=Condition.GOOD,
            recipient_org_id=None,
        )
        arrived = staff.get(url).text
        owner_view = owner.get(url).text
        api = staff.get(f"/api/v1/needs/{world.secret_need.ref}/progress", headers=bearer(world.users["coordinator"]))
    assert _in_transit(moving) == "500"
    assert _in_transit(arrived) == "0"
    assert _in_transit(owner_view) == "0"
    assert re.search(r"<dt>Shipped</dt><dd>400 \(partial\)</dd>", arrived)
    assert re.search(r"<dt>Fulfilled</dt><dd>400 \(partial\)</dd>", arrived)
    assert (api.json()["in_transit"], api.json()["on_the_way"], api.json()["fulfilled"]) == (400, 0, 400)
