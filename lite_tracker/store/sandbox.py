"""The sandbox that runs user SQL for ``sql()``.

Two walls. :func:`check` parses the query and refuses anything but one SELECT whose tables are the
public views (or its own CTEs), whose table functions are pure generators (``range``,
``generate_series``, ``unnest``) and which calls no introspection function. :func:`run` then executes
it on a fresh in-memory DuckDB that holds only the Arrow tables of the views it reads, with file and
network access, extension loading, spilling to disk and the progress bar off and its configuration
locked, a memory limit on its operators and a cap on the size of its result, and interrupts it at a
time limit. Scalar functions that build one value of a size an argument chooses (``repeat``,
``list_resize``, ``lpad``, ...) allocate outside DuckDB's memory limit and cannot be interrupted, so
:func:`check` refuses them too. The sandbox shares nothing with the store's own reader
and is closed after each query, so nothing a query does can stick.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import InvalidParameterValue
from . import connection

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

DEFAULT_TIMEOUT = 30.0
TABLE_FUNCTIONS = frozenset({"range", "generate_series", "unnest"})
REFUSED_FUNCTIONS = frozenset({"current_setting", "getenv", "which_secret"})
REFUSED_PREFIXES = ("duckdb_", "pragma_")
# Scalar functions whose result size is an argument: one call can allocate gigabytes at once.
SIZED_FUNCTIONS = frozenset({"repeat", "lpad", "rpad", "list_resize", "array_resize", "format", "printf",
                             "range", "generate_series"})
MEMORY_LIMIT = "2GB"
MAX_RESULT_BYTES = 1 << 30
_BATCH_ROWS = 65536
_CONFIG: dict[str, str | bool] = {
    "enable_external_access": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "python_enable_replacements": False,
    "temp_directory": "",  # never spill to disk (an empty value also leaves allowed_directories empty)
    "memory_limit": MEMORY_LIMIT,
}


def connect() -> duckdb.DuckDBPyConnection:
    """A fresh in-memory DuckDB with external access off and its configuration locked."""
    con = connection.connect(config=_CONFIG)
    con.execute("SET lock_configuration = true")
    return con


def check_timeout(timeout: Any) -> float:
    """The time limit in seconds; a positive finite number."""
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not math.isfinite(timeout) \
            or timeout <= 0:
        raise InvalidParameterValue(f"sql() timeout must be a positive number of seconds, got {timeout!r}.")
    return float(timeout)


def check(con: duckdb.DuckDBPyConnection, query: str, views: Sequence[str]) -> set[str]:
    """Refuse anything but one SELECT over ``views``; return the views the query names.

    ``con`` is a sandbox from :func:`connect` (it only parses the query here).
    """
    import duckdb

    try:
        statements = con.extract_statements(query)  # not duckdb.extract_statements: its module-wide
        # default connection would crash forked children at exit
    except duckdb.Error as e:
        raise _refused(views, f"sql() could not parse the query: {e}") from e
    if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
        kinds = ", ".join(st.type.name for st in statements) or "nothing"
        raise _refused(views, f"sql() runs one read-only SELECT (or WITH ... SELECT) statement; got {kinds}")
    tree = json.loads(con.execute("SELECT json_serialize_sql(?)", [query]).fetchall()[0][0])
    if tree.get("error"):
        raise _refused(views, f"sql() could not parse the query: {tree.get('error_message')}")
    nodes = list(_nodes(tree["statements"]))
    ctes = {entry["key"].lower() for node in nodes if isinstance(node.get("cte_map"), dict)
            for entry in node["cte_map"].get("map", [])}
    read: set[str] = set()
    generators = {id(node["function"]) for node in nodes if node.get("type") == "TABLE_FUNCTION"}
    for node in nodes:
        kind = node.get("type")
        if kind == "BASE_TABLE":
            name = node["table_name"].lower()  # DuckDB resolves table names ignoring case
            if node.get("schema_name") or node.get("catalog_name") or (name not in views and name not in ctes):
                shown = ".".join(node.get("qualified_name", {}).get("path") or [name])
                raise _refused(views, f"sql() refused table {shown!r}: queries read only the views")
            if name in views:
                read.add(name)
        elif kind == "TABLE_FUNCTION":
            function = node["function"]
            name = function.get("function_name", "")
            if name not in TABLE_FUNCTIONS or function.get("schema") or function.get("catalog"):
                raise _refused(views, f"sql() refused table function {name}(): queries read only the views "
                                      f"(and {', '.join(sorted(TABLE_FUNCTIONS))})")
        elif kind == "SHOW_REF":
            raise _refused(views, "sql() refused SUMMARIZE/DESCRIBE/SHOW: select from the views instead")
        elif node.get("class") == "FUNCTION":
            name = node.get("function_name", "")
            if name in REFUSED_FUNCTIONS or name.startswith(REFUSED_PREFIXES):
                raise _refused(views, f"sql() refused function {name}(): settings and the environment are "
                                      "out of reach")
            if name in SIZED_FUNCTIONS and id(node) not in generators:
                raise _refused(views, f"sql() refused function {name}(): a value whose size an argument "
                                      "chooses can exhaust memory; build strings and lists in Python")
    return read


def run(con: duckdb.DuckDBPyConnection, query: str, params: Sequence[Any], tables: dict[str, pa.Table],
        timeout: float, views: Sequence[str], max_bytes: int = MAX_RESULT_BYTES) -> pa.Table:
    """Run a checked query in the sandbox over ``tables`` (view name to data); interrupt it at ``timeout``
    and refuse a result larger than ``max_bytes``."""
    import duckdb
    import pyarrow as pa

    for name, table in tables.items():
        con.register(name, table)
    timer = threading.Timer(timeout, con.interrupt)
    timer.daemon = True
    timer.start()
    try:
        reader = con.sql(query, params=list(params)).to_arrow_reader(_BATCH_ROWS)
        batches, size = [], 0
        for batch in reader:
            size += batch.nbytes
            if size > max_bytes:
                raise InvalidParameterValue(
                    f"sql() stopped the query: its result passed {max_bytes / 2**20:g} MiB; aggregate it or "
                    "select fewer rows (LIMIT, WHERE) and columns."
                )
            batches.append(batch)
        return pa.Table.from_batches(batches, schema=reader.schema)
    except duckdb.InterruptException as e:
        raise InvalidParameterValue(
            f"sql() stopped the query at its time limit of {timeout:g} s: narrow it (LIMIT, WHERE) or pass "
            "a larger timeout=."
        ) from e
    except duckdb.PermissionException as e:
        raise _refused(views, f"sql() refused the query: files, settings and extensions are out of reach ({e})"
                       ) from e
    except duckdb.Error as e:
        raise _refused(views, f"sql() failed: {e}") from e
    finally:
        timer.cancel()
        timer.join()  # an interrupt under way finishes before the caller closes the connection


def _refused(views: Sequence[str], message: str) -> InvalidParameterValue:
    return InvalidParameterValue(f"{message}. The views are: {', '.join(views)}.")


def _nodes(tree: Any) -> Iterator[dict[str, Any]]:
    """Every object of a parse tree (from ``json_serialize_sql``), parents before children."""
    if isinstance(tree, dict):
        yield tree
        for value in tree.values():
            yield from _nodes(value)
    elif isinstance(tree, list):
        for value in tree:
            yield from _nodes(value)
