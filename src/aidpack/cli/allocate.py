"""`aidpack allocate` and `aidpack plan show`: run the engine, read a saved plan."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from aidpack.cli import common

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from aidpack.allocation.models import Plan
    from aidpack.allocation.summary import PlanSummary


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"


#: The longest a plan may be given (a day; `inf` and the like are a usage error, not a crash).
MAX_TIME_LIMIT = 86_400.0
#: The longest stretch of use whose consumables a plan reports or adds (ten years).
MAX_CONSUMABLE_DAYS = 3_650.0
#: Capabilities named per donor in the plan's summary; a national plan's donors each send a hundred or more, which
#: `aidpack report` and the exports list in full.
DONOR_CAPABILITIES = 8


def _donor_amounts(amounts: Mapping[str, Decimal], totals: Mapping[str, float]) -> str:
    """A donor's amounts, the capabilities it gives the largest share of the plan's first (amounts in different
    units do not compare), at most ``DONOR_CAPABILITIES`` of them."""
    order = sorted(amounts, key=lambda cap: (-float(amounts[cap]) / totals[cap] if totals[cap] else 0.0, cap))
    named = order if len(order) <= DONOR_CAPABILITIES + 1 else order[:DONOR_CAPABILITIES]
    shown = ", ".join(f"{cap} {_fmt(float(amounts[cap]))}" for cap in named)
    return shown + (f" and {len(order) - len(named)} more capabilities" if len(named) < len(order) else "")


def render_summary(summary: PlanSummary) -> None:
    console = common.console
    console.print(
        f"[bold]Plan {summary.plan_id}[/] for {summary.plan_date}: [bold]{summary.status}[/], "
        f"{summary.lines} lines, gap {summary.gap:.2g} (tiers {summary.tier_gap:.2g}, transit "
        f"{summary.transit_gap:.2g}), solved in {summary.seconds:.2f} s"
    )
    tiers = common.table("Coverage per tier (people served, weighted by the share of each need covered)",
                         ("tier", "needs", "fully covered", "people served", "people in need", "share"),
                         figures=("needs", "fully covered", "people served", "people in need", "share"))
    for row in summary.tiers:
        if row.needs:
            tiers.add_row(row.tier, str(row.needs), str(row.fully_covered), _fmt(row.served), _fmt(row.people),
                          f"{row.share:.1%}")
    console.print(tiers)
    if summary.gaps:
        gaps = common.table(f"Largest gaps ({len(summary.gaps)} of {summary.short_needs} needs left short)",
                            ("need", "priority", "region", "capability", "covered", "of", "people", "reason", "why"),
                            figures=("covered", "of", "people"))
        for gap in summary.gaps:
            gaps.add_row(gap.ref, gap.priority, gap.region, gap.capability, _fmt(float(gap.covered)),
                         _fmt(float(gap.quantity)), f"{gap.people:,}", gap.reason, gap.detail)
        console.print(gaps)
        waiting = [gap.ref for gap in summary.gaps if gap.proposed]
        if waiting:
            console.print(f"Only proposed pledges provide what {', '.join(waiting)} "
                          f"need{'s' if len(waiting) == 1 else ''}: `aidpack allocate --include-proposed` "
                          "would use them.", highlight=False)
    else:
        console.print("Every open need is covered.")
    if summary.donors:
        donors = common.table("What each donor's pledges cover in this plan (its largest shares of a capability "
                              "first)", ("donor", "lines", "needs", "amounts by capability"),
                              figures=("lines", "needs"))
        totals: dict[str, float] = {}
        for donor in summary.donors:
            for capability, amount in donor.by_capability.items():
                totals[capability] = totals.get(capability, 0.0) + float(amount)
        for donor in summary.donors:
            donors.add_row(f"{donor.code} {donor.name}", str(donor.lines), str(donor.needs),
                           _donor_amounts(donor.by_capability, totals))
        console.print(donors)


def render_extras(figures: dict[str, Any]) -> None:
    """What the summary does not show: units moved since the last plan, fairness, consumables."""
    console = common.console
    moved = figures.get("moved_units")
    if moved is not None:
        console.print(f"Stable re-plan: {_fmt(float(moved))} units of the previous plan's proposed lines moved.")
    fairness = figures.get("fairness")
    if isinstance(fairness, dict):
        table = common.table("Worst-served region per tier (coverage of its people)",
                             ("tier", "fair plan", "region", "without fairness", "region "),
                             figures=("fair plan", "without fairness"))
        worst, without = fairness.get("worst", {}), fairness.get("worst_without", {})
        for tier in ("critical", "high", "medium", "low"):
            a, b = worst.get(tier), without.get(tier)
            if a and b:
                table.add_row(tier, f"{a['coverage']:.1%}", str(a["region"]), f"{b['coverage']:.1%}",
                              str(b["region"]))
        console.print(table)
        if isinstance(figures.get("fair_fallback"), str):
            console.print(f"Fairness: {figures['fair_fallback']}.")
    consumables = figures.get("consumables")
    if isinstance(consumables, dict):
        implied = ", ".join(f"{cap} {_fmt(v)}" for cap, v in consumables.get("implied", {}).items()) or "nothing"
        written = consumables.get("added_needs")
        console.print(f"Consumables over {consumables['days']:g} days: the plan's lines consume {implied}"
                      + (f"; {written} consumable needs created, changed or cancelled for them." if written else "."))


def render_diff(diff: dict[str, Any]) -> None:
    console = common.console
    gaining, losing = int(diff["needs_gaining"]), int(diff["needs_losing"])
    console.print(f"[bold]Plan {diff['before']} → {diff['after']}[/]: {_fmt(float(diff['moved_units']))} units "
                  f"moved, {gaining} need{'' if gaining == 1 else 's'} gain{'s' if gaining == 1 else ''} and "
                  f"{losing} lose{'s' if losing == 1 else ''} coverage")
    tiers = common.table("People served per tier", ("tier", "before", "after", "change"),
                         figures=("before", "after", "change"))
    for name, values in diff["tiers"].items():
        tiers.add_row(name, _fmt(values["before"]), _fmt(values["after"]), f"{values['change']:+,.0f}")
    console.print(tiers)
    for key, title in (("losses", "Needs that lose coverage"), ("gains", "Needs that gain coverage")):
        if diff[key]:
            table = common.table(title, ("need", "priority", "region", "capability", "covered before", "after",
                                         "people"), figures=("covered before", "after", "people"))
            for row in diff[key]:
                table.add_row(row["need"], row["priority"], row["region"], row["capability"],
                              _fmt(row["covered_before"]), _fmt(row["covered_after"]),
                              f"{row['people_served_change']:+,.0f}")
            console.print(table)


def allocate_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print the plan as one JSON object (SPEC §4).")] = False,
    time_limit: Annotated[
        float | None,
        typer.Option("--time-limit", min=0.01, max=MAX_TIME_LIMIT,
                     help="Seconds the solver may spend proving the plan (HiGHS's searches stop there; the "
                          "first exact pass, which every plan needs, is not cut: about 1.5 s at a million "
                          "candidate edges); the plan reports its gap."),
    ] = None,
    include_proposed: Annotated[
        bool, typer.Option("--include-proposed", help="Also allocate pledges that are only proposed.")
    ] = False,
    fair: Annotated[
        str | None,
        typer.Option("--fair", help="`regions`: within each tier, first raise the worst-served region's coverage "
                     "(one LP over the blocks the standard plan does not serve fully: seconds at 1e5 candidate edges, "
                     "under a minute at 1e6)."),
    ] = None,
    with_consumables: Annotated[
        float | None,
        typer.Option("--with-consumables", min=0.001, max=MAX_CONSUMABLE_DAYS, metavar="DAYS",
                     help="Add what the plan's generators consume over DAYS (fuel) as needs of the same tier."),
    ] = None,
    consumables: Annotated[
        float | None,
        typer.Option("--consumables", min=0.001, max=MAX_CONSUMABLE_DAYS, metavar="DAYS",
                     help="Report what the plan's lines consume over DAYS, without adding needs."),
    ] = None,
    what_if_path: Annotated[
        Path | None,
        typer.Option("--what-if", metavar="FILE",
                     help="Plan on the current data plus FILE (a scenario folder or file), compare with the "
                          "latest plan, save nothing."),
    ] = None,
    reshuffle: Annotated[
        bool, typer.Option("--reshuffle", help="Do not prefer the previous plan's lines among equal plans.")
    ] = False,
    what_if_kind: Annotated[
        str | None,
        typer.Option("--kind", help="With --what-if FILE: FILE's kind (needs, pledges, ...) when its name does not "
                     "start with it."),
    ] = None,
) -> None:
    """Run the allocation engine on the current data, save the plan and print it."""
    from aidpack.allocation.service import plan_payload, run_plan
    from aidpack.allocation.summary import summarise

    if what_if_kind is not None and what_if_path is None:
        raise typer.BadParameter("--kind names the kind of the --what-if file; give --what-if FILE too",
                                 param_hint="--kind")

    def plan_now(session: Session) -> Plan:
        return run_plan(session, actor=common.cli_actor(), include_proposed=include_proposed, time_limit=time_limit,
                        stable=not reshuffle, fair=fair, consumable_days=with_consumables or consumables,
                        with_consumables=with_consumables is not None)

    def run() -> None:
        if what_if_path is not None:
            run_what_if(what_if_path)
            return
        # What is printed is read in the transaction and printed once it is committed: a reader that goes away
        # (`aidpack allocate | head`) must not roll back a plan whose number was printed.
        with common.transaction() as session:
            if as_json or not common.console.is_terminal:
                plan = plan_now(session)
            else:
                with common.console.status("Allocating pledges to needs…"):
                    plan = plan_now(session)
            if as_json:
                payload = plan_payload(session, plan)
            else:
                summary, figures = summarise(session, plan), dict(plan.figures)
        if as_json:
            common.print_json(payload)
        else:
            render_summary(summary)
            render_extras(figures)

    def run_what_if(path: Path) -> None:
        from aidpack.allocation.diff import what_if  # with the importers, which a plan alone does not need

        session = common.session_factory()()
        try:
            found = what_if(session, path=path, kind=what_if_kind, actor=common.cli_actor(),
                            include_proposed=include_proposed, time_limit=time_limit, stable=not reshuffle, fair=fair,
                            consumable_days=with_consumables or consumables,
                            with_consumables=with_consumables is not None)
        finally:
            session.rollback()
            session.close()
        if as_json:
            # The plan as `allocate --json` prints one, and what a what-if is for: the comparison.
            common.print_json({**found.payload, "compared_with": found.compared_with, "diff": found.diff})
            return
        common.console.print(f"[bold]What-if[/] ({path}): nothing was saved.")
        tiers = found.payload["tiers"]
        common.console.print(", ".join(
            f"{name} {_fmt(float(t['served']))} of {_fmt(float(t['people']))} people" for name, t in tiers.items()
        ))
        render_extras(found.figures)
        if found.diff is not None:
            render_diff(found.diff)
        else:
            common.console.print("No saved plan to compare with yet: `aidpack allocate` saves one.")

    common.guarded(run, as_json=as_json)


def show_command(
    plan: Annotated[str, typer.Argument(help="Plan id, or `latest`.")] = "latest",
    as_json: Annotated[bool, typer.Option("--json", help="Print the plan as one JSON object (SPEC §4).")] = False,
) -> None:
    """Show a saved plan (the latest by default)."""
    from aidpack.allocation.service import get_plan, plan_payload
    from aidpack.allocation.summary import summarise

    def run() -> None:
        with common.transaction() as session:
            found = get_plan(session, common.parse_plan_id(plan))
            if as_json:
                common.print_json(plan_payload(session, found))
            else:
                render_summary(summarise(session, found))

    common.guarded(run, as_json=as_json)


def diff_command(
    before: Annotated[
        str, typer.Argument(help="The earlier plan id, or `latest` (default: the plan before AFTER).")
    ] = "",
    after: Annotated[str, typer.Argument(help="The later plan id, or `latest`.")] = "latest",
    as_json: Annotated[bool, typer.Option("--json", help="Print the comparison as one JSON object.")] = False,
) -> None:
    """Compare two saved plans: units moved, tiers, and the needs that gain or lose coverage."""
    from aidpack.allocation.diff import diff_saved
    from aidpack.allocation.service import get_plan

    def run() -> None:
        with common.transaction() as session:
            # An empty A is the plan before B; `latest` names the latest plan itself.
            before_id = get_plan(session, None).id if before.strip().lower() == "latest" \
                else common.parse_plan_id(before)
            found = diff_saved(session, before_id=before_id, after_id=common.parse_plan_id(after))
            if as_json:
                common.print_json(found.as_dict())
            else:
                render_diff(found.as_dict())

    common.guarded(run, as_json=as_json)


def register(app: typer.Typer, plan_app: typer.Typer) -> None:
    app.command("allocate")(allocate_command)
    plan_app.command("show")(show_command)
    plan_app.command("diff")(diff_command)
