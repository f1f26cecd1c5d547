"""Accounts: argon2 hashes, the token endpoint, throttling, expiry, sessions with CSRF, the policy, CLI."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from aidpack.audit.models import Event
from aidpack.auth import policy, throttle
from aidpack.auth import service as auth
from aidpack.auth.deps import SESSION_COOKIE
from aidpack.auth.models import Role, SignInThrottle, ThrottleScope, User
from aidpack.auth.policy import ANONYMOUS, Action, Principal
from aidpack.cli import common
from aidpack.db import make_session_factory, unit_of_work, utcnow
from aidpack.errors import DomainError, Forbidden, Unauthorized
from tests.factories import isolated_database, make_org
from tests.web.helpers import PASSWORD, SECRET, World, bearer, page_client

EMAIL = "officer@example.org"


@pytest.fixture
def officer(session: Session) -> User:
    org = make_org(session)
    return auth.create_user(session, actor="test", email=EMAIL, password=PASSWORD, role=Role.DONOR, org_code=org.code)


def login(client: TestClient, password: str, email: str = EMAIL) -> object:
    return client.post("/api/v1/auth/token", data={"username": email, "password": password})


# --- passwords and tokens ---------------------------------------------------------------------------


def test_passwords_are_argon2_hashes(officer: User) -> None:
    assert officer.password_hash.startswith("$argon2id$")
    assert PASSWORD not in officer.password_hash
    assert auth.verify_password(officer.password_hash, PASSWORD)
    assert not auth.verify_password(officer.password_hash, PASSWORD + "x")
    assert not auth.verify_password("not-a-hash", PASSWORD)


def test_the_token_endpoint_gives_a_working_bearer_token(client: TestClient, officer: User) -> None:
    response = client.post("/api/v1/auth/token", data={"username": EMAIL.upper(), "password": PASSWORD})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3600
    me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.json() == {"email": EMAIL, "role": "donor", "org": officer.org.code}  # type: ignore[union-attr]


def test_a_wrong_password_is_refused_and_counted(client: TestClient, officer: User, session: Session) -> None:
    response = client.post("/api/v1/auth/token", data={"username": EMAIL, "password": "wrong password"})
    assert response.status_code == 401
    assert response.json()["error"] == "INVALID_CREDENTIALS"
    counted = session.execute(
        select(SignInThrottle.failures).where(
            SignInThrottle.scope == ThrottleScope.EMAIL_CLIENT,
            SignInThrottle.email_key == throttle.email_key(EMAIL),
            SignInThrottle.client == "testclient",  # the TestClient's address
        )
    ).scalar_one()
    assert counted == 1
    failed = session.execute(select(Event).order_by(Event.id.desc()).limit(1)).scalar_one()
    assert (failed.action, failed.entity_ref, failed.after) == (
        "user.login_failed", EMAIL, {"client": "testclient", "failures_from_client": 1, "failures_from_all_clients": 1}
    )
    unknown = client.post("/api/v1/auth/token", data={"username": "nobody@example.org", "password": "x"})
    assert unknown.json() == response.json()  # the same answer: no account enumeration


def test_too_many_failures_lock_the_client_out_of_the_account(
    client: TestClient, officer: User, session: Session
) -> None:
    for _ in range(throttle.MAX_FAILED_LOGINS):
        assert client.post("/api/v1/auth/token", data={"username": EMAIL, "password": "bad"}).status_code == 401
    locked = client.post("/api/v1/auth/token", data={"username": EMAIL, "password": PASSWORD})
    assert locked.status_code == 429
    assert locked.json()["error"] == "ACCOUNT_LOCKED"
    assert 0 < locked.json()["context"]["retry_after"] <= throttle.LOCK_DURATION.total_seconds() + 1
    session.expire_all()
    later = utcnow() + throttle.LOCK_DURATION + dt.timedelta(seconds=1)
    events = session.execute(select(func.count(Event.id))).scalar_one()
    result = auth.authenticate(session, email=EMAIL, password=PASSWORD, client="testclient", now=later)
    assert result.user is not None
    # The lock over, the client's count for the account is deleted: recorded, as every change is.
    reset = session.execute(select(Event).order_by(Event.id.desc()).limit(1)).scalar_one()
    assert session.execute(select(func.count(Event.id))).scalar_one() == events + 1
    assert (reset.action, (reset.after or {}).get("locked_until")) == ("user.login_reset", None)


def test_an_e_mail_without_an_account_locks_as_an_account_does(client: TestClient, officer: User) -> None:
    # A lock only accounts showed would tell an attacker which e-mails have one.
    answers = {}
    for email in (EMAIL, f"nobody-{uuid.uuid4().hex[:8]}@example.org"):
        codes = [client.post("/api/v1/auth/token", data={"username": email, "password": "bad"}).status_code
                 for _ in range(throttle.MAX_FAILED_LOGINS + 1)]
        locked = client.post("/api/v1/auth/token", data={"username": email, "password": "bad"})
        answers[email == EMAIL] = (codes, locked.status_code, locked.json()["error"])
    assert answers[True] == answers[False] == ([401] * throttle.MAX_FAILED_LOGINS + [429], 429, "ACCOUNT_LOCKED")


def test_an_expired_token_is_refused(client: TestClient, officer: User) -> None:
    old = auth.issue_token(secret=SECRET, user=officer, minutes=60, now=utcnow() - dt.timedelta(minutes=61))
    response = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {old}"})
    assert response.status_code == 401
    assert response.json()["error"] == "TOKEN_INVALID"
    assert response.json()["context"] == {"expired": True}


def test_a_token_signed_with_another_key_is_refused(client: TestClient, officer: User) -> None:
    foreign = auth.issue_token(secret="another-key", user=officer, minutes=60)
    assert client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {foreign}"}).status_code == 401


def test_a_deactivated_accounts_token_stops_working(client: TestClient, officer: User, session: Session) -> None:
    headers = bearer(officer)
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 200
    officer.active = False
    session.flush()
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 401


def test_signing_out_revokes_the_accounts_bearer_tokens(client: TestClient, officer: User, session: Session) -> None:
    # A token someone copied (a script, a shared terminal) stopped only at its expiry, 12 hours later.
    before = auth.issue_token(secret=SECRET, user=officer, minutes=60, now=utcnow() - dt.timedelta(seconds=5))
    assert client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {before}"}).status_code == 200
    auth.sign_out(session, user=officer, now=utcnow() - dt.timedelta(seconds=1))
    refused = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {before}"})
    assert refused.status_code == 401
    assert refused.json()["error"] == "TOKEN_INVALID"
    assert refused.json()["context"] == {"revoked": True}
    assert client.get("/api/v1/auth/me", headers=bearer(officer)).status_code == 200  # a new one works


def test_a_reset_password_revokes_the_tokens_of_the_old_one(client: TestClient, session: Session) -> None:
    first = auth.ensure_demo_accounts(session)
    email = next(e for e, _p, role, _o in first if role == "admin")
    user = auth.find_user(session, email=email)
    assert user is not None
    old = auth.issue_token(secret=SECRET, user=user, minutes=60, now=utcnow() - dt.timedelta(seconds=5))
    assert client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {old}"}).status_code == 200
    auth.ensure_demo_accounts(session)  # `make demo` again: new passwords
    assert client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {old}"}).status_code == 401


# --- accounts -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("email", "password", "role", "org", "error"),
    [
        ("not-an-email", PASSWORD, Role.VIEWER, None, "VALIDATION_FAILED"),
        ("a@example.org", "short", Role.VIEWER, None, "VALIDATION_FAILED"),
        ("a@example.org", PASSWORD, Role.DONOR, None, "VALIDATION_FAILED"),
        ("a@example.org", PASSWORD, Role.DONOR, "NO-SUCH-ORG", "ORG_NOT_FOUND"),
        (EMAIL, PASSWORD, Role.VIEWER, None, "USER_EXISTS"),
    ],
)
def test_create_user_refuses_bad_accounts(
    session: Session, officer: User, email: str, password: str, role: Role, org: str | None, error: str
) -> None:
    with pytest.raises(DomainError) as caught:
        auth.create_user(session, actor="test", email=email, password=password, role=role, org_code=org)
    assert caught.value.code == error


def test_demo_accounts_skip_missing_organisations_and_reset_passwords(session: Session) -> None:
    first = auth.ensure_demo_accounts(session)
    roles = {role for _email, _password, role, _org in first}
    assert {"admin", "coordinator", "viewer"} <= roles
    present = {org for _e, _p, _r, org in first if org}
    for email, password, role, _org in first:
        user = auth.find_user(session, email=email)
        assert user is not None
        assert user.role.value == role
        assert auth.verify_password(user.password_hash, password)
    if "DE" not in present:
        make_org(session, code="DE", name="Germany")
    second = auth.ensure_demo_accounts(session)
    donor = [entry for entry in second if entry[2] == "donor"]
    assert donor == [(donor[0][0], donor[0][1], "donor", "DE")]
    admin_before = next(e for e in first if e[2] == "admin")
    admin_after = next(e for e in second if e[2] == "admin")
    assert admin_before[1] != admin_after[1]
    user = auth.find_user(session, email=admin_after[0])
    assert user is not None
    assert auth.verify_password(user.password_hash, admin_after[1])


def test_cli_user_add_reads_the_password_from_stdin(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aidpack.cli.main import app

    with isolated_database(backend, tmp_path) as (url, engine):
        monkeypatch.setenv("AIDPACK_DATABASE_URL", url)
        common.session_factory.cache_clear()
        try:
            with unit_of_work(make_session_factory(engine)) as session:
                org = make_org(session, code="UA-MOE-CLI", is_donor=False, is_recipient=True)
            runner = CliRunner()
            result = runner.invoke(
                app,
                [
                    "user",
                    "add",
                    "Recipient@Example.org",
                    "--role",
                    "recipient",
                    "--org",
                    org.code,
                    "--password-stdin",
                ],
                input=PASSWORD + "\n",
            )
            assert result.exit_code == 0, result.output
            assert "created recipient@example.org" in result.output
            again = runner.invoke(
                app,
                ["user", "add", "recipient@example.org", "--role", "viewer", "--password-stdin"],
                input=PASSWORD + "\n",
            )
            assert again.exit_code == 2
            assert "USER_EXISTS" in again.output
            missing = runner.invoke(
                app,
                ["user", "add", "d@example.org", "--role", "donor", "--password-stdin"],
                input=PASSWORD + "\n",
            )
            assert missing.exit_code == 1
            assert "--org" in missing.output
            with unit_of_work(make_session_factory(engine)) as session:
                user = auth.find_user(session, email="recipient@example.org")
                assert user is not None
                assert user.role is Role.RECIPIENT
                assert auth.verify_password(user.password_hash, PASSWORD)
        finally:
            common.session_factory.cache_clear()


# --- the policy ---------------------------------------------------------------------------------------

ALLOWED: dict[Action, set[Role]] = {
    Action.READ_NEEDS: {Role.ADMIN, Role.COORDINATOR, Role.RECIPIENT, Role.DONOR},
    Action.WRITE_NEEDS: {Role.ADMIN, Role.COORDINATOR, Role.RECIPIENT},
    Action.WRITE_SITES: {Role.ADMIN, Role.COORDINATOR, Role.RECIPIENT},
    Action.WRITE_PLEDGES: {Role.ADMIN, Role.COORDINATOR, Role.DONOR},
    Action.RUN_PLANS: {Role.ADMIN, Role.COORDINATOR},
    Action.DECIDE_PLANS: {Role.ADMIN, Role.COORDINATOR},
    Action.MANAGE_USERS: {Role.ADMIN},
}


@pytest.mark.parametrize("action", list(ALLOWED))
@pytest.mark.parametrize("role", list(Role))
def test_the_policy_matrix(action: Action, role: Role) -> None:
    principal = Principal(user_id=1, email="x@example.org", role=role, org_id=7)
    if role in ALLOWED[action]:
        policy.require(principal, action)
    else:
        with pytest.raises(Forbidden):
            policy.require(principal, action)
    with pytest.raises(Unauthorized):
        policy.require(ANONYMOUS, action)


def test_donors_and_recipients_act_only_for_their_own_organisation() -> None:
    donor = Principal(user_id=1, email="d@example.org", role=Role.DONOR, org_id=7)
    assert policy.own_org_for_create(donor, None) == 7
    assert policy.own_org_for_create(donor, 7) == 7
    with pytest.raises(Forbidden):
        policy.own_org_for_create(donor, 8)
    orphan = Principal(user_id=2, email="o@example.org", role=Role.RECIPIENT, org_id=None)
    with pytest.raises(Forbidden):
        policy.own_org_for_create(orphan, None)
    staff = Principal(user_id=3, email="c@example.org", role=Role.COORDINATOR)
    assert policy.own_org_for_create(staff, 8) == 8


def test_restricted_site_visibility(world: World) -> None:
    site = world.secret_site
    seen = {name: policy.site_details_visible(auth.principal_for(user), site) for name, user in world.users.items()}
    assert seen == {
        "admin": True,
        "coordinator": True,
        "recipient_a": True,
        "recipient_b": False,
        "donor_a": False,
        "donor_b": False,
        "viewer": False,
    }
    assert not policy.site_details_visible(ANONYMOUS, site)
    public = {
        name: policy.site_details_visible(auth.principal_for(u), world.public_site) for name, u in world.users.items()
    }
    assert public["donor_b"]
    assert public["recipient_b"]
    assert not public["viewer"]


# --- sessions and CSRF on the pages ---------------------------------------------------------------


def _csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match is not None
    return match.group(1)


def test_page_sign_in_sets_a_safe_cookie_and_needs_the_csrf_token(app: object, officer: User) -> None:
    from fastapi import FastAPI

    assert isinstance(app, FastAPI)
    with TestClient(app, follow_redirects=False) as browser:
        form = browser.get("/login")
        set_cookie = form.headers["set-cookie"].lower()
        assert "httponly" in set_cookie
        assert "samesite=lax" in set_cookie
        csrf = _csrf_from(form.text)
        refused = browser.post("/login", data={"email": EMAIL, "password": PASSWORD})
        assert refused.status_code == 403
        assert "CSRF_FAILED" in refused.text
        wrong = browser.post("/login", data={"email": EMAIL, "password": "nope", "csrf_token": csrf})
        assert wrong.status_code == 401
        assert "Wrong e-mail or password" in wrong.text
        signed_in = browser.post(
            "/login", data={"email": EMAIL, "password": PASSWORD, "csrf_token": csrf, "next": "/pledges"}
        )
        assert signed_in.status_code == 303
        assert signed_in.headers["location"] == "/pledges"
        assert browser.get("/pledges").status_code == 200
        new_csrf = _csrf_from(browser.get("/pledges").text)
        assert new_csrf != csrf  # the session (and its CSRF token) is new after sign-in
        assert browser.post("/logout", data={"csrf_token": csrf}).status_code == 403
        assert browser.post("/logout", data={"csrf_token": new_csrf}).status_code == 303
        assert browser.get("/pledges").status_code == 303  # signed out: back to the sign-in page


def test_signing_out_voids_every_copy_of_the_session_cookie(app: object, officer: User, session: Session) -> None:
    from fastapi import FastAPI

    assert isinstance(app, FastAPI)
    browser, csrf = page_client(app, officer)
    with browser:
        copied = dict(browser.cookies)  # what someone who saw the cookie keeps
        assert browser.get("/pledges").status_code == 200
        events = session.execute(select(func.count(Event.id))).scalar_one()
        assert browser.post("/logout", data={"csrf_token": csrf}).status_code == 303
    assert session.execute(select(Event.action).order_by(Event.id.desc()).limit(1)).scalar_one() == "user.sign_out"
    assert session.execute(select(func.count(Event.id))).scalar_one() == events + 1
    with TestClient(app, follow_redirects=False, cookies=copied) as replay:
        assert replay.get("/pledges").status_code == 303  # back to the sign-in page: the copy is void
    again, _ = page_client(app, officer)  # signing in again makes a session that counts
    with again:
        assert again.get("/pledges").status_code == 200


def test_sign_in_never_redirects_off_site(app: object, officer: User) -> None:
    from fastapi import FastAPI

    assert isinstance(app, FastAPI)
    browser, csrf = page_client(app, None)
    with browser:
        response = browser.post(
            "/login",
            data={"email": EMAIL, "password": PASSWORD, "csrf_token": csrf, "next": "//evil.example.com/"},
        )
        assert response.headers["location"] == "/"


def test_a_forged_session_cookie_is_anonymous(client: TestClient, officer: User) -> None:
    client.cookies.set(SESSION_COOKIE, "eyJ1IjoxfQ.forged")
    response = client.get("/needs")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=")
