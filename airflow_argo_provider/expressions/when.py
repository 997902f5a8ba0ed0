"""``when:`` conditions, evaluated as Argo does: govaluate (github.com/Knetic/govaluate) after substitution.

Argo's ``shouldExecute`` tokenizes the substituted text with govaluate, turns every VARIABLE token into
a STRING token (so ``heads == heads`` is true and ``foo != bar`` works unquoted), plans the tokens
again and evaluates them with no parameters; the result must be a bool. This module ports
govaluate's tokenizer, syntax check, stage planner (including its re-ordering of same-precedence
operators, which makes ``a || b && c`` evaluate as ``(a || b) && c``), and its evaluation rules.
Quoted strings that look like dates become TIME tokens compared as Unix seconds (UTC).
"""

from __future__ import annotations

import datetime as _dt
import math
import re
from functools import lru_cache
from typing import Any

from .errors import ExpressionError
from .gofmt import format_v
from .gotime import parse_layout
from .limits import MAX_EXPRESSION_LENGTH, MAX_NESTING_DEPTH, Budget
from .regex import Regex, compile_regex
from .values import Fail

__all__ = ["evaluate_when"]

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
_SYMBOL_TEXT.update({"NEGATE": "-", "INVERT": "!", "BITWISE_NOT": "~", "EQ": "="})

_PRECEDENCE = {
    **dict.fromkeys(["EQ", "NEQ", "GT", "LT", "GTE", "LTE", "REQ", "NREQ", "IN"], "COMPARATOR"),
    **dict.fromkeys(["AND", "OR"], "LOGICAL"),
    **dict.fromkeys(["BITWISE_AND", "BITWISE_OR", "BITWISE_XOR"], "BITWISE"),
    **dict.fromkeys(["BITWISE_LSHIFT", "BITWISE_RSHIFT"], "SHIFT"),
    **dict.fromkeys(["PLUS", "MINUS"], "ADDITIVE"),
    **dict.fromkeys(["MULTIPLY", "DIVIDE", "MODULUS"], "MULTIPLICATIVE"),
    "EXPONENT": "EXPONENTIAL",
    **dict.fromkeys(["NEGATE", "INVERT", "BITWISE_NOT"], "PREFIX"),
    **dict.fromkeys(["TERNARY_TRUE", "TERNARY_FALSE", "COALESCE"], "TERNARY"),
    "SEPARATE": "SEPARATE",
}

_LOGICAL_FMT = "Value '%s' cannot be used with the logical operator '%s', it is not a bool"
_MODIFIER_FMT = "Value '%s' cannot be used with the modifier '%s', it is not a number"
_COMPARATOR_FMT = "Value '%s' cannot be used with the comparator '%s', it is not a number"
_TERNARY_FMT = "Value '%s' cannot be used with the ternary operator '%s', it is not a bool"
_PREFIX_FMT = "Value '%s' cannot be used with the prefix '%s'"

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


# ------------------------------------------------------------------------------------------ tokenizer


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


# -------------------------------------------------------------------------------------------- planner


class _Stage:
    __slots__ = ("left", "right", "symbol", "literal", "error_fmt")

    def __init__(
        self,
        symbol: str,
        left: _Stage | None = None,
        right: _Stage | None = None,
        literal: Any = None,
        error_fmt: str = "",
    ) -> None:
        self.symbol = symbol
        self.left = left
        self.right = right
        self.literal = literal
        self.error_fmt = error_fmt

    def swap_with(self, other: _Stage) -> None:
        self.symbol, other.symbol = other.symbol, self.symbol
        self.literal, other.literal = other.literal, self.literal
        self.error_fmt, other.error_fmt = other.error_fmt, self.error_fmt


class _TokenStream:
    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens = tokens
        self.index = 0

    def has_next(self) -> bool:
        return self.index < len(self.tokens)

    def next(self) -> _Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def rewind(self) -> None:
        self.index -= 1


