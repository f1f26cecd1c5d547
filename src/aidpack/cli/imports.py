"""`aidpack import PATH [--kind K] [--json]`: load a scenario folder, one file, or a workbook of sheets."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from aidpack.cli import common

if TYPE_CHECKING:
    from aidpack.ingest.service import ImportReport


def _print_report(report: ImportReport) -> None:
    sheets = any(item.sheet is not None for item in report.files)
    table = Table(title="Import", show_footer=True)
    table.add_column("file", footer="total", overflow="fold")
    if sheets:
        table.add_column("sheet", overflow="fold")
    table.add_column("kind")
    for name in ("rows", "created", "updated", "unchanged"):
        table.add_column(name, justify="right", no_wrap=True, footer=str(report.total(name)))
    for item in report.files:
        where = (item.file, item.sheet or "") if sheets else (item.file,)
        table.add_row(
            *where, item.kind, str(item.rows), str(item.created), str(item.updated), str(item.unchanged)
        )
    common.console.print(table)
    for name in report.skipped:
        common.err_console.print(
            f"skipped {name}: its name starts with no known kind", highlight=False, markup=False
        )
    for skipped in report.skipped_sheets:
        common.err_console.print(
            f"skipped sheet {skipped.sheet!r} of {skipped.file}: {skipped.reason}", highlight=False, markup=False
        )


def import_command(
    path: Annotated[
        Path,
        typer.Argument(
            help="A scenario folder, one .csv/.xlsx file (or scenario.toml), or a workbook whose sheets are "
            "named for their kinds, as `aidpack export xlsx` writes it."
        ),
    ],
    kind: Annotated[
        str | None,
        typer.Option(
            "--kind",
            help="The kind of a single file (regions, hubs, catalogue, donors, organisations, sites, needs, "
            "pledges, transit); by default the start of its file name. Not for a workbook of several sheets: "
            "their names give their kinds.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Import a scenario folder, one file, or a workbook of several sheets (the xlsx export), as one import:
    everything is checked first; every bad row is reported (with its sheet) and then nothing is written. In a
    workbook of several sheets of data, each sheet is named for its kind (scenario, regions, ..., transit; any
    case, or as its first word) and imported in the order a folder is; the plan lines sheet and empty sheets are
    skipped with a note; a sheet of any other name is an error. A workbook of one sheet of data is one file."""
    from aidpack.ingest.service import import_path

    def run() -> ImportReport:
        with common.transaction() as session:
            if as_json or not common.console.is_terminal:
                return import_path(session, path=path, kind=kind, actor=common.cli_actor())
            with common.console.status(f"importing {path}"):
                return import_path(session, path=path, kind=kind, actor=common.cli_actor())

    report = common.guarded(run, as_json=as_json)
    if as_json:
        common.print_json(report.to_dict())
    else:
        _print_report(report)


def register(app: typer.Typer, plan_app: typer.Typer) -> None:
    app.command("import")(import_command)
