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


SessionDep = Annotated[Session, Depends(get_db, scope="function")]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
SecretDep = Annotated[str, Depends(get_secret)]
