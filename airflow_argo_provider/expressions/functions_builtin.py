"""expr-lang's builtin functions (``len``, ``split``, ``toJSON``, ``sort``, ``date``...) and Argo's additions.

Every function checks its arguments' types as expr-lang does and bounds what it builds (see
:mod:`.limits`); the tables that make them callable are in :mod:`.functions`.
"""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .gofmt import format_v, go_json, load_json, type_name
from .gotime import parse_duration, parse_time, utc_now
from .jsonpath import query as jsonpath_query
from .limits import MAX_COLLECTION_SIZE, MAX_STRING_LENGTH
from .values import Fail, as_int, equal, is_list, is_map, is_number, wrap_int

if TYPE_CHECKING:
    from .exprlang import Context


def _str(value: Any, fn: str, index: int = 1) -> str:
    if not isinstance(value, str):
        raise Fail(f"invalid argument for {fn} (type {type_name(value)})")
    return value


def _list(value: Any, fn: str) -> list[Any]:
    if not is_list(value):
        raise Fail(f"invalid argument for {fn} (type {type_name(value)})")
    return list(value)


def _bounded_str(text: str) -> str:
    if len(text) > MAX_STRING_LENGTH:
        raise Fail(f"string of {len(text)} characters exceeds the limit of {MAX_STRING_LENGTH}")
    return text


def replaced(text: str, old: str, new: str) -> str:
    """``text.replace(old, new)``, its size checked before it is built."""
    count = len(text) + 1 if old == "" else text.count(old)
    size = len(text) + count * (len(new) - len(old))
    if size > MAX_STRING_LENGTH:
        raise Fail(f"string of {size} characters exceeds the limit of {MAX_STRING_LENGTH}")
    return text.replace(old, new)


def joined(parts: list[str], sep: str) -> str:
    """``sep.join(parts)``, its size checked before it is built."""
    size = sum(len(p) for p in parts) + len(sep) * max(len(parts) - 1, 0)
    if size > MAX_STRING_LENGTH:
        raise Fail(f"string of {size} characters exceeds the limit of {MAX_STRING_LENGTH}")
    return sep.join(parts)


def _bounded_list(items: list[Any]) -> list[Any]:
    if len(items) > MAX_COLLECTION_SIZE:
        raise Fail(f"list of {len(items)} elements exceeds the limit of {MAX_COLLECTION_SIZE}")
    return items


def _len(ctx: Context, value: Any) -> int:
    if isinstance(value, str) or is_list(value) or is_map(value):
        return len(value)
    raise Fail(f"invalid argument for len (type {type_name(value)})")


def _abs(ctx: Context, value: Any) -> Any:
    if not is_number(value):
        raise Fail(f"invalid argument for abs (type {type_name(value)})")
    return wrap_int(abs(value)) if isinstance(value, int) else abs(value)


def _num_fn(name: str, op: Callable[[float], float]) -> Callable[..., Any]:
    def impl(ctx: Context, value: Any) -> Any:
        if not is_number(value):
            raise Fail(f"invalid argument for {name} (type {type_name(value)})")
        return op(float(value))

    return impl


def _round(value: float) -> float:
    # Go's math.Round: half away from zero.
    if math.isnan(value) or math.isinf(value):
        return value
    return float(math.floor(abs(value) + 0.5)) * (1 if value >= 0 else -1)


def _string(ctx: Context, value: Any) -> str:
    return _bounded_str(format_v(value))


def _trim(ctx: Context, value: Any, chars: Any = None) -> str:
    text = _str(value, "trim")
    if chars is None:
        return text.strip(" \t\n\r\v\f\u0085\u00a0")
    return text.strip(_str(chars, "trim"))


def _trim_prefix(ctx: Context, value: Any, prefix: Any = " ") -> str:
    text, prefix = _str(value, "trimPrefix"), _str(prefix, "trimPrefix")
    return text[len(prefix) :] if prefix and text.startswith(prefix) else text


def _trim_suffix(ctx: Context, value: Any, suffix: Any = " ") -> str:
    text, suffix = _str(value, "trimSuffix"), _str(suffix, "trimSuffix")
    return text[: -len(suffix)] if suffix and text.endswith(suffix) else text


def _split(ctx: Context, value: Any, sep: Any, n: Any = -1) -> list[str]:
    text, sep = _str(value, "split"), _str(sep, "split")
    count = as_int(n)
    if count == 0:
        return []
    if sep == "":
        parts = list(text)
        if count > 0 and len(parts) > count:
            parts = [*parts[: count - 1], "".join(parts[count - 1 :])]
        return _bounded_list(parts)
    return _bounded_list(text.split(sep, count - 1) if count > 0 else text.split(sep))


