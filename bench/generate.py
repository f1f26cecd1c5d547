"""A seeded generator of national-scale scenarios in the SPEC §3 format.

Regions, hubs and donors are real (``bench/data``, see its README); needs and pledges are synthetic:
capabilities with skewed (Zipf) popularity, several unit sizes per capability (generators of 5 kW to
1 MW, litres and drums and tankers of diesel, single blankets and bales), some capabilities short of
supply, deadlines and availability dates. The size is calibrated to a target number of candidate
edges (capability-matched, deadline-feasible pledge × need pairs) with the engine's own transit rule.
Two shapes: ``national`` (199 capabilities, the HS long tail included: many small blocks) and ``core`` (the
22 main capabilities: the same edges in fewer, larger blocks, where HiGHS's LP has fewer rows).

    python -m bench.generate OUT_DIR --edges 1e6 [--seed 1] [--shape national|core] [--supply 1]
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from aidpack.allocation.problem import transit_days

DATA = Path(__file__).parent / "data"
PLAN_DATE = dt.date(2022, 11, 29)
TIERS = ("critical", "high", "medium", "low")
TIER_SHARE = (0.15, 0.30, 0.35, 0.20)
CHANNELS = ("bilateral", "nato-cap", "eu-ucpm", "other")


@dataclass(frozen=True)
class ItemSpec:
    code: str
    name: str
    factor: float
    indivisible: bool
    category: str
    unit: str = "unit"


@dataclass(frozen=True)
class CapabilitySpec:
    code: str
    median_need: float  # in capability units
    items: tuple[ItemSpec, ...]


def _items(category: str, *specs: tuple[str, str, float, bool]) -> tuple[ItemSpec, ...]:
    return tuple(ItemSpec(code, name, factor, indiv, category) for code, name, factor, indiv in specs)


#: In order of popularity (rank 1 first).
CAPABILITIES: tuple[CapabilitySpec, ...] = (
    CapabilitySpec("DIESEL-L", 4000, _items(
        "fuel", ("DIESEL-L", "Diesel fuel, litre", 1, False),
        ("DIESEL-DRUM-200L", "Diesel, 200 l drum", 200, True),
        ("DIESEL-TANKER-30KL", "Diesel, 30,000 l road tanker", 30000, True))),
    CapabilitySpec("POWER-KW", 250, _items(
        "energy", ("GEN-5KW", "Petrol generator, 5 kW", 5, True),
        ("GEN-30KW", "Diesel generator, 30 kW", 30, True),
        ("GEN-100KW", "Diesel generator, 100 kW", 100, True),
        ("GEN-176KW", "Diesel generator, 220 kVA", 176, True),
        ("GEN-1MW", "Containerised power plant, 1 MW", 1000, True))),
    CapabilitySpec("WINTER-KIT", 300, _items(
        "winterization", ("WINTER-KIT", "Winter clothing kit", 1, True),
        ("WINTER-KIT-PALLET", "Winter clothing kits, pallet of 40", 40, True))),
    CapabilitySpec("BLANKET", 500, _items(
        "winterization", ("BLANKET-WOOL", "Blanket, wool", 1, True),
        ("BLANKET-BALE-50", "Blankets, bale of 50", 50, True))),
    CapabilitySpec("MEDICINES", 2000, _items(
        "medical", ("MEDICINES", "Medicines, pack", 1, True),
        ("MEDICINES-PALLET", "Medicines, pallet of 1000 packs", 1000, True))),
    CapabilitySpec("HEAT-KW", 60, _items(
        "winterization", ("HEATER-2KW", "Electric heater, 2 kW", 2, True),
        ("STOVE-8KW", "Solid-fuel stove, 8 kW", 8, True),
        ("HEATGUN-30KW", "Diesel heat gun, 30 kW", 30, True))),
    CapabilitySpec("WATER-L", 20000, _items(
        "wash", ("WATER-L", "Drinking water, litre", 1, False),
        ("WATER-BLADDER-10KL", "Water bladder, 10,000 l", 10000, True))),
    CapabilitySpec("FOOD-RATION", 1500, _items(
        "food", ("FOOD-RATION", "Food ration, one person-day", 1, True),
        ("FOOD-PALLET", "Food rations, pallet of 500", 500, True))),
    CapabilitySpec("TRAUMA-KIT", 40, _items("medical", ("TRAUMA-KIT", "Trauma kit", 1, True))),
    CapabilitySpec("SLEEPING-BAG", 200, _items("winterization", ("SLEEPING-BAG", "Sleeping bag, winter", 1, True))),
    CapabilitySpec("HYGIENE-KIT", 300, _items(
        "wash", ("HYGIENE-KIT", "Family hygiene kit", 1, True),
        ("HYGIENE-PALLET", "Hygiene kits, pallet of 60", 60, True))),
    CapabilitySpec("TRANSFORMER-KVA", 1000, _items(
        "energy-grid", ("TRANSFORMER-250", "Distribution transformer, 250 kVA", 250, True),
        ("TRANSFORMER-630", "Distribution transformer, 630 kVA", 630, True))),
    CapabilitySpec("CABLE-M", 3000, _items(
        "energy-grid", ("CABLE-M", "Power cable, metre", 1, False),
        ("CABLE-DRUM-500M", "Power cable, 500 m drum", 500, True))),
    CapabilitySpec("TENT", 20, _items("shelter-nfi", ("TENT-16M2", "Family tent, 16 m2", 1, True))),
    CapabilitySpec("LED-BULB", 800, _items(
        "energy", ("LED-BULB", "LED bulb", 1, True), ("LED-BOX-100", "LED bulbs, box of 100", 100, True))),
    CapabilitySpec("WATER-PUMP", 4, _items("wash", ("WATER-PUMP", "Centrifugal water pump", 1, True))),
    CapabilitySpec("CHLORINE-KG", 500, _items("wash", ("CHLORINE-KG", "Water-treatment chlorine, kg", 1, False))),
    CapabilitySpec("POWERBANK", 100, _items("energy", ("POWERBANK", "Power bank, 20 Ah", 1, True))),
    CapabilitySpec("SATCOM", 5, _items("communications", ("SATCOM-TERMINAL", "Satellite internet terminal", 1, True))),
    CapabilitySpec("INSULIN-PACK", 300, _items("medical", ("INSULIN-PACK", "Insulin, pack", 1, True))),
    CapabilitySpec("CUAS-JAMMER", 3, _items("protection", ("CUAS-JAMMER", "Counter-drone jammer", 1, True))),
    CapabilitySpec("AUTOTRANSFORMER-HV", 1, _items(
        "energy-grid", ("AUTOTRANSFORMER-HV", "High-voltage autotransformer", 1, True))),
)


def _tail() -> tuple[CapabilitySpec, ...]:
    """The long tail: one capability per HS subheading (medicines, textiles, instruments, electrical)."""
    with (DATA / "hs_tail.csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    categories = {"30": "medical", "63": "shelter-nfi", "90": "medical", "85": "energy"}
    tail = []
    for i, row in enumerate(rows):
        code = f"HS-{row['hscode']}"
        name = row["description"][:280]
        items = [ItemSpec(code, name, 1, True, categories[row["hscode"][:2]])]
        if i % 3 == 0:
            items.append(ItemSpec(f"{code}-BOX", f"{name[:260]} (box of 20)", 20, True, categories[row["hscode"][:2]]))
        tail.append(CapabilitySpec(code, 50 + 10 * (i % 7), tuple(items)))
    return tuple(tail)


#: The 22 capabilities above: a scenario of fewer, larger blocks (``shape="core"``).
CORE = CAPABILITIES
CAPABILITIES = CAPABILITIES + _tail()
#: Every capability pledged in its largest pack only (tankers, 1 MW plants, 10,000-litre bladders, pallets,
#: boxes of 20): a scenario where packs are larger than most needs and every block has one pack size.
BULK = tuple(
    CapabilitySpec(c.code, c.median_need, (max(c.items, key=lambda item: item.factor),)) for c in CAPABILITIES
)
#: Scenario shapes: "national" (every capability, the long tail too), "core" (no long tail) and "bulk".
SHAPES: dict[str, tuple[CapabilitySpec, ...]] = {"national": CAPABILITIES, "core": CORE, "bulk": BULK}


def items_of(capabilities: tuple[CapabilitySpec, ...]) -> tuple[tuple[int, ItemSpec], ...]:
    """Every item with the index of the capability it provides."""
    return tuple((c, item) for c, cap in enumerate(capabilities) for item in cap.items)


@dataclass
class Drawn:
    """One scenario as arrays (before it is written as CSV)."""

    need_cap: npt.NDArray[np.int64]
    need_region: npt.NDArray[np.int64]
    need_qty: npt.NDArray[np.int64]
    need_tier: npt.NDArray[np.int64]
    need_people: npt.NDArray[np.int64]
    need_deadline: npt.NDArray[np.int64]  # days after the plan date, -1 = none
    pledge_item: npt.NDArray[np.int64]  # index into items_of(the scenario's capabilities)
    pledge_units: npt.NDArray[np.int64]
    pledge_hub: npt.NDArray[np.int64]
    pledge_available: npt.NDArray[np.int64]  # days after the plan date, -99 = not given
    pledge_donor: npt.NDArray[np.int64]
    pledge_status: npt.NDArray[np.int64]  # 0 confirmed, 1 proposed, 2 withdrawn
    pledge_channel: npt.NDArray[np.int64]




def _read(name: str) -> list[dict[str, str]]:
    with (DATA / name).open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _geo() -> tuple[list[dict[str, str]], list[dict[str, str]], list[str]]:
    regions = _read("regions.csv")
    hubs = _read("hubs.csv")
    donors = [r["iso2"] for r in _read("nato_members.csv") if r["member_winter_2022_23"] == "1"]
    return regions, hubs, donors + ["NATO-CAP", "EU"]


def draw(
    scale: float, seed: int, capabilities: tuple[CapabilitySpec, ...] = CAPABILITIES, supply: float = 1.0
) -> Drawn:
    """Needs ≈ 10·scale and pledges ≈ 8·scale over ``capabilities``, seeded; ``supply`` scales every
    capability's supply against its demand."""
    rng = np.random.default_rng(seed)
    regions, hubs, donors = _geo()
    items = items_of(capabilities)
    n_caps = len(capabilities)
    popularity = 1.0 / np.arange(1, n_caps + 1) ** 0.7
    popularity /= popularity.sum()
    n_needs = max(int(round(10 * scale)), n_caps)
    n_pledges = max(int(round(8 * scale)), n_caps)

    population = np.array([float(r["population"]) for r in regions])
    need_cap = rng.choice(n_caps, size=n_needs, p=popularity)
    need_region = rng.choice(len(regions), size=n_needs, p=population / population.sum())
    median = np.array([c.median_need for c in capabilities])[need_cap]
    need_qty = np.maximum(np.rint(median * rng.lognormal(0.0, 0.8, n_needs)), 1).astype(np.int64)
    need_tier = rng.choice(4, size=n_needs, p=np.array(TIER_SHARE))
    need_people = np.maximum(np.rint(rng.lognormal(7.5, 1.2, n_needs) * (1.8 - 0.25 * need_tier)), 1).astype(np.int64)
    has_deadline = rng.random(n_needs) < 0.65
    need_deadline = np.where(has_deadline, rng.integers(3, 46, n_needs), -1).astype(np.int64)

    # Pledges: a capability by popularity, then one of its items (smaller units more often).
    pledge_cap = rng.choice(n_caps, size=n_pledges, p=popularity)
    item_of_cap: list[list[int]] = [[] for _ in range(n_caps)]
    for index, (c, _) in enumerate(items):
        item_of_cap[c].append(index)
    pledge_item = np.empty(n_pledges, dtype=np.int64)
    for c in range(n_caps):
        members = np.flatnonzero(pledge_cap == c)
        options = item_of_cap[c]
        weights = 1.0 / np.arange(1, len(options) + 1)
        picks = rng.choice(len(options), size=members.size, p=weights / weights.sum())
        pledge_item[members] = np.array(options)[picks]
    factors = np.array([item.factor for _, item in items])[pledge_item]
    # Total supply per capability between 50% and 140% of the demand (times ``supply``), spread over its pledges.
    demand = np.bincount(need_cap, weights=need_qty, minlength=n_caps)
    ratio = rng.uniform(0.5, 1.4, n_caps) * supply
    share = rng.lognormal(0.0, 1.0, n_pledges)
    share_sum = np.bincount(pledge_cap, weights=share, minlength=n_caps)
    amount = demand[pledge_cap] * ratio[pledge_cap] * share / np.maximum(share_sum[pledge_cap], 1e-12)
    pledge_units = np.maximum(np.ceil(amount / factors), 1).astype(np.int64)
    hub_weight = 1.0 / np.arange(1, len(hubs) + 1) ** 0.7
    pledge_hub = rng.choice(len(hubs), size=n_pledges, p=hub_weight / hub_weight.sum())
    pledge_available = np.where(rng.random(n_pledges) < 0.5, rng.integers(-10, 31, n_pledges), -99).astype(np.int64)
    donor_weight = 1.0 / np.arange(1, len(donors) + 1) ** 0.8
    pledge_donor = rng.choice(len(donors), size=n_pledges, p=donor_weight / donor_weight.sum())
    pledge_status = rng.choice(3, size=n_pledges, p=[0.95, 0.03, 0.02])
    pledge_channel = rng.choice(len(CHANNELS), size=n_pledges)
    return Drawn(need_cap, need_region, need_qty, need_tier, need_people, need_deadline, pledge_item, pledge_units,
                 pledge_hub, pledge_available, pledge_donor, pledge_status, pledge_channel)


