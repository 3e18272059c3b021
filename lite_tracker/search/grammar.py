"""Tokenizer and recursive-descent parser for MLflow's search filter and ``order_by`` syntax.

The grammar (MLflow 3.x, ``mlflow/utils/search_utils.py``)::

    filter     := clause ( AND clause )*
    clause     := identifier comparator value
                | identifier IS [NOT] NULL
                | identifier [NOT] IN "(" string ( "," string )* ")"
    identifier := [entity "."] key          -- split on the first dot: tags.mlflow.runName
    entity     := metric | metrics | param | params | parameter | parameters
                | tag | tags | attribute | attributes | attr | run | dataset | datasets
    key        := bare | `backticked` | "double-quoted"
    value      := number | 'single-quoted' | "double-quoted"
    order_by   := identifier [ ASC | DESC ]

Keywords are case-insensitive; entity names and attribute keys are not (MLflow lists ``Created`` and
``Run Name`` as separate aliases). Inside a quoted string a doubled quote character stands for one quote
(``'it''s'``). The parser validates everything it can (entity, attribute, comparator, value type) and
raises :class:`~lite_tracker.errors.InvalidFilter` with the 0-based position of the offending token, so
the compiler only ever sees well-typed clauses.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from lite_tracker.errors import InvalidFilter

Entity = Literal["metric", "param", "tag", "attribute", "dataset"]
Comparator = Literal["=", "!=", "<", "<=", ">", ">=", "LIKE", "ILIKE", "IN", "NOT IN", "IS NULL", "IS NOT NULL"]
Value = int | float | str | tuple[str, ...] | None

NUMERIC_COMPARATORS: tuple[Comparator, ...] = ("=", "!=", "<", "<=", ">", ">=")
STRING_COMPARATORS: tuple[Comparator, ...] = ("=", "!=", "LIKE", "ILIKE")
LIST_COMPARATORS: tuple[Comparator, ...] = ("IN", "NOT IN")
# MLflow documents no limit. Past a few hundred clauses DuckDB plans the query for minutes (holding the
# store's read lock), and at about a thousand it refuses it: filters stop at 100 clauses.
MAX_CLAUSES = 100
NULL_COMPARATORS: tuple[Comparator, ...] = ("IS NULL", "IS NOT NULL")

_ENTITY_NAMES: Mapping[str, Entity] = {
    "metric": "metric",
    "metrics": "metric",
    "param": "param",
    "params": "param",
    "parameter": "param",
    "parameters": "param",
    "tag": "tag",
    "tags": "tag",
    "attribute": "attribute",
    "attributes": "attribute",
    "attr": "attribute",
    "run": "attribute",
    "dataset": "dataset",
    "datasets": "dataset",
}
# What a run's dataset inputs can be searched by (MLflow's ``datasets.<key>``).
DATASET_KEYS = frozenset({"name", "digest", "context"})


@dataclass(frozen=True)
class Identifier:
    """A searchable field: ``entity`` plus its ``key`` (attribute keys are canonical column names)."""

    entity: Entity
    key: str


@dataclass(frozen=True)
class Comparison:
    """One ``identifier comparator value`` clause of a filter.

    ``value`` is an ``int``/``float`` for metrics and numeric attributes, a ``str`` for params, tags and
    string attributes, a ``tuple[str, ...]`` for ``IN``/``NOT IN`` and ``None`` for ``IS [NOT] NULL``.
    """

    identifier: Identifier
    comparator: Comparator
    value: Value


@dataclass(frozen=True)
class OrderBy:
    """One ``order_by`` clause; missing values always sort last whatever the direction."""

    identifier: Identifier
    ascending: bool = True


@dataclass(frozen=True)
class SearchSchema:
    """What one kind of search (runs or experiments) accepts.

    Attributes:
        subject: Name used in error messages ("run", "experiment").
        entities: Entities allowed in a filter.
        numeric_attributes: Attribute keys compared with numbers.
        string_attributes: Attribute keys compared with strings.
        list_attributes: String attributes that also accept ``IN``/``NOT IN``.
        aliases: Alternative attribute names mapped to their canonical key.
        order_entities: Entities allowed in ``order_by``.
        order_attributes: Attribute keys allowed in ``order_by`` (after alias translation).
        hints: Extra advice for attribute keys that exist but are not searchable.
    """

    subject: str
    entities: frozenset[Entity]
    numeric_attributes: frozenset[str]
    string_attributes: frozenset[str]
    list_attributes: frozenset[str] = frozenset()
    aliases: Mapping[str, str] = field(default_factory=dict)
    order_entities: frozenset[Entity] = frozenset({"attribute"})
    order_attributes: frozenset[str] = frozenset()
    hints: Mapping[str, str] = field(default_factory=dict)

    def is_numeric(self, identifier: Identifier) -> bool:
        """Whether ``identifier`` is compared with numbers (metrics and numeric attributes)."""
        return identifier.entity == "metric" or (
            identifier.entity == "attribute" and identifier.key in self.numeric_attributes
        )

    def comparators(self, identifier: Identifier) -> tuple[Comparator, ...]:
        """The comparators allowed for ``identifier`` under this schema."""
        if self.is_numeric(identifier):
            return NUMERIC_COMPARATORS
        if identifier.entity in ("param", "tag"):
            return STRING_COMPARATORS + NULL_COMPARATORS
        if identifier.entity == "dataset" or identifier.key in self.list_attributes:
            return STRING_COMPARATORS + LIST_COMPARATORS
        return STRING_COMPARATORS


RUN_SEARCH = SearchSchema(
    subject="run",
    entities=frozenset({"metric", "param", "tag", "attribute", "dataset"}),
    numeric_attributes=frozenset({"start_time", "end_time"}),
    string_attributes=frozenset({"run_id", "run_name", "user_id", "status", "artifact_uri"}),
    list_attributes=frozenset({"run_id"}),
    aliases={
        "created": "start_time",
        "Created": "start_time",
        "run name": "run_name",
        "Run name": "run_name",
        "Run Name": "run_name",
    },
    order_entities=frozenset({"metric", "param", "tag", "attribute"}),
    order_attributes=frozenset({"start_time", "end_time", "run_id", "run_name", "user_id", "status", "artifact_uri"}),
    hints={
        "experiment_id": "pass experiment_ids to the search instead",
        "lifecycle_stage": "pass run_view_type to the search instead",
    },
)

EXPERIMENT_SEARCH = SearchSchema(
    subject="experiment",
    entities=frozenset({"tag", "attribute"}),
    numeric_attributes=frozenset({"creation_time", "last_update_time"}),
    string_attributes=frozenset({"name"}),
    order_attributes=frozenset({"name", "experiment_id", "creation_time", "last_update_time"}),
    hints={"lifecycle_stage": "pass view_type to the search instead"},
)


# --------------------------------------------------------------------------------------------------
# Tokenizer


class _Kind(enum.Enum):
    WORD = "word"
    NUMBER = "number"
    SQUOTED = "single-quoted string"
    DQUOTED = "double-quoted string"
    BACKTICKED = "backticked name"
    OP = "operator"
    LPAREN = "'('"
    RPAREN = "')'"
    COMMA = "','"
    DOT = "'.'"
    END = "end of input"


@dataclass(frozen=True)
class _Token:
    kind: _Kind
    text: str  # decoded text: quotes removed and doubled quotes collapsed
    start: int
    end: int


_NAME_KINDS = (_Kind.WORD, _Kind.BACKTICKED, _Kind.DQUOTED, _Kind.SQUOTED)
_QUOTES = {"'": _Kind.SQUOTED, '"': _Kind.DQUOTED, "`": _Kind.BACKTICKED}
_PUNCTUATION = {"(": _Kind.LPAREN, ")": _Kind.RPAREN, ",": _Kind.COMMA, ".": _Kind.DOT}
_OPERATORS = ("<=", ">=", "!=", "<>", "==", "=", "<", ">")
_NUMBER = re.compile(r"-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?")
_WORD = re.compile(r"[^\W\d]\w*")
_KEY_WORD = re.compile(r"\w+")  # after a dot a bare key may start with a digit: metrics.0_acc


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i = 0
    while i < len(text):
        ch = text[i]
        previous = tokens[-1].kind if tokens else None
        if ch.isspace():
            i += 1
        elif ch in _QUOTES:
            decoded, end = _read_quoted(text, i)
            tokens.append(_Token(_QUOTES[ch], decoded, i, end))
            i = end
        elif previous is _Kind.DOT and (m := _KEY_WORD.match(text, i)):
            tokens.append(_Token(_Kind.WORD, m.group(), i, m.end()))
            i = m.end()
        elif not _glued_to_name(tokens, i) and (m := _NUMBER.match(text, i)):
            if m.end() < len(text) and (text[m.end()].isalnum() or text[m.end()] in "_."):
                raise InvalidFilter(f"Invalid number {text[i : m.end() + 1]!r}", text, i)
            tokens.append(_Token(_Kind.NUMBER, m.group(), i, m.end()))
            i = m.end()
        elif m := _WORD.match(text, i):
            tokens.append(_Token(_Kind.WORD, m.group(), i, m.end()))
            i = m.end()
        elif ch in _PUNCTUATION:
            tokens.append(_Token(_PUNCTUATION[ch], ch, i, i + 1))
            i += 1
        elif op := next((op for op in _OPERATORS if text.startswith(op, i)), None):
            tokens.append(_Token(_Kind.OP, op, i, i + len(op)))
            i += len(op)
        else:
            raise InvalidFilter(
                f"Unexpected character {ch!r}; quote keys with backticks and values with quotes", text, i
            )
    tokens.append(_Token(_Kind.END, "", len(text), len(text)))
    return tokens


def _glued_to_name(tokens: list[_Token], i: int) -> bool:
    """True if a name token ends right at ``i``: ``lr-1`` is a malformed key, not ``lr`` and ``-1``."""
    return bool(tokens) and tokens[-1].end == i and tokens[-1].kind in _NAME_KINDS


def _read_quoted(text: str, start: int) -> tuple[str, int]:
    """Read the quoted string opening at ``start``; return its decoded text and the index after it."""
    quote = text[start]
    parts: list[str] = []
    i = start + 1
    while True:
        j = text.find(quote, i)
        if j < 0:
            raise InvalidFilter(f"Unterminated quoted string: missing closing {quote}", text, start)
        parts.append(text[i:j])
        if text.startswith(quote * 2, j):  # a doubled quote is one literal quote character
            parts.append(quote)
            i = j + 2
        else:
            return "".join(parts), j + 1


# --------------------------------------------------------------------------------------------------
# Parser


def _describe(token: _Token) -> str:
    if token.kind is _Kind.END:
        return "end of input"
    if token.kind in (_Kind.NUMBER, _Kind.SQUOTED, _Kind.DQUOTED, _Kind.BACKTICKED):
        return f"{token.kind.value} {token.text!r}"
    return repr(token.text)


class _Parser:
    """Recursive-descent parser over the token list of one filter or order_by string."""

    def __init__(self, text: str, schema: SearchSchema) -> None:
        self.text = text
        self.schema = schema
        self.tokens = _tokenize(text)
        self.index = 0

    # -- helpers -------------------------------------------------------------------------------

    def peek(self) -> _Token:
        return self.tokens[self.index]

    def advance(self) -> _Token:
        token = self.tokens[self.index]
        if token.kind is not _Kind.END:
            self.index += 1
        return token

    def error(self, message: str, token: _Token | int) -> InvalidFilter:
        position = token if isinstance(token, int) else token.start
        return InvalidFilter(message, self.text, position)

    def at_keyword(self, *words: str) -> bool:
        token = self.peek()
        return token.kind is _Kind.WORD and token.text.upper() in words

    def expect_end(self, expected: str) -> None:
        token = self.peek()
        if token.kind is _Kind.END:
            return
        if token.kind is _Kind.WORD and token.text.upper() == "OR":
            raise self.error("OR is not supported; only AND can join clauses", token)
        raise self.error(f"Expected {expected}, got {_describe(token)}", token)

    # -- grammar -------------------------------------------------------------------------------

    def filter(self) -> tuple[Comparison, ...]:
        if self.peek().kind is _Kind.END:
            return ()
        clauses = [self.clause()]
        while self.at_keyword("AND"):
            token = self.advance()
            if len(clauses) == MAX_CLAUSES:
                raise self.error(f"A filter may hold at most {MAX_CLAUSES} clauses joined by AND; split the "
                                 "search, or narrow it with fewer clauses", token)
            clauses.append(self.clause())
        self.expect_end("AND or the end of the filter")
        return tuple(clauses)

    def order_by(self) -> OrderBy:
        first = self.peek()
        if first.kind is _Kind.END:
            raise self.error("Empty order_by clause; expected '<identifier> [ASC|DESC]'", first)
        identifier = self.identifier(for_order_by=True)
        ascending = True
        if self.at_keyword("ASC", "DESC"):
            ascending = self.advance().text.upper() == "ASC"
        self.expect_end("ASC, DESC or the end of the order_by clause")
        return OrderBy(identifier, ascending)

    def identifier(self, for_order_by: bool = False) -> Identifier:
        start = self.peek()
        parts = [self.name_part()]
        while self.peek().kind is _Kind.DOT:
            dot = self.advance()
            if self.peek().kind not in _NAME_KINDS:
                raise self.error(f"Empty key after '{parts[0][0]}.'", dot.end)
            if dot.start != self.tokens[self.index - 2].end or self.peek().start != dot.end:
                raise self.error("Whitespace around '.' in an identifier; write entity.key", dot)
            parts.append(self.name_part())

        if len(parts) == 1:
            entity: Entity = "attribute"
            key, key_token = parts[0]
        else:
            name, entity_token = parts[0]
            found = _ENTITY_NAMES.get(name)
            if found is None:
                raise self.error(
                    f"Invalid entity type {name!r}; valid entities are metric(s), param(s), "
                    "parameter(s), tag(s), attribute(s), attr, run and dataset(s)",
                    entity_token,
                )
            entity = found
            key, key_token = ".".join(p[0] for p in parts[1:]), parts[1][1]
        if not key:
            raise self.error("Empty key; give the name of the metric, param, tag or attribute", key_token)

        allowed = self.schema.order_entities if for_order_by else self.schema.entities
        if entity not in allowed:
            names = " or ".join(sorted(e + "s" for e in allowed))
            what = "order_by" if for_order_by else "filters"
            raise self.error(
                f"{entity.capitalize()}s cannot be used in {self.schema.subject} search {what}; use {names}",
                start,
            )
        if entity == "dataset" and key not in DATASET_KEYS:
            raise self.error(
                f"Invalid dataset key {key!r}; valid keys are {', '.join(sorted(DATASET_KEYS))}", key_token
            )
        if entity == "attribute":
            key = self.schema.aliases.get(key, key)
            valid = (
                self.schema.order_attributes
                if for_order_by
                else self.schema.numeric_attributes | self.schema.string_attributes
            )
            if key not in valid:
                hint = self.schema.hints.get(key)
                hint = f" ({hint})" if hint else ""
                raise self.error(
                    f"Invalid attribute key {key!r}{hint}; valid keys are {', '.join(sorted(valid))}",
                    key_token,
                )
        return Identifier(entity, key)

    def name_part(self) -> tuple[str, _Token]:
        token = self.advance()
        if token.kind in (_Kind.WORD, _Kind.BACKTICKED, _Kind.DQUOTED):
            return token.text, token
        if token.kind is _Kind.SQUOTED:
            raise self.error("Single quotes are for values; quote a key with backticks or double quotes", token)
        raise self.error(f"Expected an identifier such as metrics.acc, got {_describe(token)}", token)

    def clause(self) -> Comparison:
        identifier = self.identifier()
        written, comparator_token = self.comparator()
        allowed = self.schema.comparators(identifier)
        comparator = next((c for c in allowed if c == written), None)
        if comparator is None:
            hint = ""
            if written in LIST_COMPARATORS and self.schema.list_attributes:
                supported = ", ".join(sorted(self.schema.list_attributes))
                hint = f" (IN and NOT IN are only supported for {supported})"
            raise self.error(
                f"Invalid comparator {written!r} for {self.label(identifier)}; allowed: {', '.join(allowed)}{hint}",
                comparator_token,
            )
        if comparator in NULL_COMPARATORS:
            return Comparison(identifier, comparator, None)
        if comparator in LIST_COMPARATORS:
            return Comparison(identifier, comparator, self.string_list())
        if self.schema.is_numeric(identifier):
            return Comparison(identifier, comparator, self.number(identifier))
        return Comparison(identifier, comparator, self.string(identifier))

    def label(self, identifier: Identifier) -> str:
        if identifier.entity != "attribute":
            return f"{identifier.entity} {identifier.key!r}"
        kind = "numeric" if identifier.key in self.schema.numeric_attributes else "string"
        return f"{kind} attribute {identifier.key!r}"

    def comparator(self) -> tuple[str, _Token]:
        token = self.advance()
        if token.kind is _Kind.OP:
            return token.text, token
        word = token.text.upper() if token.kind is _Kind.WORD else ""
        if word in ("LIKE", "ILIKE", "IN"):
            return word, token
        if word == "NOT":
            if not self.at_keyword("IN"):
                raise self.error("Expected IN after NOT (NOT IN is the only negated comparator)", self.peek())
            self.advance()
            return "NOT IN", token
        if word == "IS":
            negated = self.at_keyword("NOT")
            if negated:
                self.advance()
            if not self.at_keyword("NULL"):
                raise self.error("Expected NULL after IS / IS NOT", self.peek())
            self.advance()
            return ("IS NOT NULL" if negated else "IS NULL"), token
        raise self.error(
            "Expected a comparator (=, !=, <, <=, >, >=, LIKE, ILIKE, IN, NOT IN, IS NULL, IS NOT NULL), "
            f"got {_describe(token)}",
            token,
        )

    def number(self, identifier: Identifier) -> int | float:
        token = self.advance()
        if token.kind is not _Kind.NUMBER:
            example = "metrics.acc > 0.9" if identifier.entity == "metric" else f"{identifier.key} > 0"
            raise self.error(
                f"Expected an unquoted number for {self.label(identifier)} (e.g. {example}), got {_describe(token)}",
                token,
            )
        if re.fullmatch(r"-?\d+", token.text):
            return int(token.text)
        return float(token.text)

    def string(self, identifier: Identifier) -> str:
        token = self.advance()
        if token.kind not in (_Kind.SQUOTED, _Kind.DQUOTED):
            raise self.error(
                f"Expected a quoted string for {self.label(identifier)} "
                f"(e.g. {identifier.entity}s.{identifier.key} = 'value'), got {_describe(token)}",
                token,
            )
        return token.text

    def string_list(self) -> tuple[str, ...]:
        token = self.advance()
        if token.kind is not _Kind.LPAREN:
            raise self.error(f"Expected '(' to open a list of quoted strings, got {_describe(token)}", token)
        items: list[str] = []
        while True:
            token = self.advance()
            if token.kind not in (_Kind.SQUOTED, _Kind.DQUOTED):
                raise self.error(f"Expected a quoted string in the list, got {_describe(token)}", token)
            items.append(token.text)
            token = self.advance()
            if token.kind is _Kind.RPAREN:
                return tuple(items)
            if token.kind is not _Kind.COMMA:
                raise self.error(f"Expected ',' or ')' in the list, got {_describe(token)}", token)


# --------------------------------------------------------------------------------------------------
# Public API


def parse_search_filter(filter_string: str | None, schema: SearchSchema = RUN_SEARCH) -> tuple[Comparison, ...]:
    """Parse an MLflow search filter into AND-joined comparisons.

    Args:
        filter_string: The filter, e.g. ``"metrics.acc > 0.9 AND params.opt = 'adam'"``.
            ``None``, ``""`` and whitespace mean "no filter".
        schema: What may be searched: :data:`RUN_SEARCH` (default) or :data:`EXPERIMENT_SEARCH`.

    Returns:
        The clauses in the order written.

    Raises:
        InvalidFilter: The filter cannot be parsed or breaks a rule; ``position`` is the 0-based
            offset of the offending token.

    Example:
        >>> parse_search_filter("metrics.acc > 0.9")
        (Comparison(identifier=Identifier(entity='metric', key='acc'), comparator='>', value=0.9),)
    """
    if not filter_string:
        return ()
    if not isinstance(filter_string, str):
        raise InvalidFilter(f"filter_string must be a string, got {type(filter_string).__name__}")
    return _Parser(filter_string, schema).filter()


def parse_order_by(order_by: Sequence[str] | None, schema: SearchSchema = RUN_SEARCH) -> tuple[OrderBy, ...]:
    """Parse MLflow ``order_by`` clauses (``"<identifier> [ASC|DESC]"``), first clause first.

    Args:
        order_by: Clauses such as ``["metrics.acc DESC", "params.lr"]``; ``None`` means none.
        schema: :data:`RUN_SEARCH` (default) or :data:`EXPERIMENT_SEARCH`.

    Returns:
        One :class:`OrderBy` per clause.

    Raises:
        InvalidFilter: A clause cannot be parsed, names something not orderable, or a field is
            ordered twice.

    Example:
        >>> parse_order_by(["metrics.acc DESC"])
        (OrderBy(identifier=Identifier(entity='metric', key='acc'), ascending=False),)
    """
    if isinstance(order_by, str):
        raise InvalidFilter(f"order_by must be a list of strings, got the string {order_by!r}")
    parsed: list[OrderBy] = []
    for clause in order_by or ():
        if not isinstance(clause, str):
            raise InvalidFilter(f"order_by clauses must be strings, got {clause!r}")
        item = _Parser(clause, schema).order_by()
        if any(p.identifier == item.identifier for p in parsed):
            raise InvalidFilter(f"order_by contains duplicate fields: {list(order_by or ())}", clause, 0)
        parsed.append(item)
    return tuple(parsed)
