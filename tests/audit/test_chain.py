"""The audit chain: verify passes on an untouched log, names the first edited, removed or inserted event."""

from __future__ import annotations

import hashlib
import io
import json

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from aidpack.audit.export import AuditChainBroken, check_chain, export_jsonl
from aidpack.audit.models import Event
from aidpack.audit.service import GENESIS_HASH, canonical_json, record, verify
from tests.factories import make_line


def _write_events(session: Session, n: int) -> list[int]:
    ids = [
        record(
            session, actor="tester", action="thing.update", entity="thing", entity_ref=f"T{i}", after={"v": i}
        ).id
        for i in range(n)
    ]
    session.expire_all()
    return ids


def _json_param(session: Session) -> str:
    return "CAST(:value AS JSON)" if session.get_bind().dialect.name == "postgresql" else ":value"


def test_untouched_log_verifies(session: Session) -> None:
    ids = _write_events(session, 5)
    report = check_chain(session)
    assert report.ok
    assert report.events == ids[-1]
    assert report.head_hash == session.get(Event, ids[-1]).hash  # type: ignore[union-attr]


def test_edited_after_is_named(session: Session) -> None:
    ids = _write_events(session, 5)
    victim = ids[2]
    session.execute(
        text(f"UPDATE audit_events SET after = {_json_param(session)} WHERE id = :id"),
        {"value": json.dumps({"v": 999}), "id": victim},
    )
    session.expire_all()

    report = verify(session)

    assert not report.ok
    assert report.first_broken == victim
    with pytest.raises(AuditChainBroken) as info:
        check_chain(session)
    assert info.value.context["event"] == victim
    assert f"event {victim}" in info.value.detail


def test_deleted_event_is_named(session: Session) -> None:
    ids = _write_events(session, 5)
    session.execute(text("DELETE FROM audit_events WHERE id = :id"), {"id": ids[1]})
    session.expire_all()

    report = verify(session)

    assert not report.ok
    assert report.first_broken == ids[1]
    assert "missing" in (report.problem or "")


def test_inserted_event_is_named_even_with_a_correct_hash(session: Session) -> None:
    ids = _write_events(session, 3)
    last = session.get(Event, ids[-1])
    assert last is not None
    forged_id = last.id + 1
    payload = {
        "id": forged_id,
        "at": last.at.isoformat(timespec="microseconds"),
        "actor": "mallory",
        "action": "pledge.update",
        "entity": "pledge",
        "entity_ref": "PL-X",
        "before": None,
        "after": {"units": "1000"},
    }
    forged_hash = hashlib.sha256((last.hash + canonical_json(payload)).encode()).hexdigest()
    session.execute(
        text(
            "INSERT INTO audit_events"
            " (id, at, actor, action, entity, entity_ref, before, after, prev_hash, hash) "
            f"VALUES (:id, :at, 'mallory', 'pledge.update', 'pledge', 'PL-X', NULL, {_json_param(session)}, "
            ":prev, :hash)"
        ),
        {
            "id": forged_id,
            "at": last.at.replace(tzinfo=None),
            "value": json.dumps({"units": "1000"}),
            "prev": last.hash,
            "hash": forged_hash,
        },
    )
    session.expire_all()

    report = verify(session)

    assert not report.ok
    assert report.first_broken == forged_id


def test_every_service_change_keeps_the_chain(session: Session) -> None:
    from aidpack.allocation.decisions import accept_lines

    line = make_line(session, units=1)
    accept_lines(session, actor="c", plan_id=line.plan_id, line_ids=None)
    session.expire_all()
    assert verify(session).ok


def test_export_writes_every_event_and_the_head(session: Session) -> None:
    _write_events(session, 4)
    out = io.StringIO()

    head = export_jsonl(session, out)

    lines = [json.loads(x) for x in out.getvalue().splitlines()]
    events, tail = lines[:-1], lines[-1]
    assert tail == {"head": head, "events": len(events)}
    assert head == verify(session).head_hash
    # An outside party can recompute the chain from the file alone.
    prev = GENESIS_HASH
    for event in events:
        body = {k: v for k, v in event.items() if k not in ("prev_hash", "hash")}
        assert event["prev_hash"] == prev
        prev = hashlib.sha256((prev + canonical_json(body)).encode()).hexdigest()
        assert event["hash"] == prev
    assert prev == head
    assert [e["id"] for e in events] == list(session.execute(select(Event.id).order_by(Event.id)).scalars())
