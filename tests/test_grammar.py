"""Unit tests for the search filter / order_by grammar (no database)."""

from __future__ import annotations

import pytest

from lite_tracker.errors import InvalidFilter, InvalidParameterValue
from lite_tracker.search import (
    EXPERIMENT_SEARCH,
    Comparison,
    Identifier,
    OrderBy,
    parse_order_by,
    parse_search_filter,
)


def one(filter_string: str) -> Comparison:
    (clause,) = parse_search_filter(filter_string)
    return clause


def cmp(entity: str, key: str, comparator: str, value: object) -> Comparison:
    return Comparison(Identifier(entity, key), comparator, value)  # type: ignore[arg-type]


def error_of(filter_string: str) -> InvalidFilter:
    with pytest.raises(InvalidFilter) as info:
        parse_search_filter(filter_string)
    return info.value


# -- empty filters ------------------------------------------------------------------------------


@pytest.mark.parametrize("empty", [None, "", "   ", "\t\n"])
def test_empty_filter_means_no_clause(empty: str | None) -> None:
    assert parse_search_filter(empty) == ()


# -- comparators per entity ---------------------------------------------------------------------


@pytest.mark.parametrize("op", ["=", "!=", "<", "<=", ">", ">="])
def test_metric_numeric_comparators(op: str) -> None:
    assert one(f"metrics.acc {op} 0.5") == cmp("metric", "acc", op, 0.5)


@pytest.mark.parametrize("op", ["=", "!=", "<", "<=", ">", ">="])
@pytest.mark.parametrize("key", ["start_time", "end_time"])
def test_numeric_attribute_comparators(op: str, key: str) -> None:
    assert one(f"{key} {op} 123") == cmp("attribute", key, op, 123)


@pytest.mark.parametrize("entity", ["param", "tag"])
@pytest.mark.parametrize("op", ["=", "!=", "LIKE", "ILIKE"])
def test_param_and_tag_string_comparators(entity: str, op: str) -> None:
    assert one(f"{entity}s.k {op} 'v%'") == cmp(entity, "k", op, "v%")


@pytest.mark.parametrize("entity", ["param", "tag"])
def test_param_and_tag_null_comparators(entity: str) -> None:
    assert one(f"{entity}.k IS NULL") == cmp(entity, "k", "IS NULL", None)
    assert one(f"{entity}.k IS NOT NULL") == cmp(entity, "k", "IS NOT NULL", None)


@pytest.mark.parametrize("key", ["run_id", "run_name", "user_id", "status", "artifact_uri"])
@pytest.mark.parametrize("op", ["=", "!=", "LIKE", "ILIKE"])
def test_string_attribute_comparators(key: str, op: str) -> None:
    assert one(f"attributes.{key} {op} 'x'") == cmp("attribute", key, op, "x")


def test_run_id_in_and_not_in() -> None:
    assert one("run_id IN ('a', \"b\",'c')") == cmp("attribute", "run_id", "IN", ("a", "b", "c"))
    assert one("attr.run_id NOT IN ('a')") == cmp("attribute", "run_id", "NOT IN", ("a",))


def test_numbers() -> None:
    values = [one(f"metrics.m = {text}").value for text in ["1", "-2", "0.5", "-.5", "1.", "1e3", "2.5E-2"]]
    assert values == [1, -2, 0.5, -0.5, 1.0, 1000.0, 0.025]
    assert isinstance(one("start_time > 5").value, int)
    assert one("metrics.m>=-1") == cmp("metric", "m", ">=", -1)


# -- aliases ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prefix", "entity"),
    [
        ("metric", "metric"),
        ("metrics", "metric"),
        ("param", "param"),
        ("params", "param"),
        ("parameter", "param"),
        ("parameters", "param"),
        ("tag", "tag"),
        ("tags", "tag"),
        ("`tags`", "tag"),
    ],
)
def test_entity_aliases(prefix: str, entity: str) -> None:
    value = "1" if entity == "metric" else "'1'"
    assert one(f"{prefix}.k = {value}").identifier == Identifier(entity, "k")  # type: ignore[arg-type]


