"""Request-scoped plumbing shared by the JSON API and the pages: one unit of work per request."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from aidpack.config import Settings

#: Makes the session of one request (a ``sessionmaker``, or anything called the same way).
SessionMaker = Callable[[], Session]


def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_secret(request: Request) -> str:
    secret: str = request.app.state.secret_key
    return secret


def get_db(request: Request) -> Iterator[Session]:
    """Commit when the route returns normally, roll back when it raises (before the answer is sent)."""
    factory: SessionMaker = request.app.state.session_factory
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def get_client_address(request: Request) -> str | None:
    """The address of the caller, which sign-in throttling counts failures by (None when there is none).

    Behind a reverse proxy this is the proxy's address, and every client would share one count (30 failures
    from anyone would lock everyone out of signing in). X-Forwarded-For is not read here: anyone can send it.
    ``aidpack serve`` runs Uvicorn with ``proxy_headers``, which takes the client from X-Forwarded-For only when
    the connection comes from an address in ``FORWARDED_ALLOW_IPS`` (127.0.0.1 unless set): name the proxy
    there, and nothing else.
    """
    return request.client.host if request.client is not None else None


SessionDep = Annotated[Session, Depends(get_db, scope="function")]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
SecretDep = Annotated[str, Depends(get_secret)]
ClientAddressDep = Annotated[str | None, Depends(get_client_address)]
