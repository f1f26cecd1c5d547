"""`/api/v1/catalogue`: the items pledges offer and the capability each provides (public)."""

from __future__ import annotations

from fastapi import APIRouter

from aidpack.catalogue.models import Item
from aidpack.catalogue.schemas import ItemPage, ItemRead
from aidpack.reports import lookups
from aidpack.web.deps import SessionDep
from aidpack.web.http import PUBLIC_READ_ERRORS, CodeFilter, PaginationDep, RefPath

router = APIRouter(prefix="/catalogue", tags=["catalogue"])


def item_read(item: Item) -> ItemRead:
    return ItemRead(
        code=item.code,
        name=item.name,
        name_local=item.name_local,
        category=item.category,
        unit=item.unit,
        provides=item.provides,
        factor=float(item.factor),
        indivisible=item.indivisible,
        unit_value_eur=float(item.unit_value_eur) if item.unit_value_eur is not None else None,
    )


@router.get("", response_model=ItemPage, responses=PUBLIC_READ_ERRORS)
def list_items(
    session: SessionDep, page: PaginationDep, category: CodeFilter = None, provides: CodeFilter = None
) -> ItemPage:
    rows, total = lookups.list_items(
        session, category=category, provides=provides, limit=page.limit, offset=page.offset
    )
    return ItemPage(items=[item_read(i) for i in rows], total=total, limit=page.limit, offset=page.offset)


@router.get("/{code}", response_model=ItemRead, responses=PUBLIC_READ_ERRORS)
def get_item(code: RefPath, session: SessionDep) -> ItemRead:
    return item_read(lookups.item_by_code(session, code))
