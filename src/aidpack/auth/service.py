"""Accounts: argon2 password hashes, sign-in with throttling, signed expiring tokens, sessions and CSRF."""

from __future__ import annotations

import datetime as dt
import functools
import hmac
import re
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aidpack.audit.service import JSONValue, record, snapshot
from aidpack.auth import throttle
from aidpack.auth.models import Role, ThrottleScope, User
from aidpack.auth.policy import Principal
from aidpack.db import utcnow
from aidpack.errors import Conflict, DomainError, Forbidden, NotFound, Unauthorized, ValidationFailed
from aidpack.orgs.models import Organisation

MIN_PASSWORD_LENGTH = 8
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the e-mail is unknown, so that a wrong e-mail costs as much time as a wrong
    password. Made on first use: an argon2 hash takes 0.18 s, which every CLI command paid at start."""
    return _hasher.hash("aidpack-no-such-user")


class InvalidCredentials(Unauthorized):
    code = "INVALID_CREDENTIALS"


class AccountLocked(DomainError):
    code = "ACCOUNT_LOCKED"
    http_status = 429


class TokenInvalid(Unauthorized):
    code = "TOKEN_INVALID"


class CsrfFailed(Forbidden):
    code = "CSRF_FAILED"


class UserExists(Conflict):
    code = "USER_EXISTS"


class OrgNotFound(NotFound):
    code = "ORG_NOT_FOUND"


class UserNotFound(NotFound):
    code = "USER_NOT_FOUND"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def principal_for(user: User) -> Principal:
    return Principal(
        user_id=user.id,
        email=user.email,
        role=user.role,
        org_id=user.org_id,
        org_code=user.org.code if user.org is not None else None,
    )


def find_user(session: Session, *, email: str) -> User | None:
    return session.execute(select(User).where(func.lower(User.email) == email.strip().lower())).scalar_one_or_none()


def create_user(
    session: Session, *, actor: str, email: str, password: str, role: Role, org_code: str | None = None
) -> User:
    """A new account; donors and recipients must belong to an organisation."""
    email = email.strip().lower()
    if not EMAIL_RE.match(email):
        raise ValidationFailed(f"{email!r} is not an e-mail address", context={"field": "email"})
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed(
            f"the password must have at least {MIN_PASSWORD_LENGTH} characters", context={"field": "password"}
        )
    org: Organisation | None = None
    if org_code:
        org = session.execute(select(Organisation).where(Organisation.code == org_code)).scalar_one_or_none()
        if org is None:
            raise OrgNotFound(f"no organisation with code {org_code!r}", context={"org": org_code})
    if role in (Role.DONOR, Role.RECIPIENT) and org is None:
        raise ValidationFailed(f"a {role} account needs --org CODE", context={"field": "org"})
    if find_user(session, email=email) is not None:
        raise UserExists(f"an account for {email} exists already", context={"email": email})
    user = User(email=email, password_hash=hash_password(password), role=role, org=org, active=True)
    session.add(user)
    session.flush()
    record(session, actor=actor, action="user.create", entity="user", entity_ref=email, after=snapshot(user))
    return user


def list_users(session: Session) -> list[User]:
    return list(session.execute(select(User).order_by(User.email)).scalars())


@dataclass(frozen=True)
class LoginResult:
    """A sign-in attempt: the user on success, else the error to answer (after the attempt is saved)."""

    user: User | None
    error: DomainError | None


def _locked(until: dt.datetime, now: dt.datetime) -> AccountLocked:
    """The answer to a locked-out sign-in, the same whichever lock it is and whether the e-mail has an account."""
    return AccountLocked("too many failed sign-ins; try again later",
                         context={"retry_after": int((until - now).total_seconds()) + 1})


def authenticate(
    session: Session, *, email: str, password: str, client: str | None = None, now: dt.datetime | None = None
) -> LoginResult:
    """Check a password, throttled per e-mail and client, per client and per e-mail (see :mod:`.throttle`).

    ``client`` is the caller's address (``request.client.host``), None for a caller that is not HTTP (the CLI).
    An e-mail without an account (or with a deactivated one) is counted and locked exactly as an account is, and
    answered the same: a wrong e-mail costs a password check too, and no answer tells who has an account.
    A failure is returned, not raised, so that the caller commits the counts before answering.
    """
    now = now or utcnow()
    if len(email) > 320 or any(ord(ch) < 32 for ch in email) or "\x00" in password:
        verify_password(_dummy_hash(), password)  # no account can have this e-mail: nothing to count
        return LoginResult(None, InvalidCredentials("wrong e-mail or password"))
    email_key, client_key = throttle.email_key(email), throttle.client_key(client)
    until = throttle.locked_until(session, email_key=email_key, client=client_key, now=now)
    if until is not None:
        return LoginResult(None, _locked(until, now))
    user = find_user(session, email=email)
    account = user if user is not None and user.active else None
    if account is None:
        verify_password(_dummy_hash(), password)
    if account is None or not verify_password(account.password_hash, password):
        counts = throttle.count_failure(session, email_key=email_key, client=client_key, now=now)
        _audit_failure(session, user=user, email_key=email_key, client=client_key, counts=counts)
        return LoginResult(None, InvalidCredentials("wrong e-mail or password"))
    forgotten = throttle.reset(session, email_key=email_key, client=client_key)
    if forgotten is not None:
        # This client's count of failures for the account starts again: recorded, as every change is.
        record(session, actor=f"user:{account.email}", action="user.login_reset", entity="user",
               entity_ref=account.email, before=_throttle_state(forgotten),
               after={"client": client_key, "failures": 0, "locked_until": None})
    return LoginResult(account, None)


def _throttle_state(counted: throttle.Counted) -> dict[str, JSONValue]:
    """One count as the audit log keeps it (the client left out of the count over every client)."""
    until = None if counted.locked_until is None else counted.locked_until.isoformat()
    state: dict[str, JSONValue] = {"scope": counted.scope.value, "failures": counted.failures, "locked_until": until}
    if counted.scope is not ThrottleScope.EMAIL:
        state["client"] = counted.client
    return state


def _audit_failure(
    session: Session, *, user: User | None, email_key: str, client: str, counts: list[throttle.Counted]
) -> None:
    """The audit events of a failed sign-in: the failure on an account, and every lock it set.

    A lock on an e-mail without an account is named by the e-mail's key (the audit log is kept for ever, and
    holds no e-mail that anyone typed); a lock on a client by the client's address.
    """
    by_scope = {c.scope: c for c in counts}
    if user is not None:
        record(session, actor="anonymous", action="user.login_failed", entity="user", entity_ref=user.email,
               after={"client": client, "failures_from_client": by_scope[ThrottleScope.EMAIL_CLIENT].failures,
                      "failures_from_all_clients": by_scope[ThrottleScope.EMAIL].failures})
    for counted in counts:
        if counted.locked_until is None:
            continue
        after = _throttle_state(counted)
        if counted.scope is ThrottleScope.CLIENT:
            record(session, actor="anonymous", action="client.locked", entity="client", entity_ref=client,
                   after=after)
        elif user is not None:
            record(session, actor="anonymous", action="user.locked", entity="user", entity_ref=user.email,
                   after=after)
        else:
            record(session, actor="anonymous", action="email.locked", entity="email", entity_ref=email_key,
                   after=after)


@dataclass(frozen=True)
class Unlocked:
    """What an admin's unlock did: the locks that were still on, and the counts of failures forgotten."""

    email: str
    locks_lifted: int
    counts_cleared: int


