"""Typed factories for database rows: every argument optional, every code unique, every row flushed.

``make_x(session, **overrides)`` builds a valid row with sensible defaults, creating whatever it refers
to (a need gets a region, a line gets a plan, a pledge and a need that fit each other), applies the
overrides (any column or relationship of the model) and flushes. Codes and refs are unique across
test runs too (a short random token), so committed datasets never collide.

Factories write no audit events: they build the world a test starts from, not changes under test.
``make_line`` keeps the pledge invariant: a line created in a fixed status (accepted or later) adds its
units to its pledge's ``committed_units``, as accepting it would have.

``isolated_database(backend, tmp_path)`` gives a migrated database of its own (a SQLite file, or a fresh
PostgreSQL schema) for tests that must commit: CLI runs and real concurrent transactions.
"""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote

from sqlalchemy import Engine, event, text
from sqlalchemy.orm import Session

from aidpack.allocation.models import FIXED_LINE_STATUSES, Line, LineStatus, Plan, PlanNeed, Termination
from aidpack.auth.models import Role, User
from aidpack.catalogue.models import Item
from aidpack.db import Base, make_engine, migrate, to_quantity
from aidpack.geography.models import Hub, Region
from aidpack.logistics.models import Shipment, ShipmentStatus
from aidpack.needs.models import Need, Priority
from aidpack.orgs.models import Organisation, OrgKind
from aidpack.pledges.models import Channel, Pledge, PledgeStatus
from aidpack.sites.models import Sensitivity, Site
from tests.conftest import postgres_url

M = TypeVar("M", bound=Base)

PLAN_DATE = dt.date(2022, 11, 29)

_counter = itertools.count(1)
_RUN = uuid.uuid4().hex[:6].upper()


def unique(prefix: str) -> str:
    """``PREFIX-<n>-<run token>``: unique within a run and across runs."""
    return f"{prefix}-{next(_counter)}-{_RUN}"


def _save(session: Session, row: M, overrides: dict[str, object]) -> M:
    for key, value in overrides.items():
        if not hasattr(type(row), key):
            raise TypeError(f"{type(row).__name__} has no attribute {key!r}")
        setattr(row, key, value)
    session.add(row)
    session.flush()
    return row


def make_region(session: Session, **overrides: object) -> Region:
    code = unique("XR")
    return _save(
        session,
        Region(code=code, name=f"Region {code}", population=1_000_000, lat=49.84, lon=24.03),
        overrides,
    )


def make_hub(session: Session, **overrides: object) -> Hub:
    code = unique("HUB")
    return _save(session, Hub(code=code, name=f"Hub {code}", country="PL", lat=50.04, lon=22.0), overrides)


def make_item(session: Session, **overrides: object) -> Item:
    """Default: an indivisible 100 kW generator providing 100 ``POWER-KW`` per unit."""
    code = unique("ITEM")
    return _save(
        session,
        Item(
            code=code,
            name=f"Item {code}",
            category="energy",
            unit="piece",
            provides="POWER-KW",
            factor=Decimal(100),
            indivisible=True,
        ),
        overrides,
    )


def make_org(session: Session, **overrides: object) -> Organisation:
    """Default: a donor state. Pass ``is_donor=False, is_recipient=True`` (or use make_recipient_org)."""
    code = unique("ORG")
    return _save(
        session,
        Organisation(
            code=code, name=f"Organisation {code}", kind=OrgKind.STATE, is_donor=True, is_recipient=False
        ),
        overrides,
    )


def make_recipient_org(session: Session, **overrides: object) -> Organisation:
    return make_org(
        session, **{"kind": OrgKind.AUTHORITY, "is_donor": False, "is_recipient": True, **overrides}
    )


def make_site(
    session: Session, *, region: Region | None = None, org: Organisation | None = None, **overrides: object
) -> Site:
    code = unique("SITE")
    region = region or make_region(session)
    org = org if org is not None else make_recipient_org(session)
    return _save(
        session,
        Site(
            code=code,
            name=f"Site {code}",
            region_id=region.id,
            kind="hospital",
            people_served=1000,
            lat=region.lat,
            lon=region.lon,
            sensitivity=Sensitivity.RESTRICTED,
            org_id=org.id,
        ),
        overrides,
    )


def make_need(
    session: Session,
    *,
    region: Region | None = None,
    site: Site | None = None,
    org: Organisation | None = None,
    **overrides: object,
) -> Need:
    """Default: 500 ``POWER-KW``, critical, no deadline, in a new region, no site, no organisation."""
    region = region or (site.region if site is not None else make_region(session))
    return _save(
        session,
        Need(
            ref=unique("NEED"),
            region_id=region.id,
            site_id=None if site is None else site.id,
            capability="POWER-KW",
            quantity=Decimal(500),
            priority=Priority.CRITICAL,
            deadline=None,
            people_served=None,
            org_id=None if org is None else org.id,
        ),
        overrides,
    )


