"""The kinds of scenario files, their columns and the order in which a folder (or a workbook's sheets) is imported."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    REGIONS = "regions"
    HUBS = "hubs"
    CATALOGUE = "catalogue"
    DONORS = "donors"
    ORGANISATIONS = "organisations"
    SITES = "sites"
    NEEDS = "needs"
    PLEDGES = "pledges"
    TRANSIT = "transit"


#: Dependency order: every kind refers only to kinds before it.
KIND_ORDER: tuple[Kind, ...] = tuple(Kind)

SCENARIO_FILE = "scenario.toml"
TABLE_SUFFIXES: tuple[str, ...] = (".csv", ".xlsx")

#: A workbook's sheet holding what scenario.toml holds (name, plan_date, description), as the xlsx export writes it.
SCENARIO_SHEET = "scenario"

#: Sheets the xlsx export writes that are output, not input: an import skips them with this reason.
OUTPUT_SHEETS: dict[str, str] = {
    "lines": "plan lines are what `aidpack allocate` makes and `aidpack plan accept` decides; "
    "import does not read them",
}

#: What the ``site`` cell of a need holds in an export that leaves its restricted site out (the HXL publication):
#: importing such a row keeps the need's site, notes and people served as they are. Never a site's code.
RESTRICTED_SITE = "[restricted]"

#: A file's kind is the start of its name: ``needs-update-3.csv`` holds needs.
_PREFIXES: tuple[tuple[str, Kind], ...] = (
    ("regions", Kind.REGIONS),
    ("region", Kind.REGIONS),
    ("hubs", Kind.HUBS),
    ("hub", Kind.HUBS),
    ("catalogue", Kind.CATALOGUE),
    ("catalog", Kind.CATALOGUE),
    ("donors", Kind.DONORS),
    ("donor", Kind.DONORS),
    ("organisations", Kind.ORGANISATIONS),
    ("organisation", Kind.ORGANISATIONS),
    ("organizations", Kind.ORGANISATIONS),
    ("organization", Kind.ORGANISATIONS),
    ("sites", Kind.SITES),
    ("site", Kind.SITES),
    ("needs", Kind.NEEDS),
    ("need", Kind.NEEDS),
    ("pledges", Kind.PLEDGES),
    ("pledge", Kind.PLEDGES),
    ("transit", Kind.TRANSIT),
)


def kind_of_name(file_name: str) -> Kind | None:
    """The kind a file name starts with (case-insensitive), or ``None``."""
    name = file_name.lower()
    for prefix, kind in _PREFIXES:
        if name.startswith(prefix):
            return kind
    return None


def parse_kind(text: str) -> Kind | None:
    """``--kind`` as the user typed it (a kind or one of its accepted spellings)."""
    word = text.strip().lower()
    for prefix, kind in _PREFIXES:
        if word == prefix:
            return kind
    return None


def sheet_word(title: str) -> str:
    """A sheet name's first word, lower-case: ``Needs 2022-12`` gives ``needs`` ('' when it starts with no letter)."""
    found = re.match(r"[a-z]+", title.strip().lower())
    return "" if found is None else found.group(0)


def kind_of_sheet(title: str) -> Kind | None:
    """The kind a sheet is named for (case-insensitive): the whole name or its first word, as ``--kind`` takes it."""
    return parse_kind(title) or parse_kind(sheet_word(title))


@dataclass(frozen=True)
class Columns:
    required: tuple[str, ...]
    optional: tuple[str, ...]

    @property
    def all(self) -> tuple[str, ...]:
        return self.required + self.optional


COLUMNS: dict[Kind, Columns] = {
    Kind.REGIONS: Columns(("code", "name", "lat", "lon"), ("name_local", "population")),
    Kind.HUBS: Columns(("code", "name", "lat", "lon"), ("country",)),
    Kind.CATALOGUE: Columns(
        ("code", "name", "category", "unit", "provides", "factor", "indivisible"),
        ("name_local", "unit_value_eur", "consumes"),
    ),
    Kind.DONORS: Columns(("code", "name"), ("kind", "country")),
    Kind.ORGANISATIONS: Columns(("code", "name"), ("kind", "country")),
    Kind.SITES: Columns(
        ("code", "name", "region"), ("kind", "people_served", "lat", "lon", "sensitivity", "org")
    ),
    Kind.NEEDS: Columns(
        ("ref", "region", "capability", "quantity", "priority"),
        ("site", "deadline", "people_served", "notes", "org"),
    ),
    Kind.PLEDGES: Columns(
        ("ref", "donor", "item", "units", "hub"), ("available", "channel", "status", "value_eur", "source")
    ),
    Kind.TRANSIT: Columns(("hub", "region", "days"), ()),
}

SCENARIO_KEYS = Columns(("name", "plan_date"), ("description",))


def key_column(kind: Kind) -> str:
    """The column that identifies a row of this kind (transit rows by their hub and region)."""
    if kind in (Kind.NEEDS, Kind.PLEDGES):
        return "ref"
    return "hub" if kind is Kind.TRANSIT else "code"