def _split_after(ctx: Context, value: Any, sep: Any, n: Any = -1) -> list[str]:
    parts = _split(ctx, value, sep, n)
    sep_text = str(sep)
    return [p + sep_text for p in parts[:-1]] + parts[-1:] if sep_text else parts


def _replace(ctx: Context, value: Any, old: Any, new: Any) -> str:
    return replaced(_str(value, "replace"), _str(old, "replace"), _str(new, "replace"))


def _repeat(ctx: Context, value: Any, count: Any) -> str:
    text, times = _str(value, "repeat"), as_int(count)
    if times < 0:
        raise Fail("strings: negative Repeat count")
    if len(text) * times > MAX_STRING_LENGTH:
        raise Fail(f"repeat result exceeds the limit of {MAX_STRING_LENGTH} characters")
    ctx.budget.spend(1 + len(text) * times // 256)
    return text * times


def _join(ctx: Context, value: Any, sep: Any = "") -> str:
    items = _list(value, "join")
    sep_text = _str(sep, "join")
    for item in items:
        if not isinstance(item, str):
            raise Fail(f"invalid argument for join (element of type {type_name(item)})")
    ctx.budget.spend(1 + len(items) // 16)
    return joined(items, sep_text)


def _index_of(ctx: Context, value: Any, sub: Any) -> int:
    return _str(value, "indexOf").find(_str(sub, "indexOf"))


def _last_index_of(ctx: Context, value: Any, sub: Any) -> int:
    return _str(value, "lastIndexOf").rfind(_str(sub, "lastIndexOf"))


def _numbers(fn: str, args: tuple[Any, ...]) -> list[Any]:
    values: list[Any] = []
    for arg in args:
        if is_list(arg):
            values.extend(arg)
        else:
            values.append(arg)
    for value in values:
        if not is_number(value):
            raise Fail(f"invalid argument for {fn} (type {type_name(value)})")
    if not values:
        raise Fail(f"not enough arguments to call {fn}")
    return values


def _max(ctx: Context, *args: Any) -> Any:
    return max(_numbers("max", args))


def _min(ctx: Context, *args: Any) -> Any:
    return min(_numbers("min", args))


def _sum_values(values: list[Any]) -> Any:
    total: Any = 0
    for value in values:
        if not is_number(value):
            raise Fail(f"invalid argument for sum (type {type_name(value)})")
        total = wrap_int(total + value) if isinstance(total, int) and isinstance(value, int) else float(total) + value
    return total


def _mean(ctx: Context, *args: Any) -> float:
    values = _numbers("mean", args)
    return float(sum(float(v) for v in values)) / len(values)


def _median(ctx: Context, *args: Any) -> float:
    values = sorted(float(v) for v in _numbers("median", args))
    middle = len(values) // 2
    return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2


def _to_json(ctx: Context, value: Any) -> str:
    return go_json(value, indent="  ")


def _argo_to_json(ctx: Context, value: Any) -> str:
    return go_json(value)


def _from_json(ctx: Context, value: Any) -> Any:
    return load_json(_str(value, "fromJSON"))


def _to_base64(ctx: Context, value: Any) -> str:
    return base64.b64encode(_str(value, "toBase64").encode("utf-8")).decode("ascii")


def _from_base64(ctx: Context, value: Any) -> str:
    try:
        return base64.b64decode(_str(value, "fromBase64").encode("ascii"), validate=True).decode("utf-8", "replace")
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise Fail("illegal base64 data") from None


def _keys(ctx: Context, value: Any) -> list[Any]:
    if not is_map(value):
        raise Fail(f"invalid argument for keys (type {type_name(value)})")
    return list(value.keys())


def _values(ctx: Context, value: Any) -> list[Any]:
    if not is_map(value):
        raise Fail(f"invalid argument for values (type {type_name(value)})")
    return list(value.values())


def _first(ctx: Context, value: Any) -> Any:
    if isinstance(value, str) or is_list(value):
        return value[0] if value else None
    raise Fail(f"cannot get first element from {type_name(value)}")


def _last(ctx: Context, value: Any) -> Any:
    if isinstance(value, str) or is_list(value):
        return value[-1] if value else None
    raise Fail(f"cannot get last element from {type_name(value)}")


def _get(ctx: Context, value: Any, key: Any) -> Any:
    if is_map(value):
        return value.get(key) if isinstance(key, str) else None
    if is_list(value) and isinstance(key, int) and not isinstance(key, bool):
        index = key + len(value) if key < 0 else key
        return value[index] if 0 <= index < len(value) else None
    return None


def _type(ctx: Context, value: Any) -> str:
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if is_list(value):
        return "array"
    if is_map(value):
        return "map"
    if isinstance(value, _dt.datetime):
        return "time.Time"
    if isinstance(value, _dt.timedelta):
        return "time.Duration"
    return "unknown"


def _sort_key(value: Any) -> Any:
    if is_number(value):
        return (0, value)
    if isinstance(value, str):
        return (1, value)
    raise Fail(f"cannot sort values of type {type_name(value)}")


def _sort(ctx: Context, value: Any, order: Any = "asc") -> list[Any]:
    items = _list(value, "sort")
    kinds = {(0 if is_number(i) else 1) for i in items}
    if len(kinds) > 1:
        raise Fail("sort: mixed types")
    ctx.budget.spend(1 + len(items))
    if order not in ("asc", "desc"):
        raise Fail(f'unknown order "{format_v(order)}", use asc or desc')
    return sorted(items, key=_sort_key, reverse=order == "desc")


def _reverse(ctx: Context, value: Any) -> list[Any]:
    return list(reversed(_list(value, "reverse")))


def _uniq(ctx: Context, value: Any) -> list[Any]:
    out: list[Any] = []
    items = _list(value, "uniq")
    ctx.budget.spend(1 + len(items) * (1 + len(items) // 64))
    for item in items:
        if not any(equal(item, seen) for seen in out):
            out.append(item)
    return out


def _flatten(ctx: Context, value: Any) -> list[Any]:
    out: list[Any] = []
    stack = [(_list(value, "flatten"), 0)]
    while stack:
        items, index = stack.pop()
        while index < len(items):
            item = items[index]
            index += 1
            if is_list(item):
                stack.append((items, index))
                items, index = list(item), 0
                if len(stack) > 64:
                    raise Fail("flatten: nesting too deep")
                continue
            out.append(item)
            if len(out) > MAX_COLLECTION_SIZE:
                raise Fail("flatten: result too large")
    return out


def _concat(ctx: Context, *values: Any) -> list[Any]:
    out: list[Any] = []
    for value in values:
        out.extend(_list(value, "concat"))
    ctx.budget.spend(1 + len(out) // 16)
    return _bounded_list(out)


def _to_pairs(ctx: Context, value: Any) -> list[list[Any]]:
    if not is_map(value):
        raise Fail(f"invalid argument for toPairs (type {type_name(value)})")
    return [[k, v] for k, v in value.items()]


def _from_pairs(ctx: Context, value: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in _list(value, "fromPairs"):
        if not is_list(pair) or len(pair) != 2 or not isinstance(pair[0], str):
            raise Fail("invalid pair for fromPairs")
        out[pair[0]] = pair[1]
    return out


def _now(ctx: Context) -> _dt.datetime:
    return utc_now()


def _duration(ctx: Context, value: Any) -> _dt.timedelta:
    return parse_duration(_str(value, "duration"))


def _date(ctx: Context, value: Any, layout: Any = None, zone: Any = None) -> _dt.datetime:
    if isinstance(value, _dt.datetime):
        return value
    text = _str(value, "date")
    if zone is not None and _str(zone, "date") not in ("UTC", "Local", ""):
        raise Fail(f"unknown time zone {zone}")
    return parse_time(text, _str(layout, "date") if layout is not None else None)


def _bit(op: Callable[[int, int], int], name: str) -> Callable[..., int]:
    def impl(ctx: Context, a: Any, b: Any) -> int:
        if not (isinstance(a, int) and isinstance(b, int)) or isinstance(a, bool) or isinstance(b, bool):
            raise Fail(f"invalid argument for {name}")
        return wrap_int(op(a, b))

    return impl


def _shift(left: bool) -> Callable[..., int]:
    def impl(ctx: Context, a: Any, b: Any) -> int:
        if not (isinstance(a, int) and isinstance(b, int)) or b < 0 or b > 64:
            raise Fail("invalid shift")
        return wrap_int(a << b) if left else a >> b

    return impl


def _jsonpath(ctx: Context, document: Any, path: Any) -> Any:
    return jsonpath_query(_str(path, "jsonpath"), load_json(_str(document, "jsonpath")))
