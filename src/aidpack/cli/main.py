"""The root ``aidpack`` command. Each domain module registers its own commands; no logic here."""

from __future__ import annotations

import typer

from aidpack.cli import common

app = typer.Typer(
    name="aidpack",
    help="Run an aid-package mechanism: needs, pledges, optimal allocation plans, deliveries, a trusted record.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
plan_app = typer.Typer(help="Read and decide allocation plans (the latest by default).", no_args_is_help=True)
app.add_typer(plan_app, name="plan")


@app.command()
def init() -> None:
    """Create or migrate the database (every other command does this too when needed)."""
    common.session_factory()
    common.console.print("database ready")


def _register() -> None:
    # Each module adds its commands to the root app (and to `plan` where they decide plans).
    from aidpack.cli import allocate, demo

    allocate.register(app, plan_app)
    demo.register(app, plan_app)
    from aidpack.cli import imports; imports.register(app, plan_app)  # noqa: E702, I001
    from aidpack.cli import audit, logistics  # noqa: I001

    logistics.register(app, plan_app)
    audit.register(app, plan_app)
    from aidpack.cli import serve, users  # noqa: I001

    users.register(app, plan_app)
    serve.register(app, plan_app)
    from aidpack.cli import export, report  # noqa: I001

    report.register(app, plan_app)
    export.register(app, plan_app)


_register()
