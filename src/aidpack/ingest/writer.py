"""Write a checked import: upsert by code in dependency order, one audit event per created or updated row.

Rows of one kind are added or changed together and flushed once, then their events are appended in one
batch (``record_many``: the same hash chain as ``record``), so the database sees batched statements.
A row whose values all equal the file's is left alone (no event).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar, cast

from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session

from aidpack.audit.service import EventDraft, record_many, snapshot
from aidpack.audit.service import record as record_event
from aidpack.catalogue.models import Item
from aidpack.db import Base
from aidpack.geography.models import Hub, Region, TransitOverride
from aidpack.ingest.kinds import Kind
from aidpack.ingest.parse import Record, ScenarioRecord
from aidpack.ingest.resolve import Batch, Existing, by_code
from aidpack.needs.models import Need
from aidpack.orgs.models import Organisation
from aidpack.pledges.models import Pledge
from aidpack.scenario.models import ScenarioInfo
from aidpack.sites.models import Site

M = TypeVar("M", bound=Base)


@dataclass
class Counts:
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0


class _Writer:
    def __init__(self, session: Session, existing: Existing, counts: dict[str, Counts], actor: str) -> None:
        self.session = session
        self.existing = existing
        self.counts = counts
        self.actor = actor

    def _count(self, record: Record, outcome: str) -> None:
        for file in (record.file, *record.more_files):
            counts = self.counts[file]
            setattr(counts, outcome, getattr(counts, outcome) + 1)

    def upsert(
        self,
        *,
        model: type[M],
        entity: str,
        records: list[Record],
        rows: dict[str, M],
        values_of: Callable[[Record, M | None], dict[str, object]],
        key_attr: str | None,
    ) -> None:
        pending: list[tuple[Record, dict[str, object]]] = []
        updated: list[tuple[Record, M, dict[str, object]]] = []
        for record in records:
            row = rows.get(record.key)
            values = values_of(record, row)
            if row is None:
                if key_attr is not None:
                    values[key_attr] = record.key
                pending.append((record, values))
                continue
            changed = {name: value for name, value in values.items() if getattr(row, name) != value}
            if not changed:
                self._count(record, "unchanged")
                continue
            before: dict[str, object] = dict(snapshot(row))
            for name, value in changed.items():
                setattr(row, name, value)
            updated.append((record, row, before))
        self.session.flush()
        created: list[tuple[Record, M]] = []
        if pending:
            # Core executemany INSERTs (no RETURNING: cheapest on every backend), one per set of columns,
            # then the new rows read back with their ids and defaults.
            table = cast(Table, model.__table__)
            groups: dict[frozenset[str], list[dict[str, object]]] = {}
            for _, values in pending:
                groups.setdefault(frozenset(values), []).append(values)
            for group in groups.values():
                self.session.execute(insert(table), group)
            new_rows = self.reload(model, key_attr, pending)
            for record, _ in pending:
                row = new_rows[record.key]
                rows[record.key] = row
                created.append((record, row))
        drafts: list[EventDraft] = []
        for record, row in created:
            drafts.append(EventDraft("import.create", entity, record.key, None, snapshot(row)))
            self._count(record, "created")
        for record, row, before in updated:
            drafts.append(EventDraft("import.update", entity, record.key, before, snapshot(row)))
            self._count(record, "updated")
        record_many(self.session, actor=self.actor, drafts=drafts)

    def reload(
        self, model: type[M], key_attr: str | None, pending: list[tuple[Record, dict[str, object]]]
    ) -> dict[str, M]:
        """The rows just inserted, by record key, in a few queries."""
        if key_attr is not None:
            return by_code(
                self.session, model, getattr(model, key_attr), [record.key for record, _ in pending]
            )
        # Transit overrides are identified by their (hub, region) pair.
        by_pair = {(values["hub_id"], values["region_id"]): record.key for record, values in pending}
        found: dict[str, M] = {}
        for row in self.session.execute(select(model)).scalars():
            key = by_pair.get((getattr(row, "hub_id"), getattr(row, "region_id")))  # noqa: B009
            if key is not None:
                found[key] = row
        return found

    # -- values with references resolved to ids ------------------------------------------------------------

    def _id(self, rows: dict[str, M], code: str | None) -> int | None:
        if code is None:
            return None
        row_id: int = getattr(rows[code], "id")  # noqa: B009 - every model has an integer id
        return row_id

    def plain(self, record: Record, row: Base | None) -> dict[str, object]:
        return dict(record.values)

    def site_values(self, record: Record, row: Site | None) -> dict[str, object]:
        values = dict(record.values)
        if "region" in record.refs:
            values["region_id"] = self._id(self.existing.regions, record.refs["region"])
        if "org" in record.refs:
            values["org_id"] = self._id(self.existing.orgs, record.refs["org"])
        return values

    def need_values(self, record: Record, row: Need | None) -> dict[str, object]:
        values = dict(record.values)
        if record.site_hidden and row is not None:
            # An export that left the need's restricted site out: its site (kept: no "site" ref), its notes and its
            # people served (the export's effective figure) stay as they are.
            values.pop("notes", None)
            values.pop("people_served", None)
        if "region" in record.refs:
            values["region_id"] = self._id(self.existing.regions, record.refs["region"])
        site: Site | None = None
        if "site" in record.refs:
            code = record.refs["site"]
            site = None if code is None else self.existing.sites[code]
            values["site_id"] = None if site is None else site.id
        org = record.refs.get("org")
        if org is not None:
            values["org_id"] = self._id(self.existing.orgs, org)
        elif site is not None:
            values["org_id"] = site.org_id  # a need at a site belongs to the site's authority
        elif "org" in record.refs:
            values["org_id"] = None
        return values

    def pledge_values(self, record: Record, row: Pledge | None) -> dict[str, object]:
        values = dict(record.values)
        values["donor_id"] = self._id(self.existing.orgs, record.refs.get("donor"))
        values["item_id"] = self._id(self.existing.items, record.refs.get("item"))
        values["hub_id"] = self._id(self.existing.hubs, record.refs.get("hub"))
        return values

    def transit_values(self, record: Record, row: TransitOverride | None) -> dict[str, object]:
        values = dict(record.values)
        if row is None:
            values["hub_id"] = self._id(self.existing.hubs, record.refs.get("hub"))
            values["region_id"] = self._id(self.existing.regions, record.refs.get("region"))
        return values

    def scenario(self, scenario: ScenarioRecord) -> None:
        """The database holds one scenario: the first row is updated, or one is created."""
        row = self.session.execute(
            select(ScenarioInfo).order_by(ScenarioInfo.id).limit(1)
        ).scalar_one_or_none()
        values: dict[str, object] = {"name": scenario.name, "plan_date": scenario.plan_date}
        if scenario.has_description or row is None:
            values["description"] = scenario.description
        counts = self.counts[scenario.file]
        counts.rows = 1
        if row is None:
            row = ScenarioInfo(**values)
            self.session.add(row)
            self.session.flush()
            record_event(
                self.session,
                actor=self.actor,
                action="import.create",
                entity="scenario",
                entity_ref=scenario.name,
                before=None,
                after=snapshot(row),
            )
            counts.created = 1
            return
        changed = {name: value for name, value in values.items() if getattr(row, name) != value}
        if not changed:
            counts.unchanged = 1
            return
        before = snapshot(row)
        for name, value in changed.items():
            setattr(row, name, value)
        self.session.flush()
        record_event(
            self.session,
            actor=self.actor,
            action="import.update",
            entity="scenario",
            entity_ref=scenario.name,
            before=before,
            after=snapshot(row),
        )
        counts.updated = 1


def write(
    session: Session, *, batch: Batch, existing: Existing, counts: dict[str, Counts], actor: str
) -> None:
    """Upsert every record of ``batch`` (already checked) in dependency order."""
    writer = _Writer(session, existing, counts, actor)
    if batch.scenario is not None:
        writer.scenario(batch.scenario)
    r = batch.records
    writer.upsert(
        model=Region,
        entity="region",
        records=r[Kind.REGIONS],
        rows=existing.regions,
        values_of=writer.plain,
        key_attr="code",
    )
    writer.upsert(
        model=Hub,
        entity="hub",
        records=r[Kind.HUBS],
        rows=existing.hubs,
        values_of=writer.plain,
        key_attr="code",
    )
    writer.upsert(
        model=Item,
        entity="item",
        records=r[Kind.CATALOGUE],
        rows=existing.items,
        values_of=writer.plain,
        key_attr="code",
    )
    writer.upsert(
        model=Organisation,
        entity="organisation",
        records=r[Kind.DONORS] + r[Kind.ORGANISATIONS],
        rows=existing.orgs,
        values_of=writer.plain,
        key_attr="code",
    )
    writer.upsert(
        model=Site,
        entity="site",
        records=r[Kind.SITES],
        rows=existing.sites,
        values_of=writer.site_values,
        key_attr="code",
    )
    writer.upsert(
        model=Need,
        entity="need",
        records=r[Kind.NEEDS],
        rows=existing.needs,
        values_of=writer.need_values,
        key_attr="ref",
    )
    writer.upsert(
        model=Pledge,
        entity="pledge",
        records=r[Kind.PLEDGES],
        rows=existing.pledges,
        values_of=writer.pledge_values,
        key_attr="ref",
    )
    writer.upsert(
        model=TransitOverride,
        entity="transit",
        records=r[Kind.TRANSIT],
        rows=existing.transit,
        values_of=writer.transit_values,
        key_attr=None,
    )
