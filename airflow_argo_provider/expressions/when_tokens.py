"""govaluate's tokenizer and syntax check, as Argo's ``when:`` runs them (see :mod:`.when`).

The token kinds and symbols, the stream reader, the tokenizer (quoted strings that look like dates
become TIME tokens, compared as Unix seconds in UTC), the balance and syntax checks and govaluate's
token optimisations (a regex right operand compiled once).
"""

from __future__ import annotations

import datetime as _dt
import math
import re
from typing import Any

from .gofmt import format_v
from .gotime import parse_layout
from .regex import Regex, compile_regex
from .values import Fail

# Token kinds (names as govaluate prints them).
PREFIX, NUMERIC, BOOLEAN, STRING, PATTERN, TIME, VARIABLE, FUNCTION = (
    "PREFIX",
    "NUMERIC",
    "BOOLEAN",
    "STRING",
    "PATTERN",
    "TIME",
    "VARIABLE",
    "FUNCTION",
)


SEPARATOR, COMPARATOR, LOGICALOP, MODIFIER, CLAUSE, CLAUSE_CLOSE, TERNARY, ACCESSOR = (
    "SEPARATOR",
    "COMPARATOR",
    "LOGICALOP",
    "MODIFIER",
    "CLAUSE",
    "CLAUSE_CLOSE",
    "TERNARY",
    "ACCESSOR",
)


UNKNOWN = "UNKNOWN"


_VALUE_NEXT = {MODIFIER, COMPARATOR, LOGICALOP, CLAUSE_CLOSE, TERNARY, SEPARATOR}


# kind: (is_eof, nullable, valid next kinds) - govaluate's lexerState table.
_STATES: dict[str, tuple[bool, bool, set[str]]] = {
    UNKNOWN: (
        False,
        True,
        {PREFIX, NUMERIC, BOOLEAN, VARIABLE, PATTERN, FUNCTION, ACCESSOR, STRING, TIME, CLAUSE},
    ),
    CLAUSE: (
        False,
        True,
        {PREFIX, NUMERIC, BOOLEAN, VARIABLE, PATTERN, FUNCTION, ACCESSOR, STRING, TIME, CLAUSE, CLAUSE_CLOSE},
    ),
    CLAUSE_CLOSE: (
        True,
        True,
        {
            COMPARATOR,
            MODIFIER,
            NUMERIC,
            BOOLEAN,
            VARIABLE,
            STRING,
            PATTERN,
            TIME,
            CLAUSE,
            CLAUSE_CLOSE,
            LOGICALOP,
            TERNARY,
            SEPARATOR,
        },
    ),
    NUMERIC: (True, False, set(_VALUE_NEXT)),
    BOOLEAN: (True, False, set(_VALUE_NEXT)),
    STRING: (True, False, set(_VALUE_NEXT)),
    TIME: (True, False, {MODIFIER, COMPARATOR, LOGICALOP, CLAUSE_CLOSE, SEPARATOR}),
    PATTERN: (True, False, {MODIFIER, COMPARATOR, LOGICALOP, CLAUSE_CLOSE, SEPARATOR}),
    VARIABLE: (True, False, set(_VALUE_NEXT)),
    MODIFIER: (
        False,
        False,
        {PREFIX, NUMERIC, VARIABLE, FUNCTION, ACCESSOR, STRING, BOOLEAN, CLAUSE, CLAUSE_CLOSE},
    ),
    COMPARATOR: (
        False,
        False,
        {PREFIX, NUMERIC, BOOLEAN, VARIABLE, FUNCTION, ACCESSOR, STRING, TIME, CLAUSE, CLAUSE_CLOSE, PATTERN},
    ),
    LOGICALOP: (
        False,
        False,
        {PREFIX, NUMERIC, BOOLEAN, VARIABLE, FUNCTION, ACCESSOR, STRING, TIME, CLAUSE, CLAUSE_CLOSE},
    ),
    PREFIX: (False, False, {NUMERIC, BOOLEAN, VARIABLE, FUNCTION, ACCESSOR, CLAUSE, CLAUSE_CLOSE}),
    TERNARY: (
        False,
        False,
        {PREFIX, NUMERIC, BOOLEAN, STRING, TIME, VARIABLE, FUNCTION, ACCESSOR, CLAUSE, SEPARATOR},
    ),
    FUNCTION: (False, False, {CLAUSE}),
    ACCESSOR: (True, False, {CLAUSE, MODIFIER, COMPARATOR, LOGICALOP, CLAUSE_CLOSE, TERNARY, SEPARATOR}),
    SEPARATOR: (False, True, {PREFIX, NUMERIC, BOOLEAN, STRING, TIME, VARIABLE, FUNCTION, ACCESSOR, CLAUSE}),
}


