"""Sign-in throttling: failed sign-ins counted per e-mail and client, per client, and per e-mail.

A lock counted on the account alone is a denial of service: anyone who knows a coordinator's e-mail can keep
the coordinator out by typing wrong passwords every few minutes. So (OWASP Authentication and Credential
Stuffing Prevention cheat sheets) failures are counted three ways, each with its own limit:

* one e-mail from one client (``EMAIL_CLIENT``): a guesser is stopped after a few tries, and the owner who
  signs in from anywhere else is not;
* one client, whatever e-mails it tries (``CLIENT``): one client spraying passwords over many accounts;
* one e-mail from every client together (``EMAIL``): a ceiling on guessing spread over many clients, which
  does lock the account for everyone (it takes many clients to reach, and an admin can lift it).

E-mails with no account are counted exactly as accounts are, so that no lock tells who has an account.

The counters live in the database (``sign_in_throttles``), so that every worker process of the server counts
the same failures and a restart forgets nothing. Each count is one atomic ``INSERT ... ON CONFLICT DO UPDATE``
that keeps the row locked to the end of the transaction; rows are always taken in the same order (e-mail and
client, client, e-mail), so two sign-ins never wait for each other in a cycle.

These functions only count, read and delete; :mod:`aidpack.auth.service` decides and writes the audit events.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, case, delete, literal, or_, select, update
from sqlalchemy.orm import Session

from aidpack.auth.models import SignInThrottle, ThrottleScope
from aidpack.db import UTCDateTime

#: Failures are counted in a window that starts at the first one; older failures are forgotten. As long as
#: the lock, so that a lock over and a window over are the same moment.
FAILURE_WINDOW = dt.timedelta(minutes=15)
#: How long a lock lasts, whichever limit set it (the sign-in page says "try again in 15 minutes").
LOCK_DURATION = dt.timedelta(minutes=15)
#: Failed sign-ins for one e-mail from one client before that client is locked out of that e-mail. Five leaves
#: room for a few typos of one's own, and a guesser five tries per quarter of an hour from each address.
MAX_FAILED_LOGINS = 5
#: Failed sign-ins from one client, over every e-mail, before the client is locked out of every sign-in.
#: Six e-mails' worth of typos: an office, a camp's satellite link or a mobile network behind one address
#: (NAT) holds many people, all of whom this lock stops, so it must not come from a few colleagues' typos;
#: a password sprayer still gets no more than 30 tries per half hour from each address.
MAX_CLIENT_FAILURES = 30
#: Failed sign-ins for one e-mail, from every client together, before it is locked for everyone (audited, and
#: an admin can lift it). It takes at least MAX_EMAIL_FAILURES / MAX_FAILED_LOGINS = 20 clients to get there,
#: which the owner's own typos never reach, and it holds guessing spread over a botnet to 100 tries per half
#: hour per account.
MAX_EMAIL_FAILURES = 100
#: The client of a sign-in that did not come over HTTP (the CLI, a script calling the service).
LOCAL_CLIENT = "local"
#: Expired rows deleted per failed sign-in: more than a failure adds (three), so the table stays as small as
#: the failures of the last window.
PRUNE_BATCH = 100
CLIENT_LENGTH = 64


def limit(scope: ThrottleScope) -> int:
    """The failures that lock ``scope``'s key (read when called, so that the module's numbers are the truth)."""
    return {
        ThrottleScope.EMAIL_CLIENT: MAX_FAILED_LOGINS,
        ThrottleScope.CLIENT: MAX_CLIENT_FAILURES,
        ThrottleScope.EMAIL: MAX_EMAIL_FAILURES,
    }[scope]


def email_key(email: str) -> str:
    """The key of an e-mail: the SHA-256 of its trimmed, lower-case form (the form accounts are found by).

    Not a secret (anyone can hash a known e-mail), but what strangers typed is not kept as they typed it.
    """
    return hashlib.sha256(email.strip().lower().encode("utf-8")).hexdigest()


def client_key(host: str | None) -> str:
    """The key of a client address: an IPv4 address as it is, an IPv6 address as its /64 network.

    One IPv6 subscriber (a house, an office, a cloud machine) is given a whole /64 and can pick any of its
    2**64 addresses, so counting single IPv6 addresses would throttle nobody. None (no HTTP client) is
    :data:`LOCAL_CLIENT`; a name that is not an address is kept as it is (cut to the column's length).
    """
    if host is None:
        return LOCAL_CLIENT
    try:
        address = ipaddress.ip_address(host.strip())
    except ValueError:
        return host.strip()[:CLIENT_LENGTH] or LOCAL_CLIENT
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


@dataclass(frozen=True)
class Key:
    """One row's key: the e-mail's key ('' for the client scope) and the client ('' for the e-mail scope)."""

    scope: ThrottleScope
    email_key: str
    client: str

    def matches(self) -> ColumnElement[bool]:
        return and_(
            SignInThrottle.scope == self.scope,
            SignInThrottle.email_key == self.email_key,
            SignInThrottle.client == self.client,
        )


def keys(*, email_key: str, client: str) -> tuple[Key, Key, Key]:
    """The three keys a sign-in of ``email_key`` from ``client`` counts on, in the order they are locked."""
    return (
        Key(ThrottleScope.EMAIL_CLIENT, email_key, client),
        Key(ThrottleScope.CLIENT, "", client),
        Key(ThrottleScope.EMAIL, email_key, ""),
    )


@dataclass(frozen=True)
class Counted:
    """One key's count: the failures counted (this one included), and the lock set or found, if any."""

    scope: ThrottleScope
    client: str
    failures: int
    locked_until: dt.datetime | None


def locked_until(session: Session, *, email_key: str, client: str, now: dt.datetime) -> dt.datetime | None:
    """When the last lock on a sign-in of ``email_key`` from ``client`` ends; None when nothing locks it."""
    ends = session.execute(
        select(SignInThrottle.locked_until).where(
            or_(*(key.matches() for key in keys(email_key=email_key, client=client))),
            SignInThrottle.locked_until > now,
        )
    ).scalars()
    return max((end for end in ends if end is not None), default=None)


def _upsert_failure(session: Session, key: Key, now: dt.datetime) -> tuple[int, int, dt.datetime | None]:
    """Count one failure on ``key`` in one statement (a new window when the last one is over): id, failures, lock."""
    fresh: dict[str, Any] = {
        "scope": key.scope,
        "email_key": key.email_key,
        "client": key.client,
        "failures": 1,
        "window_start": now,
        "locked_until": None,
        "expires_at": now + FAILURE_WINDOW,
    }
    window_open = SignInThrottle.window_start > now - FAILURE_WINDOW
    counted: dict[str, Any] = {
        "failures": case((window_open, SignInThrottle.failures + 1), else_=1),
        "window_start": case((window_open, SignInThrottle.window_start), else_=literal(now, UTCDateTime())),
        "expires_at": case(
            (window_open, SignInThrottle.expires_at), else_=literal(now + FAILURE_WINDOW, UTCDateTime())
        ),
    }
    columns = ["scope", "email_key", "client"]
    returning = (SignInThrottle.id, SignInThrottle.failures, SignInThrottle.locked_until)
    # Each dialect's upsert is imported where it runs: PostgreSQL's dialect module took 0.07 s of every command's
    # start (`aidpack allocate` included) on a SQLite database.
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        pg = postgresql.insert(SignInThrottle).values(fresh)
        row = session.execute(pg.on_conflict_do_update(index_elements=columns, set_=counted).returning(*returning))
    else:
        from sqlalchemy.dialects import sqlite

        lite = sqlite.insert(SignInThrottle).values(fresh)
        row = session.execute(lite.on_conflict_do_update(index_elements=columns, set_=counted).returning(*returning))
    row_id, failures, until = row.one()
    return row_id, failures, until


def count_failure(session: Session, *, email_key: str, client: str, now: dt.datetime) -> list[Counted]:
    """Count a failed sign-in of ``email_key`` from ``client`` on its three keys; lock each that reaches its limit.

    A key that reaches its limit is locked for :data:`LOCK_DURATION` and its count starts again at 0. Returns the
    three counts, in the order of :func:`keys`, with the lock each failure set (None when it set none).
    Expired rows are deleted on the way (a few at a time, none another transaction holds).
    """
    results: list[Counted] = []
    for key in keys(email_key=email_key, client=client):
        row_id, failures, until = _upsert_failure(session, key, now)
        lock: dt.datetime | None = None
        already_locked = until is not None and until > now  # locked by a sign-in that ran alongside this one
        if failures >= limit(key.scope) and not already_locked:
            lock = now + LOCK_DURATION
            session.execute(
                update(SignInThrottle)
                .where(SignInThrottle.id == row_id)
                .values(failures=0, window_start=now, locked_until=lock,
                        expires_at=now + max(FAILURE_WINDOW, LOCK_DURATION))
                .execution_options(synchronize_session=False)
            )
        results.append(Counted(key.scope, key.client, failures, lock))
    prune(session, now=now)
    return results


def prune(session: Session, *, now: dt.datetime) -> None:
    """Delete up to :data:`PRUNE_BATCH` rows whose window and lock are over (they count nothing any more).

    Rows another transaction has locked are skipped (PostgreSQL ``SKIP LOCKED``; SQLite has one writer at a
    time), so pruning never waits for anyone and never deadlocks.
    """
    expired = (
        select(SignInThrottle.id)
        .where(SignInThrottle.expires_at <= now)
        .order_by(SignInThrottle.expires_at)
        .limit(PRUNE_BATCH)
        .with_for_update(skip_locked=True)
    )
    session.execute(
        delete(SignInThrottle).where(SignInThrottle.id.in_(expired)).execution_options(synchronize_session=False)
    )


def _deleted(session: Session, condition: ColumnElement[bool]) -> list[Counted]:
    rows = session.execute(
        delete(SignInThrottle)
        .where(condition)
        .returning(SignInThrottle.scope, SignInThrottle.client, SignInThrottle.failures, SignInThrottle.locked_until)
        .execution_options(synchronize_session=False)
    ).all()
    counted = [Counted(scope, client, failures, until) for scope, client, failures, until in rows]
    return sorted(counted, key=lambda c: (c.scope.value, c.client))


def reset(session: Session, *, email_key: str, client: str) -> Counted | None:
    """Forget the failures of ``email_key`` from ``client`` (a successful sign-in); what was forgotten, if any."""
    pair = keys(email_key=email_key, client=client)[0]
    forgotten = _deleted(session, pair.matches())
    return forgotten[0] if forgotten else None


def clear_email(session: Session, *, email_key: str) -> list[Counted]:
    """Forget every count and lift every lock on ``email_key``, from each client and from all (an admin's unlock).

    The clients' own counts over every e-mail are left alone: they are about the clients, not this account.
    The rows are deleted in the order sign-ins lock them (each client's, then the e-mail's), so that an unlock
    and a sign-in never wait for each other in a cycle.
    """
    per_client = _deleted(
        session, and_(SignInThrottle.scope == ThrottleScope.EMAIL_CLIENT, SignInThrottle.email_key == email_key)
    )
    everyone = _deleted(session, Key(ThrottleScope.EMAIL, email_key, "").matches())
    return per_client + everyone
