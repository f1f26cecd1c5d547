"""SPEC §4, checked against a reference written here from the spec's own words.

Nothing below reuses the engine's code for what it checks: transit days come from a Vincenty great circle in
``math``, candidate edges and reasons from loops over plain rows, tier optima from the dense MILP of
``tests/allocation/reference.py`` (extended with the last objective). The worlds are written to the real database
and planned by ``run_plan``; the plan is read back as the SPEC §4 object.

The random worlds run derandomized (the same 200 every time): thousands more agreed when this file was written, but
the block engine has open defects on rarer instances (the xfail tests at the end), which must not make the suite
flaky.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, note, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from aidpack.allocation.engine import Allocation, allocate
from aidpack.allocation.models import LineStatus, Termination
from aidpack.allocation.problem import Problem, transit_days
from aidpack.allocation.service import plan_payload, run_plan
from aidpack.cli import common
from aidpack.cli.main import app
from aidpack.geography.models import TransitOverride
from aidpack.needs.models import NeedStatus, Priority
from aidpack.pledges.models import PledgeStatus
from tests.allocation.builders import Instance
from tests.allocation.builders import N as NeedRow
from tests.allocation.builders import P as PledgeRow
from tests.allocation.reference import reference_tier_values, reference_transit_unit_days
from tests.factories import PLAN_DATE, make_hub, make_item, make_line, make_need, make_pledge, make_region, unique

T = PLAN_DATE
TIERS = ("critical", "high", "medium", "low")
EARTH_KM = 6371.0


# --- the reference: SPEC §4 in plain Python ----------------------------------------------------------------------


def great_circle_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """The Vincenty formula on a sphere of 6371 km (atan2: accurate at every distance, antipodes included)."""
    p1, p2 = math.radians(a[0]), math.radians(b[0])
    dl = math.radians(b[1] - a[1])
    across = math.hypot(math.cos(p2) * math.sin(dl),
                        math.cos(p1) * math.sin(p2) - math.sin(p1) * math.cos(p2) * math.cos(dl))
    along = math.sin(p1) * math.sin(p2) + math.cos(p1) * math.cos(p2) * math.cos(dl)
    return EARTH_KM * math.atan2(across, along)


def spec_transit_days(hub: tuple[float, float], region: tuple[float, float]) -> int:
    """τ = 1 + ⌈1.3 d / 500⌉ (a distance within a micrometre of a step counts as on it)."""
    steps = 1.3 * great_circle_km(hub, region) / 500
    return 1 + math.ceil(round(steps, 9))


# --- worlds: a few hubs, regions, items, needs, pledges and fixed lines, written to the database ------------------

FIXED = (LineStatus.ACCEPTED, LineStatus.DISPATCHED, LineStatus.DELIVERED, LineStatus.RECEIVED)


@dataclass
class WItem:
    capability: int
    factor: int
    indivisible: bool


@dataclass
class WNeed:
    region: int
    capability: int
    quantity: int
    tier: str
    deadline: int | None  # days after T
    people: int | None
    cancelled: bool = False


@dataclass
class WPledge:
    item: int
    hub: int
    units: int
    available: int | None  # days after T
    status: PledgeStatus


@dataclass
class WFixed:
    pledge: int
    need: int
    units: int
    status: LineStatus
    received: int | None = None


@dataclass
class World:
    hubs: list[tuple[float, float]]
    regions: list[tuple[float, float]]
    overrides: dict[tuple[int, int], int]
    items: list[WItem]
    needs: list[WNeed]
    pledges: list[WPledge]
    fixed: list[WFixed] = field(default_factory=list)
    include_proposed: bool = False


@dataclass
class Written:
    """The refs the database gave the world's rows, in the world's order."""

    capabilities: list[str]
    need_refs: list[str]
    pledge_refs: list[str]
    fixed_ids: list[int]


def write(session: Session, world: World) -> Written:
    hubs = [make_hub(session, lat=lat, lon=lon) for lat, lon in world.hubs]
    regions = [make_region(session, lat=lat, lon=lon) for lat, lon in world.regions]
    for (h, r), days in world.overrides.items():
        session.add(TransitOverride(hub_id=hubs[h].id, region_id=regions[r].id, days=days))
    n_caps = max([i.capability for i in world.items] + [n.capability for n in world.needs], default=-1) + 1
    capabilities = [unique("CAP") for _ in range(n_caps)]
    items = [
        make_item(session, provides=capabilities[i.capability], factor=Decimal(i.factor), indivisible=i.indivisible)
        for i in world.items
    ]
    needs = [
        make_need(
            session, region=regions[n.region], capability=capabilities[n.capability], quantity=Decimal(n.quantity),
            priority=Priority(n.tier), deadline=None if n.deadline is None else T + dt.timedelta(days=n.deadline),
            people_served=n.people,
        )
        for n in world.needs
    ]
    pledges = [
        make_pledge(
            session, item=items[p.item], hub=hubs[p.hub], units=Decimal(p.units), status=p.status,
            available=None if p.available is None else T + dt.timedelta(days=p.available),
        )
        for p in world.pledges
    ]
    fixed_ids = [
        make_line(session, pledge=pledges[f.pledge], need=needs[f.need], units=Decimal(f.units), status=f.status,
                  received_units=None if f.received is None else Decimal(f.received)).id
        for f in world.fixed
    ]
    for need, row in zip(world.needs, needs, strict=True):
        if need.cancelled:
            row.status = NeedStatus.CANCELLED
    session.flush()
    return Written(capabilities, [n.ref for n in needs], [p.ref for p in pledges], fixed_ids)


class Reference:
    """What SPEC §4 says of a world, worked out row by row."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.tau = [
            [world.overrides.get((h, r), spec_transit_days(hub, region)) for r, region in enumerate(world.regions)]
            for h, hub in enumerate(world.hubs)
        ]

    def capability(self, p: int) -> int:
        return self.world.items[self.world.pledges[p].item].capability

    def factor(self, p: int) -> int:
        return self.world.items[self.world.pledges[p].item].factor

    def considered(self, p: int) -> bool:
        status = self.world.pledges[p].status
        return status is PledgeStatus.CONFIRMED or (status is PledgeStatus.PROPOSED and self.world.include_proposed)

    def start(self, p: int) -> int:
        available = self.world.pledges[p].available
        return max(available or 0, 0)

    def eta(self, p: int, n: int) -> int:
        """Days after T: max(available, T) + τ(hub, region)."""
        return self.start(p) + self.tau[self.world.pledges[p].hub][self.world.needs[n].region]

    def is_edge(self, p: int, n: int) -> bool:
        need = self.world.needs[n]
        return (self.considered(p) and self.capability(p) == need.capability
                and (need.deadline is None or self.eta(p, n) <= need.deadline))

    def deadline(self, n: int) -> dt.date | None:
        offset = self.world.needs[n].deadline
        return None if offset is None else T + dt.timedelta(days=offset)

    def units_left(self, p: int) -> int:
        return self.world.pledges[p].units - sum(f.units for f in self.world.fixed if f.pledge == p)

    def fixed_brings(self, n: int) -> float:
        """What the fixed lines bring: received ones what was received."""
        return float(sum((f.units if f.received is None else f.received) * self.factor(f.pledge)
                         for f in self.world.fixed if f.need == n))

    def is_open(self, n: int) -> bool:
        return not self.world.needs[n].cancelled

    def open_quantity(self, n: int) -> float:
        return max(self.world.needs[n].quantity - self.fixed_brings(n), 0.0)

    def people(self, n: int) -> int:
        return self.world.needs[n].people or 1

    def reason(self, n: int, taken: dict[tuple[int, int], float], refs: list[str]) -> tuple[str, Any]:
        """SPEC §4's reason for a need left short; ``taken``: (pledge, need) -> amount of new and fixed lines."""
        need = self.world.needs[n]
        providers = [p for p in range(len(self.world.pledges))
                     if self.considered(p) and self.capability(p) == need.capability]
        if not providers:
            return "no_supply", None
        feasible = [p for p in providers if self.is_edge(p, n)]
        if not feasible:
            return "too_late", (T + dt.timedelta(days=min(self.eta(p, n) for p in providers))).isoformat()
        takers: dict[str, float] = defaultdict(float)
        for (p, m), amount in taken.items():
            if p in feasible and m != n and amount > 0:
                takers[refs[m]] += amount
        if not takers:
            return "short_supply", None
        return "outcompeted", sorted(takers, key=lambda ref: (-takers[ref], ref))[:3]

    def instance(self) -> tuple[Instance, list[int], list[int]]:
        """The world as the model sees it (open needs with an open part, considered pledges), for the MILP."""
        world = self.world
        need_ids = [n for n in range(len(world.needs)) if self.is_open(n) and self.open_quantity(n) > 0]
        pledge_ids = [p for p in range(len(world.pledges)) if self.considered(p)]
        instance = Instance(
            needs=[
                NeedRow(ref=f"N{n:03}", capability=f"C{world.needs[n].capability}", quantity=self.open_quantity(n),
                        tier=world.needs[n].tier, people=float(self.people(n)), deadline=self.deadline(n),
                        region=world.needs[n].region)
                for n in need_ids
            ],
            pledges=[
                PledgeRow(ref=f"P{p:03}", capability=f"C{self.capability(p)}", units=float(self.units_left(p)),
                          factor=float(self.factor(p)), integer=world.items[world.pledges[p].item].indivisible,
                          available=T + dt.timedelta(days=self.start(p)), hub=world.pledges[p].hub)
                for p in pledge_ids
            ],
            transit=self.tau,
        )
        return instance, need_ids, pledge_ids


