"""expr-lang's operators on values: arithmetic, comparison, member access, slices and ranges.

Go's rules where Python's differ (integer wrapping, integer division, mixed int/float comparisons,
time and duration arithmetic), every result bounded by :mod:`.limits`.
"""

from __future__ import annotations

import datetime as _dt
import math
from typing import Any

from .exprparse import _ORDER_OPS
from .gofmt import type_name
from .limits import (
    MAX_COLLECTION_SIZE,
    MAX_STRING_LENGTH,
    Budget,
)
from .regex import compile_regex
from .values import Fail, equal, is_list, is_map, is_number, wrap_int


def _check_len(value: Any, budget: Budget) -> Any:
    if isinstance(value, str):
        if len(value) > MAX_STRING_LENGTH:
            raise Fail(f"string of {len(value)} characters exceeds the limit of {MAX_STRING_LENGTH}")
        budget.spend(1 + len(value) // 256)
    elif isinstance(value, list):
        if len(value) > MAX_COLLECTION_SIZE:
            raise Fail(f"list of {len(value)} elements exceeds the limit of {MAX_COLLECTION_SIZE}")
        budget.spend(1 + len(value) // 16)
    return value


def _mismatch(op: str, left: Any, right: Any) -> Fail:
    return Fail(f"invalid operation: {op} (mismatched types {type_name(left)} and {type_name(right)})")


def arith(op: str, left: Any, right: Any, budget: Budget) -> Any:
    """expr-lang's arithmetic operators on two values."""
    if is_number(left) and is_number(right):
        both_int = isinstance(left, int) and isinstance(right, int)
        if op == "+":
            return wrap_int(left + right) if both_int else float(left) + float(right)
        if op == "-":
            return wrap_int(left - right) if both_int else float(left) - float(right)
        if op == "*":
            return wrap_int(left * right) if both_int else float(left) * float(right)
        if op == "/":
            if right == 0:
                if left == 0 or (isinstance(left, float) and math.isnan(left)):
                    return math.nan
                return math.copysign(math.inf, left) * math.copysign(1.0, right)
            return float(left) / float(right)
        if op == "%":
            if not both_int:
                raise _mismatch(op, left, right)
            if right == 0:
                raise Fail("integer divide by zero")
            result = abs(left) % abs(right)
            return -result if left < 0 else result
    if op == "+":
        if isinstance(left, str) and isinstance(right, str):
            return _check_len(left + right, budget)
        if is_list(left) and is_list(right):
            return _check_len([*left, *right], budget)
        if isinstance(left, _dt.datetime) and isinstance(right, _dt.timedelta):
            return left + right
        if isinstance(left, _dt.timedelta) and isinstance(right, _dt.datetime):
            return right + left
        if isinstance(left, _dt.timedelta) and isinstance(right, _dt.timedelta):
            return left + right
    if op == "-":
        if isinstance(left, _dt.datetime) and isinstance(right, _dt.datetime):
            return _aware(left) - _aware(right)
        if isinstance(left, _dt.datetime) and isinstance(right, _dt.timedelta):
            return left - right
        if isinstance(left, _dt.timedelta) and isinstance(right, _dt.timedelta):
            return left - right
    raise _mismatch(op, left, right)


def _aware(value: _dt.datetime) -> _dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=_dt.timezone.utc)


def power(left: Any, right: Any) -> float:
    if not (is_number(left) and is_number(right)):
        raise _mismatch("**", left, right)
    try:
        return math.pow(float(left), float(right))
    except OverflowError:
        return math.inf
    except ValueError:
        return math.nan


def _ordered(op: str, left: Any, right: Any) -> bool:
    if is_number(left) and is_number(right) or isinstance(left, str) and isinstance(right, str):
        pass
    elif isinstance(left, _dt.datetime) and isinstance(right, _dt.datetime):
        left, right = _aware(left), _aware(right)
    elif not (isinstance(left, _dt.timedelta) and isinstance(right, _dt.timedelta)):
        raise _mismatch(op, left, right)
    if op == "<":
        return bool(left < right)
    if op == ">":
        return bool(left > right)
    if op == "<=":
        return bool(left <= right)
    return bool(left >= right)


def compare(op: str, left: Any, right: Any, budget: Budget) -> bool:
    """expr-lang's comparison and membership operators."""
    if op == "==":
        return equal(left, right)
    if op == "!=":
        return not equal(left, right)
    if op in _ORDER_OPS:
        return _ordered(op, left, right)
    if op == "in":
        if is_map(right):
            return isinstance(left, str) and left in right
        if is_list(right):
            budget.spend(1 + len(right) // 16)
            return any(equal(left, item) for item in right)
        if right is None:
            return False
        raise _mismatch("in", left, right)
    if not (isinstance(left, str) and isinstance(right, str)):
        raise _mismatch(op, left, right)
    if op == "contains":
        return right in left
    if op == "startsWith":
        return left.startswith(right)
    if op == "endsWith":
        return left.endswith(right)
    if op == "matches":
        return compile_regex(right).search(left, budget)
    raise Fail(f"unknown operator {op}")  # pragma: no cover


def fetch(obj: Any, key: Any, optional: bool = False) -> Any:
    """``obj.key`` / ``obj[key]``: map lookup (missing gives nil), list/string index."""
    if obj is None:
        if optional:
            return None
        raise Fail(f"cannot fetch {_key_text(key)} from <nil>")
    if is_map(obj):
        if not isinstance(key, str):
            raise Fail(f"cannot use {type_name(key)} as index to {type_name(obj)}")
        return obj.get(key)
    if is_list(obj) or isinstance(obj, str):
        if not (isinstance(key, int) and not isinstance(key, bool)):
            if is_number(key) and float(key).is_integer():
                key = int(key)
            else:
                raise Fail(f"cannot fetch {_key_text(key)} from {type_name(obj)}")
        length = len(obj)
        index = key + length if key < 0 else key
        if not 0 <= index < length:
            raise Fail(f"index out of range: {key} (array length is {length})")
        return obj[index]
    raise Fail(f"cannot fetch {_key_text(key)} from {type_name(obj)}")


def _key_text(key: Any) -> str:
    return key if isinstance(key, str) else repr(key)


def slice_value(obj: Any, start: Any, stop: Any) -> Any:
    if not (is_list(obj) or isinstance(obj, str)):
        raise Fail(f"cannot slice {type_name(obj)}")
    length = len(obj)
    a = 0 if start is None else start
    b = length if stop is None else stop
    for bound in (a, b):
        if not (isinstance(bound, int) and not isinstance(bound, bool)):
            raise Fail(f"non-integer slice index of type {type_name(bound)}")
    if a < 0:
        a = max(length + a, 0)
    if b < 0:
        b = max(length + b, 0)
    b = min(b, length)
    a = min(a, b)
    result = obj[a:b]
    return list(result) if is_list(obj) else result


def make_range(left: Any, right: Any, budget: Budget) -> list[int]:
    if not (isinstance(left, int) and isinstance(right, int)) or isinstance(left, bool) or isinstance(right, bool):
        raise _mismatch("..", left, right)
    size = right - left + 1
    if size > MAX_COLLECTION_SIZE:
        raise Fail(f"range of {size} elements exceeds the limit of {MAX_COLLECTION_SIZE}")
    if size <= 0:
        return []
    budget.spend(1 + size // 16)
    return list(range(left, right + 1))
