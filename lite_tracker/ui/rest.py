"""MLflow's REST API 2.0 over the store."""

from __future__ import annotations

from starlette.routing import BaseRoute, Mount

routes: list[BaseRoute] = []


def mounts() -> list[Mount]:
    """The REST API under MLflow's prefixes."""
    return []
