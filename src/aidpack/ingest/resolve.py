"""Load the existing rows an import touches (one query per table) and check every reference.

A reference resolves against the rows of the same import and the database. A reference to a row of
the import that is itself bad is not reported again: that row's own problem says what to fix.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import InstrumentedAttribute, Session, lazyload

from aidpack.allocation.models import FIXED_LINE_STATUSES, Line, delivered_amount
from aidpack.catalogue.models import Item
from aidpack.db import Base
from aidpack.geography.models import Hub, Region, TransitOverride
from aidpack.ingest.errors import Problem
from aidpack.ingest.kinds import KIND_ORDER, RESTRICTED_SITE, Kind
from aidpack.ingest.parse import Record, ScenarioRecord, transit_key
from aidpack.needs.models import Need
from aidpack.orgs.models import Organisation
from aidpack.pledges.models import Pledge, PledgeStatus
from aidpack.sites.models import Site

M = TypeVar("M", bound=Base)
CHUNK = 1000


@dataclass
class Batch:
    """Everything one import read: a record per row and kind (bad rows too), in import order."""

    scenario: ScenarioRecord | None = None
    records: dict[Kind, list[Record]] = field(default_factory=lambda: {kind: [] for kind in KIND_ORDER})
    #: Kinds with a file that could not be read (or lacks its key column): references to them are not checked.
    unreadable: set[Kind] = field(default_factory=set)

    def codes(self, kind: Kind) -> set[str]:
        return {record.key for record in self.records[kind] if record.key}

    def hidden_sites(self) -> set[str]:
        """Refs of the needs whose site cell says an export left their restricted site out."""
        return {record.key for record in self.records[Kind.NEEDS] if record.key and record.site_hidden}

    def refs(self, kinds: Iterable[Kind], column: str) -> set[str]:
        return {
            code
            for kind in kinds
            for record in self.records[kind]
            if (code := record.refs.get(column)) is not None
        }


@dataclass
class Existing:
    """Rows already in the database, by code (transit overrides by ``"HUB -> REGION"``)."""

    regions: dict[str, Region]
    hubs: dict[str, Hub]
    items: dict[str, Item]
    orgs: dict[str, Organisation]
    sites: dict[str, Site]
    needs: dict[str, Need]
    pledges: dict[str, Pledge]
    transit: dict[str, TransitOverride]
    #: Refs of the needs above that lines accepted or later already serve, and what those lines bring them (what was
    #: received, once received).
    served_needs: dict[str, Decimal] = field(default_factory=dict)
    #: Codes of the items above whose pledges have lines accepted or later.
    served_items: set[str] = field(default_factory=set)
    #: Per site above: the needs at it in the database, (ref, region code).
    site_needs: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    #: Per need of the import whose site an export left out: the site it keeps, (code, region code).
    hidden_sites: dict[str, tuple[str, str]] = field(default_factory=dict)


def by_code(
    session: Session, model: type[M], column: InstrumentedAttribute[str], codes: Iterable[str]
) -> dict[str, M]:
    """Rows whose ``column`` is one of ``codes``, in a few chunked queries."""
    wanted = sorted(set(codes))
    found: dict[str, M] = {}
    for start in range(0, len(wanted), CHUNK):
        chunk = wanted[start : start + CHUNK]
        # No eager joins: references are read from the identity map (regions, items...) when needed.
        query = select(model).where(column.in_(chunk)).options(lazyload("*"))
        for row in session.execute(query).unique().scalars():
            found[getattr(row, column.key)] = row
    return found


def load_existing(session: Session, batch: Batch) -> Existing:
    org_kinds = (Kind.SITES, Kind.NEEDS)
    transit: dict[str, TransitOverride] = {}
    if batch.records[Kind.TRANSIT]:
        rows = session.execute(
            select(TransitOverride, Hub.code, Region.code)
            .join(Hub, Hub.id == TransitOverride.hub_id)
            .join(Region, Region.id == TransitOverride.region_id)
        ).all()
        transit = {transit_key(hub, region): override for override, hub, region in rows}
    needs = by_code(session, Need, Need.ref, batch.codes(Kind.NEEDS))
    served_needs: dict[str, Decimal] = {}
    ids = sorted(need.id for need in needs.values())
    for start in range(0, len(ids), CHUNK):
        for ref, amount, units, received in session.execute(
            select(Need.ref, Line.amount, Line.units, Line.received_units).join(Line, Line.need_id == Need.id)
            .where(Need.id.in_(ids[start : start + CHUNK]), Line.status.in_(FIXED_LINE_STATUSES))
        ):
            served_needs[ref] = served_needs.get(ref, Decimal(0)) + delivered_amount(amount, units, received)
    items = by_code(session, Item, Item.code, batch.codes(Kind.CATALOGUE) | batch.refs((Kind.PLEDGES,), "item"))
    served_items: set[str] = set()
    catalogue_ids = sorted(item.id for code, item in items.items() if code in batch.codes(Kind.CATALOGUE))
    for start in range(0, len(catalogue_ids), CHUNK):
        served_items.update(session.execute(
            select(Item.code).join(Pledge, Pledge.item_id == Item.id).join(Line, Line.pledge_id == Pledge.id)
            .where(Item.id.in_(catalogue_ids[start : start + CHUNK]), Line.status.in_(FIXED_LINE_STATUSES))
            .distinct()
        ).scalars())
    sites = by_code(session, Site, Site.code, batch.codes(Kind.SITES) | batch.refs((Kind.NEEDS,), "site"))
    site_needs: dict[str, list[tuple[str, str]]] = {}
    moved = sorted(site.id for code, site in sites.items() if code in batch.codes(Kind.SITES))
    for start in range(0, len(moved), CHUNK):
        for site_code, need_ref, region_code in session.execute(
            select(Site.code, Need.ref, Region.code).join(Need, Need.site_id == Site.id)
            .join(Region, Region.id == Need.region_id).where(Site.id.in_(moved[start : start + CHUNK]))
        ):
            site_needs.setdefault(site_code, []).append((need_ref, region_code))
    hidden_refs = batch.hidden_sites()
    hidden = sorted(need.id for ref, need in needs.items() if need.site_id is not None and ref in hidden_refs)
    hidden_sites: dict[str, tuple[str, str]] = {}
    for start in range(0, len(hidden), CHUNK):
        for need_ref, site_code, region_code in session.execute(
            select(Need.ref, Site.code, Region.code).join(Site, Site.id == Need.site_id)
            .join(Region, Region.id == Site.region_id).where(Need.id.in_(hidden[start : start + CHUNK]))
        ):
            hidden_sites[need_ref] = (site_code, region_code)
    return Existing(
        regions=by_code(
            session,
            Region,
            Region.code,
            batch.codes(Kind.REGIONS) | batch.refs((Kind.SITES, Kind.NEEDS, Kind.TRANSIT), "region"),
        ),
        hubs=by_code(
            session, Hub, Hub.code, batch.codes(Kind.HUBS) | batch.refs((Kind.PLEDGES, Kind.TRANSIT), "hub")
        ),
        items=items,
        orgs=by_code(
            session,
            Organisation,
            Organisation.code,
            batch.codes(Kind.DONORS)
            | batch.codes(Kind.ORGANISATIONS)
            | batch.refs(org_kinds, "org")
            | batch.refs((Kind.PLEDGES,), "donor"),
        ),
        sites=sites,
        needs=needs,
        pledges=by_code(session, Pledge, Pledge.ref, batch.codes(Kind.PLEDGES)),
        transit=transit,
        served_needs=served_needs,
        served_items=served_items,
        site_needs=site_needs,
        hidden_sites=hidden_sites,
    )


class _Checker:
    def __init__(self, batch: Batch, existing: Existing, problems: list[Problem]) -> None:
        self.batch = batch
        self.existing = existing
        self.problems = problems
        self.file_records: dict[Kind, dict[str, Record]] = {
            kind: {record.key: record for record in records if record.key and not record.duplicate}
            for kind, records in batch.records.items()
        }

    def _known(self, kinds: tuple[Kind, ...], in_db: dict[str, M], code: str) -> bool:
        return code in in_db or any(
            code in self.file_records[kind] or kind in self.batch.unreadable for kind in kinds
        )

    def reference(
        self, record: Record, column: str, kinds: tuple[Kind, ...], in_db: dict[str, M], what: str
    ) -> bool:
        code = record.refs.get(column)
        if code is None or self._known(kinds, in_db, code):
            return True
        files = " or ".join(f"a {kind.value} file" for kind in kinds)
        self.problems.append(
            Problem(
                record.file,
                record.row,
                column,
                code,
                f"the code of an existing {what} (from {files} or the database)",
            )
        )
        return False

    def _org(self, record: Record, column: str = "org") -> None:
        self.reference(record, column, (Kind.DONORS, Kind.ORGANISATIONS), self.existing.orgs, "organisation")

    def _region(self, record: Record) -> bool:
        return self.reference(record, "region", (Kind.REGIONS,), self.existing.regions, "region")

    def _site_region(self, code: str) -> str | None:
        in_file = self.file_records[Kind.SITES].get(code)
        if in_file is not None:
            region = in_file.refs.get("region")
            known = region is not None and self._known((Kind.REGIONS,), self.existing.regions, region)
            return region if known else None
        site = self.existing.sites.get(code)
        return None if site is None else site.region.code

    def sites(self) -> None:
        for record in self.batch.records[Kind.SITES]:
            self._region(record)
            self._org(record)
            self._site_moved(record)

    def _site_moved(self, record: Record) -> None:
        """A site moved to another region takes its needs along in the same import (a need is in its site's region:
        moved alone, the site left its needs behind, and the needs file that placed them no longer imported)."""
        site, region = self.existing.sites.get(record.key), record.refs.get("region")
        if site is None or region is None or region == site.region.code:
            return
        in_file = self.file_records[Kind.NEEDS]
        left = [ref for ref, need_region in self.existing.site_needs.get(record.key, [])
                if (in_file[ref].refs.get("region") if ref in in_file else need_region) != region]
        if left:
            shown = ", ".join(left[:5]) + (f" and {len(left) - 5} more" if len(left) > 5 else "")
            self.problems.append(Problem(
                record.file, record.row, "region", region,
                f"{site.region.code}, where its needs are ({shown}): import them with region {region} in the same "
                "import, or give the site a new code",
            ))

    def needs(self) -> None:
        for record in self.batch.records[Kind.NEEDS]:
            region_known = self._region(record)
            self._org(record)
            self._served_need(record)
            if record.site_hidden:
                self._hidden_site(record, region_known)
                continue
            site = record.refs.get("site")
            if site is None:
                continue
            if not self.reference(record, "site", (Kind.SITES,), self.existing.sites, "site"):
                continue
            site_region = self._site_region(site)
            region = record.refs.get("region")
            if region_known and site_region is not None and region is not None and site_region != region:
                self.problems.append(
                    Problem(
                        record.file,
                        record.row,
                        "site",
                        site,
                        f"a site in region {region} (site {site} is in {site_region})",
                    )
                )

    def _hidden_site(self, record: Record, region_known: bool) -> None:
        """A need whose restricted site the file leaves out keeps that site, so it stays in the site's region."""
        kept = self.existing.hidden_sites.get(record.key)
        region = record.refs.get("region")
        if kept is None or region is None or not region_known:
            return
        code, site_region = kept
        if code in self.file_records[Kind.SITES]:
            site_region = self._site_region(code) or site_region
        if region != site_region:
            self.problems.append(Problem(
                record.file, record.row, "region", region,
                f"{site_region}, the region of the need's restricted site, which this file leaves out "
                f"({RESTRICTED_SITE}): name the site to change both",
            ))

    def _served_need(self, record: Record) -> None:
        """A need that accepted lines serve keeps its capability and region: those lines send that capability
        there (reject them first, or add a need of its own for the rest)."""
        if record.key not in self.existing.served_needs:
            return
        need = self.existing.needs[record.key]
        capability, region = record.values.get("capability"), record.refs.get("region")
        for column, old, new in (("capability", need.capability, capability), ("region", need.region.code, region)):
            if new is not None and new != old:
                self.problems.append(Problem(
                    record.file, record.row, column, str(new),
                    f"{old}: accepted lines serve this need, so its {column} cannot change (reject them first, "
                    "or add a need of its own)",
                ))
        # Its quantity may drop below what those lines bring (people evacuated, a line repaired): the need is then
        # covered in full and the lines stay until a coordinator rejects them, as the API has it.

    def catalogue(self) -> None:
        """An item whose pledges have accepted lines keeps what it provides and how much: those lines bring
        units x factor of that capability to needs of that capability."""
        for record in self.batch.records[Kind.CATALOGUE]:
            if record.key not in self.existing.served_items:
                continue
            item = self.existing.items[record.key]
            for column, old in (("provides", item.provides), ("factor", item.factor)):
                new = record.values.get(column)
                if new is not None and new != old:
                    shown = f"{old.normalize():f}" if isinstance(old, Decimal) else str(old)
                    self.problems.append(Problem(
                        record.file, record.row, column, record.raw.get(column, str(new)),
                        f"{shown}: accepted lines of this item's pledges bring it to needs, so its {column} cannot "
                        "change (reject them first, or add an item of its own)",
                    ))

    def _indivisible(self, code: str) -> bool | None:
        in_file = self.file_records[Kind.CATALOGUE].get(code)
        if in_file is not None:
            value = in_file.values.get("indivisible")
            return value if isinstance(value, bool) else None
        item = self.existing.items.get(code)
        return None if item is None else item.indivisible

    def pledges(self) -> None:
        for record in self.batch.records[Kind.PLEDGES]:
            self._org(record, "donor")
            self.reference(record, "hub", (Kind.HUBS,), self.existing.hubs, "hub")
            item = record.refs.get("item")
            if item is None or not self.reference(
                record, "item", (Kind.CATALOGUE,), self.existing.items, "item"
            ):
                continue
            units = record.values.get("units")
            if not isinstance(units, Decimal):
                continue
            if self._indivisible(item) and units != units.to_integral_value():
                self.problems.append(
                    Problem(
                        record.file,
                        record.row,
                        "units",
                        record.raw.get("units", str(units)),
                        f"a whole number of units ({item} is indivisible)",
                    )
                )
            pledge = self.existing.pledges.get(record.key)
            if pledge is None or pledge.committed_units <= 0:
                continue
            if units < pledge.committed_units:
                self.problems.append(
                    Problem(
                        record.file,
                        record.row,
                        "units",
                        record.raw.get("units", str(units)),
                        f"at least {pledge.committed_units.normalize():f} units "
                        "(held by accepted lines of this pledge)",
                    )
                )
            if item != pledge.item.code:
                self.problems.append(
                    Problem(
                        record.file,
                        record.row,
                        "item",
                        item,
                        f"{pledge.item.code}: the item of a pledge with accepted lines cannot change",
                    )
                )
            if record.values.get("status") is PledgeStatus.WITHDRAWN:
                # As the pledge service has it: the lines' units would be promised by a pledge that no longer
                # offers them.
                self.problems.append(
                    Problem(
                        record.file,
                        record.row,
                        "status",
                        record.raw.get("status", PledgeStatus.WITHDRAWN.value),
                        f"confirmed or proposed: accepted lines hold {pledge.committed_units.normalize():f} units "
                        "of this pledge (reject or deliver them before withdrawing it)",
                    )
                )

    def transit(self) -> None:
        for record in self.batch.records[Kind.TRANSIT]:
            self.reference(record, "hub", (Kind.HUBS,), self.existing.hubs, "hub")
            self._region(record)

    def merge_organisations(self) -> None:
        """An organisation in donors and organisations files is one row with both flags."""
        donors = self.file_records[Kind.DONORS]
        kept: list[Record] = []
        for record in self.batch.records[Kind.ORGANISATIONS]:
            donor = donors.get(record.key)
            if donor is None:
                kept.append(record)
                continue
            for column in ("name", "kind", "country"):
                mine, theirs = record.values.get(column), donor.values.get(column)
                if mine is not None and theirs is not None and mine != theirs:
                    self.problems.append(
                        Problem(
                            record.file,
                            record.row,
                            column,
                            str(mine),
                            f"the same {column} as {donor.file} row {donor.row} ({theirs}) "
                            "for the same organisation",
                        )
                    )
                elif mine is not None:
                    donor.values[column] = mine
            donor.values["is_recipient"] = True
            donor.more_files.append(record.file)
        self.batch.records[Kind.ORGANISATIONS] = kept


def check(batch: Batch, existing: Existing, problems: list[Problem]) -> None:
    """Append a problem for every unknown reference or rule broken across rows."""
    checker = _Checker(batch, existing, problems)
    checker.merge_organisations()
    checker.catalogue()
    checker.sites()
    checker.needs()
    checker.pledges()
    checker.transit()
