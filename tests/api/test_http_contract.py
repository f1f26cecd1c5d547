"""The HTTP contract of SPEC §5 on every route: If-Match on updates, one error shape for every answer."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aidpack.audit.models import Event
from aidpack.logistics.models import Shipment, ShipmentStatus
from tests.api.test_api import assert_error
from tests.api.test_logistics_api import accept
from tests.web.helpers import World, bearer


def _events(session: Session) -> int:
    return session.execute(select(func.count()).select_from(Event)).scalar_one()


def _status(session: Session, shipment: int) -> ShipmentStatus:
    return session.execute(select(Shipment.status).where(Shipment.id == shipment)).scalar_one()


# --- shipments: deliver and receive are updates of the shipment row ----------------------------------


@pytest.mark.parametrize(
    ("action", "body"),
    [("deliver", None), ("receive", {"condition": "good"})],
)
def test_a_shipment_move_needs_if_match_and_refuses_a_stale_one(
    client: TestClient, world: World, session: Session, action: str, body: dict[str, str] | None
) -> None:
    accept(client, world, world.line_a)
    created = client.post(
        "/api/v1/shipments", json={"lines": [world.line_a.id]}, headers=bearer(world.users["coordinator"])
    )
    assert created.status_code == 201, created.text
    shipment = created.json()["id"]
    headers = bearer(world.users["coordinator"])
    read = client.get(f"/api/v1/shipments/{shipment}", headers=headers)
    assert read.status_code == 200, read.text
    assert read.headers["ETag"] == f'"{read.json()["version"]}"' == created.headers["ETag"]
    url = f"/api/v1/shipments/{shipment}/{action}"
    events = _events(session)

    missing = assert_error(client.post(url, json=body, headers=headers), 428, "PRECONDITION_REQUIRED")
    assert "If-Match" in missing["detail"]
    assert missing["context"] == {"etag": read.headers["ETag"]}
    stale = client.post(url, json=body, headers={**headers, "If-Match": '"999"'})
    assert_error(stale, 412, "STALE_VERSION")
    assert _status(session, shipment) is ShipmentStatus.DISPATCHED  # nothing written
    assert _events(session) == events  # and no audit event

    done = client.post(url, json=body, headers={**headers, "If-Match": read.headers["ETag"]})
    assert done.status_code == 200, done.text
    assert done.headers["ETag"] == f'"{done.json()["version"]}"' != read.headers["ETag"]
    assert _status(session, shipment) is not ShipmentStatus.DISPATCHED
    assert _events(session) > events
    # The ETag the answer gave is the current one: a second read agrees.
    assert client.get(f"/api/v1/shipments/{shipment}", headers=headers).headers["ETag"] == done.headers["ETag"]



# --- the framework's own errors: the one shape, a message that says what to do --------------------------


def test_an_unknown_api_path_says_where_the_routes_are(client: TestClient, world: World) -> None:
    body = assert_error(client.get("/api/v1/nothing-here"), 404, "NOT_FOUND")
    assert "/api/v1/nothing-here" in body["detail"]
    assert "openapi.json" in body["detail"]


def test_a_wrong_method_names_the_allowed_ones(client: TestClient, world: World) -> None:
    response = client.delete("/api/v1/needs", headers=bearer(world.users["coordinator"]))
    body = assert_error(response, 405, "METHOD_NOT_ALLOWED")
    assert body["detail"] == "DELETE is not allowed on /api/v1/needs; use GET, POST"
    assert body["context"]["allowed"] == ["GET", "POST"]
    assert response.headers["Allow"] == "GET, POST"


@pytest.mark.parametrize(
    ("url", "content_type", "content", "expected"),
    [
        ("/api/v1/needs", "text/plain", b'{"ref": "N-1"}', "application/json"),
        ("/api/v1/needs", "application/x-www-form-urlencoded", b"ref=N-1", "application/json"),
        (
            "/api/v1/auth/token",
            "application/json",
            b'{"username": "a", "password": "b"}',
            "application/x-www-form-urlencoded",
        ),
    ],
)
def test_a_body_of_the_wrong_media_type_is_refused_with_415(
    client: TestClient, world: World, url: str, content_type: str, content: bytes, expected: str
) -> None:
    headers = {**bearer(world.users["coordinator"]), "Content-Type": content_type}
    body = assert_error(client.post(url, content=content, headers=headers), 415, "UNSUPPORTED_MEDIA_TYPE")
    assert f"send the body as {expected}" in body["detail"]
    assert body["context"]["content_type"] == content_type


def test_a_json_body_that_breaks_the_schema_is_still_a_422(client: TestClient, world: World) -> None:
    response = client.post("/api/v1/needs", json={"ref": "N-1"}, headers=bearer(world.users["coordinator"]))
    assert_error(response, 422, "INVALID_REQUEST")


def _integer_query_parameters(client: TestClient) -> list[tuple[str, str]]:
    """Every documented GET route without path parameters and each of its integer query parameters."""
    document = client.get("/api/v1/openapi.json").json()
    found = []
    for path, operations in document["paths"].items():
        parameters = operations.get("get", {}).get("parameters", [])
        if "{" in path or not parameters:
            continue
        for parameter in parameters:
            schema = parameter.get("schema", {})
            types = [schema.get("type")] + [option.get("type") for option in schema.get("anyOf", [])]
            if parameter["in"] == "query" and "integer" in types:
                found.append((path, parameter["name"]))
    return found


@pytest.mark.parametrize("written", ["%2B0.0", "0.0", "+5", "%205", "1e2", "ten"])
def test_an_integer_query_parameter_not_written_in_digits_is_a_422(
    client: TestClient, world: World, written: str
) -> None:
    # The OpenAPI document says integer; Pydantic's lax mode had read "+0.0" as 0 (schemathesis found
    # `GET /api/v1/plans?offset=%2B0.0` answered 200). Every route's integer parameters, so that a new one that
    # forgets `web.http.DIGITS` fails here.
    headers = bearer(world.users["admin"])
    parameters = _integer_query_parameters(client)
    assert ("/api/v1/plans", "offset") in parameters
    assert ("/api/v1/lines", "plan") in parameters
    for path, name in parameters:
        body = assert_error(client.get(f"{path}?{name}={written}", headers=headers), 422, "INVALID_REQUEST")
        assert "whole number" in body["detail"] or "integer" in body["detail"]
    assert client.get("/api/v1/plans?offset=0&limit=5", headers=headers).status_code == 200


def test_a_too_large_body_is_refused_with_413(client: TestClient, world: World, session: Session) -> None:
    events = _events(session)
    huge = b'{"lines": [' + b"1," * (3 * 1024 * 1024) + b"1]}"
    headers = {**bearer(world.users["coordinator"]), "Content-Type": "application/json"}
    body = assert_error(client.post("/api/v1/shipments", content=huge, headers=headers), 413, "TOO_LARGE")
    assert "send a smaller one" in body["detail"]
    assert _events(session) == events


def test_a_too_large_body_streamed_without_a_length_is_refused_with_413(client: TestClient, world: World) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"lines": ['
        for _ in range(64):
            yield b"1," * (64 * 1024)
        yield b"1]}"

    headers = {**bearer(world.users["coordinator"]), "Content-Type": "application/json"}
    response = client.post(f"/api/v1/plans/{world.plan.id}/accept", content=chunks(), headers=headers)
    assert "content-length" not in {k.lower() for k in response.request.headers}
    assert_error(response, 413, "TOO_LARGE")


def test_the_document_names_the_error_shape_on_every_answer_of_every_route(client: TestClient) -> None:
    document = client.get("/api/v1/openapi.json").json()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            errors = {code: answer for code, answer in operation["responses"].items() if code[0] in "45"}
            assert {"400", "422", "500"} <= set(errors), (method, path)
            for code, answer in errors.items():
                schema = answer["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (method, path, code)
            if "requestBody" in operation:
                assert {"413", "415"} <= set(errors), (method, path)


def test_a_server_error_gives_the_caller_an_incident_id_that_the_log_names(
    app: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    def broken() -> None:
        raise RuntimeError("a defect")

    app.add_api_route("/api/v1/broken-for-the-test", broken)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/api/v1/broken-for-the-test")
    assert response.status_code == 500
    body = response.json()
    assert set(body) == {"error", "detail", "context"}
    assert body["error"] == "INTERNAL_ERROR"
    incident = body["context"]["incident"]
    assert incident in body["detail"]
    assert any(incident in record.getMessage() and record.exc_info for record in caplog.records)
