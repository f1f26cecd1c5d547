"""Who may do what: every role and organisation-scope rule of the web service, in one place.

Routes and services ask this module; none of them compares roles themselves. The rules (SPEC §1):
- admin: everything, user management; coordinator: everything except user management.
- recipient: its own organisation's needs and sites, its own restricted sites, lines to its needs.
- donor: its own organisation's pledges and the lines (and their needs, by ref and region) they feed.
- viewer / anonymous: public, aggregated data only.
A restricted site's name, code and coordinates reach only admins, coordinators and the recipient
organisation that owns it; a public site's reach every signed-in account except viewers.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import ColumnElement, false, or_, select, true

from aidpack.allocation.models import Line, LineStatus
from aidpack.auth.models import Role
from aidpack.errors import Forbidden, Unauthorized
from aidpack.logistics.models import Shipment
from aidpack.needs.models import Need
from aidpack.pledges.models import Pledge
from aidpack.sites.models import Sensitivity, Site


@dataclass(frozen=True)
class Principal:
    """The caller: an account, or an anonymous visitor (role viewer, no id)."""

    user_id: int | None
    email: str | None
    role: Role
    org_id: int | None = None
    org_code: str | None = None

    @property
    def is_anonymous(self) -> bool:
        return self.user_id is None

    @property
    def is_staff(self) -> bool:
        return self.role in (Role.ADMIN, Role.COORDINATOR)

    @property
    def actor(self) -> str:
        """How the audit log names this caller."""
        return f"user:{self.email}" if self.email else "anonymous"


ANONYMOUS = Principal(user_id=None, email=None, role=Role.VIEWER)


class Action(StrEnum):
    READ_NEEDS = "read_needs"
    WRITE_NEEDS = "write_needs"
    READ_SITES = "read_sites"
    WRITE_SITES = "write_sites"
    READ_PLEDGES = "read_pledges"
    WRITE_PLEDGES = "write_pledges"
    READ_PLANS = "read_plans"
    READ_LINES = "read_lines"
    RUN_PLANS = "run_plans"
    DECIDE_PLANS = "decide_plans"
    MANAGE_USERS = "manage_users"
    READ_SHIPMENTS = "read_shipments"
    DISPATCH_SHIPMENTS = "dispatch_shipments"
    DELIVER_SHIPMENTS = "deliver_shipments"
    RECEIVE_SHIPMENTS = "receive_shipments"
    READ_TIMELINES = "read_timelines"
    READ_DETAILS = "read_details"  # any non-public data: needs a signed-in, non-viewer account


_ALLOWED: dict[Action, frozenset[Role]] = {
    Action.READ_NEEDS: frozenset({Role.ADMIN, Role.COORDINATOR, Role.RECIPIENT, Role.DONOR}),
    Action.WRITE_NEEDS: frozenset({Role.ADMIN, Role.COORDINATOR, Role.RECIPIENT}),
    Action.READ_SITES: frozenset({Role.ADMIN, Role.COORDINATOR, Role.RECIPIENT, Role.DONOR}),
    Action.WRITE_SITES: frozenset({Role.ADMIN, Role.COORDINATOR, Role.RECIPIENT}),
    Action.READ_PLEDGES: frozenset({Role.ADMIN, Role.COORDINATOR, Role.RECIPIENT, Role.DONOR}),
    Action.WRITE_PLEDGES: frozenset({Role.ADMIN, Role.COORDINATOR, Role.DONOR}),
    Action.READ_PLANS: frozenset({Role.ADMIN, Role.COORDINATOR, Role.RECIPIENT, Role.DONOR}),
    Action.READ_LINES: frozenset({Role.ADMIN, Role.COORDINATOR, Role.RECIPIENT, Role.DONOR}),
    Action.RUN_PLANS: frozenset({Role.ADMIN, Role.COORDINATOR}),
    Action.DECIDE_PLANS: frozenset({Role.ADMIN, Role.COORDINATOR}),
    Action.MANAGE_USERS: frozenset({Role.ADMIN}),
    Action.READ_SHIPMENTS: frozenset({Role.ADMIN, Role.COORDINATOR, Role.RECIPIENT, Role.DONOR}),
    Action.DISPATCH_SHIPMENTS: frozenset({Role.ADMIN, Role.COORDINATOR, Role.DONOR}),
    Action.DELIVER_SHIPMENTS: frozenset({Role.ADMIN, Role.COORDINATOR, Role.DONOR}),
    Action.RECEIVE_SHIPMENTS: frozenset({Role.ADMIN, Role.COORDINATOR, Role.RECIPIENT}),
    Action.READ_TIMELINES: frozenset({Role.ADMIN, Role.COORDINATOR, Role.RECIPIENT, Role.DONOR}),
    Action.READ_DETAILS: frozenset({Role.ADMIN, Role.COORDINATOR, Role.RECIPIENT, Role.DONOR}),
}


def allows(principal: Principal, action: Action) -> bool:
    return not principal.is_anonymous and principal.role in _ALLOWED[action]


def require(principal: Principal, action: Action) -> None:
    """Refuse an anonymous caller with 401 and a signed-in one without the role with 403."""
    if principal.is_anonymous:
        raise Unauthorized("sign in first", context={"action": str(action)})
    if principal.role not in _ALLOWED[action]:
        raise Forbidden(
            f"the {principal.role} role may not {str(action).replace('_', ' ')}",
            context={"action": str(action), "role": str(principal.role)},
        )


def require_org(principal: Principal, org_id: int | None, *, what: str) -> None:
    """Donors and recipients act only for their own organisation; staff for any."""
    if principal.is_staff:
        return
    if principal.org_id is None or org_id != principal.org_id:
        raise Forbidden(f"this {what} belongs to another organisation", context={"what": what})


def own_org_for_create(principal: Principal, requested_org_id: int | None) -> int | None:
    """The organisation a new record belongs to: a donor's or recipient's own, or what staff asked for."""
    if principal.is_staff:
        return requested_org_id
    if principal.org_id is None:
        raise Forbidden("this account belongs to no organisation", context={"role": str(principal.role)})
    if requested_org_id is not None and requested_org_id != principal.org_id:
        raise Forbidden("you may only act for your own organisation", context={})
    return principal.org_id


# --- what a principal may see -------------------------------------------------------------------


def site_details_visible(principal: Principal, site: Site | None) -> bool:
    """May this caller learn the site's name, code and coordinates?"""
    if site is None or principal.is_anonymous or principal.role is Role.VIEWER:
        return False
    if principal.is_staff:
        return True
    if site.sensitivity is Sensitivity.PUBLIC:
        return True
    return principal.role is Role.RECIPIENT and site.org_id is not None and site.org_id == principal.org_id


