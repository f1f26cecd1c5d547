"""Sign-in throttling: a guesser is stopped without keeping the account's owner out.

Failures are counted per e-mail and client, per client, and per e-mail over every client (SPEC §6; OWASP's
Authentication and Credential Stuffing cheat sheets). Time is passed in (``now``), never slept through.
"""

from __future__ import annotations

import datetime as dt
import math
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from aidpack.audit.models import Event
from aidpack.auth import service as auth
from aidpack.auth import throttle
from aidpack.auth.deps import SESSION_COOKIE
from aidpack.auth.models import Role, SignInThrottle, ThrottleScope, User
from aidpack.cli import common
from aidpack.db import make_engine, make_session_factory, unit_of_work
from aidpack.errors import DomainError
from tests.factories import isolated_database, make_user
from tests.web.helpers import PASSWORD, SECRET, bearer

EMAIL = "coordinator@example.org"
ATTACKER = "203.0.113.66"
OWNER = "198.51.100.7"
T0 = dt.datetime(2026, 11, 27, 8, 0, tzinfo=dt.UTC)
SECOND = dt.timedelta(seconds=1)


@pytest.fixture(autouse=True)
def fast_hashes(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Argon2 at its cheapest: these tests check hundreds of passwords, which take 0.3 s each as deployed."""
    monkeypatch.setattr(auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    auth._dummy_hash.cache_clear()
    yield
    auth._dummy_hash.cache_clear()


@pytest.fixture
def coordinator(session: Session) -> User:
    return auth.create_user(session, actor="test", email=EMAIL, password=PASSWORD, role=Role.COORDINATOR)


def sign_in(
    session: Session, client: str | None, *, password: str = PASSWORD, email: str = EMAIL, at: dt.datetime = T0
) -> auth.LoginResult:
    return auth.authenticate(session, email=email, password=password, client=client, now=at)


def answer(result: auth.LoginResult) -> tuple[str, dict[str, Any]] | str:
    """What the caller is told: 'signed in', or the error's code and context."""
    if result.user is not None:
        return "signed in"
    assert result.error is not None
    return result.error.code, result.error.context


def fail(session: Session, client: str | None, times: int, *, email: str = EMAIL, at: dt.datetime = T0) -> list[Any]:
    return [answer(sign_in(session, client, password="wrong password", email=email, at=at)) for _ in range(times)]


def events(session: Session, action: str) -> list[Event]:
    return list(session.execute(select(Event).where(Event.action == action).order_by(Event.id)).scalars())


def wrong(n: int) -> list[Any]:
    return [("INVALID_CREDENTIALS", {})] * n


def locked(seconds: float) -> tuple[str, dict[str, Any]]:
    return "ACCOUNT_LOCKED", {"retry_after": int(seconds) + 1}


LOCK_SECONDS = throttle.LOCK_DURATION.total_seconds()


# --- one account from one client -------------------------------------------------------------------


def test_an_attackers_wrong_passwords_do_not_keep_the_owner_out(app: FastAPI, coordinator: User) -> None:
    with (
        TestClient(app, client=(ATTACKER, 50000)) as attacker,
        TestClient(app, client=(OWNER, 50000)) as owner,
    ):
        tries = [
            attacker.post("/api/v1/auth/token", data={"username": EMAIL, "password": f"guess {n}"}).status_code
            for n in range(throttle.MAX_FAILED_LOGINS)
        ]
        assert tries == [401] * throttle.MAX_FAILED_LOGINS

        signed_in = owner.post("/api/v1/auth/token", data={"username": EMAIL, "password": PASSWORD})

        assert signed_in.status_code == 200, signed_in.text
        assert attacker.post("/api/v1/auth/token", data={"username": EMAIL, "password": PASSWORD}).status_code == 429


def test_the_web_sign_in_counts_by_client_too(app: FastAPI, coordinator: User) -> None:
    def browser(host: str) -> tuple[TestClient, str]:
        client = TestClient(app, follow_redirects=False, client=(host, 50000))
        web = auth.new_web_session(minutes=60)
        client.cookies.set(SESSION_COOKIE, auth.dump_web_session(web, secret=SECRET))
        return client, web.csrf

    (attacker, attacker_csrf), (owner, owner_csrf) = browser(ATTACKER), browser(OWNER)
    with attacker, owner:
        for _ in range(throttle.MAX_FAILED_LOGINS):
            page = attacker.post("/login", data={"email": EMAIL, "password": "guess", "csrf_token": attacker_csrf})
            assert page.status_code == 401
        refused = attacker.post("/login", data={"email": EMAIL, "password": PASSWORD, "csrf_token": attacker_csrf})
        assert refused.status_code == 429
        assert "Too many failed sign-ins" in refused.text

        signed_in = owner.post("/login", data={"email": EMAIL, "password": PASSWORD, "csrf_token": owner_csrf})

        assert signed_in.status_code == 303


def test_the_guessing_client_is_locked_even_with_the_right_password_until_the_lock_ends(
    session: Session, coordinator: User
) -> None:
    assert fail(session, ATTACKER, throttle.MAX_FAILED_LOGINS) == wrong(throttle.MAX_FAILED_LOGINS)

    assert answer(sign_in(session, ATTACKER)) == locked(LOCK_SECONDS)
    last_second = T0 + throttle.LOCK_DURATION - SECOND
    assert answer(sign_in(session, ATTACKER, at=last_second)) == locked(1)
    assert answer(sign_in(session, ATTACKER, at=T0 + throttle.LOCK_DURATION)) == "signed in"


def test_the_lock_is_audited_with_the_client_it_holds(session: Session, coordinator: User) -> None:
    fail(session, ATTACKER, throttle.MAX_FAILED_LOGINS)

    assert len(events(session, "user.login_failed")) == throttle.MAX_FAILED_LOGINS
    [lock] = events(session, "user.locked")
    assert (lock.entity, lock.entity_ref) == ("user", EMAIL)
    assert lock.after == {
        "scope": "email_client",
        "client": ATTACKER,
        "failures": throttle.MAX_FAILED_LOGINS,
        "locked_until": (T0 + throttle.LOCK_DURATION).isoformat(),
    }


def test_a_forwarded_for_header_does_not_make_a_new_client(app: FastAPI, coordinator: User) -> None:
    with TestClient(app, client=(ATTACKER, 50000)) as attacker:
        for n in range(throttle.MAX_FAILED_LOGINS):
            attacker.post(
                "/api/v1/auth/token",
                data={"username": EMAIL, "password": "guess"},
                headers={"X-Forwarded-For": f"192.0.2.{n}"},
            )
        again = attacker.post(
            "/api/v1/auth/token", data={"username": EMAIL, "password": PASSWORD}, headers={"X-Forwarded-For": OWNER}
        )
        assert again.status_code == 429


def test_a_successful_sign_in_forgets_that_clients_failures_only(session: Session, coordinator: User) -> None:
    below = throttle.MAX_FAILED_LOGINS - 1
    fail(session, ATTACKER, below)
    fail(session, OWNER, below)

    assert answer(sign_in(session, OWNER)) == "signed in"

    [reset] = events(session, "user.login_reset")
    assert reset.before == {"scope": "email_client", "client": OWNER, "failures": below, "locked_until": None}
    assert reset.after == {"client": OWNER, "failures": 0, "locked_until": None}
    assert fail(session, OWNER, below) == wrong(below)  # the owner's count started again
    assert fail(session, ATTACKER, 1) == wrong(1)  # the attacker's did not: this was its last try
    assert answer(sign_in(session, ATTACKER)) == locked(LOCK_SECONDS)


def test_failures_older_than_the_window_are_forgotten(session: Session, coordinator: User) -> None:
    fail(session, ATTACKER, throttle.MAX_FAILED_LOGINS - 1)
    later = T0 + throttle.FAILURE_WINDOW + SECOND

    assert fail(session, ATTACKER, throttle.MAX_FAILED_LOGINS - 1, at=later) == wrong(throttle.MAX_FAILED_LOGINS - 1)
    assert answer(sign_in(session, ATTACKER, at=later)) == "signed in"


# --- one client, many e-mails ----------------------------------------------------------------------


def test_one_client_spraying_many_e_mails_is_throttled(session: Session, coordinator: User) -> None:
    accounts = [make_user(session, role=Role.VIEWER).email for _ in range(5)]
    nobody = [f"nobody-{n}-{uuid.uuid4().hex[:6]}@example.org" for n in range(throttle.MAX_CLIENT_FAILURES)]
    sprayed = (accounts + nobody)[: throttle.MAX_CLIENT_FAILURES]  # one try each: no e-mail reaches its own limit

    answers = [answer(sign_in(session, ATTACKER, password="Winter2026!", email=email)) for email in sprayed]

    assert answers == wrong(throttle.MAX_CLIENT_FAILURES)
    fresh = f"fresh-{uuid.uuid4().hex[:6]}@example.org"
    assert answer(sign_in(session, ATTACKER, password="Winter2026!", email=fresh)) == locked(LOCK_SECONDS)
    assert answer(sign_in(session, ATTACKER)) == locked(LOCK_SECONDS)  # the right password too, from there
    assert answer(sign_in(session, OWNER)) == "signed in"  # from anywhere else, nothing changed
    [lock] = events(session, "client.locked")
    assert (lock.entity, lock.entity_ref, (lock.after or {}).get("scope")) == ("client", ATTACKER, "client")
    assert answer(sign_in(session, ATTACKER, at=T0 + throttle.LOCK_DURATION)) == "signed in"


# --- one e-mail, many clients ----------------------------------------------------------------------

CLIENTS_TO_THE_CEILING = math.ceil(throttle.MAX_EMAIL_FAILURES / throttle.MAX_FAILED_LOGINS)


def guess_from_many_clients(session: Session, email: str, failures: int, *, at: dt.datetime = T0) -> list[Any]:
    """``failures`` wrong passwords for ``email``, as many as each client may, from 203.0.113.1, .2, ..."""
    answers: list[Any] = []
    for n in range(math.ceil(failures / throttle.MAX_FAILED_LOGINS)):
        times = min(throttle.MAX_FAILED_LOGINS, failures - n * throttle.MAX_FAILED_LOGINS)
        answers += fail(session, f"203.0.113.{n + 1}", times, email=email, at=at)
    return answers


def test_guessing_spread_over_many_clients_locks_the_account_for_everyone(session: Session, coordinator: User) -> None:
    ceiling = throttle.MAX_EMAIL_FAILURES
    assert guess_from_many_clients(session, EMAIL, ceiling - 1) == wrong(ceiling - 1)
    assert answer(sign_in(session, OWNER)) == "signed in"  # one failure short of the ceiling

    assert fail(session, "192.0.2.200", 1) == wrong(1)

    assert answer(sign_in(session, OWNER)) == locked(LOCK_SECONDS)
    assert answer(sign_in(session, None)) == locked(LOCK_SECONDS)  # the CLI's sign-in as well
    everyone = [e for e in events(session, "user.locked") if (e.after or {}).get("scope") == "email"]
    assert [(e.entity_ref, e.after) for e in everyone] == [
        (EMAIL, {"scope": "email", "failures": ceiling, "locked_until": (T0 + throttle.LOCK_DURATION).isoformat()})
    ]
    assert answer(sign_in(session, OWNER, at=T0 + throttle.LOCK_DURATION)) == "signed in"


def test_it_takes_many_clients_to_lock_an_account_for_everyone() -> None:
    # One client alone is locked out of the e-mail long before: the ceiling is only a ceiling.
    assert CLIENTS_TO_THE_CEILING >= 10
    assert throttle.MAX_FAILED_LOGINS < throttle.MAX_CLIENT_FAILURES < throttle.MAX_EMAIL_FAILURES


# --- an e-mail without an account ------------------------------------------------------------------


def outside_view(session: Session, email: str, start: dt.datetime) -> list[Any]:
    """Every answer an outsider gets for ``email``, guessing from one client, then another, then very many."""
    minute = 60 * SECOND
    seen = fail(session, ATTACKER, throttle.MAX_FAILED_LOGINS + 1, email=email, at=start)
    seen += [answer(sign_in(session, ATTACKER, email=email, password="still guessing", at=start + minute))]
    seen += fail(session, OWNER, 1, email=email, at=start + minute)
    seen += guess_from_many_clients(session, email, throttle.MAX_EMAIL_FAILURES, at=start + minute)
    seen += fail(session, "192.0.2.250", 1, email=email, at=start + minute)
    seen += fail(session, "192.0.2.250", 1, email=email, at=start + minute + throttle.LOCK_DURATION)
    return seen


def test_an_e_mail_without_an_account_answers_exactly_as_an_account_does(session: Session, coordinator: User) -> None:
    nobody = f"nobody-{uuid.uuid4().hex[:8]}@example.org"
    next_day = T0 + dt.timedelta(days=1)  # every count of the first view is over by then

    account, no_account = outside_view(session, EMAIL, T0), outside_view(session, nobody, next_day)

    assert account == no_account
    assert account == [
        *wrong(throttle.MAX_FAILED_LOGINS),
        locked(LOCK_SECONDS),  # this client is locked out of the e-mail
        locked(LOCK_SECONDS - 60),
        *wrong(1),  # another client is not
        # Many clients: the e-mail's failures reach the ceiling (six were counted already) ...
        *wrong(throttle.MAX_EMAIL_FAILURES - throttle.MAX_FAILED_LOGINS - 1),
        # ... and the e-mail is locked for everyone: the rest of the many clients, and one more
        *[locked(LOCK_SECONDS)] * (throttle.MAX_FAILED_LOGINS + 1),
        locked(LOCK_SECONDS),
        *wrong(1),  # until the lock is over
    ]


def test_a_lock_on_an_e_mail_without_an_account_is_audited_without_the_e_mail(session: Session) -> None:
    nobody = f"nobody-{uuid.uuid4().hex[:8]}@example.org"

    fail(session, ATTACKER, throttle.MAX_FAILED_LOGINS, email=nobody)

    [lock] = events(session, "email.locked")
    assert (lock.entity, lock.entity_ref) == ("email", throttle.email_key(nobody))
    assert nobody not in str(lock.after)
    assert events(session, "user.login_failed") == []


# --- an admin's unlock -----------------------------------------------------------------------------


def test_an_admin_unlock_lifts_every_lock_on_the_account(session: Session, coordinator: User) -> None:
    guess_from_many_clients(session, EMAIL, throttle.MAX_EMAIL_FAILURES)
    assert answer(sign_in(session, ATTACKER)) == locked(LOCK_SECONDS)
    before = session.execute(select(func.count(Event.id))).scalar_one()

    unlocked = auth.unlock(session, actor="user:admin@example.org", email=EMAIL.upper(), now=T0)

    # Each client's lock, and the lock for everyone.
    assert unlocked == auth.Unlocked(email=EMAIL, locks_lifted=CLIENTS_TO_THE_CEILING + 1,
                                     counts_cleared=CLIENTS_TO_THE_CEILING + 1)
    assert answer(sign_in(session, "203.0.113.1")) == "signed in"
    assert answer(sign_in(session, OWNER)) == "signed in"
    [event] = events(session, "user.unlocked")
    assert (event.actor, event.entity_ref, event.after) == ("user:admin@example.org", EMAIL, {"throttles": []})
    assert len((event.before or {})["throttles"]) == CLIENTS_TO_THE_CEILING + 1
    assert session.execute(select(func.count(Event.id))).scalar_one() == before + 1


def test_an_unlock_leaves_a_clients_lock_over_every_e_mail(session: Session, coordinator: User) -> None:
    for n in range(throttle.MAX_CLIENT_FAILURES):
        fail(session, ATTACKER, 1, email=f"sprayed-{n}@example.org")

    auth.unlock(session, actor="test", email=EMAIL, now=T0)

    assert answer(sign_in(session, ATTACKER)) == locked(LOCK_SECONDS)


def test_an_unlock_with_nothing_to_lift_records_nothing(session: Session, coordinator: User) -> None:
    assert auth.unlock(session, actor="test", email=EMAIL, now=T0) == auth.Unlocked(EMAIL, 0, 0)
    assert events(session, "user.unlocked") == []
    with pytest.raises(DomainError) as caught:
        auth.unlock(session, actor="test", email="nobody@example.org", now=T0)
    assert caught.value.code == "USER_NOT_FOUND"


def test_the_unlock_route_is_for_admins(app: FastAPI, session: Session, coordinator: User) -> None:
    admin = make_user(session, role=Role.ADMIN)
    with TestClient(app, client=(ATTACKER, 50000)) as attacker, TestClient(app) as staff:
        for _ in range(throttle.MAX_FAILED_LOGINS):
            attacker.post("/api/v1/auth/token", data={"username": EMAIL, "password": "guess"})

        refused = staff.post(f"/api/v1/users/{EMAIL}/unlock", headers=bearer(coordinator))
        done = staff.post(f"/api/v1/users/{EMAIL}/unlock", headers=bearer(admin))
        missing = staff.post("/api/v1/users/nobody@example.org/unlock", headers=bearer(admin))

        assert refused.status_code == 403
        assert (done.status_code, done.json()) == (200, {"email": EMAIL, "locks_lifted": 1, "counts_cleared": 2})
        assert (missing.status_code, missing.json()["error"]) == (404, "USER_NOT_FOUND")
        assert attacker.post("/api/v1/auth/token", data={"username": EMAIL, "password": PASSWORD}).status_code == 200


def test_the_demo_accounts_are_unlocked_with_their_new_passwords(session: Session) -> None:
    first = auth.ensure_demo_accounts(session)
    email = first[0][0]
    fail(session, ATTACKER, throttle.MAX_FAILED_LOGINS, email=email)

    again = {e: password for e, password, _role, _org in auth.ensure_demo_accounts(session)}

    assert answer(sign_in(session, ATTACKER, email=email, password=again[email])) == "signed in"


def test_cli_user_unlock(backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from aidpack.cli.main import app

    with isolated_database(backend, tmp_path) as (url, engine):
        monkeypatch.setenv("AIDPACK_DATABASE_URL", url)
        common.session_factory.cache_clear()
        try:
            with unit_of_work(make_session_factory(engine)) as session:
                auth.create_user(session, actor="test", email=EMAIL, password=PASSWORD, role=Role.COORDINATOR)
                fail(session, ATTACKER, throttle.MAX_FAILED_LOGINS, at=dt.datetime.now(dt.UTC))
            runner = CliRunner()

            done = runner.invoke(app, ["user", "unlock", EMAIL])
            missing = runner.invoke(app, ["user", "unlock", "nobody@example.org"])

            assert done.exit_code == 0, done.output
            assert f"unlocked {EMAIL}: 1 lock(s) lifted, 2 count(s)" in done.output
            assert missing.exit_code == 1
            assert "USER_NOT_FOUND" in missing.output
            with unit_of_work(make_session_factory(engine)) as session:
                assert answer(sign_in(session, ATTACKER, at=dt.datetime.now(dt.UTC))) == "signed in"
        finally:
            common.session_factory.cache_clear()


# --- where the counts are kept ---------------------------------------------------------------------


def test_every_process_counts_the_same_failures(backend: str, tmp_path: Path) -> None:
    """Two engines stand for two worker processes of the server: the lock one sets holds in the other."""
    with isolated_database(backend, tmp_path) as (url, engine):
        other = make_engine(url)
        try:
            with unit_of_work(make_session_factory(engine)) as session:
                auth.create_user(session, actor="test", email=EMAIL, password=PASSWORD, role=Role.COORDINATOR)
            for n in range(throttle.MAX_FAILED_LOGINS):
                worker = engine if n % 2 else other
                with unit_of_work(make_session_factory(worker)) as session:
                    fail(session, ATTACKER, 1)
            with unit_of_work(make_session_factory(engine)) as session:
                assert answer(sign_in(session, ATTACKER)) == locked(LOCK_SECONDS)
        finally:
            other.dispose()


def test_failures_counted_at_the_same_time_are_all_counted(backend: str, tmp_path: Path) -> None:
    per_thread, threads = 8, 3
    key = throttle.email_key(EMAIL)
    with isolated_database(backend, tmp_path) as (_url, engine):
        factory = make_session_factory(engine)
        errors: list[BaseException] = []

        def count() -> None:
            try:
                for _ in range(per_thread):
                    with unit_of_work(factory) as session:
                        throttle.count_failure(session, email_key=key, client=ATTACKER, now=T0)
            except BaseException as exc:  # reported below: a thread's exception is otherwise lost
                errors.append(exc)

        workers = [threading.Thread(target=count) for _ in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()

        assert errors == []
        with unit_of_work(factory) as session:
            rows = session.execute(
                select(SignInThrottle.scope, SignInThrottle.failures).where(
                    SignInThrottle.scope != ThrottleScope.EMAIL_CLIENT
                )
            ).all()
            counts = {scope: failures for scope, failures in rows}
    assert counts == {ThrottleScope.CLIENT: per_thread * threads, ThrottleScope.EMAIL: per_thread * threads}


def test_rows_that_count_nothing_any_more_are_deleted(session: Session) -> None:
    fail(session, ATTACKER, 1, email="old@example.org")
    later = T0 + max(throttle.FAILURE_WINDOW, throttle.LOCK_DURATION) + SECOND

    fail(session, OWNER, 1, email="new@example.org", at=later)

    keys = {(key, client) for key, client in session.execute(select(SignInThrottle.email_key, SignInThrottle.client))}
    new = throttle.email_key("new@example.org")
    assert keys == {(new, OWNER), ("", OWNER), (new, "")}


# --- what a client is ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "key"),
    [
        ("203.0.113.66", "203.0.113.66"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),  # the same subscriber: one client
        ("::ffff:203.0.113.66", "203.0.113.66"),
        ("testclient", "testclient"),
        (None, throttle.LOCAL_CLIENT),
    ],
)
def test_a_client_is_an_ipv4_address_or_an_ipv6_network(host: str | None, key: str) -> None:
    assert throttle.client_key(host) == key


def test_an_e_mail_is_counted_whatever_its_case_and_spaces(session: Session, coordinator: User) -> None:
    variants: list[Callable[[str], str]] = [str.upper, str.lower, lambda e: f"  {e} ", str.title, str.swapcase]
    for variant in variants[: throttle.MAX_FAILED_LOGINS]:
        fail(session, ATTACKER, 1, email=variant(EMAIL))

    assert answer(sign_in(session, ATTACKER)) == locked(LOCK_SECONDS)
