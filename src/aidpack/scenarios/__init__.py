"""Built-in scenarios shipped as package data, in the SPEC §3 folder format."""

from __future__ import annotations

from pathlib import Path

SCENARIOS_DIR = Path(__file__).parent
UKRAINE_WINTER_2022 = "ukraine-winter-2022"


def builtin_scenario(name: str = UKRAINE_WINTER_2022) -> Path:
    return SCENARIOS_DIR / name
