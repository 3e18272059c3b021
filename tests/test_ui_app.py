"""The web UI's pages and /api/lite JSON twins through Starlette's test client, on real stores: empty, one
run, many runs; and its security: token, Origin check, JSON-only writes, read-only mode, escaping,
confined artifact and static paths."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import free_port
from starlette.testclient import TestClient

from lite_tracker import MlflowClient
from lite_tracker.entities import Metric, Param
from lite_tracker.errors import InvalidParameterValue
from lite_tracker.ui import create_app
from lite_tracker.ui.server import choose_token

XSS = "<img src=x onerror=alert(1)>"
PAGE_DATA = re.compile(r'<script type="application/json" id="page-data">(.*?)</script>', re.S)


def app_client(store: Path, **kwargs: Any) -> TestClient:
    return TestClient(create_app(str(store), **kwargs), base_url="http://127.0.0.1:5000")


def page_data(html: str) -> Any:
    """The JSON a page embeds for its script."""
    m = PAGE_DATA.search(html)
    assert m is not None
    return json.loads(m.group(1))


def make_run(client: MlflowClient, exp: str, name: str, metrics: dict[str, float], params: dict[str, str],
             tags: dict[str, str] | None = None, end: bool = True) -> str:
    run = client.create_run(exp, run_name=name, tags=tags)
    rid = run.info.run_id
    client.log_batch(rid, [Metric(k, v, 1000, 0) for k, v in metrics.items()],
                     [Param(k, v) for k, v in params.items()])
    if end:
        client.set_terminated(rid)
    return rid


@pytest.fixture
def one(client: MlflowClient, store_path: Path) -> dict[str, str]:
    """One experiment with one run that has metrics history, params, a note and artifacts."""
    exp = client.create_experiment("exp-one")
    rid = make_run(client, exp, "first", {"loss": 0.5}, {"lr": "0.1"})
    for step in range(300):
        client.log_metric(rid, "loss", 1.0 / (step + 1), step=step)
    client.log_text(rid, "hello\nworld", "notes/readme.txt")
    client.log_dict(rid, {"a": 1}, "config.json")
    client.log_text(rid, "x,y\n1,2\n3,4", "table.csv")
    client.log_image(rid, np.zeros((4, 4, 3), dtype="uint8"), "img/pic.png")
    client.flush()
    return {"exp": exp, "run": rid}


def test_empty_store_pages_and_twins(store_path: Path) -> None:
    c = app_client(store_path)
    assert "Experiments" in c.get("/").text
    exps = c.get("/api/lite/experiments").json()["experiments"]
    assert [e["name"] for e in exps] == ["Default"] and exps[0]["run_count"] == 0
    assert c.get("/experiments/0").status_code == 200
    assert c.get("/api/lite/runs?experiment_ids=0").json() == {"runs": [], "next_page_token": None}
    header_only = c.get("/api/lite/runs.csv?experiment_ids=0").text.splitlines()
    assert header_only == ["run_id,run_name,status,start_time,end_time"]
    assert c.get("/api/lite/columns?experiment_ids=0").json() == {"metrics": [], "params": [], "tags": []}
    assert "No registered models" in c.get("/models").text
    assert c.get("/api/lite/models").json() == {"registered_models": []}


def test_one_run_pages_and_twins(store_path: Path, one: dict[str, str]) -> None:
    c = app_client(store_path)
    exps = {e["name"]: e for e in c.get("/api/lite/experiments").json()["experiments"]}
    assert exps["exp-one"]["run_count"] == 1 and exps["exp-one"]["last_activity"] is not None
    assert page_data(c.get("/").text)["experiments"] == c.get("/api/lite/experiments").json()["experiments"]
    assert "exp-one" in c.get("/?q=ONE").text and "exp-one" not in c.get("/?q=zzz").text

    page = c.get(f"/experiments/{one['exp']}")
    assert page.status_code == 200 and page_data(page.text)["experiment_ids"] == [one["exp"]]
    cols = c.get(f"/api/lite/columns?experiment_ids={one['exp']}").json()
    assert cols["metrics"] == [{"key": "loss", "min": 1 / 300, "max": 1 / 300}] and cols["params"] == ["lr"]
    rows = c.get(f"/api/lite/runs?experiment_ids={one['exp']}&metrics=loss&params=lr&tags=").json()["runs"]
    assert rows[0]["run_name"] == "first" and rows[0]["params"] == {"lr": "0.1"} and rows[0]["tags"] == {}

    run = c.get(f"/api/lite/runs/{one['run']}").json()
    assert run["run"]["status"] == "FINISHED" and run["params"] == [["lr", "0.1"]]
    assert run["experiment_name"] == "exp-one" and run["duration_ms"] >= 0
    html = c.get(f"/runs/{one['run']}").text
    assert "first" in html and "exp-one" in html and page_data(html)["run"]["run_id"] == one["run"]

    series = c.get(f"/api/lite/metrics/bulk?run_ids={one['run']}&keys=loss&max_points=50").json()["series"]
    assert len(series) == 1 and 2 <= len(series[0]["values"]) <= 50 and max(series[0]["values"]) == 1.0

    compare = c.get(f"/api/lite/compare?run_ids={one['run']}").json()
    assert compare["params"] == [{"key": "lr", "values": ["0.1"], "differs": False}]
    assert c.get(f"/compare?run_ids={one['run']}").status_code == 200


def test_many_runs_paged_sorted_filtered_grouped(client: MlflowClient, store_path: Path) -> None:
    exp = client.create_experiment("many")
    parent = make_run(client, exp, "parent", {}, {})
    for i in range(250):
        tags = {"mlflow.parentRunId": parent} if i < 3 else None
        make_run(client, exp, f"r{i:03d}", {"acc": i / 250, "loss": 1 - i / 250}, {"i": str(i), "opt": "adam"}, tags)
    client.flush()
    c = app_client(store_path)
    base = "/api/lite/runs"
    cols = {"experiment_ids": exp, "metrics": "acc", "params": "i"}
    first = c.get(base, params=cols).json()
    assert len(first["runs"]) == 100 and first["next_page_token"]
    seen = {r["run_id"] for r in first["runs"]}
    token = first["next_page_token"]
    while token:
        page = c.get(base, params={**cols, "page_token": token}).json()
        seen |= {r["run_id"] for r in page["runs"]}
        token = page["next_page_token"]
    assert len(seen) == 251

    best = c.get(base, params={**cols, "order_by": "metrics.acc DESC", "max_results": 3}).json()["runs"]
    assert [r["run_name"] for r in best] == ["r249", "r248", "r247"]
    ranged = c.get(base, params={**cols, "filter": "params.opt = 'adam' and metrics.acc >= 0.5 and metrics.acc <= 0.6",
                                 "max_results": 1000}).json()["runs"]
    assert len(ranged) == 26 and all(0.5 <= r["metrics"]["acc"] <= 0.6 for r in ranged)
    every = c.get(base, params={**cols, "max_results": 1000}).json()["runs"]
    children = [r for r in every if r["parent_run_id"] == parent]
    assert len(children) == 3
    assert [r["run_name"] for r in c.get(f"/api/lite/runs/{parent}").json()["children"]] == ["r002", "r001", "r000"]

    text = c.get(f"/api/lite/runs.csv?experiment_ids={exp}&metrics=acc&params=i&filter=metrics.acc+%3E%3D+0.9").text
    table = list(csv.reader(io.StringIO(text)))
    assert table[0] == ["run_id", "run_name", "status", "start_time", "end_time", "metrics.acc", "params.i"]
    assert len(table) == 1 + 25


def test_bad_filter_reports_parser_message_and_position(store_path: Path, one: dict[str, str]) -> None:
    c = app_client(store_path)
    r = c.get("/api/lite/runs", params={"experiment_ids": one["exp"], "filter": "metrics.loss < 'abc'"})
    assert r.status_code == 400
    body = r.json()
    assert body["error_code"] == "INVALID_PARAMETER_VALUE" and body["position"] == 15
    assert body["filter"] == "metrics.loss < 'abc'" and "number" in body["message"]
    assert c.get(f"/api/lite/runs.csv?experiment_ids={one['exp']}&filter=foo+%3D").status_code == 400


def test_experiment_and_run_writes(store_path: Path, one: dict[str, str]) -> None:
    c = app_client(store_path)
    eid = c.post("/api/lite/experiments/create", json={"name": "new-exp"}).json()["experiment_id"]
    assert c.post("/api/lite/experiments/create", json={"name": "new-exp"}).status_code == 400
    assert c.post(f"/api/lite/experiments/{eid}/rename", json={"name": "renamed"}).status_code == 200
    assert c.post(f"/api/lite/experiments/{eid}/delete", json={}).status_code == 200
    names = {e["name"] for e in c.get("/api/lite/experiments").json()["experiments"]}
    assert "renamed" not in names
    assert "renamed" in {e["name"] for e in c.get("/api/lite/experiments?view=deleted").json()["experiments"]}
    assert c.post(f"/api/lite/experiments/{eid}/restore", json={}).status_code == 200
    assert "renamed" in {e["name"] for e in c.get("/api/lite/experiments").json()["experiments"]}

    assert c.post("/api/lite/runs/delete", json={"run_ids": [one["run"]]}).status_code == 200
    assert c.get(f"/api/lite/runs?experiment_ids={one['exp']}").json()["runs"] == []
    assert len(c.get(f"/api/lite/runs?experiment_ids={one['exp']}&view=deleted").json()["runs"]) == 1
    assert c.post("/api/lite/runs/restore", json={"run_ids": [one["run"]]}).status_code == 200
    assert len(c.get(f"/api/lite/runs?experiment_ids={one['exp']}").json()["runs"]) == 1

    assert c.post(f"/api/lite/runs/{one['run']}/note", json={"note": "a *good* run"}).status_code == 200
    assert c.get(f"/api/lite/runs/{one['run']}").json()["note"] == "a *good* run"


def test_artifacts_browse_preview_download_zip(store_path: Path, one: dict[str, str]) -> None:
    c = app_client(store_path)
    base = f"/api/lite/runs/{one['run']}/artifacts"
    root = c.get(base).json()["files"]
    assert [(f["path"], f["is_dir"]) for f in root] == [("img", True), ("notes", True), ("config.json", False),
                                                         ("table.csv", False)]
    assert [f["path"] for f in c.get(base, params={"path": "notes"}).json()["files"]] == ["notes/readme.txt"]
    assert c.get(f"{base}/preview", params={"path": "config.json"}).json()["kind"] == "json"
    assert c.get(f"{base}/preview", params={"path": "table.csv"}).json()["rows"] == [["x", "y"], ["1", "2"],
                                                                                     ["3", "4"]]
    assert c.get(f"{base}/preview", params={"path": "notes/readme.txt"}).json()["text"] == "hello\nworld"
    assert c.get(f"{base}/preview", params={"path": "img/pic.png"}).json()["kind"] == "image"

    f = c.get(f"{base}/file", params={"path": "notes/readme.txt", "download": "1"})
    assert f.content == b"hello\nworld" and "attachment" in f.headers["content-disposition"]
    assert f.headers["x-content-type-options"] == "nosniff"
    img = c.get(f"{base}/file", params={"path": "img/pic.png"})
    assert img.headers["content-type"] == "image/png" and img.content.startswith(b"\x89PNG")
    z = zipfile.ZipFile(io.BytesIO(c.get(f"{base}/zip", params={"path": "notes"}).content))
    assert z.namelist() == ["notes/readme.txt"] and z.read("notes/readme.txt") == b"hello\nworld"
    everything = zipfile.ZipFile(io.BytesIO(c.get(f"{base}/zip").content)).namelist()
    assert len(everything) == 4
    assert c.get(f"{base}/file", params={"path": "missing.txt"}).status_code == 404


def test_artifact_preview_of_long_text_and_binary(client: MlflowClient, store_path: Path) -> None:
    rid = make_run(client, "0", "previews", {}, {})
    client.log_text(rid, "é" * 200_000, "long.txt")  # 400 KB: the preview limit cuts a 2-byte character
    client.log_text(rid, "a\x00b", "data.bin")
    c = app_client(store_path)
    base = f"/api/lite/runs/{rid}/artifacts/preview"
    long = c.get(base, params={"path": "long.txt"}).json()
    assert long["kind"] == "text" and long["truncated"] and set(long["text"]) == {"é"}
    assert c.get(base, params={"path": "data.bin"}).json()["kind"] == "binary"


@pytest.mark.parametrize("path", ["../../../../etc/passwd", "/etc/passwd", "notes/../../x", "..", "notes/..",
                                  "%2e%2e/%2e%2e/etc/passwd", "..%2fetc", "notes\\..\\..\\x", "C:/x", "a/\x00b"])
def test_artifact_traversal_refused(store_path: Path, one: dict[str, str], path: str) -> None:
    c = app_client(store_path)
    for endpoint in ("", "/file", "/zip", "/preview"):
        r = c.get(f"/api/lite/runs/{one['run']}/artifacts{endpoint}", params={"path": path})
        assert r.status_code == 400, (endpoint, path, r.text)
        assert r.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_artifact_traversal_in_raw_url_forms(store_path: Path, one: dict[str, str]) -> None:
    c = app_client(store_path)
    base = f"/api/lite/runs/{one['run']}/artifacts/file?path="
    for raw in ("..%2F..%2F..%2Fetc%2Fpasswd", "%2e%2e%2f%2e%2e%2fetc%2fpasswd", "%252e%252e%252fetc",
                "%2Fetc%2Fpasswd", "..%5C..%5Cx"):
        r = c.get(base + raw)
        assert r.status_code == 400, (raw, r.text)


def test_symlink_out_of_artifact_root_refused(store_path: Path, one: dict[str, str], tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    client = MlflowClient(str(store_path))
    root = Path(client.get_run(one["run"]).info.artifact_uri)
    os.symlink(secret, root / "notes" / "link.txt")
    os.symlink(tmp_path, root / "outside")
    c = app_client(store_path)
    base = f"/api/lite/runs/{one['run']}/artifacts"
    for endpoint, path in (("", "outside"), ("/file", "notes/link.txt"), ("/preview", "notes/link.txt"),
                           ("/zip", "outside"), ("/zip", "notes"), ("/file", "outside/secret.txt")):
        r = c.get(base + endpoint, params={"path": path})
        assert r.status_code == 400 and b"top secret" not in r.content, (endpoint, path)


def test_static_paths_confined_and_plotly_cached(store_path: Path) -> None:
    c = app_client(store_path)
    assert c.get("/static/app.js").status_code == 200
    for raw in ("/static/../app.py", "/static/%2e%2e/app.py", "/static/..%2fapp.py",
                "/static/%2e%2e%2f%2e%2e%2fcli.py"):
        r = c.get(raw)
        assert r.status_code == 404 and b"create_app" not in r.content, raw
    js = c.get("/vendor/plotly.min.js")
    assert js.status_code == 200 and len(js.content) > 1_000_000 and "max-age=31536000" in js.headers["cache-control"]


def test_models_page_and_writes(client: MlflowClient, store_path: Path, one: dict[str, str]) -> None:
    client.create_registered_model("clf", description="first model")
    for _ in range(2):
        client.create_model_version("clf", f"runs:/{one['run']}/model", run_id=one["run"])
    c = app_client(store_path)
    models = c.get("/api/lite/models").json()["registered_models"]
    assert models[0]["name"] == "clf" and models[0]["description"] == "first model"
    assert "clf" in c.get("/models").text
    assert c.post("/api/lite/model/stage", json={"name": "clf", "version": 1, "stage": "production"}).status_code == 200
    assert c.post("/api/lite/model/alias", json={"name": "clf", "alias": "champion", "version": 1}).status_code == 200
    assert c.post("/api/lite/model/alias", json={"name": "clf", "alias": "champion", "version": 2}).status_code == 200
    assert c.post("/api/lite/model/description", json={"name": "clf", "description": "better"}).status_code == 200
    assert c.post("/api/lite/model/description",
                  json={"name": "clf", "version": "2", "description": "v2 notes"}).status_code == 200
    m = c.get("/api/lite/model", params={"name": "clf"}).json()
    assert m["description"] == "better" and m["aliases"] == {"champion": 2}
    v1 = next(v for v in m["versions"] if v["version"] == 1)
    assert v1["current_stage"] == "Production" and v1["run_id"] == one["run"]
    assert [(h["from_stage"], h["to_stage"]) for h in v1["history"]] == [("None", "Production")]
    assert next(v for v in m["versions"] if v["version"] == 2)["description"] == "v2 notes"
    html = c.get("/model?name=clf").text
    assert f"/runs/{one['run']}" in html and "Production" in html
    assert c.post("/api/lite/model/alias/delete", json={"name": "clf", "alias": "champion"}).status_code == 200
    assert c.get("/api/lite/model", params={"name": "clf"}).json()["aliases"] == {}
    assert c.post("/api/lite/model/stage", json={"name": "clf", "version": 1, "stage": "Nope"}).status_code == 400
    assert c.get("/model?name=nope").status_code == 404


def test_model_page_shows_how_to_serve_each_version(client: MlflowClient, store_path: Path,
                                                     one: dict[str, str]) -> None:
    """Every version shows the exact `models serve` commands, as `models describe` prints them: pinned to
    the version, then one per alias and stage (those follow promotions)."""
    client.create_registered_model("clf")
    for _ in range(2):
        client.create_model_version("clf", f"runs:/{one['run']}/model", run_id=one["run"])
    client.transition_model_version_stage("clf", 2, "Production")
    client.set_registered_model_alias("clf", "champion", 2)
    app = create_app(str(store_path))
    c = TestClient(app, base_url="http://127.0.0.1:5000")
    store = app.state.store_label
    serve = {v["version"]: v["serve"] for v in c.get("/api/lite/model", params={"name": "clf"}).json()["versions"]}
    assert serve == {
        1: [f"lite-tracker models serve -m models:/clf/1 --store {store}"],
        2: [f"lite-tracker models serve -m models:/clf/2 --store {store}",
            f"lite-tracker models serve -m models:/clf@champion --store {store}",
            f"lite-tracker models serve -m models:/clf/Production --store {store}"],
    }
    html = c.get("/model?name=clf").text
    assert all(command in html for commands in serve.values() for command in commands)


def test_xss_payloads_are_escaped_in_pages(client: MlflowClient, store_path: Path) -> None:
    exp = client.create_experiment(XSS)
    rid = make_run(client, exp, XSS, {"m": 1.0}, {"p": XSS}, tags={"t": XSS})
    client.set_tag(rid, "mlflow.note.content", XSS)
    client.log_text(rid, XSS, "evil.txt")
    client.create_registered_model(XSS, description=XSS)
    client.create_model_version(XSS, f"runs:/{rid}/model", run_id=rid, description=XSS)
    client.flush()
    c = app_client(store_path)
    pages = ["/", f"/experiments/{exp}", f"/runs/{rid}", f"/compare?run_ids={rid}", "/models",
             "/model?name=" + XSS.replace(" ", "%20").replace("=", "%3D").replace("<", "%3C").replace(">", "%3E")]
    for url in pages:
        r = c.get(url)
        assert r.status_code == 200, url
        assert "<img" not in r.text, url
    assert "&lt;img src=x onerror=alert(1)&gt;" in c.get(f"/runs/{rid}").text
    assert page_data(c.get(f"/runs/{rid}").text)["run"]["run_name"] == XSS
    assert c.get(f"/api/lite/runs/{rid}").json()["run"]["run_name"] == XSS


def test_errors_are_json_or_plain_pages(store_path: Path, one: dict[str, str]) -> None:
    c = app_client(store_path)
    api = c.get("/api/lite/runs/" + "f" * 32)
    assert api.status_code == 404 and api.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    page = c.get("/runs/" + "f" * 32)
    assert page.status_code == 404 and "<h1>Error 404</h1>" in page.text and "Traceback" not in page.text
    assert c.get("/experiments/nope").status_code in (400, 404)
    assert c.get(f"/api/lite/compare?run_ids={one['run']},{'f' * 32}").status_code == 404
    assert c.get("/api/lite/compare?run_ids=x')%20or%20('").json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert c.get("/api/lite/runs").json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert c.get("/api/lite/metrics/bulk?run_ids=x&max_points=1").status_code == 400
    bad = c.post("/api/lite/experiments/create", content=b"{not json", headers={"content-type": "application/json"})
    assert bad.status_code == 400 and "Traceback" not in bad.text


def test_unknown_page_in_a_browser_is_a_plain_error_page_and_json_elsewhere(store_path: Path) -> None:
    """A mistyped page URL opened in a browser gets the plain error page; API paths and clients that do not
    ask for HTML keep MLflow's error JSON."""
    c = app_client(store_path)
    browser = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
    page = c.get("/experiments", headers=browser)
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    assert "<h1>Error 404</h1>" in page.text and "/experiments" in page.text
    for path in ("/api/2.0/mlflow/nope", "/ajax-api/2.0/mlflow/nope", "/api/lite/nope"):
        api = c.get(path, headers=browser)
        assert api.status_code == 404 and api.json()["error_code"] == "ENDPOINT_NOT_FOUND"
    assert c.get("/experiments").json()["error_code"] == "ENDPOINT_NOT_FOUND"
    assert c.post("/", json={}, headers=browser).json()["error_code"] == "ENDPOINT_NOT_FOUND"