def plan_of(session: Session, world: World) -> tuple[Written, dict[str, Any]]:
    written = write(session, world)
    plan = run_plan(session, actor="test", plan_date=T, include_proposed=world.include_proposed)
    return written, plan_payload(session, plan)


def check_plan(world: World, written: Written, payload: dict[str, Any]) -> None:
    """Every SPEC §4 promise the reference can check on a plan of ``world``."""
    ref = Reference(world)
    need_of = {r: n for n, r in enumerate(written.need_refs)}
    pledge_of = {r: p for p, r in enumerate(written.pledge_refs)}
    assert set(payload) == {"plan", "status", "plan_date", "tiers", "lines", "needs", "solve_seconds", "gap"}
    assert payload["status"] == "optimal"
    assert payload["plan_date"] == T.isoformat()
    assert isinstance(payload["plan"], str)
    assert isinstance(payload["solve_seconds"], float)
    assert isinstance(payload["gap"], float)

    # Lines: the new ones on candidate edges with their ETA; the fixed ones on open needs kept, with their status.
    new = [line for line in payload["lines"] if line["status"] == "proposed"]
    kept = [line for line in payload["lines"] if line["status"] != "proposed"]
    expected_kept = {
        str(line_id): f for line_id, f in zip(written.fixed_ids, world.fixed, strict=True) if ref.is_open(f.need)
    }
    assert {line["id"] for line in kept} == set(expected_kept)
    for line in kept:
        f = expected_kept[line["id"]]
        assert (line["pledge"], line["need"], line["status"]) == (
            written.pledge_refs[f.pledge], written.need_refs[f.need], f.status.value)
        assert line["units"] == f.units
        assert line["amount"] == f.units * ref.factor(f.pledge)
    taken: dict[tuple[int, int], float] = defaultdict(float)
    sent: dict[int, float] = defaultdict(float)
    brought_new: dict[int, float] = defaultdict(float)
    for line in new:
        p, n = pledge_of[line["pledge"]], need_of[line["need"]]
        assert ref.is_edge(p, n), line
        assert ref.is_open(n), line
        assert ref.open_quantity(n) > 0, line
        assert line["eta"] == (T + dt.timedelta(days=ref.eta(p, n))).isoformat(), line
        assert line["units"] > 0
        if world.items[world.pledges[p].item].indivisible:
            assert isinstance(line["units"], int), line
        assert line["amount"] == pytest.approx(line["units"] * ref.factor(p), abs=1e-6)
        assert isinstance(line["id"], str)
        taken[p, n] += line["amount"]
        sent[p] += line["units"]
        brought_new[n] += line["amount"]
    for p, units in sent.items():
        assert units <= ref.units_left(p) + 1e-6, (written.pledge_refs[p], units, ref.units_left(p))
    for f in world.fixed:
        taken[f.pledge, f.need] += f.units * ref.factor(f.pledge)

    # Needs: every open need, its whole quantity, what fixed and new lines bring, a reason iff short.
    rows = {row["ref"]: row for row in payload["needs"]}
    assert set(rows) == {written.need_refs[n] for n in range(len(world.needs)) if ref.is_open(n)}
    for n, need in enumerate(world.needs):
        if not ref.is_open(n):
            continue
        row = rows[written.need_refs[n]]
        assert row["quantity"] == float(need.quantity)
        covered = min(float(need.quantity), ref.fixed_brings(n) + brought_new[n])
        assert row["covered"] == pytest.approx(covered, abs=1e-6), row
        # Short as the object reports it (six decimals): a need a millionth short carries a reason too.
        short = row["covered"] < row["quantity"] - 5e-7
        if not short:
            assert row["reason"] is None, row
            continue
        reason, detail = ref.reason(n, taken, written.need_refs)
        assert row["reason"] == reason, (row, detail)
        if reason == "too_late":
            assert row["detail"] == {"earliest_eta": detail}, row
        if reason == "outcompeted":
            assert row["detail"] == {"taken_by": detail}, row

    # Tiers: V_t = Σ s_n y_n / d_n over the needs with an open part, and their people.
    served = [0.0] * 4
    people = [0.0] * 4
    for n, need in enumerate(world.needs):
        d = ref.open_quantity(n)
        if ref.is_open(n) and d > 0:
            tier = TIERS.index(need.tier)
            served[tier] += ref.people(n) * min(brought_new[n], d) / d
            people[tier] += ref.people(n)
    assert set(payload["tiers"]) == set(TIERS)
    for tier, name in enumerate(TIERS):
        assert payload["tiers"][name]["served"] == pytest.approx(served[tier], rel=1e-6, abs=1e-6), name
        assert payload["tiers"][name]["people"] == pytest.approx(people[tier], abs=1e-9), name

    # Optimal: each tier as the exact lexicographic MILP has it, within the 1e-4 gap SPEC §4 allows. An earlier tier
    # within the hold's 1e-7 of its optimum counts as at it (the plan's six decimals leave such hairs, and the MILP
    # would spend them on a later tier at any exchange rate); one further below it frees what it left.
    problem = ref.instance()[0].problem()
    achieved = served  # the plan's own values, not the six decimals the object prints
    best = reference_tier_values(problem)
    held = [a if a < b * (1 - 1e-7) - 1e-9 else b for a, b in zip(achieved, best, strict=True)]
    given_earlier = reference_tier_values(problem, held=held)
    for tier in range(4):
        assert achieved[tier] >= given_earlier[tier] * (1 - 1.01e-4) - 1e-6, (tier, achieved, given_earlier)
    # Last, the fewest unit-days in transit of the plans that serve the tiers as well (within 1e-3).
    unit_days = sum(line["units"] * ref.tau[world.pledges[pledge_of[line["pledge"]]].hub]
                    [world.needs[need_of[line["need"]]].region] for line in new)
    least = reference_transit_unit_days(problem, [min(a, b) for a, b in zip(achieved, given_earlier, strict=True)])
    assert unit_days <= least * (1 + 1e-3) + 1e-6, (unit_days, least)


