"""An independent checker of one allocation plan against its scenario files, from SPEC §3 and §4 alone.

It reads the scenario folder as the SPEC describes it (CSV or XLSX, an HXL hashtag row skipped, ``x_`` columns
ignored, empty optional cells "not given") and the plan object of ``aidpack allocate --json`` (or of
``aidpack plan show --json`` on a database), and re-derives every rule a plan must keep:

- a line sends units of a usable pledge (never withdrawn; proposed only when asked) whose item provides the need's
  capability; whole units for an indivisible item; no pledge sends more units than it has;
- ETA = max(available, plan date) + τ(hub, region), τ = 1 + ⌈1.3 × d / 500⌉ (d great-circle km on a 6371-km sphere)
  unless ``transit.csv`` overrides the pair; ETA ≤ deadline when the need has one;
- amount = units × factor; ``covered`` is what the lines bring, at most the quantity;
- every short need has a reason, and the reason is true of the data (``no_supply``: no usable pledge provides the
  capability; ``too_late``: some do, none in time, with the earliest ETA; ``outcompeted``: a feasible pledge's units
  went to the needs it names; ``short_supply``: every feasible pledge's units are on this need);
- no short need could take idle units of a feasible pledge for more people than the plan's gap allows, and no more
  than the gap of the plan's unit-days in transit are needless (units a covered need does not need; units a nearer
  idle pledge of the same item could send in time);
- ``people`` per tier is Σ s_n over the tier's needs (s_n: the need's people served, else its site's, else 1) and
  ``served`` is Σ s_n · covered / quantity.

Nothing here imports aidpack. Usage::

    python -m bench.stress.check SCENARIO_DIR PLAN.json        # the output of `aidpack allocate --json` ('-': stdin)
    python -m bench.stress.check SCENARIO_DIR --db URL [--plan ID] [--include-proposed]
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import math
import os
import subprocess
import sys
import tomllib
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

EARTH_RADIUS_KM = 6371.0
TIERS = ("critical", "high", "medium", "low")
REASONS = frozenset({"no_supply", "too_late", "outcompeted", "short_supply"})
KINDS = ("regions", "hubs", "catalogue", "donors", "sites", "needs", "pledges", "transit")
#: 1.3 × d / 500 closer than this to a whole number: float rounding of d may put ⌈·⌉ on either side.
CEIL_SLACK = 1e-9
#: No deadline, as a day ordinal later than any date.
NO_DEADLINE = 10**9

Rows = list[dict[str, str]]
IntArray = npt.NDArray[np.int64]


# --- reading the scenario (SPEC §3) ---------------------------------------------------------------------------


def _is_hxl(cells: Iterable[str]) -> bool:
    filled = [cell.strip() for cell in cells if cell.strip()]
    return bool(filled) and all(cell.startswith("#") for cell in filled)


def _rows(header: list[str], body: list[list[str]]) -> Rows:
    if body and _is_hxl(body[0]):
        body = body[1:]
    names = [name.strip() for name in header]
    return [dict(zip(names, (cell.strip() for cell in row), strict=False)) for row in body if any(row)]


def read_table(path: Path) -> Rows:
    """One CSV or XLSX file as rows of column -> text (HXL row skipped)."""
    if path.suffix.lower() == ".xlsx":
        import openpyxl

        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
        sheet = book.worksheets[0]
        cells = [["" if value is None else _cell_text(value) for value in row]
                 for row in sheet.iter_rows(values_only=True)]
        book.close()
    else:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            cells = list(csv.reader(handle))
    if not cells:
        return []
    return _rows(cells[0], cells[1:])


def _cell_text(value: object) -> str:
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def read_folder(folder: Path) -> tuple[dict[str, str], dict[str, Rows]]:
    """``scenario.toml``'s keys and every kind's rows (files whose name starts with the kind, in name order)."""
    meta_raw = tomllib.loads((folder / "scenario.toml").read_text(encoding="utf-8"))
    meta = {key: value.isoformat() if isinstance(value, dt.date) else str(value) for key, value in meta_raw.items()}
    tables: dict[str, Rows] = {}
    for kind in KINDS:
        rows: Rows = []
        for path in sorted(folder.iterdir()):
            if path.name.lower().startswith(kind) and path.suffix.lower() in (".csv", ".xlsx"):
                rows.extend(read_table(path))
        tables[kind] = rows
    return meta, tables


@dataclass(frozen=True)
class Item:
    code: str
    provides: str
    factor: float
    indivisible: bool


@dataclass(frozen=True)
class Need:
    ref: str
    region: str
    site: str | None
    capability: str
    quantity: float
    priority: str
    deadline: dt.date | None
    people_served: int | None


@dataclass(frozen=True)
class Pledge:
    ref: str
    donor: str
    item: str
    units: float
    available: dt.date | None
    hub: str
    status: str


@dataclass
class Scenario:
    name: str
    plan_date: dt.date
    regions: dict[str, tuple[float, float]]
    hubs: dict[str, tuple[float, float]]
    items: dict[str, Item]
    sites: dict[str, int | None]
    needs: list[Need]
    pledges: list[Pledge]
    transit: dict[tuple[str, str], int]

    def people(self, need: Need) -> int:
        """s_n: the need's people served, else its site's, else 1 (SPEC §3)."""
        if need.people_served is not None:
            return need.people_served
        site_people = self.sites.get(need.site) if need.site else None
        return 1 if site_people is None else site_people

    def usable(self, pledge: Pledge, include_proposed: bool) -> bool:
        return pledge.status == "confirmed" or (include_proposed and pledge.status == "proposed")


def _opt(row: Mapping[str, str], column: str) -> str | None:
    value = row.get(column, "")
    return value or None


def _date(text: str | None) -> dt.date | None:
    return None if text is None else dt.date.fromisoformat(text)


def _bool(text: str) -> bool:
    word = text.lower()
    if word in ("true", "yes", "1"):
        return True
    if word in ("false", "no", "0"):
        return False
    raise ValueError(f"not a boolean: {text!r}")


def scenario_from_tables(meta: Mapping[str, str], tables: Mapping[str, Rows]) -> Scenario:
    """The scenario as SPEC §3 reads it; a later row with the same ref/code replaces an earlier one."""
    people = {row["code"]: _opt(row, "people_served") for row in tables.get("sites", [])}
    needs = {
        row["ref"]: Need(
            ref=row["ref"], region=row["region"], site=_opt(row, "site"), capability=row["capability"],
            quantity=float(row["quantity"]), priority=row["priority"].lower(), deadline=_date(_opt(row, "deadline")),
            people_served=None if _opt(row, "people_served") is None else int(row["people_served"]),
        )
        for row in tables.get("needs", [])
    }
    pledges = {
        row["ref"]: Pledge(
            ref=row["ref"], donor=row["donor"], item=row["item"], units=float(row["units"]),
            available=_date(_opt(row, "available")), hub=row["hub"],
            status=(_opt(row, "status") or "confirmed").lower(),
        )
        for row in tables.get("pledges", [])
    }
    return Scenario(
        name=meta["name"],
        plan_date=dt.date.fromisoformat(meta["plan_date"]),
        regions={row["code"]: (float(row["lat"]), float(row["lon"])) for row in tables.get("regions", [])},
        hubs={row["code"]: (float(row["lat"]), float(row["lon"])) for row in tables.get("hubs", [])},
        items={
            row["code"]: Item(row["code"], row["provides"], float(row["factor"]), _bool(row["indivisible"]))
            for row in tables.get("catalogue", [])
        },
        sites={code: None if value is None else int(value) for code, value in people.items()},
        needs=list(needs.values()),
        pledges=list(pledges.values()),
        transit={(row["hub"], row["region"]): int(row["days"]) for row in tables.get("transit", [])},
    )


def load_scenario(folder: Path) -> Scenario:
    meta, tables = read_folder(folder)
    return scenario_from_tables(meta, tables)


# --- transit and candidate edges (SPEC §4) --------------------------------------------------------------------


def great_circle_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Haversine distance between two (lat, lon) points in degrees on a sphere of radius 6371 km."""
    lat1, lon1 = math.radians(a[0]), math.radians(a[1])
    lat2, lon2 = math.radians(b[0]), math.radians(b[1])
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def rule_days(km: float) -> tuple[int, int]:
    """τ by the default rule, as (nominal, other): they differ only where 1.3·d/500 is a whole number up to float
    rounding, where either is a faithful reading of the SPEC (a hub on the region's own point is 1 day, exactly)."""
    if km == 0:
        return 1, 1
    x = 1.3 * km / 500
    nominal = 1 + math.ceil(x)
    low, high = 1 + math.ceil(x - CEIL_SLACK), 1 + math.ceil(x + CEIL_SLACK)
    return nominal, high if low == nominal else low


