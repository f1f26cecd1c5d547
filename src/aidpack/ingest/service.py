"""Import a scenario folder or one file: read and check everything, then write it all in the caller's
transaction, or raise :class:`ImportInvalid` naming every bad cell and write nothing."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from aidpack.ingest.errors import ImportInvalid, ImportPathInvalid, Problem
from aidpack.ingest.kinds import (
    COLUMNS,
    KIND_ORDER,
    SCENARIO_FILE,
    TABLE_SUFFIXES,
    Kind,
    key_column,
    kind_of_name,
    parse_kind,
)
from aidpack.ingest.parse import parse_scenario, parse_table
from aidpack.ingest.reader import read_table
from aidpack.ingest.resolve import Batch, check, load_existing
from aidpack.ingest.writer import Counts, write

SCENARIO_KIND = "scenario"


@dataclass(frozen=True)
class FileReport:
    file: str
    kind: str
    rows: int
    created: int
    updated: int
    unchanged: int

    def to_dict(self) -> dict[str, str | int]:
        return {
            "file": self.file,
            "kind": self.kind,
            "rows": self.rows,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
        }


@dataclass(frozen=True)
class ImportReport:
    files: tuple[FileReport, ...]
    #: Files of a folder that are not scenario files (their names start with no known kind).
    skipped: tuple[str, ...] = ()

    def total(self, field: str) -> int:
        return sum(int(getattr(report, field)) for report in self.files)

    def to_dict(self) -> dict[str, object]:
        return {
            "files": [report.to_dict() for report in self.files],
            "totals": {name: self.total(name) for name in ("rows", "created", "updated", "unchanged")},
            "skipped": list(self.skipped),
        }


@dataclass(frozen=True)
class _Plan:
    scenario: Path | None
    tables: tuple[tuple[Path, Kind], ...]
    skipped: tuple[str, ...]


def _kinds_hint() -> str:
    return f"kinds: {', '.join(kind.value for kind in KIND_ORDER)}"


def _plan_folder(folder: Path) -> _Plan:
    scenario: Path | None = None
    tables: list[tuple[Path, Kind]] = []
    skipped: list[str] = []
    for path in sorted(folder.iterdir(), key=lambda p: p.name):
        name = path.name
        if not path.is_file() or name.startswith((".", "~$")):
            continue
        if name.lower() == SCENARIO_FILE:
            scenario = path
            continue
        if path.suffix.lower() not in TABLE_SUFFIXES:
            continue
        kind = kind_of_name(name)
        if kind is None:
            skipped.append(name)
        else:
            tables.append((path, kind))
    if scenario is None and not tables:
        raise ImportPathInvalid(
            f"{folder} holds no scenario files (scenario.toml, or .csv/.xlsx files named after their kind)",
            context={"hint": _kinds_hint()},
        )
    tables.sort(key=lambda entry: (KIND_ORDER.index(entry[1]), entry[0].name))
    return _Plan(scenario, tuple(tables), tuple(skipped))


def _plan_file(path: Path, kind: str | None) -> _Plan:
    if (
        kind is not None
        and kind.strip().lower() == SCENARIO_KIND
        or kind is None
        and path.suffix.lower() == ".toml"
    ):
        return _Plan(path, (), ())
    if kind is not None:
        found = parse_kind(kind)
        if found is None:
            raise ImportPathInvalid(f"unknown kind {kind!r}", context={"hint": _kinds_hint()})
    else:
        found = kind_of_name(path.name)
        if found is None:
            raise ImportPathInvalid(
                f"cannot tell the kind of {path.name} from its name; name it after its kind or give --kind",
                context={"hint": _kinds_hint()},
            )
    return _Plan(None, ((path, found),), ())


def _plan(path: Path, kind: str | None) -> _Plan:
    if not path.exists():
        raise ImportPathInvalid(f"{path} does not exist")
    if path.is_dir():
        if kind is not None:
            raise ImportPathInvalid("--kind applies to one file, not to a folder")
        return _plan_folder(path)
    return _plan_file(path, kind)


def import_path(session: Session, *, path: Path, kind: str | None, actor: str) -> ImportReport:
    """Import ``path`` (a scenario folder or one file) in the caller's transaction; flushes, never commits."""
    plan = _plan(path, kind)
    problems: list[Problem] = []
    batch = Batch()
    counts: dict[str, Counts] = {}
    if plan.scenario is not None:
        counts[plan.scenario.name] = Counts()
        batch.scenario = parse_scenario(plan.scenario, problems)
    owner: dict[Kind, dict[str, str]] = {kind_: {} for kind_ in KIND_ORDER}
    for table_path, table_kind in plan.tables:
        counts[table_path.name] = Counts()
        table = read_table(table_path, COLUMNS[table_kind], problems)
        if table is None or key_column(table_kind) not in table.present:
            batch.unreadable.add(table_kind)
        if table is None:
            continue
        records = parse_table(table_kind, table, problems)
        counts[table_path.name].rows = len(table.rows)
        for record in records:
            other = owner[table_kind].get(record.key)
            if record.key and not record.duplicate and other is not None:
                problems.append(
                    Problem(
                        record.file,
                        record.row,
                        key_column(table_kind),
                        record.key,
                        f"a {key_column(table_kind)} not already imported from {other}",
                    )
                )
                record.duplicate = True
            elif record.key and not record.duplicate:
                owner[table_kind][record.key] = record.file
            batch.records[table_kind].append(record)
    existing = load_existing(session, batch)
    check(batch, existing, problems)
    if problems:
        order = {name: index for index, name in enumerate(counts)}
        problems.sort(key=lambda p: (order.get(p.file, len(order)), p.row or 0))
        raise ImportInvalid(problems)
    write(session, batch=batch, existing=existing, counts=counts, actor=actor)
    kinds = {table_path.name: table_kind.value for table_path, table_kind in plan.tables}
    return ImportReport(
        files=tuple(
            FileReport(
                file=name,
                kind=kinds.get(name, SCENARIO_KIND),
                rows=c.rows,
                created=c.created,
                updated=c.updated,
                unchanged=c.unchanged,
            )
            for name, c in counts.items()
        ),
        skipped=plan.skipped,
    )
