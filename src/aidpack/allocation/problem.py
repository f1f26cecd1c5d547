"""One allocation instance as plain arrays: what the engine sees, with no database and no solver.

Every array is ordered deterministically (needs and pledges by ref), so the same data always gives
the same model and the same plan.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

#: Day number standing for "no deadline" (later than any real date ordinal).
NO_DEADLINE = np.int64(10**9)
EARTH_RADIUS_KM = 6371.0
TIER_NAMES: tuple[str, ...] = ("critical", "high", "medium", "low")


@dataclass(frozen=True)
class Problem:
    """The open part of every open need, the available units of every pledge, and the transit table.

    Dates are proleptic Gregorian ordinals (``date.toordinal()``). Needs and pledges are indexed
    0..N-1 and 0..P-1; ``capabilities`` names the capability indices.
    """

    plan_date: int
    capabilities: tuple[str, ...]
    need_refs: tuple[str, ...]
    need_capability: IntArray
    need_demand: FloatArray  # d_n: open quantity, > 0
    need_tier: IntArray  # 0 = critical .. 3 = low
    need_deadline: IntArray  # NO_DEADLINE when none
    need_region: IntArray
    need_people: FloatArray  # s_n
    pledge_refs: tuple[str, ...]
    pledge_capability: IntArray
    pledge_factor: FloatArray
    pledge_integer: BoolArray
    pledge_supply: FloatArray  # q_p: units not held by fixed lines (may be 0)
    pledge_start: IntArray  # max(available, plan date)
    pledge_hub: IntArray
    transit: IntArray  # [hub, region] -> days
    #: Fixed lines (accepted or later): pledge index, the need ref they serve, units. For explanations.
    fixed_pledge: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    fixed_need_ref: tuple[str, ...] = ()
    fixed_units: FloatArray = field(default_factory=lambda: np.zeros(0, dtype=np.float64))

    @property
    def n_needs(self) -> int:
        return len(self.need_refs)

    @property
    def n_pledges(self) -> int:
        return len(self.pledge_refs)

    def digest(self) -> str:
        """SHA-256 over every input, so a saved plan names the exact data it was computed from."""
        h = hashlib.sha256()
        h.update(str(self.plan_date).encode())
        for refs in (self.capabilities, self.need_refs, self.pledge_refs, self.fixed_need_ref):
            h.update("\x1f".join(refs).encode("utf-8"))
            h.update(b"\x1e")
        for array in (
            self.need_capability, self.need_demand, self.need_tier, self.need_deadline, self.need_region,
            self.need_people, self.pledge_capability, self.pledge_factor, self.pledge_integer, self.pledge_supply,
            self.pledge_start, self.pledge_hub, self.transit, self.fixed_pledge, self.fixed_units,
        ):
            h.update(np.ascontiguousarray(array).tobytes())
        return h.hexdigest()


def great_circle_km(lat1: FloatArray, lon1: FloatArray, lat2: FloatArray, lon2: FloatArray) -> FloatArray:
    """Haversine distance on a sphere of radius 6371 km (broadcasting)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dphi = p2 - p1
    dlmb = np.radians(lon2) - np.radians(lon1)
    a = np.sin(dphi / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlmb / 2) ** 2
    result: FloatArray = 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))
    return result


def transit_days(
    hub_lat: FloatArray, hub_lon: FloatArray, region_lat: FloatArray, region_lon: FloatArray
) -> IntArray:
    """τ(h, r) = 1 + ⌈1.3 × d(h, r) / 500⌉ for every hub × region pair."""
    d = great_circle_km(hub_lat[:, None], hub_lon[:, None], region_lat[None, :], region_lon[None, :])
    # Round away float noise before the ceiling so that an exact multiple of 500/1.3 km is not bumped up.
    days: IntArray = (1 + np.ceil(np.round(1.3 * d / 500.0, 9))).astype(np.int64)
    return days
