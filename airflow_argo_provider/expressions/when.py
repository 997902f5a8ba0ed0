"""``when:`` conditions, evaluated as Argo does: govaluate (github.com/Knetic/govaluate) after substitution.

Argo's ``shouldExecute`` tokenizes the substituted text with govaluate, turns every VARIABLE token into
a STRING token (so ``heads == heads`` is true and ``foo != bar`` works unquoted), plans the tokens
again and evaluates them with no parameters; the result must be a bool. This module ports
govaluate's stage planner (including its re-ordering of same-precedence operators, which makes
``a || b && c`` evaluate as ``(a || b) && c``) and its evaluation rules; its tokenizer and syntax
check are :mod:`.when_tokens`.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

from .errors import ExpressionError
from .gofmt import format_v
from .limits import MAX_EXPRESSION_LENGTH, MAX_NESTING_DEPTH, Budget
from .regex import Regex, compile_regex
from .values import Fail
from .when_tokens import (
    _COMPARATOR_SYMBOLS,
    _PREFIX_SYMBOLS,
    _SYMBOL_TEXT,
    _TERNARY_SYMBOLS,
    ACCESSOR,
    BOOLEAN,
    CLAUSE,
    CLAUSE_CLOSE,
    COMPARATOR,
    LOGICALOP,
    MODIFIER,
    NUMERIC,
    PATTERN,
    PREFIX,
    SEPARATOR,
    STRING,
    TERNARY,
    TIME,
    VARIABLE,
    _check_syntax,
    _optimize,
    _show,
    _Token,
    _tokenize,
)

__all__ = ["evaluate_when"]


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
