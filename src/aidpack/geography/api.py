"""`/api/v1/regions` and `/api/v1/hubs` (public reference data)."""

from __future__ import annotations

from fastapi import APIRouter

from aidpack.geography.models import Hub, Region
from aidpack.geography.schemas import HubRead, RegionRead
from aidpack.reports import lookups
from aidpack.web.deps import SessionDep
from aidpack.web.http import PUBLIC_READ_ERRORS, RefPath

router = APIRouter(tags=["geography"])


def region_read(region: Region) -> RegionRead:
    return RegionRead(
        code=region.code,
        name=region.name,
        name_local=region.name_local,
        population=region.population,
        lat=region.lat,
        lon=region.lon,
    )


def hub_read(hub: Hub) -> HubRead:
    return HubRead(code=hub.code, name=hub.name, country=hub.country, lat=hub.lat, lon=hub.lon)


@router.get("/regions", response_model=list[RegionRead], responses=PUBLIC_READ_ERRORS)
def list_regions(session: SessionDep) -> list[RegionRead]:
    return [region_read(r) for r in lookups.list_regions(session)]


@router.get("/regions/{code}", response_model=RegionRead, responses=PUBLIC_READ_ERRORS)
def get_region(code: RefPath, session: SessionDep) -> RegionRead:
    return region_read(lookups.region_by_code(session, code))


@router.get("/hubs", response_model=list[HubRead], responses=PUBLIC_READ_ERRORS)
def list_hubs(session: SessionDep) -> list[HubRead]:
    return [hub_read(h) for h in lookups.list_hubs(session)]


@router.get("/hubs/{code}", response_model=HubRead, responses=PUBLIC_READ_ERRORS)
def get_hub(code: RefPath, session: SessionDep) -> HubRead:
    return hub_read(lookups.hub_by_code(session, code))
