"""A restricted site's name, code and coordinates reach only staff and its owner: crawl every GET route.

Every GET route of the app (API and pages, enumerated from ``app.routes``) is requested as every role,
with path parameters pointing at the restricted site's need, plan, line and site. No answer to a donor,
a viewer, another recipient or an anonymous visitor may contain any of the secret strings; staff and the
owning recipient must see them.
"""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient

from aidpack.auth.models import User
from tests.web.helpers import World, bearer, page_client

#: Roles that must never learn the restricted site; and those that must.
BLIND = ["anonymous", "viewer", "donor_a", "donor_b", "recipient_b"]
SIGHTED = ["coordinator", "admin", "recipient_a"]


def _param_value(path: str, name: str, world: World) -> str:
    if name == "ref":
        return world.pledge_a.ref if "/pledges" in path else world.secret_need.ref
    if name == "code":
        by_prefix = {
            "/sites": world.secret_site.code,
            "/donors": world.donor_a.code,
            "/catalogue": world.item.code,
            "/regions": world.region.code,
            "/hubs": world.hub.code,
        }
        for prefix, value in by_prefix.items():
            if prefix in path:
                return value
    if name == "plan_id":
        return str(world.plan.id)
    if name == "line_id":
        return str(world.line_a.id)
    if name == "shipment_id":  # the shipment carrying line_a once it was shipped (else one that does not exist)
        return str(world.line_a.shipment_id or 2**31 - 1)
    raise AssertionError(f"the crawl does not know how to fill {{{name}}} in {path}; add it")


def get_routes(app: FastAPI) -> list[str]:
    """The path of every GET route, from the app's own routing table."""
    return [c.path for c in iter_route_contexts(app.routes) if c.path and c.methods and "GET" in c.methods]


def get_urls(app: FastAPI, world: World) -> list[str]:
    """Every GET route of the app, its parameters filled, plus the list filters that name the region."""
    urls: list[str] = []
    for template in get_routes(app):
        path = template
        for name in re.findall(r"{(\w+)}", template):
            path = path.replace(f"{{{name}}}", _param_value(template, name, world))
        urls.append(path)
    urls += [
        "/api/v1/openapi.json",
        f"/api/v1/needs?region={world.region.code}",
        f"/api/v1/sites?region={world.region.code}",
        f"/api/v1/lines?plan={world.plan.id}",
        f"/needs?region={world.region.code}",
        "/?lang=uk",
        "/public?lang=uk",
        f"/plans/{world.plan.id}?lang=uk",
    ]
    return urls


def _client(app: FastAPI, user: User | None) -> TestClient:
    client, _csrf = page_client(app, user)
    if user is not None:
        client.headers.update(bearer(user))
    return client


def crawl(app: FastAPI, world: World, role: str) -> dict[str, str]:
    user = None if role == "anonymous" else world.users[role]
    bodies: dict[str, str] = {}
    with _client(app, user) as client:
        for url in get_urls(app, world):
            response = client.get(url)
            assert response.status_code < 500, (role, url, response.text[:500])
            bodies[url] = response.text + " " + " ".join(f"{k}: {v}" for k, v in response.headers.items())
    return bodies


def test_the_crawl_covers_every_get_route(app: FastAPI, world: World) -> None:
    routes = get_routes(app)
    api = [r for r in routes if r.startswith("/api/v1/")]
    pages = [r for r in routes if not r.startswith("/api/")]
    assert len(api) >= 20
    assert len(pages) >= 10
    assert len(get_urls(app, world)) >= len(routes)


@pytest.mark.parametrize("role", BLIND)
def test_no_restricted_site_detail_reaches_others(app: FastAPI, world: World, role: str) -> None:
    bodies = crawl(app, world, role)
    leaks = [(url, secret) for url, body in bodies.items() for secret in world.secrets if secret in body]
    assert leaks == []


@pytest.mark.parametrize("role", SIGHTED)
def test_staff_and_the_owner_do_see_the_restricted_site(app: FastAPI, world: World, role: str) -> None:
    bodies = crawl(app, world, role)
    everything = "\n".join(bodies.values())
    for secret in world.secrets:
        assert secret in everything, (role, secret)
    assert world.secret_site.name in bodies[f"/api/v1/sites/{world.secret_site.code}"]
    assert world.secret_site.name in bodies["/sites"]
    assert world.secret_site.name in bodies[f"/needs/{world.secret_need.ref}"]


def test_a_donor_sees_its_own_lines_need_by_ref_and_region_only(client: TestClient, world: World) -> None:
    response = client.get(f"/api/v1/needs/{world.secret_need.ref}", headers=bearer(world.users["donor_a"]))
    assert response.status_code == 200
    body = response.json()
    assert body["region"] == world.region.code
    assert body["site"] == {"code": None, "name": None, "restricted": True}
    assert body["notes"] is None
    assert body["people_served"] is None
    # the other donor has no line to it: the need does not exist for it
    other = client.get(f"/api/v1/needs/{world.secret_need.ref}", headers=bearer(world.users["donor_b"]))
    assert other.status_code == 404


def test_public_sites_reach_signed_in_partners_but_not_the_public(client: TestClient, world: World) -> None:
    url = f"/api/v1/sites/{world.public_site.code}"
    assert client.get(url, headers=bearer(world.users["donor_b"])).json()["name"] == world.public_site.name
    assert client.get(url).status_code == 401
    assert client.get(url, headers=bearer(world.users["viewer"])).status_code == 403
    public_page = client.get("/public")
    assert public_page.status_code == 200
    assert world.public_site.name not in public_page.text
