"""Small Problem instances written the way the spec talks about them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np

from aidpack.allocation.blocks import Previous
from aidpack.allocation.engine import Allocation
from aidpack.allocation.flow import FlowBlock, flow_blocks
from aidpack.allocation.model import BlockModel, build_blocks, candidate_edges
from aidpack.allocation.problem import NO_DEADLINE, Problem, transit_days
from aidpack.allocation.solve import SolveOptions

T0 = dt.date(2022, 11, 29)
#: HiGHS's MIP solved to optimality, the reference the fast paths are checked against.
EXACT_MIP = SolveOptions(tier_gap=0.0, final_gap=0.0, mip_stage_budget=30.0)
TIERS = ("critical", "high", "medium", "low")


@dataclass
class N:
    ref: str
    capability: str
    quantity: float
    tier: str = "critical"
    people: float = 1.0
    deadline: dt.date | None = None
    region: int = 0


@dataclass
class P:
    ref: str
    capability: str
    units: float
    factor: float = 1.0
    integer: bool = False
    available: dt.date | None = None
    hub: int = 0


@dataclass
class Instance:
    needs: list[N]
    pledges: list[P]
    transit: list[list[int]] = field(default_factory=lambda: [[2]])
    plan_date: dt.date = T0

    def problem(self) -> Problem:
        caps = tuple(sorted({n.capability for n in self.needs} | {p.capability for p in self.pledges}))
        ci = {c: i for i, c in enumerate(caps)}
        needs = sorted(self.needs, key=lambda n: n.ref)
        pledges = sorted(self.pledges, key=lambda p: p.ref)
        t = self.plan_date.toordinal()
        return Problem(
            plan_date=t,
            capabilities=caps,
            need_refs=tuple(n.ref for n in needs),
            need_capability=np.array([ci[n.capability] for n in needs], dtype=np.int64),
            need_demand=np.array([n.quantity for n in needs], dtype=np.float64),
            need_tier=np.array([TIERS.index(n.tier) for n in needs], dtype=np.int64),
            need_deadline=np.array(
                [n.deadline.toordinal() if n.deadline else int(NO_DEADLINE) for n in needs], dtype=np.int64
            ),
            need_region=np.array([n.region for n in needs], dtype=np.int64),
            need_people=np.array([n.people for n in needs], dtype=np.float64),
            pledge_refs=tuple(p.ref for p in pledges),
            pledge_capability=np.array([ci[p.capability] for p in pledges], dtype=np.int64),
            pledge_factor=np.array([p.factor for p in pledges], dtype=np.float64),
            pledge_integer=np.array([p.integer for p in pledges], dtype=bool),
            pledge_supply=np.array([p.units for p in pledges], dtype=np.float64),
            pledge_start=np.array(
                [max(p.available.toordinal(), t) if p.available else t for p in pledges], dtype=np.int64
            ),
            pledge_hub=np.array([p.hub for p in pledges], dtype=np.int64),
            transit=np.array(self.transit, dtype=np.int64),
        )


def hub_region_days(hub: tuple[float, float], region: tuple[float, float]) -> int:
    return int(transit_days(np.array([hub[0]]), np.array([hub[1]]), np.array([region[0]]), np.array([region[1]]))[0, 0])


def only_block(instance: Instance) -> FlowBlock:
    """The flow block of an instance with a single capability."""
    problem = instance.problem()
    (block,) = flow_blocks(problem, candidate_edges(problem))
    return block


def blocks_and_models(instance: Instance) -> list[tuple[FlowBlock, BlockModel]]:
    """Each capability's flow block beside HiGHS's model of the same block."""
    problem = instance.problem()
    edges = candidate_edges(problem)
    return list(zip(flow_blocks(problem, edges), build_blocks(problem, edges), strict=True))


def previous_of(result: Allocation) -> Previous:
    """A plan's lines as the previous plan of a re-plan."""
    return Previous(pledge=result.line_pledge, need=result.line_need, units=result.line_units)