@dataclass
class Transit:
    """τ for every hub × region (row = hub, column = region) and, where float rounding blurs ⌈·⌉, the other day."""

    hubs: list[str]
    regions: list[str]
    days: IntArray
    other: IntArray

    @classmethod
    def of(cls, scenario: Scenario) -> Transit:
        hubs, regions = sorted(scenario.hubs), sorted(scenario.regions)
        days = np.zeros((len(hubs), len(regions)), dtype=np.int64)
        other = np.zeros_like(days)
        for i, hub in enumerate(hubs):
            for j, region in enumerate(regions):
                override = scenario.transit.get((hub, region))
                if override is not None:
                    days[i, j] = other[i, j] = override
                else:
                    days[i, j], other[i, j] = rule_days(great_circle_km(scenario.hubs[hub], scenario.regions[region]))
        return cls(hubs, regions, days, other)

    def __post_init__(self) -> None:
        self.hub_at = {code: i for i, code in enumerate(self.hubs)}
        self.region_at = {code: j for j, code in enumerate(self.regions)}
        self.soonest = np.minimum(self.days, self.other)
        self.latest = np.maximum(self.days, self.other)

    def etas(self, start: dt.date, hub: str, region: str) -> set[dt.date]:
        i, j = self.hub_at[hub], self.region_at[region]
        return {start + dt.timedelta(days=int(self.days[i, j])), start + dt.timedelta(days=int(self.other[i, j]))}


