"""What every JSON route shares: the error body, documented error answers, pagination, ETag / If-Match."""

from __future__ import annotations

import re
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Header, Path, Query, Response
from pydantic import BaseModel, BeforeValidator, Field

from aidpack.errors import DomainError, StaleVersion
from aidpack.web.fields import CODE_PATTERN

T = TypeVar("T")

MAX_LIMIT = 500


class ErrorBody(BaseModel):
    """Every error answer: a stable machine-readable code, a message, and what it concerns."""

    error: str = Field(examples=["NOT_FOUND"])
    detail: str
    context: dict[str, Any] = Field(default_factory=dict)


def _documented(*codes: int) -> dict[int | str, dict[str, Any]]:
    descriptions = {
        400: "Malformed request",
        401: "Not signed in, or the token is invalid or expired",
        403: "The role or organisation may not do this",
        404: "Not found (or not visible to the caller)",
        409: "Conflict: someone else changed the thing first, or the change breaks a rule",
        412: "If-Match does not match the current ETag",
        413: "The request body is too large",
        415: "The body is not of the media type the route reads (JSON, or a form for sign-in)",
        422: "Invalid input",
        428: "If-Match is required",
        429: "Too many failed sign-ins",
        500: "An unexpected error on our side",
    }
    return {code: {"model": ErrorBody, "description": descriptions[code]} for code in codes}


#: Documented on every route: a malformed request, invalid input, a server error; on routes with a body, a body too
#: large or of the wrong media type.
BASE_ERRORS = _documented(400, 422, 500)
READ_ERRORS = _documented(400, 401, 403, 404, 422, 500)
PUBLIC_READ_ERRORS = _documented(400, 404, 422, 500)
WRITE_ERRORS = _documented(400, 401, 403, 404, 409, 413, 415, 422, 500)
UPDATE_ERRORS = _documented(400, 401, 403, 404, 409, 412, 413, 415, 422, 428, 500)
LOGIN_ERRORS = _documented(400, 401, 413, 415, 422, 429, 500)


class PreconditionRequired(DomainError):
    code = "PRECONDITION_REQUIRED"
    http_status = 428


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


class Pagination(BaseModel):
    limit: int
    offset: int


def _digits(value: object) -> object:
    """A whole number in a query string as the OpenAPI schema has it, decimal digits ("12", "-3"): Pydantic's lax
    mode also reads "+0.0", "0.0", " 5" and "+5" as integers (schemathesis: ``?offset=%2B0.0`` was answered 200)."""
    if isinstance(value, str) and not re.fullmatch(r"-?[0-9]+", value):
        raise ValueError("must be a whole number in decimal digits")
    return value


#: An integer query parameter's check that it is written in digits (see :func:`_digits`), after its ``Query(...)``:
#: ``Annotated[int, Query(ge=1), DIGITS]`` (the other way round, the OpenAPI document said ``ge`` for ``minimum``).
DIGITS = BeforeValidator(_digits)


def pagination(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Rows per page"), DIGITS] = 100,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1, description="Rows to skip"), DIGITS] = 0,
) -> Pagination:
    return Pagination(limit=limit, offset=offset)


def etag(version: int | str) -> str:
    return f'"{version}"'


def set_etag(response: Response, version: int | str) -> None:
    response.headers["ETag"] = etag(version)


IfNoneMatch = Annotated[
    str | None,
    Header(alias="If-None-Match", description="The ETag from an earlier GET: 304 Not Modified while it is current"),
]

#: Documented on the public reports, which answer If-None-Match.
NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    304: {"description": "Not modified: If-None-Match names the current ETag"}
}


def not_modified(if_none_match: str | None, *, version: int | str) -> Response | None:
    """A 304 with the current ETag when If-None-Match names it (or is ``*``), else None: answer in full."""
    if if_none_match is None:
        return None
    tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    if "*" not in tags and etag(version) not in tags:
        return None
    return Response(status_code=304, headers={"ETag": etag(version)})


IfMatch = Annotated[
    str | None,
    Header(alias="If-Match", description='The ETag from the last GET, e.g. "3" (required for updates)'),
]


def check_if_match(if_match: str | None, *, version: int, what: str) -> None:
    """428 when If-Match is missing, 412 when it names another version than the current one."""
    if if_match is None or not if_match.strip():
        raise PreconditionRequired(
            f"send If-Match with the {what}'s ETag (from GET) to update it", context={"etag": etag(version)}
        )
    tags = [tag.strip().removeprefix("W/") for tag in if_match.split(",")]
    if "*" in tags or etag(version) in tags:
        return
    raise StaleVersion(
        f"the {what} was changed by someone else since you read it; read it again",
        context={"etag": etag(version)},
    )


#: A ref or code in a path (``/api/v1/needs/{ref}``).
RefPath = Annotated[str, Path(pattern=CODE_PATTERN, max_length=64)]
#: A row id in a page's path, and a list's offset: within the database's integers (a larger number reached SQLite as an
#: overflow, a 500).
MAX_ROW = 2**31 - 1
IdPath = Annotated[int, Path(ge=1, le=MAX_ROW)]
OffsetQuery = Annotated[int, Query(ge=0, le=MAX_ROW), DIGITS]
#: An optional code filter in a query string (``?donor=DE``).
CodeFilter = Annotated[str | None, Query(pattern=CODE_PATTERN, max_length=64)]
PaginationDep = Annotated[Pagination, Depends(pagination)]
