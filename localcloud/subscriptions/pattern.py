"""CloudWatch Logs filter patterns: which log events a subscription filter (or metric filter) takes.

The forms CloudWatch documents, evaluated on one log event's message:

- the empty pattern matches every event;
- terms: `ERROR` or `"ERROR 42"` (a quoted phrase) must appear (case-sensitive); several terms must
  all appear; `-term` must not appear; `?a ?b` matches when any of the `?` terms appears;
- JSON patterns `{ <expression> }` on a message that is a JSON object: `$.a.b[0] = "text"` with
  `=` / `!=` (strings, `*` as a wildcard, or numbers) and `<`, `<=`, `>`, `>=` (numbers),
  `$.a IS TRUE|FALSE|NULL`, `$.a NOT EXISTS`, combined with `&&`, `||` and parentheses
  (`&&` binds tighter);
- `%regex%`: the message matches the regular expression.

Space-delimited patterns (`[ip, user, ...]`) are not supported locally; `compile_pattern` rejects
them (and any malformed pattern) with `FilterPatternError`, as PutSubscriptionFilter would.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

Matcher = Callable[[str], bool]
_MISSING = object()


class FilterPatternError(ValueError):
    """The pattern is malformed or uses a form the local cloud does not evaluate."""


def compile_pattern(pattern: str) -> Matcher:
    """A predicate on one log event's message."""
    text = pattern.strip()
    if not text:
        return lambda message: True
    if text.startswith("{"):
        if not text.endswith("}"):
            raise FilterPatternError(f"JSON filter pattern without a closing brace: {pattern!r}")
        expression = _JsonParser(text[1:-1]).parse()
        return lambda message: _json_match(expression, message)
    if text.startswith("["):
        raise FilterPatternError(f"space-delimited filter patterns are not supported locally: {pattern!r}")
    if len(text) > 1 and text.startswith("%") and text.endswith("%"):
        regex = re.compile(text[1:-1])
        return lambda message: regex.search(message) is not None
    return _terms(text)


# -- terms -------------------------------------------------------------------------------------------


def _terms(text: str) -> Matcher:
    tokens = re.findall(r'[?-]?"(?:[^"\\]|\\.)*"|\S+', text)
    required: list[str] = []
    excluded: list[str] = []
    optional: list[str] = []
    for token in tokens:
        prefix = token[0] if token[0] in "?-" and len(token) > 1 else ""
        term = token[len(prefix) :]
        if term.startswith('"') and term.endswith('"') and len(term) >= 2:
            term = json.loads(term)
        {"": required, "-": excluded, "?": optional}[prefix].append(term)
    if optional:
        if required or excluded:
            raise FilterPatternError(f"`?` terms cannot be combined with other terms: {text!r}")
        return lambda message: any(term in message for term in optional)
    return lambda message: all(t in message for t in required) and not any(t in message for t in excluded)


# -- JSON patterns -----------------------------------------------------------------------------------

