"""The HTTP contract of SPEC §5 on every route: If-Match on updates, one error shape for every answer."""

from __future__ import annotations

import pytest
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

