"""Every table, imported in one place so that Alembic and tests see the whole schema."""

from aidpack.allocation.models import Line, Plan, PlanNeed, plan_kept_lines
from aidpack.audit.models import AuditHead, Event
from aidpack.auth.models import SignInThrottle, User
from aidpack.catalogue.models import Item
from aidpack.db import Base
from aidpack.geography.models import Hub, Region, TransitOverride
from aidpack.logistics.models import Discrepancy, Shipment
from aidpack.needs.models import Need
from aidpack.orgs.models import Organisation
from aidpack.pledges.models import Pledge
from aidpack.scenario.models import ScenarioInfo
from aidpack.sites.models import Site

__all__ = [
    "AuditHead", "Base", "Discrepancy", "Event", "Hub", "Item", "Line", "Need", "Organisation", "Plan",
    "PlanNeed", "Pledge", "Region", "ScenarioInfo", "Shipment", "SignInThrottle", "Site", "TransitOverride", "User",
    "plan_kept_lines",
]
