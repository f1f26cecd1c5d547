"""schemathesis against the OpenAPI document: no server error, every answer documented and as described.

The schema is loaded from the app itself (in-process ASGI); the app's sessions are bound, per test, to
the test's own connection (both backends), with every role, a restricted site and a plan in the
database. Requests carry a coordinator's bearer token so that the fuzzing reaches past authentication
into validation and the services. ``max_examples`` is small so that the suite stays fast.

Business outcomes that the schema cannot predict for valid data (a stale If-Match, a rule of the
domain such as accepting an already accepted line) are allowed for schema-valid requests; but such a
request must never fail the request validation itself (``INVALID_REQUEST``): the document and the
validation agree.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig
from sqlalchemy.orm import Session, sessionmaker

from aidpack.app import create_app
from tests.web.helpers import bearer, build_world, web_settings


class _BoundFactory:
    """A session factory the tests point at their own connection (the app is built once, at import)."""

    def __init__(self) -> None:
        self.factory: sessionmaker[Session] | None = None

    def __call__(self) -> Session:
        assert self.factory is not None, "the coordinator_headers fixture binds the app to the test's database"
        return self.factory()


BOUND = _BoundFactory()
APP = create_app(web_settings(), session_factory=BOUND)
CONFIG = SchemathesisConfig.from_dict(
    {
        "checks": {
            # 429: the sign-in route locks an e-mail after repeated failures, with an account or without one.
            "positive_data_acceptance": {
                "expected-statuses": ["2xx", "401", "403", "404", "409", "412", "422", "428", "429"],
            },
        }
    }
)
schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", APP, config=CONFIG)


@schemathesis.check
def schema_valid_requests_pass_validation(ctx: Any, response: Any, case: schemathesis.Case[Any]) -> None:
    """A request the document calls valid is never refused as malformed or invalid by the validation."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or response.status_code not in (400, 422):
        return
    code = response.json().get("error")
    if code in ("INVALID_REQUEST", "MALFORMED_REQUEST"):
        raise AssertionError(f"a schema-valid request was refused by validation: {response.text[:300]}")


@pytest.fixture
def coordinator_headers(session: Session) -> Iterator[dict[str, str]]:
    world = build_world(session)
    BOUND.factory = sessionmaker(
        bind=session.connection(), join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    yield bearer(world.users["coordinator"])
    BOUND.factory = None


@schema.parametrize()
@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms(case: schemathesis.Case[Any], coordinator_headers: dict[str, str]) -> None:
    case.call_and_validate(headers=coordinator_headers)