_LEVELS: list[tuple[dict[str, str], str, str]] = [
    ({",": "SEPARATE"}, SEPARATOR, ""),
    (_TERNARY_SYMBOLS, TERNARY, _TERNARY_FMT),
    ({"||": "OR"}, LOGICALOP, _LOGICAL_FMT),
    ({"&&": "AND"}, LOGICALOP, _LOGICAL_FMT),
    (_COMPARATOR_SYMBOLS, COMPARATOR, _COMPARATOR_FMT),
    ({"^": "BITWISE_XOR", "&": "BITWISE_AND", "|": "BITWISE_OR"}, MODIFIER, _MODIFIER_FMT),
    ({">>": "BITWISE_RSHIFT", "<<": "BITWISE_LSHIFT"}, MODIFIER, _MODIFIER_FMT),
    ({"+": "PLUS", "-": "MINUS"}, MODIFIER, _MODIFIER_FMT),
    ({"*": "MULTIPLY", "/": "DIVIDE", "%": "MODULUS"}, MODIFIER, _MODIFIER_FMT),
    ({"**": "EXPONENT"}, MODIFIER, _MODIFIER_FMT),
]


def _plan_level(stream: _TokenStream, level: int, depth: int) -> _Stage | None:
    if depth > 4 * MAX_NESTING_DEPTH:
        raise Fail("expression nests too deeply")
    symbols, kind, error_fmt = _LEVELS[level]
    left = _plan_level(stream, level + 1, depth + 1) if level + 1 < len(_LEVELS) else _plan_value(stream, depth + 1)
    while stream.has_next():
        token = stream.next()
        if token.kind != kind or not isinstance(token.value, str) or token.value not in symbols:
            break
        right = _plan_level(stream, level, depth + 1)
        return _Stage(symbols[token.value], left, right, error_fmt=error_fmt)
    else:
        return left
    stream.rewind()
    return left


def _plan_value(stream: _TokenStream, depth: int) -> _Stage | None:
    if not stream.has_next():
        return None
    token = stream.next()
    if token.kind == CLAUSE:
        inner = _plan_level(stream, 0, depth + 1) if stream.has_next() else None
        stream.next()  # the matching CLAUSE_CLOSE (balance was checked)
        return _Stage("NOOP", right=inner)
    if token.kind == CLAUSE_CLOSE:
        stream.rewind()
        return None
    if token.kind == PREFIX:
        operand = _plan_value(stream, depth + 1)
        return _Stage(_PREFIX_SYMBOLS[token.value], right=operand, error_fmt=_PREFIX_FMT)
    if token.kind in (NUMERIC, STRING, PATTERN, BOOLEAN, TIME):
        return _Stage("LITERAL", literal=token.value)
    if token.kind == VARIABLE:
        return _Stage("VARIABLE", literal=token.value)
    if token.kind == ACCESSOR:
        return _Stage("ACCESS", literal=token.value)
    raise Fail(f"Unable to plan token kind: '{token.kind}', value: '{_show(token.value)}'")


def _precedence(stage: _Stage) -> str:
    return _PRECEDENCE.get(stage.symbol, "VALUE")


def _reorder(root: _Stage | None) -> None:
    """govaluate's reorderStages: mirror runs of same-precedence stages down the right spine."""
    if root is None:
        return
    identical: list[_Stage] = []
    precedence = _precedence(root)
    current: _Stage | None = root
    while current is not None:
        stage = current
        current = stage.right
        if stage.left is not None:
            _reorder(stage.left)
        this = _precedence(stage)
        if this == precedence:
            identical.append(stage)
            continue
        if len(identical) > 1:
            _mirror(identical)
        identical = [stage]
        precedence = this
    if len(identical) > 1:
        _mirror(identical)


