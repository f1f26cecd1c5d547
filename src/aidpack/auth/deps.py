"""Who is calling: bearer tokens for the API, the session cookie for pages. Rules live in ``policy``."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer

from aidpack.auth import service
from aidpack.auth.models import User
from aidpack.auth.policy import ANONYMOUS, Principal
from aidpack.errors import Unauthorized
from aidpack.web.deps import SecretDep, SessionDep, SettingsDep

TOKEN_URL = "/api/v1/auth/token"
SESSION_COOKIE = "aidpack_session"

oauth2_scheme = OAuth2PasswordBearer(tokenUrl=TOKEN_URL, auto_error=False)


def get_api_principal(
    session: SessionDep, secret: SecretDep, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> Principal:
    """The bearer token's account, or anonymous when no token is sent (a bad token is refused)."""
    if not token:
        return ANONYMOUS
    user = service.user_for_token(session, secret=secret, token=token)
    return service.principal_for(user)


def get_api_user(principal: Annotated[Principal, Depends(get_api_principal)]) -> Principal:
    if principal.is_anonymous:
        raise Unauthorized("sign in first: POST /api/v1/auth/token, then send Authorization: Bearer <token>")
    return principal


#: The caller of an API route (anonymous allowed; the policy decides).
CurrentPrincipal = Annotated[Principal, Depends(get_api_principal)]
#: The signed-in caller of an API route (anonymous refused with 401).
CurrentUser = Annotated[Principal, Depends(get_api_user)]


def get_web_session(request: Request, secret: SecretDep, settings: SettingsDep) -> service.WebSession:
    """The page session from the signed cookie (a new anonymous one when absent), kept on the request."""
    cached = getattr(request.state, "web_session", None)
    if isinstance(cached, service.WebSession):
        return cached
    web = service.load_web_session(request.cookies.get(SESSION_COOKIE), secret=secret, minutes=settings.token_minutes)
    request.state.web_session = web
    return web


WebSessionDep = Annotated[service.WebSession, Depends(get_web_session)]


def get_page_principal(request: Request, session: SessionDep, web: WebSessionDep) -> Principal:
    """The session cookie's account (anonymous when signed out, or when the account was deactivated)."""
    principal = ANONYMOUS
    if web.user_id is not None:
        user = session.get(User, web.user_id)
        if user is None or not user.active or service.session_signed_out(web, user):
            web.user_id = None
            web.changed = True
        else:
            principal = service.principal_for(user)
    request.state.page_principal = principal  # for error pages rendered outside the route
    return principal


PagePrincipal = Annotated[Principal, Depends(get_page_principal)]
