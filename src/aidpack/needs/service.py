"""Needs: list, read, create and change them within the caller's scope (rules in ``auth.policy``)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from aidpack.audit.service import record, snapshot
from aidpack.auth import policy
from aidpack.auth.policy import Action, Principal
from aidpack.errors import Conflict, Forbidden, NotFound, ValidationFailed
from aidpack.geography.models import Region
from aidpack.needs.models import TIERS, Need, NeedStatus, Priority
from aidpack.needs.schemas import NeedCreate, NeedRead, NeedUpdate
from aidpack.reports import lookups
from aidpack.reports import service as reports_service
from aidpack.sites import service as sites_service
from aidpack.sites.models import Sensitivity
from aidpack.sites.schemas import SiteRef
from aidpack.web.fields import check_date, exact


class NeedNotFound(NotFound):
    code = "NEED_NOT_FOUND"


class NeedExists(Conflict):
    code = "NEED_EXISTS"


def present(principal: Principal, need: Need) -> NeedRead:
    """The need as this caller may see it: site details and notes only where the policy allows."""
    full = policy.need_full_detail(principal, need)
    site: SiteRef | None = None
    if need.site is not None:
        restricted = need.site.sensitivity is Sensitivity.RESTRICTED
        if policy.site_details_visible(principal, need.site):
            site = SiteRef(code=need.site.code, name=need.site.name, restricted=restricted)
        else:
            site = SiteRef(restricted=restricted)
    return NeedRead(
        ref=need.ref,
        region=need.region.code,
        region_name=need.region.name,
        capability=need.capability,
        quantity=float(need.quantity),
        priority=need.priority,
        deadline=need.deadline.isoformat() if need.deadline else None,
        status=need.status,
        site=site,
        people_served=need.effective_people_served if full else None,
        notes=need.notes if full else None,
        org=need.org.code if need.org is not None and full else None,
        version=need.version,
    )


class NeedSort(StrEnum):
    """What a list of needs is ordered by (then by ref)."""

    REF = "ref"
    REGION = "region"
    CAPABILITY = "capability"
    QUANTITY = "quantity"
    PRIORITY = "priority"  # critical first
    DEADLINE = "deadline"  # needs without one last
    COVERAGE = "coverage"  # the planned share (committed and the latest plan's proposed lines), least first


def _order(session: Session, sort: NeedSort, descending: bool) -> tuple[list[Any], list[Any]]:
    """The joins and the ORDER BY terms of a sort (ref breaks ties; it is unique)."""
    joins: list[Any] = []
    key: ColumnElement[Any] | InstrumentedAttribute[Any]
    if sort is NeedSort.REGION:
        key = select(Region.name).where(Region.id == Need.region_id).scalar_subquery()
    elif sort is NeedSort.CAPABILITY:
        key = Need.capability
    elif sort is NeedSort.QUANTITY:
        key = Need.quantity
    elif sort is NeedSort.PRIORITY:
        key = case({tier: rank for rank, tier in enumerate(TIERS)}, value=Need.priority)
    elif sort is NeedSort.DEADLINE:
        key = Need.deadline
    elif sort is NeedSort.COVERAGE:
        sums = reports_service.planned_share_sums(session)
        joins.append((sums, sums.c.need_id == Need.id))
        key = reports_service.planned_share_column(sums)
    else:
        return joins, [Need.ref.desc() if descending else Need.ref.asc()]
    ordered = key.desc() if descending else key.asc()
    if sort is NeedSort.DEADLINE:
        ordered = ordered.nulls_last()
    return joins, [ordered, Need.ref.asc()]


def _listed(
    principal: Principal,
    *,
    region: str | None = None,
    priority: Priority | None = None,
    status: NeedStatus | None = None,
    capability: str | None = None,
) -> list[ColumnElement[bool]]:
    """The WHERE terms of the needs listed to this caller (its scope, ``policy.need_scope``) with these filters."""
    policy.require(principal, Action.READ_NEEDS)
    where: list[ColumnElement[bool]] = [policy.need_scope(principal)]
    if region:
        where.append(Need.region_id.in_(select(Region.id).where(Region.code == region)))
    if priority is not None:
        where.append(Need.priority == priority)
    if status is not None:
        where.append(Need.status == status)
    if capability:
        where.append(Need.capability == capability)
    return where


def list_needs(
    session: Session,
    *,
    principal: Principal,
    region: str | None = None,
    priority: Priority | None = None,
    status: NeedStatus | None = None,
    capability: str | None = None,
    sort: NeedSort = NeedSort.REF,
    descending: bool = False,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[Need], int]:
    where = _listed(principal, region=region, priority=priority, status=status, capability=capability)
    total = session.execute(select(func.count()).select_from(Need).where(*where)).scalar_one()
    joins, order = _order(session, sort, descending)
    query = select(Need)
    for target, on in joins:
        query = query.outerjoin(target, on)
    rows = session.execute(query.where(*where).order_by(*order).limit(limit).offset(offset)).scalars()
    return list(rows), total


def list_need_refs(session: Session, *, principal: Principal) -> set[str]:
    """The refs of every need :func:`list_needs` lists to this caller (the same scope), read as strings: a
    donor's plan page at 1e6 loaded its 2,933 needs as objects (with region, site and organisation) for them."""
    return set(session.execute(select(Need.ref).where(*_listed(principal))).scalars())