@dataclass
class Supply:
    """Usable pledges grouped by the capability their item provides, as arrays (hub index, start day ordinal)."""

    pledges: dict[str, list[int]] = field(default_factory=dict)  # capability -> indices into scenario.pledges
    hub: dict[str, IntArray] = field(default_factory=dict)
    start: dict[str, IntArray] = field(default_factory=dict)

    @classmethod
    def of(cls, scenario: Scenario, transit: Transit, include_proposed: bool) -> Supply:
        hubs = transit.hub_at
        supply = cls()
        t = scenario.plan_date.toordinal()
        for index, pledge in enumerate(scenario.pledges):
            item = scenario.items.get(pledge.item)
            if item is None or not scenario.usable(pledge, include_proposed):
                continue
            supply.pledges.setdefault(item.provides, []).append(index)
        for capability, indices in supply.pledges.items():
            chosen = [scenario.pledges[i] for i in indices]
            supply.hub[capability] = np.array([hubs[p.hub] for p in chosen], dtype=np.int64)
            supply.start[capability] = np.array(
                [max(t, p.available.toordinal() if p.available else t) for p in chosen], dtype=np.int64)
        return supply


def _need_arrays(scenario: Scenario, transit: Transit) -> dict[str, tuple[list[int], IntArray, IntArray]]:
    regions = transit.region_at
    grouped: dict[str, list[int]] = defaultdict(list)
    for index, need in enumerate(scenario.needs):
        grouped[need.capability].append(index)
    out: dict[str, tuple[list[int], IntArray, IntArray]] = {}
    for capability, indices in grouped.items():
        region = np.array([regions[scenario.needs[i].region] for i in indices], dtype=np.int64)
        deadline = np.array(
            [d.toordinal() if (d := scenario.needs[i].deadline) else NO_DEADLINE for i in indices], dtype=np.int64)
        out[capability] = (indices, region, deadline)
    return out


