"""Browser tests: Playwright drives Debian's Chromium against a real Uvicorn server (temp SQLite database).

Run with ``pytest -m browser``; screenshots go to ``test-results/``.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Page, Route, expect

from aidpack.app import create_app
from aidpack.auth.models import Role
from aidpack.auth.service import create_user
from aidpack.db import make_engine, make_session_factory, migrate, unit_of_work
from aidpack.needs.models import Priority
from aidpack.orgs.models import OrgKind
from aidpack.scenario.models import ScenarioInfo
from aidpack.sites.models import Sensitivity
from tests.factories import make_hub, make_item, make_need, make_org, make_pledge, make_region, make_site
from tests.web.helpers import web_settings

pytestmark = pytest.mark.browser

if shutil.which("chromium") is None and not Path("/usr/bin/chromium").exists():  # pragma: no cover
    pytest.skip("Chromium is not installed: apt-get install -y chromium", allow_module_level=True)

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-results"
PASSWORD = "browser-test-password"


@dataclass(frozen=True)
class Server:
    url: str
    region_code: str
    item_code: str
    hub_code: str


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _seed(url: str) -> tuple[str, str, str]:
    engine = make_engine(url)
    migrate(engine)
    with unit_of_work(make_session_factory(engine)) as session:
        session.add(ScenarioInfo(name="browser test", plan_date=dt.date(2022, 11, 29)))
        kharkiv = make_region(
            session,
            code="UA-63",
            name="Kharkiv Oblast",
            name_local="Харківська область",
            lat=49.99,
            lon=36.23,
        )
        hub = make_hub(session, code="RZE", name="Rzeszów", lat=50.04, lon=22.0)
        item = make_item(session, code="GEN-100KW", name="Generator 100 kW", provides="POWER-KW", factor=Decimal(100))
        donor = make_org(session, code="DE", name="Germany")
        recipient = make_org(
            session,
            code="UA-MOE",
            name="Ministry of Energy",
            kind=OrgKind.AUTHORITY,
            is_donor=False,
            is_recipient=True,
        )
        site = make_site(
            session,
            region=kharkiv,
            org=recipient,
            code="KH-TPP-5",
            name="Kharkiv heating plant 5",
            sensitivity=Sensitivity.RESTRICTED,
        )
        make_need(
            session,
            site=site,
            org=recipient,
            ref="N-KH-1",
            quantity=Decimal(800),
            priority=Priority.CRITICAL,
            deadline=dt.date(2022, 12, 20),
        )
        make_pledge(session, donor=donor, item=item, hub=hub, ref="P-DE-1", units=Decimal(5))
        for email, role, org in (
            ("coordinator@example.org", Role.COORDINATOR, None),
            ("donor@example.org", Role.DONOR, "DE"),
            ("recipient@example.org", Role.RECIPIENT, "UA-MOE"),
        ):
            create_user(session, actor="test", email=email, password=PASSWORD, role=role, org_code=org)
    engine.dispose()
    return kharkiv.code, item.code, hub.code


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    url = f"sqlite:///{tmp_path_factory.mktemp('browser') / 'aidpack.db'}"
    region, item, hub = _seed(url)
    port = _free_port()
    app = create_app(web_settings(url))
    uv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not uv.started:
        if time.monotonic() > deadline:  # pragma: no cover
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    SCREENSHOTS.mkdir(exist_ok=True)
    yield Server(f"http://127.0.0.1:{port}", region, item, hub)
    uv.should_exit = True
    thread.join(timeout=10)


def sign_in(page: Page, server: Server, email: str) -> None:
    page.goto(f"{server.url}/login")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("main form button[type=submit]")
    page.wait_for_url(f"{server.url}/")
    expect(page.locator(".who")).to_contain_text(email)


def test_a_recipient_signs_in_and_adds_a_need(page: Page, server: Server) -> None:
    sign_in(page, server, "recipient@example.org")
    page.goto(f"{server.url}/needs/new")
    page.fill("#ref", "N-KH-BROWSER")
    page.select_option("#region", server.region_code)
    page.select_option("#site", "KH-TPP-5")
    page.fill("#capability", "POWER-KW")
    page.fill("#quantity", "250")
    page.select_option("#priority", "high")
    page.fill("#deadline", "2022-12-31")
    page.click("form.form button[type=submit]")
    page.wait_for_url(re.compile(r".*/needs/N-KH-BROWSER\?saved=1$"))
    expect(page.locator("h1")).to_contain_text("N-KH-BROWSER")
    expect(page.locator("dl.facts")).to_contain_text("Kharkiv heating plant 5")
    page.screenshot(path=str(SCREENSHOTS / "recipient-added-need.png"), full_page=True)
    page.goto(f"{server.url}/needs")
    expect(page.locator("#needs-table")).to_contain_text("N-KH-BROWSER")


def test_a_donor_adds_a_pledge(page: Page, server: Server) -> None:
    sign_in(page, server, "donor@example.org")
    page.goto(f"{server.url}/pledges/new")
    page.fill("#ref", "P-DE-BROWSER")
    page.select_option("#item", server.item_code)
    page.fill("#units", "3")
    page.select_option("#hub", server.hub_code)
    page.fill("#value_eur", "45000")
    page.click("form.form button[type=submit]")
    page.wait_for_url(re.compile(r".*/pledges/P-DE-BROWSER\?saved=1$"))
    expect(page.locator("dl.facts")).to_contain_text("Germany")
    page.screenshot(path=str(SCREENSHOTS / "donor-added-pledge.png"), full_page=True)


def test_a_coordinator_runs_a_plan_and_accepts_its_lines(page: Page, server: Server) -> None:
    sign_in(page, server, "coordinator@example.org")
    page.goto(f"{server.url}/plans")
    page.click("#run-plan")
    page.wait_for_url(re.compile(r".*/plans/\d+$"))
    rows = page.locator("#decide tbody tr")
    expect(rows.first).to_be_visible()
    expect(page.locator("#decide")).to_contain_text("proposed")
    page.click("#accept-all")
    page.wait_for_url(re.compile(r".*/plans/\d+\?done=accepted&count=\d+$"))
    expect(page.locator(".ok")).to_contain_text("accepted: ")
    expect(page.locator("td.status-accepted").first).to_be_visible()
    expect(page.locator("td.status-proposed")).to_have_count(0)
    page.screenshot(path=str(SCREENSHOTS / "coordinator-accepted-plan.png"), full_page=True)


def test_the_map_renders(page: Page, server: Server) -> None:
    page.goto(f"{server.url}/")
    paths = page.locator("svg.map path[data-region]")
    expect(paths).to_have_count(27)
    kharkiv = page.locator(f'svg.map path[data-region="{server.region_code}"]')
    assert kharkiv.get_attribute("fill") != "#e3e3e3"  # a region with needs is coloured
    box = page.locator("svg.map").bounding_box()
    assert box is not None
    assert box["width"] > 200
    expect(page.locator(".attribution")).to_contain_text("ODbL")
    page.screenshot(path=str(SCREENSHOTS / "overview-map.png"), full_page=True)


def test_the_ukrainian_page_shows_ukrainian_text(page: Page, server: Server) -> None:
    page.goto(f"{server.url}/?lang=uk")
    expect(page.locator("html")).to_have_attribute("lang", "uk")
    expect(page.locator("h1")).to_have_text("Огляд")
    expect(page.locator("main")).to_contain_text("Покриття за пріоритетом")
    expect(page.locator('svg.map path[data-region="UA-63"] title')).to_contain_text("Харківська область")
    page.screenshot(path=str(SCREENSHOTS / "overview-uk.png"), full_page=True)
    # the choice is remembered: the next page is Ukrainian without ?lang=
    page.goto(f"{server.url}/contributions")
    expect(page.locator("h1")).to_have_text("Внески донорів")
    page.screenshot(path=str(SCREENSHOTS / "contributions-uk.png"), full_page=True)
    page.goto(f"{server.url}/?lang=en")


def test_a_wrong_password_is_told(page: Page, server: Server) -> None:
    """Boosted forms swap refusals in too: htmx's default kept the page as it was on a 401, without a word."""
    page.goto(f"{server.url}/login")
    page.fill("#email", "coordinator@example.org")
    page.fill("#password", "not the password")
    page.click("main form button[type=submit]")
    expect(page.locator("main [role=alert]")).to_contain_text("Wrong e-mail or password.")
    expect(page.locator("#email")).to_have_value("coordinator@example.org")


