"""The six stress shapes: what a coordinator could load in the winter of 2022/23 and the bench never makes.

Each function returns a :class:`bench.stress.generate.Shape`; README.md says what each stresses and why.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import numpy as np

from bench.stress.check import great_circle_km
from bench.stress.generate import (
    EMPTY,
    TIERS,
    Cap,
    Hub,
    IntArray,
    Item,
    Reference,
    Region,
    Rng,
    Shape,
    StrArray,
    default_hub_weight,
    default_region_weight,
)

BUCHAREST = dt.date(2022, 11, 29)  # NATO foreign ministers in Bucharest: the demo's plan date
STRIKE_DAY = dt.date(2022, 11, 24)  # the day after the 23 November strikes left most of Ukraine without power


# --- distributions --------------------------------------------------------------------------------------------


def no_deadline(rng: Rng, regions: StrArray) -> IntArray:
    return np.full(len(regions), EMPTY, dtype=np.int64)


def deadlines(share: float, low: int, high: int, overdue: float = 0.0) -> Callable[[Rng, StrArray], IntArray]:
    """A deadline for ``share`` of the needs, ``low``..``high`` days after the plan date (skewed early); a few
    already overdue when ``overdue`` > 0."""

    def draw(rng: Rng, regions: StrArray) -> IntArray:
        n = len(regions)
        offset = low + np.floor((high - low + 1) * rng.random(n) ** 1.6).astype(np.int64)
        offset[rng.random(n) < overdue] = -int(rng.integers(1, 4))
        offset[rng.random(n) >= share] = EMPTY
        return offset

    return draw


def availability(empty: float, past: int, future: int, past_share: float) -> Callable[[Rng, int], IntArray]:
    """``empty``: no date (the plan date); ``past_share``: already waiting 1..``past`` days; the rest 1..``future``
    days after the plan date."""

    def draw(rng: Rng, n: int) -> IntArray:
        u = rng.random(n)
        offset = rng.integers(1, future + 1, size=n).astype(np.int64)
        waiting = u < empty + past_share
        offset[waiting] = -rng.integers(1, past + 1, size=int(waiting.sum()))
        offset[u < empty] = EMPTY
        return offset

    return draw


def tiers(critical: float, high: float, medium: float, low: float) -> Callable[[Rng, StrArray], StrArray]:
    def draw(rng: Rng, regions: StrArray) -> StrArray:
        p = np.array([critical, high, medium, low])
        chosen: StrArray = np.array(TIERS)[rng.choice(4, size=len(regions), p=p / p.sum())]
        return chosen

    return draw


def item(code: str, name: str, category: str, unit: str, provides: str, factor: str, indivisible: bool,
         value: float | None = None, hs: str = "") -> Item:
    return Item(code, name, category, unit, provides, factor, indivisible, value, "", hs)


# --- giant: two capabilities, whole units, scarce ------------------------------------------------------------

GENERATOR_KW = (7, 10, 15, 22, 30, 45, 60, 100, 150, 200, 250, 320, 400, 500, 640, 800)
HEATER_KW = (2, 3, 9, 15, 25, 50, 80)


def giant(reference: Reference) -> Shape:
    catalogue = [item(f"GEN-{kw}KW", f"Diesel generating set, {kw} kW", "energy", "unit", "POWER-KW", str(kw), True,
                      round(600 * kw**0.8, 2), "850211" if kw <= 60 else "850212" if kw <= 300 else "850213")
                 for kw in GENERATOR_KW]
    catalogue += [item(f"HEATER-{kw}KW", f"{'Electric' if kw <= 3 else 'Diesel'} space heater, {kw} kW",
                       "winterization", "unit", "HEAT-KW", str(kw), True, round(45 * kw**0.9, 2),
                       "851629" if kw <= 3 else "732182") for kw in HEATER_KW]
    power = tuple((f"GEN-{kw}KW", 1.0 / (1 + i / 3)) for i, kw in enumerate(GENERATOR_KW))
    heat = tuple((f"HEATER-{kw}KW", 1.0 / (1 + i / 2)) for i, kw in enumerate(HEATER_KW))
    return Shape(
        name="giant",
        summary="Two capabilities (POWER-KW from 16 generator sizes, 7-800 kW; HEAT-KW from 7 heater sizes), every "
                "item indivisible, supply a third of demand, no deadlines: two giant whole-unit blocks.",
        plan_date=BUCHAREST,
        caps=[Cap("POWER-KW", 0.62, 110, 1.1, 5, 4000, power, (0.28, 0.4)),
              Cap("HEAT-KW", 0.38, 35, 1.0, 2, 900, heat, (0.3, 0.42))],
        catalogue=catalogue,
        pledges_per_need=0.3,
        deadline=no_deadline,
        available=availability(0.45, 10, 30, 0.2),
        priority=tiers(0.3, 0.3, 0.25, 0.15),
        region_weight=default_region_weight,
        hub_weight=default_hub_weight,
        people_median=2500,
        no_supply=("AUTOTRANSFORMER-750KV",),
        hxl=frozenset({"regions", "catalogue"}),
        extras={"pledges": ("x_announced",)},
        first_guess=1.0,
    )


# --- fuel: seven divisible capabilities, factors 1000 and 0.001, a transit override file -----------------------


def fuel_transit(reference: Reference, rng: Rng) -> list[tuple[str, str, int]]:
    """Rail and port corridors faster than the rule, border queues slower, and stock already inside an oblast."""
    rows: list[tuple[str, str, int]] = []
    south = ("UA-51", "UA-48", "UA-65", "UA-23", "UA-12")
    west = ("UA-46", "UA-07", "UA-56", "UA-61", "UA-26", "UA-21", "UA-77", "UA-68")
    regions = {r.code: r for r in reference.regions}
    for hub in reference.hubs:
        for region in reference.regions:
            km = great_circle_km((float(hub.lat), float(hub.lon)), (float(region.lat), float(region.lon)))
            rule = 1 + int(np.ceil(1.3 * km / 500))
            if hub.code in ("IZMAYIL", "ISACCEA", "GALATI", "CONSTANTA") and region.code in south:
                rows.append((hub.code, region.code, max(1, rule - 1)))  # Danube barges and the Reni-Izmail rail
            elif hub.code in ("CHOP", "UZHHOROD", "LVIV", "RAVARUSKA", "SHEHYNI") and region.code in west:
                rows.append((hub.code, region.code, 1))  # broad-gauge rail inside Ukraine
            elif hub.code in ("MEDYKA", "KORCZOWE", "HREBENNE", "DOROHUSK", "ZAHONY") and rng.random() < 0.5:
                rows.append((hub.code, region.code, rule + int(rng.integers(1, 4))))  # truck queues at the border
    rows += [("LVIV", "UA-46", 0), ("UZHHOROD", "UA-21", 0), ("CHOP", "UA-21", 0), ("IZMAYIL", "UA-51", 0)]
    assert all(region in regions for _, region, _ in rows)
    latest: dict[tuple[str, str], int] = {}
    for hub_code, region_code, days in rows:
        latest[(hub_code, region_code)] = days
    return [(h, r, d) for (h, r), d in sorted(latest.items())]


def fuel(reference: Reference) -> Shape:
    catalogue = [
        item("DIESEL-L", "Diesel / gas oil", "fuel", "litre", "DIESEL-L", "1", False, 1.45, "271019"),
        item("DIESEL-M3", "Diesel / gas oil, cubic metre", "fuel", "m3", "DIESEL-L", "1000", False, 1450, "271019"),
        item("DIESEL-BBL", "Diesel / gas oil, US barrel", "fuel", "bbl", "DIESEL-L", "158.987295", False, 230.5,
             "271019"),
        item("PETROL-L", "Motor spirit (petrol)", "fuel", "litre", "PETROL-L", "1", False, 1.6, "271012"),
        item("PETROL-M3", "Motor spirit (petrol), cubic metre", "fuel", "m3", "PETROL-L", "1000", False, 1600,
             "271012"),
        item("HEATING-OIL-L", "Heating oil, litre", "fuel", "litre", "HEATING-OIL-M3", "0.001", False, 1.2, "271019"),
        item("HEATING-OIL-M3", "Heating oil, cubic metre", "fuel", "m3", "HEATING-OIL-M3", "1", False, 1200, "271019"),
        item("LPG-KG", "Liquefied propane-butane", "fuel", "kg", "LPG-KG", "1", False, 0.9, "271112"),
        item("LPG-T", "Liquefied propane-butane, tonne", "fuel", "t", "LPG-KG", "1000", False, 900, "271112"),
        item("KEROSENE-L", "Kerosene for heaters", "fuel", "litre", "KEROSENE-L", "1", False, 1.5, "271019"),
        item("COAL-KG", "Anthracite, bagged", "fuel", "kg", "COAL-T", "0.001", False, 0.3, "270111"),
        item("COAL-T", "Anthracite, bulk tonne", "fuel", "t", "COAL-T", "1", False, 280, "270111"),
        item("FIREWOOD-M3", "Firewood, split, stacked cubic metre", "fuel", "m3", "FIREWOOD-M3", "1", False, 70,
             "440111"),
    ]
    return Shape(
        name="fuel",
        summary="Seven fuel capabilities, every item divisible, factors 1000, 0.001 and 158.987295 (barrels); "
                "a transit.csv of corridor, border-queue and zero-day overrides; fractional units and quantities.",
        plan_date=BUCHAREST,
        caps=[
            Cap("DIESEL-L", 0.4, 2500, 1.2, 20, 400_000, (("DIESEL-L", 5), ("DIESEL-M3", 3), ("DIESEL-BBL", 1)),
                (0.5, 1.1), decimals=1),
            Cap("PETROL-L", 0.1, 900, 1.0, 10, 60_000, (("PETROL-L", 3), ("PETROL-M3", 1)), (0.6, 1.2), decimals=1),
            Cap("HEATING-OIL-M3", 0.12, 6, 1.0, 0.2, 900, (("HEATING-OIL-L", 2), ("HEATING-OIL-M3", 3)), (0.5, 0.9),
                decimals=3),
            Cap("LPG-KG", 0.08, 400, 1.0, 5, 50_000, (("LPG-KG", 2), ("LPG-T", 1)), (0.6, 1.0), decimals=2),
            Cap("KEROSENE-L", 0.05, 300, 0.9, 5, 20_000, (("KEROSENE-L", 1),), (0.7, 1.3), decimals=1),
            Cap("COAL-T", 0.15, 12, 1.1, 0.05, 3000, (("COAL-KG", 1), ("COAL-T", 2)), (0.5, 0.9), decimals=3),
            Cap("FIREWOOD-M3", 0.1, 15, 1.0, 0.5, 2000, (("FIREWOOD-M3", 1),), (0.6, 1.1), decimals=2),
        ],
        catalogue=catalogue,
        pledges_per_need=0.35,
        deadline=deadlines(0.65, 4, 35),
        available=availability(0.25, 12, 21, 0.15),
        priority=tiers(0.25, 0.35, 0.25, 0.15),
        region_weight=default_region_weight,
        hub_weight=default_hub_weight,
        transit=fuel_transit,
        no_supply=("JET-A1-L",),
        hxl=frozenset({"pledges", "transit"}),
        extras={"needs": ("x_reported_by",), "transit": ("x_checked",)},
        first_guess=0.7,
    )


# --- longtail: ~900 HS capabilities, odd packs, 40 % proposed, sites ----------------------------------------------

ODD_PACKS = (1, 3, 5, 6, 7, 9, 11, 12, 13, 17, 19, 23, 24, 25, 36, 48, 72, 144, 250)
CHAPTER_CATEGORY = {"27": "fuel", "30": "medical", "39": "shelter-nfi", "40": "shelter-nfi", "61": "winterization",
                    "62": "winterization", "63": "winterization", "64": "winterization", "65": "protective",
                    "73": "shelter-nfi", "76": "shelter-nfi", "84": "energy", "85": "energy", "87": "logistics",
                    "90": "medical", "94": "shelter-nfi"}


def longtail(reference: Reference, n_caps: int = 900) -> Shape:
    rng = np.random.default_rng(900)  # which HS codes and packs: fixed, not the scenario seed
    chosen = sorted(rng.choice(len(reference.hs), size=n_caps, replace=False).tolist())
    catalogue: list[Item] = []
    caps: list[Cap] = []
    ranks = rng.permutation(n_caps) + 1
    for rank, index in zip(ranks, chosen, strict=True):
        hs, description = reference.hs[index]
        capability = f"HS-{hs}"
        packs = sorted(rng.choice(ODD_PACKS, size=int(rng.integers(1, 4)), replace=False).tolist())
        name = description if len(description) <= 240 else description[:237] + "..."
        for pack in packs:
            catalogue.append(item(f"{capability}-P{pack}", f"{name} (pack of {pack})" if pack > 1 else name,
                                  CHAPTER_CATEGORY.get(hs[:2], "other"), "piece" if pack == 1 else f"pack of {pack}",
                                  capability, str(pack), True, round(float(rng.lognormal(3, 1.2)) * pack, 2), hs))
        median = float(rng.choice([4, 12, 40, 120, 500]))
        caps.append(Cap(capability, float(rank) ** -0.75, median, 1.1, 1, 100_000,
                        tuple((f"{capability}-P{p}", float(rng.uniform(0.5, 2))) for p in packs), (0.5, 1.2)))
    return Shape(
        name="longtail",
        summary=f"{n_caps} HS 2022 subheadings as capabilities (HS-630120 ...), popularity Zipf 0.75, each with 1-3 "
                "indivisible packs of odd sizes (7, 13, 17, 23, 144 ...); 40 % of pledges only proposed; needs at "
                "sites whose people served they inherit; donors.xlsx.",
        plan_date=BUCHAREST,
        caps=caps,
        catalogue=catalogue,
        pledges_per_need=1.1,
        deadline=deadlines(0.3, 7, 60),
        available=availability(0.3, 20, 40, 0.2),
        priority=tiers(0.15, 0.3, 0.35, 0.2),
        region_weight=default_region_weight,
        hub_weight=default_hub_weight,
        status=(0.57, 0.4, 0.03),
        sites=True,
        people_median=300,
        no_supply=("HS-850423", "HS-853529"),
        hxl=frozenset({"sites", "needs"}),
        xlsx=frozenset({"donors"}),
        extras={"catalogue": ("x_hs2022",), "pledges": ("x_source_row",)},
        first_guess=0.85,
    )


# --- late: ~40 mixed capabilities, scarce, pledges arriving over 45 days, tight deadlines -----------------------

#: (capability, category, unit, [(item code, factor, indivisible)], need median, low, high)
WINTER_CAPS: tuple[tuple[str, str, str, tuple[tuple[str, str, bool], ...], float, float, float], ...] = (
    ("POWER-KW", "energy", "kW", (("GEN-5KW", "5", True), ("GEN-30KW", "30", True), ("GEN-100KW", "100", True),
                                   ("GEN-250KW", "250", True)), 80, 3, 3000),
    ("DIESEL-L", "fuel", "litre", (("DIESEL-L", "1", False), ("DIESEL-M3", "1000", False)), 3000, 20, 200_000),
    ("PETROL-L", "fuel", "litre", (("PETROL-L", "1", False),), 800, 10, 40_000),
    ("HEAT-KW", "winterization", "kW", (("HEATER-2KW", "2", True), ("HEATER-20KW", "20", True)), 40, 2, 800),
    ("BLANKET", "winterization", "piece", (("BLANKET-WOOL", "1", True), ("BLANKET-BALE-20", "20", True)), 400, 5,
     50_000),
    ("SLEEPING-BAG", "winterization", "piece", (("SLEEPING-BAG", "1", True), ("SLEEPING-BAG-BOX-10", "10", True)),
     200, 2, 20_000),
    ("WINTER-JACKET", "winterization", "piece", (("JACKET-MEN", "1", True), ("JACKET-WOMEN", "1", True)), 150, 2,
     10_000),
    ("WINTER-BOOTS", "winterization", "pair", (("BOOTS", "1", True),), 150, 2, 10_000),
    ("GLOVES", "winterization", "pair", (("GLOVES-BOX-50", "50", True),), 500, 10, 30_000),
    ("FAMILY-TENT", "shelter-nfi", "piece", (("TENT-16M2", "1", True),), 20, 1, 2_000),
    ("TARPAULIN", "shelter-nfi", "piece", (("TARP-4X6", "1", True), ("TARP-BALE-25", "25", True)), 200, 2, 20_000),
    ("LED-BULB", "energy", "piece", (("LED-BULB-BOX-100", "100", True),), 2000, 50, 200_000),
    ("SOLAR-LAMP", "shelter-nfi", "piece", (("SOLAR-LAMP", "1", True),), 300, 5, 20_000),
    ("POWERBANK", "energy", "piece", (("POWERBANK-20AH", "1", True),), 300, 5, 20_000),
    ("STOVE-SOLID", "winterization", "piece", (("STOVE-WOOD", "1", True),), 30, 1, 3_000),
    ("STOVE-LIQUID", "winterization", "piece", (("STOVE-KEROSENE", "1", True),), 20, 1, 2_000),
    ("FIRST-AID-KIT", "medical", "kit", (("FAK", "1", True), ("FAK-CASE-12", "12", True)), 100, 2, 10_000),
    ("MEDICINES", "medical", "pack", (("MED-PACK", "1", True), ("MED-CARTON-48", "48", True)), 2000, 20, 200_000),
    ("IFAK", "medical", "kit", (("IFAK", "1", True),), 200, 5, 20_000),
    ("INSULIN-PEN", "medical", "pen", (("INSULIN-BOX-5", "5", True),), 100, 5, 10_000),
    ("OXYGEN-CONCENTRATOR", "medical", "piece", (("O2-CONCENTRATOR", "1", True),), 5, 1, 200),
    ("TRANSFORMER-DIST", "energy-grid", "piece", (("TX-400KVA", "1", True),), 3, 1, 100),
    ("TRANSFORMER-POWER", "energy-grid", "piece", (("TX-6300KVA", "1", True),), 1, 1, 20),
    ("AUTOTRANSFORMER", "energy-grid", "piece", (("ATX-330KV", "1", True),), 1, 1, 4),
    ("CIRCUIT-BREAKER-MV", "energy-grid", "piece", (("CB-35KV", "1", True),), 10, 1, 400),
    ("CIRCUIT-BREAKER-HV", "energy-grid", "piece", (("CB-330KV", "1", True),), 4, 1, 60),
    ("CABLE-HV-M", "energy-grid", "m", (("CABLE-HV-M", "1", False), ("CABLE-HV-DRUM-500", "500", True)), 2000, 50,
     100_000),
    ("WATER-L", "wash", "litre", (("WATER-BULK-L", "1", False), ("WATER-PACK-9L", "9", True)), 5000, 100, 500_000),
    ("WATER-PUMP", "wash", "piece", (("PUMP-50M3H", "1", True),), 4, 1, 100),
    ("WATER-TREATMENT-UNIT", "wash", "piece", (("WTU-5M3H", "1", True),), 2, 1, 30),
    ("CHLORINE-KG", "wash", "kg", (("CHLORINE-KG", "1", False), ("CHLORINE-DRUM-45", "45", True)), 200, 5, 20_000),
    ("HYGIENE-KIT", "wash", "kit", (("HYGIENE-KIT", "1", True),), 500, 10, 50_000),
    ("FOOD-KIT", "food", "kit", (("FOOD-KIT-FAMILY", "1", True),), 800, 10, 100_000),
    ("FLOUR-KG", "food", "kg", (("FLOUR-KG", "1", False), ("FLOUR-T", "1000", False)), 5000, 50, 500_000),
    ("FIREWOOD-M3", "fuel", "m3", (("FIREWOOD-M3", "1", False),), 50, 1, 3_000),
    ("COAL-T", "fuel", "t", (("COAL-T", "1", False),), 20, 0.5, 3_000),
    ("STARLINK-KIT", "energy", "piece", (("STARLINK", "1", True),), 5, 1, 200),
    ("COUNTER-DRONE-JAMMER", "counter-drone", "piece", (("JAMMER-PORTABLE", "1", True),), 3, 1, 60),
    ("PROTECTIVE-VEST", "protective", "piece", (("VEST-CIVIL", "1", True),), 50, 2, 3_000),
    ("MOBILE-BOILER-KW", "winterization", "kW", (("BOILER-200KW", "200", True),), 400, 50, 10_000),
)


def winter_catalogue(rng: Rng) -> list[Item]:
    return [item(code, f"{code.replace('-', ' ').title()} ({capability})", category, unit, capability, factor,
                 whole, round(float(rng.lognormal(3, 1.5)) * float(factor), 2))
            for capability, category, unit, packs, *_ in WINTER_CAPS for code, factor, whole in packs]


def late(reference: Reference) -> Shape:
    rng = np.random.default_rng(40)
    caps = [Cap(capability, float(rng.uniform(0.3, 1.0)) / (1 + i / 8), median, 1.0, low, high,
                tuple((code, float(rng.uniform(0.5, 2))) for code, _, _ in packs), (0.25, 0.45),
                decimals=0 if all(whole for _, _, whole in packs) else 1)
            for i, (capability, _, _, packs, median, low, high) in enumerate(WINTER_CAPS)]
    return Shape(
        name="late",
        summary="40 capabilities, divisible and indivisible items (some for one capability), supply 0.25-0.45 of "
                "demand, pledges available up to 45 days after the plan date, 92 % of needs with deadlines 2-30 "
                "days out (a few already overdue): most pairs arrive too late.",
        plan_date=BUCHAREST,
        caps=caps,
        catalogue=winter_catalogue(rng),
        pledges_per_need=0.55,
        deadline=deadlines(0.92, 2, 30, overdue=0.01),
        available=availability(0.2, 6, 45, 0.15),
        priority=tiers(0.25, 0.35, 0.25, 0.15),
        region_weight=default_region_weight,
        hub_weight=default_hub_weight,
        no_supply=("EXCAVATOR",),
        hxl=frozenset({"needs"}),
        extras={"needs": ("x_source_row",), "hubs": ("x_note",)},
        first_guess=0.3,
    )


# --- bulk: supply x3-5 in packs much larger than most needs -------------------------------------------------------


def bulk(reference: Reference) -> Shape:
    catalogue = [
        item("TANKER-DSL-38K", "Diesel road tanker, 38,000 l", "fuel", "tanker", "DIESEL-L", "38000", True, 55_000,
             "271019"),
        item("IBC-DSL-1000", "Diesel in a 1,000-l IBC", "fuel", "IBC", "DIESEL-L", "1000", True, 1500, "271019"),
        item("TANKER-PET-33K", "Petrol road tanker, 33,000 l", "fuel", "tanker", "PETROL-L", "33000", True, 52_000,
             "271012"),
        item("TURBINE-1500KW", "Mobile gas turbine, 1.5 MW", "energy", "unit", "POWER-KW", "1500", True, 1_400_000,
             "850239"),
        item("GEN-800KW", "Diesel generating set, 800 kW", "energy", "unit", "POWER-KW", "800", True, 240_000,
             "850213"),
        item("BLADDER-25K", "Water bladder tank, 25,000 l", "wash", "unit", "WATER-STORAGE-L", "25000", True, 4200,
             "392510"),
        item("BLADDER-10K", "Water bladder tank, 10,000 l", "wash", "unit", "WATER-STORAGE-L", "10000", True, 2100,
             "392510"),
        item("BOILER-1MW", "Containerised boiler house, 1 MW", "winterization", "unit", "HEAT-KW", "1000", True,
             310_000, "840310"),
    ]
    return Shape(
        name="bulk",
        summary="Supply 3-5 times demand in packs much larger than most needs (38,000-l tankers, 1.5-MW turbines, "
                "25,000-l bladders, 1-MW boiler houses) against needs of a few hundred litres or kW: every pack "
                "overshoots, the transit term decides.",
        plan_date=BUCHAREST,
        caps=[
            Cap("DIESEL-L", 0.4, 1500, 1.0, 100, 60_000, (("TANKER-DSL-38K", 9), ("IBC-DSL-1000", 1)), (3, 5),
                units_median=2),
            Cap("PETROL-L", 0.12, 400, 1.0, 50, 20_000, (("TANKER-PET-33K", 1),), (3, 5), units_median=1.5),
            Cap("POWER-KW", 0.22, 60, 1.1, 5, 5000, (("TURBINE-1500KW", 4), ("GEN-800KW", 1)), (3, 5),
                units_median=1.5),
            Cap("WATER-STORAGE-L", 0.16, 3000, 0.9, 500, 80_000, (("BLADDER-25K", 4), ("BLADDER-10K", 1)), (3, 5),
                units_median=3),
            Cap("HEAT-KW", 0.1, 80, 1.0, 10, 3000, (("BOILER-1MW", 1),), (3, 5), units_median=1.5),
        ],
        catalogue=catalogue,
        pledges_per_need=0.1,  # only the first size guess: units_median sets the pledge counts
        deadline=deadlines(0.3, 5, 30),
        available=availability(0.4, 10, 25, 0.2),
        priority=tiers(0.2, 0.3, 0.3, 0.2),
        region_weight=default_region_weight,
        hub_weight=default_hub_weight,
        people_median=1200,
        no_supply=("DESALINATION-UNIT",),
        hxl=frozenset({"hubs", "needs", "pledges"}),
        extras={"pledges": ("x_announced", "x_checked")},
        first_guess=0.9,
    )


# --- strike: a strike wave on three oblasts, deadlines in 2-5 days, supply in far hubs ----------------------------

STRIKE_REGIONS = ("UA-30", "UA-63", "UA-51")  # Kyiv city, Kharkiv, Odesa
FAR_HUBS = ("WAW", "WARSAW", "KRK", "BUD", "BUDAPEST", "OTP", "BUCHAREST", "CND", "CONSTANTA", "GALATI", "KSC",
            "KOSICE", "DEB")


def strike_region_weight(region: Region) -> float:
    return 12.0 * default_region_weight(region) if region.code in STRIKE_REGIONS else 0.08 * default_region_weight(
        region)


def strike_hub_weight(hub: Hub) -> float:
    return 5.0 if hub.code in FAR_HUBS else 0.6 * default_hub_weight(hub) / 3


def strike_deadline(rng: Rng, regions: StrArray) -> IntArray:
    hit = np.isin(regions, STRIKE_REGIONS)
    offset = rng.integers(2, 6, size=len(regions)).astype(np.int64)  # 2-5 days after the plan date
    later = rng.integers(7, 31, size=len(regions))
    offset[~hit] = np.where(rng.random(int((~hit).sum())) < 0.3, later[~hit], EMPTY)
    return offset


def strike_priority(rng: Rng, regions: StrArray) -> StrArray:
    hit = np.isin(regions, STRIKE_REGIONS)
    strike_tiers = tiers(0.55, 0.3, 0.15, 0.0)(rng, regions)
    background = tiers(0.02, 0.1, 0.48, 0.4)(rng, regions)
    chosen: StrArray = np.where(hit, strike_tiers, background)
    return chosen


def strike_transit(reference: Reference, rng: Rng) -> list[tuple[str, str, int]]:
    """Broad-gauge trains from Przemyśl and Chop run faster than trucks; trucks from Medyka queue at the border;
    Izmail's Danube port is a day from Odesa."""
    return [("PRZEMYSL", "UA-30", 2), ("PRZEMYSL", "UA-63", 3), ("PRZEMYSL", "UA-51", 3), ("CHOP", "UA-30", 2),
            ("CHOP", "UA-63", 3), ("IZMAYIL", "UA-51", 1), ("MEDYKA", "UA-30", 5), ("MEDYKA", "UA-63", 6),
            ("MEDYKA", "UA-51", 6)]