@dataclass(frozen=True)
class Reach:
    """Per need (in scenario order): candidate edges into it and the earliest ETA ordinal (0 when no pledge)."""

    edges: IntArray
    earliest: IntArray
    matched: IntArray  # capability-matched pledges, in time or not

    @property
    def total(self) -> int:
        return int(self.edges.sum())


def reach(scenario: Scenario, *, include_proposed: bool = False, transit: Transit | None = None) -> Reach:
    """Candidate edges (capability-matched, deadline-feasible pledge × need pairs, SPEC §4) counted per need."""
    transit = transit or Transit.of(scenario)
    supply = Supply.of(scenario, transit, include_proposed)
    n = len(scenario.needs)
    edges = np.zeros(n, dtype=np.int64)
    earliest = np.zeros(n, dtype=np.int64)
    matched = np.zeros(n, dtype=np.int64)
    for capability, (indices, region, deadline) in _need_arrays(scenario, transit).items():
        if capability not in supply.pledges:
            continue
        where = np.array(indices, dtype=np.int64)
        hub, start = supply.hub[capability], supply.start[capability]
        count = np.zeros(len(indices), dtype=np.int64)
        best = np.full(len(indices), NO_DEADLINE, dtype=np.int64)
        for h in np.unique(hub):
            starts = np.sort(start[hub == h])
            tau = transit.days[h, region]
            count += np.searchsorted(starts, deadline - tau, side="right")
            best = np.minimum(best, starts[0] + tau)
        edges[where] = count
        earliest[where] = best
        matched[where] = len(hub)
    return Reach(edges, earliest, matched)


def candidate_edges(scenario: Scenario, *, include_proposed: bool = False) -> int:
    return reach(scenario, include_proposed=include_proposed).total


# --- checking a plan (SPEC §4) --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    code: str
    subject: str
    message: str


@dataclass
class Verdict:
    problems: list[Problem]
    lines: int
    needs: int
    short: int
    boundary_etas: int  # lines whose ETA sits where float rounding of the distance blurs the rule's ⌈·⌉
    unit_days: float = 0.0  # Σ τ·units over the plan's new lines (SPEC §4's last objective)
    saving: float = 0.0  # unit-days that moves keeping every need's cover would save (see transit_saving)

    @property
    def valid(self) -> bool:
        return not self.problems

    def codes(self) -> Counter[str]:
        return Counter(problem.code for problem in self.problems)

    def summary(self, examples: int = 3) -> str:
        head = (f"{self.lines} lines, {self.needs} needs ({self.short} short), "
                f"{self.boundary_etas} ETAs on a rounding boundary; {self.unit_days:.6g} unit-days in transit, "
                f"{self.saving:.6g} of them needless ({self.saving / max(self.unit_days, 1e-300):.2g})")
        if self.valid:
            return f"VALID: {head}"
        out = [f"INVALID: {len(self.problems)} problems; {head}"]
        for code, number in sorted(self.codes().items()):
            out.append(f"  {code}: {number}")
            out.extend(f"    {p.subject}: {p.message}" for p in [p for p in self.problems if p.code == code][:examples])
        return "\n".join(out)


def _close(a: float, b: float, rel: float = 1e-9, abs_: float = 1e-6) -> bool:
    return abs(a - b) <= abs_ + rel * max(abs(a), abs(b))


def _slack(quantity: float) -> float:
    """What a need may lack and still count as covered (amounts are exact to millionths)."""
    return 1e-6 + 1e-9 * abs(quantity)


