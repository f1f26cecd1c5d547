"""The public reports and pages over HTTP: a repeat is answered from the cache (and with 304 to a client that has
it), every change through the API gives new figures and a new ETag, and the cache never carries what only staff
or a site's owner may see."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from aidpack.reports import service
from tests.web.helpers import World, bearer, page_client

REPORTS = ["/api/v1/reports/coverage", "/api/v1/reports/gaps", "/api/v1/reports/contributions"]


@pytest.fixture
def computed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The reports computed (by kind) while the test runs."""
    calls: list[str] = []
    coverage, contributions = service.coverage, service.contributions

    def counted_coverage(session: object) -> service.CoverageReport:
        calls.append("coverage")
        return coverage(session)  # type: ignore[arg-type]

    def counted_contributions(session: object) -> list[service.Contribution]:
        calls.append("contributions")
        return contributions(session)  # type: ignore[arg-type]

    monkeypatch.setattr(service, "coverage", counted_coverage)
    monkeypatch.setattr(service, "contributions", counted_contributions)
    return calls


def tiers(client: TestClient) -> dict[str, dict[str, float]]:
    return {t["key"]: t for t in client.get("/api/v1/reports/coverage").json()["tiers"]}


@pytest.mark.parametrize("url", REPORTS)
def test_a_repeated_public_report_is_answered_from_the_cache_with_the_same_etag(
    client: TestClient, world: World, computed: list[str], url: str
) -> None:
    first = client.get(url)
    again = client.get(url)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert re.fullmatch(r'"[0-9a-f]{32}"', first.headers["ETag"])
    assert again.headers["ETag"] == first.headers["ETag"]
    assert len(computed) == 1


def test_the_reports_share_one_computed_coverage(client: TestClient, world: World, computed: list[str]) -> None:
    client.get("/api/v1/reports/coverage")
    client.get("/api/v1/reports/gaps?limit=1")
    client.get("/api/v1/reports/gaps")
    client.get("/public")
    client.get("/")  # anonymous: the public view
    assert computed == ["coverage"]
    client.get("/api/v1/reports/contributions")
    client.get("/contributions")
    assert computed == ["coverage", "contributions"]


@pytest.mark.parametrize("url", REPORTS)
def test_if_none_match_naming_the_current_etag_gets_304_and_nothing_computed(
    client: TestClient, world: World, computed: list[str], url: str
) -> None:
    etag = client.get(url).headers["ETag"]
    for sent in [etag, f"W/{etag}", f'"older", {etag}', "*"]:
        unchanged = client.get(url, headers={"If-None-Match": sent})
        assert unchanged.status_code == 304, sent
        assert unchanged.headers["ETag"] == etag
        assert unchanged.content == b""
    assert len(computed) == 1
    other = client.get(url, headers={"If-None-Match": '"older"'})
    assert other.status_code == 200
    assert other.headers["ETag"] == etag


def test_an_edited_need_gives_new_figures_and_a_new_etag(client: TestClient, world: World, computed: list[str]) -> None:
    etag = client.get("/api/v1/reports/coverage").headers["ETag"]
    assert tiers(client)["medium"]["planned"] == pytest.approx(1.0)  # 200 of 200 by the plan's proposed line
    coordinator = bearer(world.users["coordinator"])
    url = f"/api/v1/needs/{world.other_need.ref}"
    need_etag = client.get(url, headers=coordinator).headers["ETag"]
    edited = client.patch(url, json={"quantity": 800}, headers={"If-Match": need_etag, **coordinator})
    assert edited.status_code == 200, edited.text

    answer = client.get("/api/v1/reports/coverage", headers={"If-None-Match": etag})
    assert answer.status_code == 200
    assert answer.headers["ETag"] != etag
    assert tiers(client)["medium"]["planned"] == pytest.approx(0.25)
    assert computed == ["coverage", "coverage"]


def test_a_saved_plan_is_the_public_reports_plan(client: TestClient, world: World) -> None:
    before = client.get("/api/v1/reports/coverage")
    assert before.json()["plan"] == world.plan.id
    saved = client.post("/api/v1/plans", json={"plan_date": "2022-11-29"}, headers=bearer(world.users["coordinator"]))
    assert saved.status_code == 201, saved.text
    after = client.get("/api/v1/reports/coverage", headers={"If-None-Match": before.headers["ETag"]})
    assert after.status_code == 200
    assert after.json()["plan"] == int(saved.json()["plan"])


def test_accepted_and_shipped_lines_give_new_figures(client: TestClient, world: World) -> None:
    coordinator = bearer(world.users["coordinator"])
    assert tiers(client)["critical"]["committed"] == 0
    contributions = client.get("/api/v1/reports/contributions")
    etag = client.get("/api/v1/reports/coverage").headers["ETag"]
    accepted = client.post(
        f"/api/v1/plans/{world.plan.id}/accept", json={"lines": [world.line_a.id]}, headers=coordinator
    )
    assert accepted.status_code == 200, accepted.text
    assert tiers(client)["critical"]["committed"] == pytest.approx(0.5)  # 500 of 1000 accepted
    donors = {c["donor"]: c for c in client.get("/api/v1/reports/contributions").json()}
    assert donors[world.donor_a.code]["lines_committed"] == 1
    assert contributions.json() != client.get("/api/v1/reports/contributions").json()

    accepted_etag = client.get("/api/v1/reports/coverage").headers["ETag"]
    assert accepted_etag != etag
    shipped = client.post("/api/v1/shipments", json={"lines": [world.line_a.id]}, headers=coordinator)
    assert shipped.status_code == 201, shipped.text
    assert client.get("/api/v1/reports/coverage", headers={"If-None-Match": accepted_etag}).status_code == 200


def test_an_edited_pledge_gives_new_contributions_on_the_page(client: TestClient, world: World) -> None:
    assert "60\u202f000" in client.get("/contributions").text
    donor = bearer(world.users["donor_a"])
    url = f"/api/v1/pledges/{world.pledge_a.ref}"
    etag = client.get(url, headers=donor).headers["ETag"]
    edited = client.patch(url, json={"value_eur": 75000}, headers={"If-Match": etag, **donor})
    assert edited.status_code == 200, edited.text
    page = client.get("/contributions").text
    assert "75\u202f000" in page
    assert "60\u202f000" not in page


@pytest.mark.parametrize("order", ["staff first", "public first"])
def test_the_cached_public_view_never_holds_a_restricted_site_and_staff_still_see_theirs(
    app: FastAPI, world: World, computed: list[str], order: str
) -> None:
    staff, _ = page_client(app, world.users["coordinator"])
    anonymous, _ = page_client(app, None)
    donor, _ = page_client(app, world.users["donor_a"])
    visits = [(staff, "/"), (anonymous, "/"), (anonymous, "/public"), (staff, "/public"), (donor, "/")]
    if order == "public first":
        visits = visits[1:] + visits[:1]
    pages = {(id(who), url): who.get(url) for who, url in visits}
    staff_overview = pages[(id(staff), "/")]
    assert staff_overview.status_code == 200
    assert world.secret_site.name in staff_overview.text  # need by need, as staff may see them
    for (who, url), page in pages.items():
        if (who, url) == (id(staff), "/"):
            continue
        assert page.status_code == 200
        for secret in world.secrets:
            assert secret not in page.text, (url, secret)
        assert world.secret_need.ref not in page.text
    for url in REPORTS:
        body = anonymous.get(url).text
        for secret in world.secrets:
            assert secret not in body
    # the staff overview is computed for each request; every public view shares one
    assert computed.count("coverage") == 2
