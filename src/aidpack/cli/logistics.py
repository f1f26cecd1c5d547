"""Deciding plans and moving goods: `plan accept|reject`, `ship`, `deliver`, `receive`, `timeline`."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Annotated, Any

import typer

from aidpack.cli.common import cli_actor, console, fail, guarded, print_json, transaction
from aidpack.errors import ValidationFailed
from aidpack.logistics.conditions import Condition

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from aidpack.allocation.models import Line
    from aidpack.logistics.models import Shipment
    from aidpack.logistics.timeline import TimelineEntry

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of text.")]
LineOpt = Annotated[
    list[int] | None,
    typer.Option("--line", help="A line id of the plan (repeat for several).", show_default=False),
]
AllOpt = Annotated[bool, typer.Option("--all", help="Every proposed line of the plan.")]
PlanArg = Annotated[str, typer.Argument(help="A plan id, or `latest`.", show_default=False)]


def line_dict(line: Line) -> dict[str, Any]:
    return {
        "id": line.id,
        "plan": line.plan_id,
        "pledge": line.pledge.ref,
        "need": line.need.ref,
        "units": float(line.units),
        "amount": float(line.amount),
        "eta": line.eta.isoformat(),
        "status": line.status.value,
        "shipment": line.shipment_id,
        "received_units": None if line.received_units is None else float(line.received_units),
    }


def _selection(line: list[int] | None, take_all: bool) -> list[int] | None:
    if take_all and line:
        fail(ValidationFailed("give either --line IDs or --all, not both"))
    if not take_all and not line:
        fail(
            ValidationFailed(
                "name the lines to decide with --line ID (repeatable), or take them all with --all"
            )
        )
    return None if take_all else list(line or [])


def _decide(plan: str, line: list[int] | None, take_all: bool, as_json: bool, *, accept: bool) -> None:
    from aidpack.allocation.decisions import accept_lines, get_plan, reject_lines
    from aidpack.allocation.service import line_payload

    selected = _selection(line, take_all)
    verb = "accepted" if accept else "rejected"

    def run() -> tuple[int, list[dict[str, Any]]]:
        with transaction() as session:
            plan_id = get_plan(session, plan_ref=plan).id
            decide = accept_lines if accept else reject_lines
            lines = decide(session, actor=cli_actor(), plan_id=plan_id, line_ids=selected)
            return plan_id, [line_payload(x) for x in lines]

    plan_id, lines = guarded(run, as_json=as_json)
    if as_json:
        print_json({"plan": plan_id, verb: lines})
        return
    if not lines:
        console.print(f"plan {plan_id} has no proposed lines left to decide")
        return
    console.print(f"plan {plan_id}: {verb} {len(lines)} line(s)")
    for x in lines:
        console.print(
            f"  line {x['id']}: {x['units']:g} units of {x['pledge']} → {x['need']}"
            f" ({x['amount']:g}), ETA {x['eta']}",
            highlight=False,
        )


def accept(plan: PlanArg, line: LineOpt = None, take_all: AllOpt = False, as_json: JsonOpt = False) -> None:
    """Accept lines of a plan, reserving their pledges' units (exit 2 if the plan is stale)."""
    _decide(plan, line, take_all, as_json, accept=True)


def reject(plan: PlanArg, line: LineOpt = None, take_all: AllOpt = False, as_json: JsonOpt = False) -> None:
    """Reject proposed lines of a plan."""
    _decide(plan, line, take_all, as_json, accept=False)


def _shipment_dict(session: Session, shipment: Shipment) -> dict[str, Any]:
    from aidpack.logistics.service import discrepancies_of, shipment_lines

    lines = shipment_lines(session, shipment_id=shipment.id)
    return {
        "shipment": shipment.id,
        "status": shipment.status.value,
        "condition": None if shipment.condition is None else shipment.condition.value,
        "lines": [line_dict(x) for x in lines],
        "discrepancies": [
            {"id": d.id, "line": d.line_id, "units": float(d.units), "reason": d.reason}
            for d in discrepancies_of(session, shipment_id=shipment.id)
        ],
    }


def ship(
    lines: Annotated[list[int], typer.Argument(help="Accepted line ids of one donor.", show_default=False)],
    as_json: JsonOpt = False,
) -> None:
    """Dispatch accepted lines as one shipment; prints the shipment id."""
    from aidpack.logistics.service import ship_lines

    def run() -> dict[str, Any]:
        with transaction() as session:
            shipment = ship_lines(session, actor=cli_actor(), line_ids=lines, donor_org_id=None)
            return _shipment_dict(session, shipment)

    result = guarded(run, as_json=as_json)
    if as_json:
        print_json(
            {
                "shipment": result["shipment"],
                "lines": [x["id"] for x in result["lines"]],
                "status": result["status"],
            }
        )
        return
    ids = ", ".join(str(x["id"]) for x in result["lines"])
    console.print(f"shipment {result['shipment']} dispatched with lines {ids}", highlight=False)


def deliver(
    shipment: Annotated[int, typer.Argument(help="The shipment id.", show_default=False)],
    as_json: JsonOpt = False,
) -> None:
    """Mark a dispatched shipment as delivered (it awaits the recipient's receipt)."""
    from aidpack.logistics.service import mark_delivered

    def run() -> dict[str, Any]:
        with transaction() as session:
            return _shipment_dict(session, mark_delivered(session, actor=cli_actor(), shipment_id=shipment))

    result = guarded(run, as_json=as_json)
    if as_json:
        print_json(result)
        return
    console.print(f"shipment {result['shipment']} delivered", highlight=False)


