"""End to end: a real `lite-tracker ui` process driven by a real headless Chromium (Debian's `chromium`
package through Playwright). In CI (`CI` set) a missing browser fails these tests instead of skipping them."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import free_port

from lite_tracker import MlflowClient
from lite_tracker.entities import Metric, Param
from lite_tracker.tracking.client import close_all

CHROMIUM = "/usr/bin/chromium"
XSS_NAME = "<img src=x onerror=window.__xss=1>"
ARTIFACT_TEXT = "hello from the browser test"
CURVES_DRAWN = "() => { const g = document.getElementById('chart-curves'); return g.data && g.data.length; }"


def _require_browser() -> Any:
    """Playwright's sync API, or skip (locally) / fail (in CI) when the browser or package is missing."""
    problem = None
    if not os.path.exists(CHROMIUM):
        problem = f"{CHROMIUM} is missing (apt-get install chromium)"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        problem = "the playwright package is missing (pip install -e '.[test]')"
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"Browser tests must run in CI: {problem}")
        pytest.skip(problem)
    return sync_playwright


def _log_data(store: str) -> dict[str, str]:
    client = MlflowClient(store)
    exp = client.create_experiment("browser-exp")
    ids: dict[str, str] = {"exp": exp}
    for i in range(6):
        run = client.create_run(exp, run_name=f"run-{i}")
        rid = run.info.run_id
        client.log_batch(rid, [Metric("acc", (i + step / 10) / 10, 1000 + step, step) for step in range(11)],
                         [Param("opt", "adam" if i % 2 == 0 else "sgd"), Param("i", str(i))])
        client.set_terminated(rid)
        ids[f"run-{i}"] = rid
    client.log_text(ids["run-0"], ARTIFACT_TEXT, "docs/hello.txt")
    xss_exp = client.create_experiment("xss-exp")
    xss = client.create_run(xss_exp, run_name=XSS_NAME).info.run_id
    client.log_batch(xss, [Metric("acc", 0.5, 1000, 0), Metric("acc", 0.6, 1001, 1)], [Param("p", XSS_NAME)])
    client.set_terminated(xss)
    ids.update(xss_exp=xss_exp, xss=xss)
    client.create_registered_model("bmodel")
    client.create_model_version("bmodel", f"runs:/{ids['run-0']}/model", run_id=ids["run-0"])
    client.flush()
    close_all()
    return ids


