"""The ``lite-tracker`` command: a thin shell over the client (parse, call, render). Errors are mapped to
exit codes in one place: :class:`_Group` turns lite_tracker's errors into :class:`CommandError`, and
:func:`main` returns every exit code."""

from __future__ import annotations

import math
import random
import sys
import time
from collections.abc import Sequence
from typing import IO, Any

import click

from ..errors import LiteTrackerException
from ._common import STORE_HELP, existing_store, store_option
from .artifacts import artifacts
from .data import export, import_group
from .experiments import experiments
from .maintenance import doctor, gc
from .models import models
from .report import report
from .runs import runs
from .sql import sql
from .sync import sync


def _version() -> str:
    from .._version import __version__

    return __version__


class CommandError(click.ClickException):
    """A :class:`LiteTrackerException` as the command line shows it: one line on stderr, exit code 1
    (click exits 2 for usage errors)."""

    exit_code = 1

    def show(self, file: IO[Any] | None = None) -> None:
        """Print ``lite-tracker: error: <message>`` on stderr."""
        click.echo(f"lite-tracker: error: {self.message}", err=True)


class _Group(click.Group):
    """The root group: every error lite_tracker raises on purpose becomes a :class:`CommandError` here,
    the one place where the command line maps errors to exit codes (click maps usage errors itself)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except LiteTrackerException as e:  # one line, even when the message quotes a multi-line parser error
            raise CommandError(" ".join(str(e).split())) from e


@click.group(name="lite-tracker", cls=_Group,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(_version(), "--version", prog_name="lite-tracker", message="%(prog)s %(version)s")
def cli() -> None:
    """Embedded, serverless, MLflow-compatible experiment tracker.

    Every command takes --store (default: LITE_TRACKER_URI, a local MLFLOW_TRACKING_URI, or
    ./lite_tracker.duckdb); commands whose output is data take --json. Commands that only read never
    create a store.

    \b
    Example:
      lite-tracker demo && lite-tracker runs list --experiment demo-sweep --order-by "metrics.val_loss"
    """


@cli.command()
@store_option
@click.option("--experiment", default="demo-sweep", show_default=True, help="Experiment name.")
@click.option("--steps", type=click.IntRange(min=1), default=50, show_default=True, help="Metric steps per run.")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
def demo(store: str | None, experiment: str, steps: int, seed: int) -> None:
    """Log a small sweep and show the best runs.

    24 runs of a hyper-parameter sweep with metric histories go into the store; the best five are printed.

    \b
    Example:
      lite-tracker demo --store runs.duckdb --steps 5
    """
    import lite_tracker as mlflow

    if store:
        mlflow.set_tracking_uri(store)
    exp = mlflow.set_experiment(experiment)
    earlier = len(mlflow.search_runs([exp.experiment_id], output_format="list"))
    rng = random.Random(seed)
    started = time.perf_counter()
    n_runs = 0
    for lr in (0.3, 0.1, 0.03, 0.01):
        for layers in (1, 2, 3):
            for dropout in (0.0, 0.2):
                with mlflow.start_run(run_name=f"lr{lr}-l{layers}-d{dropout}"):
                    mlflow.log_params({"lr": lr, "layers": layers, "dropout": dropout, "optimizer": "sgd"})
                    mlflow.set_tag("sweep", "demo")
                    floor = 0.05 + 0.1 * abs(math.log10(lr) + 1.5) + 0.03 * abs(layers - 2) + 0.05 * dropout
                    for step in range(steps):
                        decay = math.exp(-lr * 10 * (step + 1) / steps * layers)
                        train = floor + decay + rng.gauss(0, 0.01)
                        val = train + 0.02 + dropout * 0.01 + rng.gauss(0, 0.01)
                        mlflow.log_metrics({"train_loss": train, "val_loss": val, "val_acc": 1 - val / 2}, step=step)
                    mlflow.log_dict({"lr": lr, "layers": layers, "dropout": dropout, "final_val_loss": val},
                                    "summary.json")
                n_runs += 1
    seconds = time.perf_counter() - started
    best = mlflow.search_runs([exp.experiment_id], order_by=["metrics.val_loss ASC"], max_results=5,
                              output_format="list")
    echo = click.echo
    echo(f"Logged {n_runs} runs x {steps} steps x 3 metrics into {mlflow.get_tracking_uri()} "
         f"in {seconds:.2f}s (experiment {exp.name!r}, id {exp.experiment_id}).")
    if earlier:
        echo(f"The experiment already held {earlier} runs from earlier demos: the best of all "
             f"{earlier + n_runs} are shown (use --experiment NAME for a fresh one).")
    echo("\nBest runs by final val_loss:")
    echo(f"  {'run name':<18} {'lr':>6} {'layers':>6} {'dropout':>7} {'val_loss':>9}  run id")
    for run in best:
        p = run.data.params
        echo(f"  {run.info.run_name:<18} {p['lr']:>6} {p['layers']:>6} {p['dropout']:>7} "
             f"{run.data.metrics['val_loss']:>9.4f}  {run.info.run_id}")
    echo("\nQuery it from Python:")
    echo(f"  import lite_tracker as mlflow; mlflow.set_tracking_uri({mlflow.get_tracking_uri()!r})")
    echo(f"  mlflow.search_runs(experiment_names=[{exp.name!r}], filter_string=\"params.layers = '2'\", "
         "order_by=['metrics.val_loss'])")
    option = f" --store {store}" if store else ""
    echo("\nOr from the command line:")
    echo(f"  lite-tracker runs list --experiment {exp.name}{option} --order-by metrics.val_loss "
         "--columns params.lr,metrics.val_loss")
    echo("\nThen open the UI:")
    echo(f"  lite-tracker ui{option}   ->  http://127.0.0.1:5000")


@cli.command()
@store_option
def compact(store: str | None) -> None:
    """Fold pending segments into the DuckDB file now.

    \b
    Example:
      lite-tracker compact --store runs.duckdb
    """
    from ..tracking.client import MlflowClient

    client = MlflowClient(existing_store(store))
    client.flush()
    result = client._store.compact()
    if result is None:
        click.echo("Another process is compacting this store right now; nothing to do.")
    else:
        killed = f", {len(result.killed_runs)} dead runs marked KILLED" if result.killed_runs else ""
        click.echo(f"Compacted {result.files} segments ({result.rows} rows) in {result.seconds:.2f}s{killed}.")


@click.command(name="ui")
@click.option("--store", metavar="PATH", default=None, help=STORE_HELP + " An s3:// store is served read-only.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("-p", "--port", type=int, default=5000, show_default=True, help="TCP port.")
@click.option("--read-only", is_flag=True, help="Refuse every change (403).")
@click.option("--token", default=None, help="Require this token (default: a random one when --host is not loopback).")
@click.option("--no-token", is_flag=True, help="No token even on a non-loopback host (unsafe).")
def ui(store: str | None, host: str, port: int, read_only: bool, token: str | None, no_token: bool) -> None:
    """Serve the web UI and MLflow's REST API.

    The store stays open to other processes that keep logging to it. `lite-tracker server` is the same
    command, under MLflow's name.

    \b
    Example:
      lite-tracker ui --store runs.duckdb --port 5000
    """
    if token is not None and no_token:
        raise click.UsageError("--no-token is not allowed with --token: give one or the other.")
    try:
        from ..ui.server import choose_token, serve
    except ImportError as e:
        raise LiteTrackerException(f"The web UI needs the ui extra: `pip install 'lite-tracker[ui]'` ({e}).") from e
    from .._remote import is_remote
    from ..settings import resolve_settings

    if read_only:  # a read-only server of a typo would show an empty store it had just created
        store = existing_store(store)
    elif not is_remote(store or "") and not resolve_settings(store).store_path.exists():
        click.echo(f"lite-tracker: no store at {resolve_settings(store).store_path} yet: starting a new, empty one "
                   "(check --store if you meant an existing one).", err=True)
    serve(store or resolve_settings().tracking_uri, host, port, read_only=read_only,
          token=choose_token(host, token, no_token))


for _command in (experiments, runs, sql, artifacts, models, sync, import_group, export, report, gc, doctor, ui):
    cli.add_command(_command)
cli.add_command(click.Command("server", callback=ui.callback, params=ui.params, help=ui.help,
                              short_help="The ui command, under MLflow's name."))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``lite-tracker`` command; returns the exit code.

    A :class:`LiteTrackerException` prints ``lite-tracker: error: <message>`` on stderr and exits 1 (see
    :class:`CommandError`); usage errors are click's (exit 2); Ctrl-C exits 130.
    """
    try:
        result = cli.main(args=list(argv) if argv is not None else None, prog_name="lite-tracker",
                          standalone_mode=False)
    except click.ClickException as e:
        e.show()
        return e.exit_code
    except click.Abort:
        click.echo("Aborted.", err=True)
        return 130
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
