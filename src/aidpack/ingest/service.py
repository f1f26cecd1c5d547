"""Import a scenario folder, one file, or a workbook of sheets named for their kinds: read and check everything,
then write it all in the caller's transaction, or raise :class:`ImportInvalid` naming every bad cell and write
nothing."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from aidpack.ingest.errors import ImportInvalid, ImportPathInvalid, Problem
from aidpack.ingest.kinds import (
    COLUMNS,
    KIND_ORDER,
    OUTPUT_SHEETS,
    SCENARIO_FILE,
    SCENARIO_KEYS,
    SCENARIO_SHEET,
    TABLE_SUFFIXES,
    Kind,
    key_column,
    kind_of_name,
    kind_of_sheet,
    parse_kind,
    sheet_word,
)
from aidpack.ingest.parse import parse_scenario, parse_scenario_table, parse_table
from aidpack.ingest.reader import Sheet, Table, build_table, one_sheet_rows, read_table, read_workbook
from aidpack.ingest.resolve import Batch, check, load_existing
from aidpack.ingest.writer import Counts, write

SCENARIO_KIND = "scenario"
EMPTY_SHEET = "the sheet is empty"


@dataclass(frozen=True)
class FileReport:
    """What one file, or one sheet of a workbook (``sheet``), brought: its rows created, updated, unchanged."""

    file: str
    kind: str
    rows: int
    created: int
    updated: int
    unchanged: int
    sheet: str | None = None

    def to_dict(self) -> dict[str, str | int]:
        found: dict[str, str | int] = {"file": self.file}
        if self.sheet is not None:
            found["sheet"] = self.sheet
        found.update({
            "kind": self.kind,
            "rows": self.rows,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
        })
        return found


@dataclass(frozen=True)
class SkippedSheet:
    """A sheet of a workbook that holds no import input (plan lines, nothing at all), and why it was skipped."""

    file: str
    sheet: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"file": self.file, "sheet": self.sheet, "reason": self.reason}


@dataclass(frozen=True)
class ImportReport:
    files: tuple[FileReport, ...]
    #: Files of a folder that are not scenario files (their names start with no known kind).
    skipped: tuple[str, ...] = ()
    #: Sheets of a workbook that are not import input.
    skipped_sheets: tuple[SkippedSheet, ...] = ()

    def total(self, field: str) -> int:
        return sum(int(getattr(report, field)) for report in self.files)

    def to_dict(self) -> dict[str, object]:
        return {
            "files": [report.to_dict() for report in self.files],
            "totals": {name: self.total(name) for name in ("rows", "created", "updated", "unchanged")},
            "skipped": list(self.skipped),
            "skipped_sheets": [sheet.to_dict() for sheet in self.skipped_sheets],
        }


@dataclass(frozen=True)
class _Source:
    """One table to import: a file (read when imported), or a workbook's sheet whose rows are already read.

    ``label`` keys its rows, counts and problems while importing: the file name, or ``"book.xlsx [needs]"``.
    """

    label: str
    path: Path
    kind: Kind | None  # None: the scenario sheet
    sheet: str | None = None
    #: The rows already read (a workbook's), or None with ``read`` when the workbook could not be read.
    rows: list[list[str]] | None = None
    read: bool = False


@dataclass(frozen=True)
class _Plan:
    scenario: Path | None
    tables: tuple[_Source, ...]
    skipped: tuple[str, ...] = ()
    scenario_sheet: _Source | None = None
    skipped_sheets: tuple[SkippedSheet, ...] = ()
    #: Problems found before any table is read (a workbook that cannot be read, sheets of unknown names).
    problems: tuple[Problem, ...] = ()
    #: Sheets of a workbook whose names are no kind (problems above).
    unknown_sheets: tuple[str, ...] = ()


def _kinds_hint() -> str:
    return f"kinds: {', '.join(kind.value for kind in KIND_ORDER)}"


def _plan_folder(folder: Path) -> _Plan:
    scenario: Path | None = None
    tables: list[_Source] = []
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
            tables.append(_Source(name, path, kind))
    if scenario is None and not tables:
        raise ImportPathInvalid(
            f"{folder} holds no scenario files (scenario.toml, or .csv/.xlsx files named after their kind)",
            context={"hint": _kinds_hint()},
        )
    tables.sort(key=lambda source: (_order(source), source.label))
    return _Plan(scenario, tuple(tables), tuple(skipped))


def _order(source: _Source) -> int:
    assert source.kind is not None
    return KIND_ORDER.index(source.kind)


def _sheet_names() -> str:
    skipped = ", ".join(OUTPUT_SHEETS)
    return f"{SCENARIO_SHEET}, {', '.join(kind.value for kind in KIND_ORDER)} (or {skipped}, which is skipped)"


def _plan_workbook(path: Path, sheets: list[Sheet]) -> _Plan:
    """A workbook of several sheets of data, one import: each sheet is named for its kind (as the xlsx export
    names them; case-insensitive, or as its first word), read in the order a folder is; plan lines and empty
    sheets are skipped with a note; a sheet of any other name is a problem (a typo must not drop its rows)."""
    name = path.name
    tables: list[tuple[int, _Source]] = []
    scenario: _Source | None = None
    skipped: list[SkippedSheet] = []
    problems: list[Problem] = []
    unknown: list[str] = []
    for position, sheet in enumerate(sheets):
        title = sheet.title
        source = _Source(f"{name} [{title}]", path, None, sheet=title, rows=sheet.rows, read=True)
        lowered, word = title.strip().lower(), sheet_word(title)
        kind = kind_of_sheet(title)
        if not sheet.filled:
            skipped.append(SkippedSheet(name, title, EMPTY_SHEET))
        elif kind is not None:
            tables.append((position, dataclasses.replace(source, kind=kind)))
        elif SCENARIO_SHEET in (lowered, word):
            if scenario is None:
                scenario = source
            else:
                problems.append(Problem(name, None, None, title, f"one scenario sheet ({scenario.sheet!r} is one "
                                        "already): a database holds one scenario", sheet=title))
        elif (reason := OUTPUT_SHEETS.get(lowered, OUTPUT_SHEETS.get(word))) is not None:
            skipped.append(SkippedSheet(name, title, reason))
        else:
            unknown.append(title)
            problems.append(Problem(name, None, None, title, f"a sheet named for its kind: {_sheet_names()}; "
                                    "rename the sheet, or delete it if it is not to be imported", sheet=title))
    tables.sort(key=lambda entry: (_order(entry[1]), entry[0]))
    return _Plan(None, tuple(source for _, source in tables), (), scenario, tuple(skipped), tuple(problems),
                 tuple(unknown))


def _plan_file(path: Path, kind: str | None) -> _Plan:
    if (
        kind is not None
        and kind.strip().lower() == SCENARIO_KIND
        or kind is None
        and path.suffix.lower() == ".toml"
    ):
        return _Plan(path, ())
    sheets: list[Sheet] | None = None
    problems: list[Problem] = []
    if path.suffix.lower() == ".xlsx":
        sheets = read_workbook(path, problems)
        filled = [sheet.title for sheet in sheets or () if sheet.filled]
        if len(filled) > 1:
            if kind is not None:
                raise ImportPathInvalid(
                    f"--kind applies to a file of one kind; {path.name} has {len(filled)} sheets of data, and "
                    "their names give their kinds: import it without --kind",
                    context={"sheets": filled, "hint": f"sheet names: {_sheet_names()}"},
                )
            assert sheets is not None
            return _plan_workbook(path, sheets)
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
    if path.suffix.lower() != ".xlsx":
        return _Plan(None, (_Source(path.name, path, found),))
    # A workbook of one sheet of data, as ever: its kind from the file name or --kind.
    rows = None if sheets is None else one_sheet_rows(path.name, sheets, problems)
    return _Plan(None, (_Source(path.name, path, found, rows=rows, read=True),), problems=tuple(problems))


def _plan(path: Path, kind: str | None) -> _Plan:
    if not path.exists():
        raise ImportPathInvalid(f"{path} does not exist")
    if path.is_dir():
        if kind is not None:
            raise ImportPathInvalid("--kind applies to one file, not to a folder")
        return _plan_folder(path)
    return _plan_file(path, kind)


def _table(source: _Source, problems: list[Problem]) -> Table | None:
    columns = SCENARIO_KEYS if source.kind is None else COLUMNS[source.kind]
    if not source.read:
        return read_table(source.path, columns, problems)
    return None if source.rows is None else build_table(source.label, source.rows, columns, problems)


def _located(problems: list[Problem], sources: dict[str, _Source]) -> list[Problem]:
    """Problems keyed by a sheet's label, told as the workbook's file name and the sheet's."""
    found: list[Problem] = []
    for problem in problems:
        source = sources.get(problem.file)
        if source is not None and source.sheet is not None:
            problem = dataclasses.replace(problem, file=source.path.name, sheet=source.sheet)
        found.append(problem)
    return found


