"""Log a demo store, start `lite-tracker ui` on it and save screenshots of the main pages into docs/.

Run from the project root after `pip install -e ".[test]"` (needs Debian's `chromium` at /usr/bin/chromium):

    .venv/bin/python docs/screenshots.py
"""

from __future__ import annotations

import math
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

DOCS = Path(__file__).parent
CHROMIUM = "/usr/bin/chromium"
BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]


def log_demo(store: str) -> dict[str, str]:
    """A small sweep with nested runs, artifacts and a registered model; returns a few ids to show."""
    from lite_tracker import MlflowClient
    from lite_tracker.entities import Metric, Param

    client = MlflowClient(store)
    exp = client.create_experiment("cifar10-sweep")
    baseline_exp = client.create_experiment("mnist-baseline")
    baseline = client.create_run(baseline_exp, run_name="baseline").info.run_id
    client.log_batch(baseline, [Metric("val_loss", 1.0 / (s + 2), 0, s) for s in range(30)], [Param("lr", "0.01")])
    client.set_terminated(baseline)
    rng = random.Random(1)
    ids: dict[str, str] = {"experiment": exp}
    parent = client.create_run(exp, run_name="sweep", tags={"sweep": "lr-width"}).info.run_id
    children = []
    for lr in (0.1, 0.03, 0.01):
        for width in (64, 256):
            rid = client.create_run(exp, run_name=f"lr{lr}-w{width}",
                                    tags={"mlflow.parentRunId": parent, "sweep": "lr-width"}).info.run_id
            floor = 0.08 + 0.12 * abs(math.log10(lr) + 1.5) + (0.03 if width == 64 else 0.0)
            points = []
            for step in range(40):
                train = floor + math.exp(-lr * 8 * (step + 1) / 4) + rng.gauss(0, 0.01)
                val = train + 0.03 + rng.gauss(0, 0.015)
                ts = 1_700_000_000_000 + step * 1500
                points += [Metric("train_loss", train, ts, step), Metric("val_loss", val, ts, step),
                           Metric("val_acc", 1 - val / 1.6, ts, step)]
            params = {"lr": lr, "width": width, "optimizer": "adam", "epochs": 40}
            client.log_batch(rid, points, [Param(k, str(v)) for k, v in params.items()])
            client.log_dict(rid, {**params, "val_loss": val}, "summary.json")
            client.log_text(rid, "epoch,val_loss\n" + "\n".join(f"{e},{floor + 1 / (e + 1):.4f}" for e in range(8)),
                            "eval/per_epoch.csv")
            client.set_terminated(rid)
            children.append(rid)
    client.set_terminated(parent)
    ids["run"], ids["compare"] = children[0], ",".join(children)
    client.set_tag(ids["run"], "mlflow.note.content", "Best learning rate of the sweep; wider nets help a little.")
    client.create_registered_model("cifar10-classifier", description="ResNet-ish classifier for CIFAR-10.")
    for rid in children[:3]:
        client.create_model_version("cifar10-classifier", f"runs:/{rid}/model", run_id=rid)
    client.transition_model_version_stage("cifar10-classifier", 1, "Production")
    client.transition_model_version_stage("cifar10-classifier", 2, "Staging")
    client.set_registered_model_alias("cifar10-classifier", "champion", 1)
    client.flush()
    return ids


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(folder: str, store: str, port: int) -> subprocess.Popen[bytes]:
    """`lite-tracker ui` as a real process working in ``folder`` (so the header shows the store relative to
    it, as a user sees it); returns once it answers."""
    exe = Path(sys.executable).with_name("lite-tracker")
    proc = subprocess.Popen([str(exe), "ui", "--store", store, "--port", str(port)], cwd=folder,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/lite/experiments", timeout=2).read()
            return proc
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited: {proc.stderr.read().decode() if proc.stderr else ''}") from None
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("server did not start in 30 s")


def main() -> None:
    from playwright.sync_api import sync_playwright

    folder = tempfile.mkdtemp(prefix="lite-tracker-shots-")
    store = os.path.join(folder, "lite_tracker.duckdb")
    ids = log_demo(store)
    port = free_port()
    server = start_server(folder, store, port)
    base = f"http://127.0.0.1:{port}"
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            shots = [
                ("experiments", "/", "#experiments"),
                ("runs", f"/experiments/{ids['experiment']}", "#runs-table tbody tr"),
                ("compare", f"/compare?run_ids={ids['compare']}", "#chart-curves .main-svg"),
                ("run", f"/runs/{ids['run']}", "#run-charts .chart"),
                ("models", "/model?name=cifar10-classifier", "#model-versions"),
            ]
            for name, path, ready in shots:
                page.goto(base + path)
                page.wait_for_selector(ready, timeout=15_000)
                if name == "compare":
                    page.locator("#chart-parcoords").scroll_into_view_if_needed()
                    page.wait_for_selector("#chart-parcoords .main-svg", timeout=15_000)
                    page.evaluate("window.scrollTo(0, 0)")
                if name == "run":
                    page.locator("#run-charts").scroll_into_view_if_needed()
                    page.wait_for_selector("#run-charts .main-svg", timeout=15_000)
                    page.evaluate("window.scrollTo(0, 0)")
                    page.click("a.tree-file[data-path='summary.json']")
                    page.wait_for_selector(".preview-text", timeout=10_000)
                page.wait_for_timeout(500)
                page.screenshot(path=str(DOCS / f"ui-{name}.png"), full_page=True)
                print(f"saved docs/ui-{name}.png")
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