_PREFIX_SYMBOLS = {"-": "NEGATE", "!": "INVERT", "~": "BITWISE_NOT"}


_MODIFIER_SYMBOLS = {
    "+": "PLUS",
    "-": "MINUS",
    "*": "MULTIPLY",
    "/": "DIVIDE",
    "%": "MODULUS",
    "**": "EXPONENT",
    "&": "BITWISE_AND",
    "|": "BITWISE_OR",
    "^": "BITWISE_XOR",
    ">>": "BITWISE_RSHIFT",
    "<<": "BITWISE_LSHIFT",
}


_LOGICAL_SYMBOLS = {"&&": "AND", "||": "OR"}


_COMPARATOR_SYMBOLS = {
    "==": "EQ",
    "!=": "NEQ",
    ">": "GT",
    ">=": "GTE",
    "<": "LT",
    "<=": "LTE",
    "=~": "REQ",
    "!~": "NREQ",
    "in": "IN",
}


_TERNARY_SYMBOLS = {"?": "TERNARY_TRUE", ":": "TERNARY_FALSE", "??": "COALESCE"}


_SYMBOL_TEXT = {
    v: k
    for table in (_MODIFIER_SYMBOLS, _LOGICAL_SYMBOLS, _COMPARATOR_SYMBOLS, _TERNARY_SYMBOLS)
    for k, v in table.items()
}


_TIME_LAYOUTS = [
    "Mon Jan _2 15:04:05 2006",
    "Mon Jan _2 15:04:05 MST 2006",
    "Mon Jan 02 15:04:05 -0700 2006",
    "3:04PM",
    "2006-01-02T15:04:05Z07:00",
    "2006-01-02T15:04:05.999999999Z07:00",
    "2006-01-02",
    "2006-01-02 15:04",
    "2006-01-02 15:04:05",
    "2006-01-02 15:04:05-07:00",
    "2006-01-02T15Z0700",
    "2006-01-02T15:04Z0700",
    "2006-01-02T15:04:05Z0700",
    "2006-01-02T15:04:05.999999999Z0700",
]


_KITCHEN = re.compile(r"(1[0-2]|0?[1-9]):([0-5]\d)(AM|PM)")


class _Token:
    __slots__ = ("kind", "value")

    def __init__(self, kind: str, value: Any) -> None:
        self.kind = kind
        self.value = value


def _is_letter(c: str) -> bool:
    return c.isalpha()


def _is_variable_name(c: str) -> bool:
    return c.isalpha() or c.isdigit() or c in "_."


def _is_numeric(c: str) -> bool:
    return c.isdigit() or c == "."


def _is_not_quote(c: str) -> bool:
    return c not in "'\""


def _is_not_alphanumeric(c: str) -> bool:
    return not (c.isdigit() or c.isalpha() or c in "()[]" or not _is_not_quote(c))


class _Stream:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def can_read(self) -> bool:
        return self.pos < len(self.text)

    def read(self) -> str:
        c = self.text[self.pos]
        self.pos += 1
        return c


def _read_until_false(stream: _Stream, include_ws: bool, break_ws: bool, escaping: bool, cond: Any) -> tuple[str, bool]:
    buf: list[str] = []
    conditioned = False
    while stream.can_read():
        c = stream.read()
        if escaping and c == "\\":
            if stream.can_read():
                buf.append(stream.read())
            continue
        if c.isspace():
            if break_ws and buf:
                conditioned = True
                break
            if not include_ws:
                continue
        if cond(c):
            buf.append(c)
        else:
            conditioned = True
            stream.pos -= 1
            break
    return "".join(buf), conditioned


def _read_token_until_false(stream: _Stream, cond: Any) -> str:
    stream.pos -= 1
    text, _ = _read_until_false(stream, False, True, True, cond)
    return text


def _unix(value: _dt.datetime) -> float:
    return float(math.floor(value.timestamp()))


def _try_parse_time(text: str) -> float | None:
    kitchen = _KITCHEN.fullmatch(text)
    if kitchen:
        hour = int(kitchen.group(1)) % 12 + (12 if kitchen.group(3) == "PM" else 0)
        # Go's zero date is 0000-01-01; Unix seconds of that day plus the time of day.
        return float(-62167219200 + hour * 3600 + int(kitchen.group(2)) * 60)
    for layout in _TIME_LAYOUTS[:3] + _TIME_LAYOUTS[4:]:
        try:
            return _unix(parse_layout(layout, text))
        except Fail:
            continue
    return None


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    stream = _Stream(text)
    state = UNKNOWN
    while stream.can_read():
        token = _read_token(stream, state)
        if token is None:
            break
        state = token.kind
        tokens.append(token)
    _check_balance(tokens)
    return tokens


