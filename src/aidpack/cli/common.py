"""What every CLI command shares: the database, the actor, and turning domain errors into exit codes."""

from __future__ import annotations

import getpass
import json
import os
import sys
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from aidpack.errors import DomainError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

T = TypeVar("T")

#: Columns of what is written to a file or a pipe (a CI log, `aidpack allocate > plan.txt`), where Rich would take 80
#: and cut need refs and figures short ("N-000…", "565,0…"). A terminal's own width wins, and so does ``COLUMNS``.
PIPE_WIDTH = 160


def _pipe_width() -> int | None:
    isatty = getattr(sys.stdout, "isatty", None)
    if "COLUMNS" in os.environ or (isatty is not None and isatty()):
        return None
    return PIPE_WIDTH


console = Console(width=_pipe_width())
err_console = Console(stderr=True, soft_wrap=True)


def table(title: str, columns: Sequence[str], *, figures: Collection[str] = (), **options: Any) -> Table:
    """A table whose cells are never cut short with an ellipsis: the ``figures`` columns stay on one line,
    right-aligned; text folds onto the next line where the width runs out."""
    made = Table(title=title, **options)
    for column in columns:
        if column in figures:
            made.add_column(column, justify="right", no_wrap=True)
        else:
            made.add_column(column, overflow="fold")
    return made


@lru_cache(maxsize=1)
def session_factory() -> sessionmaker[Session]:
    """The configured database, migrated to the newest schema on first use."""
    from aidpack.config import get_settings
    from aidpack.db import make_engine, make_session_factory, migrate

    settings = get_settings()
    engine = make_engine(settings.database_url)
    migrate(engine)
    return make_session_factory(engine)


def close_database() -> None:
    """Close the configured database's connections, if a command opened it."""
    if session_factory.cache_info().currsize:
        engine = session_factory().kw["bind"]
        engine.dispose()
        session_factory.cache_clear()


def cli_actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:
        return "cli:unknown"


@contextmanager
def transaction() -> Iterator[Session]:
    """One unit of work for one command."""
    from aidpack.db import unit_of_work

    with unit_of_work(session_factory()) as session:
        yield session


#: Whether a command ended on a conflict (exit 2): the console script tells it from a usage error, which Click also
#: ends with 2 and SPEC §5 with 1.
conflict_reported = False


def fail(error: DomainError, *, as_json: bool = False) -> NoReturn:
    global conflict_reported
    conflict_reported = conflict_reported or error.exit_code == 2
    if as_json:
        sys.stdout.write(json.dumps(error.to_dict(), ensure_ascii=False) + "\n")
    else:
        err_console.print(f"[bold red]error[/] [{error.code}] {error.detail}", highlight=False)
        for item in error.context.get("errors", [])[:200]:
            where = ", ".join(f"{k} {item[k]}" for k in ("file", "sheet", "row", "column", "line")
                             if item.get(k) is not None)
            value = item.get("value")
            shown = f" value {value!r}:" if value not in (None, "") else ":"
            err_console.print(f"  {where}{shown} {item.get('expected', '')}", highlight=False, markup=False)
        hint = error.context.get("hint")
        if hint:
            err_console.print(f"  hint: {hint}", highlight=False, markup=False)
    raise typer.Exit(error.exit_code)


def guarded(fn: Callable[[], T], *, as_json: bool = False) -> T:
    """Run ``fn``; a DomainError becomes a clear message and its exit code, never a traceback."""
    try:
        return fn()
    except DomainError as error:
        fail(error, as_json=as_json)


def print_json(payload: Any) -> None:
    sys.stdout.write(json.dumps(payload, ensure_ascii=False, indent=None) + "\n")


class BadPlanId(DomainError):
    code = "BAD_PLAN_ID"


def parse_plan_id(value: str) -> int | None:
    """`latest` (or empty) means the newest plan; otherwise a plan id."""
    if value.strip().lower() in ("", "latest"):
        return None
    try:
        return int(value)
    except ValueError:
        raise BadPlanId(f"{value!r} is not a plan id; give a number or `latest`") from None
