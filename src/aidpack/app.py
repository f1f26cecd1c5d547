"""The web service: the JSON API under /api/v1, the pages at /, static files; errors mapped once here."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, HTTPException, Request, params
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aidpack import __version__
from aidpack.config import Settings
from aidpack.db import make_engine, make_session_factory, migrate
from aidpack.errors import Conflict, DomainError, StaleVersion, Unauthorized
from aidpack.web.deps import SessionMaker

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1"
STATIC_DIR_NAME = "static"
#: The largest request body accepted (413 above it). The largest legitimate one, a decision on 100,000 lines, is
#: under 1 MiB.
MAX_BODY_BYTES = 4 * 1024 * 1024
JSON_MEDIA_TYPE = "application/json"
FORM_MEDIA_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")

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


def _media_type_refused(request: Request, errors: list[dict[str, Any]]) -> Response | None:
    """415 when the body could not be read because it was sent as another media type than the route reads."""
    if not any(err["loc"][:1] == ["body"] for err in errors):
        return None
    route = request.scope.get("route")
    body_field = route.body_field if isinstance(route, APIRoute) else None
    if body_field is None:
        return None
    sent = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if isinstance(body_field.field_info, params.Form):
        expected: tuple[str, ...] = FORM_MEDIA_TYPES
        accepted = sent in FORM_MEDIA_TYPES
    else:
        expected = (JSON_MEDIA_TYPE,)
        accepted = sent == JSON_MEDIA_TYPE or (sent.startswith("application/") and sent.endswith("+json"))
    if accepted:
        return None
    return _answer(
        request,
        415,
        HTTP_CODES[415],
        f"send the body as {expected[0]} (Content-Type was {sent or 'missing'})",
        {"content_type": sent or None, "expected": list(expected)},
    )


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
    refused = _media_type_refused(request, errors)
    if refused is not None:
        return refused
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


def _too_large(request: Request) -> Response:
    return _answer(
        request,
        413,
        HTTP_CODES[413],
        f"the request body is larger than {MAX_BODY_BYTES} bytes; send a smaller one (fewer lines per request)",
        {"max_bytes": MAX_BODY_BYTES},
    )


async def http_error_handler(request: Request, exc: Exception) -> Response:
    """The framework's own errors (no route, wrong method, body too large) in the one error shape, saying what to
    do instead."""
    assert isinstance(exc, StarletteHTTPException)
    code = HTTP_CODES.get(exc.status_code, f"HTTP_{exc.status_code}")
    detail = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ").lower()
    headers = dict(exc.headers or {})
    context: dict[str, Any] = {}
    path = request.url.path
    if exc.status_code == 413:
        return _too_large(request)
    if exc.status_code == 405:
        allowed = _allowed_methods(request)
        headers["Allow"] = allowed
        detail = f"{request.method} is not allowed on {path}; use {allowed}"
        context = {"method": request.method, "allowed": allowed.split(", ") if allowed else []}
    elif exc.status_code == 404 and detail == "Not Found" and _is_api(request):
        detail = f"no API route {path}; the routes are listed in {API_PREFIX}/openapi.json"
        context = {"path": path}
    return _answer(request, exc.status_code, code, detail, context, headers=headers)


async def stale_data_handler(request: Request, exc: Exception) -> Response:
    error = StaleVersion("someone else changed this record at the same time; read it again")
    return _answer(request, error.http_status, error.code, error.detail)


async def integrity_error_handler(request: Request, exc: Exception) -> Response:
    log.info("integrity error answered as a conflict: %s", exc)
    error = Conflict("the change conflicts with the current data (it may have been changed at the same time)")
    return _answer(request, error.http_status, error.code, error.detail)


async def server_error_handler(request: Request, exc: Exception) -> Response:
    """A defect of ours: logged with an incident id that the answer gives the caller, so that the operators find the
    traceback (the answer said only "an unexpected error occurred", with nothing to report)."""
    incident = secrets.token_hex(6)
    log.exception("unhandled error on %s %s [incident %s]", request.method, request.url.path, incident, exc_info=exc)
    detail = (f"an unexpected error occurred on our side and nothing was saved; it is logged as incident {incident}: "
              "give the operators that id")
    return JSONResponse(_error_body("INTERNAL_ERROR", detail, {"incident": incident}), status_code=500)


class BodyLimit:
    """413 in the one error shape for a body over :data:`MAX_BODY_BYTES`: at once when its Content-Length says so,
    else when a route reading it passes the limit (FastAPI's own ``max_body_size`` answers in plain text)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            await _too_large(Request(scope, receive))(scope, receive, send)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > MAX_BODY_BYTES:
                    raise HTTPException(413)  # FastAPI's, which its body parsing lets through
            return message

        await self.app(scope, limited, send)


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

    from aidpack.reports.cache import PublicReports
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
    app.state.public_reports = PublicReports()  # the public reports, kept per version of the data
    app.state.secret_key = settings.secret_key or secrets.token_urlsafe(32)

    app.add_exception_handler(DomainError, domain_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(StarletteHTTPException, http_error_handler)
    app.add_exception_handler(StaleDataError, stale_data_handler)
    app.add_exception_handler(IntegrityError, integrity_error_handler)
    app.add_exception_handler(Exception, server_error_handler)

    # Innermost of the middleware: an exception from its ``receive`` reaches the route's body parsing as it is.
    app.add_middleware(BodyLimit)

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
