"""Read-side lookups shared by the API, the pages and the services: reference data by code, plans, lines."""

from __future__ import annotations

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from aidpack.allocation.models import Line, LineStatus, Plan
from aidpack.auth import policy
from aidpack.auth.policy import Principal
from aidpack.catalogue.models import Item
from aidpack.errors import NotFound
from aidpack.geography.models import Hub, Region
from aidpack.needs.models import Need
from aidpack.orgs.models import Organisation
from aidpack.pledges.models import Pledge


class RegionNotFound(NotFound):
    code = "REGION_NOT_FOUND"


class HubNotFound(NotFound):
    code = "HUB_NOT_FOUND"


class ItemNotFound(NotFound):
    code = "ITEM_NOT_FOUND"


class OrgNotFound(NotFound):
    code = "ORG_NOT_FOUND"


class PlanNotFound(NotFound):
    code = "PLAN_NOT_FOUND"


class LineNotFound(NotFound):
    code = "LINE_NOT_FOUND"


def region_by_code(session: Session, code: str) -> Region:
    region = session.execute(select(Region).where(Region.code == code)).scalar_one_or_none()
    if region is None:
        raise RegionNotFound(f"no region with code {code!r}", context={"region": code})
    return region


def hub_by_code(session: Session, code: str) -> Hub:
    hub = session.execute(select(Hub).where(Hub.code == code)).scalar_one_or_none()
    if hub is None:
        raise HubNotFound(f"no hub with code {code!r}", context={"hub": code})
    return hub


def item_by_code(session: Session, code: str) -> Item:
    item = session.execute(select(Item).where(Item.code == code)).scalar_one_or_none()
    if item is None:
        raise ItemNotFound(f"no catalogue item with code {code!r}", context={"item": code})
    return item


def org_by_code(session: Session, code: str, *, donor: bool = False) -> Organisation:
    query = select(Organisation).where(Organisation.code == code)
    if donor:
        query = query.where(Organisation.is_donor.is_(True))
    org = session.execute(query).scalar_one_or_none()
    if org is None:
        what = "donor" if donor else "organisation"
        raise OrgNotFound(f"no {what} with code {code!r}", context={"org": code})
    return org


def list_regions(session: Session) -> list[Region]:
    return list(session.execute(select(Region).order_by(Region.code)).scalars())


def list_hubs(session: Session) -> list[Hub]:
    return list(session.execute(select(Hub).order_by(Hub.code)).scalars())


def list_items(
    session: Session, *, category: str | None = None, provides: str | None = None, limit: int, offset: int
) -> tuple[list[Item], int]:
    where: list[ColumnElement[bool]] = []
    if category:
        where.append(Item.category == category)
    if provides:
        where.append(Item.provides == provides)
    total = session.execute(select(func.count()).select_from(Item).where(*where)).scalar_one()
    rows = session.execute(select(Item).where(*where).order_by(Item.code).limit(limit).offset(offset)).scalars()
    return list(rows), total


def list_donors(session: Session) -> list[Organisation]:
    query = select(Organisation).where(Organisation.is_donor.is_(True)).order_by(Organisation.code)
    return list(session.execute(query).scalars())


def list_recipient_orgs(session: Session) -> list[Organisation]:
    query = select(Organisation).where(Organisation.is_recipient.is_(True)).order_by(Organisation.code)
    return list(session.execute(query).scalars())


def capability_categories(session: Session) -> dict[str, str]:
    """The category of each capability: of the first item (by code) that provides it, or is it."""
    categories: dict[str, str] = {}
    for _code, provides, category in session.execute(
        select(Item.code, Item.provides, Item.category).order_by(Item.code)
    ):
        categories.setdefault(provides, category)
    for code, _provides, category in session.execute(select(Item.code, Item.provides, Item.category)):
        categories.setdefault(code, category)
    return categories


# --- plans and lines -------------------------------------------------------------------------------


def list_plans(session: Session, *, limit: int, offset: int) -> tuple[list[Plan], int]:
    total = session.execute(select(func.count()).select_from(Plan)).scalar_one()
    rows = session.execute(select(Plan).order_by(Plan.id.desc()).limit(limit).offset(offset)).scalars()
    return list(rows), total


def latest_plan(session: Session) -> Plan | None:
    return session.execute(select(Plan).order_by(Plan.id.desc()).limit(1)).scalar_one_or_none()


def get_plan(session: Session, plan_id: int) -> Plan:
    plan = session.get(Plan, plan_id)
    if plan is None:
        raise PlanNotFound(f"no plan {plan_id}", context={"plan": plan_id})
    return plan


def list_lines(
    session: Session,
    *,
    principal: Principal,
    plan_id: int | None = None,
    status: LineStatus | None = None,
    donor: str | None = None,
    need: str | None = None,
    limit: int,
    offset: int,
) -> tuple[list[Line], int]:
    policy.require(principal, policy.Action.READ_LINES)
    where: list[ColumnElement[bool]] = [policy.line_scope(principal)]
    if plan_id is not None:
        where.append(Line.plan_id == plan_id)
    if status is not None:
        where.append(Line.status == status)
    if donor:
        where.append(
            Line.pledge_id.in_(
                select(Pledge.id)
                .join(Organisation, Organisation.id == Pledge.donor_id)
                .where(Organisation.code == donor)
            )
        )
    if need:
        where.append(Line.need_id.in_(select(Need.id).where(Need.ref == need)))
    total = session.execute(select(func.count()).select_from(Line).where(*where)).scalar_one()
    rows = session.execute(select(Line).where(*where).order_by(Line.id).limit(limit).offset(offset)).scalars()
    return list(rows.unique()), total


def get_line(session: Session, *, principal: Principal, line_id: int) -> Line:
    policy.require(principal, policy.Action.READ_LINES)
    line = (
        session.execute(select(Line).where(Line.id == line_id, policy.line_scope(principal)))
        .unique()
        .scalar_one_or_none()
    )
    if line is None:
        raise LineNotFound(f"no line {line_id}", context={"line": line_id})
    return line
