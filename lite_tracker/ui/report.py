"""A static report of an experiment's runs (``lite-tracker report``): one self-contained HTML file with the
runs table, metric curves and parallel coordinates, to attach to a pull request or a paper.

It is built from the UI's own parts: the same data functions as the compare view (``lite_api``), the same
autoescaped Jinja2 templates and chart code (``static/charts.js``), and plotly.js from the installed
``plotly`` package, all inlined, so the file opens anywhere without a network. Run names, params and tags
are untrusted: the table is escaped by Jinja2, the data travels as JSON (``tojson`` escapes ``<``, ``>``,
``&`` and quotes) and chart labels go through ``Charts.escapeForPlotly``.
"""

from __future__ import annotations

import datetime
import os
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from markupsafe import Markup

from .._version import __version__
from ..entities import Run, ViewType
from ..errors import InvalidParameterValue, ResourceNotFound
from ..tracking.client import MlflowClient
from . import lite_api, pages
from .app import plotly_bundle

DEFAULT_MAX_RUNS = 100
MAX_RUNS = lite_api.MAX_PAGE_SIZE
DEFAULT_MAX_POINTS = 500
_STATIC = Path(__file__).parent / "static"
_RUN_NAME_TAG = "mlflow.runName"  # shown as the Run column already
_SCRIPT_END = re.compile(r"</(script)", re.IGNORECASE)


@dataclass(frozen=True)
class Report:
    """A rendered report: its HTML and what it holds."""

    html: str
    experiment: str
    runs: int
    more: bool  # more runs matched than the report holds


@dataclass(frozen=True)
class WrittenReport:
    """Where :func:`write_report` put a report, and what it holds."""

    path: Path
    report: Report
    size: int

    def summary(self) -> str:
        """One line for the command line."""
        more = f" (the first {self.report.runs}; more runs match: raise --max-runs)" if self.report.more else ""
        return (f"Wrote {self.path}: {self.report.runs} runs of experiment {self.report.experiment!r}{more}, "
                f"{self.size / 1e6:.1f} MB.")


def build_report(client: MlflowClient, experiment: str, *, filter_string: str = "",
                 order_by: Sequence[str] | None = None, max_runs: int = DEFAULT_MAX_RUNS,
                 metrics: Sequence[str] | None = None, max_points: int = DEFAULT_MAX_POINTS) -> Report:
    """Render the report of one experiment's active runs.

    Args:
        client: The store to read.
        experiment: The experiment's name.
        filter_string: Only runs matching this filter (MLflow's search grammar).
        order_by: The runs' order (MLflow's ``order_by``); the default is newest first.
        max_runs: At most this many runs (1 to 1000); the report says when more match.
        metrics: The metrics to show (table, curves, parallel coordinates); all by default.
        max_points: Each curve is downsampled to at most this many points (2 to 100000), keeping every
            bucket's lowest and highest point as the UI does.

    Raises:
        ResourceNotFound: No experiment has that name.
        InvalidParameterValue: A bad filter, order, limit or metric name.

    Example:
        >>> build_report(MlflowClient("runs.duckdb"), "sweep", max_runs=20).runs  # doctest: +SKIP
        20
    """
    _check_range("max_runs", max_runs, 1, MAX_RUNS)
    _check_range("max_points", max_points, 2, 100_000)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        raise ResourceNotFound(f"No experiment named {experiment!r} in this store (names are case-sensitive).")
    page = client.search_runs([exp.experiment_id], filter_string, ViewType.ACTIVE_ONLY, max_runs,
                              list(order_by) if order_by else None)
    runs = list(page)
    keys = _metric_keys(runs, metrics)
    table = lite_api.side_by_side(runs, keys)
    ids = [r.info.run_id for r in runs]
    series = lite_api.metric_series(client, ids, keys, max_points) if ids and keys else []
    data = {
        "runs": [{"run_id": r["run_id"], "run_name": r["run_name"]} for r in table["runs"]],
        "params": table["params"], "metrics": table["metrics"], "metric_keys": keys,
        "series": [{"run_id": s["run_id"], "key": s["key"], "steps": s["steps"], "values": _short(s["values"])}
                   for s in series],
    }
    html = pages.render(
        "report.html", title=f"Report: {experiment}", experiment=experiment, filter=filter_string,
        order_by=list(order_by or []), max_runs=max_runs, max_points=max_points, more=page.token is not None,
        generated=datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"), version=__version__,
        rows=table["runs"], param_keys=[p["key"] for p in table["params"]], metric_keys=keys,
        tag_keys=sorted({k for r in runs for k in r.data.tags if k != _RUN_NAME_TAG}), data=data,
        css=Markup(_static("app.css")), scripts=[_script(plotly_bundle().decode("utf-8")),
                                                 _script(_static("charts.js")), _script(_static("report.js"))])
    return Report(html, experiment, len(runs), page.token is not None)


