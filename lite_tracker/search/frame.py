"""Search results as one wide Arrow table with MLflow's DataFrame columns:
``run_id, experiment_id, status, artifact_uri, start_time, end_time, metrics.<k>..., params.<k>..., tags.<k>...``.

The pivot runs inside DuckDB, so 10,000 runs with dozens of keys each take milliseconds, not a
Python loop per value.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .compile import CompiledQuery

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

_ENTITIES = (("metrics", "latest_metrics"), ("params", "params"), ("tags", "tags"))


def runs_table(con: duckdb.DuckDBPyConnection, query: CompiledQuery) -> pa.Table:
    """Run ``query`` (which selects run ids in order) and return the wide table in that order."""
    import pyarrow as pa

    ids = [r[0] for r in con.execute(query.sql, query.params).fetchall()]
    con.execute("CREATE OR REPLACE TEMP TABLE sel AS SELECT unnest(?) AS run_id, generate_subscripts(?, 1) AS ord",
                [ids, ids])
    joins, columns = [], []
    for prefix, view in _ENTITIES:
        long = f"SELECT run_id, '{prefix}.' || key AS k, value FROM {view} WHERE run_id IN (SELECT run_id FROM sel)"
        if con.execute(f"SELECT count(*) FROM ({long})").fetchall() == [(0,)]:
            continue
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE w_{prefix} AS PIVOT ({long}) ON k USING first(value) GROUP BY run_id")
        joins.append(f"LEFT JOIN w_{prefix} USING (run_id)")
        columns.append(f"w_{prefix}.* EXCLUDE (run_id)")
    extra = "".join(", " + c for c in columns)
    table = con.sql(
        "SELECT r.run_id, r.experiment_id, r.status, r.artifact_uri, r.start_time, r.end_time"
        f"{extra} FROM sel JOIN runs r USING (run_id) {' '.join(joins)} ORDER BY sel.ord"
    ).to_arrow_table()
    for name in ("start_time", "end_time"):
        i = table.schema.get_field_index(name)
        table = table.set_column(i, name, table.column(i).cast(pa.timestamp("ms", tz="UTC")))
    return table
