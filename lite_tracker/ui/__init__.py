"""The web UI and HTTP API of ``lite-tracker ui``: pages, their JSON twins and MLflow's REST API over a store.

Built on Starlette, uvicorn and Jinja2 (the ``ui`` extra); charts use plotly.js from the installed
``plotly`` package, so everything works offline.
"""

from .app import create_app

__all__ = ["create_app"]
