"""The database as scenario tables (SPEC §3 columns), as text cells ready for CSV, XLSX or HXL.

``public=True`` is the publication view (HXL): restricted sites are left out entirely, and a need at a
restricted site keeps its region and capability but loses its notes and the site code, which reads
``[restricted]`` instead (its people served are given as the effective figure, so that the published need
still weighs what it weighs). Imported back, such a row leaves the need's site, notes and people served as
they are, where an empty cell would have cleared them.

Not representable in scenario files, so not exported: cancelled needs (the files have no need status),
organisations that are neither donor nor recipient, pledges' committed units (derived from lines).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from aidpack.allocation.models import Line
from aidpack.catalogue.models import Item
from aidpack.geography.models import Hub, Region, TransitOverride
from aidpack.ingest.kinds import RESTRICTED_SITE
from aidpack.needs.models import Need, NeedStatus
from aidpack.orgs.models import Organisation, OrgKind
from aidpack.pledges.models import Pledge
from aidpack.scenario.models import ScenarioInfo
from aidpack.sites.models import Sensitivity, Site

#: The extra file of plan lines; its name starts with no scenario kind, so ``aidpack import`` skips it.
LINES = "lines"

COLUMNS: dict[str, tuple[str, ...]] = {
    "regions": ("code", "name", "name_local", "population", "lat", "lon"),
    "hubs": ("code", "name", "country", "lat", "lon"),
    "catalogue": (
        "code", "name", "name_local", "category", "unit", "provides", "factor", "indivisible", "unit_value_eur",
        "consumes",
    ),
    "donors": ("code", "name", "kind", "country"),
    "organisations": ("code", "name", "kind", "country"),
    "sites": ("code", "name", "region", "kind", "people_served", "lat", "lon", "sensitivity", "org"),
    "needs": (
        "ref", "region", "site", "capability", "quantity", "priority", "deadline", "people_served", "notes", "org",
    ),
    "pledges": (
        "ref", "donor", "item", "units", "available", "hub", "channel", "status", "value_eur", "source",
    ),
    "transit": ("hub", "region", "days"),
    LINES: ("plan", "id", "pledge", "need", "units", "amount", "eta", "status"),
}

Cell = str | int | float | Decimal | bool | dt.date | StrEnum | None


def cell(value: Cell) -> str:
    """One value as the text a scenario file holds (empty for "not given")."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, Decimal):
        text = format(value.normalize(), "f")
        return "0" if text in ("-0", "0") else text
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


@dataclass(frozen=True)
class Scenario:
    name: str
    plan_date: dt.date
    description: str | None


@dataclass
class ExportData:
    """The scenario and every table, in import order (lines last), as rows of text cells."""

    scenario: Scenario | None
    tables: dict[str, list[list[str]]] = field(default_factory=dict)

    def rows(self) -> dict[str, int]:
        return {name: len(rows) for name, rows in self.tables.items()}


def _row(*values: Cell) -> list[str]:
    return [cell(v) for v in values]


def _code(row: Organisation | Site | None) -> str | None:
    return None if row is None else row.code


def collect(session: Session, *, public: bool = False) -> ExportData:
    """Read everything the scenario files hold (``public``: without restricted sites)."""
    info = session.execute(select(ScenarioInfo).order_by(ScenarioInfo.id).limit(1)).scalar_one_or_none()
    data = ExportData(None if info is None else Scenario(info.name, info.plan_date, info.description))
    t = data.tables
    t["regions"] = [
        _row(r.code, r.name, r.name_local, r.population, r.lat, r.lon)
        for r in session.execute(select(Region).order_by(Region.code)).scalars()
    ]
    t["hubs"] = [
        _row(h.code, h.name, h.country, h.lat, h.lon)
        for h in session.execute(select(Hub).order_by(Hub.code)).scalars()
    ]
    t["catalogue"] = [
        _row(i.code, i.name, i.name_local, i.category, i.unit, i.provides, i.factor, i.indivisible, i.unit_value_eur,
             i.consumes)
        for i in session.execute(select(Item).order_by(Item.code)).scalars()
    ]
    orgs = list(session.execute(select(Organisation).order_by(Organisation.code)).scalars())
    # donors.csv refuses the kind `authority`; an authority that also donates keeps it in organisations.csv.
    t["donors"] = [
        _row(o.code, o.name, None if o.kind is OrgKind.AUTHORITY else o.kind, o.country) for o in orgs if o.is_donor
    ]
    t["organisations"] = [_row(o.code, o.name, o.kind, o.country) for o in orgs if o.is_recipient]
    sites = session.execute(select(Site).order_by(Site.code)).scalars()
    t["sites"] = [
        _row(s.code, s.name, s.region.code, s.kind, s.people_served, s.lat, s.lon, s.sensitivity, _code(s.org))
        for s in sites
        if not public or s.sensitivity is Sensitivity.PUBLIC
    ]
    t["needs"] = []
    needs = session.execute(select(Need).where(Need.status == NeedStatus.OPEN).order_by(Need.ref)).scalars()
    for n in needs:
        hidden = public and n.site is not None and n.site.sensitivity is not Sensitivity.PUBLIC
        t["needs"].append(
            _row(
                n.ref,
                n.region.code,
                RESTRICTED_SITE if hidden else _code(n.site),
                n.capability,
                n.quantity,
                n.priority,
                n.deadline,
                n.effective_people_served if hidden else n.people_served,
                None if hidden else n.notes,
                _code(n.org),
            )
        )
    t["pledges"] = [
        _row(p.ref, p.donor.code, p.item.code, p.units, p.available, p.hub.code, p.channel, p.status, p.value_eur,
             p.source)
        for p in session.execute(select(Pledge).order_by(Pledge.ref)).scalars()
    ]
    transit = session.execute(
        select(Hub.code, Region.code, TransitOverride.days)
        .join(Hub, Hub.id == TransitOverride.hub_id)
        .join(Region, Region.id == TransitOverride.region_id)
        .order_by(Hub.code, Region.code)
    ).all()
    t["transit"] = [_row(hub, region, days) for hub, region, days in transit]
    t[LINES] = [
        _row(line.plan_id, line.id, line.pledge.ref, line.need.ref, line.units, line.amount, line.eta, line.status)
        for line in session.execute(select(Line).order_by(Line.plan_id, Line.id)).scalars()
    ]
    return data


def toml_string(text: str) -> str:
    """A TOML basic string (JSON escapes are valid TOML escapes; DEL must be escaped too)."""
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007F")


def scenario_toml(scenario: Scenario) -> str:
    lines = [f"name = {toml_string(scenario.name)}", f"plan_date = {scenario.plan_date.isoformat()}"]
    if scenario.description is not None:
        lines.append(f"description = {toml_string(scenario.description)}")
    return "\n".join(lines) + "\n"