# An expression is ("or", [..]), ("and", [..]) or ("cmp", selector path, operator, value).
Expression = tuple[Any, ...]

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<op>&&|\|\||!=|<=|>=|=|<|>|\(|\))
      | (?P<string>"(?:[^"\\]|\\.)*")
      | (?P<selector>\$(?:\.[A-Za-z0-9_@$-]+|\[\d+\])*)
      | (?P<word>[^\s()&|=!<>"]+)
    )""",
    re.VERBOSE,
)


class _JsonParser:
    def __init__(self, text: str) -> None:
        self.tokens: list[tuple[str, str]] = []
        position = 0
        while position < len(text):
            if text[position:].strip() == "":
                break
            match = _TOKEN.match(text, position)
            if match is None or match.end() == position:
                raise FilterPatternError(f"cannot read the JSON filter pattern at {text[position:]!r}")
            kind = match.lastgroup or ""
            self.tokens.append((kind, match.group(kind)))
            position = match.end()
        self.index = 0

    def parse(self) -> Expression:
        if not self.tokens:
            raise FilterPatternError("empty JSON filter pattern")
        expression = self._or()
        if self.index != len(self.tokens):
            raise FilterPatternError(f"unexpected {self.tokens[self.index][1]!r} in the JSON filter pattern")
        return expression

    def _peek(self) -> tuple[str, str] | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def _take(self) -> tuple[str, str]:
        token = self._peek()
        if token is None:
            raise FilterPatternError("the JSON filter pattern ends too early")
        self.index += 1
        return token

    def _or(self) -> Expression:
        return self._joined("||", "or", self._and)

    def _and(self) -> Expression:
        return self._joined("&&", "and", self._atom)

    def _joined(self, operator: str, name: str, operand: Callable[[], Expression]) -> Expression:
        """One `operand`, or several joined by `operator` (the node `name` then holds them)."""
        parts = [operand()]
        while self._peek() == ("op", operator):
            self.index += 1
            parts.append(operand())
        return parts[0] if len(parts) == 1 else (name, parts)

    def _atom(self) -> Expression:
        kind, value = self._take()
        if (kind, value) == ("op", "("):
            inner = self._or()
            if self._take() != ("op", ")"):
                raise FilterPatternError("missing `)` in the JSON filter pattern")
            return inner
        if kind != "selector":
            raise FilterPatternError(f"expected a selector such as $.field, got {value!r}")
        path = _selector_path(value)
        kind, operator = self._take()
        if kind == "word" and operator in ("IS", "NOT"):
            _, word = self._take()
            if operator == "IS" and word in ("TRUE", "FALSE", "NULL"):
                return ("cmp", path, "IS", word)
            if operator == "NOT" and word == "EXISTS":
                return ("cmp", path, "NOT EXISTS", None)
            raise FilterPatternError(f"unknown test {operator} {word} in the JSON filter pattern")
        if kind == "word" and operator == "EXISTS":
            return ("cmp", path, "EXISTS", None)
        if kind != "op" or operator not in ("=", "!=", "<", "<=", ">", ">="):
            raise FilterPatternError(f"expected a comparison after {value}, got {operator!r}")
        kind, literal = self._take()
        if kind == "string":
            return ("cmp", path, operator, ("string", json.loads(literal)))
        if kind != "word":
            raise FilterPatternError(f"expected a value after {operator}, got {literal!r}")
        number = _number(literal)
        if number is not None:
            return ("cmp", path, operator, ("number", number))
        if operator not in ("=", "!="):
            raise FilterPatternError(f"{operator} needs a number, got {literal!r}")
        return ("cmp", path, operator, ("string", literal))


def _selector_path(selector: str) -> list[str | int]:
    parts = re.findall(r"\.[^.\[]+|\[\d+\]", selector[1:])
    return [int(part[1:-1]) if part.startswith("[") else part[1:] for part in parts]


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _json_match(expression: Expression, message: str) -> bool:
    text = message.strip()
    if not text.startswith("{"):
        return False
    try:
        document = json.loads(text)
    except ValueError:
        return False
    return isinstance(document, dict) and bool(_evaluate(expression, document))


def _evaluate(expression: Expression, document: Any) -> bool:
    kind = expression[0]
    if kind == "or":
        return any(_evaluate(part, document) for part in expression[1])
    if kind == "and":
        return all(_evaluate(part, document) for part in expression[1])
    _, path, operator, operand = expression
    value = _lookup(document, path)
    if operator == "EXISTS":
        return value is not _MISSING
    if operator == "NOT EXISTS":
        return value is _MISSING
    if operator == "IS":
        expected = {"TRUE": True, "FALSE": False, "NULL": None}[operand]
        return value is expected if value is not _MISSING else False
    if value is _MISSING or isinstance(value, dict | list):
        return False
    return _compare(value, operator, operand)


def _lookup(document: Any, path: list[str | int]) -> Any:
    value = document
    for part in path:
        if isinstance(part, int):
            if not isinstance(value, list) or part >= len(value):
                return _MISSING
            value = value[part]
        elif isinstance(value, dict) and part in value:
            value = value[part]
        else:
            return _MISSING
    return value


def _compare(value: Any, operator: str, operand: tuple[str, Any]) -> bool:
    kind, expected = operand
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            number = _number(value) if isinstance(value, str) else None
            if number is None:
                return operator == "!="
            value = number
        return bool(
            {
                "=": value == expected,
                "!=": value != expected,
                "<": value < expected,
                "<=": value <= expected,
                ">": value > expected,
                ">=": value >= expected,
            }[operator]
        )
    if value is None or isinstance(value, bool):
        text = json.dumps(value)
    else:
        text = value if isinstance(value, str) else json.dumps(value)
    matched = _wildcard(expected).fullmatch(text) is not None if "*" in expected else text == expected
    return matched if operator == "=" else not matched


def _wildcard(expected: str) -> re.Pattern[str]:
    """`*` matches any run of characters; nothing else is special."""
    return re.compile(".*".join(re.escape(part) for part in expected.split("*")), re.DOTALL)