def _transit() -> npt.NDArray[np.int64]:
    regions, hubs, _ = _geo()
    return transit_days(
        np.array([float(h["lat"]) for h in hubs]), np.array([float(h["lon"]) for h in hubs]),
        np.array([float(r["lat"]) for r in regions]), np.array([float(r["lon"]) for r in regions]),
    )


def count_edges(
    drawn: Drawn, *, include_proposed: bool = False, capabilities: tuple[CapabilitySpec, ...] = CAPABILITIES
) -> int:
    """Candidate edges as the engine counts them (confirmed pledges; deadline-feasible pairs)."""
    transit = _transit()
    cap_of_item = np.array([c for c, _ in items_of(capabilities)])
    usable = (drawn.pledge_status == 0) | (include_proposed & (drawn.pledge_status == 1))
    p_cap = cap_of_item[drawn.pledge_item]
    p_start = np.maximum(drawn.pledge_available, 0)
    deadline = np.where(drawn.need_deadline < 0, 10**9, drawn.need_deadline)
    total = 0
    for c in range(len(capabilities)):
        pledges = np.flatnonzero(usable & (p_cap == c))
        needs = np.flatnonzero(drawn.need_cap == c)
        if pledges.size == 0 or needs.size == 0:
            continue
        for chunk in np.array_split(pledges, max(1, pledges.size * needs.size // 5_000_000 + 1)):
            eta = p_start[chunk][:, None] + transit[drawn.pledge_hub[chunk]][:, drawn.need_region[needs]]
            total += int((eta <= deadline[needs][None, :]).sum())
    return total


def calibrate(
    target_edges: float, seed: int, capabilities: tuple[CapabilitySpec, ...] = CAPABILITIES, supply: float = 1.0
) -> tuple[Drawn, int]:
    """Scale the scenario until its candidate edges are within 3% of the target."""
    scale = math.sqrt(target_edges / 80.0) / 3.0
    drawn = draw(scale, seed, capabilities, supply)
    edges = count_edges(drawn, capabilities=capabilities)
    for _ in range(6):
        if abs(edges - target_edges) <= 0.03 * target_edges:
            break
        scale *= math.sqrt(target_edges / max(edges, 1))
        drawn = draw(scale, seed, capabilities, supply)
        edges = count_edges(drawn, capabilities=capabilities)
    return drawn, edges


def _date(days: int) -> str:
    return (PLAN_DATE + dt.timedelta(days=int(days))).isoformat()


def write(drawn: Drawn, folder: Path, *, name: str, capabilities: tuple[CapabilitySpec, ...] = CAPABILITIES) -> None:
    """The scenario folder: scenario.toml and one CSV per kind (SPEC §3)."""
    regions, hubs, donors = _geo()
    items = items_of(capabilities)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "scenario.toml").write_text(
        f'name = "{name}"\nplan_date = {PLAN_DATE.isoformat()}\n'
        'description = "Synthetic national-scale benchmark: real regions, hubs and donors; '
        'synthetic needs and pledges."\n',
        encoding="utf-8",
    )

    def table(file: str, header: list[str], rows: list[list[str]]) -> None:
        with (folder / file).open("w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(header)
            writer.writerows(rows)

    table("regions.csv", ["code", "name", "name_local", "population", "lat", "lon"],
          [[r["code"], r["name"], r["name_local"], r["population"], r["lat"], r["lon"]] for r in regions])
    table("hubs.csv", ["code", "name", "country", "lat", "lon"],
          [[h["code"], h["name"], h["country"], h["lat"], h["lon"]] for h in hubs])
    table("catalogue.csv", ["code", "name", "category", "unit", "provides", "factor", "indivisible"],
          [[item.code, item.name, item.category, item.unit, capabilities[c].code, f"{item.factor:g}",
            "true" if item.indivisible else "false"] for c, item in items])
    table("donors.csv", ["code", "name", "kind"],
          [[d, d if len(d) > 2 else f"State {d}", "state" if len(d) == 2 else "multilateral"] for d in donors])
    today = PLAN_DATE
    table("needs.csv", ["ref", "region", "capability", "quantity", "priority", "deadline", "people_served"], [
        [f"N-{i:07d}", regions[int(r)]["code"], capabilities[int(c)].code, str(int(q)), TIERS[int(t)],
         "" if d < 0 else (today + dt.timedelta(days=int(d))).isoformat(), str(int(s))]
        for i, (c, r, q, t, s, d) in enumerate(zip(
            drawn.need_cap, drawn.need_region, drawn.need_qty, drawn.need_tier, drawn.need_people, drawn.need_deadline,
            strict=True))
    ])
    statuses = ("confirmed", "proposed", "withdrawn")
    table("pledges.csv", ["ref", "donor", "item", "units", "available", "hub", "channel", "status"], [
        [f"P-{j:07d}", donors[int(d)], items[int(it)][1].code, str(int(u)), "" if a == -99 else _date(int(a)),
         hubs[int(h)]["code"], CHANNELS[int(ch)], statuses[int(st)]]
        for j, (it, u, h, a, d, st, ch) in enumerate(zip(
            drawn.pledge_item, drawn.pledge_units, drawn.pledge_hub, drawn.pledge_available, drawn.pledge_donor,
            drawn.pledge_status, drawn.pledge_channel, strict=True))
    ])


def generate(folder: Path, *, edges: float, seed: int = 1, shape: str = "national", supply: float = 1.0) -> int:
    """Write a scenario of about ``edges`` candidate edges to ``folder`` (``shape``: a key of ``SHAPES``;
    ``supply``: every capability's supply against its demand scaled by it); returns its exact edge count."""
    capabilities = SHAPES[shape]
    drawn, count = calibrate(edges, seed, capabilities, supply)
    suffix = ("" if shape == "national" else f"-{shape}") + ("" if supply == 1.0 else f"-supply{supply:g}")
    write(drawn, folder, name=f"bench-{int(edges):d}-seed{seed}{suffix}", capabilities=capabilities)
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--edges", type=float, default=1e5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--shape", choices=sorted(SHAPES), default="national")
    parser.add_argument("--supply", type=float, default=1.0, help="scale every capability's supply by this")
    args = parser.parse_args()
    count = generate(args.out, edges=args.edges, seed=args.seed, shape=args.shape, supply=args.supply)
    print(f"wrote {args.out}: {count:,} candidate edges")


if __name__ == "__main__":
    main()
