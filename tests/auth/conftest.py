"""Fixtures: the app on the test database, a TestClient, a world with every role."""

from tests.web.helpers import app, client, world

__all__ = ["app", "client", "world"]
