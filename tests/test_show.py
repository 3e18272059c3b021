"""``lite_tracker.show()``: the UI in a notebook, served from a thread of the calling process. Each server test
runs in a fresh interpreter (the server lives as long as its process), whose stdout must stay empty."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

import lite_tracker as mlflow
from lite_tracker.errors import InvalidParameterValue, LiteTrackerException, ResourceNotFound

# Logs two runs, shows the UI twice, reports what it got in a file, then keeps serving until stdin closes.
NOTEBOOK = """
import json, sys
import lite_tracker as mlflow

store, report = sys.argv[1], sys.argv[2]
mlflow.set_tracking_uri(store)
mlflow.set_experiment("nb-exp")
for name in ("first", "<b>second</b>"):
    with mlflow.start_run(run_name=name):
        mlflow.log_param("lr", 0.1)
        mlflow.log_metrics({"loss": 0.5}, step=1)
ui = mlflow.show(experiment="nb-exp", height=600)
again = mlflow.show()
other = mlflow.show(store=store)
with open(report, "w") as f:
    json.dump({"url": ui.url, "html": ui._repr_html_(), "repr": repr(ui), "again": again.url,
               "other": other.url}, f)
sys.stdin.read()
"""


def _get(url: str) -> tuple[int, dict[str, str], bytes]:
    with urllib.request.urlopen(url, timeout=30) as r:
        return r.status, dict(r.headers), r.read()


def test_show_serves_the_ui_once_per_process_and_prints_nothing(tmp_path: Path) -> None:
    report = tmp_path / "shown.json"
    proc = subprocess.Popen([sys.executable, "-c", NOTEBOOK, str(tmp_path / "nb.duckdb"), str(report)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 60
        while not report.exists() or not report.read_text():
            assert proc.poll() is None, proc.communicate(timeout=10)
            assert time.monotonic() < deadline, "show() did not return within 60 s"
            time.sleep(0.1)
        shown = json.loads(report.read_text())
        base = shown["url"].split("/experiments/")[0]
        assert base.startswith("http://127.0.0.1:") and shown["url"] != base
        assert shown["again"] == base + "/" and shown["other"] == base + "/"  # one server, reused
        assert shown["html"].startswith(f'<iframe src="{shown["url"]}" width="100%" height="600" ')
        assert shown["repr"] == f"lite_tracker UI (read-only) at {shown['url']}"

        status, headers, page = _get(shown["url"])  # the page the iframe shows
        assert status == 200 and b"Runs of nb-exp" in page
        assert "x-frame-options" not in {k.lower() for k in headers}  # a notebook may frame it
        assert "frame-ancestors" not in headers["content-security-policy"]
        exp_id = shown["url"].rsplit("/", 1)[1]
        _, _, body = _get(f"{base}/api/lite/runs?experiment_ids={exp_id}")
        runs = json.loads(body)["runs"]
        assert sorted(r["run_name"] for r in runs) == ["<b>second</b>", "first"]
        assert {r["params"]["lr"] for r in runs} == {"0.1"}

        refused = urllib.request.Request(f"{base}/api/lite/runs/delete", method="POST",
                                         data=json.dumps({"run_ids": [runs[0]["run_id"]]}).encode(),
                                         headers={"Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(refused, timeout=30)
        assert e.value.code == 403  # read-only: a page framing it cannot change anything
        e.value.close()
    finally:
        out, err = proc.communicate(input=b"", timeout=60)
    assert proc.returncode == 0, err.decode()[-3000:]
    assert out == b""


def test_without_the_ui_extra_show_names_it(tmp_path: Path) -> None:
    code = ("import sys; sys.modules['uvicorn'] = None\n"
            "import lite_tracker as mlflow\n"
            "try:\n    mlflow.show(store='s.duckdb')\n"
            "except mlflow.LiteTrackerException as e:\n    sys.stderr.write(e.message)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0 and done.stdout == ""
    assert done.stderr.startswith("lite_tracker.show() needs the ui extra: `pip install 'lite-tracker[ui]'`")


def test_import_does_not_load_the_ui() -> None:
    code = ("import sys, lite_tracker; print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('starlette', 'uvicorn', 'jinja2', 'plotly') or m.startswith('lite_tracker.ui')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"


def test_bad_arguments_fail_before_a_server_starts(store_path: Path) -> None:
    with pytest.raises(ResourceNotFound, match="No experiment named 'nope'"):
        mlflow.show(store=str(store_path), experiment="nope")
    with pytest.raises(InvalidParameterValue, match="height must be a positive number of pixels"):
        mlflow.show(store=str(store_path), height=0)
    from lite_tracker import _notebook

    assert _notebook._servers == {}


def test_an_embeddable_app_must_be_read_only(store_path: Path) -> None:
    from lite_tracker.ui import create_app

    with pytest.raises(LiteTrackerException, match="must be read-only"):
        create_app(str(store_path), embeddable=True)