@pytest.mark.parametrize("prefix", ["", "attribute.", "attributes.", "attr.", "run."])
def test_attribute_prefixes(prefix: str) -> None:
    assert one(f"{prefix}status = 'FINISHED'") == cmp("attribute", "status", "=", "FINISHED")


@pytest.mark.parametrize("alias", ["created", "Created", "`created`", "attributes.Created"])
def test_created_alias(alias: str) -> None:
    assert one(f"{alias} > 5") == cmp("attribute", "start_time", ">", 5)


@pytest.mark.parametrize("alias", ["`run name`", '"Run name"', "`Run Name`", "attributes.`run name`", 'run."Run Name"'])
def test_run_name_aliases(alias: str) -> None:
    assert one(f"{alias} = 'x'") == cmp("attribute", "run_name", "=", "x")


# -- quoting and dotted keys --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lhs", "key"),
    [
        ("params.lr", "lr"),
        ("params.`learning rate`", "learning rate"),
        ('params."learning rate"', "learning rate"),
        ("params.`a-b/c:d`", "a-b/c:d"),
        ("params.`it``s`", "it`s"),
        ("params.0_key", "0_key"),
        ("params.ключ", "ключ"),
        ("tags.mlflow.runName", "mlflow.runName"),
        ("tags.mlflow.source.git.commit", "mlflow.source.git.commit"),
        ("tags.`mlflow.user`", "mlflow.user"),
        ("params.AND", "AND"),
    ],
)
def test_keys(lhs: str, key: str) -> None:
    assert one(f"{lhs} = 'v'").identifier.key == key


@pytest.mark.parametrize(
    ("rhs", "value"),
    [
        ("'single'", "single"),
        ('"double"', "double"),
        ("''", ""),
        ("'it''s'", "it's"),
        ('"say ""hi"""', 'say "hi"'),
        ("'has \"double\" inside'", 'has "double" inside'),
        ("'back\\slash'", "back\\slash"),
        ("'  spaced  '", "  spaced  "),
        ("'; DROP TABLE runs; --'", "; DROP TABLE runs; --"),
        ("'2'", "2"),
    ],
)
def test_string_values(rhs: str, value: str) -> None:
    assert one(f"params.p = {rhs}").value == value


@pytest.mark.parametrize(
    "text",
    [
        "metrics.acc > 1 and params.a like 'x' AND tags.t ILike 'y' aNd params.b is not null",
        "METRICS.acc > 1 AND params.a LIKE 'x' AND tags.t ILIKE 'y' AND params.b IS NOT NULL",
    ],
)
def test_keywords_are_case_insensitive(text: str) -> None:
    text = text.replace("METRICS", "metrics")  # entity names are case-sensitive, keywords are not
    assert parse_search_filter(text) == (
        cmp("metric", "acc", ">", 1),
        cmp("param", "a", "LIKE", "x"),
        cmp("tag", "t", "ILIKE", "y"),
        cmp("param", "b", "IS NOT NULL", None),
    )
    assert one("run_id not in ('a')").comparator == "NOT IN"
    assert one("params.x Is Null").comparator == "IS NULL"


def test_whitespace_is_free_between_tokens() -> None:
    assert parse_search_filter("metrics.a>1 AND params.b='c'AND tags.t='d'") == (
        cmp("metric", "a", ">", 1),
        cmp("param", "b", "=", "c"),
        cmp("tag", "t", "=", "d"),
    )
    assert parse_search_filter("  metrics.a  >=  1  \n AND\tparams.b = 'c'  ") == (
        cmp("metric", "a", ">=", 1),
        cmp("param", "b", "=", "c"),
    )


def test_many_clauses_keep_their_order() -> None:
    clauses = parse_search_filter(" AND ".join(f"metrics.m{i} > {i}" for i in range(20)))
    assert [c.identifier.key for c in clauses] == [f"m{i}" for i in range(20)]


