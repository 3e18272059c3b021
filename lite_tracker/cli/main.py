"""The ``lite-tracker`` command: a thin shell over the client (parse, call, render)."""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from ..errors import LiteTrackerException, ResourceNotFound


def _demo(args: argparse.Namespace) -> int:
    """Log a small hyper-parameter sweep, then print the best runs."""
    import lite_tracker as mlflow

    if args.store:
        mlflow.set_tracking_uri(args.store)
    exp = mlflow.set_experiment(args.experiment)
    earlier = len(mlflow.search_runs([exp.experiment_id], output_format="list"))
    rng = random.Random(args.seed)
    started = time.perf_counter()
    n_runs = 0
    for lr in (0.3, 0.1, 0.03, 0.01):
        for layers in (1, 2, 3):
            for dropout in (0.0, 0.2):
                with mlflow.start_run(run_name=f"lr{lr}-l{layers}-d{dropout}"):
                    mlflow.log_params({"lr": lr, "layers": layers, "dropout": dropout, "optimizer": "sgd"})
                    mlflow.set_tag("sweep", "demo")
                    floor = 0.05 + 0.1 * abs(math.log10(lr) + 1.5) + 0.03 * abs(layers - 2) + 0.05 * dropout
                    for step in range(args.steps):
                        decay = math.exp(-lr * 10 * (step + 1) / args.steps * layers)
                        train = floor + decay + rng.gauss(0, 0.01)
                        val = train + 0.02 + dropout * 0.01 + rng.gauss(0, 0.01)
                        mlflow.log_metrics({"train_loss": train, "val_loss": val, "val_acc": 1 - val / 2}, step=step)
                    mlflow.log_dict({"lr": lr, "layers": layers, "dropout": dropout, "final_val_loss": val},
                                    "summary.json")
                n_runs += 1
    seconds = time.perf_counter() - started
    best = mlflow.search_runs([exp.experiment_id], order_by=["metrics.val_loss ASC"], max_results=5,
                              output_format="list")
    print(f"Logged {n_runs} runs x {args.steps} steps x 3 metrics into {mlflow.get_tracking_uri()} "
          f"in {seconds:.2f}s (experiment {exp.name!r}, id {exp.experiment_id}).")
    if earlier:
        print(f"The experiment already held {earlier} runs from earlier demos: the best of all "
              f"{earlier + n_runs} are shown (use --experiment NAME for a fresh one).")
    print("\nBest runs by final val_loss:")
    print(f"  {'run name':<18} {'lr':>6} {'layers':>6} {'dropout':>7} {'val_loss':>9}  run id")
    for run in best:
        p = run.data.params
        print(f"  {run.info.run_name:<18} {p['lr']:>6} {p['layers']:>6} {p['dropout']:>7} "
              f"{run.data.metrics['val_loss']:>9.4f}  {run.info.run_id}")
    print("\nQuery it from Python:")
    print(f"  import lite_tracker as mlflow; mlflow.set_tracking_uri({mlflow.get_tracking_uri()!r})")
    print(f"  mlflow.search_runs(experiment_names=[{exp.name!r}], filter_string=\"params.layers = '2'\", "
          "order_by=['metrics.val_loss'])")
    store = f" --store {args.store}" if args.store else ""
    print("\nThen open the UI:")
    print(f"  lite-tracker ui{store}   ->  http://127.0.0.1:5000")
    return 0


def _existing_store(store: str | None) -> str | None:
    """``store`` for a command that only reads: a store that does not exist is an error naming the path (a
    typo in --store must not create a new, empty store). ``s3://`` stores are checked by the bucket client."""
    from .._remote import is_remote
    from ..settings import resolve_settings

    if store is not None and is_remote(store):
        return store
    path = resolve_settings(store).store_path
    if not path.exists():
        raise ResourceNotFound(f"No lite_tracker store at {path}: check --store (or LITE_TRACKER_URI); "
                               "a command that only reads never creates one.")
    return store


def _positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _compact(args: argparse.Namespace) -> int:
    """Fold pending segments into the DuckDB file now."""
    from ..tracking.client import MlflowClient

    client = MlflowClient(_existing_store(args.store))
    client.flush()
    result = client._store.compact()
    if result is None:
        print("Another process is compacting this store right now; nothing to do.")
    else:
        killed = f", {len(result.killed_runs)} dead runs marked KILLED" if result.killed_runs else ""
        print(f"Compacted {result.files} segments ({result.rows} rows) in {result.seconds:.2f}s{killed}.")
    return 0


def _models_serve(args: argparse.Namespace) -> int:
    """Serve a logged or registered model over HTTP: POST /invocations (MLflow's scoring JSON), GET /ping."""
    from ..serving import serve

    def ready() -> None:
        print(f"Serving {args.model_uri} on http://{args.host}:{args.port} (POST /invocations, GET /ping); "
              "Ctrl-C stops.", flush=True)

    serve(args.model_uri, args.host, args.port, _existing_store(args.store), on_ready=ready)
    return 0