LIVE_WRITER = """
import sys, time
from lite_tracker import MlflowClient
client = MlflowClient(sys.argv[1])
exp = client.create_experiment("live-exp")
rid = client.create_run(exp, run_name="live").info.run_id
for step in range(100_000):
    client.log_metric(rid, "progress", float(step), step=step)
    client.flush()
    if step == 0:
        print(exp, flush=True)
    time.sleep(0.3)
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    """A real `lite-tracker ui` process on a free port over a small store; killed at teardown."""
    _require_browser()
    folder = tmp_path_factory.mktemp("ui-browser")
    store = str(folder / "lite_tracker.duckdb")
    ids = _log_data(store)
    ids["store"] = store
    port = free_port()
    exe = Path(sys.executable).with_name("lite-tracker")
    log = folder / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(exe), "ui", "--port", str(port), "--store", store],
                                stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(base + "/api/lite/experiments", timeout=2).read()
                break
            except OSError:
                assert proc.poll() is None, f"server exited: {log.read_text()}"
                assert time.monotonic() < deadline, f"server did not answer within 30 s: {log.read_text()}"
                time.sleep(0.2)
        yield base, ids
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture(scope="module")
def browser(server: tuple[str, dict[str, str]]) -> Iterator[Any]:
    sync_playwright = _require_browser()
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM,
                              args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        yield b
        b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(accept_downloads=True)
    pg = context.new_page()
    pg.set_default_timeout(20_000)
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)
    pg.on("dialog", lambda d: d.accept())
    yield pg
    context.close()
    assert errors == [], errors


def _rows(page: Any) -> list[str]:
    return [t.strip() for t in page.locator("#runs-table tbody tr td.name a.run-link").all_inner_texts()]


def _wait_rows(page: Any, n: int) -> None:
    page.wait_for_function(
        "n => document.querySelectorAll('#runs-table tbody tr td.name a.run-link').length === n", arg=n)


def test_experiments_list_opens_runs_table(server: tuple[str, dict[str, str]], page: Any) -> None:
    base, _ = server
    page.goto(base + "/")
    assert page.locator("#experiments a.exp-link", has_text="browser-exp").is_visible()
    page.click("#experiments a.exp-link:text-is('browser-exp')")
    _wait_rows(page, 6)
    assert sorted(_rows(page)) == [f"run-{i}" for i in range(6)]


def test_filter_with_grammar_and_bad_filter_message(server: tuple[str, dict[str, str]], page: Any) -> None:
    base, ids = server
    page.goto(f"{base}/experiments/{ids['exp']}")
    _wait_rows(page, 6)
    page.fill("#filter", "params.opt = 'adam'")
    page.press("#filter", "Enter")
    _wait_rows(page, 3)
    assert sorted(_rows(page)) == ["run-0", "run-2", "run-4"]
    page.fill("#filter", "metrics.acc < 'high'")
    page.press("#filter", "Enter")
    page.wait_for_selector("#filter-error:not([hidden])")
    assert "position 14" in page.inner_text("#filter-error .msg")
    assert page.inner_text("#filter-error .where").splitlines()[1] == " " * 14 + "^"


def test_filter_with_metric_range(server: tuple[str, dict[str, str]], page: Any) -> None:
    base, ids = server
    page.goto(f"{base}/experiments/{ids['exp']}")
    _wait_rows(page, 6)
    page.click("#ranges-box summary")
    page.fill(".range[data-key='acc'] .range-min", "0.35")
    page.fill(".range[data-key='acc'] .range-max", "0.55")
    page.click("#apply-ranges")
    _wait_rows(page, 2)
    assert sorted(_rows(page)) == ["run-3", "run-4"]  # latest acc is (i + 1) / 10
    assert "metrics.acc >= 0.35 and metrics.acc <= 0.55" in page.inner_text("#compiled-filter")


def test_compare_three_runs_draws_three_traces(server: tuple[str, dict[str, str]], page: Any) -> None:
    base, ids = server
    page.goto(f"{base}/experiments/{ids['exp']}")
    _wait_rows(page, 6)
    for name in ("run-1", "run-2", "run-3"):
        page.check(f"#runs-table tr[data-run-id='{ids[name]}'] input.run-select")
    page.click("#compare-btn")
    page.wait_for_url("**/compare?run_ids=*")
    page.wait_for_function(CURVES_DRAWN)
    assert page.evaluate("document.getElementById('chart-curves').data.length") == 3
    page.locator("#chart-parcoords").scroll_into_view_if_needed()
    page.wait_for_function("() => document.getElementById('chart-parcoords').data")
    assert page.evaluate("document.getElementById('chart-parcoords').data[0].type") == "parcoords"
    assert page.locator("#compare-params tr.diff th:text-is('i')").count() == 1


def test_run_page_downloads_an_artifact(server: tuple[str, dict[str, str]], page: Any) -> None:
    base, ids = server
    page.goto(f"{base}/runs/{ids['run-0']}")
    page.click("a.tree-dir:text-is('docs/')")
    page.click("a.tree-file[data-path='docs/hello.txt']")
    page.wait_for_selector(".preview-text")
    assert page.inner_text(".preview-text") == ARTIFACT_TEXT
    with page.expect_download() as info:
        page.click("#artifact-preview a.download")
    download = info.value
    assert download.suggested_filename == "hello.txt"
    assert Path(download.path()).read_text() == ARTIFACT_TEXT
    page.locator("#run-charts").scroll_into_view_if_needed()
    page.wait_for_function("() => document.querySelectorAll('#run-charts .main-svg').length >= 1")


def test_transition_model_stage(server: tuple[str, dict[str, str]], page: Any) -> None:
    base, _ = server
    page.goto(base + "/model?name=bmodel")
    row = page.locator("#model-versions tr[data-version='1']")
    row.locator(".stage-select").select_option("Staging")
    with page.expect_navigation():
        row.locator(".stage-apply").click()
    assert page.locator("#model-versions tr[data-version='1'] .stage").inner_text() == "Staging"
    assert "None → Staging" in page.locator("#model-versions tr[data-version='1'] .history").inner_text()


def test_xss_payload_shows_as_text(server: tuple[str, dict[str, str]], page: Any) -> None:
    base, ids = server
    page.goto(f"{base}/experiments/{ids['xss_exp']}")
    _wait_rows(page, 1)
    assert _rows(page) == [XSS_NAME]
    assert page.get_by_text(XSS_NAME).first.is_visible()
    page.goto(f"{base}/runs/{ids['xss']}")
    assert page.inner_text("#run-name") == XSS_NAME
    page.goto(f"{base}/compare?run_ids={ids['xss']}")
    page.wait_for_function(CURVES_DRAWN)
    page.wait_for_timeout(300)
    assert page.evaluate("typeof window.__xss") == "undefined"
    assert page.locator("img[src='x']").count() == 0


def test_path_traversal_refused_in_browser(server: tuple[str, dict[str, str]], page: Any) -> None:
    base, ids = server
    for path in ("../../../../etc/passwd", "..%2F..%2F..%2Fetc%2Fpasswd", "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
                 "/etc/passwd"):
        response = page.goto(f"{base}/api/lite/runs/{ids['run-0']}/artifacts/file?path={path}")
        assert response.status == 400, path
        assert "root:" not in page.content()
    for url in ("/static/..%2f..%2fapp.py", "/static/%2e%2e/%2e%2e/cli.py"):
        response = page.goto(base + url)
        assert response.status == 404, url
        assert "create_app" not in page.content()


def test_running_run_updates_live(server: tuple[str, dict[str, str]], page: Any) -> None:
    """A run another process is logging to shows RUNNING and its metric cell changes without a reload."""
    base, ids = server
    writer = subprocess.Popen([sys.executable, "-c", LIVE_WRITER, ids["store"]], stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout is not None
        exp = writer.stdout.readline().strip()
        assert exp, "the writer process did not start"
        page.goto(f"{base}/experiments/{exp}")
        _wait_rows(page, 1)
        page.wait_for_selector("#runs-table .status.running")
        cell = "#runs-table tbody tr td.num"
        first = float(page.inner_text(cell))
        page.wait_for_function("([sel, v]) => Number(document.querySelector(sel).textContent) > v", arg=[cell, first])
        assert "running (live)" in page.inner_text("#status-line")
    finally:
        writer.kill()
        writer.wait(timeout=10)
        if writer.stdout is not None:
            writer.stdout.close()
