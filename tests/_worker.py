"""Child processes for the multi-process, kill -9 and signal tests: `python _worker.py MODE STORE ...`.

Each mode prints machine-readable lines on stdout so the parent knows how far it got.
"""

from __future__ import annotations

import sys
import time

import lite_tracker as mlflow


def log_n(store: str, n: str, tag: str) -> None:
    """One run with n individual log_metric calls; prints the run id."""
    mlflow.set_tracking_uri(store)
    mlflow.set_experiment("sweep")
    with mlflow.start_run(run_name=tag) as run:
        mlflow.log_param("worker", tag)
        for i in range(int(n)):
            mlflow.log_metric("m", float(i), step=i)
    print(run.info.run_id, flush=True)


def log_forever(store: str) -> None:
    """Log step i = value i forever; after each explicit flush print 'durable <last step>'."""
    mlflow.set_tracking_uri(store)
    run = mlflow.start_run()
    print("run", run.info.run_id, flush=True)
    i = 0
    while True:
        for _ in range(200):
            mlflow.log_metric("x", float(i), step=i)
            i += 1
        mlflow.flush()
        print("durable", i - 1, flush=True)


def wait_for_signal(store: str) -> None:
    """Start a run, log 100 points durably, say 'ready', then sleep until killed."""
    mlflow.set_tracking_uri(store)
    run = mlflow.start_run()
    for i in range(100):
        mlflow.log_metric("y", float(i), step=i)
    mlflow.flush()
    print("ready", run.info.run_id, flush=True)
    time.sleep(600)


def resume(store: str, run_id: str) -> None:
    """Resume a run by id from another process and log to it."""
    mlflow.set_tracking_uri(store)
    with mlflow.start_run(run_id=run_id):
        mlflow.log_metric("resumed", 1.0)
        mlflow.log_param("second", "yes")


def fail(store: str) -> None:
    """A script that crashes with an uncaught exception inside a non-context-managed run."""
    mlflow.set_tracking_uri(store)
    run = mlflow.start_run()
    print(run.info.run_id, flush=True)
    raise RuntimeError("boom")


def predict(store: str, *uris: str) -> None:
    """Load each model URI (sklearn and pyfunc flavors) in this fresh process; print its iris predictions."""
    import json

    from sklearn.datasets import load_iris

    import lite_tracker.pyfunc
    import lite_tracker.sklearn

    mlflow.set_tracking_uri(store)
    x = load_iris().data
    for uri in uris:
        est = lite_tracker.sklearn.load_model(uri).predict(x).tolist()
        pyf = lite_tracker.pyfunc.load_model(uri).predict(x).tolist()
        print(json.dumps({"uri": uri, "sklearn": est, "pyfunc": pyf}), flush=True)


def register_versions(store: str, name: str, n: str) -> None:
    """Register n versions of an existing model as fast as possible; print each version number."""
    client = mlflow.MlflowClient(store)
    for i in range(int(n)):
        print(client.create_model_version(name, f"file:///models/{name}/{i}").version, flush=True)


def flush_points(store: str, seconds: str) -> None:
    """Log one point and flush it, as fast as possible for some seconds; print 'run <id> <points>'."""
    client = mlflow.MlflowClient(store)
    run_id = client.create_run("0").info.run_id
    n = 0
    deadline = time.monotonic() + float(seconds)
    while time.monotonic() < deadline:
        client.log_metric(run_id, "x", float(n), step=n)
        client.flush()
        n += 1
    client.set_terminated(run_id)
    print("run", run_id, n, flush=True)


if __name__ == "__main__":
    {"log_n": log_n, "log_forever": log_forever, "wait_for_signal": wait_for_signal, "resume": resume,
     "fail": fail, "predict": predict, "register_versions": register_versions,
     "flush_points": flush_points}[sys.argv[1]](*sys.argv[2:])