# --- random worlds ---------------------------------------------------------------------------------------------

#: Places in and around Ukraine (transit 1 to 7 days), one far away, and one the antipode of Kyiv.
PLACES = [(50.45, 30.52), (50.11, 22.019), (47.69, 26.25), (46.48, 30.73), (49.84, 24.03), (48.5, 35.0),
          (35.68, 139.69), (-50.45, -149.48)]


@st.composite
def worlds(draw: st.DrawFn) -> World:
    places = st.sampled_from(PLACES) | st.tuples(st.floats(44, 53), st.floats(14, 40))
    hubs = draw(st.lists(places, min_size=1, max_size=3))
    regions = draw(st.lists(places, min_size=1, max_size=3))
    overrides = draw(st.dictionaries(
        st.tuples(st.integers(0, len(hubs) - 1), st.integers(0, len(regions) - 1)), st.integers(0, 6), max_size=3))
    n_caps = draw(st.integers(1, 3))
    items = [
        WItem(cap, *draw(st.sampled_from([(1, False), (1, True), (5, True), (30, True), (100, True), (3, False)])))
        for cap in range(n_caps) for _ in range(draw(st.integers(1, 2)))
    ]
    needs = [
        WNeed(region=draw(st.integers(0, len(regions) - 1)), capability=draw(st.integers(0, n_caps - 1)),
              quantity=draw(st.integers(1, 400)), tier=draw(st.sampled_from(TIERS)),
              deadline=draw(st.none() | st.integers(-1, 10)), people=draw(st.none() | st.integers(1, 5000)),
              cancelled=draw(st.integers(0, 9)) == 0)
        for _ in range(draw(st.integers(0, 8)))
    ]
    pledges = [
        WPledge(item=draw(st.integers(0, len(items) - 1)), hub=draw(st.integers(0, len(hubs) - 1)),
                units=draw(st.integers(1, 60)), available=draw(st.none() | st.integers(-3, 6)),
                status=draw(st.sampled_from([PledgeStatus.CONFIRMED] * 3 + [PledgeStatus.PROPOSED,
                                                                           PledgeStatus.WITHDRAWN])))
        for _ in range(draw(st.integers(0, 6)))
    ]
    fixed: list[WFixed] = []
    left = [p.units for p in pledges]
    for _ in range(draw(st.integers(0, 3))):
        if not needs or not pledges:
            break
        p, n = draw(st.integers(0, len(pledges) - 1)), draw(st.integers(0, len(needs) - 1))
        if (items[pledges[p].item].capability != needs[n].capability or left[p] == 0
                or pledges[p].status is PledgeStatus.WITHDRAWN):
            continue
        units = draw(st.integers(1, left[p]))
        left[p] -= units
        status = draw(st.sampled_from(FIXED))
        received = draw(st.integers(0, units)) if status is LineStatus.RECEIVED else None
        fixed.append(WFixed(p, n, units, status, received))
    return World(hubs, regions, overrides, items, needs, pledges, fixed, include_proposed=draw(st.booleans()))