# ------------------------------------------------------------------ security


def test_token_required_bearer_query_and_cookie(store_path: Path) -> None:
    c = app_client(store_path, token="s3cret")
    assert c.get("/api/lite/experiments").status_code == 401
    assert c.get("/").status_code == 401 and "token" in c.get("/").text
    assert c.get("/api/lite/experiments", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert c.get("/api/lite/experiments", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    assert c.get("/?token=wrong").status_code == 401
    assert c.get("/?token=%C3%A9t%C3%A9").status_code == 401  # non-ASCII: refused, not a server error
    assert c.get("/api/lite/experiments", headers={"Cookie": "lite_tracker_token=\u00e9".encode()}).status_code == 401
    first = c.get("/?token=s3cret")
    assert first.status_code == 200
    cookie = first.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert c.get("/api/lite/experiments").status_code == 200  # the cookie now authenticates
    assert c.post("/api/lite/experiments/create", json={"name": "by-cookie"}).status_code == 200


@pytest.mark.parametrize("token", ["", " ", "\t"])
def test_an_empty_token_is_refused_not_a_key_for_everyone(store_path: Path, token: str) -> None:
    """`--token "$UNSET_VARIABLE"` gave a server whose token was '': 'Authorization: Bearer ' let anyone in."""
    with pytest.raises(InvalidParameterValue, match="empty token"):
        create_app(str(store_path), token=token)
    proc = subprocess.run([sys.executable, "-m", "lite_tracker", "ui", "--store", str(store_path), "--host", "0.0.0.0",
                           "--port", str(free_port()), "--token", token],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode != 0 and "empty token" in proc.stderr


def test_huge_and_deeply_nested_bodies_are_refused_and_the_server_stays_up(store_path: Path) -> None:
    c = TestClient(create_app(str(store_path)), base_url="http://127.0.0.1:5000", raise_server_exceptions=False)
    json_type = {"content-type": "application/json"}
    for prefix in ("/api/lite", "/api/2.0/mlflow"):
        huge = c.post(f"{prefix}/experiments/create", content=b'{"name": "' + b"a" * 3_000_000 + b'"}',
                      headers=json_type)
        assert huge.status_code == 400 and "at most 1000000 bytes" in huge.json()["message"]
        deep = c.post(f"{prefix}/experiments/create", content=b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
                      headers=json_type)
        assert deep.status_code == 400 and "not valid JSON" in deep.json()["message"]
    assert c.post("/api/lite/experiments/create", json={"name": "fine"}).status_code == 200
    assert [e["name"] for e in c.get("/api/lite/experiments").json()["experiments"]][0] == "fine"


def test_cross_origin_writes_refused(store_path: Path) -> None:
    c = app_client(store_path)
    evil = c.post("/api/lite/experiments/create", json={"name": "x"}, headers={"Origin": "http://evil.example"})
    assert evil.status_code == 403 and evil.json()["error_code"] == "PERMISSION_DENIED"
    ref = c.post("/api/lite/experiments/create", json={"name": "x"}, headers={"Referer": "http://evil.example/a"})
    assert ref.status_code == 403
    assert c.post("/api/lite/experiments/create", json={"name": "x"},
                  headers={"Origin": "null"}).status_code == 403
    same = c.post("/api/lite/experiments/create", json={"name": "same"}, headers={"Origin": "http://127.0.0.1:5000"})
    assert same.status_code == 200
    assert c.post("/api/lite/experiments/create", json={"name": "no-origin"}).status_code == 200  # MLflow's client
    form = c.post("/api/lite/experiments/create", data={"name": "form"})
    assert form.status_code == 415
    plain = c.post("/api/lite/experiments/create", content=b'{"name": "t"}', headers={"content-type": "text/plain"})
    assert plain.status_code == 415
    names = {e["name"] for e in c.get("/api/lite/experiments").json()["experiments"]}
    assert names == {"Default", "same", "no-origin"}


def test_read_only_refuses_every_write(store_path: Path, one: dict[str, str], client: MlflowClient) -> None:
    client.create_registered_model("m")
    client.create_model_version("m", f"runs:/{one['run']}/model", run_id=one["run"])
    c = app_client(store_path, read_only=True)
    writes = [
        ("/api/lite/experiments/create", {"name": "x"}),
        (f"/api/lite/experiments/{one['exp']}/rename", {"name": "y"}),
        (f"/api/lite/experiments/{one['exp']}/delete", {}),
        (f"/api/lite/experiments/{one['exp']}/restore", {}),
        ("/api/lite/runs/delete", {"run_ids": [one["run"]]}),
        ("/api/lite/runs/restore", {"run_ids": [one["run"]]}),
        (f"/api/lite/runs/{one['run']}/note", {"note": "n"}),
        ("/api/lite/model/stage", {"name": "m", "version": 1, "stage": "Staging"}),
        ("/api/lite/model/alias", {"name": "m", "alias": "a", "version": 1}),
        ("/api/lite/model/alias/delete", {"name": "m", "alias": "a"}),
        ("/api/lite/model/description", {"name": "m", "description": "d"}),
    ]
    for url, body in writes:
        r = c.post(url, json=body)
        assert r.status_code == 403 and r.json()["error_code"] == "PERMISSION_DENIED", url
    assert len(c.get(f"/api/lite/runs?experiment_ids={one['exp']}").json()["runs"]) == 1
    assert c.get("/api/lite/model", params={"name": "m"}).json()["versions"][0]["current_stage"] == "None"
    html = c.get("/").text
    assert "read-only" in html and "Create experiment" not in html
    assert "Transition" not in c.get("/model?name=m").text


def test_dns_rebinding_host_names_refused_without_token(store_path: Path) -> None:
    app = create_app(str(store_path))
    for host in ("127.0.0.1:5000", "localhost:5000", "[::1]:5000", "[::1]", "10.1.2.3", "app.localhost"):
        assert TestClient(app, base_url=f"http://{host}").get("/api/lite/experiments").status_code == 200, host
    for host in ("evil.example:5000", "evil.example", "127.0.0.1.evil.example"):
        r = TestClient(app, base_url=f"http://{host}").get("/api/lite/experiments")
        assert r.status_code == 403 and "--token" in r.json()["message"], host
    page = TestClient(app, base_url="http://evil.example").get("/")
    assert page.status_code == 403 and "Experiments" not in page.text
    tokened = create_app(str(store_path), token="t")
    served = TestClient(tokened, base_url="http://my-box.lan:5000").get("/api/lite/experiments",
                                                                        headers={"Authorization": "Bearer t"})
    assert served.status_code == 200


def test_security_headers_on_pages_and_api(store_path: Path, one: dict[str, str]) -> None:
    c = app_client(store_path)
    for url in ("/", "/api/lite/experiments", f"/api/lite/runs/{one['run']}/artifacts/file?path=config.json"):
        r = c.get(url)
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"], url
        assert "script-src 'self'" in r.headers["content-security-policy"], url
        assert r.headers["x-frame-options"] == "DENY" and r.headers["x-content-type-options"] == "nosniff", url
    assert "sandbox" in c.get(f"/api/lite/runs/{one['run']}/artifacts/file?path=config.json").headers[
        "content-security-policy"]


def test_choose_token() -> None:
    assert choose_token("127.0.0.1", None, False) is None
    assert choose_token("localhost", None, False) is None
    assert choose_token("127.0.0.1", "given", False) == "given"
    generated = choose_token("0.0.0.0", None, False)
    assert generated is not None and len(generated) >= 32
    assert choose_token("0.0.0.0", None, True) is None
    assert choose_token("0.0.0.0", "given", False) == "given"


def test_cli_ui_and_server_alias_help() -> None:
    for args in (["-m", "lite_tracker", "ui", "--help"], ["-m", "lite_tracker", "server", "--help"]):
        proc = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=60, check=False)
        assert proc.returncode == 0 and "--read-only" in proc.stdout and "--no-token" in proc.stdout
    both = subprocess.run([sys.executable, "-m", "lite_tracker", "ui", "--token", "a", "--no-token"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert both.returncode == 2 and "not allowed with" in both.stderr


def test_server_beyond_loopback_prints_and_requires_a_token(store_path: Path, tmp_path: Path) -> None:
    """A real `lite-tracker ui` on 127.0.0.2 (not the default host) generates a token, prints it to stderr
    and refuses requests without it."""
    MlflowClient(str(store_path)).flush()
    with socket.socket() as s:
        s.bind(("127.0.0.2", 0))
        port = s.getsockname()[1]
    log = tmp_path / "server.log"
    exe = Path(sys.executable).with_name("lite-tracker")
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(exe), "ui", "--store", str(store_path), "--host", "127.0.0.2", "--port",
                                 str(port)], stdout=subprocess.DEVNULL, stderr=out)
    try:
        deadline = time.monotonic() + 30
        while "?token=" not in log.read_text() or not _answers(f"http://127.0.0.2:{port}/"):
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        token = re.search(r"\?token=(\S+)", log.read_text()).group(1)  # type: ignore[union-attr]
        assert len(token) >= 32
        url = f"http://127.0.0.2:{port}/api/lite/experiments"
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url, timeout=10)
        refused.value.close()
        assert refused.value.code == 401
        req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert json.loads(resp.read())["experiments"][0]["name"] == "Default"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _answers(url: str) -> bool:
    """True once the server answers at all (any HTTP status)."""
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except urllib.error.HTTPError as e:
        e.close()
        return True
    except OSError:
        return False


def test_bucket_store_is_a_read_only_team_view(s3: dict[str, Any], tmp_path: Path) -> None:
    from lite_tracker import sync

    local = MlflowClient(str(tmp_path / "a.duckdb"))
    exp = local.create_experiment("team")
    rid = make_run(local, exp, "pushed", {"loss": 0.25}, {"lr": "0.1"})
    local.log_text(rid, "from the bucket", "notes/readme.md")
    local.flush()
    sync.push(s3["url"], store=str(tmp_path / "a.duckdb"))
    c = TestClient(create_app(s3["url"]), base_url="http://127.0.0.1:5000")
    team = next(e for e in c.get("/api/lite/experiments").json()["experiments"] if e["name"] == "team")
    assert team["run_count"] == 1
    rows = c.get("/api/lite/runs", params={"experiment_ids": team["experiment_id"]}).json()["runs"]
    assert [(r["run_name"], r["metrics"], r["params"]) for r in rows] == [("pushed", {"loss": 0.25}, {"lr": "0.1"})]
    assert c.get(f"/runs/{rid}").status_code == 200 and "read-only" in c.get("/").text
    base = f"/api/lite/runs/{rid}/artifacts"
    assert c.get(f"{base}/preview", params={"path": "notes/readme.md"}).json()["text"] == "from the bucket"
    assert c.get(f"{base}/file", params={"path": "notes/readme.md"}).content == b"from the bucket"
    assert zipfile.ZipFile(io.BytesIO(c.get(f"{base}/zip", params={"path": "notes"}).content)).namelist() == [
        "notes/readme.md"]
    assert c.post("/api/lite/experiments/create", json={"name": "x"}).status_code == 403
    assert c.post(f"/api/lite/runs/{rid}/note", json={"note": "n"}).status_code == 403


def test_header_shows_store_relative_to_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inside = tmp_path / "work" / "runs" / "lite_tracker.duckdb"
    inside.parent.mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "work")
    html = app_client(inside).get("/").text
    assert '<span class="store" title="store">runs/lite_tracker.duckdb</span>' in html
    assert str(tmp_path) not in html

    outside = tmp_path / "elsewhere" / "lite_tracker.duckdb"
    outside.parent.mkdir()
    html = app_client(outside).get("/").text
    assert f'<span class="store" title="store">{outside}</span>' in html
