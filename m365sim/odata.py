"""OData query options: normalisation, a small $filter parser/evaluator, $orderby, paging."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .clock import parse_datetime
from .errors import GraphError, bad_request

SYSTEM_OPTIONS = {
    "select", "filter", "top", "skip", "expand", "orderby", "count", "search",
    "skiptoken", "deltatoken", "format",
}  # fmt: skip


def normalize_query(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """Graph accepts ``$select`` and ``select`` alike, case-insensitively."""
    result: dict[str, str] = {}
    for key, value in pairs:
        lowered = key.lower()
        if lowered.startswith("$"):
            lowered = lowered[1:]
            key = "$" + lowered
        elif lowered in SYSTEM_OPTIONS:
            key = "$" + lowered
        if key not in result:
            result[key] = value
    return result


def parse_int(query: dict[str, str], name: str, minimum: int = 0, maximum: int | None = None) -> int | None:
    raw = query.get(name)
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError as exc:
        raise bad_request(f"Invalid value '{raw}' for query option '{name}'.") from exc
    if value < minimum or (maximum is not None and value > maximum):
        raise bad_request(f"Invalid value '{raw}' for query option '{name}'.", "ErrorInvalidUrlQuery")
    return value


# $filter -------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>'(?:[^']|'')*')
      | (?P<datetime>\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})?)?)
      | (?P<number>-?\d+(?:\.\d+)?)
      | (?P<punct>[(),:/])
      | (?P<word>[A-Za-z_][A-Za-z0-9_.\-]*)
    )""",
    re.VERBOSE,
)

COMPARISONS = {"eq", "ne", "gt", "ge", "lt", "le"}


@dataclass
class Token:
    kind: str
    value: str


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise bad_request(f"Invalid filter clause: syntax error at position {pos} in '{text}'.")
        kind = match.lastgroup or ""
        tokens.append(Token(kind, match.group(kind)))
        pos = match.end()
    return tokens


# A compiled predicate takes an entity and a property accessor.
Accessor = Callable[[Any, list[str]], Any]
Predicate = Callable[[Any, Accessor, dict[str, Any]], Any]


@dataclass
class Filter:
    predicate: Predicate
    properties: list[str]  # property paths in order of appearance (for Outlook's InefficientFilter)

    def matches(self, entity: Any, accessor: Accessor) -> bool:
        return bool(self.predicate(entity, accessor, {}))


