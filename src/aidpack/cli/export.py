"""`aidpack export FORMAT PATH [--force] [--json]`: scenario files, HXL for publication, or IATI XML."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from aidpack.cli import common

if TYPE_CHECKING:
    from aidpack.exports.service import ExportResult


def export_command(
    fmt: Annotated[str, typer.Argument(metavar="FORMAT", help="csv, xlsx, hxl or iati.")],
    path: Annotated[Path, typer.Argument(help="A folder (csv, hxl) or a file (a .xlsx, an iati .xml).")],
    force: Annotated[
        bool, typer.Option("--force", help="Write into a non-empty folder or over an existing file.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print what was written as JSON.")] = False,
) -> None:
    """Export the data. csv: a scenario folder that `aidpack import` reads back (plus lines.csv, the plan
    lines, which import skips). xlsx: one workbook, a sheet per table, that `aidpack import` reads back whole
    (its lines sheet skipped). hxl: CSV files with HXL hashtags, meant for publication, so restricted sites are
    left out (their needs keep region and capability, without notes, the site given as \\[restricted], which an
    import back leaves as it is; sites.csv lists public sites only). iati: an IATI 2.03 activity file, one
    activity per pledge, with no site data. Every export is recorded in the audit log."""
    from aidpack.exports.service import export

    def run() -> ExportResult:
        with common.transaction() as session:
            return export(session, fmt=fmt, path=path, force=force, actor=common.cli_actor())

    result = common.guarded(run, as_json=as_json)
    if as_json:
        common.print_json(result.to_dict())
        return
    rows = ", ".join(f"{name} {count}" for name, count in result.rows.items())
    common.console.print(
        f"exported {result.format.value} to {result.path} ({len(result.files)} files: {rows})",
        highlight=False,
        markup=False,
    )


def register(app: typer.Typer, plan_app: typer.Typer) -> None:
    app.command("export")(export_command)