# -- errors with positions ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "position", "fragment"),
    [
        # wrong comparator for the entity
        ("metrics.acc LIKE 1", 12, "Invalid comparator 'LIKE' for metric 'acc'; allowed: =, !=, <"),
        ("metrics.acc IS NULL", 12, "for metric 'acc'"),
        ("params.p > '1'", 9, "Invalid comparator '>' for param 'p'; allowed: =, !=, LIKE, ILIKE, IS NULL"),
        ("tags.t < 'x'", 7, "for tag 't'"),
        ("start_time LIKE 'x'", 11, "for numeric attribute 'start_time'"),
        ("status > 'x'", 7, "for string attribute 'status'"),
        ("run_name IN ('a')", 9, "only supported for run_id"),
        ("params.p IN ('a')", 9, "Invalid comparator 'IN' for param 'p'"),
        ("metrics.m <> 1", 10, "Invalid comparator '<>'"),
        ("metrics.m == 1", 10, "Invalid comparator '=='"),
        ("params.p NOT LIKE 'x'", 13, "Expected IN after NOT"),
        ("params.p IS 'x'", 12, "Expected NULL after IS"),
        ("params.p IS NOT 'x'", 16, "Expected NULL after IS"),
        ("params.p 'x'", 9, "Expected a comparator"),
        ("params.p", 8, "Expected a comparator"),
        # wrong value type
        ("metrics.acc > '0.9'", 14, "Expected an unquoted number for metric 'acc'"),
        ('metrics.acc > "0.9"', 14, "Expected an unquoted number"),
        ("created > 'yesterday'", 10, "numeric attribute 'start_time'"),
        ("params.batch = 2", 15, "Expected a quoted string for param 'batch'"),
        ("tags.t = `x`", 9, "Expected a quoted string for tag 't'"),
        ("status = FINISHED", 9, "Expected a quoted string for string attribute 'status'"),
        ("metrics.acc >", 13, "got end of input"),
        ("run_id IN 'a'", 10, "Expected '(' to open a list"),
        ("run_id IN ()", 11, "Expected a quoted string in the list"),
        ("run_id IN ('a',)", 15, "Expected a quoted string in the list"),
        ("run_id IN ('a' 'b')", 15, "Expected ',' or ')'"),
        ("run_id IN ('a'", 14, "Expected ',' or ')'"),
        ("run_id IN (1)", 11, "Expected a quoted string in the list"),
        # unknown attributes and entities
        ("foo = 'x'", 0, "Invalid attribute key 'foo'; valid keys are artifact_uri, end_time, run_id"),
        ("experiment_id = '1'", 0, "pass experiment_ids to the search instead"),
        ("attributes.lifecycle_stage = 'deleted'", 11, "pass run_view_type"),
        ("metricz.acc > 1", 0, "Invalid entity type 'metricz'"),
        ("Metrics.acc > 1", 0, "Invalid entity type 'Metrics'"),
        ("dataset.source = 'x'", 8, "Invalid dataset key 'source'"),
        ("datasets.name > 'x'", 14, "Invalid comparator '>'"),
        ("model.name = 'x'", 0, "Invalid entity type 'model'"),
        ("run name = 'x'", 0, "Invalid attribute key 'run'"),
        # empty keys and malformed identifiers
        ("metrics. > 1", 8, "Empty key after 'metrics.'"),
        ("params.", 7, "Empty key after 'params.'"),
        ("params.`` = 'x'", 7, "Empty key"),
        ("tags.\"\" = 'x'", 5, "Empty key"),
        ("`` = 'x'", 0, "Empty key"),
        ("params .p = 'x'", 7, "Whitespace around '.'"),
        ("params. p = 'x'", 6, "Whitespace around '.'"),
        ("params.'p' = 'x'", 7, "Single quotes are for values"),
        ("'status' = 'x'", 0, "Single quotes are for values"),
        ("= 'x'", 0, "Expected an identifier"),
        ("params.learning-rate = 'x'", 15, "Unexpected character '-'"),
        # unterminated quotes
        ("params.p = 'abc", 11, "Unterminated quoted string: missing closing '"),
        ('params.p = "abc', 11, 'missing closing "'),
        ("params.`p = 'abc'", 7, "missing closing `"),
        ("params.p = 'it''s", 11, "Unterminated"),
        # boolean structure and trailing garbage
        ("metrics.a > 1 OR metrics.b > 2", 14, "OR is not supported; only AND can join clauses"),
        ("metrics.a > 1 or metrics.b > 2", 14, "OR is not supported"),
        ("metrics.a > 1 AND", 17, "Expected an identifier"),
        ("AND metrics.a > 1", 0, "Invalid attribute key 'AND'"),
        ("metrics.a > 1 metrics.b > 2", 14, "Expected AND or the end of the filter, got 'metrics'"),
        ("metrics.a > 1 2", 14, "Expected AND or the end of the filter, got number '2'"),
        ("(metrics.a > 1)", 0, "Expected an identifier"),
        ("NOT metrics.a > 1", 0, "Invalid attribute key 'NOT'"),
        ("metrics.a > 1;", 13, "Unexpected character ';'"),
        ("metrics.a > 1 -- comment", 14, "Unexpected character '-'"),
        ("metrics.a > 1 /* c */", 14, "Unexpected character '/'"),
        ("metrics.a > 1.2.3", 12, "Invalid number"),
        ("metrics.a > 10abc", 12, "Invalid number"),
        ("params.p = 'a' AND params.q = 'b' 'c'", 34, "Expected AND or the end"),
    ],
)
def test_errors_report_message_and_position(text: str, position: int, fragment: str) -> None:
    error = error_of(text)
    assert error.position == position
    assert fragment in error.message
    assert error.text == text
    assert error.error_code == "INVALID_PARAMETER_VALUE"
    assert isinstance(error, InvalidParameterValue)
    assert isinstance(error, ValueError)


