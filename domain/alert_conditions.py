"""The alert condition grammar: ``error_rate > 1%``, ``processing_lag > 5 minutes``, ``a = true OR (b < 80)``.

A small recursive-descent parser, never ``eval``: an alert file is
configuration, and a condition must be unable to run anything. ::

    condition  := or
    or         := and ("OR" and)*
    and        := term ("AND" term)*
    term       := "(" or ")" | comparison
    comparison := SIGNAL OP value
    OP         := ">" | ">=" | "<" | "<=" | "=" | "==" | "!="
    value      := NUMBER "%" | NUMBER UNIT | NUMBER | "true" | "false"

Each signal has a kind that fixes which value it may be compared with: a
``ratio`` takes a percentage, a ``duration`` a number with a unit, a
``boolean`` ``= true``/``= false``, a ``score`` or a ``count`` a plain number.
A mistake raises :class:`ConditionError` with the column (1-based) and what
was expected there.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final, Literal

__all__ = [
    "DURATION_UNITS",
    "Comparison",
    "Condition",
    "ConditionError",
    "Junction",
    "SignalKind",
    "parse_condition",
    "parse_duration",
    "signals_of",
]

SignalKind = Literal["ratio", "duration", "boolean", "score", "count"]

# Seconds per unit; the words a person writes and Prometheus's short forms.
DURATION_UNITS: Final[dict[str, float]] = {
    **dict.fromkeys(("ms", "millisecond", "milliseconds"), 0.001),
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), 1.0),
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), 60.0),
    **dict.fromkeys(("h", "hour", "hours"), 3600.0),
    **dict.fromkeys(("d", "day", "days"), 86400.0),
}

_OPS: Final[dict[str, Callable[[float, float], bool]]] = {
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    "=": lambda a, b: a == b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}
_TOKEN: Final = re.compile(
    r"\s*(?:(?P<number>\d+(?:\.\d+)?)|(?P<op>>=|<=|==|!=|>|<|=)|(?P<paren>[()])|(?P<pct>%)|(?P<word>[A-Za-z_][A-Za-z0-9_]*))"
)


class ConditionError(ValueError):
    """A condition that cannot be parsed: where (1-based column) and what was expected."""

    def __init__(self, column: int, expected: str, found: str) -> None:
        super().__init__(f"column {column}: expected {expected}, found {found}")
        self.column, self.expected, self.found = column, expected, found


@dataclass(frozen=True)
class Comparison:
    signal: str
    op: str
    threshold: float  # a ratio as a fraction (1% -> 0.01), a duration in seconds, a boolean as 1.0/0.0
    text: str  # the threshold as written, for messages

    def holds(self, values: Mapping[str, float | None]) -> bool:
        """False when the signal has no value (no data is not an alert)."""
        value = values.get(self.signal)
        return value is not None and _OPS[self.op](value, self.threshold)


@dataclass(frozen=True)
class Junction:
    op: Literal["AND", "OR"]
    parts: tuple[Condition, ...]

    def holds(self, values: Mapping[str, float | None]) -> bool:
        results = (part.holds(values) for part in self.parts)
        return all(results) if self.op == "AND" else any(results)


Condition = Comparison | Junction


def signals_of(condition: Condition) -> list[str]:
    """The signals a condition reads, in order, each once."""
    if isinstance(condition, Comparison):
        return [condition.signal]
    return list(dict.fromkeys(s for part in condition.parts for s in signals_of(part)))


def parse_duration(text: str) -> float:
    """``5m``, ``5 minutes``, ``30s``, ``0`` → seconds; ValueError otherwise."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", text)
    if match is None or (match[2] and match[2].lower() not in DURATION_UNITS) or (not match[2] and float(match[1])):
        raise ValueError(f"expected a duration such as 30s, 5m, 5 minutes or 4h, got {text!r}")
    return float(match[1]) * DURATION_UNITS[match[2].lower()] if match[2] else 0.0


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    column: int


