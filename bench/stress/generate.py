"""Seeded national-scale stress scenarios in the SPEC §3 folder format, in shapes the bench's generator never makes.

Written from SPEC §3/§4 alone (it neither reads nor imports ``bench/generate.py`` or aidpack). Regions (all 27),
hubs (all 42) and donors (NATO and G7 members, the EU, NATO's CAP, NGOs) are real (``bench/stress/data``);
needs and pledges are synthetic. Each shape is calibrated to a number of candidate edges: capability-matched,
deadline-feasible pairs of a confirmed pledge and a need, counted with the SPEC's transit rule by
:func:`bench.stress.check.reach` on the very rows that are written.

    python -m bench.stress.generate OUT_DIR --shape giant --edges 1.5e6 --seed 1

Shapes: see :mod:`bench.stress.shapes` and README.md.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import math
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from bench.stress.check import KINDS, Reach, Scenario, reach, scenario_from_tables

DATA = Path(__file__).with_name("data")
TIERS = ("critical", "high", "medium", "low")
STATUSES = ("confirmed", "proposed", "withdrawn")
#: An available/deadline offset meaning "the cell is empty".
EMPTY = -(10**6)

Rng = np.random.Generator
IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
StrArray = npt.NDArray[np.str_]


# --- the real reference data ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Region:
    code: str
    name: str
    name_local: str
    population: int | None
    lat: str
    lon: str


@dataclass(frozen=True)
class Hub:
    code: str
    name: str
    country: str
    lat: str
    lon: str
    kind: str


@dataclass(frozen=True)
class Donor:
    code: str
    name: str
    kind: str
    country: str
    weight: float


@dataclass(frozen=True)
class Reference:
    regions: tuple[Region, ...]
    hubs: tuple[Hub, ...]
    donors: tuple[Donor, ...]
    hs: tuple[tuple[str, str], ...]
    sources: tuple[str, ...]


def _slug(text: str) -> str:
    plain = text.replace("ł", "l").replace("Ł", "L")  # no decomposition in Unicode
    ascii_text = unicodedata.normalize("NFKD", plain).encode("ascii", "ignore").decode()
    return "".join(ch for ch in ascii_text.upper() if ch.isalnum())


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


#: Donor weights for pledges: the large bilateral donors of winter 2022/23 weigh most; others 1.
_DONOR_WEIGHT = {"US": 12.0, "DE": 10.0, "GB": 5.0, "FR": 5.0, "PL": 6.0, "CA": 3.0, "JP": 3.0, "IT": 3.0,
                 "NL": 3.0, "NO": 3.0, "DK": 2.0, "LT": 2.0, "CZ": 2.0, "RO": 2.0, "SK": 2.0, "EU": 9.0,
                 "NATO-CAP": 6.0}
_NGOS = (
    ("IFRC", "International Federation of Red Cross and Red Crescent Societies", "ngo", "CH"),
    ("ICRC", "International Committee of the Red Cross", "ngo", "CH"),
    ("MSF", "Médecins Sans Frontières", "ngo", "CH"),
    ("CARITAS", "Caritas Internationalis", "ngo", "VA"),
    ("SAVE-THE-CHILDREN", "Save the Children International", "ngo", "GB"),
    ("CARE", "CARE International", "ngo", "CH"),
    ("MERCY-CORPS", "Mercy Corps", "ngo", "US"),
    ("DIRECT-RELIEF", "Direct Relief", "ngo", "US"),
    ("PROJECT-HOPE", "Project HOPE", "ngo", "US"),
    ("RAZOM", "Razom for Ukraine", "ngo", "US"),
    ("NOVA-UKRAINE", "Nova Ukraine", "ngo", "US"),
    ("WCK", "World Central Kitchen", "ngo", "US"),
    ("UESF", "Ukraine Energy Support Fund (Energy Community Secretariat)", "multilateral", "AT"),
    ("DIASPORA-FUND", "Ukrainian diaspora winter fund (synthetic)", "private", ""),
)


def load_reference(data: Path = DATA) -> Reference:
    regions = tuple(
        Region(row["iso_3166_2"], row["name_en"], row["name_uk"],
               int(row["population_2022_01_01"]) if row["population_2022_01_01"] else None,
               row["capital_lat"], row["capital_lon"])
        for row in _read(data / "ukraine_adm1_attributes.csv"))
    hubs = []
    for row in _read(data / "logistics_hubs.csv"):
        scheme, _, ident = row["hub_id"].partition(":")
        code = ident if scheme == "IATA" else _slug(row["name"])
        hubs.append(Hub(code, row["name"], row["country_iso2"], row["lat"], row["lon"], row["kind"]))
    assert len({hub.code for hub in hubs}) == len(hubs), "hub codes must be unique"
    donors = [Donor(row["iso2"], row["name"], "state", row["iso2"], _DONOR_WEIGHT.get(row["iso2"], 1.0))
              for row in _read(data / "nato_members.csv") if row["member_winter_2022_23"] == "1"]
    for row in _read(data / "g7_members.csv"):
        if row["iso2"] == "JP":
            donors.append(Donor("JP", row["name"], "state", "JP", _DONOR_WEIGHT["JP"]))
    donors.append(Donor("EU", "European Union (European Commission, UCPM and rescEU)", "multilateral", "",
                        _DONOR_WEIGHT["EU"]))
    donors.append(Donor("NATO-CAP", "NATO Comprehensive Assistance Package for Ukraine", "multilateral", "",
                        _DONOR_WEIGHT["NATO-CAP"]))
    donors.extend(Donor(code, name, kind, country, 1.5) for code, name, kind, country in _NGOS)
    hs = tuple((row["hscode"], row["description"]) for row in _read(data / "hs2022_level6.csv"))
    sources = tuple(sorted({row["source_url"] for row in _read(data / "energy_assistance_events_2022_2024.csv")
                            if row["source_url"]}))
    return Reference(regions, tuple(hubs), tuple(donors), hs, sources)


# --- what a shape declares ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Item:
    code: str
    name: str
    category: str
    unit: str
    provides: str
    factor: str  # as written: exact decimal text
    indivisible: bool
    value_eur: float | None = None
    name_local: str = ""
    hs2022: str = ""


@dataclass(frozen=True)
class Cap:
    """A capability needs ask for and the items (with their weight among pledges) that provide it."""

    code: str
    share: float  # of the shape's needs
    median: float  # need quantity, lognormal
    sigma: float
    low: float
    high: float
    items: tuple[tuple[str, float], ...]
    supply: tuple[float, float]  # supply / demand, drawn per capability
    decimals: int = 0  # need quantity decimals (0: whole)
    units_median: float | None = None  # units per pledge; None: pledges_per_need sets the pledge count


@dataclass
class Shape:
    name: str
    summary: str
    plan_date: dt.date
    caps: list[Cap]
    catalogue: list[Item]
    pledges_per_need: float  # P_c / N_c (with units_median: only the first guess of the size)
    #: (rng, region codes) -> day offsets from the plan date, EMPTY for no deadline.
    deadline: Callable[[Rng, StrArray], IntArray]
    #: (rng, n) -> day offsets of availability, EMPTY for an empty cell.
    available: Callable[[Rng, int], IntArray]
    #: (rng, region codes) -> tiers.
    priority: Callable[[Rng, StrArray], StrArray]
    region_weight: Callable[[Region], float]
    hub_weight: Callable[[Hub], float]
    status: tuple[float, float, float] = (0.96, 0.0, 0.04)  # confirmed, proposed, withdrawn
    sites: bool = False
    people_median: float = 800.0
    transit: Callable[[Reference, Rng], list[tuple[str, str, int]]] | None = None
    no_supply: tuple[str, ...] = ()  # capabilities no item provides (a few needs each)
    hxl: frozenset[str] = frozenset()  # files with an HXL hashtag row
    xlsx: frozenset[str] = frozenset()  # files written as .xlsx
    extras: dict[str, tuple[str, ...]] = field(default_factory=dict)  # x_ columns per file
    first_guess: float = 0.3  # feasible share of matched pairs, for the first size guess


@dataclass
class Table:
    columns: list[str]
    rows: list[list[str]]
    hxl: list[str] | None = None
    xlsx: bool = False

    def dicts(self) -> list[dict[str, str]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


# --- shared cell helpers --------------------------------------------------------------------------------------


def number(value: float, decimals: int) -> str:
    """Exact decimal text with at most ``decimals`` places and no trailing zeros."""
    if decimals <= 0:
        return str(int(round(value)))
    text = f"{value:.{decimals}f}".rstrip("0").rstrip(".")
    return text or "0"


def day(plan_date: dt.date, offset: int) -> str:
    return "" if offset == EMPTY else (plan_date + dt.timedelta(days=int(offset))).isoformat()


def pick(rng: Rng, values: Sequence[str], weights: Sequence[float], n: int) -> StrArray:
    p = np.asarray(weights, dtype=np.float64)
    chosen: StrArray = np.asarray(values)[rng.choice(len(values), size=n, p=p / p.sum())]
    return chosen


def lognormal(rng: Rng, n: int, median: float, sigma: float, low: float, high: float) -> FloatArray:
    values: FloatArray = np.clip(rng.lognormal(math.log(median), sigma, size=n), low, high)
    return values


def default_region_weight(region: Region) -> float:
    """Population, with the winter-2022 situation: occupied Crimea and Sevastopol barely reachable, most of
    Luhansk occupied, the front-line oblasts and liberated Kherson and Mykolaiv (no mains water) in more need."""
    base = float(region.population or 60_000)
    factor = {"UA-09": 0.15, "UA-14": 0.6, "UA-65": 1.6, "UA-48": 1.4, "UA-63": 1.3, "UA-30": 1.2,
              "UA-43": 1.0, "UA-40": 1.0}.get(region.code, 1.0)
    return base * factor


def default_hub_weight(hub: Hub) -> float:
    """Rzeszów-Jasionka carries most, then the Polish and Romanian corridors; hubs inside Ukraine few."""
    if hub.code == "RZE":
        return 12.0
    return {"PL": 3.0, "RO": 2.0, "SK": 1.5, "HU": 1.0, "MD": 0.8, "UA": 0.6}.get(hub.country, 1.0)


# --- building one scenario ------------------------------------------------------------------------------------


class Builder:
    """One draw of a shape at one size (``size`` needs, roughly): every file's rows."""

    def __init__(self, shape: Shape, reference: Reference, rng: Rng, size: float) -> None:
        self.shape, self.ref, self.rng = shape, reference, rng
        self.n_needs = max(len(shape.caps), int(round(size)))
        self.tables: dict[str, Table] = {}
        self.demand: dict[str, float] = {}  # capability -> Σ need quantities
        self.need_count: dict[str, int] = {}

    def build(self) -> dict[str, Table]:
        self.regions()
        self.hubs()
        self.donors()
        self.catalogue()
        sites = self.sites() if self.shape.sites else {}
        self.needs(sites)
        self.pledges()
        if self.shape.transit is not None:
            rows = self.shape.transit(self.ref, self.rng)
            self.tables["transit"] = Table(["hub", "region", "days"], [[h, r, str(d)] for h, r, d in rows])
        for name, table in self.tables.items():
            table.xlsx = name in self.shape.xlsx
        return self.tables

    def _table(self, name: str, columns: list[str], rows: list[list[str]], hxl: list[str]) -> None:
        extra = list(self.shape.extras.get(name, ()))
        if extra:
            columns = columns + extra
            rows = [row + [self._extra(name, column, row) for column in extra] for row in rows]
            hxl = hxl + ["" for _ in extra]
        self.tables[name] = Table(columns, rows, hxl if name in self.shape.hxl else None)

    def _extra(self, name: str, column: str, row: list[str]) -> str:
        """An ``x_`` column the importer must ignore: a coordinator's own notes, sometimes empty."""
        draw = self.rng.random()
        if draw < 0.3:
            return ""
        if column == "x_source_row":
            return str(int(self.rng.integers(2, 60_000)))
        if column == "x_reported_by":
            return f"OVA {row[1]}" if name == "needs" else "coordination cell"
        if column == "x_announced":
            return (self.shape.plan_date - dt.timedelta(days=int(self.rng.integers(0, 40)))).isoformat()
        if column == "x_checked":
            return "yes" if draw < 0.8 else "no"
        return "see coordination sheet, tab 2"

    def regions(self) -> None:
        rows = [[r.code, r.name, r.name_local, "" if r.population is None else str(r.population), r.lat, r.lon]
                for r in self.ref.regions]
        self._table("regions", ["code", "name", "name_local", "population", "lat", "lon"], rows,
                    ["#adm1+code", "#adm1+name", "#adm1+name+i_uk", "#population", "#geo+lat", "#geo+lon"])

    def hubs(self) -> None:
        rows = [[h.code, h.name, h.country, h.lat, h.lon] for h in self.ref.hubs]
        self._table("hubs", ["code", "name", "country", "lat", "lon"], rows,
                    ["#loc+code", "#loc+name", "#country+code", "#geo+lat", "#geo+lon"])

    def donors(self) -> None:
        rows = [[d.code, d.name, d.kind, d.country] for d in self.ref.donors]
        self._table("donors", ["code", "name", "kind", "country"], rows,
                    ["#org+code", "#org+name", "#org+type", "#country+code"])

    def catalogue(self) -> None:
        rows = [[i.code, i.name, i.name_local, i.category, i.unit, i.provides, i.factor,
                 "true" if i.indivisible else "false", "" if i.value_eur is None else number(i.value_eur, 2)]
                for i in self.shape.catalogue]
        columns = ["code", "name", "name_local", "category", "unit", "provides", "factor", "indivisible",
                   "unit_value_eur"]
        self._table("catalogue", columns, rows, ["#item+code", "#item+name", "#item+name+i_uk", "#sector",
                                                 "#item+unit", "#capability", "#factor", "#indivisible", "#value"])
        if "x_hs2022" in self.shape.extras.get("catalogue", ()):
            at = self.tables["catalogue"].columns.index("x_hs2022")
            for row, item in zip(self.tables["catalogue"].rows, self.shape.catalogue, strict=True):
                row[at] = item.hs2022

    def sites(self) -> dict[str, list[tuple[str, int | None]]]:
        """Facilities per region: (code, people served); warehouses serve nobody directly (empty cell)."""
        kinds = (("HOSP", "hospital", 40_000, 0.2), ("HP", "heating_point", 900, 0.35),
                 ("WPS", "water_pumping_station", 120_000, 0.1), ("CHP", "heating_plant", 180_000, 0.05),
                 ("SHEL", "shelter", 350, 0.2), ("WH", "warehouse", 0, 0.1))
        weights = np.array([self.shape.region_weight(r) for r in self.ref.regions])
        n_sites = max(27, self.n_needs // 5)
        per_region = np.maximum(1, np.round(n_sites * weights / weights.sum()).astype(np.int64))
        out: dict[str, list[tuple[str, int | None]]] = {}
        rows: list[list[str]] = []
        for region, count in zip(self.ref.regions, per_region, strict=True):
            abbr = region.code.replace("-", "")
            short = region.name.replace(" Oblast", "")
            kind_at = self.rng.choice(len(kinds), size=int(count), p=[k[3] for k in kinds])
            for seq, k in enumerate(kind_at, start=1):
                tag, kind, median, _ = kinds[int(k)]
                code = f"{abbr}-{tag}-{seq:04d}"
                people = None if median == 0 else int(lognormal(self.rng, 1, median, 0.9, 20, 3_000_000)[0])
                lat = float(region.lat) + float(self.rng.uniform(-0.6, 0.6))
                lon = float(region.lon) + float(self.rng.uniform(-0.9, 0.9))
                sensitivity = "public" if kind in ("heating_point", "shelter") and self.rng.random() < 0.5 \
                    else ("restricted" if self.rng.random() < 0.9 else "")
                rows.append([code, f"{short} {kind.replace('_', ' ')} No. {seq}", region.code, kind,
                             "" if people is None else str(people), f"{lat:.5f}", f"{lon:.5f}", sensitivity])
                out.setdefault(region.code, []).append((code, people))
        self._table("sites", ["code", "name", "region", "kind", "people_served", "lat", "lon", "sensitivity"],
                    rows, ["#loc+code", "#loc+name", "#adm1+code", "#loc+type", "#affected", "#geo+lat",
                           "#geo+lon", "#meta+sensitivity"])
        return out

    def needs(self, sites: dict[str, list[tuple[str, int | None]]]) -> None:
        shape, rng = self.shape, self.rng
        shares = np.array([cap.share for cap in shape.caps])
        counts = np.maximum(1, np.round(self.n_needs * shares / shares.sum()).astype(np.int64))
        rows: list[list[str]] = []
        region_codes = [r.code for r in self.ref.regions]
        region_weights = [shape.region_weight(r) for r in self.ref.regions]
        n_short = max(1, self.n_needs // 400) if shape.no_supply else 0
        plan: list[tuple[str, int, float, float, float, float, int]] = [
            (cap.code, int(c), cap.median, cap.sigma, cap.low, cap.high, cap.decimals)
            for cap, c in zip(shape.caps, counts, strict=True)]
        plan += [(code, n_short, 2.0, 0.5, 1, 10, 0) for code in shape.no_supply]
        for code, count, median, sigma, low, high, decimals in plan:
            regions = pick(rng, region_codes, region_weights, count)
            quantity = lognormal(rng, count, median, sigma, low, high)
            deadline = shape.deadline(rng, regions)
            priority = shape.priority(rng, regions)
            texts = [number(q, decimals) for q in quantity]
            texts = [t if float(t) > 0 else number(max(low, 10.0**-decimals), decimals) for t in texts]
            self.demand[code] = sum(float(t) for t in texts)
            self.need_count[code] = count
            for i in range(count):
                site, people = self._site_and_people(sites, str(regions[i]))
                rows.append([f"N-{len(rows) + 1:06d}", str(regions[i]), site, code, texts[i], str(priority[i]),
                             day(shape.plan_date, int(deadline[i])), people, ""])
        order = rng.permutation(len(rows))  # needs arrive mixed, as from many oblast administrations
        rows = [rows[i] for i in order]
        for seq, row in enumerate(rows, start=1):
            row[0] = f"N-{seq:06d}"
            if rng.random() < 0.02:
                row[8] = "after the strike; outages up to 12 h a day"
        columns = ["ref", "region", "site", "capability", "quantity", "priority", "deadline", "people_served",
                   "notes"]
        self._table("needs", columns, rows, ["#meta+ref", "#adm1+code", "#loc+code", "#item+type", "#item+needed",
                                             "#priority", "#date+deadline", "#affected", "#description"])

    def _site_and_people(self, sites: dict[str, list[tuple[str, int | None]]], region: str) -> tuple[str, str]:
        draw = self.rng.random()
        if sites and region in sites and draw < 0.85:
            code, site_people = sites[region][int(self.rng.integers(len(sites[region])))]
            if site_people is None or draw < 0.25:  # a warehouse restock, or a part of the site's population
                return code, str(int(lognormal(self.rng, 1, self.shape.people_median, 1.0, 1, 2_000_000)[0]))
            return code, ""  # people served: the site's
        if draw < 0.9:
            return "", str(int(lognormal(self.rng, 1, self.shape.people_median, 1.2, 1, 3_000_000)[0]))
        return "", ""  # people served defaults to 1

    def pledges(self) -> None:
        shape, rng = self.shape, self.rng
        items = {item.code: item for item in shape.catalogue}
        donors = [d.code for d in self.ref.donors]
        donor_weights = [d.weight for d in self.ref.donors]
        kind = {d.code: d.kind for d in self.ref.donors}
        hubs = [h.code for h in self.ref.hubs]
        hub_weights = [shape.hub_weight(h) for h in self.ref.hubs]
        rows: list[list[str]] = []
        for cap in shape.caps:
            demand = self.demand.get(cap.code, 0.0)
            ratio = float(rng.uniform(*cap.supply))
            codes = [code for code, _ in cap.items]
            item_weights = [w for _, w in cap.items]
            mean_factor = sum(float(items[c].factor) * w for c, w in cap.items) / sum(item_weights)
            if cap.units_median is None:
                n = max(1, int(round(shape.pledges_per_need * self.need_count.get(cap.code, 0))))
            else:
                n = max(1, int(round(ratio * demand / (mean_factor * cap.units_median * 1.15))))
            chosen = pick(rng, codes, item_weights, n)
            weight = rng.lognormal(0.0, 0.8, size=n)
            factor = np.array([float(items[str(c)].factor) for c in chosen])
            units = ratio * demand * weight / weight.sum() / factor
            available = shape.available(rng, n)
            status = pick(rng, STATUSES, shape.status, n)
            donor = pick(rng, donors, donor_weights, n)
            hub = pick(rng, hubs, hub_weights, n)
            for i in range(n):
                item = items[str(chosen[i])]
                text = str(max(1, int(round(units[i])))) if item.indivisible else number(max(units[i], 0.001), 3)
                value = "" if item.value_eur is None or rng.random() < 0.3 else number(float(text) * item.value_eur, 2)
                channel = {"multilateral": "eu-ucpm" if donor[i] == "EU" else "nato-cap",
                           "state": "nato-cap" if rng.random() < 0.2 else "bilateral"}.get(kind[str(donor[i])], "other")
                source = self.ref.sources[int(rng.integers(len(self.ref.sources)))] if rng.random() < 0.3 else ""
                cell_status = "" if status[i] == "confirmed" and rng.random() < 0.5 else str(status[i])
                rows.append([str(donor[i]), item.code, text, day(shape.plan_date, int(available[i])), str(hub[i]),
                             channel, cell_status, value, source])
        order = rng.permutation(len(rows))
        numbered: list[list[str]] = []
        seen: dict[str, int] = {}
        for i in order:
            row = rows[int(i)]
            seen[row[0]] = seen.get(row[0], 0) + 1
            numbered.append([f"P-{row[0]}-{seen[row[0]]:05d}", *row])
        columns = ["ref", "donor", "item", "units", "available", "hub", "channel", "status", "value_eur", "source"]
        self._table("pledges", columns, numbered, ["#meta+ref", "#org+code", "#item+code", "#item+units",
                                                   "#date+available", "#loc+hub", "#channel", "#status",
                                                   "#value+eur", "#meta+source"])


def scenario_of(shape: Shape, tables: dict[str, Table]) -> Scenario:
    meta = {"name": f"stress-{shape.name}", "plan_date": shape.plan_date.isoformat()}
    return scenario_from_tables(meta, {name: table.dicts() for name, table in tables.items()})


@dataclass
class Result:
    shape: Shape
    seed: int
    target: float
    tables: dict[str, Table]
    scenario: Scenario
    reach: Reach
    edges_with_proposed: int

    def manifest(self) -> dict[str, object]:
        pledges = self.scenario.pledges
        return {
            "shape": self.shape.name, "seed": self.seed, "target_edges": self.target, "edges": self.reach.total,
            "edges_with_proposed": self.edges_with_proposed, "needs": len(self.scenario.needs),
            "pledges": len(pledges),
            "pledges_by_status": {s: sum(p.status == s for p in pledges) for s in STATUSES},
            "capabilities": len({n.capability for n in self.scenario.needs}), "items": len(self.scenario.items),
            "sites": len(self.scenario.sites), "transit_overrides": len(self.scenario.transit),
            "plan_date": self.scenario.plan_date.isoformat(), "summary": self.shape.summary,
        }


def calibrate(shape: Shape, reference: Reference, *, edges: float, seed: int, index: int) -> Result:
    """Draw the shape at the size whose candidate edges come nearest ``edges`` (within 5 %, or the best of 8
    draws). Every draw starts from the same seed, so the result depends on (shape, edges, seed) alone."""
    shares = np.array([cap.share for cap in shape.caps])
    concentration = float(((shares / shares.sum()) ** 2).sum())
    per_need_squared = concentration * shape.pledges_per_need * shape.status[0] * shape.first_guess
    size = min(edges, math.sqrt(edges / max(per_need_squared, 1e-9)))
    best: Result | None = None
    tolerance = 0.05 if edges >= 1e5 else 0.15
    for _ in range(8):
        rng = np.random.default_rng([seed, index])
        tables = Builder(shape, reference, rng, size).build()
        scenario = scenario_of(shape, tables)
        got = reach(scenario)
        result = Result(shape, seed, edges, tables, scenario, got, 0)
        if best is None or abs(math.log(max(got.total, 1) / edges)) < abs(math.log(max(best.reach.total, 1) / edges)):
            best = result
        if abs(got.total / edges - 1) <= tolerance:
            break
        size *= math.sqrt(edges / max(got.total, 1)) ** 0.9
    assert best is not None
    best.edges_with_proposed = reach(best.scenario, include_proposed=True).total
    return best


def write(result: Result, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for path in out.iterdir():  # a stale file of another draw would be imported with these
        if path.is_file() and (path.name in ("scenario.toml", "stress.json") or (
                path.suffix in (".csv", ".xlsx") and path.name.startswith(KINDS))):
            path.unlink()
    shape = result.shape
    description = shape.summary.replace('"', "'")
    (out / "scenario.toml").write_text(
        f'name = "stress-{shape.name}"\nplan_date = {shape.plan_date.isoformat()}\ndescription = "{description}"\n',
        encoding="utf-8")
    for name, table in result.tables.items():
        if table.xlsx:
            _write_xlsx(out / f"{name}.xlsx", table)
        else:
            with (out / f"{name}.csv").open("w", encoding="utf-8", newline="") as handle:
                writer = csv.writer(handle, lineterminator="\n")
                writer.writerow(table.columns)
                if table.hxl is not None:
                    writer.writerow(table.hxl)
                writer.writerows(table.rows)
    (out / "stress.json").write_text(json.dumps(result.manifest(), indent=2) + "\n", encoding="utf-8")


def _write_xlsx(path: Path, table: Table) -> None:
    import openpyxl

    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet(path.stem)
    sheet.append(table.columns)
    if table.hxl is not None:
        sheet.append(table.hxl)
    for row in table.rows:
        sheet.append(row)
    book.save(path)
    _pin_xlsx(path)


def _pin_xlsx(path: Path) -> None:
    """The same bytes for the same seed: the zip entries' times and the workbook's created/modified stamps fixed."""
    import re
    import zipfile

    with zipfile.ZipFile(path) as source:
        entries = [(info.filename, source.read(info)) for info in source.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for name, data in entries:
            if name == "docProps/core.xml":
                data = re.sub(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", b"2022-11-29T00:00:00Z", data)
            target.writestr(zipfile.ZipInfo(name, date_time=(2022, 11, 29, 0, 0, 0)), data,
                            compress_type=zipfile.ZIP_DEFLATED)


def generate(out: Path, *, shape: str, edges: float = 1.5e6, seed: int = 1, data: Path = DATA) -> dict[str, object]:
    """Write one shape's scenario folder to ``out``; returns its manifest (also written as ``stress.json``)."""
    from bench.stress.shapes import SHAPES

    names = list(SHAPES)
    if shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r}; one of {', '.join(names)}")
    reference = load_reference(data)
    result = calibrate(SHAPES[shape](reference), reference, edges=edges, seed=seed, index=names.index(shape))
    write(result, out)
    return result.manifest()


def main(argv: list[str] | None = None) -> int:
    from bench.stress.shapes import SHAPES

    parser = argparse.ArgumentParser(prog="python -m bench.stress.generate", description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="the scenario folder to write (our files in it are replaced)")
    parser.add_argument("--shape", required=True, choices=list(SHAPES))
    parser.add_argument("--edges", type=float, default=1.5e6, help="candidate edges to calibrate to (default 1.5e6)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--data", type=Path, default=DATA, help="the reference data folder (default: bundled)")
    args = parser.parse_args(argv)
    manifest = generate(args.out, shape=args.shape, edges=args.edges, seed=args.seed, data=args.data)
    print(json.dumps(manifest, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