def site_scope(principal: Principal) -> ColumnElement[bool]:
    """Sites listed to this caller: exactly those whose details it may see."""
    if principal.is_anonymous or principal.role is Role.VIEWER:
        return false()
    if principal.is_staff:
        return true()
    public = Site.sensitivity == Sensitivity.PUBLIC
    if principal.role is Role.RECIPIENT and principal.org_id is not None:
        return or_(public, Site.org_id == principal.org_id)
    return public


def _donor_line_needs(org_id: int) -> ColumnElement[bool]:
    fed = (
        select(Line.need_id)
        .join(Pledge, Pledge.id == Line.pledge_id)
        .where(Pledge.donor_id == org_id, Line.status != LineStatus.REJECTED)
    )
    return Need.id.in_(fed)


def need_scope(principal: Principal) -> ColumnElement[bool]:
    """Needs listed individually to this caller (others only reach it aggregated)."""
    if principal.is_staff:
        return true()
    if principal.org_id is None or principal.is_anonymous:
        return false()
    if principal.role is Role.RECIPIENT:
        return Need.org_id == principal.org_id
    if principal.role is Role.DONOR:
        return _donor_line_needs(principal.org_id)
    return false()


def need_editable(principal: Principal, need: Need) -> bool:
    if not allows(principal, Action.WRITE_NEEDS):
        return False
    return principal.is_staff or (principal.org_id is not None and need.org_id == principal.org_id)


