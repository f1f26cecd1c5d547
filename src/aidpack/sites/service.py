"""Sites: list, read, create and change them; a restricted site is visible only where the policy says."""

from __future__ import annotations

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from aidpack.audit.service import record, snapshot
from aidpack.auth import policy
from aidpack.auth.policy import Action, Principal
from aidpack.errors import Conflict, NotFound, ValidationFailed
from aidpack.geography.models import Region
from aidpack.reports import lookups
from aidpack.sites.models import Sensitivity, Site
from aidpack.sites.schemas import SiteCreate, SiteRead, SiteUpdate


class SiteNotFound(NotFound):
    code = "SITE_NOT_FOUND"


class SiteExists(Conflict):
    code = "SITE_EXISTS"


def present(principal: Principal, site: Site) -> SiteRead:
    if not policy.site_details_visible(principal, site):  # listing and reading are scoped; a last guard
        raise SiteNotFound("no such site that you may see")
    return SiteRead(
        code=site.code,
        name=site.name,
        region=site.region.code,
        kind=site.kind,
        people_served=site.people_served,
        lat=site.lat,
        lon=site.lon,
        sensitivity=site.sensitivity,
        org=site.org.code if site.org is not None else None,
        version=site.version,
    )


def list_sites(
    session: Session,
    *,
    principal: Principal,
    region: str | None = None,
    sensitivity: Sensitivity | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[Site], int]:
    policy.require(principal, Action.READ_SITES)
    where: list[ColumnElement[bool]] = [policy.site_scope(principal)]
    if region:
        where.append(Site.region_id.in_(select(Region.id).where(Region.code == region)))
    if sensitivity is not None:
        where.append(Site.sensitivity == sensitivity)
    total = session.execute(select(func.count()).select_from(Site).where(*where)).scalar_one()
    rows = session.execute(select(Site).where(*where).order_by(Site.code).limit(limit).offset(offset)).scalars()
    return list(rows), total


def get_site(session: Session, *, principal: Principal, code: str) -> Site:
    """The site, if the caller may see it; otherwise the same answer as for a site that does not exist."""
    policy.require(principal, Action.READ_SITES)
    site = session.execute(select(Site).where(Site.code == code, policy.site_scope(principal))).scalar_one_or_none()
    if site is None:
        raise SiteNotFound("no such site that you may see")
    return site


def get_site_for_update(session: Session, *, principal: Principal, code: str) -> Site:
    site = get_site(session, principal=principal, code=code)
    policy.require(principal, Action.WRITE_SITES)
    policy.require_org(principal, site.org_id, what="site")
    return site


def create_site(session: Session, *, principal: Principal, site_in: SiteCreate) -> Site:
    policy.require(principal, Action.WRITE_SITES)
    region = lookups.region_by_code(session, site_in.region)
    requested_org = lookups.org_by_code(session, site_in.org).id if site_in.org else None
    org_id = policy.own_org_for_create(principal, requested_org)
    if session.execute(select(Site.id).where(Site.code == site_in.code)).first() is not None:
        raise SiteExists("a site with this code exists already", context={"field": "code"})
    if (site_in.lat is None) != (site_in.lon is None):
        raise ValidationFailed("give both lat and lon, or neither", context={"field": "lat"})
    site = Site(
        code=site_in.code,
        name=site_in.name,
        region=region,
        kind=site_in.kind,
        people_served=site_in.people_served,
        lat=site_in.lat,
        lon=site_in.lon,
        sensitivity=site_in.sensitivity,
        org_id=org_id,
    )
    session.add(site)
    session.flush()
    record(
        session,
        actor=principal.actor,
        action="site.create",
        entity="site",
        entity_ref=site.code,
        after=snapshot(site),
    )
    return site


def update_site(session: Session, *, principal: Principal, site: Site, site_in: SiteUpdate) -> Site:
    policy.require(principal, Action.WRITE_SITES)
    policy.require_org(principal, site.org_id, what="site")
    before = snapshot(site)
    changes = site_in.model_dump(exclude_unset=True)
    for field in ("name", "sensitivity"):
        if field in changes and changes[field] is None:
            raise ValidationFailed(f"{field} may not be null", context={"field": field})
    for field, value in changes.items():
        setattr(site, field, value)
    if (site.lat is None) != (site.lon is None):
        raise ValidationFailed("give both lat and lon, or neither", context={"field": "lat"})
    session.flush()
    record(
        session,
        actor=principal.actor,
        action="site.update",
        entity="site",
        entity_ref=site.code,
        before=before,
        after=snapshot(site),
    )
    return site