def make_pledge(
    session: Session,
    *,
    donor: Organisation | None = None,
    item: Item | None = None,
    hub: Hub | None = None,
    **overrides: object,
) -> Pledge:
    """Default: 10 units of a new generator item from a new donor at a new hub, confirmed."""
    donor = donor or make_org(session)
    item = item or make_item(session)
    hub = hub or make_hub(session)
    return _save(
        session,
        Pledge(
            ref=unique("PL"),
            donor_id=donor.id,
            item_id=item.id,
            units=Decimal(10),
            available=None,
            hub_id=hub.id,
            channel=Channel.BILATERAL,
            status=PledgeStatus.CONFIRMED,
            committed_units=Decimal(0),
        ),
        overrides,
    )


def make_plan(session: Session, **overrides: object) -> Plan:
    return _save(
        session,
        Plan(
            created_by="test",
            plan_date=PLAN_DATE,
            status=Termination.OPTIMAL,
            params={},
            inputs_hash="0" * 64,
            solve_seconds=0.0,
            gap=0.0,
            tiers={},
            figures={},
        ),
        overrides,
    )


def make_plan_need(session: Session, *, plan: Plan, need: Need, **overrides: object) -> PlanNeed:
    """What a plan saw of a need: by default its whole quantity open, nothing fixed, nothing new."""
    return _save(
        session,
        PlanNeed(
            plan_id=plan.id,
            need_id=need.id,
            open_quantity=need.quantity,
            covered_fixed=Decimal(0),
            covered_new=Decimal(0),
            reason=None,
        ),
        overrides,
    )


def make_line(
    session: Session,
    *,
    plan: Plan | None = None,
    pledge: Pledge | None = None,
    need: Need | None = None,
    units: Decimal | int = 1,
    status: LineStatus = LineStatus.PROPOSED,
    **overrides: object,
) -> Line:
    """A line of ``units`` of a pledge for a need; amount = units × item factor, ETA plan date + 3.

    Without a pledge, one is made whose item provides the need's capability (and vice versa).
    A fixed ``status`` also commits the units on the pledge (the DB refuses over-commitment).
    """
    plan = plan or make_plan(session)
    if pledge is None:
        item = make_item(session, provides=need.capability) if need is not None else make_item(session)
        pledge = make_pledge(session, item=item)
    need = need or make_need(session, capability=pledge.item.provides)
    quantity = to_quantity(units)
    line = _save(
        session,
        Line(
            plan_id=plan.id,
            pledge_id=pledge.id,
            need_id=need.id,
            units=quantity,
            amount=to_quantity(quantity * pledge.item.factor),
            eta=plan.plan_date + dt.timedelta(days=3),
            transit_days=3,
            status=status,
        ),
        overrides,
    )
    if line.status in FIXED_LINE_STATUSES:
        pledge.committed_units = pledge.committed_units + quantity
        session.flush()
    return line


def make_shipment(session: Session, *, donor: Organisation | None = None, **overrides: object) -> Shipment:
    donor = donor or make_org(session)
    return _save(
        session,
        Shipment(donor_id=donor.id, status=ShipmentStatus.DISPATCHED, dispatched_by="test"),
        overrides,
    )


def make_user(
    session: Session, *, role: Role = Role.COORDINATOR, org: Organisation | None = None, **overrides: object
) -> User:
    return _save(
        session,
        User(
            email=f"{unique('user').lower()}@example.org",
            password_hash="not-a-real-hash",
            role=role,
            org_id=None if org is None else org.id,
        ),
        overrides,
    )


# --- databases that tests may commit to --------------------------------------------------------


@contextmanager
def isolated_database(backend: str, tmp_path: Path, *, migrated: bool = True) -> Iterator[tuple[str, Engine]]:
    """A database of its own, migrated unless told otherwise (then with no table at all): a SQLite file, or a new
    PostgreSQL schema dropped afterwards."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'isolated.db'}"
        engine = make_engine(url)
        try:
            if migrated:
                migrate(engine)
            yield url, engine
        finally:
            engine.dispose()
        return
    base = postgres_url()
    if base is None:
        raise RuntimeError("isolated_database('postgres') needs AIDPACK_TEST_POSTGRES_URL")
    schema = f"iso_{uuid.uuid4().hex[:12]}"
    admin = make_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in base else "?"
    url = f"{base}{separator}options={quote(f'-csearch_path={schema}')}"
    engine = make_engine(url)
    try:
        if migrated:
            migrate(engine)
        yield url, engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@contextmanager
def statements(session: Session) -> Iterator[list[str]]:
    """The SQL statements the session runs inside the block."""
    seen: list[str] = []
    bind = session.connection().engine

    def record(*args: object) -> None:
        seen.append(str(args[2]))

    event.listen(bind, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(bind, "before_cursor_execute", record)