def unlock(session: Session, *, actor: str, email: str, now: dt.datetime | None = None) -> Unlocked:
    """Lift every lock on an account and forget its failures, from every client (an admin's unlock).

    Recorded when anything was cleared. Raises UserNotFound when no account has ``email``. The clients' own
    locks over every e-mail stay: they are about the clients, not this account.
    """
    now = now or utcnow()
    user = find_user(session, email=email)
    if user is None:
        raise UserNotFound(f"no account for {email.strip().lower()}", context={"email": email.strip().lower()})
    cleared = throttle.clear_email(session, email_key=throttle.email_key(user.email))
    _record_unlock(session, actor=actor, user=user, cleared=cleared)
    lifted = sum(1 for c in cleared if c.locked_until is not None and c.locked_until > now)
    return Unlocked(email=user.email, locks_lifted=lifted, counts_cleared=len(cleared))


def _record_unlock(session: Session, *, actor: str, user: User, cleared: list[throttle.Counted]) -> None:
    if cleared:
        record(session, actor=actor, action="user.unlocked", entity="user", entity_ref=user.email,
               before={"throttles": [_throttle_state(c) for c in cleared]}, after={"throttles": []})


# --- signed tokens (API bearer tokens and session cookies) ---------------------------------------

TOKEN_SALT = "aidpack.api-token"
SESSION_SALT = "aidpack.session"


