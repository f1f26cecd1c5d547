"""`aidpack allocate` and `aidpack plan show`: run the engine, read a saved plan."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from aidpack.allocation.service import get_plan, plan_payload, run_plan
from aidpack.allocation.summary import PlanSummary, summarise
from aidpack.cli import common


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"


def render_summary(summary: PlanSummary) -> None:
    console = common.console
    console.print(
        f"[bold]Plan {summary.plan_id}[/] for {summary.plan_date}: [bold]{summary.status}[/], "
        f"{summary.lines} lines, gap {summary.gap:.2g}, solved in {summary.seconds:.2f} s"
    )
    tiers = Table(title="Coverage per tier (people served, weighted by the share of each need covered)")
    for column in ("tier", "needs", "fully covered", "people served", "people in need", "share"):
        tiers.add_column(column, justify="right" if column != "tier" else "left")
    for row in summary.tiers:
        if row.needs:
            tiers.add_row(row.tier, str(row.needs), str(row.fully_covered), _fmt(row.served), _fmt(row.people),
                          f"{row.share:.1%}")
    console.print(tiers)
    if summary.gaps:
        gaps = Table(title=f"Largest gaps ({len(summary.gaps)} of {summary.short_needs} needs left short)")
        for column in ("need", "priority", "region", "capability", "covered", "of", "people", "reason", "why"):
            gaps.add_column(column)
        for gap in summary.gaps:
            gaps.add_row(gap.ref, gap.priority, gap.region, gap.capability, _fmt(float(gap.covered)),
                         _fmt(float(gap.quantity)), f"{gap.people:,}", gap.reason, gap.detail)
        console.print(gaps)
    else:
        console.print("Every open need is covered.")
    if summary.donors:
        donors = Table(title="What each donor's pledges cover in this plan")
        for column in ("donor", "lines", "needs", "amounts by capability"):
            donors.add_column(column)
        for donor in summary.donors:
            amounts = ", ".join(f"{cap} {_fmt(float(v))}" for cap, v in sorted(donor.by_capability.items()))
            donors.add_row(f"{donor.code} {donor.name}", str(donor.lines), str(len(donor.needs)), amounts)
        console.print(donors)


def allocate_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print the plan as one JSON object (SPEC §4).")] = False,
    time_limit: Annotated[
        float | None,
        typer.Option("--time-limit", min=0.01, help="Seconds the solver may take; the plan reports its gap."),
    ] = None,
    include_proposed: Annotated[
        bool, typer.Option("--include-proposed", help="Also allocate pledges that are only proposed.")
    ] = False,
) -> None:
    """Run the allocation engine on the current data, save the plan and print it."""

    def run() -> None:
        with common.transaction() as session:
            if as_json or not common.console.is_terminal:
                plan = run_plan(session, actor=common.cli_actor(), include_proposed=include_proposed,
                                time_limit=time_limit)
            else:
                with common.console.status("Allocating pledges to needs…"):
                    plan = run_plan(session, actor=common.cli_actor(), include_proposed=include_proposed,
                                    time_limit=time_limit)
            if as_json:
                common.print_json(plan_payload(session, plan))
            else:
                render_summary(summarise(session, plan))

    common.guarded(run, as_json=as_json)


def show_command(
    plan: Annotated[str, typer.Argument(help="Plan id, or `latest`.")] = "latest",
    as_json: Annotated[bool, typer.Option("--json", help="Print the plan as one JSON object (SPEC §4).")] = False,
) -> None:
    """Show a saved plan (the latest by default)."""

    def run() -> None:
        with common.transaction() as session:
            found = get_plan(session, common.parse_plan_id(plan))
            if as_json:
                common.print_json(plan_payload(session, found))
            else:
                render_summary(summarise(session, found))

    common.guarded(run, as_json=as_json)


def register(app: typer.Typer, plan_app: typer.Typer) -> None:
    app.command("allocate")(allocate_command)
    plan_app.command("show")(show_command)
