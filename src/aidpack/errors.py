"""Domain errors: a stable machine-readable code, an HTTP status and a context; mapped once at each edge."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    code: str = "DOMAIN_ERROR"
    http_status: int = 400
    exit_code: int = 1

    def __init__(self, detail: str, *, context: dict[str, Any] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.context: dict[str, Any] = context or {}

    def to_dict(self) -> dict[str, Any]:
        return {"error": self.code, "detail": self.detail, "context": self.context}


class NotFound(DomainError):
    code = "NOT_FOUND"
    http_status = 404


class Conflict(DomainError):
    """Someone else changed the thing first (CLI exit 2, HTTP 409)."""

    code = "CONFLICT"
    http_status = 409
    exit_code = 2


class StaleVersion(Conflict):
    code = "STALE_VERSION"
    http_status = 412


class RuleViolation(DomainError):
    code = "RULE_VIOLATION"
    http_status = 422


class ValidationFailed(DomainError):
    """Input that cannot be accepted as given; the context says what to fix."""

    code = "VALIDATION_FAILED"
    http_status = 422


class Forbidden(DomainError):
    code = "FORBIDDEN"
    http_status = 403


class Unauthorized(DomainError):
    code = "UNAUTHORIZED"
    http_status = 401