def _read_token(stream: _Stream, state: str) -> _Token | None:
    while stream.can_read():
        c = stream.read()
        if c.isspace():
            continue
        if _is_numeric(c):
            if c == "0" and stream.can_read():
                nxt = stream.read()
                if nxt == "x" and stream.can_read():
                    digits, _ = _read_until_false(stream, False, True, True, lambda ch: ch in "0123456789abcdefABCDEF")
                    try:
                        return _Token(NUMERIC, float(int(digits, 16)))
                    except ValueError:
                        raise Fail(f"Unable to parse hex value '{digits}' to uint64") from None
                stream.pos -= 1
            text = _read_token_until_false(stream, _is_numeric)
            try:
                if text.count(".") > 1 or text == ".":
                    raise ValueError
                return _Token(NUMERIC, float(text))
            except ValueError:
                raise Fail(f"Unable to parse numeric value '{text}' to float64") from None
        if c == ",":
            return _Token(SEPARATOR, ",")
        if c == "[":
            value, completed = _read_until_false(stream, True, False, True, lambda ch: ch != "]")
            if not completed:
                raise Fail("Unclosed parameter bracket")
            stream.pos += 1
            return _Token(VARIABLE, value)
        if _is_letter(c):
            text = _read_token_until_false(stream, _is_variable_name)
            if text == "true":
                return _Token(BOOLEAN, True)
            if text == "false":
                return _Token(BOOLEAN, False)
            if text in ("in", "IN"):
                return _Token(COMPARATOR, "in")
            if "." in text[1:]:
                if text.endswith("."):
                    raise Fail(f"Hanging accessor on token '{text}'")
                parts = text.split(".")
                for part in parts[1:]:
                    first = part[:1]
                    if first.upper() != first:
                        raise Fail(f"Unable to access unexported field '{part}' in token '{text}'")
                return _Token(ACCESSOR, parts)
            return _Token(VARIABLE, text)
        if not _is_not_quote(c):
            value, completed = _read_until_false(stream, True, False, True, _is_not_quote)
            if not completed:
                raise Fail("Unclosed string literal")
            stream.pos += 1
            moment = _try_parse_time(value)
            if moment is not None:
                return _Token(TIME, moment)
            return _Token(STRING, value)
        if c == "(":
            return _Token(CLAUSE, "(")
        if c == ")":
            return _Token(CLAUSE_CLOSE, ")")
        text = _read_token_until_false(stream, _is_not_alphanumeric)
        if PREFIX in _STATES[state][2] and text in _PREFIX_SYMBOLS:
            return _Token(PREFIX, text)
        if text in _MODIFIER_SYMBOLS:
            return _Token(MODIFIER, text)
        if text in _LOGICAL_SYMBOLS:
            return _Token(LOGICALOP, text)
        if text in _COMPARATOR_SYMBOLS:
            return _Token(COMPARATOR, text)
        if text in _TERNARY_SYMBOLS:
            return _Token(TERNARY, text)
        raise Fail(f"Invalid token: '{text}'")
    return None


def _check_balance(tokens: list[_Token]) -> None:
    parens = 0
    for token in tokens:
        if token.kind == CLAUSE:
            parens += 1
        elif token.kind == CLAUSE_CLOSE:
            parens -= 1
    if parens != 0:
        raise Fail("Unbalanced parenthesis")


def _show(value: Any) -> str:
    if isinstance(value, list):
        return "[" + " ".join(value) + "]"
    if isinstance(value, Regex):
        return value.pattern
    return format_v(value)


def _check_syntax(tokens: list[_Token]) -> None:
    state = UNKNOWN
    last: _Token | None = None
    for token in tokens:
        if token.kind not in _STATES[state][2]:
            if last is not None and last.kind == VARIABLE and token.kind == CLAUSE:
                raise Fail(f"Undefined function {last.value}")
            last_value = "<nil>" if last is None else _show(last.value)
            raise Fail(
                f"Cannot transition token types from {state} [{last_value}] to {token.kind} [{_show(token.value)}]"
            )
        state = token.kind
        last = token
    if not _STATES[state][0]:
        raise Fail("Unexpected end of expression")


def _optimize(tokens: list[_Token]) -> None:
    for index, token in enumerate(tokens):
        if token.kind == COMPARATOR and token.value in ("=~", "!~") and index + 1 < len(tokens):
            nxt = tokens[index + 1]
            if nxt.kind == STRING:
                tokens[index + 1] = _Token(PATTERN, compile_regex(nxt.value))
