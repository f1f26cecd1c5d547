"""Append events to the hash-chained audit log, verify the chain, export it.

Each event's hash is SHA-256 over the previous event's hash and this event's canonical JSON
(sorted keys, no whitespace, UTF-8). Appending locks the single ``audit_head`` row, so events get
strictly increasing ids and one chain even with many writers (PostgreSQL ``FOR UPDATE``; SQLite
serialises writers anyway). The event is written in the caller's transaction: no change without
its event, no event without its change.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Session

from aidpack.audit.models import AuditHead, Event
from aidpack.db import Base, utcnow
from aidpack.errors import DomainError

GENESIS_HASH = "0" * 64
HEAD_ID = 1

JSONValue = str | int | float | bool | None | list["JSONValue"] | dict[str, "JSONValue"]


class AuditHeadMissing(DomainError):
    code = "AUDIT_HEAD_MISSING"
    http_status = 500


def to_json_value(value: object) -> JSONValue:
    """A JSON-safe, exactly reproducible form of a column value."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value == value.to_integral_value() else format(value, "f")
    if isinstance(value, float):
        return value
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): to_json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json_value(v) for v in value]
    return str(value)


def snapshot(row: Base, *, exclude: frozenset[str] = frozenset({"password_hash"})) -> dict[str, JSONValue]:
    """The row's column values as JSON (secrets left out)."""
    mapper = sa_inspect(type(row))
    return {
        attr.key: to_json_value(getattr(row, attr.key))
        for attr in mapper.column_attrs
        if attr.key not in exclude
    }


def canonical_json(payload: Mapping[str, Any]) -> str:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _payload(event: Event) -> dict[str, Any]:
    return {
        "id": event.id,
        "at": event.at.astimezone(dt.UTC).isoformat(timespec="microseconds"),
        "actor": event.actor,
        "action": event.action,
        "entity": event.entity,
        "entity_ref": event.entity_ref,
        "before": event.before,
        "after": event.after,
    }


def event_hash(prev_hash: str, event: Event) -> str:
    return hashlib.sha256((prev_hash + canonical_json(_payload(event))).encode("utf-8")).hexdigest()


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    entity: str,
    entity_ref: str,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
) -> Event:
    """Append one event in the caller's transaction (flushes, never commits)."""
    head = session.execute(select(AuditHead).where(AuditHead.id == HEAD_ID).with_for_update()).scalar_one_or_none()
    if head is None:
        raise AuditHeadMissing("the audit log has no head row; run `aidpack init` to migrate the database")
    event = Event(
        id=(head.last_event_id or 0) + 1,
        at=utcnow(),
        actor=actor,
        action=action,
        entity=entity,
        entity_ref=entity_ref,
        before=None if before is None else {k: to_json_value(v) for k, v in before.items()},
        after=None if after is None else {k: to_json_value(v) for k, v in after.items()},
        prev_hash=head.hash,
        hash="",
    )
    event.hash = event_hash(head.hash, event)
    session.add(event)
    session.flush()
    head.last_event_id = event.id
    head.hash = event.hash
    session.flush()
    return event


@dataclass(frozen=True)
class EventDraft:
    """One event for :func:`record_many`."""

    action: str
    entity: str
    entity_ref: str
    before: Mapping[str, Any] | None = None
    after: Mapping[str, Any] | None = None


def record_many(session: Session, *, actor: str, drafts: Sequence[EventDraft]) -> int:
    """Append many events in order, chained exactly as :func:`record` would, locking the head once.

    For bulk work (an import of thousands of rows): one lock, one batched INSERT, one head update.
    Returns the number of events written.
    """
    if not drafts:
        return 0
    locked = select(AuditHead).where(AuditHead.id == HEAD_ID).with_for_update()
    head = session.execute(locked).scalar_one_or_none()
    if head is None:
        raise AuditHeadMissing("the audit log has no head row; run `aidpack init` to migrate the database")
    prev_id, prev_hash = head.last_event_id or 0, head.hash
    rows: list[dict[str, Any]] = []

    def as_json(values: Mapping[str, Any] | None) -> dict[str, JSONValue] | None:
        return None if values is None else {k: to_json_value(v) for k, v in values.items()}

    for draft in drafts:
        at = utcnow()
        payload: dict[str, Any] = {
            "id": prev_id + 1,
            "at": at.astimezone(dt.UTC).isoformat(timespec="microseconds"),
            "actor": actor,
            "action": draft.action,
            "entity": draft.entity,
            "entity_ref": draft.entity_ref,
            "before": as_json(draft.before),
            "after": as_json(draft.after),
        }
        digest = hashlib.sha256((prev_hash + canonical_json(payload)).encode("utf-8")).hexdigest()
        rows.append({**payload, "at": at, "prev_hash": prev_hash, "hash": digest})
        prev_id, prev_hash = prev_id + 1, digest
    session.execute(insert(Event), rows)
    head.last_event_id = prev_id
    head.hash = prev_hash
    session.flush()
    return len(rows)


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    events: int
    head_hash: str
    first_broken: int | None = None
    problem: str | None = None


def verify(session: Session) -> ChainReport:
    """Recompute the chain; name the first event that was edited, inserted or removed."""
    head = session.get(AuditHead, HEAD_ID)
    prev_hash = GENESIS_HASH
    expected_id = 1
    count = 0
    events = session.execute(select(Event).order_by(Event.id).execution_options(populate_existing=True))
    for event in events.scalars().yield_per(1000):
        if event.id != expected_id:
            problem = f"event {expected_id} is missing (next is {event.id})"
            return ChainReport(False, count, prev_hash, expected_id, problem)
        if event.prev_hash != prev_hash:
            problem = f"event {event.id} does not follow event {event.id - 1}"
            return ChainReport(False, count, prev_hash, event.id, problem)
        if event_hash(prev_hash, event) != event.hash:
            problem = f"event {event.id} was altered after it was written"
            return ChainReport(False, count, prev_hash, event.id, problem)
        prev_hash = event.hash
        expected_id += 1
        count += 1
    if head is None or head.hash != prev_hash or (head.last_event_id or 0) != count:
        last = head.last_event_id if head is not None else None
        # Appended after the head: the first extra event; rewritten last event: it; removed: the first missing.
        known = None if head is None else (head.last_event_id or 0)
        broken = count + 1 if known is None or known > count else (count if known == count else known + 1)
        return ChainReport(False, count, prev_hash, broken, f"the chain ends at event {count} but its head says {last}")
    return ChainReport(True, count, prev_hash)


def iter_events(session: Session) -> Iterator[dict[str, Any]]:
    for event in session.execute(select(Event).order_by(Event.id)).scalars().yield_per(1000):
        yield {**_payload(event), "prev_hash": event.prev_hash, "hash": event.hash}