def _received(line: list[int] | None, units: list[str] | None) -> dict[int, Decimal]:
    line, units = line or [], units or []
    if len(line) != len(units):
        fail(ValidationFailed(f"give --line and --units in pairs ({len(line)} --line, {len(units)} --units)"))
    result: dict[int, Decimal] = {}
    for line_id, text in zip(line, units, strict=True):
        if line_id in result:
            # The last one silently won: a typo in a line id put one line's count on another.
            fail(ValidationFailed(f"line {line_id} is given twice (--units {result[line_id]} and {text}): give each "
                                  "line once, with the units that arrived of it"))
        try:
            result[line_id] = Decimal(text)
        except InvalidOperation:
            fail(ValidationFailed(f"--units {text!r} for line {line_id} is not a number"))
    return result


def receive(
    shipment: Annotated[int, typer.Argument(help="The shipment id.", show_default=False)],
    line: Annotated[
        list[int] | None,
        typer.Option("--line", help="A line that did not arrive in full (pair with --units)."),
    ] = None,
    units: Annotated[
        list[str] | None, typer.Option("--units", help="Usable units received for the preceding --line.")
    ] = None,
    condition: Annotated[
        Condition, typer.Option("--condition", help="The shipment's condition on arrival.")
    ] = Condition.GOOD,
    as_json: JsonOpt = False,
) -> None:
    """Confirm receipt; lines not named arrived in full, units missing become a discrepancy.

    --units counts usable units. With --condition damaged, the named lines' other units arrived damaged
    (discrepancy reason `damaged`); with good, they are missing (reason `short`).
    """
    from aidpack.logistics.service import receive_shipment

    received = _received(line, units)

    def run() -> dict[str, Any]:
        with transaction() as session:
            done = receive_shipment(
                session,
                actor=cli_actor(),
                shipment_id=shipment,
                received=received,
                condition=condition,
                recipient_org_id=None,
            )
            return _shipment_dict(session, done)

    result = guarded(run, as_json=as_json)
    if as_json:
        print_json(result)
        return
    console.print(f"shipment {result['shipment']} received ({result['condition']})", highlight=False)
    for d in result["discrepancies"]:
        console.print(f"  discrepancy: line {d['line']} {d['units']:g} units {d['reason']}", highlight=False)


def _print_entries(entries: list[TimelineEntry]) -> None:
    for entry in entries:
        console.print(
            f"{entry.at.isoformat(timespec='seconds')}  {entry.action:<18} {entry.summary}  [{entry.actor}]",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )


def timeline_need(
    ref: Annotated[str, typer.Argument(help="The need's ref.", show_default=False)], as_json: JsonOpt = False
) -> None:
    """A need's history: import, plans, decisions, shipments, receipts, discrepancies."""
    from aidpack.logistics.status import need_status
    from aidpack.logistics.timeline import find_need, need_timeline

    def run() -> tuple[dict[str, Any], list[TimelineEntry]]:
        with transaction() as session:
            need = find_need(session, need_ref=ref)
            progress = need_status(session, need).to_dict()
            return progress, need_timeline(session, need.ref)

    progress, entries = guarded(run, as_json=as_json)
    if as_json:
        print_json({"need": progress["need"], "progress": progress, "events": [e.to_dict() for e in entries]})
        return
    console.print(
        f"need {progress['need']}: quantity {progress['quantity']:g}, open {progress['open']:g} — "
        f"commit {progress['commit_status']}, transit {progress['transit_status']}, "
        f"fulfil {progress['fulfil_status']}",
        highlight=False,
    )
    _print_entries(entries)


def timeline_pledge(
    ref: Annotated[str, typer.Argument(help="The pledge's ref.", show_default=False)],
    as_json: JsonOpt = False,
) -> None:
    """A pledge's history: announcement or import, plans, decisions, shipments, receipts."""
    from aidpack.audit.service import to_json_value
    from aidpack.logistics.timeline import find_pledge, pledge_timeline

    def run() -> tuple[dict[str, Any], list[TimelineEntry]]:
        with transaction() as session:
            pledge = find_pledge(session, pledge_ref=ref)
            head = {
                "pledge": pledge.ref,
                "donor": pledge.donor.code,
                "item": pledge.item.code,
                "units": to_json_value(pledge.units),
                "committed_units": to_json_value(pledge.committed_units),
                "status": pledge.status.value,
            }
            return head, pledge_timeline(session, pledge.ref)

    head, entries = guarded(run, as_json=as_json)
    if as_json:
        print_json({**head, "events": [e.to_dict() for e in entries]})
        return
    console.print(
        f"pledge {head['pledge']} ({head['donor']}): {head['units']} × {head['item']}, "
        f"{head['committed_units']} committed, {head['status']}",
        highlight=False,
    )
    _print_entries(entries)


def register(app: typer.Typer, plan_app: typer.Typer) -> None:
    plan_app.command("accept")(accept)
    plan_app.command("reject")(reject)
    app.command("ship")(ship)
    app.command("deliver")(deliver)
    app.command("receive")(receive)
    timeline_app = typer.Typer(
        help="The history of a need or a pledge, from the audit log.", no_args_is_help=True
    )
    timeline_app.command("need")(timeline_need)
    timeline_app.command("pledge")(timeline_pledge)
    app.add_typer(timeline_app, name="timeline")