def need_full_detail(principal: Principal, need: Need) -> bool:
    """Notes and people served are for staff and the owning recipient; donors get ref and region."""
    return principal.is_staff or (
        principal.role is Role.RECIPIENT and principal.org_id is not None and need.org_id == principal.org_id
    )


def pledge_scope(principal: Principal) -> ColumnElement[bool]:
    if principal.is_staff or principal.role is Role.RECIPIENT:
        return true()
    if principal.role is Role.DONOR and principal.org_id is not None:
        return Pledge.donor_id == principal.org_id
    return false()


def pledge_editable(principal: Principal, pledge: Pledge) -> bool:
    if not allows(principal, Action.WRITE_PLEDGES):
        return False
    return principal.is_staff or (principal.org_id is not None and pledge.donor_id == principal.org_id)


def line_scope(principal: Principal) -> ColumnElement[bool]:
    """Lines a caller may read: staff all, a donor its pledges' lines, a recipient lines to its needs."""
    if principal.is_staff:
        return true()
    if principal.org_id is None or principal.is_anonymous:
        return false()
    if principal.role is Role.DONOR:
        return Line.pledge_id.in_(select(Pledge.id).where(Pledge.donor_id == principal.org_id))
    if principal.role is Role.RECIPIENT:
        return Line.need_id.in_(select(Need.id).where(Need.org_id == principal.org_id))
    return false()


def line_visible(principal: Principal, line: Line) -> bool:
    return line_in_scope(principal, donor_id=line.pledge.donor_id, need_org_id=line.need.org_id)


def line_in_scope(principal: Principal, *, donor_id: int, need_org_id: int | None) -> bool:
    """A line of a pledge of ``donor_id`` to a need of ``need_org_id``: staff see it, its donor and the
    need's organisation."""
    if principal.is_staff:
        return True
    if principal.org_id is None or principal.is_anonymous:
        return False
    if principal.role is Role.DONOR:
        return donor_id == principal.org_id
    if principal.role is Role.RECIPIENT:
        return need_org_id == principal.org_id
    return False


# --- shipments and timelines ---------------------------------------------------------------------
# Dispatch: a donor its own organisation's accepted lines; staff any. Mark delivered: the shipment's donor
# or staff. Confirm receipt: the recipient organisation that owns every need the shipment serves (the
# need's organisation or its site's); staff any. A shipment is listed to staff, to its donor, and to a
# recipient owning one of its lines' needs (which then sees only those lines).
# Timelines: staff any; a donor its own pledges'; a recipient its own needs'; nobody else.


def _recipient_needs(org_id: int) -> ColumnElement[bool]:
    """Needs a recipient organisation owns: its own, or at one of its sites."""
    return or_(Need.org_id == org_id, Need.site_id.in_(select(Site.id).where(Site.org_id == org_id)))


def recipient_owns_need(principal: Principal, need: Need) -> bool:
    if principal.role is not Role.RECIPIENT or principal.org_id is None or principal.is_anonymous:
        return False
    return need.org_id == principal.org_id or (need.site is not None and need.site.org_id == principal.org_id)


def _acting_org(principal: Principal, action: Action) -> int | None:
    require(principal, action)
    if principal.is_staff:
        return None
    if principal.org_id is None:
        raise Forbidden("this account belongs to no organisation", context={"role": str(principal.role)})
    return principal.org_id