# -- experiment schema --------------------------------------------------------------------------


def test_experiment_filter() -> None:
    parsed = parse_search_filter(
        "name LIKE 'exp%' AND creation_time > 5 AND last_update_time <= 9 AND tags.team = 'a' AND tags.t IS NULL",
        EXPERIMENT_SEARCH,
    )
    assert parsed == (
        cmp("attribute", "name", "LIKE", "exp%"),
        cmp("attribute", "creation_time", ">", 5),
        cmp("attribute", "last_update_time", "<=", 9),
        cmp("tag", "team", "=", "a"),
        cmp("tag", "t", "IS NULL", None),
    )


@pytest.mark.parametrize(
    ("text", "position", "fragment"),
    [
        ("metrics.acc > 1", 0, "Metrics cannot be used in experiment search filters; use attributes or tags"),
        ("params.p = 'x'", 0, "Params cannot be used"),
        ("run_id = 'x'", 0, "Invalid attribute key 'run_id'"),
        ("experiment_id = '1'", 0, "Invalid attribute key 'experiment_id'"),
        ("name IN ('a')", 5, "Invalid comparator 'IN' for string attribute 'name'"),
        ("creation_time > '1'", 16, "Expected an unquoted number"),
        ("name = 1", 7, "Expected a quoted string"),
    ],
)
def test_experiment_filter_errors(text: str, position: int, fragment: str) -> None:
    with pytest.raises(InvalidFilter) as info:
        parse_search_filter(text, EXPERIMENT_SEARCH)
    assert info.value.position == position
    assert fragment in info.value.message


# -- order_by -----------------------------------------------------------------------------------


def order(entity: str, key: str, ascending: bool = True) -> OrderBy:
    return OrderBy(Identifier(entity, key), ascending)  # type: ignore[arg-type]


