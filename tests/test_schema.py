"""The schema's migrations (SQLite and PostgreSQL): an empty or older database is brought to the newest
revision, and a database already there is left alone without loading Alembic."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text

from aidpack.db import SCHEMA_HEAD, alembic_config, make_engine, migrate, schema_revision
from tests.conftest import drop_schema, postgres_engine, postgres_url, private_schema

FIRST_REVISION = "717ddcdfa508"


@pytest.fixture
def empty_engine(backend: str, tmp_path: Path) -> Iterator[Engine]:
    """A database with no table at all."""
    if backend == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
        yield engine
        engine.dispose()
        return
    url, schema = postgres_url(), private_schema()
    assert url is not None
    admin = make_engine(url)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    engine = postgres_engine(url, schema)
    yield engine
    engine.dispose()
    drop_schema(url, schema)


def upgrade_to(engine: Engine, revision: str) -> None:
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def test_the_schema_head_named_in_the_code_is_the_migrations_head() -> None:
    config = alembic_config("sqlite://")

    assert ScriptDirectory.from_config(config).get_heads() == [SCHEMA_HEAD]


def test_an_empty_database_is_created_at_the_newest_revision(empty_engine: Engine) -> None:
    assert schema_revision(empty_engine) is None

    migrate(empty_engine)

    assert schema_revision(empty_engine) == SCHEMA_HEAD
    assert inspect(empty_engine).has_table("plans")


def test_a_database_at_an_older_revision_is_upgraded(empty_engine: Engine) -> None:
    upgrade_to(empty_engine, FIRST_REVISION)
    assert schema_revision(empty_engine) == FIRST_REVISION

    migrate(empty_engine)

    assert schema_revision(empty_engine) == SCHEMA_HEAD
    assert "consumes" in {column["name"] for column in inspect(empty_engine).get_columns("items")}


def test_sign_in_counts_move_off_the_account_row_and_back(empty_engine: Engine) -> None:
    """c88dd8041772: users.failed_logins and users.locked_until give way to sign_in_throttles; accounts stay."""
    upgrade_to(empty_engine, "5e1f0a7c2b91")
    with empty_engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO users (email, password_hash, role, active, created_at, failed_logins, locked_until) "
            "VALUES ('locked@example.org', 'x', 'coordinator', true, '2026-11-27 08:00:00', 4, '2026-11-27 08:15:00')"
        ))

    upgrade_to(empty_engine, "c88dd8041772")

    columns = {column["name"] for column in inspect(empty_engine).get_columns("users")}
    assert {"failed_logins", "locked_until"}.isdisjoint(columns)
    assert inspect(empty_engine).has_table("sign_in_throttles")
    with empty_engine.connect() as connection:
        accounts = connection.execute(text("SELECT email, role FROM users")).all()
    assert accounts == [("locked@example.org", "coordinator")]

    config = alembic_config(empty_engine.url.render_as_string(hide_password=False))
    with empty_engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "5e1f0a7c2b91")

    assert not inspect(empty_engine).has_table("sign_in_throttles")
    with empty_engine.connect() as connection:
        assert connection.execute(text("SELECT email, failed_logins, locked_until FROM users")).all() == [
            ("locked@example.org", 0, None)
        ]


def test_a_database_at_the_newest_revision_is_not_handed_to_alembic(
    empty_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    migrate(empty_engine)

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("Alembic ran on a database already at the newest revision")

    monkeypatch.setattr(command, "upgrade", refuse)
    migrate(empty_engine)

    assert schema_revision(empty_engine) == SCHEMA_HEAD