def dispatching_donor(principal: Principal) -> int | None:
    """The donor organisation whose lines the caller may dispatch (``None``: staff, any donor's)."""
    return _acting_org(principal, Action.DISPATCH_SHIPMENTS)


def receiving_recipient(principal: Principal) -> int | None:
    """The recipient organisation whose receipts the caller may confirm (``None``: staff, any)."""
    return _acting_org(principal, Action.RECEIVE_SHIPMENTS)


def may_dispatch(principal: Principal) -> bool:
    return allows(principal, Action.DISPATCH_SHIPMENTS) and (principal.is_staff or principal.org_id is not None)


def may_deliver(principal: Principal, shipment: Shipment) -> bool:
    if not allows(principal, Action.DELIVER_SHIPMENTS):
        return False
    return principal.is_staff or (principal.org_id is not None and shipment.donor_id == principal.org_id)


def require_deliver(principal: Principal, shipment: Shipment) -> None:
    require(principal, Action.DELIVER_SHIPMENTS)
    if not may_deliver(principal, shipment):
        raise Forbidden(
            "only the shipment's donor or a coordinator may mark it delivered", context={"shipment": shipment.id}
        )


def may_receive(principal: Principal, lines: list[Line]) -> bool:
    """May the caller confirm receipt of a shipment carrying ``lines``?"""
    if not allows(principal, Action.RECEIVE_SHIPMENTS):
        return False
    return principal.is_staff or (bool(lines) and all(recipient_owns_need(principal, ln.need) for ln in lines))


def shipment_scope(principal: Principal) -> ColumnElement[bool]:
    """Shipments listed to this caller."""
    if principal.is_staff:
        return true()
    if principal.org_id is None or principal.is_anonymous:
        return false()
    if principal.role is Role.DONOR:
        return Shipment.donor_id == principal.org_id
    if principal.role is Role.RECIPIENT:
        served = select(Line.shipment_id).where(
            Line.shipment_id.is_not(None), Line.need_id.in_(select(Need.id).where(_recipient_needs(principal.org_id)))
        )
        return Shipment.id.in_(served)
    return false()


def shipment_line_visible(principal: Principal, line: Line) -> bool:
    """Which lines of a visible shipment the caller sees: staff all, the donor all, a recipient its own."""
    if principal.is_staff:
        return True
    if principal.org_id is None or principal.is_anonymous:
        return False
    if principal.role is Role.DONOR:
        return line.pledge.donor_id == principal.org_id
    return recipient_owns_need(principal, line.need)


def need_timeline_visible(principal: Principal, need: Need) -> bool:
    return allows(principal, Action.READ_TIMELINES) and (principal.is_staff or recipient_owns_need(principal, need))


def pledge_timeline_visible(principal: Principal, pledge: Pledge) -> bool:
    if not allows(principal, Action.READ_TIMELINES):
        return False
    if principal.is_staff:
        return True
    return principal.role is Role.DONOR and principal.org_id is not None and pledge.donor_id == principal.org_id


def require_need_timeline(principal: Principal, need: Need) -> None:
    require(principal, Action.READ_TIMELINES)
    if not need_timeline_visible(principal, need):
        raise Forbidden(
            "a need's timeline is for coordinators and the recipient that owns it", context={"need": need.ref}
        )


def require_pledge_timeline(principal: Principal, pledge: Pledge) -> None:
    require(principal, Action.READ_TIMELINES)
    if not pledge_timeline_visible(principal, pledge):
        raise Forbidden(
            "a pledge's timeline is for coordinators and the donor that made it", context={"pledge": pledge.ref}
        )


def hidden_site_texts(principal: Principal, sites: list[Site | None]) -> list[str]:
    """Names and codes of these sites that the caller may not learn (to keep them out of free text)."""
    hidden: set[str] = set()
    for site in sites:
        if site is not None and not site_details_visible(principal, site):
            hidden.update(text for text in (site.name, site.code) if text)
    return sorted(hidden, key=len, reverse=True)
