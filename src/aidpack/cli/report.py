"""`aidpack report [--json]`: coverage by tier, category and region; donors' contributions; the largest gaps."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from aidpack.cli import common

if TYPE_CHECKING:
    from aidpack.exports.report import OperatorReport


def _pct(value: float) -> str:
    return f"{value:.1%}"


def _groups(title: str, first: str, groups: list[dict[str, Any]], *, label: bool = False) -> Table:
    figures = ("needs", "fully covered", "people", "planned", "committed")
    table = common.table(title, (first, *(("name",) if label else ()), *figures), figures=figures)
    for group in groups:
        if not group["needs"]:
            continue
        cells = [str(group["key"])] + ([str(group["label"])] if label else [])
        cells += [str(group["needs"]), str(group["fully_covered"]), f"{group['people']:,}",
                  _pct(group["planned"]), _pct(group["committed"])]
        table.add_row(*cells)
    return table


def render(report: OperatorReport) -> None:
    console = common.console
    payload = report.payload
    plan = payload["latest_plan"]
    if plan is None:
        console.print("No plan yet: `planned` counts accepted lines only (run `aidpack allocate`).")
    else:
        console.print(f"Latest plan {plan['id']} for {plan['plan_date']} ({plan['status']}).", highlight=False)
    totals = payload["totals"]
    console.print(
        f"{totals['needs']} open needs, {totals['short']} short; {totals['pledges']} pledges "
        f"worth EUR {totals['value_eur']:,.0f} where valued.",
        highlight=False,
    )
    console.print(_groups("Coverage by tier (people served, weighted)", "tier", payload["tiers"]))
    console.print(_groups("Coverage by category", "category", payload["categories"]))
    console.print(_groups("Coverage by region", "region", payload["regions"], label=True))
    donors = common.table("Contributions by donor", ("donor", "name", "pledges", "value EUR", "committed EUR",
                                                     "lines committed", "received", "categories"),
                          figures=("pledges", "value EUR", "committed EUR", "lines committed", "received"))
    for c in payload["contributions"]:
        donors.add_row(c["donor"], c["name"], str(c["pledges"]), f"{c['value_eur']:,.0f}",
                       f"{c['value_committed_eur']:,.0f}", str(c["lines_committed"]), str(c["lines_received"]),
                       ", ".join(c["categories"]))
    console.print(donors)
    if not report.gaps:
        console.print("No gaps: every open need is covered by the latest plan.")
        return
    gaps = common.table(f"Largest gaps ({len(report.gaps)} of {totals['short']} needs left short)",
                        ("need", "tier", "region", "capability", "short", "of", "people short", "reason", "why"),
                        figures=("short", "of", "people short"))
    for gap in report.gaps:
        gaps.add_row(gap.ref, gap.tier, gap.region, gap.capability, gap.shortfall, gap.quantity,
                     f"{gap.people_short:,.0f}", gap.reason or "not planned yet", gap.why)
    console.print(gaps)


def report_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as one JSON object.")] = False,
) -> None:
    """Coverage by tier, category and region; contributions by donor; the largest gaps with their reasons
    (from the latest plan)."""
    from aidpack.exports.report import REPORT_GAPS, operator_report

    def run() -> OperatorReport:
        with common.transaction() as session:
            return operator_report(session, max_gaps=REPORT_GAPS)

    report = common.guarded(run, as_json=as_json)
    if as_json:
        common.print_json(report.payload)
    else:
        render(report)


def register(app: typer.Typer, plan_app: typer.Typer) -> None:
    app.command("report")(report_command)
