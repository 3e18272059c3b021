"""``lite-tracker report``: one self-contained HTML file (runs table, metric curves, parallel coordinates)
from a real store, parsed as HTML and opened in the headless browser the UI tests use."""

from __future__ import annotations

import json
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from lite_tracker import MlflowClient
from lite_tracker.cli.report import report
from lite_tracker.entities import Metric, Param, RunTag
from lite_tracker.errors import InvalidFilter, InvalidParameterValue, ResourceNotFound
from lite_tracker.tracking.client import close_all

XSS = "<img src=x onerror=window.__xss=1>"
LONG_STEPS = 3000
SPIKE_STEP = 1234


class _Page(HTMLParser):
    """Elements, their attributes, the text, and the contents of script elements by id."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.scripts: dict[str, str] = {}
        self._script: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))
        if tag == "script":
            self._script = dict(attrs).get("id") or f"inline-{len(self.scripts)}"
            self.scripts[self._script] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._script = None

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            self.scripts[self._script] += data
        else:
            self.text.append(data)


def _parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    page.close()
    return page


class _Table(HTMLParser):
    """The header and body cells of the table with the given id."""

    def __init__(self, table_id: str) -> None:
        super().__init__()
        self.table_id = table_id
        self.inside = False
        self.rows: list[list[str]] = []
        self.cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table" and dict(attrs).get("id") == self.table_id:
            self.inside = True
        elif self.inside and tag == "tr":
            self.rows.append([])
        elif self.inside and tag in ("td", "th"):
            self.cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self.inside = False
        elif self.inside and tag in ("td", "th") and self.cell is not None:
            self.rows[-1].append("".join(self.cell))
            self.cell = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)


def _table(html: str) -> list[list[str]]:
    parser = _Table("report-runs")
    parser.feed(html)
    return parser.rows


def _log_sweep(store: str) -> dict[str, str]:
    """Five runs with params, tags and 20-step histories of two metrics, one hostile run, one long history."""
    client = MlflowClient(store)
    exp = client.create_experiment("sweep")
    ids: dict[str, str] = {}
    for i in range(5):
        rid = client.create_run(exp, run_name=f"run-{i}").info.run_id
        client.log_batch(rid, [Metric(k, v, 1000 + s, s) for s in range(20)
                               for k, v in (("loss", 1 / (i + 1) + 1 / (s + 1)), ("acc", i / 10 + s / 100))],
                         [Param("lr", str(10 ** -i)), Param("opt", "adam" if i % 2 == 0 else "sgd")],
                         [RunTag("team", "vision")])
        client.set_terminated(rid)
        ids[f"run-{i}"] = rid
    hostile = client.create_run(exp, run_name=XSS).info.run_id
    client.log_batch(hostile, [Metric("loss", 9.0, 1000, 0), Metric("loss", 8.0, 1001, 1)],
                     [Param("lr", XSS), Param("opt", "</script><script>window.__xss=2</script>")],
                     [RunTag("team", "<b onmouseover=window.__xss=3>x</b>")])
    long_run = client.create_run(exp, run_name="long").info.run_id
    client.log_batch(long_run, [Metric("loss", 1000.0 if s == SPIKE_STEP else 1 / (s + 1), 1000 + s, s)
                                for s in range(LONG_STEPS)], [Param("lr", "0.5"), Param("opt", "adam")])
    ids.update(hostile=hostile, long=long_run, exp=exp)
    client.create_run(client.create_experiment("other"), run_name="elsewhere")
    client.flush()
    close_all()
    return ids


@pytest.fixture
def sweep(store_path: Path) -> dict[str, str]:
    return _log_sweep(str(store_path))


def _report(store_path: Path, *args: str) -> Result:
    return CliRunner().invoke(report, ["--store", str(store_path), *args])


def _write(store_path: Path, out: Path, *args: str) -> str:
    result = _report(store_path, "--experiment", "sweep", "-o", str(out), *args)
    assert result.exit_code == 0, (result.output, result.exception)
    return out.read_text(encoding="utf-8")


def test_report_is_one_self_contained_file_with_the_runs(store_path: Path, sweep: dict[str, str],
                                                         tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    result = _report(store_path, "--experiment", "sweep", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"Wrote {out}: 7 runs of experiment 'sweep', ")
    html = out.read_text(encoding="utf-8")
    page = _parse(html)

    # Nothing to fetch: no stylesheet links, no script or image sources, no links at all.
    linked = [(tag, attrs) for tag, attrs in page.elements if {"src", "href"} & attrs.keys()]
    assert linked == []
    assert not any(tag in ("link", "img", "iframe", "object", "embed") for tag, _ in page.elements)
    assert "Plotly" in max(page.scripts.values(), key=len)  # plotly.js inlined

    rows = _table(html)
    header = rows[0]
    assert header[:4] == ["Run", "Status", "Start", "Duration"]
    assert {"params.lr", "params.opt", "metrics.acc", "metrics.loss", "tags.team"} <= set(header)
    by_name = {r[0]: dict(zip(header, r)) for r in rows[1:]}
    assert set(by_name) == {"run-0", "run-1", "run-2", "run-3", "run-4", "long", XSS}  # not "elsewhere"
    assert by_name["run-3"]["params.lr"] == "0.001"
    assert by_name["run-3"]["metrics.acc"] == "0.49"  # the latest value: 3/10 + 19/100
    assert by_name["run-3"]["tags.team"] == "vision" and by_name["run-3"]["Status"] == "FINISHED"

    data = json.loads(page.scripts["report-data"])
    assert data["metric_keys"] == ["acc", "loss"]
    assert {(s["run_id"], s["key"]) for s in data["series"]} >= {(sweep["run-0"], "acc"), (sweep["long"], "loss")}
    run0_loss = next(s for s in data["series"] if s["run_id"] == sweep["run-0"] and s["key"] == "loss")
    assert run0_loss["steps"] == list(range(20)) and run0_loss["values"][0] == pytest.approx(2.0)
    assert {p["key"] for p in data["params"]} == {"lr", "opt"}


def test_hostile_names_params_and_tags_render_as_text(store_path: Path, sweep: dict[str, str],
                                                      tmp_path: Path) -> None:
    html = _write(store_path, tmp_path / "r.html")
    page = _parse(html)
    assert [tag for tag, _ in page.elements if tag == "img"] == []
    assert not any(name.startswith("on") for _, attrs in page.elements for name in attrs)
    hostile_scripts = [s for s in page.scripts.values() if "window.__xss=2" in s and "Plotly" not in s]
    assert len(hostile_scripts) == 1 and hostile_scripts[0] is page.scripts["report-data"]  # only as JSON data
    rows = _table(html)
    row = dict(zip(rows[0], next(r for r in rows if r[0] == XSS)))
    assert row["params.lr"] == XSS and row["tags.team"] == "<b onmouseover=window.__xss=3>x</b>"
    assert row["params.opt"] == "</script><script>window.__xss=2</script>"


def test_filter_order_metrics_and_max_runs(store_path: Path, sweep: dict[str, str], tmp_path: Path) -> None:
    html = _write(store_path, tmp_path / "r.html", "--filter", "params.opt = 'adam'", "--order-by",
                  "metrics.loss ASC", "--metrics", "loss")
    rows = _table(html)
    assert [r[0] for r in rows[1:]] == ["long", "run-4", "run-2", "run-0"]  # latest loss 1/3000, 0.25, ...
    assert [h for h in rows[0] if h.startswith("metrics.")] == ["metrics.loss"]
    assert "params.opt = &#39;adam&#39;" in html and "metrics.loss ASC" in html
    assert "more runs match" not in html

    out = tmp_path / "capped.html"
    result = _report(store_path, "--experiment", "sweep", "--max-runs", "2", "-o", str(out))
    assert result.exit_code == 0
    assert "(the first 2; more runs match: raise --max-runs)" in result.output
    capped = out.read_text(encoding="utf-8")
    assert len(_table(capped)) == 3
    assert "more runs match (at most 2 are shown; raise --max-runs)" in capped


def test_long_curves_are_downsampled_keeping_the_spike(store_path: Path, sweep: dict[str, str],
                                                       tmp_path: Path) -> None:
    html = _write(store_path, tmp_path / "r.html", "--max-points", "200")
    data = json.loads(_parse(html).scripts["report-data"])
    long_loss = next(s for s in data["series"] if s["run_id"] == sweep["long"])
    assert len(long_loss["steps"]) <= 200
    assert long_loss["steps"] == sorted(long_loss["steps"])
    assert max(long_loss["values"]) == 1000.0 and SPIKE_STEP in long_loss["steps"]
    assert "at most 200 points per run" in html


def test_a_report_replaces_the_file_whole(store_path: Path, sweep: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    out.write_text("old")
    _write(store_path, out)
    assert out.read_text(encoding="utf-8").startswith("<!doctype html>")
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


@pytest.mark.parametrize(("args", "error", "words"), [
    (["--experiment", "nope"], ResourceNotFound, "No experiment named 'nope'"),
    (["--experiment", "sweep", "--filter", "metrics.loss < 'x'"], InvalidFilter, "metrics.loss"),
    (["--experiment", "sweep", "--order-by", "metrics.loss SIDEWAYS"], InvalidParameterValue, "SIDEWAYS"),
    (["--experiment", "sweep", "--metrics", "loss,los"], InvalidParameterValue, "No run in the report logged 'los'"),
    (["--experiment", "sweep", "--max-runs", "0"], InvalidParameterValue, "max_runs must be an integer from 1"),
    (["--experiment", "sweep", "--max-points", "1"], InvalidParameterValue, "max_points must be an integer"),
])
def test_bad_input_is_a_clear_error(store_path: Path, sweep: dict[str, str], tmp_path: Path, args: list[str],
                                    error: type[Exception], words: str) -> None:
    out = tmp_path / "r.html"
    result = _report(store_path, *args, "-o", str(out))
    assert result.exit_code == 1 and isinstance(result.exception, error), (result.output, result.exception)
    assert words in str(result.exception)
    assert not out.exists()


def test_missing_store_or_folder_is_named(store_path: Path, sweep: dict[str, str], tmp_path: Path) -> None:
    result = CliRunner().invoke(report, ["--store", str(tmp_path / "typo.duckdb"), "--experiment", "sweep",
                                         "-o", str(tmp_path / "r.html")])
    assert isinstance(result.exception, ResourceNotFound) and "typo.duckdb" in str(result.exception)
    assert not (tmp_path / "typo.duckdb").exists()
    result = _report(store_path, "--experiment", "sweep", "-o", str(tmp_path / "no" / "r.html"))
    assert isinstance(result.exception, InvalidParameterValue)
    assert f"the folder {tmp_path / 'no'} does not exist" in str(result.exception)


def test_without_the_ui_extra_the_command_names_it(tmp_path: Path) -> None:
    code = ("import sys; sys.modules['starlette'] = None\n"
            "from click.testing import CliRunner\n"
            "from lite_tracker.cli.report import report\n"
            "r = CliRunner().invoke(report, ['--experiment', 'x', '-o', 'r.html'])\n"
            "print(r.exit_code, type(r.exception).__name__, r.exception.message)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("1 LiteTrackerException `lite-tracker report` needs the ui extra: "
                                  "`pip install 'lite-tracker[ui]'`")


# ------------------------------------------------------------------ in a real browser


def _browser() -> Any:
    from test_ui_browser import CHROMIUM, _require_browser

    return _require_browser(), CHROMIUM


def test_report_renders_offline_in_a_browser(store_path: Path, sweep: dict[str, str], tmp_path: Path) -> None:
    sync_playwright, chromium = _browser()
    out = tmp_path / "report.html"
    _write(store_path, out)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium,
                                    args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        try:
            page = browser.new_page()
            page.set_default_timeout(30_000)
            errors: list[str] = []
            fetched: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("request", lambda r: fetched.append(r.url))
            page.goto(out.as_uri())
            page.wait_for_function("() => document.getElementById('curve-1').data")
            page.wait_for_function("() => document.getElementById('chart-parcoords').data")
            traces = page.evaluate("document.getElementById('curve-1').data.map((t) => t.name)")
            assert sorted(traces) == sorted(["run-0", "run-1", "run-2", "run-3", "run-4", "long",
                                             "&#60;img src=x onerror=window.__xss=1&#62;"])
            assert page.evaluate("document.getElementById('curve-0').data.length") == 5  # acc: not the others
            assert page.evaluate("document.getElementById('chart-parcoords').data[0].type") == "parcoords"
            assert page.locator("#curve-1 .main-svg").count() > 0  # plotly drew it
            assert page.evaluate("window.__xss") is None
            assert XSS in page.locator("#report-runs tbody").inner_text()
            page.select_option("#parcoords-metric", "acc")
            page.wait_for_function("() => document.getElementById('chart-parcoords').data[0]"
                                   ".dimensions.slice(-1)[0].label === 'acc'")
            assert errors == []
            assert fetched == [out.as_uri()]  # the page itself, nothing else
        finally:
            browser.close()
