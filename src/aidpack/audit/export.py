"""Export the audit log as JSON Lines, ending with the head hash an outside party can anchor.

Each line is one event: ``{"id", "at", "actor", "action", "entity", "entity_ref", "before", "after",
"prev_hash", "hash"}``. Anyone can recompute the chain: ``hash = SHA-256(prev_hash + canonical JSON of
the event without prev_hash and hash)`` (sorted keys, no whitespace, UTF-8), starting from 64 zeros.
The last line is ``{"head": <hash of the last event>, "events": <count>}``.
"""

from __future__ import annotations

import json
from typing import TextIO

from sqlalchemy.orm import Session

from aidpack.audit.service import GENESIS_HASH, ChainReport, iter_events, verify
from aidpack.errors import DomainError


class AuditChainBroken(DomainError):
    """The log was altered: an event edited, inserted or removed."""

    code = "AUDIT_CHAIN_BROKEN"
    http_status = 500


def check_chain(session: Session) -> ChainReport:
    """The chain's report; raises :class:`AuditChainBroken` naming the first broken event."""
    report = verify(session)
    if not report.ok:
        raise AuditChainBroken(
            f"the audit log was altered at event {report.first_broken}: {report.problem}",
            context={"event": report.first_broken, "problem": report.problem, "valid_events": report.events},
        )
    return report


def export_jsonl(session: Session, out: TextIO) -> str:
    """Write every event as one JSON line, then ``{"head": ..., "events": n}``; return the head hash."""
    head = GENESIS_HASH
    count = 0
    for payload in iter_events(session):
        out.write(json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":")) + "\n")
        head = str(payload["hash"])
        count += 1
    out.write(json.dumps({"head": head, "events": count}, separators=(",", ":")) + "\n")
    return head
