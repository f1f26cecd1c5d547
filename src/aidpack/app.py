"""The web service: the JSON API under /api/v1, the pages at /, static files; errors mapped once here."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.routing import iter_route_contexts
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from aidpack import __version__
from aidpack.config import Settings
from aidpack.db import make_engine, make_session_factory, migrate
from aidpack.errors import Conflict, DomainError, StaleVersion, Unauthorized
from aidpack.web.deps import SessionMaker

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1"
STATIC_DIR_NAME = "static"

#: HTTP status → the stable code of errors raised by the framework rather than by us.
HTTP_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    406: "NOT_ACCEPTABLE",
    409: "CONFLICT",
    413: "TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "VALIDATION_FAILED",
    429: "TOO_MANY_REQUESTS",
    500: "INTERNAL_ERROR",
}

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'self'"
    ),
}


def _is_api(request: Request) -> bool:
    return request.url.path.startswith(API_PREFIX)


def _error_body(code: str, detail: str, context: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": code, "detail": detail, "context": context or {}}


def _error_page(request: Request, status: int, code: str, detail: str) -> Response:
    from aidpack.web.templating import render

    principal = getattr(request.state, "page_principal", None)
    return render(
        request,
        "error.html",
        {"principal": principal, "status": status, "code": code, "detail": detail},
        status_code=status,
    )


def _answer(
    request: Request,
    status: int,
    code: str,
    detail: str,
    context: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """The one error answer: JSON for the API, an HTML page (or a sign-in redirect) for pages."""
    if _is_api(request):
        return JSONResponse(_error_body(code, detail, context), status_code=status, headers=headers)
    if status == 401:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
    return _error_page(request, status, code, detail)


async def domain_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthorized) else None
    return _answer(request, exc.http_status, exc.code, exc.detail, exc.context, headers)


async def validation_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {
            "loc": [str(part) for part in err.get("loc", ())],
            "msg": str(err.get("msg", "")),
            "type": str(err.get("type", "")),
        }
        for err in exc.errors()
    ]
    if any(err["type"] == "json_invalid" for err in errors):
        return _answer(request, 400, "MALFORMED_REQUEST", "the request body is not valid JSON", {"errors": errors})
    first = errors[0] if errors else {"loc": [], "msg": "invalid input"}
    where = ".".join(first["loc"][1:] if len(first["loc"]) > 1 else first["loc"])
    detail = f"{where}: {first['msg']}" if where else str(first["msg"])
    return _answer(request, 422, "INVALID_REQUEST", detail, {"errors": errors})


def _allowed_methods(request: Request) -> str:
    """Every method of every route on this path (the router names only the first route's)."""
    methods: set[str] = set()
    for route in iter_route_contexts(request.app.routes):
        regex = getattr(route, "path_regex", None)
        if regex is not None and route.methods and regex.match(request.url.path):
            methods |= set(route.methods)
    return ", ".join(sorted(methods))


async def http_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = HTTP_CODES.get(exc.status_code, f"HTTP_{exc.status_code}")
    detail = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ").lower()
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = _allowed_methods(request)
    return _answer(request, exc.status_code, code, detail, headers=headers)


async def stale_data_handler(request: Request, exc: Exception) -> Response:
    error = StaleVersion("someone else changed this record at the same time; read it again")
    return _answer(request, error.http_status, error.code, error.detail)


async def integrity_error_handler(request: Request, exc: Exception) -> Response:
    log.info("integrity error answered as a conflict: %s", exc)
    error = Conflict("the change conflicts with the current data (it may have been changed at the same time)")
    return _answer(request, error.http_status, error.code, error.detail)


async def server_error_handler(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse(_error_body("INTERNAL_ERROR", "an unexpected error occurred"), status_code=500)


def _api_router() -> APIRouter:
    from aidpack.allocation.api import router as plans
    from aidpack.auth.api import router as auth
    from aidpack.catalogue.api import router as catalogue
    from aidpack.geography.api import router as geography
    from aidpack.logistics.api import router as logistics
    from aidpack.needs.api import router as needs
    from aidpack.orgs.api import router as donors
    from aidpack.pledges.api import router as pledges
    from aidpack.reports.api import router as reports
    from aidpack.sites.api import router as sites

    api = APIRouter(prefix=API_PREFIX)
    for router in (auth, needs, pledges, sites, donors, catalogue, geography, plans, reports, logistics):
        api.include_router(router)
    return api


def create_app(settings: Settings | None = None, *, session_factory: SessionMaker | None = None) -> FastAPI:
    """The application. Without ``session_factory`` it opens (and migrates) ``settings.database_url``."""
    from pathlib import Path

    from aidpack.web.router import pages

    settings = settings or Settings()
    if session_factory is None:
        engine = make_engine(settings.database_url)
        migrate(engine)
        session_factory = make_session_factory(engine)
    app = FastAPI(
        title="aidpack",
        version=__version__,
        description="Needs, pledges, allocation plans and deliveries of an aid-package mechanism.",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=f"{API_PREFIX}/docs",
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=f"{API_PREFIX}/docs/oauth2-redirect",
    )
    app.state.settings = settings
    app.state.session_factory = session_factory
    app.state.secret_key = settings.secret_key or secrets.token_urlsafe(32)

    app.add_exception_handler(DomainError, domain_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(StarletteHTTPException, http_error_handler)
    app.add_exception_handler(StaleDataError, stale_data_handler)
    app.add_exception_handler(IntegrityError, integrity_error_handler)
    app.add_exception_handler(Exception, server_error_handler)

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        if _is_api(request) and "authorization" in request.headers:
            # An answer for one account (restricted sites, its organisation's lines) is kept by no cache, as the
            # pages of a signed-in account are not.
            response.headers.setdefault("Cache-Control", "no-store")
        for header, value in SECURITY_HEADERS.items():
            # Swagger UI (the API docs) loads its scripts from a CDN; every other page loads only its own.
            if header != "Content-Security-Policy" or request.url.path != f"{API_PREFIX}/docs":
                response.headers.setdefault(header, value)
        return response

    app.add_middleware(GZipMiddleware, minimum_size=1000)
    app.include_router(_api_router())
    app.include_router(pages)
    static = Path(__file__).resolve().parent / "web" / STATIC_DIR_NAME
    app.mount("/static", StaticFiles(directory=static), name="static")
    return app