def _tokens(text: str) -> list[_Token]:
    tokens, at = [], 0
    while at < len(text):
        if text[at:].strip() == "":
            break
        match = _TOKEN.match(text, at)
        if match is None or match.lastgroup is None:
            column = at + 1 + (len(text[at:]) - len(text[at:].lstrip()))
            raise ConditionError(column, "a signal, a number, a comparison or a parenthesis", repr(text[column - 1]))
        tokens.append(_Token(match.lastgroup, match[match.lastgroup], match.start(match.lastgroup) + 1))
        at = match.end()
    tokens.append(_Token("end", "", len(text) + 1))
    return tokens


class _Parser:
    def __init__(self, text: str, kinds: Mapping[str, SignalKind]) -> None:
        self._tokens = _tokens(text)
        self._at = 0
        self._kinds = kinds

    def parse(self) -> Condition:
        condition = self._junction("OR")
        self._expect("end", "AND, OR or the end of the condition")
        return condition

    def _peek(self) -> _Token:
        return self._tokens[self._at]

    def _take(self) -> _Token:
        token = self._tokens[self._at]
        self._at += 1
        return token

    def _expect(self, kind: str, expected: str) -> _Token:
        token = self._peek()
        if token.kind != kind:
            raise ConditionError(token.column, expected, _shown(token))
        return self._take()

    def _junction(self, op: Literal["AND", "OR"]) -> Condition:
        parts = [self._junction("AND") if op == "OR" else self._term()]
        while self._peek().kind == "word" and self._peek().text.upper() == op:
            self._take()
            parts.append(self._junction("AND") if op == "OR" else self._term())
        return parts[0] if len(parts) == 1 else Junction(op, tuple(parts))

    def _term(self) -> Condition:
        if self._peek().text == "(":
            self._take()
            inner = self._junction("OR")
            token = self._peek()
            if token.text != ")":
                raise ConditionError(token.column, "')', AND or OR", _shown(token))
            self._take()
            return inner
        return self._comparison()

    def _comparison(self) -> Comparison:
        token = self._peek()
        if token.kind != "word" or token.text not in self._kinds:
            known = ", ".join(sorted(self._kinds))
            raise ConditionError(token.column, f"a signal (one of {known}) or '('", _shown(token))
        self._take()
        op = self._expect("op", "a comparison (>, >=, <, <=, =, !=)").text
        kind = self._kinds[token.text]
        threshold, text = self._value(kind, token.text)
        if kind == "boolean" and op not in ("=", "==", "!="):
            raise ConditionError(token.column, f"'= true' or '= false' after the boolean signal {token.text}", op)
        return Comparison(token.text, op, threshold, text)

    def _value(self, kind: SignalKind, signal: str) -> tuple[float, str]:
        token = self._peek()
        if kind == "boolean":
            if token.kind == "word" and token.text.lower() in ("true", "false"):
                self._take()
                return (1.0 if token.text.lower() == "true" else 0.0), token.text.lower()
            raise ConditionError(token.column, f"true or false ({signal} is a boolean)", _shown(token))
        number = float(self._expect("number", f"a number ({signal} is a {_described(kind)})").text)
        after = self._peek()
        if kind == "ratio":
            self._expect("pct", f"'%' after the number ({signal} is a ratio, e.g. 1%)")
            return number / 100, f"{_plain(number)}%"
        if kind == "duration":
            if after.kind != "word" or after.text.lower() not in DURATION_UNITS:
                raise ConditionError(
                    after.column, f"a unit: s, m, h, d or minutes ({signal} is a duration)", _shown(after)
                )
            self._take()
            return number * DURATION_UNITS[after.text.lower()], f"{_plain(number)} {after.text}"
        return number, _plain(number)


def _described(kind: SignalKind) -> str:
    return {"ratio": "ratio, e.g. 1%", "duration": "duration, e.g. 5 minutes", "score": "score 0-100"}.get(kind, kind)


def _plain(number: float) -> str:
    return f"{number:g}"


def _shown(token: _Token) -> str:
    return "the end of the condition" if token.kind == "end" else repr(token.text)


def parse_condition(text: str, kinds: Mapping[str, SignalKind]) -> Condition:
    """The condition's tree; ConditionError (column, expected, found) when it is not one."""
    return _Parser(text, kinds).parse()
