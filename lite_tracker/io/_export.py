"""``export``: a store's runs as a portable bundle (Parquet, CSV or one DuckDB file, with a README saying
what each file is), or as an MLflow file store (``mlruns``) that MLflow's own client reads."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from .._remote import is_remote
from .._version import __version__
from ..entities import ViewType
from ..errors import InvalidParameterValue, ResourceNotFound
from ..settings import resolve_settings, tracking_uri_from_env
from ..tracking.client import MlflowClient

if TYPE_CHECKING:
    import pyarrow as pa

    from ..store.duckdb_store import DuckDBStore

FORMATS = ("parquet", "csv", "duckdb", "mlflow")
DUCKDB_FILE = "export.duckdb"

# name -> (what it holds, SELECT over the store's views; ``{runs}`` is the chosen run ids)
TABLES: dict[str, tuple[str, str]] = {
    "experiments": ("one row per experiment (all of them, or those holding an exported run)",
                    "SELECT experiment_id, name, artifact_location, lifecycle_stage, creation_time, last_update_time "
                    "FROM experiments WHERE {exps} ORDER BY experiment_id"),
    "experiment_tags": ("tags of those experiments (experiment_id, key, value)",
                        "SELECT experiment_id, key, value FROM experiment_tags WHERE {exps} "
                        "ORDER BY experiment_id, key"),
    "runs": ("one row per run: ids, name, user, status, start/end time (epoch ms), lifecycle stage, artifact URI",
             "SELECT run_id, experiment_id, run_name, user_id, status, start_time, end_time, lifecycle_stage, "
             "artifact_uri FROM runs WHERE {runs} ORDER BY start_time, run_id"),
    "params": ("run parameters (run_id, key, value; values are strings, as in MLflow)",
               "SELECT run_id, key, value FROM params WHERE {runs} ORDER BY run_id, key"),
    "tags": ("run tags, including MLflow's system tags such as mlflow.runName (run_id, key, value)",
             "SELECT run_id, key, value FROM tags WHERE {runs} ORDER BY run_id, key"),
    "metrics": ("every logged metric point (run_id, key, value, timestamp in epoch ms, step)",
                "SELECT run_id, key, value, timestamp, step FROM metrics WHERE {runs} "
                "ORDER BY run_id, key, step, timestamp"),
    "latest_metrics": ("the latest point of each metric of each run (max step, then timestamp), as search uses it",
                       "SELECT run_id, key, value, timestamp, step FROM latest_metrics WHERE {runs} "
                       "ORDER BY run_id, key"),
    "dataset_inputs": ("datasets each run used (run_id, dataset name, digest, source type, source, schema and "
                       "profile as JSON text)",
                       "SELECT run_id, dataset_name, dataset_digest, dataset_source_type, dataset_source, "
                       "dataset_schema, dataset_profile FROM dataset_inputs WHERE {runs} "
                       "ORDER BY run_id, dataset_name, dataset_digest"),
    "dataset_input_tags": ("tags of those inputs, such as mlflow.data.context (run_id, dataset name and digest, "
                           "key, value)",
                           "SELECT run_id, dataset_name, dataset_digest, key, value FROM dataset_input_tags "
                           "WHERE {runs} ORDER BY run_id, dataset_name, dataset_digest, key"),
    "registered_models": ("registered models with a version from an exported run (model_id, name, ...)",
                          "SELECT model_id, name, description, creation_timestamp, last_updated_timestamp FROM "
                          "registered_models WHERE deleted_timestamp IS NULL AND model_id IN (SELECT model_id FROM "
                          "model_versions WHERE {runs}) ORDER BY name"),
    "model_versions": ("versions of those models created from exported runs, with their stage",
                       "SELECT m.name, v.version::BIGINT AS version, v.current_stage, v.source, v.run_id, "
                       "v.description, v.status, v.user_id, v.creation_timestamp, v.last_updated_timestamp "
                       "FROM model_versions v JOIN registered_models m USING (model_id) "
                       "WHERE v.deleted_timestamp IS NULL AND m.deleted_timestamp IS NULL AND {runs_v} "
                       "ORDER BY m.name, version"),
    "model_aliases": ("aliases pointing to those versions (name, alias, version)",
                      "SELECT m.name, a.alias, a.value::BIGINT AS version FROM model_aliases a JOIN registered_models "
                      "m USING (model_id) JOIN model_versions v ON v.model_id = a.model_id AND v.version = a.value "
                      "WHERE m.deleted_timestamp IS NULL AND {runs_v} ORDER BY m.name, a.alias"),
    "registered_model_tags": ("tags of those models (name, key, value)",
                              "SELECT m.name, t.key, t.value FROM registered_model_tags t JOIN registered_models m "
                              "USING (model_id) WHERE m.deleted_timestamp IS NULL AND model_id IN (SELECT model_id "
                              "FROM model_versions WHERE {runs}) ORDER BY m.name, t.key"),
    "model_version_tags": ("tags of those versions (name, version, key, value)",
                           "SELECT m.name, t.version::BIGINT AS version, t.key, t.value FROM model_version_tags t "
                           "JOIN registered_models m USING (model_id) JOIN model_versions v ON v.model_id = t.model_id "
                           "AND v.version = t.version WHERE m.deleted_timestamp IS NULL AND {runs_v} "
                           "ORDER BY m.name, version, t.key"),
}


@dataclass(frozen=True)
class ExportResult:
    """What :func:`export` wrote."""

    path: str
    format: str
    runs: int
    rows: dict[str, int]
    seconds: float

    def summary(self) -> str:
        """One line for a terminal."""
        points = self.rows.get("metrics", 0)
        return (f"Exported {self.runs} runs ({points} metric points) as {self.format} to {self.path} "
                f"in {self.seconds:.2f}s.")


def export(path: str | os.PathLike[str], format: str = "parquet", experiment: str | None = None,
           filter_string: str | None = None, store: str | os.PathLike[str] | None = None) -> ExportResult:
    """Export runs (all, one experiment's, or those matching a filter) to a new folder.

    ``parquet`` and ``csv`` write one file per table, ``duckdb`` one DuckDB file (``export.duckdb``) with
    a table each; all three add a README.md saying what each file holds, and open in stock DuckDB, pandas
    or polars without lite_tracker. ``mlflow`` writes an MLflow file store (an ``mlruns`` folder, artifacts
    of local runs copied in) that MLflow's own client reads.

    Args:
        path: A folder that does not exist yet, or is empty.
        format: ``"parquet"``, ``"csv"``, ``"duckdb"`` or ``"mlflow"``.
        experiment: Only runs of the experiment with this name.
        filter_string: Only runs matching this filter (MLflow's search grammar).
        store: The store to read (default: resolved as the client does).

    Returns:
        An :class:`ExportResult` with the row count of each table.

    Raises:
        InvalidParameterValue: Unknown format, a bad filter, or a folder that is not empty.
        ResourceNotFound: No experiment with that name.

    Example:
        >>> export("bundle", format="parquet", experiment="demo-sweep")  # doctest: +SKIP
    """
    started = time.perf_counter()
    if format not in FORMATS:
        raise InvalidParameterValue(f"Unknown export format {format!r}: use one of {', '.join(FORMATS)}.")
    out = Path(path)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InvalidParameterValue(f"{str(out)!r} already exists and is not an empty folder: give a new path.")
    uri = os.fspath(store) if store is not None else tracking_uri_from_env()
    if not (uri and is_remote(uri)):
        found = resolve_settings(uri).store_path
        if not found.exists():
            raise ResourceNotFound(f"No store at {str(found)!r}: check --store (or LITE_TRACKER_URI); exporting "
                                   "never creates a store.")
    client = MlflowClient(uri)
    client.flush()
    st = client._store
    run_ids = _select(client, st, experiment, filter_string)
    tables = _read(st, run_ids, everything=experiment is None and not filter_string)
    out.mkdir(parents=True, exist_ok=True)
    if format == "mlflow":
        from ._mlflow_files import write_mlruns

        write_mlruns(out, tables)
    else:
        _write_bundle(out, format, tables, client.tracking_uri, experiment, filter_string)
    return ExportResult(str(out), format, len(run_ids), {n: t.num_rows for n, t in tables.items()},
                        time.perf_counter() - started)


def _select(client: MlflowClient, st: DuckDBStore, experiment: str | None, filter_string: str | None) -> list[str]:
    """Ids of the chosen runs (deleted ones too: a bundle is a faithful copy)."""
    from ..search import compile_search_runs

    if experiment is not None:
        found = client.get_experiment_by_name(experiment)
        if found is None:
            raise ResourceNotFound(f"No experiment named {experiment!r} in {client.tracking_uri}.")
        ids = [found.experiment_id]
    else:
        ids = [r[0] for r in st.rows("SELECT experiment_id FROM experiments")]
    query = compile_search_runs(ids, filter_string or "", ViewType.stages(ViewType.ALL), None, 10**9, 0)
    return [r[0] for r in st.rows(query.sql, query.params)]


def _read(st: DuckDBStore, run_ids: Sequence[str], everything: bool) -> dict[str, pa.Table]:
    """The exported tables; ``everything`` keeps experiments without runs too."""
    out = {}
    with st.session() as con:
        con.execute("CREATE OR REPLACE TEMP TABLE export_runs AS SELECT unnest(?::VARCHAR[]) AS run_id",
                    [list(run_ids)])
        try:
            for name, (_, sql) in TABLES.items():
                runs = "run_id IN (SELECT run_id FROM export_runs)"
                exps = "TRUE" if everything else f"experiment_id IN (SELECT experiment_id FROM runs WHERE {runs})"
                where = sql.format(runs=runs, runs_v=f"v.{runs}", exps=exps)
                out[name] = con.sql(where).to_arrow_table()
        finally:
            con.execute("DROP TABLE export_runs")
    return out


def _write_bundle(out: Path, format: str, tables: dict[str, pa.Table], source: str, experiment: str | None,
                  filter_string: str | None) -> None:
    if format == "parquet":
        import pyarrow.parquet as pq

        for name, table in tables.items():
            pq.write_table(table, out / f"{name}.parquet")
    elif format == "csv":
        import pyarrow.csv as pcsv

        for name, table in tables.items():
            pcsv.write_csv(table, out / f"{name}.csv")
    else:
        from ..store.connection import connect

        con = connect(out / DUCKDB_FILE)
        try:
            for name, table in tables.items():
                con.register("export_table", table)
                con.execute(f"CREATE TABLE {name} AS SELECT * FROM export_table")
                con.unregister("export_table")
        finally:
            con.close()
    (out / "README.md").write_text(_readme(format, tables, source, experiment, filter_string), encoding="utf-8")


def _readme(format: str, tables: dict[str, pa.Table], source: str, experiment: str | None,
            filter_string: str | None) -> str:
    chosen = "all runs" if experiment is None and not filter_string else " and ".join(
        part for part in (f"experiment {experiment!r}" if experiment else "",
                          f"filter {filter_string!r}" if filter_string else "") if part)
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# lite_tracker export", "",
        f"Exported {now} by lite_tracker {__version__} from `{source}`: {chosen} "
        f"({tables['runs'].num_rows} runs).", "",
        "Times are epoch milliseconds (UTC); params and tags are strings, as in MLflow. Join the tables on",
        "`run_id` (and runs to experiments on `experiment_id`). Registry tables hold only models with a version",
        "created from an exported run.", "",
    ]
    if format == "duckdb":
        lines += [f"`{DUCKDB_FILE}` is one DuckDB database with these tables:", ""]
    lines += ["| " + ("table" if format == "duckdb" else "file") + " | rows | what it holds | columns |",
              "|---|---|---|---|"]
    for name, table in tables.items():
        label = name if format == "duckdb" else f"{name}.{format}"
        columns = ", ".join(f"{f.name} ({f.type})" for f in table.schema)
        lines.append(f"| `{label}` | {table.num_rows} | {TABLES[name][0]} | {columns} |")
    lines += ["", "## Open it without lite_tracker", ""]
    if format == "parquet":
        lines += ["```python", "import duckdb", "duckdb.sql(\"SELECT * FROM 'runs.parquet' JOIN 'params.parquet' "
                  "USING (run_id)\").show()", "import pandas as pd", "metrics = pd.read_parquet('metrics.parquet')",
                  "import polars as pl", "runs = pl.read_parquet('runs.parquet')", "```"]
    elif format == "csv":
        lines += ["```python", "import duckdb", "duckdb.sql(\"SELECT * FROM 'runs.csv'\").show()",
                  "import pandas as pd", "metrics = pd.read_csv('metrics.csv')", "import polars as pl",
                  "runs = pl.read_csv('runs.csv')", "```"]
    else:
        lines += ["```python", "import duckdb", f"con = duckdb.connect('{DUCKDB_FILE}', read_only=True)",
                  "con.sql('SELECT * FROM runs').df()", "```", "",
                  "The file is written by DuckDB 2.x; DuckDB older than 2.0 cannot open it."]
    return "\n".join(lines) + "\n"
