"""`aidpack audit verify` and `aidpack audit export PATH`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from aidpack.cli.common import console, guarded, print_json, transaction

if TYPE_CHECKING:
    from aidpack.audit.service import ChainReport

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of text.")]


def verify(as_json: JsonOpt = False) -> None:
    """Recompute the audit log's hash chain; exit 1 naming the first edited, inserted or removed event."""
    from aidpack.audit.export import check_chain

    def run() -> ChainReport:
        with transaction() as session:
            return check_chain(session)

    report = guarded(run, as_json=as_json)
    if as_json:
        print_json({"ok": True, "events": report.events, "head": report.head_hash})
        return
    console.print(
        f"audit log intact: {report.events} events, head {report.head_hash}", highlight=False, soft_wrap=True
    )


def export(
    path: Annotated[Path, typer.Argument(help="The JSON Lines file to write.", show_default=False)],
    as_json: JsonOpt = False,
) -> None:
    """Write the audit log as JSON Lines ending with its head hash (refused if the chain is broken)."""
    from aidpack.audit.export import check_chain, export_jsonl

    def run() -> tuple[int, str]:
        with transaction() as session:
            report = check_chain(session)
            tmp = path.with_name(path.name + ".partial")
            with tmp.open("w", encoding="utf-8") as out:
                head = export_jsonl(session, out)
            tmp.replace(path)
            return report.events, head

    events, head = guarded(run, as_json=as_json)
    if as_json:
        print_json({"path": str(path), "events": events, "head": head})
        return
    console.print(f"exported {events} events to {path}; head {head}", highlight=False, soft_wrap=True)


def register(app: typer.Typer, plan_app: typer.Typer) -> None:
    audit_app = typer.Typer(help="The tamper-evident audit log: verify it, export it.", no_args_is_help=True)
    audit_app.command("verify")(verify)
    audit_app.command("export")(export)
    app.add_typer(audit_app, name="audit")