def get_need(session: Session, *, principal: Principal, ref: str) -> Need:
    policy.require(principal, Action.READ_NEEDS)
    need = session.execute(select(Need).where(Need.ref == ref, policy.need_scope(principal))).scalar_one_or_none()
    if need is None:
        raise NeedNotFound(f"no need {ref!r} that you may see", context={"need": ref})
    return need


def get_need_for_update(session: Session, *, principal: Principal, ref: str) -> Need:
    """The need, if the caller may change it (404 when it may not even see it, 403 when only see it)."""
    need = get_need(session, principal=principal, ref=ref)
    if not policy.need_editable(principal, need):
        raise Forbidden("this need belongs to another organisation", context={"need": need.ref})
    return need


def create_need(session: Session, *, principal: Principal, need_in: NeedCreate) -> Need:
    policy.require(principal, Action.WRITE_NEEDS)
    region = lookups.region_by_code(session, need_in.region)
    requested_org = lookups.org_by_code(session, need_in.org).id if need_in.org else None
    site = None
    if need_in.site:
        site = sites_service.get_site(session, principal=principal, code=need_in.site)
        if site.region_id != region.id:
            raise ValidationFailed(
                "the site lies in another region than the need",
                context={"field": "site", "region": need_in.region},
            )
        if requested_org is None:
            requested_org = site.org_id
    org_id = policy.own_org_for_create(principal, requested_org)
    if site is not None and not principal.is_staff and site.org_id != org_id:
        raise Forbidden("the site belongs to another organisation", context={"field": "site"})
    if session.execute(select(Need.id).where(Need.ref == need_in.ref)).first() is not None:
        raise NeedExists(f"a need {need_in.ref!r} exists already", context={"need": need_in.ref})
    need = Need(
        ref=need_in.ref,
        region=region,
        site=site,
        capability=need_in.capability,
        quantity=exact(need_in.quantity),
        priority=need_in.priority,
        deadline=check_date(need_in.deadline, field="deadline"),
        people_served=need_in.people_served,
        notes=need_in.notes,
        org_id=org_id,
        status=NeedStatus.OPEN,
    )
    session.add(need)
    session.flush()
    record(
        session,
        actor=principal.actor,
        action="need.create",
        entity="need",
        entity_ref=need.ref,
        after=snapshot(need),
    )
    return need


def update_need(session: Session, *, principal: Principal, need: Need, need_in: NeedUpdate) -> Need:
    """Apply the fields sent; the caller has checked the version the client saw (If-Match)."""
    policy.require(principal, Action.WRITE_NEEDS)
    if not policy.need_editable(principal, need):
        raise Forbidden("this need belongs to another organisation", context={"need": need.ref})
    before = snapshot(need)
    changes = need_in.model_dump(exclude_unset=True)
    for field in ("quantity", "priority", "status"):
        if field in changes and changes[field] is None:
            raise ValidationFailed(f"{field} may not be null", context={"field": field})
    if changes.get("quantity") is not None:
        changes["quantity"] = exact(changes["quantity"])
    check_date(changes.get("deadline"), field="deadline")
    for field, value in changes.items():
        setattr(need, field, value)
    session.flush()
    record(
        session,
        actor=principal.actor,
        action="need.update",
        entity="need",
        entity_ref=need.ref,
        before=before,
        after=snapshot(need),
    )
    return need
