"""English and Ukrainian: gettext catalogues (Babel) and the choice of language per request."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from babel.support import NullTranslations, Translations
from fastapi import Request

LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
LANGUAGES: tuple[str, ...] = ("en", "uk")
DEFAULT_LANGUAGE = "en"
LANG_COOKIE = "aidpack_lang"
LANGUAGE_NAMES = {"en": "English", "uk": "Українська"}


@cache
def translations(lang: str) -> NullTranslations:
    """The compiled catalogue for ``lang`` (English is the source language: no catalogue needed)."""
    if lang == DEFAULT_LANGUAGE:
        return NullTranslations()
    return Translations.load(str(LOCALE_DIR), [lang], domain="messages")


def _from_accept_language(header: str) -> str | None:
    ranked: list[tuple[float, str]] = []
    for part in header.split(",")[:20]:
        piece = part.strip()
        if not piece:
            continue
        tag, _, params = piece.partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        ranked.append((quality, tag.strip().lower().split("-")[0]))
    for _quality, tag in sorted(ranked, key=lambda item: -item[0]):
        if tag in LANGUAGES:
            return tag
    return None


def requested_language(request: Request) -> str | None:
    """The language named by ``?lang=`` (to be remembered in a cookie), if it is one we have."""
    lang = request.query_params.get("lang")
    return lang if lang in LANGUAGES else None


def negotiate(request: Request) -> str:
    """``?lang=``, else the cookie, else the browser's Accept-Language, else English."""
    lang = requested_language(request)
    if lang:
        return lang
    cookie = request.cookies.get(LANG_COOKIE)
    if cookie in LANGUAGES:
        return str(cookie)
    return _from_accept_language(request.headers.get("accept-language", "")) or DEFAULT_LANGUAGE
