"""Compile a parsed search to one parameterised DuckDB query.

The compiler turns the typed AST of :mod:`lite_tracker.search.grammar` into a :class:`CompiledQuery`:
SQL text with ``?`` placeholders plus the list of values to bind. No user value ever becomes SQL text:
metric, param and tag keys and every compared value are bound parameters, and table and column names
come from a fixed whitelist through the single :func:`_quote_ident` helper.

Semantics follow MLflow's SQL store: a clause on a metric, param or tag is an ``EXISTS`` over that key's
row, so a run lacking the key never matches (not even with ``!=``), except for ``IS NULL``, which is
``NOT EXISTS``. Metric clauses compare the latest value (the ``latest_metrics`` view); a NaN value
matches ``!=`` and no other comparison. ``LIKE`` is case-sensitive, ``ILIKE`` is not, and neither has an
escape character. Sorting puts NaN metrics after every number and missing values last, in both
directions, then breaks ties like MLflow.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from lite_tracker.errors import InvalidParameterValue
from lite_tracker.search.grammar import (
    EXPERIMENT_SEARCH,
    RUN_SEARCH,
    Comparator,
    Comparison,
    Entity,
    Identifier,
    OrderBy,
    SearchSchema,
    parse_order_by,
    parse_search_filter,
)


@dataclass(frozen=True)
class CompiledQuery:
    """SQL text with ``?`` placeholders and the values to bind, in placeholder order.

    Example:
        >>> q = compile_search_experiments("name = 'x'", ["active"], None, limit=10, offset=0)
        >>> q.params
        ['active', 'x', 10, 0]
    """

    sql: str
    params: list[object]


@dataclass(frozen=True)
class _Target:
    """Where one kind of search looks: its table, id column and per-entity key/value tables."""

    schema: SearchSchema
    table: str
    id_column: str
    key_tables: Mapping[Entity, str]


_RUNS = _Target(RUN_SEARCH, "runs", "run_id", {"metric": "latest_metrics", "param": "params", "tag": "tags"})
_EXPERIMENTS = _Target(EXPERIMENT_SEARCH, "experiments", "experiment_id", {"tag": "experiment_tags"})

_SQL_IDENTIFIERS = frozenset(
    {
        # tables / views
        "runs", "params", "tags", "latest_metrics", "experiments", "experiment_tags",
        # columns
        "run_id", "experiment_id", "run_name", "user_id", "status", "start_time", "end_time",
        "lifecycle_stage", "artifact_uri", "key", "value", "name", "creation_time", "last_update_time",
        # dataset inputs
        "dataset_inputs", "dataset_input_tags", "dataset_name", "dataset_digest",
    }
)  # fmt: skip

_SQL_OPERATORS: Mapping[Comparator, str] = {
    "=": "=",
    "!=": "!=",
    "<": "<",
    "<=": "<=",
    ">": ">",
    ">=": ">=",
    "LIKE": "LIKE",
    "ILIKE": "ILIKE",
    "IN": "IN",
    "NOT IN": "NOT IN",
}


def _quote_ident(*names: str) -> str:
    """Quote a whitelisted table or column name, or a dotted ``table.column`` pair."""
    for name in names:
        if name not in _SQL_IDENTIFIERS:
            raise ValueError(f"{name!r} is not a whitelisted SQL identifier")
    return ".".join(f'"{name}"' for name in names)


def _placeholders(count: int) -> str:
    return "(" + ", ".join("?" * count) + ")"


def _in_list(column: str, values: Sequence[str], params: list[object]) -> str:
    if isinstance(values, str):
        raise InvalidParameterValue(f"Expected a list of strings for {column}, got the string {values!r}")
    if not values:
        return "FALSE"
    params.extend(values)
    return f"{column} IN {_placeholders(len(values))}"


def _key_lookup(target: _Target, identifier: Identifier, select: str, params: list[object]) -> str:
    """``SELECT <select> FROM <key table> WHERE <id> = <outer id> AND key = ?`` for one key."""
    params.append(identifier.key)
    return (
        f"SELECT {select} FROM {_quote_ident(target.key_tables[identifier.entity])} "
        f"WHERE {_quote_ident(target.id_column)} = {_quote_ident(target.table, target.id_column)} "
        f"AND {_quote_ident('key')} = ?"
    )


DATASET_CONTEXT_TAG = "mlflow.data.context"


def _dataset_predicate(comparison: Comparison, target: _Target, params: list[object]) -> str:
    """A run matches if one of its dataset inputs does (``context`` is the input's context tag)."""
    key, comparator, value = comparison.identifier.key, comparison.comparator, comparison.value
    outer = _quote_ident(target.table, target.id_column)
    if key == "context":
        params.append(DATASET_CONTEXT_TAG)
        source = (f"{_quote_ident('dataset_input_tags')} WHERE {_quote_ident('run_id')} = {outer} "
                  f"AND {_quote_ident('key')} = ?")
        column = _quote_ident("value")
    else:
        source = f"{_quote_ident('dataset_inputs')} WHERE {_quote_ident('run_id')} = {outer}"
        column = _quote_ident("dataset_name" if key == "name" else "dataset_digest")
    if isinstance(value, tuple):
        params.extend(value)
        test = f"{column} {_SQL_OPERATORS[comparator]} {_placeholders(len(value))}"
    else:
        params.append(value)
        test = f"{column} {_SQL_OPERATORS[comparator]} ?"
    return f"EXISTS (SELECT 1 FROM {source} AND {test})"


def _predicate(comparison: Comparison, target: _Target, params: list[object]) -> str:
    identifier, comparator, value = comparison.identifier, comparison.comparator, comparison.value
    if identifier.entity == "dataset":
        return _dataset_predicate(comparison, target, params)
    if identifier.entity == "attribute":
        column = _quote_ident(target.table, identifier.key)
        if isinstance(value, tuple):
            params.extend(value)
            return f"{column} {_SQL_OPERATORS[comparator]} {_placeholders(len(value))}"
        params.append(value)
        return f"{column} {_SQL_OPERATORS[comparator]} ?"
    if comparator == "IS NULL":
        return f"NOT EXISTS ({_key_lookup(target, identifier, '1', params)})"
    lookup = _key_lookup(target, identifier, "1", params)
    if comparator == "IS NOT NULL":
        return f"EXISTS ({lookup})"
    column = _quote_ident("value")
    if identifier.entity != "metric":
        params.append(value)
        return f"EXISTS ({lookup} AND {column} {_SQL_OPERATORS[comparator]} ?)"
    params.append(float(value))  # type: ignore[arg-type]
    if comparator == "!=":  # NaN differs from every number, as in MLflow
        return f"EXISTS ({lookup} AND {column} != ?)"
    # DuckDB ranks NaN above +inf and equal to itself; MLflow's NaN matches no other comparison.
    return f"EXISTS ({lookup} AND {column} {_SQL_OPERATORS[comparator]} ? AND NOT isnan({column}))"


def _metric_order_term(order: OrderBy, target: _Target, params: list[object]) -> str:
    """A metric sorts NaN after every number in both directions (then missing values), like MLflow.

    DuckDB ranks NaN above +inf, so ascending is already right; descending sorts the negated value
    ascending instead, which keeps NaN (its own negation) after every number.
    """
    value = _quote_ident("value")
    if order.ascending:
        return f"({_key_lookup(target, order.identifier, value, params)}) ASC NULLS LAST"
    return f"({_key_lookup(target, order.identifier, '-' + value, params)}) ASC NULLS LAST"


def _order_term(order: OrderBy, target: _Target, params: list[object]) -> str:
    if order.identifier.entity == "metric":
        return _metric_order_term(order, target, params)
    if order.identifier.entity == "attribute":
        expression = _quote_ident(target.table, order.identifier.key)
    else:
        expression = f"({_key_lookup(target, order.identifier, _quote_ident('value'), params)})"
    return f"{expression} {'ASC' if order.ascending else 'DESC'} NULLS LAST"


def _check_count(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidParameterValue(f"Invalid value for {name}: expected an integer >= 0, got {value!r}")


def _compile(
    target: _Target,
    where: list[str],
    params: list[object],
    filter_string: str | None,
    order: Sequence[OrderBy],
    limit: int,
    offset: int,
) -> CompiledQuery:
    _check_count("limit", limit)
    _check_count("offset", offset)
    where = where + [_predicate(c, target, params) for c in parse_search_filter(filter_string, target.schema)]
    order_sql = ", ".join(_order_term(o, target, params) for o in order)
    params.extend([limit, offset])
    sql = (
        f"SELECT {_quote_ident(target.table, target.id_column)} FROM {_quote_ident(target.table)} "
        f"WHERE {' AND '.join(where)} ORDER BY {order_sql} LIMIT ? OFFSET ?"
    )
    return CompiledQuery(sql, params)


def compile_search_runs(
    experiment_ids: Sequence[str],
    filter_string: str | None,
    lifecycle_stages: Sequence[str],
    order_by: Sequence[str] | None,
    limit: int,
    offset: int,
) -> CompiledQuery:
    """Compile an MLflow ``search_runs`` call to one query returning ``run_id`` in result order.

    Args:
        experiment_ids: Experiments to search; empty means no run matches.
        filter_string: MLflow filter such as ``"metrics.acc > 0.9 AND tags.team = 'a'"``.
        lifecycle_stages: Stages to include, e.g. ``["active"]`` or ``["active", "deleted"]``.
        order_by: Clauses such as ``["metrics.acc DESC"]``; ties are then broken by
            ``start_time DESC`` (unless ordered already) and ``run_id ASC``.
        limit: Maximum number of rows (>= 0).
        offset: Rows to skip (>= 0), typically from a page token.

    Returns:
        The SQL and the values to bind, for the ``runs``/``params``/``tags``/``latest_metrics`` views.

    Raises:
        InvalidFilter: ``filter_string`` or ``order_by`` is invalid.
        InvalidParameterValue: ``limit`` or ``offset`` is not an integer >= 0.

    Example:
        >>> q = compile_search_runs(["1"], "params.lr = '0.1'", ["active"], None, limit=100, offset=0)
        >>> q.params
        ['1', 'active', 'lr', '0.1', 100, 0]
    """
    params: list[object] = []
    where = [
        _in_list(_quote_ident("runs", "experiment_id"), experiment_ids, params),
        _in_list(_quote_ident("runs", "lifecycle_stage"), lifecycle_stages, params),
    ]
    order = list(parse_order_by(order_by, RUN_SEARCH))
    ordered = {o.identifier for o in order}
    if Identifier("attribute", "start_time") not in ordered:
        order.append(OrderBy(Identifier("attribute", "start_time"), ascending=False))
    if Identifier("attribute", "run_id") not in ordered:
        order.append(OrderBy(Identifier("attribute", "run_id")))
    return _compile(_RUNS, where, params, filter_string, order, limit, offset)


def compile_search_experiments(
    filter_string: str | None,
    lifecycle_stages: Sequence[str],
    order_by: Sequence[str] | None,
    limit: int,
    offset: int,
) -> CompiledQuery:
    """Compile an MLflow ``search_experiments`` call to one query returning ``experiment_id``.

    Args:
        filter_string: Filter on ``name``, ``creation_time``, ``last_update_time`` and ``tags.<key>``.
        lifecycle_stages: Stages to include, e.g. ``["active"]``.
        order_by: Clauses on ``name``, ``experiment_id``, ``creation_time``, ``last_update_time``.
            Without any the order is ``creation_time DESC, experiment_id ASC``; otherwise, as in
            MLflow, ``experiment_id DESC`` breaks ties unless it is ordered already.
        limit: Maximum number of rows (>= 0).
        offset: Rows to skip (>= 0).

    Returns:
        The SQL and the values to bind, for the ``experiments``/``experiment_tags`` views.

    Raises:
        InvalidFilter: ``filter_string`` or ``order_by`` is invalid.
        InvalidParameterValue: ``limit`` or ``offset`` is not an integer >= 0.

    Example:
        >>> q = compile_search_experiments("tags.team = 'a'", ["active"], ["name"], limit=5, offset=0)
        >>> q.params
        ['active', 'team', 'a', 5, 0]
    """
    params: list[object] = []
    where = [_in_list(_quote_ident("experiments", "lifecycle_stage"), lifecycle_stages, params)]
    order = list(parse_order_by(order_by, EXPERIMENT_SEARCH))
    experiment_id = Identifier("attribute", "experiment_id")
    if not order:
        order = [
            OrderBy(Identifier("attribute", "creation_time"), ascending=False),
            OrderBy(experiment_id),
        ]
    elif experiment_id not in {o.identifier for o in order}:
        order.append(OrderBy(experiment_id, ascending=False))
    return _compile(_EXPERIMENTS, where, params, filter_string, order, limit, offset)
