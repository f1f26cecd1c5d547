"""Shared by the web, API, auth and browser tests: the app on the test database, a world with every role.

The app's requests run on the test's own connection (each request in a savepoint), so everything a
test does through HTTP is rolled back with the test, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from aidpack.allocation.models import Line, LineStatus, Plan, ShortReason
from aidpack.app import create_app
from aidpack.auth import service as auth_service
from aidpack.auth.deps import SESSION_COOKIE
from aidpack.auth.models import Role, User
from aidpack.catalogue.models import Item
from aidpack.config import Settings
from aidpack.geography.models import Hub, Region
from aidpack.needs.models import Need, Priority
from aidpack.orgs.models import Organisation
from aidpack.pledges.models import Pledge
from aidpack.sites.models import Sensitivity, Site
from tests.factories import (
    make_hub,
    make_item,
    make_line,
    make_need,
    make_org,
    make_plan,
    make_plan_need,
    make_pledge,
    make_recipient_org,
    make_region,
    make_site,
    make_user,
    unique,
)

SECRET = "test-secret-key-for-signing"
PASSWORD = "correct horse battery staple"
#: Coordinates with many decimals, so that their text cannot appear by chance (map paths are integers).
SECRET_LAT = 48.123457
SECRET_LON = 37.654321


def web_settings(database_url: str = "sqlite://") -> Settings:
    return Settings(database_url=database_url, secret_key=SECRET, token_minutes=60)


def app_on(session: Session) -> FastAPI:
    """The app with every request in a savepoint of the test's connection."""
    factory = sessionmaker(bind=session.connection(), join_transaction_mode="create_savepoint", expire_on_commit=False)
    return create_app(web_settings(), session_factory=factory)


def bearer(user: User) -> dict[str, str]:
    token = auth_service.issue_token(secret=SECRET, user=user, minutes=60)
    return {"Authorization": f"Bearer {token}"}


def page_client(app: FastAPI, user: User | None) -> tuple[TestClient, str]:
    """A browser-like client signed in as ``user`` (anonymous when None), and its CSRF token."""
    client = TestClient(app, follow_redirects=False)
    web = auth_service.new_web_session(minutes=60, user_id=None if user is None else user.id)
    client.cookies.set(SESSION_COOKIE, auth_service.dump_web_session(web, secret=SECRET))
    return client, web.csrf


@dataclass
class World:
    """Every role and a restricted site whose name, code and coordinates must not leak."""

    region: Region
    other_region: Region
    hub: Hub
    item: Item
    donor_a: Organisation
    donor_b: Organisation
    recipient_a: Organisation
    recipient_b: Organisation
    secret_site: Site
    public_site: Site
    secret_need: Need
    public_need: Need
    other_need: Need
    pledge_a: Pledge
    pledge_b: Pledge
    plan: Plan
    line_a: Line
    line_b: Line
    users: dict[str, User]

    @property
    def secrets(self) -> list[str]:
        """Strings that only staff and the owning recipient may ever receive."""
        return [self.secret_site.name, self.secret_site.code, str(SECRET_LAT), str(SECRET_LON)]


def build_world(session: Session) -> World:
    region = make_region(session, name=f"Oblast {unique('R')}")
    other_region = make_region(session, lat=50.45, lon=30.52)
    hub = make_hub(session)
    item = make_item(session, provides="POWER-KW", factor=Decimal(100), category="energy")
    donor_a = make_org(session, name="Donor A state")
    donor_b = make_org(session, name="Donor B state")
    recipient_a = make_recipient_org(session, name="Recipient A utility")
    recipient_b = make_recipient_org(session, name="Recipient B ministry")
    secret_site = make_site(
        session,
        region=region,
        org=recipient_a,
        name=f"Secret Hospital {unique('H')}",
        code=unique("SECRETSITE"),
        lat=SECRET_LAT,
        lon=SECRET_LON,
        sensitivity=Sensitivity.RESTRICTED,
        people_served=12000,
    )
    public_site = make_site(
        session,
        region=region,
        org=recipient_a,
        name=f"Open Heating Point {unique('P')}",
        lat=49.5,
        lon=36.5,
        sensitivity=Sensitivity.PUBLIC,
    )
    secret_need = make_need(
        session,
        site=secret_site,
        org=recipient_a,
        quantity=Decimal(1000),
        priority=Priority.CRITICAL,
        notes="internal note",
    )
    public_need = make_need(session, site=public_site, org=recipient_a, quantity=Decimal(300), priority=Priority.HIGH)
    other_need = make_need(
        session, region=other_region, org=recipient_b, quantity=Decimal(200), priority=Priority.MEDIUM
    )
    pledge_a = make_pledge(session, donor=donor_a, item=item, hub=hub, units=Decimal(6), value_eur=Decimal(60000))
    pledge_b = make_pledge(session, donor=donor_b, item=item, hub=hub, units=Decimal(4))
    plan = make_plan(session, tiers={"critical": {"served": 6000.0, "people": 12000.0}})
    line_a = make_line(session, plan=plan, pledge=pledge_a, need=secret_need, units=5)
    line_b = make_line(session, plan=plan, pledge=pledge_b, need=other_need, units=2)
    make_plan_need(session, plan=plan, need=secret_need, covered_new=Decimal(500), reason=ShortReason.SHORT_SUPPLY)
    make_plan_need(
        session,
        plan=plan,
        need=public_need,
        reason=ShortReason.OUTCOMPETED,
        detail={"taken_by": [secret_need.ref]},
    )
    make_plan_need(session, plan=plan, need=other_need, covered_new=Decimal(200))
    users = {
        "admin": make_user(session, role=Role.ADMIN),
        "coordinator": make_user(session, role=Role.COORDINATOR),
        "recipient_a": make_user(session, role=Role.RECIPIENT, org=recipient_a),
        "recipient_b": make_user(session, role=Role.RECIPIENT, org=recipient_b),
        "donor_a": make_user(session, role=Role.DONOR, org=donor_a),
        "donor_b": make_user(session, role=Role.DONOR, org=donor_b),
        "viewer": make_user(session, role=Role.VIEWER),
    }
    return World(
        region,
        other_region,
        hub,
        item,
        donor_a,
        donor_b,
        recipient_a,
        recipient_b,
        secret_site,
        public_site,
        secret_need,
        public_need,
        other_need,
        pledge_a,
        pledge_b,
        plan,
        line_a,
        line_b,
        users,
    )


def line_status(session: Session, line_id: int) -> LineStatus:
    session.expire_all()
    return session.execute(select(Line.status).where(Line.id == line_id)).scalar_one()


@pytest.fixture
def world(session: Session) -> World:
    return build_world(session)


@pytest.fixture
def app(session: Session) -> FastAPI:
    return app_on(session)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, follow_redirects=False) as test_client:
        yield test_client