def write_report(path: str | os.PathLike[str], experiment: str, *, store: str | None = None,
                 filter_string: str = "", order_by: Sequence[str] | None = None, max_runs: int = DEFAULT_MAX_RUNS,
                 metrics: Sequence[str] | None = None, max_points: int = DEFAULT_MAX_POINTS) -> WrittenReport:
    """Write the report of one experiment (see :func:`build_report`) to ``path``, replacing it whole or not at
    all.

    Args:
        path: The HTML file to write; its folder must exist.
        experiment: The experiment's name.
        store: The store to read (default: the tracking URI the library resolves).
        filter_string: See :func:`build_report`.
        order_by: See :func:`build_report`.
        max_runs: See :func:`build_report`.
        metrics: See :func:`build_report`.
        max_points: See :func:`build_report`.

    Raises:
        InvalidParameterValue: ``path`` cannot be written, or a bad argument (see :func:`build_report`).
        ResourceNotFound: No experiment has that name.

    Example:
        >>> write_report("report.html", "sweep", store="runs.duckdb").summary()  # doctest: +SKIP
        "Wrote report.html: 24 runs of experiment 'sweep', 5.1 MB."
    """
    out = Path(path)
    if not out.parent.is_dir():
        raise InvalidParameterValue(f"Cannot write the report to {out}: the folder {out.parent} does not exist.")
    if out.is_dir():
        raise InvalidParameterValue(f"Cannot write the report to {out}: it is a folder; name an .html file.")
    report = build_report(MlflowClient(store), experiment, filter_string=filter_string, order_by=order_by,
                          max_runs=max_runs, metrics=metrics, max_points=max_points)
    data = report.html.encode("utf-8")
    tmp = out.with_name(f".{out.name}.{secrets.token_hex(6)}.tmp")  # not mkstemp: the file is to share (umask)
    try:
        try:
            with open(tmp, "xb") as f:
                f.write(data)
            os.replace(tmp, out)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    except OSError as e:
        raise InvalidParameterValue(f"Cannot write the report to {out}: {e.strerror or e}.") from e
    return WrittenReport(out, report, len(data))


def _check_range(name: str, value: int, low: int, high: int) -> None:
    if type(value) is not int or not low <= value <= high:
        raise InvalidParameterValue(f"{name} must be an integer from {low} to {high}, got {value!r}.")


def _metric_keys(runs: list[Run], wanted: Sequence[str] | None) -> list[str]:
    """The metrics to show: ``wanted`` in its order (each logged by some run), or every metric of the runs."""
    logged = sorted({k for r in runs for k in r.data.metrics})
    if wanted is None:
        return logged
    missing = [k for k in wanted if k not in logged]
    if runs and missing:
        raise InvalidParameterValue(f"No run in the report logged {', '.join(map(repr, missing))}; "
                                    f"the runs' metrics are: {', '.join(logged) or 'none'}.")
    return list(dict.fromkeys(wanted))


def _short(values: list[float | None]) -> list[float | None]:
    """Values at 7 significant digits (all a chart can show): a third less curve data than full doubles."""
    return [None if v is None else float(f"{v:.7g}") for v in values]


def _static(name: str) -> str:
    return (_STATIC / name).read_text(encoding="utf-8")


def _script(js: str) -> Any:
    """JavaScript to inline in a ``<script>`` element: a ``</script`` inside it would end the element early."""
    return Markup(_SCRIPT_END.sub(r"<\\/\1", js))
