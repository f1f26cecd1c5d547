"""`aidpack serve [--host H] [--port P]`: the web UI and the API (Uvicorn)."""

from __future__ import annotations

from typing import Annotated

import typer

from aidpack.cli import common


def serve_app(*, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve the configured database's web UI and API until interrupted."""
    import uvicorn

    from aidpack.app import create_app
    from aidpack.config import get_settings

    app = create_app(get_settings(), session_factory=common.session_factory())
    uvicorn.run(app, host=host, port=port, proxy_headers=True, log_level="info")


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8000,
) -> None:
    """Serve the web UI at / and the API at /api/v1 (OpenAPI at /api/v1/openapi.json)."""
    common.console.print(f"serving on http://{host}:{port}/ (API: http://{host}:{port}/api/v1/docs)", highlight=False)
    serve_app(host=host, port=port)


def register(app: typer.Typer, plan_app: typer.Typer) -> None:
    app.command("serve")(serve)
