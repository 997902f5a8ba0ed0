"""Value semantics shared by the expr-lang evaluator and its functions (Go/expr-lang rules)."""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Mapping, Sequence
from typing import Any

from .gofmt import format_v, type_name

__all__ = [
    "Fail",
    "as_float",
    "as_int",
    "equal",
    "is_list",
    "is_map",
    "is_number",
    "to_bool",
    "wrap_int",
]

_INT_MIN = -(2**63)
_INT_RANGE = 2**64


class Fail(Exception):
    """Internal evaluation error; converted to :class:`ExpressionError` by the public functions."""

    def __init__(self, message: str, position: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.position = position


def wrap_int(value: int) -> int:
    """Wrap an integer to Go's 64-bit ``int`` (two's complement), as Go arithmetic does."""
    if _INT_MIN <= value < -_INT_MIN:
        return value
    return (value - _INT_MIN) % _INT_RANGE + _INT_MIN


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_list(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, (str, bytes, bytearray))


def is_map(value: Any) -> bool:
    return isinstance(value, Mapping)


def to_bool(value: Any, what: str) -> bool:
    if isinstance(value, bool):
        return value
    raise Fail(f"invalid operation: {what} (non-bool value of type {type_name(value)})")


def equal(left: Any, right: Any) -> bool:
    """expr-lang's ``==``: numbers compare by value across int/float, everything else deeply."""
    if is_number(left) and is_number(right):
        return left == right
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left == right
    if left is None or right is None:
        return left is None and right is None
    if isinstance(left, str) or isinstance(right, str):
        return isinstance(left, str) and isinstance(right, str) and left == right
    if is_list(left) and is_list(right):
        return len(left) == len(right) and all(_deep_equal(a, b) for a, b in zip(left, right))
    if is_map(left) and is_map(right):
        return len(left) == len(right) and all(k in right and _deep_equal(v, right[k]) for k, v in left.items())
    if isinstance(left, _dt.datetime) and isinstance(right, _dt.datetime):
        return _aware(left) == _aware(right)
    if isinstance(left, _dt.timedelta) and isinstance(right, _dt.timedelta):
        return left == right
    return False


def _deep_equal(left: Any, right: Any) -> bool:
    # Go's reflect.DeepEqual inside containers: an int and a float are different values.
    if is_number(left) and is_number(right) and type(left) is not type(right):
        return False
    return equal(left, right)


def _aware(value: _dt.datetime) -> _dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=_dt.timezone.utc)


def as_int(value: Any) -> int:
    """expr-lang's ``int()`` (Argo's ``asInt``)."""
    if isinstance(value, bool):
        raise Fail(f"invalid operation: int({type_name(value)})")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return _INT_MIN
        return wrap_int(int(value))
    if isinstance(value, str):
        text = value
        body = text[1:] if text[:1] in "+-" else text
        if not body.isdigit() or not body.isascii():
            raise Fail(f'strconv.Atoi: parsing "{format_v(value)}": invalid syntax')
        number = int(text)
        if not _INT_MIN <= number < -_INT_MIN:
            raise Fail(f'strconv.Atoi: parsing "{value}": value out of range')
        return number
    if isinstance(value, _dt.timedelta):
        return (value.days * 86_400 + value.seconds) * 1_000_000_000 + value.microseconds * 1_000
    raise Fail(f"invalid operation: int({type_name(value)})")


def as_float(value: Any) -> float:
    """expr-lang's ``float()`` (Argo's ``asFloat``)."""
    if isinstance(value, bool):
        raise Fail(f"invalid operation: float({type_name(value)})")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        text = value.strip() if value != value.strip() else value
        if text != value or not text or "_" in text:
            raise Fail(f'strconv.ParseFloat: parsing "{value}": invalid syntax')
        lowered = text.lower().lstrip("+-")
        if lowered in ("inf", "infinity", "nan"):
            return float(text)
        try:
            return float(text)
        except ValueError:
            raise Fail(f'strconv.ParseFloat: parsing "{value}": invalid syntax') from None
    raise Fail(f"invalid operation: float({type_name(value)})")
