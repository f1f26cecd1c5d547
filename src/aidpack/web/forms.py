"""Helpers shared by the HTML pages: form values, CSRF, login requirement, error messages for forms."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from aidpack.auth.policy import Principal
from aidpack.errors import DomainError, Unauthorized


def blank_to_none(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value or None


def as_number(value: str | None, *, integer: bool = False) -> int | float | str | None:
    """A form's number as a number (the API schemas take JSON numbers); left as text when it is not one."""
    value = blank_to_none(value)
    if value is None:
        return None
    try:
        return int(value) if integer else float(value.replace(",", ".").replace("\u202f", "").replace(" ", ""))
    except ValueError:
        return value


def cleaned(
    fields: dict[str, str | None], *, floats: frozenset[str] = frozenset(), ints: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """Form fields with blanks left out (so that the schema's defaults apply), numbers as numbers."""
    out: dict[str, Any] = {}
    for key, raw in fields.items():
        value = blank_to_none(raw)
        if value is None:
            continue
        out[key] = as_number(value, integer=key in ints) if key in floats | ints else value
    return out


def require_login(principal: Principal) -> None:
    if principal.is_anonymous:
        raise Unauthorized("sign in first")


def error_messages(error: Exception) -> list[str]:
    """What to show above a form that was refused."""
    if isinstance(error, ValidationError):
        messages = []
        for item in error.errors():
            where = ".".join(str(part) for part in item.get("loc", ()))
            messages.append(f"{where}: {item.get('msg', '')}" if where else str(item.get("msg", "")))
        return messages
    if isinstance(error, DomainError):
        return [f"{error.detail} [{error.code}]"]
    return [str(error)]


def error_status(error: Exception) -> int:
    return error.http_status if isinstance(error, DomainError) else 422


def safe_next(url: str | None) -> str:
    """Only local paths may be a redirect target after sign-in (no open redirect)."""
    if url and url.startswith("/") and not url.startswith("//") and "\\" not in url:
        return url
    return "/"
