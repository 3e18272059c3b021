"""The HTML pages: Jinja2 templates (autoescaped) over the same data functions as their ``/api/lite`` twins.

Each page embeds its data as JSON in a ``<script type="application/json">`` block (Jinja's ``tojson``
escapes ``<``, ``>``, ``&`` and quotes) and the page's script builds the interactive parts with
``textContent``, never ``innerHTML`` with data. Errors render a plain error page, never a stack trace.
"""

from __future__ import annotations

import datetime
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from ..errors import LiteTrackerException
from . import lite_api
from .errors import error_html, status_for

_env = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"), autoescape=True,
                          undefined=jinja2.StrictUndefined)


def _when(ms: int | None) -> str:
    if ms is None:
        return ""
    return datetime.datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M:%S")


def _duration(ms: int | None) -> str:
    if ms is None:
        return ""
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, s = divmod(int(seconds), 60)
    hours, m = divmod(minutes, 60)
    return f"{hours}h {m}m {s}s" if hours else f"{m}m {s}s"


def _number(value: float | str | None) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else f"{value:.6g}"


_env.filters["when"] = _when
_env.filters["number"] = _number
_env.filters["duration"] = _duration


def render(template: str, **context: Any) -> str:
    """Render one of the UI's templates (autoescaped, with the pages' filters) to a string."""
    return _env.get_template(template).render(**context)


def _render(request: Request, template: str, title: str, data: dict[str, Any]) -> HTMLResponse:
    state = request.app.state
    page = _env.get_template(template).render(
        title=title, data=data, read_only=state.read_only, plotly_url=state.plotly_url,
        store=state.store_label)
    return HTMLResponse(page)


PageHandler = Callable[[Request], Awaitable[Response]]


def _page(func: Callable[[Request], HTMLResponse]) -> PageHandler:
    """Run a page function; a lite_tracker error becomes the plain error page with MLflow's status."""

    async def handler(request: Request) -> Response:
        try:
            return func(request)
        except LiteTrackerException as e:
            return HTMLResponse(error_html(status_for(e.error_code), e.message),
                                status_code=status_for(e.error_code))

    handler.__name__ = func.__name__
    return handler


@_page
def experiments(request: Request) -> HTMLResponse:
    """The experiments list."""
    q = request.query_params
    view = q.get("view") or "active"
    rows = lite_api.experiments_data(lite_api.client_of(request), q.get("q", ""), view)
    return _render(request, "experiments.html", "Experiments",
                   {"experiments": rows, "q": q.get("q", ""), "view": view})


@_page
def runs(request: Request) -> HTMLResponse:
    """The runs table of one (``/experiments/{id}``) or several (``?experiment_ids=``) experiments."""
    ids = request.path_params.get("experiment_id") or request.query_params.get("experiment_ids")
    experiment_ids = lite_api.id_list(ids, "experiments")
    if not experiment_ids:
        return HTMLResponse(error_html(400, "Choose at least one experiment."), status_code=400)
    client = lite_api.client_of(request)
    names = [client.get_experiment(i).name for i in experiment_ids]
    return _render(request, "runs.html", "Runs of " + ", ".join(names),
                   {"experiment_ids": experiment_ids, "experiment_names": names,
                    "page_size": lite_api.PAGE_SIZE})


@_page
def compare(request: Request) -> HTMLResponse:
    """The compare view of ``?run_ids=``."""
    ids = lite_api.id_list(request.query_params.get("run_ids"), "runs", lite_api.MAX_COMPARE)
    data = lite_api.compare_data(lite_api.client_of(request), ids)
    return _render(request, "compare.html", f"Compare {len(ids)} runs", data)


@_page
def run(request: Request) -> HTMLResponse:
    """One run."""
    data = lite_api.run_data(lite_api.client_of(request), request.path_params["run_id"])
    return _render(request, "run.html", "Run " + (data["run"]["run_name"] or data["run"]["run_id"]), data)


@_page
def models(request: Request) -> HTMLResponse:
    """The registered models."""
    return _render(request, "models.html", "Models", {"models": lite_api.models_data(lite_api.client_of(request))})


@_page
def model(request: Request) -> HTMLResponse:
    """One registered model (``?name=``)."""
    name = request.query_params.get("name")
    if not name:
        return HTMLResponse(error_html(400, "Which model? Add ?name=<model name>."), status_code=400)
    data = lite_api.model_data(lite_api.client_of(request), name, request.app.state.store_label)
    return _render(request, "model.html", "Model " + name, data)


routes = [
    Route("/", experiments),
    Route("/experiments/{experiment_id}", runs),
    Route("/runs", runs),
    Route("/compare", compare),
    Route("/runs/{run_id}", run),
    Route("/models", models),
    Route("/model", model),
]