def strike(reference: Reference) -> Shape:
    rng = np.random.default_rng(23)
    wanted = ("POWER-KW", "DIESEL-L", "HEAT-KW", "BLANKET", "SLEEPING-BAG", "POWERBANK", "WATER-L", "WATER-PUMP",
              "STARLINK-KIT", "MOBILE-BOILER-KW", "FIRST-AID-KIT")
    rows = [row for row in WINTER_CAPS if row[0] in wanted]
    shares = {"POWER-KW": 3.0, "DIESEL-L": 2.0, "HEAT-KW": 2.0, "WATER-L": 1.5, "BLANKET": 1.0}
    caps = [Cap(capability, shares.get(capability, 0.5), median, 1.0, low, high,
                tuple((code, 1.0) for code, _, _ in packs), (0.6, 1.0),
                decimals=0 if all(whole for _, _, whole in packs) else 1)
            for capability, _, _, packs, median, low, high in rows]
    catalogue = [i for i in winter_catalogue(rng) if i.provides in wanted]
    return Shape(
        name="strike",
        summary="The 23 November 2022 strike wave: 88 % of needs in Kyiv city, Kharkiv and Odesa oblasts, critical "
                "or high, with deadlines 2-5 days after the plan date, at sites serving up to about a million people; "
                "most supply in far hubs (Warsaw, Kraków, Budapest, Bucharest, Constanța), so ETAs sit on the "
                "deadline: a dense, deadline-bound, people-weighted critical tier.",
        plan_date=STRIKE_DAY,
        caps=caps,
        catalogue=catalogue,
        pledges_per_need=0.35,
        deadline=strike_deadline,
        available=availability(0.35, 4, 3, 0.25),
        priority=strike_priority,
        region_weight=strike_region_weight,
        hub_weight=strike_hub_weight,
        sites=True,
        people_median=5000,
        transit=strike_transit,
        no_supply=("AUTOTRANSFORMER-750KV",),
        hxl=frozenset({"regions", "needs", "transit"}),
        extras={"needs": ("x_reported_by",), "sites": ("x_note",)},
        first_guess=0.4,
    )


SHAPES: dict[str, Callable[[Reference], Shape]] = {
    "giant": giant, "fuel": fuel, "longtail": longtail, "late": late, "bulk": bulk, "strike": strike,
}
