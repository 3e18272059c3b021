"""Search grammars of the model registry, compiled to one parameterised DuckDB query each.

``search_registered_models`` filters on ``name`` and ``tags.<key>`` and orders by ``name``,
``creation_timestamp`` and ``last_updated_timestamp``; ``search_model_versions`` filters on ``name``,
``version_number``, ``run_id`` (also ``IN``/``NOT IN``), ``source_path`` and ``tags.<key>`` and orders by
``name``, ``version_number``, ``creation_timestamp`` and ``last_updated_timestamp`` (MLflow's
``SearchModelUtils`` / ``SearchModelVersionUtils``). Filters are parsed by the shared grammar
(:mod:`lite_tracker.search.grammar`) into a typed AST; as in :mod:`lite_tracker.search.compile`, every
value and tag key is a bound parameter and identifiers come from a whitelist through one quoting helper.
Deleted models and versions never match.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from lite_tracker.search.compile import CompiledQuery
from lite_tracker.search.grammar import (
    Comparison,
    Identifier,
    OrderBy,
    SearchSchema,
    parse_order_by,
    parse_search_filter,
)

SEARCH_REGISTERED_MODEL_MAX_RESULTS_DEFAULT = 100
SEARCH_REGISTERED_MODEL_MAX_RESULTS_THRESHOLD = 1000
SEARCH_MODEL_VERSION_MAX_RESULTS_DEFAULT = 10_000
SEARCH_MODEL_VERSION_MAX_RESULTS_THRESHOLD = 200_000

_TIMESTAMP_ALIASES = {"timestamp": "last_updated_timestamp"}

REGISTERED_MODEL_SEARCH = SearchSchema(
    subject="registered model",
    entities=frozenset({"tag", "attribute"}),
    numeric_attributes=frozenset(),
    string_attributes=frozenset({"name"}),
    aliases=_TIMESTAMP_ALIASES,
    order_attributes=frozenset({"name", "creation_timestamp", "last_updated_timestamp"}),
)

MODEL_VERSION_SEARCH = SearchSchema(
    subject="model version",
    entities=frozenset({"tag", "attribute"}),
    numeric_attributes=frozenset({"version_number"}),
    string_attributes=frozenset({"name", "run_id", "source_path"}),
    list_attributes=frozenset({"run_id"}),
    aliases=_TIMESTAMP_ALIASES,
    order_attributes=frozenset({"name", "version_number", "creation_timestamp", "last_updated_timestamp"}),
    hints={"version": "use version_number", "current_stage": "use get_latest_versions for stages"},
)

# The flat relations searched: one row per live model / live version, with the searchable columns.
_MODELS_RELATION = (
    'SELECT "model_id", "name", "creation_timestamp", "last_updated_timestamp" '
    'FROM "registered_models" WHERE "deleted_timestamp" IS NULL'
)
_VERSIONS_RELATION = (
    'SELECT v."model_id", v."version", m."name", CAST(v."version" AS BIGINT) AS "version_number", '
    'v."run_id", v."source" AS "source_path", v."creation_timestamp", v."last_updated_timestamp" '
    'FROM "model_versions" v JOIN "registered_models" m ON m."model_id" = v."model_id" '
    'WHERE m."deleted_timestamp" IS NULL AND v."deleted_timestamp" IS NULL'
)

_SQL_IDENTIFIERS = frozenset(
    {
        "t", "g", "registered_model_tags", "model_version_tags",
        "model_id", "version", "name", "version_number", "run_id", "source_path",
        "creation_timestamp", "last_updated_timestamp", "key", "value",
    }
)  # fmt: skip

_OPERATORS = {"=": "=", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">=", "LIKE": "LIKE",
              "ILIKE": "ILIKE", "IN": "IN", "NOT IN": "NOT IN"}


def _quote_ident(*names: str) -> str:
    """Quote a whitelisted table or column name, or a dotted ``alias.column`` pair."""
    for name in names:
        if name not in _SQL_IDENTIFIERS:
            raise ValueError(f"{name!r} is not a whitelisted SQL identifier")
    return ".".join(f'"{name}"' for name in names)


@dataclass(frozen=True)
class _Target:
    relation: str
    schema: SearchSchema
    keys: tuple[str, ...]  # identity columns of a row, returned in result order
    tag_table: str


_MODELS = _Target(_MODELS_RELATION, REGISTERED_MODEL_SEARCH, ("model_id",), "registered_model_tags")
_VERSIONS = _Target(_VERSIONS_RELATION, MODEL_VERSION_SEARCH, ("model_id", "version"), "model_version_tags")


PROMPT_TAG = "mlflow.prompt.is_prompt"


def _tag_exists(target: _Target, key: str, params: list[object], extra: str = "") -> str:
    params.append(key)
    match = " AND ".join(f"{_quote_ident('g', k)} = {_quote_ident('t', k)}" for k in target.keys)
    return (f"EXISTS (SELECT 1 FROM {_quote_ident(target.tag_table)} {_quote_ident('g')} WHERE {match} "
            f"AND {_quote_ident('g', 'key')} = ?{extra})")


def _predicate(c: Comparison, target: _Target, params: list[object]) -> str:
    if c.identifier.entity == "attribute":
        column = _quote_ident("t", c.identifier.key)
        if isinstance(c.value, tuple):
            if not c.value:
                return "FALSE" if c.comparator == "IN" else "TRUE"
            params.extend(c.value)
            return f"{column} {_OPERATORS[c.comparator]} ({', '.join('?' * len(c.value))})"
        params.append(c.value)
        return f"{column} {_OPERATORS[c.comparator]} ?"
    if c.comparator == "IS NULL":
        return f"NOT {_tag_exists(target, c.identifier.key, params)}"
    if c.comparator == "IS NOT NULL":
        return _tag_exists(target, c.identifier.key, params)
    # MLflow marks prompts with a tag that ordinary models lack: there, a missing marker matches
    # `!= 'true'` and `= 'false'` (MLflow's client adds the first to every registered-model search).
    absent = ""
    if c.identifier.key == PROMPT_TAG and (c.comparator, c.value) in (("!=", "true"), ("=", "false")):
        absent = f"NOT {_tag_exists(target, c.identifier.key, params)} OR "
    exists = _tag_exists(target, c.identifier.key, params,
                         f" AND {_quote_ident('g', 'value')} {_OPERATORS[c.comparator]} ?")
    params.append(c.value)
    return f"({absent}{exists})" if absent else exists


def _compile(target: _Target, filter_string: str | None, order: Sequence[OrderBy], limit: int,
             offset: int) -> CompiledQuery:
    params: list[object] = []
    where = [_predicate(c, target, params) for c in parse_search_filter(filter_string, target.schema)]
    terms = ", ".join(
        f"{_quote_ident('t', o.identifier.key)} {'ASC' if o.ascending else 'DESC'} NULLS LAST" for o in order
    )
    params.extend([limit, offset])
    sql = (
        f"SELECT {', '.join(_quote_ident('t', k) for k in target.keys)} FROM ({target.relation}) "
        f"{_quote_ident('t')} WHERE {' AND '.join(where) or 'TRUE'} ORDER BY {terms} LIMIT ? OFFSET ?"
    )
    return CompiledQuery(sql, params)


def _with_defaults(order: Sequence[OrderBy], defaults: Mapping[str, bool]) -> list[OrderBy]:
    seen = {o.identifier.key for o in order}
    return list(order) + [OrderBy(Identifier("attribute", k), asc) for k, asc in defaults.items() if k not in seen]


def compile_search_registered_models(filter_string: str | None, order_by: Sequence[str] | None, limit: int,
                                     offset: int) -> CompiledQuery:
    """Compile an MLflow ``search_registered_models`` call to one query returning ``model_id``.

    Args:
        filter_string: Filter on ``name`` (``= != LIKE ILIKE``) and ``tags.<key>``.
        order_by: Clauses on ``name``, ``creation_timestamp``, ``last_updated_timestamp`` (alias
            ``timestamp``); ``name ASC`` breaks ties unless ordered already.
        limit: Maximum number of rows.
        offset: Rows to skip.

    Returns:
        The SQL and the values to bind, over the ``registered_models``/``registered_model_tags`` views.

    Raises:
        InvalidFilter: ``filter_string`` or ``order_by`` is invalid.

    Example:
        >>> q = compile_search_registered_models("name LIKE 'iris%'", None, limit=10, offset=0)
        >>> q.params
        ['iris%', 10, 0]
    """
    order = _with_defaults(parse_order_by(order_by, REGISTERED_MODEL_SEARCH), {"name": True})
    return _compile(_MODELS, filter_string, order, limit, offset)


def compile_search_model_versions(filter_string: str | None, order_by: Sequence[str] | None, limit: int,
                                  offset: int) -> CompiledQuery:
    """Compile an MLflow ``search_model_versions`` call to one query returning ``(model_id, version)``.

    Args:
        filter_string: Filter on ``name``, ``version_number`` (a number), ``run_id`` (also ``IN``),
            ``source_path`` and ``tags.<key>``.
        order_by: Clauses on ``name``, ``version_number``, ``creation_timestamp``,
            ``last_updated_timestamp``; then ``name ASC, version_number DESC`` break ties. Without
            clauses, MLflow's default: ``last_updated_timestamp DESC, name ASC, version_number DESC``.
        limit: Maximum number of rows.
        offset: Rows to skip.

    Returns:
        The SQL and the values to bind, over the ``model_versions``/``registered_models``/
        ``model_version_tags`` views.

    Raises:
        InvalidFilter: ``filter_string`` or ``order_by`` is invalid.

    Example:
        >>> q = compile_search_model_versions("name = 'iris' AND version_number > 1", None, 10, 0)
        >>> q.params
        ['iris', 1, 10, 0]
    """
    order = _with_defaults(parse_order_by(order_by or ["last_updated_timestamp DESC"], MODEL_VERSION_SEARCH),
                           {"name": True, "version_number": False})
    return _compile(_VERSIONS, filter_string, order, limit, offset)
