"""Shared fixtures: a migrated database per backend (SQLite always, PostgreSQL when configured)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from aidpack.db import make_engine, make_session_factory, migrate

POSTGRES_ENV = "AIDPACK_TEST_POSTGRES_URL"
BACKENDS = ["sqlite", "postgres"]


def postgres_url() -> str | None:
    return os.environ.get(POSTGRES_ENV) or None


def reset_postgres(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    if name == "postgres" and postgres_url() is None:
        pytest.skip(f"PostgreSQL tests need {POSTGRES_ENV} (e.g. postgresql+psycopg://root@127.0.0.1:5432/test)")
    return name


@pytest.fixture(scope="session")
def engine(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    if backend == "sqlite":
        path: Path = tmp_path_factory.mktemp("db") / "aidpack-test.db"
        eng = make_engine(f"sqlite:///{path}")
    else:
        url = postgres_url()
        assert url is not None
        eng = make_engine(url)
        try:
            reset_postgres(eng)
        except Exception as exc:  # the server is not reachable: say so, never pass silently
            pytest.skip(f"PostgreSQL at {url} is not reachable: {exc}")
    migrate(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session inside a transaction that is rolled back after the test."""
    connection = engine.connect()
    outer = connection.begin()
    factory = sessionmaker(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
    sess = factory()
    try:
        yield sess
    finally:
        sess.close()
        outer.rollback()
        connection.close()


@pytest.fixture
def session_factory(engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)