@contextmanager
def rolled_back(session: Session) -> Iterator[Session]:
    """One Hypothesis example's rows, gone afterwards (the test's own transaction stays)."""
    savepoint = session.begin_nested()
    try:
        yield session
    finally:
        savepoint.rollback()


@settings(max_examples=200, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(world=worlds())
def test_every_plan_of_a_random_world_is_what_spec_4_says(session: Session, world: World) -> None:
    note(repr(world))
    with rolled_back(session):
        written, payload = plan_of(session, world)
        check_plan(world, written, payload)


# --- transit days: τ = 1 + ⌈1.3 d / 500⌉ on a sphere of 6371 km ---------------------------------------------------

#: Kyiv and its antipode: the longest great circle there is, πR = 20,015 km, 1 + ⌈52.04⌉ = 54 days.
KYIV, KYIV_ANTIPODE = (50.45, 30.52), (-50.45, -149.48)


def on_the_equator(km: float) -> tuple[float, float]:
    """The point ``km`` east of (0, 0) along the equator."""
    return 0.0, math.degrees(km / EARTH_KM)


@pytest.mark.parametrize(
    ("hub", "region", "days"),
    [
        (KYIV, KYIV, 1),  # d = 0
        ((0.0, -180.0), (0.0, 180.0), 1),  # one point, two longitudes
        ((90.0, 0.0), (90.0, 120.0), 1),  # the pole, any longitude
        (KYIV, KYIV_ANTIPODE, 54),
        ((90.0, 0.0), (-90.0, 0.0), 54),
        ((0.0, 0.0), on_the_equator(1.0), 2),
        *[((0.0, 0.0), on_the_equator(k * 500 / 1.3), 1 + k) for k in (1, 2, 3, 10, 52)],  # exactly k steps
        *[((0.0, 0.0), on_the_equator(k * 500 / 1.3 + 0.001), 2 + k) for k in (1, 10)],  # a metre past them
    ],
)
def test_transit_days_follow_the_great_circle_rule_at_its_edges(
    hub: tuple[float, float], region: tuple[float, float], days: int
) -> None:
    assert transit_days(np.array([hub[0]]), np.array([hub[1]]), np.array([region[0]]), np.array([region[1]]))[0, 0] \
        == days


@settings(max_examples=300, deadline=None)
@given(st.tuples(st.floats(-90, 90), st.floats(-180, 180)), st.tuples(st.floats(-90, 90), st.floats(-180, 180)))
def test_transit_days_are_the_spec_rule_everywhere(hub: tuple[float, float], region: tuple[float, float]) -> None:
    steps = 1.3 * great_circle_km(hub, region) / 500
    assume(abs(steps - round(steps)) > 1e-6)  # on a step, float noise decides either way (the cases above)
    assert transit_days(np.array([hub[0]]), np.array([hub[1]]), np.array([region[0]]), np.array([region[1]]))[0, 0] \
        == 1 + math.ceil(steps)


# --- candidate edges and ETAs, from the database -----------------------------------------------------------------


def need_row(payload: dict[str, Any], ref: str) -> dict[str, Any]:
    (row,) = [row for row in payload["needs"] if row["ref"] == ref]
    return dict(row)


def lines_to(payload: dict[str, Any], ref: str) -> list[dict[str, Any]]:
    return [line for line in payload["lines"] if line["need"] == ref]


def one_pledge_world(hub: tuple[float, float], region: tuple[float, float], *, deadline: int | None,
                     available: int | None, override: int | None = None) -> World:
    """One need of 5 kits in ``region``, one pledge of 5 kits at ``hub``."""
    return World(
        hubs=[hub], regions=[region], overrides={} if override is None else {(0, 0): override},
        items=[WItem(0, 1, True)], needs=[WNeed(0, 0, 5, "critical", deadline, 100)],
        pledges=[WPledge(0, 0, 5, available, PledgeStatus.CONFIRMED)],
    )


@pytest.mark.parametrize(
    ("hub", "region", "available", "override", "eta"),
    [
        (KYIV, KYIV, None, None, 1),  # no available date: the plan date; d = 0: one day
        (KYIV, KYIV, -5, None, 1),  # available before T: from T
        (KYIV, KYIV, 4, None, 5),  # available after T: from then
        ((0.0, 0.0), on_the_equator(3 * 500 / 1.3), 2, None, 6),  # exactly three steps: 4 days
        (KYIV, KYIV_ANTIPODE, None, None, 54),
        (KYIV, KYIV_ANTIPODE, None, 0, 0),  # an override of 0 days: it arrives the day it leaves
        (KYIV, KYIV_ANTIPODE, 3, 0, 3),
        (KYIV, KYIV, None, 9, 9),  # an override replaces the rule, also when it is longer
    ],
)
def test_a_deadline_met_to_the_day_is_an_edge_and_a_day_earlier_is_too_late(
    session: Session, hub: tuple[float, float], region: tuple[float, float], available: int | None,
    override: int | None, eta: int,
) -> None:
    arrives = (T + dt.timedelta(days=eta)).isoformat()
    for deadline in (None, eta):
        with rolled_back(session):
            world = one_pledge_world(hub, region, deadline=deadline, available=available, override=override)
            written, payload = plan_of(session, world)
            check_plan(world, written, payload)
            (line,) = lines_to(payload, written.need_refs[0])
            assert (line["units"], line["eta"]) == (5, arrives)
    with rolled_back(session):
        world = one_pledge_world(hub, region, deadline=eta - 1, available=available, override=override)
        written, payload = plan_of(session, world)
        check_plan(world, written, payload)
        assert lines_to(payload, written.need_refs[0]) == []
        row = need_row(payload, written.need_refs[0])
        assert (row["reason"], row["detail"]) == ("too_late", {"earliest_eta": arrives})


# --- reasons: each one the only right one ------------------------------------------------------------------------

HERE = (50.45, 30.52)
FAR = (46.48, 30.73)  # Odesa from Kyiv: 443 km, 1 + ⌈1.15⌉ = 3 days


def reasons_of(world: World, session: Session) -> dict[int, tuple[str | None, Any]]:
    """Need index -> (reason, detail), after checking the whole plan against the reference."""
    written, payload = plan_of(session, world)
    check_plan(world, written, payload)
    rows = [need_row(payload, ref) for n, ref in enumerate(written.need_refs) if not world.needs[n].cancelled]
    refs = {ref: n for n, ref in enumerate(written.need_refs)}
    result: dict[int, tuple[str | None, Any]] = {}
    for row in rows:
        detail = row["detail"] or None
        if detail and "taken_by" in detail:
            detail = [refs[r] for r in detail["taken_by"]]  # need indices, to compare with the world
        elif detail and "proposed" in detail:
            detail = [written.pledge_refs.index(r) for r in detail["proposed"]]  # pledge indices
        elif detail:
            detail = detail["earliest_eta"]
        result[refs[row["ref"]]] = (row["reason"], detail)
    return result


def test_no_supply_when_no_pledge_that_counts_provides_the_capability(session: Session) -> None:
    # Kits are pledged, but proposed (not asked for) or withdrawn; a confirmed pledge of another capability.
    world = World(
        hubs=[HERE], regions=[HERE], overrides={}, items=[WItem(0, 1, True), WItem(1, 1, True)],
        needs=[WNeed(0, 0, 10, "critical", None, 50)],
        pledges=[WPledge(0, 0, 10, None, PledgeStatus.PROPOSED), WPledge(0, 0, 10, None, PledgeStatus.WITHDRAWN),
                 WPledge(1, 0, 10, None, PledgeStatus.CONFIRMED)],
    )
    with rolled_back(session):
        # The proposed pledge is named: `--include-proposed` would use it (QA's edge1).
        assert reasons_of(world, session) == {0: ("no_supply", [0])}
    world.include_proposed = True
    with rolled_back(session):
        assert reasons_of(world, session) == {0: (None, None)}


def test_too_late_gives_the_earliest_arrival_of_any_pledge_that_provides_the_capability(session: Session) -> None:
    # Deadline T+1. Near hub: available T+2 (arrives T+3); far hub: available before T (arrives T+3 too);
    # near hub, available T+1 (arrives T+2, the earliest); a withdrawn pledge that would arrive T+1 does not count.
    world = World(
        hubs=[HERE, FAR], regions=[HERE], overrides={}, items=[WItem(0, 1, False)],
        needs=[WNeed(0, 0, 10, "critical", 1, 50)],
        pledges=[WPledge(0, 0, 10, 2, PledgeStatus.CONFIRMED), WPledge(0, 1, 10, -4, PledgeStatus.CONFIRMED),
                 WPledge(0, 0, 10, 1, PledgeStatus.CONFIRMED), WPledge(0, 0, 10, None, PledgeStatus.WITHDRAWN)],
    )
    with rolled_back(session):
        assert reasons_of(world, session) == {0: ("too_late", (T + dt.timedelta(days=2)).isoformat())}


def test_outcompeted_names_the_three_that_took_most_ties_by_ref(session: Session) -> None:
    # 40 kits for six critical needs; the most people per kit first: needs 1-5 (fewer kits each, as many people)
    # take them, need 0 (100 kits) is left with nothing. Takers: 12, 10, 8, 8 (a tie) and 2 kits.
    sizes = [100, 12, 8, 10, 8, 2]
    world = World(
        hubs=[HERE], regions=[HERE], overrides={}, items=[WItem(0, 1, True)],
        needs=[WNeed(0, 0, q, "critical", None, 1000) for q in sizes],
        pledges=[WPledge(0, 0, 40, None, PledgeStatus.CONFIRMED)],
    )
    with rolled_back(session):
        written = write(session, world)
        payload = plan_payload(session, run_plan(session, actor="test", plan_date=T))
        check_plan(world, written, payload)
        ties = sorted([written.need_refs[2], written.need_refs[4]])
        assert need_row(payload, written.need_refs[0])["detail"] == {
            "taken_by": [written.need_refs[1], written.need_refs[3], ties[0]]}


def test_short_supply_when_all_feasible_supply_is_on_the_need(session: Session) -> None:
    # 60 of 100 kits arrive in time and all go to the need; 50 more exist but arrive too late.
    world = World(
        hubs=[HERE, FAR], regions=[HERE], overrides={}, items=[WItem(0, 1, True)],
        needs=[WNeed(0, 0, 100, "critical", 1, 50)],
        pledges=[WPledge(0, 0, 60, None, PledgeStatus.CONFIRMED), WPledge(0, 1, 50, None, PledgeStatus.CONFIRMED)],
    )
    with rolled_back(session):
        assert reasons_of(world, session) == {0: ("short_supply", None)}


def test_units_held_by_fixed_lines_are_taken_by_their_needs(session: Session) -> None:
    # One confirmed pledge of 30 kits, all of it accepted: 20 for need 1 (received), 10 for need 0 itself. Need 0 is
    # outcompeted by need 1; need 2, with nothing of it, by need 1 and need 0, the larger taker first. When all
    # 30 are on need 0, what is feasible is all on it.
    world = World(
        hubs=[HERE], regions=[HERE], overrides={}, items=[WItem(0, 1, True)],
        needs=[WNeed(0, 0, 50, "critical", None, 50), WNeed(0, 0, 20, "high", None, 50),
               WNeed(0, 0, 5, "low", None, 50)],
        pledges=[WPledge(0, 0, 30, None, PledgeStatus.CONFIRMED)],
        fixed=[WFixed(0, 1, 20, LineStatus.RECEIVED, received=20), WFixed(0, 0, 10, LineStatus.ACCEPTED)],
    )
    with rolled_back(session):
        assert reasons_of(world, session) == {0: ("outcompeted", [1]), 1: (None, None), 2: ("outcompeted", [1, 0])}
    world.fixed = [WFixed(0, 0, 30, LineStatus.DISPATCHED)]
    with rolled_back(session):
        reasons = reasons_of(world, session)
        assert reasons[0] == ("short_supply", None)


def test_units_held_for_a_need_cancelled_since_are_taken_by_it_not_short_supply(session: Session) -> None:
    # Need 0 accepted 10 kits of the only pledge and was cancelled afterwards: the kits stay committed to it. Need 1 is
    # short because need 0 took them. The engine saw only the fixed lines of open needs: with 2 kits left (all sent
    # to need 1) it said short_supply ("all feasible supply is already on this need", which has 2 of 12), and it
    # would have named only open needs among the takers.
    world = World(
        hubs=[HERE], regions=[HERE], overrides={}, items=[WItem(0, 1, False)],
        needs=[WNeed(0, 0, 10, "critical", None, 50, cancelled=True), WNeed(0, 0, 10, "critical", None, 50)],
        pledges=[WPledge(0, 0, 12, None, PledgeStatus.CONFIRMED)],
        fixed=[WFixed(0, 0, 10, LineStatus.ACCEPTED)],
    )
    with rolled_back(session):
        assert reasons_of(world, session) == {1: ("outcompeted", [0])}
    world.pledges[0].units = 10
    with rolled_back(session):
        assert reasons_of(world, session) == {1: ("outcompeted", [0])}


# --- the engine's optimum on instances it gets wrong (defects in the block engine, open) ---------------------------


def days(n: int) -> dt.date:
    return T + dt.timedelta(days=n)


def unit_days(problem: Problem, result: Allocation) -> float:
    tau = problem.transit[problem.pledge_hub[result.line_pledge], problem.need_region[result.line_need]]
    return float(tau @ result.line_units)


def test_a_tier_of_few_people_is_within_its_relative_gap() -> None:
    # rounding.tier_gaps forgave a thousandth of a person: with people served 1, a tier 1.05e-4 short was optimal.
    # Two medium needs of one person each. N4 (deadline T+3, 3 days away) can only have P0 and P1; N2 takes the
    # 153 kW of P2 and 185 of P0/P1. The optimum 1 + 44/352 = 1.125 sends N2 37 generators (185) and N4 one
    # generator and P1's 39. The engine sends N4 nine generators (45) and leaves N2 1 kW short: 1.1248823.
    instance = Instance(
        needs=[NeedRow("N2", "C", 338, "medium", 1.0, None, 1), NeedRow("N4", "C", 352, "medium", 1.0, days(3), 0)],
        pledges=[PledgeRow("P0", "C", 38, 5, True, None, 0), PledgeRow("P1", "C", 13, 3, False, None, 0),
                 PledgeRow("P2", "C", 51, 3, False, days(1), 0)],
        transit=[[3, 1]],
    )
    problem = instance.problem()
    result = allocate(problem)
    best = reference_tier_values(problem)
    assert best[2] == pytest.approx(1.125)
    assert result.termination is Termination.OPTIMAL
    assert result.tier_served[2] >= best[2] * (1 - 1e-4)


def test_six_needs_and_six_pledges_are_solved_to_the_last_objectives_gap() -> None:
    # The transit stage's plan (69 unit-days) was refused for the 1e-8 of a person its hold let HiGHS give up: the
    # plan kept 137.3 and said time_limit, gap 0.497.
    instance = Instance(
        needs=[NeedRow("N0", "A", 299, "low", 1.0, None, 0), NeedRow("N1", "A", 13, "medium", 1.0, None, 0),
               NeedRow("N2", "A", 380, "medium", 1.0, days(7), 1), NeedRow("N3", "A", 390, "low", 1.0, None, 1),
               NeedRow("N4", "A", 289, "medium", 4810.0, days(2), 1),
               NeedRow("N5", "A", 232, "medium", 1.0, days(7), 1)],
        pledges=[PledgeRow("P0", "A", 6, 30, True, days(2), 1), PledgeRow("P1", "A", 17, 5, True, days(2), 1),
                 PledgeRow("P2", "A", 10, 5, True, days(4), 0), PledgeRow("P3", "A", 14, 1, True, days(1), 0),
                 PledgeRow("P4", "A", 8, 5, True, days(0), 0), PledgeRow("P5", "A", 228, 3, False, None, 1)],
        transit=[[2, 3], [1, 0]],
    )
    problem = instance.problem()
    result = allocate(problem)
    best = reference_tier_values(problem)
    assert result.tier_served == pytest.approx(best, rel=1e-4)
    least = reference_transit_unit_days(problem, [v * (1 - 1e-9) for v in best])
    assert least == pytest.approx(69.0, abs=0.01)
    assert result.termination is Termination.OPTIMAL
    assert unit_days(problem, result) <= least * (1 + 1e-3)


def test_a_block_whose_mip_proved_tiers_below_the_lp_has_its_unit_days_proved_too() -> None:
    # The MIP proved the tiers (below the LP's: whole 250 kW generators), and its plan travelled 55 unit-days where
    # 47 serve the same tiers; the LP's unit-days bound only plans serving the LP's tiers, so the transit went
    # unmeasured and the plan said optimal, gap 0.
    instance = Instance(
        needs=[NeedRow("N0", "C", 232, "critical", 500.0, days(2), 0), NeedRow("N1", "C", 138, "low", 1.0, days(6), 0),
               NeedRow("N2", "C", 937, "high", 4810.0, None, 1)],
        pledges=[PledgeRow("P0", "C", 4, 250, True, None, 1), PledgeRow("P1", "C", 13, 3, True, None, 1),
                 PledgeRow("P2", "C", 37, 3, True, None, 1), PledgeRow("P3", "C", 9, 3, True, days(2), 0),
                 PledgeRow("P4", "C", 1, 3, False, days(0), 1), PledgeRow("P5", "C", 14, 5, True, None, 1)],
        transit=[[0, 0], [0, 1]],
    )
    problem = instance.problem()
    result = allocate(problem)
    best = reference_tier_values(problem)
    assert result.tier_served == pytest.approx(best, rel=1e-9)
    least = reference_transit_unit_days(problem, [v * (1 - 1e-12) for v in best])
    assert least == pytest.approx(47.0)
    assert unit_days(problem, result) <= least * (1 + 1e-3)
    assert result.termination is Termination.OPTIMAL


def test_a_plan_whose_transit_stage_serves_a_tier_better_has_its_unit_days_proved_at_the_new_tiers() -> None:
    # Ten needs: the MIP phase left the critical tier 8.9e-7 of itself short (within the tier gap: "optimal"), so its
    # 75.6 unit-days went unmeasured where 72 serve those tiers; HiGHS's transit stage then served the critical tier
    # in full, and its bound held only for plans serving the old tiers: a second round proves the new plan's.
    instance = Instance(
        needs=[NeedRow("N0", "C", 138, "critical", 10.0, days(6), 0),
               NeedRow("N1", "C", 232, "critical", 1.0, days(2), 1),
               NeedRow("N2", "C", 95, "critical", 1.0, days(6), 1), NeedRow("N3", "C", 95, "medium", 500.0, None, 0),
               NeedRow("N4", "C", 380, "medium", 10.0, days(4), 1),
               NeedRow("N5", "C", 95, "critical", 4810.0, None, 0)],
        pledges=[PledgeRow("P0", "C", 17, 1, False, None, 1), PledgeRow("P1", "C", 9, 1, True, None, 0),
                 PledgeRow("P2", "C", 10, 3, True, None, 0), PledgeRow("P3", "C", 14, 3, True, None, 1),
                 PledgeRow("P4", "C", 16, 1, False, days(3), 1), PledgeRow("P5", "C", 29, 5, False, None, 0),
                 PledgeRow("P6", "C", 4, 1, False, None, 1), PledgeRow("P7", "C", 9, 3, True, days(0), 0),
                 PledgeRow("P8", "C", 28, 5, True, None, 1), PledgeRow("P9", "C", 10, 5, True, days(0), 1)],
        transit=[[1, 2], [3, 0]],
    )
    problem = instance.problem()
    result = allocate(problem)
    best = reference_tier_values(problem)
    assert result.tier_served[0] == pytest.approx(best[0], rel=1e-12)
    least = reference_transit_unit_days(problem, [v * (1 - 1e-12) for v in result.tier_served])
    assert unit_days(problem, result) <= least * (1 + 1e-3)
    assert result.termination is Termination.OPTIMAL


def test_tiers_served_in_full_are_held_in_full_while_unit_days_are_minimised() -> None:
    # Every need covered: HiGHS's transit stage held each tier a hair below and spent it, a greedy pass then filled
    # the hairs from the far hub, and the plan took 24.02 unit-days where 23.8 serve every need (time_limit, 0.0082).
    instance = Instance(
        needs=[NeedRow("N0", "C", 95, "low", 1.0, days(2), 1), NeedRow("N1", "C", 95, "critical", 1.0, None, 1),
               NeedRow("N2", "C", 937, "medium", 1.0, None, 0), NeedRow("N3", "C", 937, "high", 10.0, None, 1),
               NeedRow("N4", "C", 95, "high", 4810.0, days(6), 1), NeedRow("N5", "C", 937, "high", 1.0, None, 1),
               NeedRow("N6", "C", 95, "high", 1.0, None, 1), NeedRow("N7", "C", 138, "medium", 1.0, days(1), 0)],
        pledges=[PledgeRow("P0", "C", 2, 100, True, None, 0), PledgeRow("P1", "C", 19, 5, True, None, 0),
                 PledgeRow("P2", "C", 22, 100, True, None, 1), PledgeRow("P3", "C", 19, 5, False, days(2), 0),
                 PledgeRow("P4", "C", 5, 250, False, None, 0)],
        transit=[[0, 1], [0, 2]],
    )
    problem = instance.problem()
    result = allocate(problem)
    assert result.tier_served.tolist() == pytest.approx([1.0, 4822.0, 2.0, 1.0])
    assert unit_days(problem, result) == pytest.approx(reference_transit_unit_days(problem, [1.0, 4822.0, 2.0, 1.0]))
    assert result.termination is Termination.OPTIMAL


def test_a_transit_optimal_plan_of_three_pledges_is_optimal() -> None:
    # Its first rounding served the medium tier 1.0191 of 1.02 people, a loss rounding.tier_gaps forgave: HiGHS's
    # transit stage found 1.02 but proved its bound for plans serving 1.0191, and the plan said time_limit, 0.0039.
    instance = Instance(
        needs=[NeedRow("N2", "C", 338, "medium", 1.0, None, 1), NeedRow("N4", "C", 400, "medium", 1.0, days(3), 0)],
        pledges=[PledgeRow("P0", "C", 38, 5, True, None, 0), PledgeRow("P1", "C", 1, 3, False, None, 0),
                 PledgeRow("P2", "C", 51, 3, False, days(1), 0)],
        transit=[[3, 1]],
    )
    problem = instance.problem()
    result = allocate(problem)
    assert unit_days(problem, result) == pytest.approx(reference_transit_unit_days(problem, [0, 0, 1.02 - 1e-9, 0]))
    assert result.termination is Termination.OPTIMAL
    assert result.gap <= 1e-3


# --- `aidpack allocate --json`: the SPEC §4 object, before and after a short receipt ----------------------------

SCENARIO = {
    "scenario.toml": 'name = "contract"\nplan_date = 2022-11-29\n',
    "regions.csv": "code,name,lat,lon\nR-KY,Kyiv,50.45,30.52\nR-OD,Odesa,46.48,30.73\n",
    "hubs.csv": "code,name,lat,lon\nH-KY,Kyiv depot,50.45,30.52\nH-RZ,Rzeszow,50.11,22.019\n",
    "catalogue.csv": (
        "code,name,category,unit,provides,factor,indivisible\n"
        "KIT,Winter kit,winter,piece,KIT,1,true\n"
        "GEN-100KW,Generator,energy,piece,POWER-KW,100,true\n"
        "DIESEL-L,Diesel,fuel,litre,DIESEL-L,1,false\n"
    ),
    "donors.csv": "code,name,kind\nDE,Germany,state\nFR,France,state\n",
    "needs.csv": (
        "ref,region,capability,quantity,priority,deadline,people_served\n"
        "N1,R-KY,KIT,10,critical,2022-11-30,100\n"  # kits from the Kyiv depot: 1 day, the deadline to the day
        "N2,R-OD,POWER-KW,250,high,,500\n"
        "N3,R-OD,DIESEL-L,1000,medium,2022-11-29,50\n"  # Rzeszow -> Odesa overridden to 0 days: arrives today
        "N4,R-KY,KIT,5,low,,10\n"
    ),
    "pledges.csv": (
        "ref,donor,item,units,available,hub,status\n"
        "P1,DE,KIT,12,,H-KY,confirmed\n"
        "P2,FR,GEN-100KW,2,2022-11-20,H-RZ,confirmed\n"
        "P3,DE,DIESEL-L,600,,H-RZ,\n"
        "P4,FR,KIT,50,,H-KY,proposed\n"
    ),
    "transit.csv": "hub,region,days\nH-RZ,R-OD,0\n",
}


def cli(*args: str) -> Any:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout) if "--json" in args else result.stdout