class _Checker:
    def __init__(self, scenario: Scenario, plan: Mapping[str, Any], include_proposed: bool) -> None:
        self.sc = scenario
        self.plan = plan
        self.include_proposed = include_proposed
        self.problems: list[Problem] = []
        self.transit = Transit.of(scenario)
        self.needs = {need.ref: need for need in scenario.needs}
        self.pledges = {pledge.ref: pledge for pledge in scenario.pledges}
        self.pledge_index = {pledge.ref: i for i, pledge in enumerate(scenario.pledges)}
        self.boundary = 0
        self.brought: dict[str, float] = defaultdict(float)
        self.used: dict[str, float] = defaultdict(float)
        self.units_on: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))  # pledge -> need -> units

    def add(self, code: str, subject: str, message: str) -> None:
        self.problems.append(Problem(code, subject, message))

    def run(self) -> Verdict:
        status = self.plan.get("status")
        if status not in ("optimal", "time_limit"):
            self.add("status", str(self.plan.get("plan")), f"plan status {status!r}, not optimal or time_limit")
        plan_date = dt.date.fromisoformat(str(self.plan.get("plan_date", self.sc.plan_date.isoformat())))
        if plan_date != self.sc.plan_date:
            self.add("plan_date", str(plan_date), f"the scenario's plan date is {self.sc.plan_date}")
        gap = float(self.plan.get("gap") or 0.0)
        if status == "optimal" and gap > 1e-3:
            self.add("gap", str(gap), "an optimal plan proves a relative gap of at most 1e-3")
        lines = list(self.plan.get("lines", []))
        for line in lines:
            self.line(line, plan_date)
        for ref, used in self.used.items():
            pledge = self.pledges[ref]
            if used > pledge.units + 1e-9 * pledge.units + 1e-9:
                self.add("pledge_over", ref, f"lines send {used:g} units, the pledge has {pledge.units:g}")
        # An optimal plan proves its tiers to 1e-4 and its transit to 1e-3; any plan proves the gap it reports.
        short = self.needs_and_tiers(list(self.plan.get("needs", [])), gap)
        new = [line for line in lines if line.get("status", "proposed") == "proposed" and
               str(line.get("pledge")) in self.pledges and str(line.get("need")) in self.needs]
        unit_days, saving = self.transit_saving(new, plan_date)
        if saving > max(gap, 1e-3) * unit_days + 1e-9:
            self.add("transit_not_minimal", str(self.plan.get("plan")),
                     f"{saving:.6g} of {unit_days:.6g} unit-days could be saved with every need's cover kept: more "
                     f"than the plan's gap ({gap:.3g}) or the final objective's 1e-3 allows")
        return Verdict(self.problems, len(lines), len(self.sc.needs), short, self.boundary, unit_days, saving)

    def line(self, line: Mapping[str, Any], plan_date: dt.date) -> None:
        subject = f"line {line.get('id')} {line.get('pledge')}->{line.get('need')}"
        pledge, need = self.pledges.get(str(line.get("pledge"))), self.needs.get(str(line.get("need")))
        if pledge is None or need is None:
            self.add("unknown_ref", subject, "pledge or need not in the scenario")
            return
        units, amount = float(line["units"]), float(line["amount"])
        item = self.sc.items[pledge.item]
        self.used[pledge.ref] += units
        self.units_on[pledge.ref][need.ref] += units
        self.brought[need.ref] += amount
        if item.provides != need.capability:
            self.add("capability", subject,
                     f"{item.code} provides {item.provides}, the need asks for {need.capability}")
        if units <= 0:
            self.add("units", subject, f"{units:g} units")
        if item.indivisible and units != round(units):
            self.add("fractional_units", subject, f"{units!r} units of indivisible {item.code}")
        if pledge.status == "withdrawn":
            self.add("withdrawn_pledge", subject, "the pledge is withdrawn")
        elif pledge.status == "proposed" and not self.include_proposed:
            self.add("proposed_pledge", subject, "the pledge is only proposed and proposed pledges were not asked for")
        if not _close(amount, units * item.factor):
            self.add("amount", subject, f"amount {amount!r}, units × factor = {units * item.factor!r}")
        eta = dt.date.fromisoformat(str(line["eta"]))
        if line.get("status", "proposed") == "proposed":
            start = max(plan_date, pledge.available or plan_date)
            expected = self.transit.etas(start, pledge.hub, need.region)
            if eta not in expected:
                self.add("eta", subject, f"ETA {eta}, SPEC gives {' or '.join(map(str, sorted(expected)))} "
                         f"(start {start}, {pledge.hub} -> {need.region})")
            elif len(expected) > 1:
                self.boundary += 1
        if need.deadline is not None and eta > need.deadline:
            self.add("late", subject, f"ETA {eta} after the deadline {need.deadline}")

    def needs_and_tiers(self, rows: list[Mapping[str, Any]], gap: float) -> int:
        seen: dict[str, Mapping[str, Any]] = {}
        for row in rows:
            ref = str(row.get("ref"))
            if ref in seen:
                self.add("need_duplicate", ref, "listed twice")
            seen[ref] = row
        for ref in sorted(set(seen) - set(self.needs)):
            self.add("need_unknown", ref, "not a need of the scenario")
        people = dict.fromkeys(TIERS, 0.0)
        served = dict.fromkeys(TIERS, 0.0)
        short: list[Need] = []
        covered_of: dict[str, float] = {}
        for need in self.sc.needs:
            if need.ref not in seen:
                self.add("need_missing", need.ref, "an open need the plan does not list")
                continue
            row = seen[need.ref]
            s = self.sc.people(need)
            people[need.priority] += s
            if not _close(float(row["quantity"]), need.quantity):
                self.add("quantity", need.ref, f"plan says {row['quantity']}, the scenario {need.quantity:g}")
            covered = float(row["covered"])
            covered_of[need.ref] = covered
            brought = min(need.quantity, self.brought.get(need.ref, 0.0))
            if covered > need.quantity + _slack(need.quantity) or abs(covered - brought) > _slack(need.quantity):
                lines_bring = self.brought.get(need.ref, 0.0)
                self.add("covered", need.ref, f"covered {covered!r}; lines bring {lines_bring!r} of {need.quantity:g}")
            served[need.priority] += s * min(covered, need.quantity) / need.quantity
            if covered < need.quantity - _slack(need.quantity):
                short.append(need)
                reason = row.get("reason")
                if reason is None:
                    self.add("no_reason", need.ref, f"short ({covered:g} of {need.quantity:g}) without a reason")
                elif reason not in REASONS:
                    self.add("bad_reason", need.ref, f"reason {reason!r}")
        tiers = self.plan.get("tiers", {})
        for tier in TIERS:
            got = tiers.get(tier, {})
            if not _close(float(got.get("people", -1)), people[tier], rel=1e-9, abs_=1e-6):
                self.add("tier_people", tier, f"plan says {got.get('people')}, Σ s_n = {people[tier]:g}")
            if not _close(float(got.get("served", -1)), served[tier], rel=1e-6, abs_=1e-6):
                self.add("tier_served", tier,
                         f"plan says {got.get('served')}, Σ s_n·covered/quantity = {served[tier]!r}")
        self.reasons(short, seen, covered_of, served, people, gap)
        return len(short)

    def reasons(self, short: list[Need], rows: Mapping[str, Mapping[str, Any]], covered_of: Mapping[str, float],
                served: Mapping[str, float], people: Mapping[str, float], gap: float) -> None:
        """Each short need's reason against the data, and no idle feasible units it could have taken."""
        supply = Supply.of(self.sc, self.transit, self.include_proposed)
        regions = self.transit.region_at
        all_pledges = self.sc.pledges
        for need in short:
            row = rows[need.ref]
            reason, detail = row.get("reason"), row.get("detail") or {}
            indices = supply.pledges.get(need.capability, [])
            if not indices:
                if reason != "no_supply":
                    self.add("reason_wrong", need.ref, f"{reason}, but no usable pledge provides {need.capability}")
                continue
            start, hub, region = supply.start[need.capability], supply.hub[need.capability], regions[need.region]
            soonest = start + self.transit.soonest[hub, region]  # the two readings differ only on a rounding boundary
            latest = start + self.transit.latest[hub, region]
            limit = need.deadline.toordinal() if need.deadline else NO_DEADLINE
            feasible = [all_pledges[indices[k]].ref for k in np.flatnonzero(soonest <= limit)]
            if not feasible:
                earliest = dt.date.fromordinal(int(soonest.min()))
                if reason != "too_late":
                    self.add("reason_wrong", need.ref, f"{reason}, but no usable pledge arrives by {need.deadline} "
                             f"(earliest {earliest})")
                elif "earliest_eta" not in detail:
                    self.add("reason_detail", need.ref, "too_late without its earliest ETA")
                elif not int(soonest.min()) <= dt.date.fromisoformat(str(detail["earliest_eta"])).toordinal() \
                        <= int(latest.min()):
                    self.add("reason_detail", need.ref, f"earliest ETA {detail['earliest_eta']}, SPEC gives {earliest}")
                continue
            if reason in ("no_supply", "too_late") and bool((latest <= limit).any()):
                self.add("reason_wrong", need.ref, f"{reason}, but {len(feasible)} usable pledges reach it in time")
                continue
            sure = [all_pledges[indices[k]].ref for k in np.flatnonzero(latest <= limit)]

            def served_elsewhere(refs: list[str], need: Need = need) -> set[str]:
                return {other for ref in refs for other, units in self.units_on[ref].items()
                        if other != need.ref and units > 0}

            if reason == "short_supply" and (elsewhere := served_elsewhere(sure)):
                self.add("reason_wrong", need.ref,
                         f"short_supply, but feasible pledges also serve {sorted(elsewhere)[:3]}")
            elif reason == "outcompeted":
                taken = [str(ref) for ref in detail.get("taken_by", [])]
                elsewhere = served_elsewhere(feasible)
                if not elsewhere:
                    self.add("reason_wrong", need.ref, "outcompeted, but no feasible pledge sends units elsewhere")
                elif not taken or len(taken) > 3 or not set(taken) <= elsewhere:
                    self.add("reason_detail", need.ref, f"taken_by {taken}; needs that took its feasible pledges: "
                             f"{sorted(elsewhere)[:5]}")
            self.idle(need, sure, covered_of[need.ref], served, people, gap)

    def idle(self, need: Need, feasible: list[str], covered: float, served: Mapping[str, float],
             people: Mapping[str, float], gap: float) -> None:
        """Units of a feasible pledge nobody uses while this need is short: sending them serves more people."""
        spare = 0.0
        for ref in feasible:
            pledge = self.pledges[ref]
            item = self.sc.items[pledge.item]
            left = pledge.units - self.used.get(ref, 0.0)
            if item.indivisible:
                left = math.floor(left + 1e-9)
            if left > 1e-9 * max(1.0, pledge.units):
                spare += left * item.factor
        if spare <= 0:
            return
        lacking = need.quantity - covered
        gain = self.sc.people(need) * min(spare, lacking) / need.quantity
        # The gap is relative to the tier's bound, at most served / (1 - gap).
        relative = max(gap, 1e-4)
        allowed = relative / max(1.0 - relative, 1e-12) * served[need.priority] + 1e-9 * people[need.priority]
        if gain > allowed:
            self.add("idle_supply", need.ref, f"short by {lacking:g} while feasible pledges hold {spare:g} unused: "
                     f"{gain:g} more people served in {need.priority}, beyond the plan's gap")


    def transit_saving(self, lines: list[Mapping[str, Any]], plan_date: dt.date) -> tuple[float, float]:
        """Σ τ·units of the new lines, and a lower bound on what moves that keep every need's cover save:
        units a need does not need (it is brought more than its quantity even without them), then units moved to
        a nearer pledge of the same item whose units are idle and which reaches the need in time."""
        tau = {(line_key(line)): self._tau(line) for line in lines}
        unit_days = sum(tau[line_key(line)] * float(line["units"]) for line in lines)
        saving = 0.0
        units = {line_key(line): float(line["units"]) for line in lines}
        by_need: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for key in units:
            by_need[key[1]].append(key)
        for ref, keys in by_need.items():  # needless overshoot, farthest units first
            need = self.needs[ref]
            excess = self.brought.get(ref, 0.0) - need.quantity - _slack(need.quantity)
            for key in sorted(keys, key=lambda k: -tau[k]):
                item = self.sc.items[self.pledges[key[0]].item]
                drop = min(units[key], excess / item.factor)
                if item.indivisible:
                    drop = math.floor(drop + 1e-9)
                if drop > 0:
                    units[key] -= drop
                    excess -= drop * item.factor
                    saving += drop * tau[key]
        idle = {ref: p.units - self.used.get(ref, 0.0) for ref, p in self.pledges.items()
                if self.sc.usable(p, self.include_proposed) and p.units - self.used.get(ref, 0.0) > 1e-9}
        by_item: dict[str, list[str]] = defaultdict(list)
        for ref in idle:
            by_item[self.pledges[ref].item].append(ref)
        for key in sorted(units, key=lambda k: -tau[k] * units[k]):  # nearer idle units of the same item
            pledge, need = self.pledges[key[0]], self.needs[key[1]]
            for other in sorted(by_item.get(pledge.item, []), key=lambda ref: self._tau_to(ref, need)):
                gain = tau[key] - self._tau_to(other, need)
                start = max(plan_date, self.pledges[other].available or plan_date)
                eta = max(self.transit.etas(start, self.pledges[other].hub, need.region))
                if gain <= 0 or units[key] <= 1e-9:
                    break
                if idle[other] <= 1e-9 or (need.deadline is not None and eta > need.deadline):
                    continue
                moved = min(units[key], idle[other])
                if self.sc.items[pledge.item].indivisible:
                    moved = math.floor(moved + 1e-9)
                units[key] -= moved
                idle[other] -= moved
                saving += moved * gain
        return unit_days, saving

    def _tau_to(self, pledge_ref: str, need: Need) -> int:
        pledge = self.pledges[pledge_ref]
        return int(self.transit.days[self.transit.hub_at[pledge.hub], self.transit.region_at[need.region]])

    def _tau(self, line: Mapping[str, Any]) -> int:
        return self._tau_to(str(line["pledge"]), self.needs[str(line["need"])])


