"""IATI activity file (standard 2.03): one ``iati-activity`` per pledge, reported by its donor.

No site data goes into it: recipient countries come from the regions' ISO 3166-2 codes (``UA-63`` → ``UA``),
and what was delivered is given per pledge (units dispatched and received), never per site.
"""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from aidpack.allocation.models import Line, LineStatus
from aidpack.db import utcnow
from aidpack.errors import RuleViolation
from aidpack.exports.tables import cell
from aidpack.geography.models import Region
from aidpack.orgs.models import OrgKind
from aidpack.pledges.models import Pledge, PledgeStatus
from aidpack.scenario.models import ScenarioInfo

IATI_VERSION = "2.03"
#: An activity's identifier is its reporting organisation's ref, then this, then the pledge's ref: IATI requires the
#: identifier to start with the reporting-org's ref (``FR-AIDPACK-P1``).
IDENTIFIER_TAG = "AIDPACK"
#: BudgetNotProvided "Rapid onset emergency": an in-kind pledge with no value given states why it has no figures.
RAPID_ONSET_EMERGENCY = "3"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"

#: DAC 5-digit purpose codes (IATI Sector vocabulary 1) by catalogue category.
SECTORS: dict[str, tuple[str, str]] = {
    "energy": ("23310", "Energy generation, non-renewable sources, unspecified"),
    "energy-grid": ("23630", "Electric power transmission and distribution (centralised grids)"),
    "fuel": ("23641", "Retail distribution of liquid or solid fossil fuels"),
    "food": ("72040", "Emergency food assistance"),
    "logistics": ("72050", "Relief co-ordination and support services"),
}
MATERIAL_RELIEF = ("72010", "Material relief assistance and services")

#: IATI OrganisationType by our organisation kind.
ORG_TYPES: dict[OrgKind, str] = {
    OrgKind.STATE: "10",
    OrgKind.AUTHORITY: "10",
    OrgKind.MULTILATERAL: "40",
    OrgKind.NGO: "21",
    OrgKind.PRIVATE: "70",
}
OTHER_ORG_TYPE = "90"

#: IATI ActivityStatus: 1 pipeline, 2 implementation, 3 finalisation, 5 cancelled.
PIPELINE, IMPLEMENTATION, FINALISATION, CANCELLED = "1", "2", "3", "5"
COMMITMENT = "2"  # TransactionType: outgoing commitment
FUNDING = "1"  # OrganisationRole

_COUNTRY = re.compile(r"^([A-Z]{2})-[0-9A-Z]{1,3}$")
SHIPPED = frozenset({LineStatus.DISPATCHED, LineStatus.DELIVERED, LineStatus.RECEIVED})


def sector_for(category: str) -> tuple[str, str]:
    """The DAC 5 code of a catalogue category (energy-like ones by prefix); material relief otherwise."""
    if category in SECTORS:
        return SECTORS[category]
    if category.startswith("energy"):
        return SECTORS["energy"]
    return MATERIAL_RELIEF