@pytest.fixture
def scenario_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("AIDPACK_DATABASE_URL", f"sqlite:///{tmp_path / 'contract.db'}")
    common.session_factory.cache_clear()
    folder = tmp_path / "scenario"
    folder.mkdir()
    for name, text in SCENARIO.items():
        (folder / name).write_text(text, encoding="utf-8")
    cli("import", str(folder))
    yield folder
    common.session_factory.cache_clear()


def check_object(plan: dict[str, Any]) -> None:
    """The keys and types of SPEC §4's object."""
    assert set(plan) == {"plan", "status", "plan_date", "tiers", "lines", "needs", "solve_seconds", "gap"}
    assert isinstance(plan["plan"], str)
    assert plan["status"] in ("optimal", "time_limit", "infeasible")
    assert plan["plan_date"] == "2022-11-29"
    assert set(plan["tiers"]) == set(TIERS)
    assert all(set(tier) == {"served", "people"} and all(isinstance(v, float | int) for v in tier.values())
               for tier in plan["tiers"].values())
    for line in plan["lines"]:
        assert set(line) == {"id", "pledge", "need", "units", "amount", "eta", "status"}
        assert isinstance(line["id"], str)
        assert isinstance(line["units"], int | float)
        assert isinstance(line["amount"], float)
        assert dt.date.fromisoformat(line["eta"])
    for need in plan["needs"]:
        assert {"ref", "quantity", "covered", "reason"} <= set(need)
        assert isinstance(need["quantity"], float)
        assert isinstance(need["covered"], float)
    assert isinstance(plan["solve_seconds"], float)
    assert isinstance(plan["gap"], float)