def _mirror(stages: list[_Stage]) -> None:
    for stage in stages:
        stage.left, stage.right = stage.right, stage.left
    root, end = stages[0], stages[-1]
    end.left, root.right = root.right, end.left
    count = len(stages)
    for i in range((count - 2) // 2 + 1):
        front, inverse = stages[i + 1], stages[count - i - 1]
        front.right, inverse.right = inverse.right, front.right
    for i in range(count // 2):
        stages[i].swap_with(stages[count - i - 1])


# ----------------------------------------------------------------------------------------- evaluation

_SHORT = object()


def _type_error(fmt: str, value: Any, symbol: str) -> Fail:
    return Fail(fmt % (_show_value(value), _SYMBOL_TEXT.get(symbol, "")))


def _show_value(value: Any) -> str:
    if isinstance(value, Regex):
        return value.pattern
    if isinstance(value, list):
        return "[" + " ".join(_show_value(v) for v in value) + "]"
    return format_v(value)


def _is_float(value: Any) -> bool:
    return isinstance(value, float)


def _evaluate(stage: _Stage, budget: Budget, depth: int = 0) -> Any:
    if depth > 4 * MAX_NESTING_DEPTH:
        raise Fail("expression nests too deeply")
    budget.spend()
    symbol = stage.symbol
    if symbol == "LITERAL":
        return stage.literal
    if symbol == "VARIABLE":
        raise Fail(f"No parameter '{stage.literal}' found.")
    if symbol == "ACCESS":
        raise Fail(f"No parameter '{stage.literal[0]}' found.")
    left = _evaluate(stage.left, budget, depth + 1) if stage.left is not None else None
    right: Any = None
    if symbol == "AND" and left is False:
        return False
    if symbol == "OR" and left is True:
        return True
    if symbol == "COALESCE" and left is not None:
        return left
    if symbol == "TERNARY_TRUE" and left is False or symbol == "TERNARY_FALSE" and left is not None:
        right = _SHORT
    if right is not _SHORT and stage.right is not None:
        right = _evaluate(stage.right, budget, depth + 1)
    return _apply(stage, left, None if right is _SHORT else right, budget)


def _apply(stage: _Stage, left: Any, right: Any, budget: Budget) -> Any:
    symbol, fmt = stage.symbol, stage.error_fmt
    if symbol == "NOOP":
        return right
    if symbol in ("GT", "LT", "GTE", "LTE"):
        if not (_is_float(left) and _is_float(right) or isinstance(left, str) and isinstance(right, str)):
            raise _type_error(fmt, left, symbol)
        return {"GT": left > right, "LT": left < right, "GTE": left >= right, "LTE": left <= right}[symbol]
    if symbol in ("EQ", "NEQ"):
        same = type(left) is type(right) and left == right
        if isinstance(left, list) and isinstance(right, list):
            same = left == right
        return same if symbol == "EQ" else not same
    if symbol in ("REQ", "NREQ"):
        if not isinstance(left, str):
            raise _type_error(fmt, left, symbol)
        if not isinstance(right, (str, Regex)):
            raise _type_error(fmt, right, symbol)
        try:
            pattern = right if isinstance(right, Regex) else compile_regex(right)
        except ExpressionError as exc:
            raise Fail(f"Unable to compile regexp pattern '{right}': {exc.message}") from None
        matched = pattern.search(left, budget)
        return matched if symbol == "REQ" else not matched
    if symbol in ("AND", "OR", "INVERT"):
        if symbol != "INVERT" and not isinstance(left, bool):
            raise _type_error(fmt, left, symbol)
        if not isinstance(right, bool):
            raise _type_error(fmt, right, symbol)
        if symbol == "INVERT":
            return not right
        return (left and right) if symbol == "AND" else (left or right)
    if symbol == "IN":
        if not isinstance(right, list):
            raise _type_error(fmt, right, symbol)
        return any(type(left) is type(v) and left == v for v in right)
    if symbol == "PLUS":
        if _is_float(left) and _is_float(right):
            return left + right
        if not isinstance(left, str) and not isinstance(right, str):
            raise _type_error(fmt, left, symbol)
        return _show_value(left) + _show_value(right)
    if symbol in (
        "MINUS",
        "MULTIPLY",
        "DIVIDE",
        "MODULUS",
        "EXPONENT",
        "BITWISE_AND",
        "BITWISE_OR",
        "BITWISE_XOR",
        "BITWISE_LSHIFT",
        "BITWISE_RSHIFT",
    ):
        if not _is_float(left):
            raise _type_error(fmt, left, symbol)
        if not _is_float(right):
            raise _type_error(fmt, right, symbol)
        return _arith(symbol, left, right)
    if symbol in ("NEGATE", "BITWISE_NOT"):
        if not _is_float(right):
            raise _type_error(fmt, right, symbol)
        return -right if symbol == "NEGATE" else float(~_go_int(right))
    if symbol == "TERNARY_TRUE":
        if not isinstance(left, bool):
            raise _type_error(fmt, left, symbol)
        return right if left else None
    if symbol in ("TERNARY_FALSE", "COALESCE"):
        return left if left is not None else right
    if symbol == "SEPARATE":
        return [*left, right] if isinstance(left, list) else [left, right]
    raise Fail(f"unsupported operator {symbol}")  # pragma: no cover


def _go_int(value: float) -> int:
    if math.isnan(value) or math.isinf(value):
        return -(2**63)
    number = int(value)
    return (number + 2**63) % 2**64 - 2**63


def _arith(symbol: str, left: float, right: float) -> float:
    if symbol == "MINUS":
        return left - right
    if symbol == "MULTIPLY":
        return left * right
    if symbol == "DIVIDE":
        if right == 0:
            return (
                math.nan if left == 0 or math.isnan(left) else math.copysign(math.inf, left) * math.copysign(1, right)
            )
        return left / right
    if symbol == "MODULUS":
        return math.fmod(left, right) if right != 0 else math.nan
    if symbol == "EXPONENT":
        try:
            return math.pow(left, right)
        except OverflowError:
            return math.inf
        except ValueError:
            return math.nan
    a, b = _go_int(left), _go_int(right)
    if symbol == "BITWISE_AND":
        return float(a & b)
    if symbol == "BITWISE_OR":
        return float(a | b)
    if symbol == "BITWISE_XOR":
        return float(a ^ b)
    ua, ub = a % 2**64, b % 2**64
    if ub >= 64:
        return 0.0
    return float((ua << ub) % 2**64 if symbol == "BITWISE_LSHIFT" else ua >> ub)


# ------------------------------------------------------------------------------------------------ API


@lru_cache(maxsize=1024)
def _plan(text: str) -> _Stage | None:
    tokens = _tokenize(text)
    _check_syntax(tokens)
    # Argo turns every variable into a string, so that `foo == bar` compares two words.
    tokens = [_Token(STRING, t.value) if t.kind == VARIABLE else t for t in tokens]
    _check_syntax(tokens)
    _optimize(tokens)
    if not tokens:
        return None
    stage = _plan_level(_TokenStream(tokens), 0, 0)
    _reorder(stage)
    return stage


def evaluate_when(text: str) -> bool:
    """Evaluate an already-substituted ``when:`` condition exactly as Argo does.

    >>> evaluate_when("heads == heads")
    True
    >>> evaluate_when("'tails-up' != heads && 2 > 1")
    True
    >>> evaluate_when("{{steps.x.outputs.result}} == 1".replace("{{steps.x.outputs.result}}", "1"))
    True

    An empty condition is true. Raises :class:`ExpressionError` with Argo's wording:
    ``Invalid 'when' expression ...`` for text govaluate cannot parse (with Argo's hint to quote the
    value when a token is invalid), ``Failed to evaluate 'when' expression ...`` when evaluation fails
    (for example ``tails-up == x``, which govaluate reads as ``tails - up``) and ``Expected boolean
    evaluation for ...`` when the result is not a bool.
    """
    if not isinstance(text, str):
        raise ExpressionError(f"when must be a string, not {type(text).__name__}")
    if text == "":
        return True
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise ExpressionError(f"when expression exceeds the limit of {MAX_EXPRESSION_LENGTH} characters", text[:200])
    try:
        stage = _plan(text)
    except (Fail, ExpressionError) as exc:
        message = exc.message
        hint = ' (hint: try wrapping the affected expression in quotes ("))' if "Invalid token" in message else ""
        raise ExpressionError(f"Invalid 'when' expression '{text}': {message}{hint}", text) from None
    except RecursionError:
        raise ExpressionError(f"Invalid 'when' expression '{text}': expression nests too deeply", text) from None
    except Exception as exc:
        raise ExpressionError(f"Invalid 'when' expression '{text}': {exc}", text) from None
    if stage is None:
        raise ExpressionError(f"Expected boolean evaluation for '{text}'. Got <nil>", text)
    budget = Budget(text)
    try:
        result = _evaluate(stage, budget)
    except (Fail, ExpressionError) as exc:
        # An unquoted value with a dash or slash (tails-up) is read as arithmetic on two words.
        hint = (
            ' (hint: try wrapping the affected expression in quotes ("))' if "with the modifier" in exc.message else ""
        )
        raise ExpressionError(f"Failed to evaluate 'when' expression '{text}': {exc.message}{hint}", text) from None
    except RecursionError:
        raise ExpressionError(f"Failed to evaluate 'when' expression '{text}': nests too deeply", text) from None
    except Exception as exc:
        raise ExpressionError(f"Failed to evaluate 'when' expression '{text}': {exc}", text) from None
    if not isinstance(result, bool):
        raise ExpressionError(f"Expected boolean evaluation for '{text}'. Got {_show_value(result)}", text)
    return result