def test_order_by_forms() -> None:
    assert parse_order_by(None) == ()
    assert parse_order_by([]) == ()
    assert parse_order_by(
        [
            "metrics.acc DESC",
            "params.lr asc",
            "tags.mlflow.runName",
            "`attributes`.start_time Desc",
            "metric.`my metric`",
            'param."my param" DESC',
            "run_id",
            "end_time  ASC ",
        ]
    ) == (
        order("metric", "acc", False),
        order("param", "lr"),
        order("tag", "mlflow.runName"),
        order("attribute", "start_time", False),
        order("metric", "my metric"),
        order("param", "my param", False),
        order("attribute", "run_id"),
        order("attribute", "end_time"),
    )
    assert parse_order_by(["created DESC"]) == (order("attribute", "start_time", False),)
    assert parse_order_by(["`Run Name`"]) == (order("attribute", "run_name"),)


def test_experiment_order_by() -> None:
    assert parse_order_by(
        ["name", "experiment_id DESC", "creation_time", "last_update_time desc"], EXPERIMENT_SEARCH
    ) == (
        order("attribute", "name"),
        order("attribute", "experiment_id", False),
        order("attribute", "creation_time"),
        order("attribute", "last_update_time", False),
    )


@pytest.mark.parametrize(
    ("clause", "position", "fragment"),
    [
        ("", 0, "Empty order_by clause"),
        ("   ", 3, "Empty order_by clause"),
        ("metrics.acc DOWN", 12, "Expected ASC, DESC or the end of the order_by clause, got 'DOWN'"),
        ("metrics.acc DESC ASC", 17, "Expected ASC, DESC"),
        ("metrics.acc, params.lr", 11, "Expected ASC, DESC or the end of the order_by clause, got ','"),
        ("metrics.", 8, "Empty key"),
        ("foo DESC", 0, "Invalid attribute key 'foo'"),
        ("lifecycle_stage", 0, "Invalid attribute key"),
        ("experiment_id", 0, "Invalid attribute key"),
        ("'metrics.acc'", 0, "Single quotes are for values"),
        ("metrics.acc; DROP TABLE runs", 11, "Unexpected character ';'"),
        ("metrics.acc DESC -- x", 17, "Unexpected character '-'"),
    ],
)
def test_order_by_errors(clause: str, position: int, fragment: str) -> None:
    with pytest.raises(InvalidFilter) as info:
        parse_order_by([clause])
    assert info.value.position == position
    assert fragment in info.value.message
    assert info.value.text == clause


@pytest.mark.parametrize(
    "clauses",
    [["metrics.acc", "metrics.acc DESC"], ["start_time", "created DESC"], ["params.`a`", 'params."a"']],
)
def test_order_by_duplicates_are_rejected(clauses: list[str]) -> None:
    with pytest.raises(InvalidFilter, match="duplicate"):
        parse_order_by(clauses)


def test_filter_must_be_a_string() -> None:
    with pytest.raises(InvalidFilter, match="filter_string must be a string, got list"):
        parse_search_filter(["metrics.acc > 1"])  # type: ignore[arg-type]


def test_order_by_must_be_a_list_of_strings() -> None:
    with pytest.raises(InvalidFilter, match="list of strings"):
        parse_order_by("metrics.acc DESC")
    with pytest.raises(InvalidFilter, match="must be strings"):
        parse_order_by([1])  # type: ignore[list-item]


@pytest.mark.parametrize(
    ("clause", "fragment"),
    [("metrics.acc", "Metrics cannot be used in experiment search order_by"), ("tags.t", "Tags cannot")],
)
def test_experiment_order_by_only_attributes(clause: str, fragment: str) -> None:
    with pytest.raises(InvalidFilter, match=fragment):
        parse_order_by([clause], EXPERIMENT_SEARCH)


def test_ast_is_frozen_and_hashable() -> None:
    clause = one("metrics.acc > 1")
    with pytest.raises(AttributeError):
        clause.value = 2  # type: ignore[misc]
    assert len({clause, one("metrics.acc > 1")}) == 1
