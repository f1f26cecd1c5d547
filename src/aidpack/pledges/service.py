"""Pledges: list, read, create and change them; a donor acts only for its own organisation."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from aidpack.audit.service import record, snapshot
from aidpack.auth import policy
from aidpack.auth.policy import Action, Principal
from aidpack.catalogue.models import Item
from aidpack.errors import Conflict, Forbidden, NotFound, ValidationFailed
from aidpack.geography.models import Hub
from aidpack.orgs.models import Organisation
from aidpack.pledges.models import Channel, Pledge, PledgeStatus
from aidpack.pledges.schemas import PledgeCreate, PledgeRead, PledgeUpdate
from aidpack.reports import lookups
from aidpack.web.fields import check_date, exact


class PledgeNotFound(NotFound):
    code = "PLEDGE_NOT_FOUND"


class PledgeExists(Conflict):
    code = "PLEDGE_EXISTS"


class PledgeCommitted(Conflict):
    """The change would take back units that accepted lines already hold."""

    code = "PLEDGE_COMMITTED"


def present(principal: Principal, pledge: Pledge) -> PledgeRead:
    return PledgeRead(
        ref=pledge.ref,
        donor=pledge.donor.code,
        donor_name=pledge.donor.name,
        item=pledge.item.code,
        item_name=pledge.item.name,
        units=float(pledge.units),
        committed_units=float(pledge.committed_units),
        available=pledge.available.isoformat() if pledge.available else None,
        hub=pledge.hub.code,
        channel=pledge.channel,
        status=pledge.status,
        value_eur=float(pledge.value_eur) if pledge.value_eur is not None else None,
        source=pledge.source,
        version=pledge.version,
    )


def list_pledges(
    session: Session,
    *,
    principal: Principal,
    donor: str | None = None,
    item: str | None = None,
    status: PledgeStatus | None = None,
    channel: Channel | None = None,
    hub: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[Pledge], int]:
    policy.require(principal, Action.READ_PLEDGES)
    where: list[ColumnElement[bool]] = [policy.pledge_scope(principal)]
    if donor:
        where.append(Pledge.donor_id.in_(select(Organisation.id).where(Organisation.code == donor)))
    if item:
        where.append(Pledge.item_id.in_(select(Item.id).where(Item.code == item)))
    if status is not None:
        where.append(Pledge.status == status)
    if channel is not None:
        where.append(Pledge.channel == channel)
    if hub:
        where.append(Pledge.hub_id.in_(select(Hub.id).where(Hub.code == hub)))
    total = session.execute(select(func.count()).select_from(Pledge).where(*where)).scalar_one()
    rows = session.execute(select(Pledge).where(*where).order_by(Pledge.ref).limit(limit).offset(offset)).scalars()
    return list(rows), total


def get_pledge(session: Session, *, principal: Principal, ref: str) -> Pledge:
    policy.require(principal, Action.READ_PLEDGES)
    pledge = session.execute(
        select(Pledge).where(Pledge.ref == ref, policy.pledge_scope(principal))
    ).scalar_one_or_none()
    if pledge is None:
        raise PledgeNotFound(f"no pledge {ref!r} that you may see", context={"pledge": ref})
    return pledge


def get_pledge_for_update(session: Session, *, principal: Principal, ref: str) -> Pledge:
    """The pledge, if the caller may change it (404 when it may not even see it, 403 when only see it)."""
    pledge = get_pledge(session, principal=principal, ref=ref)
    if not policy.pledge_editable(principal, pledge):
        raise Forbidden("this pledge belongs to another donor", context={"pledge": pledge.ref})
    return pledge


def _check_units(item: Item, units: Decimal) -> None:
    if item.indivisible and units != units.to_integral_value():
        raise ValidationFailed(
            f"{item.code} is indivisible: pledge whole units", context={"field": "units", "value": str(units)}
        )


def create_pledge(session: Session, *, principal: Principal, pledge_in: PledgeCreate) -> Pledge:
    policy.require(principal, Action.WRITE_PLEDGES)
    requested = lookups.org_by_code(session, pledge_in.donor, donor=True).id if pledge_in.donor else None
    if principal.is_staff and requested is None:
        raise ValidationFailed("say which donor pledges (donor)", context={"field": "donor"})
    donor_id = policy.own_org_for_create(principal, requested)
    item = lookups.item_by_code(session, pledge_in.item)
    hub = lookups.hub_by_code(session, pledge_in.hub)
    units = exact(pledge_in.units)
    _check_units(item, units)
    if session.execute(select(Pledge.id).where(Pledge.ref == pledge_in.ref)).first() is not None:
        raise PledgeExists(f"a pledge {pledge_in.ref!r} exists already", context={"pledge": pledge_in.ref})
    pledge = Pledge(
        ref=pledge_in.ref,
        donor_id=donor_id,
        item=item,
        units=units,
        available=check_date(pledge_in.available, field="available"),
        hub=hub,
        channel=pledge_in.channel,
        status=pledge_in.status,
        value_eur=exact(pledge_in.value_eur) if pledge_in.value_eur is not None else None,
        source=pledge_in.source,
        committed_units=Decimal(0),
    )
    session.add(pledge)
    session.flush()
    session.refresh(pledge)
    record(
        session,
        actor=principal.actor,
        action="pledge.create",
        entity="pledge",
        entity_ref=pledge.ref,
        after=snapshot(pledge),
    )
    return pledge


def update_pledge(session: Session, *, principal: Principal, pledge: Pledge, pledge_in: PledgeUpdate) -> Pledge:
    """Apply the fields sent; the caller has checked the version the client saw (If-Match)."""
    policy.require(principal, Action.WRITE_PLEDGES)
    if not policy.pledge_editable(principal, pledge):
        raise Forbidden("this pledge belongs to another donor", context={"pledge": pledge.ref})
    before = snapshot(pledge)
    changes = pledge_in.model_dump(exclude_unset=True)
    for field in ("units", "hub", "channel", "status"):
        if field in changes and changes[field] is None:
            raise ValidationFailed(f"{field} may not be null", context={"field": field})
    check_date(changes.get("available"), field="available")
    if changes.get("value_eur") is not None:
        changes["value_eur"] = exact(changes["value_eur"])
    if "units" in changes:
        units = changes["units"] = exact(changes["units"])
        _check_units(pledge.item, units)
        if units < pledge.committed_units:
            raise PledgeCommitted(
                "accepted lines already hold more units than that",
                context={"pledge": pledge.ref, "committed_units": str(pledge.committed_units)},
            )
    if changes.get("status") is PledgeStatus.WITHDRAWN and pledge.committed_units > 0:
        raise PledgeCommitted(
            "accepted lines hold units of this pledge: reject or deliver them before withdrawing it",
            context={"pledge": pledge.ref, "committed_units": str(pledge.committed_units)},
        )
    if "hub" in changes:
        pledge.hub = lookups.hub_by_code(session, changes.pop("hub"))
    for field, value in changes.items():
        setattr(pledge, field, value)
    session.flush()
    record(
        session,
        actor=principal.actor,
        action="pledge.update",
        entity="pledge",
        entity_ref=pledge.ref,
        before=before,
        after=snapshot(pledge),
    )
    return pledge
