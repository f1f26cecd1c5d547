"""`aidpack demo`: load the Ukraine winter 2022 scenario, allocate, print the plan, serve the dashboard."""

from __future__ import annotations

from typing import Annotated

import typer

from aidpack.cli import common
from aidpack.cli.allocate import render_summary


def demo_command(
    no_serve: Annotated[
        bool, typer.Option("--no-serve", help="Stop after printing the plan and the demo accounts.")
    ] = False,
    host: Annotated[str, typer.Option(help="Address to serve the dashboard on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to serve the dashboard on.")] = 8000,
) -> None:
    """Load the built-in Ukraine winter 2022 scenario, allocate, print the plan, then serve it."""
    from aidpack.allocation.service import run_plan
    from aidpack.allocation.summary import summarise
    from aidpack.auth.service import ensure_demo_accounts
    from aidpack.ingest.service import import_path
    from aidpack.scenarios import builtin_scenario

    def run() -> list[tuple[str, str, str, str | None]]:
        actor = common.cli_actor()
        with common.transaction() as session:
            report = import_path(session, path=builtin_scenario(), kind=None, actor=actor)
            accounts = ensure_demo_accounts(session)
        common.console.print(
            f"Loaded the built-in scenario: {report.total('rows')} rows, {report.total('created')} created, "
            f"{report.total('updated')} updated, {report.total('unchanged')} unchanged"
        )
        with common.transaction() as session, common.console.status("Allocating pledges to needs…"):
            plan = run_plan(session, actor=actor)
            summary = summarise(session, plan)
        render_summary(summary)
        return accounts

    accounts = common.guarded(run)
    # The accounts' passwords are new on every run: printed with --no-serve too (they were not, so nobody could sign
    # in to a dashboard served later).
    title = ("Demo accounts (created by the demo only; serve the dashboard with `aidpack serve`)" if no_serve
             else f"Dashboard: http://{host}:{port}/  — demo accounts (created by the demo only)")
    table = common.table(title, ("email", "password", "role", "organisation"))
    for email, password, role, org in accounts:
        table.add_row(email, password, role, org or "")
    common.console.print(table)
    if no_serve:
        return
    from aidpack.cli.serve import serve_app

    serve_app(host=host, port=port)


def register(app: typer.Typer, plan_app: typer.Typer) -> None:
    app.command("demo")(demo_command)
