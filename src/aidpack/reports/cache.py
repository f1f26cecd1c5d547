"""The public reports, computed once per version of the data and kept in the process.

Anyone may ask for the public coverage, gaps and contributions, and at national scale (10,000 needs, 50,000
lines) computing them takes most of a second: uncached, an easy denial of service. They change only when the
data does, and every change aidpack makes writes an audit event in its own transaction (needs, sites and
pledges edited, imports, plans saved, lines decided, shipments and receipts: SPEC §5, Audit). So the version
of the data is the newest audit event (its id and its hash, which covers its time and content: a transaction
rolled back never leaves a version that a later one reuses) and the latest plan's id. Events that change
nothing a report reads are left out of it: sign-ins and accounts (a failed sign-in writes an event, and
anyone may cause one) and exports.

An entry is kept only when the version read after computing it is the one read before: PostgreSQL's READ
COMMITTED, and SQLite outside an explicit transaction, give each statement its own snapshot, and a change
committed half-way would otherwise be kept under the older version. Only public views are kept: aggregated
to tier, category, region and donor, never a need, a site or anything that depends on who asks. The cache
belongs to one app (``app.state.public_reports``), holds at most ``max_entries`` reports (least recently used
first out) and keys each by the engine it was read from, so two databases never share an entry.
"""

from __future__ import annotations

import hashlib
import itertools
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, TypeVar, cast
from weakref import WeakKeyDictionary

from fastapi import Depends, Request
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from aidpack import __version__
from aidpack.allocation.models import Plan
from aidpack.audit.models import Event
from aidpack.audit.service import GENESIS_HASH
from aidpack.reports import service
from aidpack.reports.service import Contribution, PublicCoverage

T = TypeVar("T")

#: Audit entities whose events change nothing a public report is computed from.
UNREPORTED_ENTITIES = ("user", "client", "email", "export")
#: Reports kept per app: a few kinds, each at its newest version and perhaps the one before, per database.
MAX_ENTRIES = 16


@dataclass(frozen=True)
class DataVersion:
    """The data a public report is computed from, as of the newest event that could change it."""

    event_id: int
    event_hash: str
    plan_id: int | None

    @property
    def tag(self) -> str:
        """An opaque ETag value: the same in every process on this database, new whenever the data changes, and
        new with each aidpack version (whose reports may read differently)."""
        text = f"{__version__}:{self.event_id}:{self.event_hash}:{self.plan_id}"
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def data_version(session: Session) -> DataVersion:
    """Two index lookups: the newest event that may change a report (backwards along the primary key), the
    newest plan."""
    newest = session.execute(
        select(Event.id, Event.hash).where(Event.entity.not_in(UNREPORTED_ENTITIES)).order_by(Event.id.desc()).limit(1)
    ).one_or_none()
    plan_id = session.execute(select(func.max(Plan.id))).scalar_one()
    if newest is None:
        return DataVersion(0, GENESIS_HASH, plan_id)
    return DataVersion(newest.id, newest.hash, plan_id)


_Key = tuple[int, str, DataVersion]


class PublicReports:
    """Public reports by (database, kind, data version); thread-safe, bounded, least recently used out.

    While one request computes a report, others asking for the same one wait for it rather than compute it
    again (many anonymous requests at once cost one computation)."""

    def __init__(self, *, max_entries: int = MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._entries: OrderedDict[_Key, object] = OrderedDict()
        self._computing: dict[_Key, threading.Lock] = {}
        self._engines: WeakKeyDictionary[Engine, int] = WeakKeyDictionary()
        self._engine_ids = itertools.count(1)

    def version(self, session: Session) -> DataVersion:
        return data_version(session)

    def coverage(self, session: Session, version: DataVersion) -> PublicCoverage:
        """The public coverage report (:func:`service.coverage`, its public part)."""
        return self._get(session, "coverage", version, lambda: service.coverage(session).public())

    def contributions(self, session: Session, version: DataVersion) -> tuple[Contribution, ...]:
        """Donors' contributions (:func:`service.contributions`)."""
        return self._get(session, "contributions", version, lambda: tuple(service.contributions(session)))

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def _engine_id(self, session: Session) -> int:
        """A number for the session's engine, never reused for another engine while this cache lives (an
        engine's URL alone does not name its database: PostgreSQL schemas chosen by ``search_path``, SQLite
        in memory)."""
        engine = session.get_bind().engine
        with self._lock:
            number = self._engines.get(engine)
            if number is None:
                number = self._engines[engine] = next(self._engine_ids)
            return number

    def _lookup(self, key: _Key) -> tuple[bool, object]:
        with self._lock:
            if key not in self._entries:
                return False, None
            self._entries.move_to_end(key)
            return True, self._entries[key]

    def _get(self, session: Session, kind: str, version: DataVersion, compute: Callable[[], T]) -> T:
        key = (self._engine_id(session), kind, version)
        found, value = self._lookup(key)
        if found:
            return cast(T, value)
        with self._lock:
            gate = self._computing.setdefault(key, threading.Lock())
        try:
            with gate:
                found, value = self._lookup(key)  # computed by the request this one waited for
                if found:
                    return cast(T, value)
                computed = compute()
                if data_version(session) == version:
                    with self._lock:
                        self._entries[key] = computed
                        self._entries.move_to_end(key)
                        while len(self._entries) > self.max_entries:
                            self._entries.popitem(last=False)
                return computed
        finally:
            with self._lock:
                if self._computing.get(key) is gate and not gate.locked():
                    del self._computing[key]


def get_public_reports(request: Request) -> PublicReports:
    reports: PublicReports = request.app.state.public_reports
    return reports


PublicReportsDep = Annotated[PublicReports, Depends(get_public_reports)]