def test_a_refused_need_form_says_why_and_keeps_what_was_typed(page: Page, server: Server) -> None:
    sign_in(page, server, "recipient@example.org")
    page.goto(f"{server.url}/needs/new")
    page.fill("#ref", "N-KH-REFUSED")
    page.select_option("#region", server.region_code)
    page.fill("#capability", "POWER-KW")
    page.fill("#quantity", "many")
    page.fill("#notes", "typed by hand at the heating plant")
    page.click("form.form button[type=submit]")
    expect(page.locator("main .errors")).to_contain_text("quantity")
    expect(page.locator("#ref")).to_have_value("N-KH-REFUSED")
    expect(page.locator("#notes")).to_have_value("typed by hand at the heating plant")
    page.screenshot(path=str(SCREENSHOTS / "recipient-need-refused.png"), full_page=True)


def test_running_a_plan_says_it_is_running(page: Page, server: Server) -> None:
    """A plan takes seconds on real data: the button is disabled and says so until the plan page comes (it looked
    as if nothing happened, inviting a second click)."""
    sign_in(page, server, "coordinator@example.org")
    page.goto(f"{server.url}/plans")
    held: list[Route] = []
    page.route(re.compile(r".*/plans$"), lambda route: held.append(route) if route.request.method == "POST"
               else route.continue_())
    page.click("#run-plan")
    expect(page.locator("#run-busy")).to_be_visible()
    expect(page.locator("#run-plan")).to_be_disabled()
    page.screenshot(path=str(SCREENSHOTS / "coordinator-plan-running.png"), full_page=True)
    assert len(held) == 1
    held[0].continue_()
    page.wait_for_url(re.compile(r".*/plans/\d+$"))
    page.unroute(re.compile(r".*/plans$"))
    expect(page.locator("h1")).to_contain_text("Plan")