def import_path(session: Session, *, path: Path, kind: str | None, actor: str) -> ImportReport:
    """Import ``path`` (a scenario folder, one file, or a workbook of sheets named for their kinds) in the caller's
    transaction, every sheet and file checked before anything is written; flushes, never commits."""
    plan = _plan(path, kind)
    problems: list[Problem] = []
    batch = Batch()
    counts: dict[str, Counts] = {}
    sources: dict[str, _Source] = {}
    if plan.scenario is not None:
        counts[plan.scenario.name] = Counts()
        batch.scenario = parse_scenario(plan.scenario, problems)
    if plan.scenario_sheet is not None:
        source = plan.scenario_sheet
        counts[source.label] = Counts()
        sources[source.label] = source
        table = _table(source, problems)
        if table is not None:
            batch.scenario = parse_scenario_table(table, problems)
    if plan.unknown_sheets:
        # A sheet of an unknown name may hold any kind: references to every kind are left unchecked.
        batch.unreadable.update(KIND_ORDER)
    owner: dict[Kind, dict[str, str]] = {kind_: {} for kind_ in KIND_ORDER}
    for source in plan.tables:
        table_kind = source.kind
        assert table_kind is not None
        counts[source.label] = Counts()
        sources[source.label] = source
        table = _table(source, problems)
        if table is None or key_column(table_kind) not in table.present:
            batch.unreadable.add(table_kind)
        if table is None:
            continue
        records = parse_table(table_kind, table, problems)
        counts[source.label].rows = len(table.rows)
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
    if plan.problems or problems:
        order = {name: index for index, name in enumerate(counts)}
        problems.sort(key=lambda p: (order.get(p.file, len(order)), p.row or 0))
        raise ImportInvalid([*plan.problems, *_located(problems, sources)])
    write(session, batch=batch, existing=existing, counts=counts, actor=actor)
    kinds = {source.label: source.kind.value for source in plan.tables if source.kind is not None}
    return ImportReport(
        files=tuple(
            FileReport(
                file=sources[name].path.name if name in sources else name,
                kind=kinds.get(name, SCENARIO_KIND),
                rows=c.rows,
                created=c.created,
                updated=c.updated,
                unchanged=c.unchanged,
                sheet=sources[name].sheet if name in sources else None,
            )
            for name, c in counts.items()
        ),
        skipped=plan.skipped,
        skipped_sheets=plan.skipped_sheets,
    )