def _models_describe(args: argparse.Namespace) -> int:
    """Show a registered model version (the latest unless --version): stage, aliases, source run, and the
    commands that serve it, pinned to the version or following its aliases and stage."""
    from datetime import datetime, timezone

    from ..registry.uri import ModelsUri, model_version_for
    from ..serving import serve_commands
    from ..tracking.client import MlflowClient

    client = MlflowClient(_existing_store(args.store))
    mv = model_version_for(client, ModelsUri(args.name, version=args.version, latest=args.version is None))
    created = datetime.fromtimestamp(mv.creation_timestamp / 1000, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    for label, value in (("Model", mv.name), ("Version", mv.version), ("Stage", mv.current_stage),
                         ("Aliases", ", ".join(mv.aliases) or "-"), ("Status", mv.status), ("Created", created),
                         ("Run", mv.run_id or "-"), ("Source", mv.source or "-"),
                         ("Description", mv.description or "-")):
        print(f"{label + ':':<13} {value}")
    pinned, *following = serve_commands(mv, client.tracking_uri).values()
    print(f"\nServe this version (POST /invocations, GET /ping; add --port N):\n  {pinned}")
    if following:
        print("Serve what its aliases and stage point to (restart the server after a promotion):")
        for command in following:
            print(f"  {command}")
    return 0


def _ui(args: argparse.Namespace) -> int:
    """Serve web pages and MLflow's REST API over the store while other processes keep logging to it."""
    try:
        from ..ui.server import choose_token, serve
    except ImportError as e:
        raise LiteTrackerException(f"The web UI needs the ui extra: `pip install 'lite-tracker[ui]'` ({e}).") from e
    from ..settings import resolve_settings

    store = args.store or resolve_settings().tracking_uri
    token = choose_token(args.host, args.token, args.no_token)
    serve(store, args.host, args.port, read_only=args.read_only, token=token)
    return 0


def _add_ui_command(sub: Any, name: str, store_help: str) -> None:
    ui = sub.add_parser(name, help="serve the web UI and MLflow's REST API over the store"
                        + (" (alias of ui)" if name != "ui" else ""), description=_ui.__doc__)
    ui.add_argument("--store", help=store_help + "; or s3://bucket/prefix (read-only)")
    ui.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: 127.0.0.1)")
    ui.add_argument("-p", "--port", type=int, default=5000, help="TCP port (default: 5000)")
    ui.add_argument("--read-only", action="store_true", help="refuse every change (403)")
    auth = ui.add_mutually_exclusive_group()
    auth.add_argument("--token", help="require this token (default: a random one when --host is not loopback)")
    auth.add_argument("--no-token", action="store_true", help="no token even on a non-loopback host (unsafe)")
    ui.set_defaults(func=_ui)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lite-tracker",
                                     description="Embedded, serverless, MLflow-compatible experiment tracker.")
    parser.add_argument("--version", action="version", version=f"lite-tracker {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    store_help = "store path (default: LITE_TRACKER_URI, a local MLFLOW_TRACKING_URI, or ./lite_tracker.duckdb)"

    demo = sub.add_parser("demo", help="log a small sweep into the store and show the best runs",
                          description=_demo.__doc__)
    demo.add_argument("--store", help=store_help)
    demo.add_argument("--experiment", default="demo-sweep", help="experiment name (default: demo-sweep)")
    demo.add_argument("--steps", type=_positive_int, default=50, help="metric steps per run (default: 50)")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    demo.set_defaults(func=_demo)

    compact = sub.add_parser("compact", help="fold pending segments into the DuckDB file now",
                             description=_compact.__doc__)
    compact.add_argument("--store", help=store_help)
    compact.set_defaults(func=_compact)

    from .sync import add_sync_commands

    add_sync_commands(sub, store_help)
    from .data import add_data_commands

    add_data_commands(sub, store_help)

    models = sub.add_parser("models", help="work with logged and registered models",
                            description="Work with logged and registered models.")
    models_sub = models.add_subparsers(dest="models_command", required=True)
    serve = models_sub.add_parser("serve", help="serve a model over HTTP (MLflow scoring protocol)",
                                  description=_models_serve.__doc__)
    serve.add_argument("-m", "--model-uri", required=True,
                       help="models:/<name>/<version|stage|latest>, models:/<name>@<alias> or runs:/<run_id>/<path>")
    serve.add_argument("-p", "--port", type=int, default=5000, help="TCP port (default: 5000)")
    serve.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: 127.0.0.1)")
    serve.add_argument("--store", help=store_help)
    serve.set_defaults(func=_models_serve)
    describe = models_sub.add_parser("describe", help="show a model version and the command that serves it",
                                     description=_models_describe.__doc__)
    describe.add_argument("name", help="registered model name")
    describe.add_argument("--version", type=int, help="version number (default: the latest version)")
    describe.add_argument("--store", help=store_help)
    describe.set_defaults(func=_models_describe)

    for name in ("ui", "server"):
        _add_ui_command(sub, name, store_help)
    return parser


def _version() -> str:
    from .._version import __version__

    return __version__


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``lite-tracker`` command; returns the exit code."""
    args = _parser().parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except LiteTrackerException as e:
        print(f"lite-tracker: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
