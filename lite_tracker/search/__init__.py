"""MLflow-compatible search: filter/order_by grammar, compilation to DuckDB SQL, and paging.

``parse_search_filter``/``parse_order_by`` turn MLflow's syntax into a typed AST;
``compile_search_runs``/``compile_search_experiments`` turn a search into a :class:`CompiledQuery`
(SQL with ``?`` placeholders plus bound values); ``paging`` handles page tokens and ``max_results``.
"""

from lite_tracker.search.compile import CompiledQuery, compile_search_experiments, compile_search_runs
from lite_tracker.search.grammar import (
    EXPERIMENT_SEARCH,
    RUN_SEARCH,
    Comparison,
    Identifier,
    OrderBy,
    SearchSchema,
    parse_order_by,
    parse_search_filter,
)
from lite_tracker.search.paging import decode_page_token, encode_page_token, validate_max_results

__all__ = [
    "EXPERIMENT_SEARCH",
    "RUN_SEARCH",
    "Comparison",
    "CompiledQuery",
    "Identifier",
    "OrderBy",
    "SearchSchema",
    "compile_search_experiments",
    "compile_search_runs",
    "decode_page_token",
    "encode_page_token",
    "parse_order_by",
    "parse_search_filter",
    "validate_max_results",
]
