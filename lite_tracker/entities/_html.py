"""Compact HTML tables of entities for notebooks (``_repr_html_``): every value escaped, no script,
no styles from outside; long lists and wide tables are cut with a note saying how much was left out."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timezone
from html import escape
from typing import Any

MAX_ROWS = 50
MAX_KEYS = 8  # metric and param columns shown in a list of runs
MAX_TEXT = 80
STYLE = "border-collapse:collapse;font-size:12px"
CELL = "padding:2px 8px;text-align:left;border-bottom:1px solid #ddd"
SPARK_POINTS = 60  # points per inline metric chart (bucket minima and maxima)

# Where a run's metric curves come from for its inline charts: given a run id and metric keys, the
# (step, value) points of each. The tracking layer sets it (it knows the stores); None draws no chart.
HistoryReader = Callable[[str, Sequence[str]], Mapping[str, Sequence[tuple[float, float]]]]
history_reader: HistoryReader | None = None


def text(value: Any) -> str:
    """One escaped, shortened cell."""
    if value is None:
        return "&ndash;"
    if isinstance(value, float):
        shown = f"{value:.6g}"
    else:
        shown = str(value)
    if len(shown) > MAX_TEXT:
        shown = shown[:MAX_TEXT - 1] + "\u2026"
    return escape(shown)


def when(ms: int | None) -> str:
    """Epoch milliseconds as UTC date and time."""
    if ms is None:
        return "&ndash;"
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def table(header: Sequence[str], rows: Iterable[Sequence[str]], caption: str = "", note: str = "") -> str:
    """An HTML table; ``header`` is escaped here, ``rows`` hold cells already escaped."""
    head = "".join(f'<th style="{CELL}">{escape(h)}</th>' for h in header)
    body = "".join("<tr>" + "".join(f'<td style="{CELL}">{c}</td>' for c in row) + "</tr>" for row in rows)
    cap = f"<caption style=\"text-align:left;font-weight:bold\">{escape(caption)}</caption>" if caption else ""
    tail = f'<div style="font-size:11px;color:#666">{escape(note)}</div>' if note else ""
    return f'<table style="{STYLE}">{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{tail}'


def fields(caption: str, items: Sequence[tuple[str, str]]) -> str:
    """A two-column table of labelled cells (labels are escaped here, values already escaped)."""
    return table(("", ""), [(f"<b>{escape(k)}</b>", v) for k, v in items], caption)


def mapping(values: dict[str, Any]) -> str:
    """``key=value`` pairs in one cell, the first :data:`MAX_KEYS`, escaped."""
    shown = [f"{text(k)}={text(v)}" for k, v in sorted(values.items())[:MAX_KEYS]]
    more = len(values) - MAX_KEYS
    return "<br>".join(shown + ([f"\u2026 {more} more"] if more > 0 else [])) or "&ndash;"


def many(items: Sequence[Any], columns: Sequence[tuple[str, Callable[[Any], str]]], caption: str) -> str:
    """A table of the first :data:`MAX_ROWS` items, one column per ``(header, cell function)``."""
    rows = [[cell(item) for _, cell in columns] for item in items[:MAX_ROWS]]
    left = len(items) - MAX_ROWS
    note = f"{left} more not shown" if left > 0 else ""
    return table([h for h, _ in columns], rows, caption, note)


def run(r: Any) -> str:
    """One run: its info, then its latest metrics, params and tags."""
    i = r.info
    info = fields(f"Run {i.run_name or i.run_id}", [
        ("run_id", text(i.run_id)), ("experiment_id", text(i.experiment_id)), ("status", text(i.status)),
        ("start", when(i.start_time)), ("end", when(i.end_time)), ("user", text(i.user_id)),
        ("lifecycle_stage", text(i.lifecycle_stage)), ("artifact_uri", text(i.artifact_uri)),
    ])
    parts = [info]
    if r.data.metrics:
        parts.append(_metrics_with_charts(i.run_id, r.data.metrics))
    for label, values in (("Params", r.data.params), ("Tags", r.data.tags)):
        if values:
            keys = sorted(values)
            left = len(keys) - MAX_ROWS
            parts.append(table(("key", "value"), [(text(k), text(values[k])) for k in keys[:MAX_ROWS]], label,
                               f"{left} more not shown" if left > 0 else ""))
    return "".join(parts)


def _metrics_with_charts(run_id: str, metrics: Mapping[str, float]) -> str:
    """The latest metrics, each with a small inline chart of its history when it has one."""
    keys = sorted(metrics)
    shown = keys[:MAX_ROWS]
    series = history_reader(run_id, shown[:MAX_KEYS]) if history_reader is not None else {}
    rows = [(text(k), text(metrics[k]), sparkline(series.get(k, ()))) for k in shown]
    left = len(keys) - MAX_ROWS
    return table(("key", "latest", "history"), rows, "Metrics",
                 f"{left} more not shown" if left > 0 else "")


def sparkline(points: Sequence[tuple[float, float]], width: int = 120, height: int = 24) -> str:
    """An inline SVG polyline of ``(step, value)`` points, scaled to the box; empty under two finite points."""
    finite = [(x, y) for x, y in points if y == y and abs(y) != float("inf")]
    if len(finite) < 2:
        return ""
    xs, ys = [x for x, _ in finite], [y for _, y in finite]
    x0, dx = min(xs), (max(xs) - min(xs)) or 1.0
    y0, dy = min(ys), (max(ys) - min(ys)) or 1.0
    coords = " ".join(f"{(x - x0) / dx * (width - 2) + 1:.1f},{height - 1 - (y - y0) / dy * (height - 2):.1f}"
                      for x, y in finite)
    return (f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img">'
            f'<polyline fill="none" stroke="#1f77b4" stroke-width="1.2" points="{coords}"/></svg>')


def runs(items: Sequence[Any]) -> str:
    """Runs as rows: name, id, status, start, then the most common metric and param keys."""
    def common(attr: str) -> list[str]:
        counts: dict[str, int] = {}
        for r in items[:MAX_ROWS]:
            for k in getattr(r.data, attr):
                counts[k] = counts.get(k, 0) + 1
        return sorted(counts, key=lambda k: (-counts[k], k))[:MAX_KEYS]

    columns: list[tuple[str, Callable[[Any], str]]] = [
        ("run_name", lambda r: text(r.info.run_name)), ("run_id", lambda r: text(r.info.run_id)),
        ("status", lambda r: text(r.info.status)), ("start", lambda r: when(r.info.start_time)),
    ]
    for attr in ("metrics", "params"):
        columns.extend((f"{attr}.{key}", _data_cell(attr, key)) for key in common(attr))
    return many(items, columns, f"{len(items)} runs")


def _data_cell(attr: str, key: str) -> Callable[[Any], str]:
    """The cell function of one metric or param column."""
    return lambda r: text(getattr(r.data, attr).get(key))


def experiment(e: Any) -> str:
    """One experiment."""
    return fields(f"Experiment {e.name}", [
        ("experiment_id", text(e.experiment_id)), ("name", text(e.name)),
        ("artifact_location", text(e.artifact_location)), ("lifecycle_stage", text(e.lifecycle_stage)),
        ("created", when(e.creation_time)), ("updated", when(e.last_update_time)), ("tags", mapping(e.tags)),
    ])


def experiments(items: Sequence[Any]) -> str:
    return many(items, [
        ("experiment_id", lambda e: text(e.experiment_id)), ("name", lambda e: text(e.name)),
        ("lifecycle_stage", lambda e: text(e.lifecycle_stage)), ("created", lambda e: when(e.creation_time)),
        ("tags", lambda e: mapping(e.tags)),
    ], f"{len(items)} experiments")


def model(m: Any) -> str:
    """One registered model with its latest version per stage."""
    head = fields(f"Registered model {m.name}", [
        ("name", text(m.name)), ("description", text(m.description)), ("created", when(m.creation_timestamp)),
        ("updated", when(m.last_updated_timestamp)),
        ("aliases", mapping(m.aliases)), ("tags", mapping(m.tags)),
    ])
    return head + (versions(m.latest_versions, "Latest versions") if m.latest_versions else "")


def models(items: Sequence[Any]) -> str:
    return many(items, [
        ("name", lambda m: text(m.name)), ("latest versions", lambda m: text(", ".join(
            f"{v.version} ({v.current_stage})" for v in m.latest_versions))),
        ("aliases", lambda m: mapping(m.aliases)), ("updated", lambda m: when(m.last_updated_timestamp)),
        ("description", lambda m: text(m.description)),
    ], f"{len(items)} registered models")


def version(v: Any) -> str:
    """One model version."""
    return fields(f"Model version {v.name} v{v.version}", [
        ("name", text(v.name)), ("version", text(v.version)), ("stage", text(v.current_stage)),
        ("aliases", text(", ".join(v.aliases)) or "&ndash;"), ("status", text(v.status)),
        ("run_id", text(v.run_id)), ("source", text(v.source)), ("created", when(v.creation_timestamp)),
        ("description", text(v.description)), ("tags", mapping(v.tags)),
    ])


def versions(items: Sequence[Any], caption: str = "") -> str:
    return many(items, [
        ("name", lambda v: text(v.name)), ("version", lambda v: text(v.version)),
        ("stage", lambda v: text(v.current_stage)), ("aliases", lambda v: text(", ".join(v.aliases))),
        ("run_id", lambda v: text(v.run_id)), ("created", lambda v: when(v.creation_timestamp)),
    ], caption or f"{len(items)} model versions")


def listing(items: Sequence[Any]) -> str | None:
    """A table of a list of one kind of entity; None (plain repr) for anything else or an empty list."""
    if not items:
        return None
    kind = type(items[0]).__name__
    render = {"Run": runs, "Experiment": experiments, "RegisteredModel": models, "ModelVersion": versions}.get(kind)
    if render is None or any(type(x).__name__ != kind for x in items):
        return None
    return render(items)
