"""The HTML pages: overview with the SVG map, forms with CSRF, the plan page, English and Ukrainian."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from aidpack.allocation import decisions
from aidpack.allocation.explain import PROPOSED_HINT
from aidpack.allocation.models import LineStatus, ShortReason
from aidpack.auth.policy import Principal
from aidpack.needs import service as needs_service
from aidpack.needs.models import Need, Priority
from aidpack.pledges.models import Pledge, PledgeStatus
from aidpack.reports.service import need_shares
from aidpack.web import pages_plans
from aidpack.web.i18n import translations
from aidpack.web.map import NO_DATA, outline
from tests.factories import make_item, make_line, make_need, make_plan_need, make_pledge, make_region, statements
from tests.web.helpers import World, line_status, page_client


def test_the_overview_draws_every_region_and_colours_those_with_needs(
    client: TestClient, world: World, session: Session
) -> None:
    region = make_region(session, code="UA-63", name="Kharkiv Oblast")
    make_need(session, region=region, quantity=10)
    html = client.get("/").text
    paths = re.findall(r'<path data-region="([^"]+)" d="M[^"]+" fill="(#[0-9a-f]{6})">', html)
    assert len(paths) == len(outline().shapes) == 27
    fills = dict(paths)
    assert fills["UA-63"] != NO_DATA  # a region with an open need is coloured
    assert fills["UA-46"] == NO_DATA  # Lviv has none here
    assert "ODbL" in html
    assert "OpenStreetMap" in html


def test_the_overview_lists_gaps_by_need_for_staff_and_aggregated_for_the_public(app: FastAPI, world: World) -> None:
    staff, _ = page_client(app, world.users["coordinator"])
    public, _ = page_client(app, None)
    with staff, public:
        staff_html = staff.get("/").text
        public_html = public.get("/").text
    assert world.secret_need.ref in staff_html
    assert world.secret_site.name in staff_html
    assert world.secret_need.ref not in public_html
    assert "short supply" in public_html  # the reason is public, the need is not
    assert world.region.name in public_html


def test_anonymous_visitors_are_sent_to_sign_in(client: TestClient, world: World) -> None:
    response = client.get(f"/needs/{world.secret_need.ref}")
    assert response.status_code == 303
    assert response.headers["location"] == f"/login?next=%2Fneeds%2F{world.secret_need.ref}"


def test_a_recipient_adds_a_need_with_the_form(app: FastAPI, world: World, session: Session) -> None:
    browser, csrf = page_client(app, world.users["recipient_a"])
    form = {
        "ref": "N-FORM-1",
        "region": world.region.code,
        "site": world.secret_site.code,
        "capability": "POWER-KW",
        "quantity": "120.5",
        "priority": "high",
        "deadline": "2022-12-31",
        "people_served": "",
        "notes": "",
    }
    with browser:
        assert browser.get("/needs/new").status_code == 200
        assert browser.post("/needs", data=form).status_code == 403  # no CSRF token
        invalid = browser.post("/needs", data={**form, "quantity": "a lot", "csrf_token": csrf})
        assert invalid.status_code == 422
        assert "quantity" in invalid.text
        assert 'value="N-FORM-1"' in invalid.text  # the form keeps what was typed
        created = browser.post("/needs", data={**form, "csrf_token": csrf})
        assert created.status_code == 303, created.text
        assert created.headers["location"] == "/needs/N-FORM-1?saved=1"
        page = browser.get("/needs/N-FORM-1?saved=1").text
    assert world.secret_site.name in page
    need = session.execute(select(Need).where(Need.ref == "N-FORM-1")).scalar_one()
    assert need.org_id == world.recipient_a.id
    assert float(need.quantity) == 120.5


def test_a_stale_edit_form_is_refused(app: FastAPI, world: World, session: Session) -> None:
    browser, csrf = page_client(app, world.users["coordinator"])
    url = f"/needs/{world.secret_need.ref}"
    base = {"csrf_token": csrf, "quantity": "900", "priority": "high", "status": "open"}
    with browser:
        version = world.secret_need.version
        first = browser.post(url, data={**base, "version": str(version)})
        assert first.status_code == 303, first.text
        stale = browser.post(url, data={**base, "quantity": "800", "version": str(version)})
        assert stale.status_code == 412
        assert "STALE_VERSION" in stale.text
    session.expire_all()
    need = session.get(Need, world.secret_need.id)
    assert need is not None
    assert (need.quantity, need.priority) == (Decimal(900), Priority.HIGH)


def test_a_donor_adds_and_edits_a_pledge_with_the_form(app: FastAPI, world: World, session: Session) -> None:
    browser, csrf = page_client(app, world.users["donor_a"])
    with browser:
        created = browser.post(
            "/pledges",
            data={
                "csrf_token": csrf,
                "ref": "P-FORM-1",
                "item": world.item.code,
                "units": "3",
                "hub": world.hub.code,
                "channel": "bilateral",
                "status": "confirmed",
                "value_eur": "1000",
                "available": "",
                "source": "",
            },
        )
        assert created.status_code == 303, created.text
        pledge = session.execute(select(Pledge).where(Pledge.ref == "P-FORM-1")).scalar_one()
        assert pledge.donor_id == world.donor_a.id
        edited = browser.post(
            "/pledges/P-FORM-1",
            data={
                "csrf_token": csrf,
                "version": str(pledge.version),
                "units": "4",
                "hub": world.hub.code,
                "channel": "nato-cap",
                "status": "confirmed",
                "value_eur": "",
                "available": "",
                "source": "",
            },
        )
        assert edited.status_code == 303, edited.text
        other = browser.post(f"/pledges/{world.pledge_b.ref}", data={"csrf_token": csrf, "version": "1", "units": "1"})
        assert other.status_code == 404
    session.expire_all()
    pledge = session.execute(select(Pledge).where(Pledge.ref == "P-FORM-1")).scalar_one()
    assert (pledge.units, pledge.channel.value, pledge.value_eur) == (Decimal(4), "nato-cap", None)


def test_the_coordinator_accepts_lines_on_the_plan_page(app: FastAPI, world: World, session: Session) -> None:
    browser, csrf = page_client(app, world.users["coordinator"])
    with browser:
        page = browser.get(f"/plans/{world.plan.id}").text
        assert f'name="line" value="{world.line_a.id}"' in page
        # The gaps the plan proved: per priority, and on the unit-days in transit, as shares people read.
        assert "At most short of the best" in page
        assert "more unit-days in transit than the least proven possible" in page
        decided = browser.post(
            f"/plans/{world.plan.id}/decide",
            data={"csrf_token": csrf, "action": "accept", "line": [str(world.line_a.id)]},
        )
        assert decided.status_code == 303, decided.text
        assert line_status(session, world.line_a.id) is LineStatus.ACCEPTED
        assert line_status(session, world.line_b.id) is LineStatus.PROPOSED
        browser.post(f"/plans/{world.plan.id}/decide", data={"csrf_token": csrf, "action": "reject_all"})
        assert line_status(session, world.line_b.id) is LineStatus.REJECTED
        after = browser.get(f"/plans/{world.plan.id}?done=rejected").text
    assert "Lines rejected." in after
    assert 'name="line"' not in after  # nothing left to decide


def test_deciding_with_nothing_ticked_or_no_button_changes_nothing_and_says_so(
    app: FastAPI, world: World, session: Session
) -> None:
    """'Accept selected' with no line ticked left the plan for an error page that told the coordinator to
    'name at least one line (--line ID) or take them all (--all)' (the CLI's words); a form without the button's
    action rejected the ticked lines. Now the plan page says nothing was ticked, the second is refused, and a
    decision says how many lines it took."""
    browser, csrf = page_client(app, world.users["coordinator"])
    decide = f"/plans/{world.plan.id}/decide"
    with browser:
        nothing = browser.post(decide, data={"csrf_token": csrf, "action": "accept"})
        assert nothing.status_code == 303
        told = browser.get(nothing.headers["location"]).text
        no_action = browser.post(decide, data={"csrf_token": csrf, "line": [str(world.line_a.id)]})
        assert line_status(session, world.line_a.id) is LineStatus.PROPOSED
        one = browser.post(decide, data={"csrf_token": csrf, "action": "accept", "line": [str(world.line_a.id)]})
        counted = browser.get(one.headers["location"]).text
    assert "No line was ticked: nothing was accepted or rejected." in told
    assert "Lines accepted" not in told
    assert no_action.status_code == 422
    assert "1 line accepted: its pledge units are now reserved." in counted
    assert line_status(session, world.line_a.id) is LineStatus.ACCEPTED
    assert line_status(session, world.line_b.id) is LineStatus.PROPOSED


def _short_rows(page: str) -> list[str]:
    table = re.search(r'<table id="short-needs">(.*?)</table>', page, re.S)
    assert table is not None, "no table of needs left short"
    return re.findall(r"<tr>(.*?)</tr>", table.group(1), re.S)[1:]


def test_the_plan_page_shows_needs_left_short_before_its_lines_most_pressing_first(
    app: FastAPI, world: World
) -> None:
    """A coordinator reads the gaps first: they came after every line (500 per page: 30,000 pixels down) as
    ref, quantity, covered and reason alone, in ref order; now above the lines with priority, region, capability
    and the people left without cover, critical first, as `aidpack plan show` lists them."""
    secret, public = world.secret_need.ref, world.public_need.ref
    staff, _ = page_client(app, world.users["coordinator"])
    donor, _ = page_client(app, world.users["donor_a"])
    owner, _ = page_client(app, world.users["recipient_a"])
    with staff, donor, owner:
        page = staff.get(f"/plans/{world.plan.id}").text
        donor_page = donor.get(f"/plans/{world.plan.id}").text
        owner_page = owner.get(f"/plans/{world.plan.id}").text
    assert page.index('id="short-needs"') < page.index('id="decide"')
    rows = _short_rows(page)
    assert [re.search(r'href="/needs/([^"]+)"', row).group(1) for row in rows] == [secret, public]  # type: ignore[union-attr]
    # the critical need first, half covered: 6,000 of its 12,000 people without cover
    for text in ("critical", world.region.name, "POWER-KW", "1\u202f000", "500", "6\u202f000", "short supply"):
        assert text in rows[0], (text, rows[0])
    assert "outcompeted" in rows[1]
    assert "high" in rows[1]
    assert "People without cover" in owner_page
    assert len(_short_rows(owner_page)) == 2
    # a donor sees the need its line serves, but not how many people it serves (policy.need_full_detail)
    assert "People without cover" not in donor_page
    assert [secret in row for row in _short_rows(donor_page)] == [True]


def test_the_plan_page_reads_the_plans_needs_once(app: FastAPI, world: World, session: Session) -> None:
    """The page read them twice: as the plan's outcomes, and again for its short needs' tier, region, capability
    and people (0.13-0.5 s of the page at 1e6 candidate edges, 9,845 needs)."""
    staff, _ = page_client(app, world.users["coordinator"])
    with staff, statements(session) as queries:
        page = staff.get(f"/plans/{world.plan.id}")
    assert page.status_code == 200
    assert len(_short_rows(page.text)) == 2
    assert sum("FROM plan_needs" in query for query in queries) == 1


def test_the_plan_page_lists_the_most_pressing_short_needs_and_all_of_them_on_request(
    app: FastAPI, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A national plan leaves 1,400 needs short: their table made most of a 762 KiB page. The page lists the most
    pressing, says how many there are, and links to all of them."""
    monkeypatch.setattr(pages_plans, "SHORT_SHOWN", 1)
    staff, _ = page_client(app, world.users["coordinator"])
    with staff:
        page = staff.get(f"/plans/{world.plan.id}").text
        every = staff.get(f"/plans/{world.plan.id}?short=all").text
        wrong = staff.get(f"/plans/{world.plan.id}?short=some")
    assert [world.secret_need.ref in row for row in _short_rows(page)] == [True]
    assert "Needs left short (2)" in page
    assert "The 1 most pressing of 2 are shown." in page
    assert f'href="/plans/{world.plan.id}?short=all#short"' in page
    assert len(_short_rows(every)) == 2
    assert 'id="short-more"' not in every
    assert wrong.status_code == 422


def test_a_plan_shows_its_lines_a_page_at_a_time(
    app: FastAPI, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A national plan has 20,000 lines: the page shows them in pages, and accepting all still means all."""
    monkeypatch.setattr(pages_plans, "PAGE_LINES", 1)
    first, second = sorted([world.line_a.id, world.line_b.id])
    browser, _ = page_client(app, world.users["coordinator"])
    with browser:
        one = browser.get(f"/plans/{world.plan.id}").text
        two = browser.get(f"/plans/{world.plan.id}?page=2").text
        beyond = browser.get(f"/plans/{world.plan.id}?page=99").text
        refused = browser.get(f"/plans/{world.plan.id}?page=0")
    total = int(re.search(r"Lines 1–1 of (\d+)", one).group(1))  # type: ignore[union-attr]
    assert total >= 2
    assert f'name="line" value="{first}"' in one
    assert f'name="line" value="{second}"' not in one
    assert f'href="/plans/{world.plan.id}?page=2" rel="next"' in one
    assert 'rel="prev"' not in one
    assert f'name="line" value="{second}"' in two
    assert f'name="line" value="{first}"' not in two
    assert f'href="/plans/{world.plan.id}?page=1" rel="prev"' in two
    assert f"Lines {total}–{total} of {total}" in beyond
    assert 'rel="next"' not in beyond
    assert f"Accept all {total} proposed lines" in one  # every proposed line, not the page's
    assert refused.status_code == 422


def test_donors_cannot_decide_plans_on_the_page(app: FastAPI, world: World, session: Session) -> None:
    browser, csrf = page_client(app, world.users["donor_a"])
    with browser:
        page = browser.get(f"/plans/{world.plan.id}").text
        assert 'name="line"' not in page
        refused = browser.post(f"/plans/{world.plan.id}/decide", data={"csrf_token": csrf, "action": "accept_all"})
    assert refused.status_code == 403
    assert line_status(session, world.line_a.id) is LineStatus.PROPOSED


def _waiting_for_a_proposed_pledge(session: Session, world: World) -> tuple[Need, Pledge]:
    """A need of recipient_a that no confirmed pledge can still supply (donor_a's one pump is held by an accepted
    line to it) and that donor_b's proposed pledge would: the plan left it short with reason no_supply."""
    pump = make_item(session, provides="WATER-PUMP", factor=Decimal(1), category="wash")
    need = make_need(session, region=world.region, org=world.recipient_a, capability="WATER-PUMP",
                     quantity=Decimal(3), priority=Priority.CRITICAL)
    proposed = make_pledge(session, donor=world.donor_b, item=pump, hub=world.hub, units=Decimal(3),
                           status=PledgeStatus.PROPOSED)
    held = make_pledge(session, donor=world.donor_a, item=pump, hub=world.hub, units=Decimal(1))
    make_line(session, plan=world.plan, pledge=held, need=need, units=1, status=LineStatus.ACCEPTED)
    make_plan_need(session, plan=world.plan, need=need, open_quantity=Decimal(2), covered_fixed=Decimal(1),
                   reason=ShortReason.NO_SUPPLY, detail={"proposed": [proposed.ref], "hint": PROPOSED_HINT})
    return need, proposed


def _reason_cell(page: str, need_ref: str) -> str:
    """The reason cell (the last) of the row of ``need_ref`` in a table of short needs or gaps."""
    row = re.search(rf'<tr><td[^>]*><a href="/needs/{re.escape(need_ref)}">.*?</tr>', page, re.S)
    assert row is not None, f"no row of {need_ref}"
    cells: list[str] = re.findall(r"<td[^>]*>(.*?)</td>", row.group(0), re.S)
    return cells[-1]


def test_a_need_only_proposed_pledges_could_supply_says_so_and_names_them_to_staff_only(
    app: FastAPI, world: World, session: Session
) -> None:
    """The plan named the proposed pledges that provide a no_supply need's capability (`allocate --json`); the
    overview and the plan page said 'no supply' alone, as if nobody had pledged any. Everyone who sees the reason
    reads that only proposed pledges provide it; which pledges (another organisation's unconfirmed ones) only staff,
    as with the needs that took an outcompeted need's units."""
    need, proposed = _waiting_for_a_proposed_pledge(session, world)
    staff, _ = page_client(app, world.users["coordinator"])
    owner, _ = page_client(app, world.users["recipient_a"])
    donor, _ = page_client(app, world.users["donor_a"])
    pledger, _ = page_client(app, world.users["donor_b"])
    with staff, owner, donor, pledger:
        pages = {
            (who, path): client.get(path).text
            for who, client in (("staff", staff), ("owner", owner), ("donor", donor), ("pledger", pledger))
            for path in ("/", f"/plans/{world.plan.id}")
        }
        ukrainian = staff.get(f"/plans/{world.plan.id}?lang=uk").text
    for path in ("/", f"/plans/{world.plan.id}"):
        cell = _reason_cell(pages["staff", path], need.ref)
        assert "no supply" in cell
        assert "only proposed pledges provide this" in cell, path
        assert proposed.ref in cell, path
        # the recipient whose need it is: the hint, not the other organisation's pledge
        cell = _reason_cell(pages["owner", path], need.ref)
        assert "only proposed pledges provide this" in cell, path
        assert proposed.ref not in pages["owner", path], path
    # a donor whose line feeds the need sees it on the plan page (not on the overview): the hint, not the pledge
    cell = _reason_cell(pages["donor", f"/plans/{world.plan.id}"], need.ref)
    assert "only proposed pledges provide this" in cell
    assert proposed.ref not in pages["donor", f"/plans/{world.plan.id}"]
    assert proposed.ref not in pages["donor", "/"]
    # the donor of the proposed pledge does not see the need at all
    assert need.ref not in pages["pledger", f"/plans/{world.plan.id}"]
    assert "only proposed pledges provide this" not in pages["pledger", f"/plans/{world.plan.id}"]
    assert "це забезпечують лише запропоновані внески" in _reason_cell(ukrainian, need.ref)


def test_the_language_is_chosen_by_query_remembered_by_cookie_or_asked_by_the_browser(
    client: TestClient, world: World
) -> None:
    english = client.get("/public")
    assert english.headers["content-language"] == "en"
    assert "What was given, and what is still missing" in english.text
    ukrainian = client.get("/public?lang=uk")
    assert ukrainian.headers["content-language"] == "uk"
    assert "Що надано і чого ще бракує" in ukrainian.text
    assert '<html lang="uk">' in ukrainian.text
    assert "aidpack_lang=uk" in ukrainian.headers["set-cookie"]
    assert "Внески донорів" in client.get("/contributions").text  # remembered
    client.cookies.clear()
    asked = client.get("/contributions", headers={"Accept-Language": "uk-UA,uk;q=0.9,en;q=0.5"})
    assert asked.headers["content-language"] == "uk"


def test_ukrainian_has_three_plural_forms() -> None:
    uk = translations("uk")
    assert [uk.ngettext("%(count)s need", "%(count)s needs", n) % {"count": n} for n in (1, 3, 5, 21, 11)] == [
        "1 запит",
        "3 запити",
        "5 запитів",
        "21 запит",
        "11 запитів",
    ]


def test_pages_are_small_and_carry_security_headers(client: TestClient, world: World) -> None:
    response = client.get("/", headers={"Accept-Encoding": "gzip"})
    assert response.headers["content-encoding"] == "gzip"
    assert int(response.headers.get("content-length", "0")) < 40_000  # compressed, map included
    assert response.headers["x-frame-options"] == "DENY"
    assert "script-src 'self'" in response.headers["content-security-policy"]
    htmx = client.get("/static/htmx.min.js")
    assert htmx.status_code == 200
    assert "htmx" in htmx.text[:200]


def test_ids_and_offsets_beyond_the_database_s_integers_are_a_user_error(app: FastAPI, world: World) -> None:
    staff, csrf = page_client(app, world.users["coordinator"])
    huge = "99999999999999999999"
    with staff:
        answers = [staff.get(f"/plans/{huge}"), staff.get(f"/shipments/{huge}"),
                   staff.post(f"/plans/{huge}/decide", data={"csrf_token": csrf}),
                   staff.post(f"/shipments/{huge}/deliver", data={"csrf_token": csrf}),
                   staff.get(f"/needs?offset={huge}"), staff.get(f"/pledges?offset={huge}"),
                   staff.get(f"/shipments?offset={huge}")]
    assert [answer.status_code for answer in answers] == [422] * len(answers)


def _site_cells(page: str, table_id: str) -> dict[str, str]:
    """Per need ref: the Site cell of a lines table (the column after Region)."""
    table = re.search(rf'id="{table_id}".*?<table>(.*?)</table>', page, re.S)
    assert table is not None, f"no lines table in #{table_id}"
    head = re.findall(r"<th[^>]*>(.*?)</th>", table.group(1), re.S)
    labels = [re.sub(r"<[^>]+>", "", h) for h in head]
    assert "Site" in labels, labels
    column = labels.index("Site")
    cells: dict[str, str] = {}
    for row in re.findall(r"<tr>(.*?)</tr>", table.group(1), re.S)[1:]:
        tds = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        ref = re.search(r'href="/needs/([^"]+)"', row) or re.search(r"<td>(NEED-[^<]+)</td>", row)
        assert ref is not None, row
        cells[ref.group(1)] = re.sub(r"<[^>]+>", "", tds[column]).strip()
    return cells


def test_a_donor_s_plan_page_says_restricted_where_it_may_not_see_the_site(
    app: FastAPI, world: World, session: Session
) -> None:
    """A donor's plan page had a Site column of blank cells where sites are restricted (read as 'no site'), or none
    at all; now the cell says 'restricted' (never the name), a public site is named and a need without one says –."""
    make_line(session, plan=world.plan, pledge=world.pledge_a, need=world.public_need, units=1)
    make_line(session, plan=world.plan, pledge=world.pledge_a, need=world.other_need, units=1)
    donor, _ = page_client(app, world.users["donor_a"])
    staff, _ = page_client(app, world.users["coordinator"])
    with donor, staff:
        donor_page = donor.get(f"/plans/{world.plan.id}").text
        staff_page = staff.get(f"/plans/{world.plan.id}").text
    assert _site_cells(donor_page, "decide") == {
        world.secret_need.ref: "restricted",
        world.public_need.ref: world.public_site.name,
        world.other_need.ref: "–",
    }
    for secret in world.secrets:
        assert secret not in donor_page
    assert _site_cells(staff_page, "decide")[world.secret_need.ref] == world.secret_site.name


def _need_rows(page: str) -> list[tuple[str, str]]:
    """(ref, coverage cell text) of each row of the needs list, in order."""
    table = re.search(r'<div id="needs-table">.*?<table>(.*?)</table>', page, re.S)
    assert table is not None, "no needs table"
    rows = []
    for row in re.findall(r"<tr>(.*?)</tr>", table.group(1), re.S)[1:]:
        ref = re.search(r'href="/needs/([^"/]+)"', row)
        cell = re.search(r'<td class="num coverage">(.*?)</td>', row, re.S)
        assert ref is not None, row
        assert cell is not None, row
        rows.append((ref.group(1), re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", cell.group(1))).strip()))
    return rows


def test_the_needs_list_shows_coverage_and_orders_by_a_column(app: FastAPI, world: World, session: Session) -> None:
    """The needs list had no coverage and one order (by ref): now each need's share covered by committed lines and
    the latest plan's proposed ones (the committed share beside it when less), and its headings order the list,
    a second click the reverse; filters keep the order."""
    decisions.accept_lines(session, actor="test", plan_id=world.plan.id, line_ids=[world.line_a.id])  # 500 committed
    make_line(session, plan=world.plan, pledge=world.pledge_a, need=world.secret_need, units=1)  # 100 proposed
    secret, public, other = world.secret_need.ref, world.public_need.ref, world.other_need.ref
    browser, _ = page_client(app, world.users["coordinator"])
    with browser:
        by_coverage = browser.get("/needs?sort=coverage").text
        reverse = browser.get("/needs?sort=-coverage").text
        by_priority = browser.get("/needs?sort=priority").text
        filtered = browser.get(f"/needs?sort=-coverage&region={world.region.code}").text
        unknown = browser.get("/needs?sort=nonsense")
    assert _need_rows(by_coverage) == [(public, "0 %"), (secret, "60 % 50 % committed"), (other, "100 % 0 % committed")]
    assert [ref for ref, _ in _need_rows(reverse)] == [other, secret, public]
    assert [ref for ref, _ in _need_rows(by_priority)] == [secret, public, other]  # critical, high, medium
    assert [ref for ref, _ in _need_rows(filtered)] == [secret, public]
    assert 'aria-sort="ascending"' in by_coverage
    assert 'href="/needs?sort=-coverage"' in by_coverage  # a second click reverses
    assert 'name="sort" value="-coverage"' in filtered  # the filters' form keeps the order
    assert unknown.status_code == 200


def test_the_needs_list_orders_by_coverage_in_the_database(session: Session, world: World) -> None:
    """Ordering by coverage is the database's (a sum per need, joined): the same order as the exact shares."""
    staff = Principal(user_id=world.users["coordinator"].id, email="c", role=world.users["coordinator"].role)
    for index in range(12):
        need = make_need(session, region=world.region, quantity=Decimal(1000))
        if index:
            make_line(session, plan=world.plan, need=need, units=index, status=LineStatus.PROPOSED)
    rows, _ = needs_service.list_needs(session, principal=staff, sort=needs_service.NeedSort.COVERAGE, limit=100)
    shares = need_shares(session, rows)
    planned = [shares[need.id].planned for need in rows]
    assert planned == sorted(planned)
    assert len(set(planned)) > 5
