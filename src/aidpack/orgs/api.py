"""`/api/v1/donors` (public)."""

from __future__ import annotations

from fastapi import APIRouter

from aidpack.orgs.models import Organisation
from aidpack.orgs.schemas import DonorRead
from aidpack.reports import lookups
from aidpack.web.deps import SessionDep
from aidpack.web.http import PUBLIC_READ_ERRORS, RefPath

router = APIRouter(prefix="/donors", tags=["donors"])


def donor_read(org: Organisation) -> DonorRead:
    return DonorRead(code=org.code, name=org.name, kind=org.kind, country=org.country)


@router.get("", response_model=list[DonorRead], responses=PUBLIC_READ_ERRORS)
def list_donors(session: SessionDep) -> list[DonorRead]:
    return [donor_read(o) for o in lookups.list_donors(session)]


@router.get("/{code}", response_model=DonorRead, responses=PUBLIC_READ_ERRORS)
def get_donor(code: RefPath, session: SessionDep) -> DonorRead:
    return donor_read(lookups.org_by_code(session, code, donor=True))
