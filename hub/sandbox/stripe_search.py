"""Stripe's search query language, as far as the sandbox's fake Stripe needs it.

Why a module of its own: the fake answers ``GET /v1/customers/search?query=…`` the way Stripe
does (https://docs.stripe.com/search: query fields per resource, ``:`` phrase and ``~``
substring matches, ``AND``/``OR`` but not both, at most ten clauses, the same 400 messages), so
the connector's escaping and its degraded mode are tested against real parsing rules. This is
the parser and matcher; :mod:`hub.sandbox.stripe_api` serves the endpoint.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Obj = dict[str, Any]
Predicate = Callable[[Obj], bool]

SEARCH_FIELDS: dict[str, dict[str, str]] = {
    # https://docs.stripe.com/search#query-fields-for-customers
    "customers": {
        "created": "numeric",
        "email": "string",
        "metadata": "token",
        "name": "string",
        "phone": "string",
    },
}
SEARCH_OPERATORS = {"string": {":", "~"}, "token": {":"}, "numeric": {":", ">", "<", ">=", "<="}}
NUMERIC_OPS: dict[str, Callable[[float, float], bool]] = {
    ":": operator.eq,
    ">": operator.gt,
    "<": operator.lt,
    ">=": operator.ge,
    "<=": operator.le,
}
MAX_CLAUSES = 10
PARSE_ERROR = (
    'We were unable to parse your search query. Try using the format `metadata["key"]:"value"` '
    'to query for metadata or key:"value" to query for other fields.'
)

_FIELD_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
_OPERATOR_RE = re.compile(r">=|<=|:|~|>|<")
_NUMBER_RE = re.compile(r"-?\d+(?:\.\d+)?")
_NULL_RE = re.compile(r"null(?![A-Za-z0-9_])", re.IGNORECASE)
_JOIN_RE = re.compile(r"\s+(?:(AND|OR)\s+)?", re.IGNORECASE)


class SearchQueryError(ValueError):
    """A query Stripe would answer with 400."""


@dataclass(frozen=True)
class Clause:
    field: str
    op: str
    value: str | None  # None is the `null` token
    quoted: bool = True
    negated: bool = False
    key: str | None = None  # the metadata key


class _QueryScanner:
    """Recursive-descent reader for the subset of Stripe's search query language we need."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def done(self) -> bool:
        return self.pos >= len(self.text)

    def _eat(self, literal: str) -> bool:
        if self.text.startswith(literal, self.pos):
            self.pos += len(literal)
            return True
        return False

    def _match(self, regex: re.Pattern[str]) -> re.Match[str] | None:
        match = regex.match(self.text, self.pos)
        if match:
            self.pos = match.end()
        return match

    def quoted(self) -> str:
        quote = self.text[self.pos]
        self.pos += 1
        chars: list[str] = []
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == "\\" and self.pos + 1 < len(self.text):
                chars.append(self.text[self.pos + 1])  # \' \" \\ → the character itself
                self.pos += 2
            elif char == quote:
                self.pos += 1
                return "".join(chars)
            else:
                chars.append(char)
                self.pos += 1
        raise SearchQueryError(PARSE_ERROR)

    def clause(self) -> Clause:
        negated = self._eat("-")
        field_match = self._match(_FIELD_RE)
        if not field_match:
            raise SearchQueryError(PARSE_ERROR)
        key = None
        if field_match.group() == "metadata":
            if not self._eat("[") or self.done() or self.text[self.pos] not in "'\"":
                raise SearchQueryError(PARSE_ERROR)
            key = self.quoted()
            if not self._eat("]"):
                raise SearchQueryError(PARSE_ERROR)
        op_match = self._match(_OPERATOR_RE)
        if not op_match or self.done():
            raise SearchQueryError(PARSE_ERROR)
        value, quoted = self._value()
        return Clause(field_match.group(), op_match.group(), value, quoted, negated, key)

    def _value(self) -> tuple[str | None, bool]:
        if self.text[self.pos] in "'\"":
            return self.quoted(), True
        if self._match(_NULL_RE):
            return None, False
        number = self._match(_NUMBER_RE)
        if number:
            return number.group(), False
        raise SearchQueryError(PARSE_ERROR)

    def joiner(self) -> str:
        join = self._match(_JOIN_RE)
        if not join or self.done():
            raise SearchQueryError(PARSE_ERROR)
        return (join.group(1) or "AND").upper()


def parse_search_query(text: str) -> tuple[list[Clause], str]:
    """Clauses plus how they combine ("AND" or "OR"); raises SearchQueryError."""
    scanner = _QueryScanner(text.strip())
    if scanner.done():
        raise SearchQueryError(PARSE_ERROR)
    clauses = [scanner.clause()]
    joins: set[str] = set()
    while not scanner.done():
        joins.add(scanner.joiner())
        clauses.append(scanner.clause())
    if len(joins) > 1:
        raise SearchQueryError("AND and OR operators cannot be combined in the same search query.")
    if len(clauses) > MAX_CLAUSES:
        raise SearchQueryError(f"Search queries are limited to {MAX_CLAUSES} clauses.")
    return clauses, joins.pop() if joins else "AND"


def validate_clauses(clauses: list[Clause], resource: str) -> None:
    fields = SEARCH_FIELDS[resource]
    for clause in clauses:
        kind = fields.get(clause.field)
        if kind is None:
            raise SearchQueryError(
                f"Field `{clause.field}` is an unsupported search field for resource `{resource}`. "
                f"See http://stripe.com/docs/search#query-fields-for-{resource.replace('_', '-')} "
                "for a list of supported fields."
            )
        if clause.op not in SEARCH_OPERATORS[kind] or (clause.value is None and clause.op != ":"):
            raise SearchQueryError(
                f"The `{clause.op}` operator is not supported on field `{clause.field}`."
            )
        if clause.value is None:
            continue
        if kind == "numeric" and not _NUMBER_RE.fullmatch(clause.value):
            raise SearchQueryError(f"Field `{clause.field}` expects a numeric value.")
        if kind != "numeric" and not clause.quoted:
            raise SearchQueryError(f'String values must be quoted, as in {clause.field}:"value".')
        if clause.op == "~" and len(clause.value) < 3:
            raise SearchQueryError("Substring searches (~) need a value of at least 3 characters.")


def _contains_phrase(actual: Any, wanted: str) -> bool:
    """Stripe's `:` on strings: all the query's words, in the same order, case-insensitively."""
    words = str(actual or "").casefold().split()
    phrase = wanted.casefold().split()
    if not phrase:
        return not words
    return any(words[i : i + len(phrase)] == phrase for i in range(len(words) - len(phrase) + 1))


def clause_matches(obj: Obj, clause: Clause, kind: str) -> bool:
    actual = (
        (obj.get("metadata") or {}).get(clause.key)
        if clause.key is not None
        else obj.get(clause.field)
    )
    if clause.value is None:
        hit = actual in (None, "")
    elif kind == "numeric":
        hit = actual is not None and NUMERIC_OPS[clause.op](float(actual), float(clause.value))
    elif clause.op == "~":
        hit = clause.value.casefold() in str(actual or "").casefold()
    elif kind == "string":
        hit = _contains_phrase(actual, clause.value)
    else:
        hit = actual is not None and str(actual).casefold() == clause.value.casefold()
    return hit != clause.negated


def search_predicate(query: str, resource: str) -> Predicate:
    clauses, join = parse_search_query(query)
    validate_clauses(clauses, resource)
    fields = SEARCH_FIELDS[resource]
    combine = all if join == "AND" else any
    return lambda obj: combine(clause_matches(obj, c, fields[c.field]) for c in clauses)