def test_allocate_json_keeps_a_short_receipts_line_and_counts_what_was_received(scenario_db: Path) -> None:
    first = cli("allocate", "--json")
    check_object(first)
    assert first["status"] == "optimal"
    lines = {(line["pledge"], line["need"]): line for line in first["lines"]}
    assert {key: (line["units"], line["eta"], line["status"]) for key, line in lines.items()} == {
        ("P1", "N1"): (10, "2022-11-30", "proposed"),
        ("P1", "N4"): (2, "2022-11-30", "proposed"),
        ("P2", "N2"): (2, "2022-11-29", "proposed"),  # available before the plan date: leaves on it, 0 days
        ("P3", "N3"): (600, "2022-11-29", "proposed"),
    }
    needs = {need["ref"]: (need["quantity"], need["covered"], need["reason"]) for need in first["needs"]}
    assert needs == {"N1": (10.0, 10.0, None), "N2": (250.0, 200.0, "short_supply"),
                     "N3": (1000.0, 600.0, "short_supply"), "N4": (5.0, 2.0, "outcompeted")}
    assert first["tiers"] == {
        "critical": {"served": 100.0, "people": 100.0}, "high": {"served": 400.0, "people": 500.0},
        "medium": {"served": 30.0, "people": 50.0}, "low": {"served": 4.0, "people": 10.0},
    }

    # The 10 kits for N1 are accepted, shipped, and 7 arrive usable.
    kits = lines[("P1", "N1")]["id"]
    cli("plan", "accept", first["plan"], "--line", kits)
    shipment = cli("ship", kits, "--json")["shipment"]
    cli("receive", str(shipment), "--line", kits, "--units", "7")

    second = cli("allocate", "--json")
    check_object(second)
    kept = [line for line in second["lines"] if line["status"] != "proposed"]
    assert kept == [{**lines[("P1", "N1")], "status": "received"}]
    new = {(line["pledge"], line["need"]): line["units"] for line in second["lines"] if line["status"] == "proposed"}
    # P1 has 2 kits left; N1 is open again for the 3 that did not arrive and, critical, takes both.
    assert new == {("P1", "N1"): 2, ("P2", "N2"): 2, ("P3", "N3"): 600}
    needs = {need["ref"]: (need["quantity"], need["covered"], need["reason"]) for need in second["needs"]}
    assert needs["N1"] == (10.0, 9.0, "short_supply")  # 7 received + 2 new
    assert needs["N4"] == (5.0, 0.0, "outcompeted")
    # Critical: N1's open part is 3 kits, 2 of them planned: 100 × 2/3.
    assert second["tiers"]["critical"] == {"served": pytest.approx(66.666667), "people": 100.0}
    assert cli("plan", "show", "--json") == second
