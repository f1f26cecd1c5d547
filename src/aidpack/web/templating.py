"""Jinja2 environments (one per language, gettext installed) and how every page answer is finished."""

from __future__ import annotations

import datetime as dt
import math
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from aidpack.auth.deps import SESSION_COOKIE
from aidpack.auth.service import WebSession, dump_web_session
from aidpack.web.i18n import (
    LANG_COOKIE,
    LANGUAGE_NAMES,
    LANGUAGES,
    negotiate,
    requested_language,
    translations,
)

TEMPLATES = Path(__file__).resolve().parent / "templates"
LANG_COOKIE_SECONDS = 365 * 24 * 3600


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.0f} %"


def _share(value: float | None) -> str:
    """A covered share as a whole percentage that says 100 % only when it is whole (0.996 is '99 %', not '100 %'),
    and 0 % only when nothing is (0.002 is '< 1 %')."""
    if value is None:
        return "–"
    if 0 < value < 0.01:
        return "< 1 %"
    return f"{math.floor(value * 100):.0f} %"


def _gap(value: float | None) -> str:
    """A relative gap (0.0016) as people read it: 0.16 %."""
    share = float(value or 0.0) * 100
    if share <= 0:
        return "0 %"
    if share < 0.001:
        return "< 0.001 %"
    return f"{share:.2g} %"


def _number(value: float | int | None) -> str:
    if value is None:
        return "–"
    if float(value).is_integer():
        return f"{int(value):,}".replace(",", "\u202f")
    return f"{float(value):,.1f}".replace(",", "\u202f")


def _plain(value: float | int | None) -> str:
    """A number as a form field shows it: no grouping, no exponent, no trailing ``.0``."""
    if value is None:
        return ""
    if float(value).is_integer():
        return str(int(value))
    return f"{float(value):.6f}".rstrip("0").rstrip(".")


@cache
def environment(lang: str) -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(["html", "svg"]),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(translations(lang), newstyle=True)  # type: ignore[attr-defined]
    env.filters["percent"] = _percent
    env.filters["share"] = _share
    env.filters["number"] = _number
    env.filters["gap"] = _gap
    env.filters["plain"] = _plain
    env.globals["LANGUAGES"] = LANGUAGES
    env.globals["LANGUAGE_NAMES"] = LANGUAGE_NAMES
    return env


def finish(request: Request, response: Response) -> Response:
    """Set the cookies a page answer carries: the session (when it changed) and a chosen language."""
    web = getattr(request.state, "web_session", None)
    if isinstance(web, WebSession) and web.changed:
        secret: str = request.app.state.secret_key
        max_age = max(int(web.exp - dt.datetime.now(dt.UTC).timestamp()), 0)
        response.set_cookie(
            SESSION_COOKIE,
            dump_web_session(web, secret=secret),
            max_age=max_age,
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
            path="/",
        )
    lang = requested_language(request)
    if lang:
        response.set_cookie(LANG_COOKIE, lang, max_age=LANG_COOKIE_SECONDS, httponly=True, samesite="lax", path="/")
    return response


def url_with(request: Request, **params: str | None) -> str:
    """The current page's URL with some query parameters replaced (``None`` removes one)."""
    query = {k: v for k, v in request.query_params.items() if k not in params}
    query.update({k: v for k, v in params.items() if v is not None})
    return request.url.path + ("?" + urlencode(query) if query else "")


def render(request: Request, name: str, context: dict[str, Any], *, status_code: int = 200) -> Response:
    lang = negotiate(request)
    web = getattr(request.state, "web_session", None)
    base: dict[str, Any] = {
        "request": request,
        "lang": lang,
        "csrf_token": web.csrf if isinstance(web, WebSession) else "",
        "url_with": lambda **params: url_with(request, **params),
        "path": request.url.path,
    }
    html = environment(lang).get_template(name).render({**base, **context})
    response = HTMLResponse(html, status_code=status_code)
    response.headers["Content-Language"] = lang
    response.headers["Cache-Control"] = (
        "no-store"
        if context.get("principal") is not None and not getattr(context.get("principal"), "is_anonymous", True)
        else "no-cache"
    )
    response.headers["Vary"] = "Cookie, Accept-Language"
    return finish(request, response)


def redirect(request: Request, url: str) -> Response:
    return finish(request, RedirectResponse(url, status_code=303))
