"""`aidpack allocate` and `aidpack plan show` (being written)."""

from __future__ import annotations

import typer


def register(app: typer.Typer, plan_app: typer.Typer) -> None:
    return None
