"""Shared fixtures: a migrated database per backend (SQLite always, PostgreSQL when configured)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from aidpack.db import make_engine, make_session_factory, migrate

POSTGRES_ENV = "AIDPACK_TEST_POSTGRES_URL"

#: `.ci/run` gives every property test the same examples each run (``derandomize``): a clean clone's CI passes or
#: fails on the code, not on which examples it drew (HiGHS calls some stages optimal below a reachable plan at one
#: feasibility tolerance or another, and a drawn example found that in a reference MIP, see test_bounds). `make test`
#: draws new examples each run, as development should.
settings.register_profile("ci", derandomize=True)
settings.load_profile(os.environ.get("AIDPACK_HYPOTHESIS_PROFILE", "default"))
BACKENDS = ["sqlite", "postgres"]


def postgres_url() -> str | None:
    return os.environ.get(POSTGRES_ENV) or None


def private_schema() -> str:
    """A schema of this test run's own, so that parallel runs on one server never see each other."""
    return f"aidpack_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"


def postgres_engine(url: str, schema: str) -> Engine:
    return make_engine(url, connect_args={"options": f"-csearch_path={schema}"})


def drop_schema(url: str, schema: str) -> None:
    admin = make_engine(url)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    finally:
        admin.dispose()


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
        schema = private_schema()
        try:
            admin = make_engine(url)
            with admin.begin() as conn:
                conn.execute(text(f'CREATE SCHEMA "{schema}"'))
            admin.dispose()
        except Exception as exc:  # the server is not reachable: say so, never pass silently
            pytest.skip(f"PostgreSQL at {url} is not reachable: {exc}")
        eng = postgres_engine(url, schema)
    migrate(eng)
    yield eng
    eng.dispose()
    if backend == "postgres":
        url = postgres_url()
        assert url is not None
        drop_schema(url, schema)


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


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, object]) -> dict[str, object]:
    """Playwright drives Debian's Chromium (never a downloaded browser); as root it needs --no-sandbox."""
    return {
        **browser_type_launch_args,
        "executable_path": os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"),
        "args": ["--no-sandbox"],
    }