def _timestamp(now: dt.datetime | None) -> int:
    return int((now or utcnow()).timestamp())


def issue_token(*, secret: str, user: User, minutes: int, now: dt.datetime | None = None) -> str:
    """A signed bearer token naming the user, valid for ``minutes`` (and until the user signs out or their password
    is reset: see :func:`user_for_token`)."""
    payload = {"u": user.id, "exp": _timestamp(now) + minutes * 60, "i": _millis(now)}
    return URLSafeSerializer(secret, salt=TOKEN_SALT).dumps(payload)


def _load(secret: str, salt: str, token: str) -> dict[str, object]:
    try:
        payload = URLSafeSerializer(secret, salt=salt).loads(token)
    except BadSignature as exc:
        raise TokenInvalid("the token is not valid") from exc
    if not isinstance(payload, dict):
        raise TokenInvalid("the token is not valid")
    return payload


def user_for_token(session: Session, *, secret: str, token: str, now: dt.datetime | None = None) -> User:
    """The active user a bearer token names; raises TokenInvalid when it is forged, expired or revoked: its account
    deactivated, signed out or given a new password after the token was issued (a token from before issue times
    were kept counts as issued at 0)."""
    payload = _load(secret, TOKEN_SALT, token)
    user_id, exp, issued = payload.get("u"), payload.get("exp"), payload.get("i", 0)
    if not isinstance(user_id, int) or not isinstance(exp, int) or not isinstance(issued, int):
        raise TokenInvalid("the token is not valid")
    if exp < _timestamp(now):
        raise TokenInvalid("the token has expired; ask for a new one", context={"expired": True})
    user = session.get(User, user_id)
    if user is None or not user.active:
        raise TokenInvalid("the token's account is no longer active")
    if _voided(user, issued):
        raise TokenInvalid("the token was revoked when its account signed out or its password was reset; ask for a "
                           "new one", context={"revoked": True})
    return user


def _voided(user: User, issued: int) -> bool:
    """Whether ``user`` signed out (or had their password reset) at or after ``issued`` (milliseconds): every web
    session and bearer token made until then is void, whoever holds a copy of it."""
    return user.signed_out_at is not None and issued <= _millis(user.signed_out_at)


@dataclass
class WebSession:
    """What the session cookie carries: the signed-in user (if any), a CSRF token and an expiry."""

    user_id: int | None
    csrf: str
    exp: int
    changed: bool = False
    #: When it was made, in milliseconds (a sign-out voids the sessions made before it).
    issued: int = 0


def _millis(now: dt.datetime | None) -> int:
    return int((now or utcnow()).timestamp() * 1000)


def new_web_session(*, minutes: int, user_id: int | None = None, now: dt.datetime | None = None) -> WebSession:
    return WebSession(user_id=user_id, csrf=secrets.token_urlsafe(24), exp=_timestamp(now) + minutes * 60, changed=True,
                      issued=_millis(now))


def dump_web_session(web: WebSession, *, secret: str) -> str:
    return URLSafeSerializer(secret, salt=SESSION_SALT).dumps(
        {"u": web.user_id, "c": web.csrf, "exp": web.exp, "i": web.issued})