def recipient_countries(session: Session) -> list[tuple[str, int]]:
    """ISO 3166-1 countries of the regions with their share in percent (summing to 100)."""
    counts = Counter(
        match.group(1)
        for code in session.execute(select(Region.code)).scalars()
        if (match := _COUNTRY.match(code.upper())) is not None
    )
    if not counts:
        return []
    total = sum(counts.values())
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    shares = [(country, count * 100 // total) for country, count in ordered]
    shares[0] = (shares[0][0], shares[0][1] + 100 - sum(share for _, share in shares))
    return shares


def _narrative(parent: ET.Element, tag: str, text: str, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attrs)
    ET.SubElement(element, "narrative").text = text
    return element


def _status(pledge: Pledge, lines: list[Line]) -> str:
    if pledge.status is PledgeStatus.WITHDRAWN:
        return CANCELLED
    if pledge.status is PledgeStatus.PROPOSED:
        return PIPELINE
    received = sum((line.units for line in lines if line.status is LineStatus.RECEIVED), Decimal(0))
    return FINALISATION if received >= pledge.units else IMPLEMENTATION


def _received_units(line: Line) -> Decimal:
    return line.units if line.received_units is None else line.received_units


def _activity(
    root: ET.Element, pledge: Pledge, lines: list[Line], plan_date: dt.date, countries: list[tuple[str, int]],
    now: dt.datetime,
) -> None:
    donor, item = pledge.donor, pledge.item
    org_type = ORG_TYPES.get(donor.kind, OTHER_ORG_TYPE) if donor.kind is not None else OTHER_ORG_TYPE
    start = pledge.available or plan_date
    today = now.date()
    attributes = {
        "last-updated-datetime": now.isoformat(), XML_LANG: "en", "default-currency": "EUR", "humanitarian": "1",
    }
    if pledge.value_eur is None:
        attributes["budget-not-provided"] = RAPID_ONSET_EMERGENCY
    activity = ET.SubElement(root, "iati-activity", attributes)
    ET.SubElement(activity, "iati-identifier").text = f"{donor.code}-{IDENTIFIER_TAG}-{pledge.ref}"
    _narrative(activity, "reporting-org", donor.name, ref=donor.code, type=org_type)
    _narrative(activity, "title", f"{cell(pledge.units)} × {item.name} ({item.code}) from {donor.name}")
    shipped = sum((line.units for line in lines if line.status in SHIPPED), Decimal(0))
    received = sum((_received_units(line) for line in lines if line.status is LineStatus.RECEIVED), Decimal(0))
    text = (
        f"Pledge {pledge.ref}: {cell(pledge.units)} {item.unit} of {item.code} at hub {pledge.hub.code}, "
        f"channel {pledge.channel.value}, status {pledge.status.value}. "
        f"Committed {cell(pledge.committed_units)}, dispatched {cell(shipped)}, received {cell(received)}."
    )
    if pledge.source:
        text += f" Source: {pledge.source}"
    _narrative(activity, "description", text, type="1")
    _narrative(activity, "participating-org", donor.name, ref=donor.code, role=FUNDING, type=org_type)
    ET.SubElement(activity, "activity-status", code=_status(pledge, lines))
    ET.SubElement(activity, "activity-date", {"iso-date": start.isoformat(), "type": "1"})
    for country, share in countries:
        ET.SubElement(activity, "recipient-country", code=country, percentage=str(share))
    code, name = sector_for(item.category)
    _narrative(activity, "sector", name, vocabulary="1", code=code, percentage="100")
    if pledge.value_eur is not None:
        # A transaction has happened: IATI's rules refuse one dated in the future. A pledge whose goods come later was
        # committed by now at the latest.
        committed = min(start, today).isoformat()
        transaction = ET.SubElement(activity, "transaction")
        ET.SubElement(transaction, "transaction-type", code=COMMITMENT)
        ET.SubElement(transaction, "transaction-date", {"iso-date": committed})
        value = ET.SubElement(transaction, "value", {"currency": "EUR", "value-date": committed})
        value.text = cell(pledge.value_eur)
        _narrative(transaction, "provider-org", donor.name, ref=donor.code)
    result = ET.SubElement(activity, "result", {"type": "1", "aggregation-status": "0"})
    _narrative(result, "title", f"Delivery of {item.name}")
    indicator = ET.SubElement(result, "indicator", measure="1", ascending="1")
    _narrative(indicator, "title", f"{item.unit} of {item.code} received")
    period = ET.SubElement(indicator, "period")
    end = max([line.eta for line in lines if line.status in SHIPPED] + [start])
    ET.SubElement(period, "period-start", {"iso-date": start.isoformat()})
    ET.SubElement(period, "period-end", {"iso-date": end.isoformat()})
    ET.SubElement(period, "target", value=cell(pledge.units))
    ET.SubElement(period, "actual", value=cell(received))


def build(session: Session) -> ET.Element:
    """The ``iati-activities`` document of every pledge, ordered by ref."""
    info = session.execute(select(ScenarioInfo).order_by(ScenarioInfo.id).limit(1)).scalar_one_or_none()
    plan_date = info.plan_date if info is not None else utcnow().date()
    now = utcnow().replace(microsecond=0)
    root = ET.Element("iati-activities", {"version": IATI_VERSION, "generated-datetime": now.isoformat()})
    lines: dict[int, list[Line]] = defaultdict(list)
    for line in session.execute(select(Line).order_by(Line.id)).scalars():
        lines[line.pledge_id].append(line)
    countries = recipient_countries(session)
    for pledge in session.execute(select(Pledge).order_by(Pledge.ref)).scalars():
        _activity(root, pledge, lines.get(pledge.id, []), plan_date, countries, now)
    ET.indent(root)
    return root


class NothingToPublish(RuleViolation):
    code = "NOTHING_TO_PUBLISH"


def write(session: Session, path: Path) -> int:
    """Write the IATI file; the number of activities (at least one: an IATI file holds one or more)."""
    root = build(session)
    if len(root) == 0:
        raise NothingToPublish("there is no pledge to publish: an IATI activity file holds at least one activity; "
                               "import pledges first")
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
    return len(root)