class _Parser:
    def __init__(self, text: str, known: dict[str, str], type_name: str) -> None:
        self.tokens = tokenize(text)
        self.pos = 0
        self.known = known  # lower-case path -> kind ("string", "bool", "datetime", "collection", ...)
        self.type_name = type_name
        self.properties: list[str] = []
        self.lambda_vars: set[str] = set()

    def peek(self) -> Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> Token:
        token = self.peek()
        if token is None:
            raise bad_request("Invalid filter clause: unexpected end of expression.")
        self.pos += 1
        return token

    def expect(self, value: str) -> None:
        token = self.take()
        if token.value.lower() != value:
            raise bad_request(f"Invalid filter clause: expected '{value}' but found '{token.value}'.")

    def parse(self) -> Predicate:
        predicate = self.expr()
        if self.peek() is not None:
            raise bad_request(f"Invalid filter clause: unexpected '{self.peek().value}'.")  # type: ignore[union-attr]
        return predicate

    def expr(self) -> Predicate:
        left = self.and_expr()
        while (tok := self.peek()) and tok.kind == "word" and tok.value.lower() == "or":
            self.take()
            right = self.and_expr()
            left = (lambda a, b: lambda e, g, v: a(e, g, v) or b(e, g, v))(left, right)
        return left

    def and_expr(self) -> Predicate:
        left = self.unary()
        while (tok := self.peek()) and tok.kind == "word" and tok.value.lower() == "and":
            self.take()
            right = self.unary()
            left = (lambda a, b: lambda e, g, v: a(e, g, v) and b(e, g, v))(left, right)
        return left

    def unary(self) -> Predicate:
        tok = self.peek()
        if tok and tok.kind == "word" and tok.value.lower() == "not":
            self.take()
            inner = self.unary()
            return lambda e, g, v: not inner(e, g, v)
        return self.comparison()

    def comparison(self) -> Predicate:
        left = self.operand()
        tok = self.peek()
        if tok and tok.kind == "word" and tok.value.lower() in COMPARISONS:
            op = self.take().value.lower()
            right = self.operand()
            return _compare(op, left, right)
        return left

    def operand(self) -> Predicate:
        tok = self.take()
        if tok.kind == "punct" and tok.value == "(":
            inner = self.expr()
            self.expect(")")
            return inner
        if tok.kind == "string":
            text = tok.value[1:-1].replace("''", "'")
            return lambda e, g, v: text
        if tok.kind == "datetime":
            try:
                moment = parse_datetime(tok.value)
            except ValueError as exc:
                raise bad_request(f"Invalid datetime literal '{tok.value}'.") from exc
            return lambda e, g, v: moment
        if tok.kind == "number":
            number = float(tok.value)
            return lambda e, g, v: number
        if tok.kind == "word":
            word = tok.value
            lowered = word.lower()
            if lowered in ("true", "false"):
                flag = lowered == "true"
                return lambda e, g, v: flag
            if lowered == "null":
                return lambda e, g, v: None
            nxt = self.peek()
            if nxt and nxt.kind == "punct" and nxt.value == "(":
                return self.function(lowered)
            return self.path(word)
        raise bad_request(f"Invalid filter clause: unexpected '{tok.value}'.")

    def function(self, name: str) -> Predicate:
        if name not in ("contains", "startswith", "endswith"):
            raise GraphError(400, "ErrorInvalidUrlQueryFilter", f"The function '{name}' is not supported.")
        self.expect("(")
        first = self.operand()
        self.expect(",")
        second = self.operand()
        self.expect(")")

        def call(e: Any, g: Accessor, v: dict[str, Any]) -> bool:
            haystack, needle = first(e, g, v), second(e, g, v)
            if not isinstance(haystack, str) or not isinstance(needle, str):
                return False
            h, n = haystack.lower(), needle.lower()
            if name == "contains":
                return n in h
            if name == "startswith":
                return h.startswith(n)
            return h.endswith(n)

        return call

    def path(self, first: str) -> Predicate:
        segments = [first]
        while (tok := self.peek()) and tok.kind == "punct" and tok.value == "/":
            self.take()
            seg = self.take()
            if seg.kind != "word":
                raise bad_request("Invalid filter clause: bad property path.")
            if seg.value.lower() in ("any", "all"):
                return self.lambda_expr(segments, seg.value.lower())
            segments.append(seg.value)
        if segments[0] in self.lambda_vars:
            inner_path = [s for s in segments[1:]]
            var = segments[0]

            def lambda_value(e: Any, g: Accessor, v: dict[str, Any]) -> Any:
                value = v.get(var)
                for seg in inner_path:
                    value = value.get(_camel(seg)) if isinstance(value, dict) else None
                return value

            return lambda_value
        key = "/".join(s.lower() for s in segments)
        if key not in self.known:
            raise bad_request(f"Could not find a property named '{first}' on type '{self.type_name}'.")
        if key not in self.properties:
            self.properties.append(key)
        return lambda e, g, v: g(e, key.split("/"))

    def lambda_expr(self, collection: list[str], kind: str) -> Predicate:
        key = "/".join(s.lower() for s in collection)
        if self.known.get(key) != "collection":
            raise bad_request(f"'{key}' is not a collection that supports lambda operators.")
        if key not in self.properties:
            self.properties.append(key)
        self.expect("(")
        var = self.take().value
        self.expect(":")
        self.lambda_vars.add(var)
        body = self.expr()
        self.lambda_vars.discard(var)
        self.expect(")")

        def evaluate(e: Any, g: Accessor, v: dict[str, Any]) -> bool:
            items = g(e, key.split("/")) or []
            results = (body(e, g, {**v, var: item}) for item in items)
            return any(results) if kind == "any" else all(results)

        return evaluate


def _camel(segment: str) -> str:
    return segment[0].lower() + segment[1:] if segment else segment


def _compare(op: str, left: Predicate, right: Predicate) -> Predicate:
    def compare(e: Any, g: Accessor, v: dict[str, Any]) -> bool:
        a, b = left(e, g, v), right(e, g, v)
        if isinstance(a, datetime) != isinstance(b, datetime) and None not in (a, b):
            raise bad_request(
                "A binary operator with incompatible types was detected. Found operand types "
                "'Edm.DateTimeOffset' and 'Edm.String'."
            )
        if isinstance(a, str) and isinstance(b, str):
            a, b = a.lower(), b.lower()  # Exchange string comparisons are case-insensitive
        if op == "eq":
            return a == b
        if op == "ne":
            return a != b
        if a is None or b is None:
            return False
        try:
            if op == "gt":
                return a > b
            if op == "ge":
                return a >= b
            if op == "lt":
                return a < b
            return a <= b
        except TypeError as exc:
            raise bad_request("Invalid filter clause: incompatible operand types.") from exc

    return compare


def parse_filter(text: str, known: dict[str, str], type_name: str) -> Filter:
    parser = _Parser(text, known, type_name)
    return Filter(parser.parse(), parser.properties)


def parse_orderby(text: str, known: dict[str, str], type_name: str) -> list[tuple[str, bool]]:
    """``receivedDateTime desc, subject`` -> [(path, descending)]."""
    result = []
    for clause in text.split(","):
        parts = clause.strip().split()
        if not parts:
            continue
        key = parts[0].lower()
        if key not in known:
            raise bad_request(f"Could not find a property named '{parts[0]}' on type '{type_name}'.")
        descending = len(parts) > 1 and parts[1].lower() == "desc"
        result.append((key, descending))
    return result


def check_inefficient_filter(filter_props: list[str], order: list[tuple[str, bool]]) -> None:
    """Outlook refuses $orderby properties that do not lead the $filter, in the same order."""
    order_props = [p for p, _ in order]
    if filter_props[: len(order_props)] != order_props:
        raise GraphError(
            400, "InefficientFilter", "The restriction or sort order is too complex for this operation."
        )