def session_signed_out(web: WebSession, user: User) -> bool:
    """Whether ``user`` signed out after ``web`` was made (then it is void, whoever holds a copy of it)."""
    return _voided(user, web.issued)


def sign_out(session: Session, *, user: User, now: dt.datetime | None = None) -> None:
    """Void every web session and bearer token of ``user`` made until now (flushes; an audit event, as every change
    has)."""
    before = snapshot(user)
    user.signed_out_at = now or utcnow()
    session.flush()
    record(session, actor=f"user:{user.email}", action="user.sign_out", entity="user", entity_ref=user.email,
           before=before, after=snapshot(user))


def load_web_session(cookie: str | None, *, secret: str, minutes: int, now: dt.datetime | None = None) -> WebSession:
    """The cookie's session, or a fresh anonymous one when it is missing, forged or expired."""
    if cookie:
        try:
            payload = _load(secret, SESSION_SALT, cookie)
        except TokenInvalid:
            payload = {}
        user_id, csrf, exp, issued = payload.get("u"), payload.get("c"), payload.get("exp"), payload.get("i", 0)
        if (
            isinstance(csrf, str)
            and isinstance(exp, int)
            and exp >= _timestamp(now)
            and (user_id is None or isinstance(user_id, int))
            and isinstance(issued, int)
        ):
            return WebSession(user_id=user_id, csrf=csrf, exp=exp, issued=issued)
    return new_web_session(minutes=minutes, now=now)


def check_csrf(web: WebSession, submitted: str | None) -> None:
    if not submitted or not hmac.compare_digest(web.csrf.encode(), submitted.encode()):
        raise CsrfFailed("the form is out of date or was not sent by this site; reload the page and try again")


# --- demo accounts --------------------------------------------------------------------------------

DEMO_ACCOUNTS: tuple[tuple[str, Role, str | None], ...] = (
    ("admin@demo.aidpack.org", Role.ADMIN, None),
    ("coordinator@demo.aidpack.org", Role.COORDINATOR, None),
    ("donor.de@demo.aidpack.org", Role.DONOR, "DE"),
    ("recipient.moe@demo.aidpack.org", Role.RECIPIENT, "UA-MOE"),
    ("viewer@demo.aidpack.org", Role.VIEWER, None),
)


def ensure_demo_accounts(session: Session, *, actor: str = "demo") -> list[tuple[str, str, str, str | None]]:
    """Create (or reset the password of) one account per role for the demo.

    Returns (email, password, role, organisation code) per account. Accounts for organisations that are
    not in the database are skipped. Passwords are new random ones each time.
    """
    created: list[tuple[str, str, str, str | None]] = []
    # Every sign-in lock on the demo accounts is lifted, before anything is recorded: a sign-in locks its
    # counters before the audit log's head, and so must everything else that takes both.
    existing = [user for email, _role, _org in DEMO_ACCOUNTS if (user := find_user(session, email=email)) is not None]
    cleared = [(user, throttle.clear_email(session, email_key=throttle.email_key(user.email))) for user in existing]
    for user, counts in cleared:
        _record_unlock(session, actor=actor, user=user, cleared=counts)
    for email, role, org_code in DEMO_ACCOUNTS:
        org_id: int | None = None
        if org_code is not None:
            org = session.execute(select(Organisation).where(Organisation.code == org_code)).scalar_one_or_none()
            if org is None:
                continue
            org_id = org.id
        password = secrets.token_urlsafe(9)
        user = find_user(session, email=email)
        if user is None:
            create_user(session, actor=actor, email=email, password=password, role=role, org_code=org_code)
        else:
            before = snapshot(user)
            user.password_hash = hash_password(password)
            user.role, user.org_id, user.active = role, org_id, True
            user.signed_out_at = utcnow()  # the old password's sessions and tokens are void
            session.flush()
            record(
                session,
                actor=actor,
                action="user.reset",
                entity="user",
                entity_ref=email,
                before=before,
                after=snapshot(user),
            )
        created.append((email, password, role.value, org_code))
    return created
