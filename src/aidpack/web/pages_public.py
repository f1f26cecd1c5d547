"""Pages anyone may open: the overview (map, coverage, gaps), the public page, contributions, sign-in."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from aidpack.auth import policy
from aidpack.auth import service as auth_service
from aidpack.auth.deps import PagePrincipal, WebSessionDep
from aidpack.auth.models import User
from aidpack.auth.policy import Principal
from aidpack.reports import service as reports
from aidpack.reports.cache import PublicReports, PublicReportsDep
from aidpack.reports.lookups import latest_plan
from aidpack.web.deps import ClientAddressDep, SessionDep, SettingsDep
from aidpack.web.forms import safe_next
from aidpack.web.i18n import negotiate, translations
from aidpack.web.map import CLASSES, NO_DATA, outline, render_svg
from aidpack.web.templating import redirect, render

router = APIRouter(include_in_schema=False)


def _overview_context(
    session: Session, request: Request, principal: Principal, reports_cache: PublicReports, *, public: bool
) -> dict[str, Any]:
    lang = negotiate(request)
    tr = translations(lang)
    detailed = not public and (principal.is_staff or principal.role.value == "recipient")
    report: reports.CoverageReport | reports.PublicCoverage
    if detailed:  # need by need, as this principal may see them: computed for each request
        report = reports.coverage(session)
        gaps, public_gaps = reports.visible_gaps(session, report, principal, limit=20), []
    else:  # what anyone may see: kept per version of the data
        report = reports_cache.coverage(session, reports_cache.version(session))
        gaps, public_gaps = [], report.public_gaps(20)
    shares = {g.key: g.planned_share for g in report.regions}
    labels = {
        g.key: tr.ngettext("%(pct)s covered, %(num)d need", "%(pct)s covered, %(num)d needs", g.needs)
        % {"pct": f"{g.planned_share * 100:.0f} %", "num": g.needs}
        for g in report.regions
    }
    plan = latest_plan(session)
    return {
        "principal": principal,
        "public": public,
        "report": report,
        "plan": plan,
        "map_svg": render_svg(shares, labels, lang=lang, title=tr.gettext("Coverage of needs by region")),
        "map_classes": CLASSES,
        "map_no_data": NO_DATA,
        "map_attribution": outline().attribution,
        "site_name": lambda site: site.name if policy.site_details_visible(principal, site) else None,
        "gaps": gaps,
        "public_gaps": public_gaps,
    }


@router.get("/")
def overview(request: Request, session: SessionDep, principal: PagePrincipal, cache: PublicReportsDep) -> Response:
    return render(request, "overview.html", _overview_context(session, request, principal, cache, public=False))


@router.get("/public")
def public(request: Request, session: SessionDep, principal: PagePrincipal, cache: PublicReportsDep) -> Response:
    """What anyone may see: aggregated to region and category, never a site."""
    return render(request, "overview.html", _overview_context(session, request, principal, cache, public=True))


@router.get("/contributions")
def contributions(request: Request, session: SessionDep, principal: PagePrincipal, cache: PublicReportsDep) -> Response:
    return render(
        request,
        "contributions.html",
        {
            "principal": principal,
            "contributions": cache.contributions(session, cache.version(session)),
        },
    )


@router.get("/login")
def login_form(request: Request, principal: PagePrincipal, web: WebSessionDep, next: str | None = None) -> Response:
    return render(request, "login.html", {"principal": principal, "next": safe_next(next), "errors": []})


@router.post("/login")
def login(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    web: WebSessionDep,
    principal: PagePrincipal,
    client: ClientAddressDep,
    email: Annotated[str, Form(max_length=320)] = "",
    password: Annotated[str, Form(max_length=200)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    auth_service.check_csrf(web, csrf_token)
    result = auth_service.authenticate(session, email=email, password=password, client=client)
    if result.user is None:
        assert result.error is not None
        # Answered without raising: the failed attempt is counted when the request commits.
        return render(
            request,
            "login.html",
            {
                "principal": principal,
                "next": safe_next(next),
                "email": email,
                "errors": [result.error.detail],
                "error_code": result.error.code,
            },
            status_code=result.error.http_status,
        )
    # A new session (and CSRF token) at sign-in: a session fixed before sign-in is worth nothing.
    request.state.web_session = auth_service.new_web_session(minutes=settings.token_minutes, user_id=result.user.id)
    return redirect(request, safe_next(next))


@router.post("/logout")
def logout(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    web: WebSessionDep,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    auth_service.check_csrf(web, csrf_token)
    user = session.get(User, web.user_id) if web.user_id is not None else None
    if user is not None:
        # The session is a signed cookie: a copy of it would outlive a new cookie alone.
        auth_service.sign_out(session, user=user)
    request.state.web_session = auth_service.new_web_session(minutes=settings.token_minutes)
    return redirect(request, "/")