def line_key(line: Mapping[str, Any]) -> tuple[str, str]:
    return str(line["pledge"]), str(line["need"])


def check_plan(scenario: Scenario, plan: Mapping[str, Any], *, include_proposed: bool = False) -> Verdict:
    """Every SPEC §4 rule a plan must keep, re-derived from the scenario."""
    return _Checker(scenario, plan, include_proposed).run()


def plan_from_db(database_url: str, plan: str = "latest", *, aidpack: str | None = None) -> dict[str, Any]:
    """The saved plan as `aidpack plan show PLAN --json` prints it for this database."""
    command = aidpack or str(Path(sys.executable).with_name("aidpack"))
    env = {**os.environ, "AIDPACK_DATABASE_URL": database_url}
    done = subprocess.run([command, "plan", "show", plan, "--json"], env=env, capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        raise RuntimeError(f"aidpack plan show exited {done.returncode}: {done.stderr or done.stdout}")
    payload: dict[str, Any] = json.loads(done.stdout)
    return payload


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.stress.check", description=__doc__.split("\n\n")[0])
    parser.add_argument("scenario", type=Path, help="the scenario folder the plan was made from")
    parser.add_argument("plan_json", nargs="?", help="the output of `aidpack allocate --json` ('-' for stdin)")
    parser.add_argument("--db", help="read the saved plan from this database URL instead (aidpack plan show)")
    parser.add_argument("--plan", default="latest", help="with --db: the plan id (default: latest)")
    parser.add_argument("--include-proposed", action="store_true", help="the plan was made with --include-proposed")
    args = parser.parse_args(argv)
    if (args.plan_json is None) == (args.db is None):
        parser.error("give either PLAN_JSON or --db URL")
    if args.db is not None:
        plan = plan_from_db(args.db, args.plan)
    else:
        text = sys.stdin.read() if args.plan_json == "-" else Path(args.plan_json).read_text(encoding="utf-8")
        plan = json.loads(text)
    verdict = check_plan(load_scenario(args.scenario), plan, include_proposed=args.include_proposed)
    print(f"plan {plan.get('plan')} status {plan.get('status')} gap {plan.get('gap')}")
    print(verdict.summary())
    return 0 if verdict.valid else 1


if __name__ == "__main__":
    raise SystemExit(main())
