"""`POST /api/v1/auth/token` (OAuth2 password form), the caller, and user management (admin)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Form, Path, status
from fastapi.responses import JSONResponse

from aidpack.auth import policy, service
from aidpack.auth.deps import CurrentUser
from aidpack.auth.models import User
from aidpack.auth.schemas import MeRead, TokenRead, UserCreate, UserRead, UserUnlockRead
from aidpack.web.deps import ClientAddressDep, SecretDep, SessionDep, SettingsDep
from aidpack.web.http import LOGIN_ERRORS, READ_ERRORS, WRITE_ERRORS

router = APIRouter(tags=["auth"])


def _user_read(user: User) -> UserRead:
    return UserRead(email=user.email, role=user.role, org=user.org.code if user.org else None, active=user.active)


@router.post("/auth/token", response_model=TokenRead, responses=LOGIN_ERRORS)
def issue_token(
    username: Annotated[str, Form(min_length=1, max_length=320, description="The account's e-mail")],
    password: Annotated[str, Form(min_length=1, max_length=200)],
    session: SessionDep,
    settings: SettingsDep,
    secret: SecretDep,
    client: ClientAddressDep,
    grant_type: Annotated[Literal["password"], Form()] = "password",
    scope: Annotated[str, Form(max_length=200)] = "",
) -> TokenRead | JSONResponse:
    """OAuth2 password flow: exchange an e-mail (as ``username``) and password for a bearer token."""
    result = service.authenticate(session, email=username, password=password, client=client)
    if result.user is None:
        assert result.error is not None
        # Answer the error without raising, so that the failed attempt is counted (the request commits).
        headers = {"WWW-Authenticate": "Bearer"} if result.error.http_status == 401 else {}
        return JSONResponse(result.error.to_dict(), status_code=result.error.http_status, headers=headers)
    token = service.issue_token(secret=secret, user=result.user, minutes=settings.token_minutes)
    return TokenRead(access_token=token, expires_in=settings.token_minutes * 60)


@router.get("/auth/me", response_model=MeRead, responses=READ_ERRORS)
def me(principal: CurrentUser) -> MeRead:
    assert principal.email is not None
    return MeRead(email=principal.email, role=principal.role, org=principal.org_code)


@router.get("/users", response_model=list[UserRead], responses=READ_ERRORS)
def list_users(session: SessionDep, principal: CurrentUser) -> list[UserRead]:
    policy.require(principal, policy.Action.MANAGE_USERS)
    return [_user_read(u) for u in service.list_users(session)]


@router.post("/users", response_model=UserRead, status_code=status.HTTP_201_CREATED, responses=WRITE_ERRORS)
def create_user(user_in: UserCreate, session: SessionDep, principal: CurrentUser) -> UserRead:
    policy.require(principal, policy.Action.MANAGE_USERS)
    user = service.create_user(
        session,
        actor=principal.actor,
        email=user_in.email,
        password=user_in.password,
        role=user_in.role,
        org_code=user_in.org,
    )
    return _user_read(user)


@router.post("/users/{email}/unlock", response_model=UserUnlockRead, responses=WRITE_ERRORS)
def unlock_user(
    email: Annotated[str, Path(min_length=1, max_length=320, description="The account's e-mail")],
    session: SessionDep,
    principal: CurrentUser,
) -> UserUnlockRead:
    """Lift every sign-in lock on an account, from every client, and forget its failed sign-ins."""
    policy.require(principal, policy.Action.MANAGE_USERS)
    unlocked = service.unlock(session, actor=principal.actor, email=email)
    return UserUnlockRead(email=unlocked.email, locks_lifted=unlocked.locks_lifted,
                          counts_cleared=unlocked.counts_cleared)
