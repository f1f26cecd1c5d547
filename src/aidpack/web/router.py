"""All HTML pages (not part of the OpenAPI document)."""

from __future__ import annotations

from fastapi import APIRouter

from aidpack.web import pages_logistics, pages_needs, pages_plans, pages_pledges, pages_public

pages = APIRouter(include_in_schema=False)
pages.include_router(pages_public.router)
pages.include_router(pages_needs.router)
pages.include_router(pages_pledges.router)
pages.include_router(pages_plans.router)
pages.include_router(pages_logistics.router)