def test_after_a_swap_the_focus_is_on_the_message_not_the_body(page: Page, server: Server) -> None:
    """After htmx swapped a page in, keyboard focus was left on the body: a keyboard user started from the top
    and a screen reader said nothing. Now a refusal's message, a confirmation, or else the heading has it."""
    page.goto(f"{server.url}/login")
    page.fill("#email", "recipient@example.org")
    page.fill("#password", "not the password")
    page.click("main form button[type=submit]")
    expect(page.locator("main [role=alert]")).to_be_focused()
    sign_in(page, server, "recipient@example.org")
    expect(page.locator("main h1")).to_be_focused()
    page.click("nav a[href='/needs']")
    expect(page.locator("main h1")).to_be_focused()
    page.click("main a[href='/needs/new']")
    page.fill("#ref", "N-KH-FOCUS")
    page.select_option("#region", server.region_code)
    page.fill("#capability", "POWER-KW")
    page.fill("#quantity", "many")
    page.click("form.form button[type=submit]")
    expect(page.locator("main .errors")).to_be_focused()
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.closest('form') && document.activeElement.closest('form').id")
    assert focused is not None  # the next Tab goes into the form, not back to the header
    page.fill("#quantity", "12")
    page.click("form.form button[type=submit]")
    page.wait_for_url(re.compile(r".*/needs/N-KH-FOCUS\?saved=1$"))
    expect(page.locator("main [role=status]")).to_be_focused()
    page.screenshot(path=str(SCREENSHOTS / "recipient-focus-after-save.png"))


def test_the_recipient_s_header_is_one_line_at_1280_px(page: Page, server: Server) -> None:
    """At 1280 px the recipient's header wrapped onto two lines (its account block under the links)."""
    page.set_viewport_size({"width": 1280, "height": 800})
    sign_in(page, server, "recipient@example.org")
    page.goto(f"{server.url}/needs?lang=en")
    nav = page.locator("header.top nav").bounding_box()
    account = page.locator("header.top .account").bounding_box()
    sign_out = page.locator("header.top .account button").bounding_box()
    who = page.locator("header.top .who").bounding_box()
    assert nav is not None
    assert account is not None
    assert sign_out is not None
    assert who is not None
    assert abs(nav["y"] - account["y"]) < nav["height"], (nav, account)
    assert page.locator("header.top").bounding_box()["height"] < 2.2 * nav["height"]  # type: ignore[index]
    assert who["x"] + who["width"] <= sign_out["x"]  # nothing drawn over 'Sign out'
    assert sign_out["x"] + sign_out["width"] <= 1280
    expect(page.locator(".who")).to_have_attribute("title", "recipient@example.org")
    page.screenshot(path=str(SCREENSHOTS / "recipient-header-1280.png"))


def test_the_plan_wide_decision_is_at_the_top_of_the_plan(page: Page, server: Server) -> None:
    """'Accept all' sat below the 500 lines of a page; now it is in view when the plan opens, under its facts."""
    page.set_viewport_size({"width": 1280, "height": 800})
    sign_in(page, server, "donor@example.org")  # a pledge of its own: earlier tests accepted the others' lines
    page.goto(f"{server.url}/pledges/new")
    page.fill("#ref", "P-DE-TOP")
    page.select_option("#item", server.item_code)
    page.fill("#units", "2")
    page.select_option("#hub", server.hub_code)
    page.click("form.form button[type=submit]")
    page.wait_for_url(re.compile(r".*/pledges/P-DE-TOP\?saved=1$"))
    page.context.clear_cookies()
    sign_in(page, server, "coordinator@example.org")
    page.goto(f"{server.url}/plans")
    page.click("#run-plan")
    page.wait_for_url(re.compile(r".*/plans/\d+$"))
    button = page.locator("#decide-all #accept-all")
    expect(button).to_be_in_viewport()
    assert page.locator("#decide-all").bounding_box()["y"] < page.locator("#tiers").bounding_box()["y"]  # type: ignore[index]
    page.screenshot(path=str(SCREENSHOTS / "coordinator-plan-decision-at-top.png"))
