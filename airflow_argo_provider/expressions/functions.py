"""Functions available to expr-lang expressions: expr-lang builtins, Argo's additions and ``sprig.*``.

Only the functions in these tables can be called; nothing from the environment is ever called.
"""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
import hashlib
import math
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .gofmt import format_duration, format_v, go_json, load_json, type_name
from .gotime import UTC, format_layout, parse_duration, parse_time, utc_now
from .jsonpath import query as jsonpath_query
from .limits import MAX_COLLECTION_SIZE, MAX_STRING_LENGTH
from .regex import compile_regex
from .values import Fail, as_float, as_int, equal, is_list, is_map, is_number, wrap_int

if TYPE_CHECKING:
    from .exprlang import Context

__all__ = ["call_method", "is_function_name", "lookup", "lookup_sprig"]


@dataclass(frozen=True)
class Spec:
    name: str
    impl: Callable[..., Any]
    predicate: bool = False


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


def _bounded_list(items: list[Any]) -> list[Any]:
    if len(items) > MAX_COLLECTION_SIZE:
        raise Fail(f"list of {len(items)} elements exceeds the limit of {MAX_COLLECTION_SIZE}")
    return items


# ------------------------------------------------------------------------------------ expr builtins


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
    return _bounded_str(_str(value, "replace").replace(_str(old, "replace"), _str(new, "replace")))


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
    return _bounded_str(sep_text.join(items))


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


# --------------------------------------------------------------------------------------- predicates


def _each(ctx: Context, body: Callable[[Context], Any], collection: Any, fn: str) -> Any:
    if collection is None:
        items: list[Any] = []
    elif is_map(collection):
        items = list(collection.values())
    elif is_list(collection):
        items = list(collection)
    else:
        raise Fail(f"cannot iterate over {type_name(collection)} in {fn}")
    for index, item in enumerate(items):
        ctx.budget.spend()
        ctx.pointers.append((item, index, None))
        try:
            yield item, body(ctx)
        finally:
            ctx.pointers.pop()


def _pred_bool(value: Any, fn: str) -> bool:
    if not isinstance(value, bool):
        raise Fail(f"predicate of {fn} must return bool, not {type_name(value)}")
    return value


def _all(ctx: Context, body: Any, collection: Any) -> bool:
    return all(_pred_bool(result, "all") for _, result in _each(ctx, body, collection, "all"))


def _any(ctx: Context, body: Any, collection: Any) -> bool:
    return any(_pred_bool(result, "any") for _, result in _each(ctx, body, collection, "any"))


def _none(ctx: Context, body: Any, collection: Any) -> bool:
    return not any(_pred_bool(result, "none") for _, result in _each(ctx, body, collection, "none"))


def _one(ctx: Context, body: Any, collection: Any) -> bool:
    count = 0
    for _, result in _each(ctx, body, collection, "one"):
        if _pred_bool(result, "one"):
            count += 1
            if count > 1:
                return False
    return count == 1


def _filter(ctx: Context, body: Any, collection: Any) -> list[Any]:
    return [item for item, result in _each(ctx, body, collection, "filter") if _pred_bool(result, "filter")]


def _map(ctx: Context, body: Any, collection: Any) -> list[Any]:
    return [result for _, result in _each(ctx, body, collection, "map")]


def _count(ctx: Context, body: Any, collection: Any) -> int:
    return sum(1 for _, result in _each(ctx, body, collection, "count") if _pred_bool(result, "count"))


def _sum_pred(ctx: Context, body: Any, collection: Any) -> Any:
    return _sum_values([result for _, result in _each(ctx, body, collection, "sum")])


def _find(ctx: Context, body: Any, collection: Any) -> Any:
    for item, result in _each(ctx, body, collection, "find"):
        if _pred_bool(result, "find"):
            return item
    return None


def _find_index(ctx: Context, body: Any, collection: Any) -> int:
    for index, (_, result) in enumerate(_each(ctx, body, collection, "findIndex")):
        if _pred_bool(result, "findIndex"):
            return index
    return -1


def _find_last(ctx: Context, body: Any, collection: Any) -> Any:
    found = None
    for item, result in _each(ctx, body, collection, "findLast"):
        if _pred_bool(result, "findLast"):
            found = item
    return found


def _find_last_index(ctx: Context, body: Any, collection: Any) -> int:
    found = -1
    for index, (_, result) in enumerate(_each(ctx, body, collection, "findLastIndex")):
        if _pred_bool(result, "findLastIndex"):
            found = index
    return found


def _group_by(ctx: Context, body: Any, collection: Any) -> dict[str, list[Any]]:
    groups: dict[str, list[Any]] = {}
    for item, result in _each(ctx, body, collection, "groupBy"):
        groups.setdefault(format_v(result), []).append(item)
    return groups


def _sort_by(ctx: Context, body: Any, collection: Any, order: Any = "asc") -> list[Any]:
    pairs = [(result, item) for item, result in _each(ctx, body, collection, "sortBy")]
    if order not in ("asc", "desc"):
        raise Fail(f'unknown order "{format_v(order)}", use asc or desc')
    pairs.sort(key=lambda pair: _sort_key(pair[0]), reverse=order == "desc")
    return [item for _, item in pairs]


def _reduce(ctx: Context, body: Any, collection: Any, *initial: Any) -> Any:
    items = _list(collection, "reduce") if collection is not None else []
    if initial:
        acc, start = initial[0], 0
    else:
        if not items:
            raise Fail("reduce of empty array with no initial value")
        acc, start = items[0], 1
    for index in range(start, len(items)):
        ctx.budget.spend()
        ctx.pointers.append((items[index], index, acc))
        try:
            acc = body(ctx)
        finally:
            ctx.pointers.pop()
    return acc


# ---------------------------------------------------------------------------------------------- sprig


def _strval(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return "<nil>"
    return format_v(value)


def _to_int64(value: Any) -> int:
    """spf13/cast ``ToInt64`` as sprig uses it: failures give 0."""
    if isinstance(value, bool):
        return 1 if value else 0
    if isinstance(value, int):
        return wrap_int(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return 0
        return wrap_int(int(value))
    if isinstance(value, str):
        text = value
        if "." in text and text.rstrip("0").endswith("."):
            text = text.rstrip("0")[:-1]
        try:
            return wrap_int(int(text, 0))
        except ValueError:
            return 0
    return 0


def _to_float64(value: Any) -> float:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return 0.0
    return 0.0


def _empty(value: Any) -> bool:
    if value is None or value is False:
        return True
    if is_number(value):
        return value == 0
    if isinstance(value, (str, list, tuple, dict)) or is_map(value) or is_list(value):
        return len(value) == 0
    return False


def _sprig_default(ctx: Context, default: Any, *given: Any) -> Any:
    if not given or _empty(given[0]):
        return default
    return given[0]


def _sprig_b64dec(ctx: Context, value: Any) -> str:
    try:
        return base64.b64decode(_strval(value).encode("ascii"), validate=True).decode("utf-8", "replace")
    except (binascii.Error, UnicodeEncodeError, ValueError) as exc:
        return str(exc)


def _sprig_from_json(ctx: Context, value: Any) -> Any:
    try:
        return load_json(_strval(value))
    except Exception:
        return None


def _sprig_dict(ctx: Context, *pairs: Any) -> dict[str, Any]:
    items = list(pairs)
    if len(items) % 2:
        items.append("")
    return {_strval(items[i]): items[i + 1] for i in range(0, len(items), 2)}


def _sprig_has(ctx: Context, needle: Any, haystack: Any) -> bool:
    if haystack is None:
        return False
    return any(equal(needle, item) for item in _list(haystack, "has"))


def _sprig_date(ctx: Context, layout: Any, date: Any) -> str:
    if isinstance(date, _dt.datetime):
        moment = date
    elif isinstance(date, int) and not isinstance(date, bool):
        moment = _dt.datetime.fromtimestamp(date, UTC)
    else:
        moment = utc_now()  # sprig formats "now" for any other argument type
    return format_layout(_strval(layout), moment)


def _sprig_regex_replace(ctx: Context, regex: Any, text: Any, repl: Any, literal: bool = False) -> str:
    pattern = compile_regex(_strval(regex))
    source = _strval(text)
    replacement = _strval(repl)
    out: list[str] = []
    last = 0
    for match in pattern.find_all(source, budget=ctx.budget):
        out.append(source[last : match[0]])
        out.append(replacement if literal else _expand(replacement, source, match, pattern.names))
        last = match[1]
    out.append(source[last:])
    return _bounded_str("".join(out))


def _expand(template: str, source: str, match: list[int], names: dict[str, int]) -> str:
    out: list[str] = []
    i = 0
    while i < len(template):
        c = template[i]
        if c != "$" or i + 1 >= len(template):
            out.append(c)
            i += 1
            continue
        if template[i + 1] == "$":
            out.append("$")
            i += 2
            continue
        if template[i + 1] == "{":
            end = template.find("}", i)
            name = template[i + 2 : end] if end > 0 else ""
            i = end + 1 if end > 0 else len(template)
        else:
            j = i + 1
            while j < len(template) and (template[j].isalnum() or template[j] == "_"):
                j += 1
            name = template[i + 1 : j]
            i = j
            if not name:
                out.append("$")
                continue
        group = int(name) if name.isdigit() else names.get(name, -1)
        if group >= 0 and 2 * group + 1 < len(match) and match[2 * group] >= 0:
            out.append(source[match[2 * group] : match[2 * group + 1]])
    return "".join(out)


def _sprig_regex_find_all(ctx: Context, regex: Any, text: Any, n: Any) -> list[str]:
    source = _strval(text)
    return [source[m[0] : m[1]] for m in compile_regex(_strval(regex)).find_all(source, as_int(n), ctx.budget)]


def _sprig_regex_split(ctx: Context, regex: Any, text: Any, n: Any) -> list[str]:
    source = _strval(text)
    limit = as_int(n)
    if limit == 0:
        return []
    matches = compile_regex(_strval(regex)).find_all(source, budget=ctx.budget)
    out: list[str] = []
    last = 0
    for match in matches:
        if limit > 0 and len(out) == limit - 1:
            break
        if match[1] == 0:
            continue
        out.append(source[last : match[0]])
        last = match[1]
    out.append(source[last:])
    return out


def _sprig_substr(ctx: Context, start: Any, end: Any, text: Any) -> str:
    source, a, b = _strval(text), _to_int64(start), _to_int64(end)
    if a < 0:
        return source[:b]
    if b < 0 or b > len(source):
        return source[a:]
    return source[a:b]


def _sprig_trunc(ctx: Context, count: Any, text: Any) -> str:
    source, c = _strval(text), _to_int64(count)
    if c < 0 and len(source) + c > 0:
        return source[len(source) + c :]
    if c >= 0 and len(source) > c:
        return source[:c]
    return source


def _sprig_until(ctx: Context, count: Any) -> list[int]:
    n = _to_int64(count)
    step = 1 if n >= 0 else -1
    size = abs(n)
    if size > MAX_COLLECTION_SIZE:
        raise Fail(f"until: {size} elements exceed the limit of {MAX_COLLECTION_SIZE}")
    return list(range(0, n, step))


def _sprig_seq(ctx: Context, *params: Any) -> str:
    ints = [_to_int64(p) for p in params]
    if len(ints) == 1:
        start, step, end = 1, 1, ints[0]
    elif len(ints) == 2:
        start, end = ints
        step = 1 if end >= start else -1
    elif len(ints) == 3:
        start, step, end = ints
    else:
        return ""
    if step == 0 or (end - start) * step < 0:
        return ""
    if abs(end - start) // abs(step) + 1 > MAX_COLLECTION_SIZE:
        raise Fail("seq: too many elements")
    return " ".join(str(i) for i in range(start, end + (1 if step > 0 else -1), step))


def _sprig_split(ctx: Context, sep: Any, text: Any) -> dict[str, str]:
    parts = _strval(text).split(_strval(sep)) if _strval(sep) else list(_strval(text))
    return {f"_{i}": part for i, part in enumerate(_bounded_list(parts))}


def _sprig_list_fn(fn: Callable[[list[Any]], Any], name: str) -> Callable[..., Any]:
    def impl(ctx: Context, value: Any) -> Any:
        return fn(_list(value, name))

    return impl


def _sprig_ternary(ctx: Context, yes: Any, no: Any, cond: Any) -> Any:
    return yes if cond is True else no


def _sprig_title(ctx: Context, text: Any) -> str:
    source = _strval(text)
    out: list[str] = []
    previous = " "
    for ch in source:
        out.append(ch.upper() if not (previous.isalnum() or previous == "_" or previous == "'") else ch)
        previous = ch
    return "".join(out)


def _sprig_indent(ctx: Context, spaces: Any, text: Any, newline: bool = False) -> str:
    width = max(0, _to_int64(spaces))
    source = _strval(text)
    # The size of the result, checked before anything is built.
    size = len(source) + width * (source.count("\n") + 1) + (1 if newline else 0)
    if size > MAX_STRING_LENGTH:
        raise Fail(f"string of {size} characters exceeds the limit of {MAX_STRING_LENGTH}")
    pad = " " * width
    result = pad + source.replace("\n", "\n" + pad)
    return ("\n" + result) if newline else result


def _sprig_quote(ctx: Context, *values: Any, single: bool = False) -> str:
    parts = []
    for value in values:
        if value is None:
            continue
        text = _strval(value)
        parts.append(
            f"'{text}'"
            if single
            else go_json(text).replace("\\u003c", "<").replace("\\u003e", ">").replace("\\u0026", "&")
        )
    return " ".join(parts)


def _sprig_hash(algorithm: str) -> Callable[..., str]:
    def impl(ctx: Context, value: Any) -> str:
        return hashlib.new(algorithm, _strval(value).encode("utf-8")).hexdigest()

    return impl


def _sprig_pluck(ctx: Context, key: Any, *dicts: Any) -> list[Any]:
    name = _strval(key)
    return [d[name] for d in dicts if is_map(d) and name in d]


def _sprig_merge(ctx: Context, dst: Any, *sources: Any) -> dict[str, Any]:
    if not is_map(dst):
        raise Fail("merge: destination must be a dict")
    out = dict(dst)
    for source in sources:
        if is_map(source):
            for k, v in source.items():
                out.setdefault(k, v)
    return out


def _sprig_get(ctx: Context, d: Any, key: Any) -> Any:
    if is_map(d):
        return d.get(_strval(key), "")
    return ""


def _sprig_keys(ctx: Context, *dicts: Any) -> list[str]:
    out: list[str] = []
    for d in dicts:
        if is_map(d):
            out.extend(d.keys())
    return out


def _sprig_without(ctx: Context, value: Any, *omit: Any) -> list[Any]:
    return [item for item in _list(value, "without") if not any(equal(item, o) for o in omit)]


def _sprig_float_op(op: Callable[[float, float], float]) -> Callable[..., float]:
    def impl(ctx: Context, first: Any, *rest: Any) -> float:
        total = _to_float64(first)
        for value in rest:
            total = op(total, _to_float64(value))
        return total

    return impl


def _sprig_div(ctx: Context, a: Any, b: Any) -> int:
    divisor = _to_int64(b)
    if divisor == 0:
        raise Fail("runtime error: integer divide by zero")
    x = _to_int64(a)
    q = abs(x) // abs(divisor)
    return q if (x >= 0) == (divisor > 0) else -q


def _sprig_mod(ctx: Context, a: Any, b: Any) -> int:
    divisor = _to_int64(b)
    if divisor == 0:
        raise Fail("runtime error: integer divide by zero")
    x = _to_int64(a)
    r = abs(x) % abs(divisor)
    return -r if x < 0 else r


def _sprig_round(ctx: Context, value: Any, places: Any, roundon: Any = 0.5) -> float:
    number = _to_float64(value)
    pow10 = 10 ** _to_int64(places)
    digit = pow10 * number
    _, frac = math.modf(digit)
    if frac >= _to_float64(roundon):
        return math.ceil(digit) / pow10
    return math.floor(digit) / pow10


def _sprig_kind_of(ctx: Context, value: Any) -> str:
    kind = {"nil": "invalid", "bool": "bool", "int": "int", "float64": "float64", "string": "string"}
    name = type_name(value)
    if name.startswith("map"):
        return "map"
    if name.startswith("[]"):
        return "slice"
    return kind.get(name, "struct")


def _sprig_duration(ctx: Context, seconds: Any) -> str:
    return format_duration(_dt.timedelta(seconds=_to_int64(seconds)))


def _sprig_to_date(ctx: Context, layout: Any, text: Any) -> _dt.datetime:
    try:
        return parse_time(_strval(text), _strval(layout))
    except Fail:
        return _dt.datetime(1, 1, 1, tzinfo=UTC)


def _sprig_nospace(ctx: Context, text: Any) -> str:
    return "".join(ch for ch in _strval(text) if not (ch.isspace() or unicodedata.category(ch) == "Zs"))


def _sprig_append(ctx: Context, value: Any, item: Any) -> list[Any]:
    return _bounded_list([*_list(value, "append"), item])


def _sprig_prepend(ctx: Context, value: Any, item: Any) -> list[Any]:
    return _bounded_list([item, *_list(value, "prepend")])


def _sprig_repeat(ctx: Context, count: Any, text: Any) -> str:
    return _repeat(ctx, _strval(text), _to_int64(count))


def _sprig_compact(ctx: Context, value: Any) -> list[Any]:
    return [item for item in _list(value, "compact") if not _empty(item)]


def _sprig_slice(ctx: Context, value: Any, *bounds: Any) -> list[Any]:
    items = _list(value, "slice")
    start = _to_int64(bounds[0]) if bounds else 0
    end = _to_int64(bounds[1]) if len(bounds) > 1 else len(items)
    return items[start:end]


_SPRIG: dict[str, Callable[..., Any]] = {
    "trim": lambda ctx, s: _strval(s).strip(" \t\n\r\v\f\u0085\u00a0"),
    "trimAll": lambda ctx, cut, s: _strval(s).strip(_strval(cut)),
    "trimPrefix": lambda ctx, p, s: _trim_prefix(ctx, _strval(s), _strval(p)),
    "trimSuffix": lambda ctx, p, s: _trim_suffix(ctx, _strval(s), _strval(p)),
    "upper": lambda ctx, s: _strval(s).upper(),
    "lower": lambda ctx, s: _strval(s).lower(),
    "title": _sprig_title,
    "untitle": lambda ctx, s: " ".join(w[:1].lower() + w[1:] for w in _strval(s).split(" ")),
    "replace": lambda ctx, old, new, src: _bounded_str(_strval(src).replace(_strval(old), _strval(new))),
    "repeat": _sprig_repeat,
    "substr": _sprig_substr,
    "trunc": _sprig_trunc,
    "nospace": _sprig_nospace,
    "contains": lambda ctx, sub, s: _strval(sub) in _strval(s),
    "hasPrefix": lambda ctx, p, s: _strval(s).startswith(_strval(p)),
    "hasSuffix": lambda ctx, p, s: _strval(s).endswith(_strval(p)),
    "quote": _sprig_quote,
    "squote": lambda ctx, *v: _sprig_quote(ctx, *v, single=True),
    "cat": lambda ctx, *v: " ".join(_strval(x) for x in v if x is not None),
    "indent": _sprig_indent,
    "nindent": lambda ctx, n, s: _sprig_indent(ctx, n, s, newline=True),
    "splitList": lambda ctx, sep, s: _split(ctx, _strval(s), _strval(sep)),
    "split": _sprig_split,
    "join": lambda ctx, sep, v: _bounded_str(_strval(sep).join(_strval(x) for x in _list(v, "join"))),
    "sortAlpha": lambda ctx, v: sorted(_strval(x) for x in _list(v, "sortAlpha")),
    "toString": lambda ctx, v: _strval(v),
    "toStrings": lambda ctx, v: [_strval(x) for x in _list(v, "toStrings")],
    "atoi": lambda ctx, s: _sprig_atoi(_strval(s)),
    "int": lambda ctx, v: _to_int64(v),
    "int64": lambda ctx, v: _to_int64(v),
    "float64": lambda ctx, v: _to_float64(v),
    "toDecimal": lambda ctx, v: _sprig_octal(_strval(v)),
    "add": lambda ctx, *v: wrap_int(sum(_to_int64(x) for x in v)),
    "add1": lambda ctx, v: wrap_int(_to_int64(v) + 1),
    "sub": lambda ctx, a, b: wrap_int(_to_int64(a) - _to_int64(b)),
    "mul": lambda ctx, a, *v: _sprig_mul(a, v),
    "div": _sprig_div,
    "mod": _sprig_mod,
    "max": lambda ctx, a, *v: max([_to_int64(a), *(_to_int64(x) for x in v)]),
    "min": lambda ctx, a, *v: min([_to_int64(a), *(_to_int64(x) for x in v)]),
    "maxf": lambda ctx, a, *v: max([_to_float64(a), *(_to_float64(x) for x in v)]),
    "minf": lambda ctx, a, *v: min([_to_float64(a), *(_to_float64(x) for x in v)]),
    "addf": _sprig_float_op(lambda a, b: a + b),
    "subf": _sprig_float_op(lambda a, b: a - b),
    "mulf": _sprig_float_op(lambda a, b: a * b),
    "divf": _sprig_float_op(lambda a, b: a / b if b else (math.copysign(math.inf, a) if a else math.nan)),
    "floor": lambda ctx, v: float(math.floor(_to_float64(v))),
    "ceil": lambda ctx, v: float(math.ceil(_to_float64(v))),
    "round": _sprig_round,
    "until": _sprig_until,
    "seq": _sprig_seq,
    "default": _sprig_default,
    "empty": lambda ctx, v: _empty(v),
    "coalesce": lambda ctx, *v: next((x for x in v if not _empty(x)), None),
    "all": lambda ctx, *v: all(not _empty(x) for x in v),
    "any": lambda ctx, *v: any(not _empty(x) for x in v),
    "ternary": _sprig_ternary,
    "b64enc": lambda ctx, v: base64.b64encode(_strval(v).encode("utf-8")).decode("ascii"),
    "b64dec": _sprig_b64dec,
    "b32enc": lambda ctx, v: base64.b32encode(_strval(v).encode("utf-8")).decode("ascii"),
    "toJson": lambda ctx, v: _safe_json(v),
    "toPrettyJson": lambda ctx, v: _safe_json(v, "  "),
    "toRawJson": lambda ctx, v: _safe_json(v),
    "fromJson": _sprig_from_json,
    "dict": _sprig_dict,
    "list": lambda ctx, *v: _bounded_list(list(v)),
    "tuple": lambda ctx, *v: _bounded_list(list(v)),
    "has": _sprig_has,
    "hasKey": lambda ctx, d, k: is_map(d) and _strval(k) in d,
    "get": _sprig_get,
    "set": lambda ctx, d, k, v: {**(dict(d) if is_map(d) else {}), _strval(k): v},
    "unset": lambda ctx, d, k: {key: val for key, val in (d.items() if is_map(d) else []) if key != _strval(k)},
    "keys": _sprig_keys,
    "values": lambda ctx, d: list(d.values()) if is_map(d) else [],
    "pluck": _sprig_pluck,
    "merge": _sprig_merge,
    "first": _sprig_list_fn(lambda v: v[0] if v else None, "first"),
    "last": _sprig_list_fn(lambda v: v[-1] if v else None, "last"),
    "rest": _sprig_list_fn(lambda v: v[1:], "rest"),
    "initial": _sprig_list_fn(lambda v: v[:-1], "initial"),
    "reverse": _sprig_list_fn(lambda v: list(reversed(v)), "reverse"),
    "uniq": lambda ctx, v: _uniq(ctx, v),
    "without": _sprig_without,
    "append": _sprig_append,
    "push": _sprig_append,
    "prepend": _sprig_prepend,
    "concat": lambda ctx, *v: _concat(ctx, *v),
    "compact": _sprig_compact,
    "slice": _sprig_slice,
    "regexMatch": lambda ctx, r, s: compile_regex(_strval(r)).search(_strval(s), ctx.budget),
    "regexFind": lambda ctx, r, s: next(
        (_strval(s)[m[0] : m[1]] for m in compile_regex(_strval(r)).find_all(_strval(s), 1, ctx.budget)), ""
    ),
    "regexFindAll": _sprig_regex_find_all,
    "regexReplaceAll": lambda ctx, r, s, repl: _sprig_regex_replace(ctx, r, s, repl),
    "regexReplaceAllLiteral": lambda ctx, r, s, repl: _sprig_regex_replace(ctx, r, s, repl, literal=True),
    "regexSplit": _sprig_regex_split,
    "sha1sum": _sprig_hash("sha1"),
    "sha256sum": _sprig_hash("sha256"),
    "sha512sum": _sprig_hash("sha512"),
    "adler32sum": lambda ctx, v: str(_adler32(_strval(v))),
    "kindOf": _sprig_kind_of,
    "typeOf": lambda ctx, v: type_name(v),
    "kindIs": lambda ctx, k, v: _sprig_kind_of(ctx, v) == _strval(k),
    "deepEqual": lambda ctx, a, b: equal(a, b),
    "now": lambda ctx: utc_now(),
    "date": _sprig_date,
    "dateInZone": lambda ctx, layout, date, zone: _sprig_date(ctx, layout, date),
    "unixEpoch": lambda ctx, t: str(int(t.timestamp())) if isinstance(t, _dt.datetime) else "0",
    "duration": _sprig_duration,
    "toDate": _sprig_to_date,
    "snakecase": lambda ctx, s: _sprig_case(_strval(s), "_"),
    "kebabcase": lambda ctx, s: _sprig_case(_strval(s), "-"),
}


def _sprig_case(text: str, sep: str) -> str:
    out: list[str] = []
    for i, ch in enumerate(text):
        if ch.isupper() and i and (text[i - 1].islower() or text[i - 1].isdigit()):
            out.append(sep)
        out.append(sep if ch in " -_" else ch.lower())
    return "".join(out)


def _adler32(text: str) -> int:
    import zlib

    return zlib.adler32(text.encode("utf-8"))


def _sprig_mul(first: Any, rest: tuple[Any, ...]) -> int:
    total = _to_int64(first)
    for value in rest:
        total = wrap_int(total * _to_int64(value))
    return total


def _sprig_atoi(text: str) -> int:
    try:
        return as_int(text)
    except Fail:
        return 0


def _sprig_octal(text: str) -> int:
    try:
        return int(text, 8)
    except ValueError:
        return 0


def _safe_json(value: Any, indent: str | None = None) -> str:
    try:
        return go_json(value, indent=indent)
    except Exception:
        return ""


# ------------------------------------------------------------------------------------------- tables


def _plain(name: str, impl: Callable[..., Any]) -> Spec:
    return Spec(name, impl)


_BUILTINS: dict[str, Spec] = {
    spec.name: spec
    for spec in [
        _plain("len", _len),
        _plain("abs", _abs),
        _plain("ceil", _num_fn("ceil", lambda v: float(math.ceil(v)) if math.isfinite(v) else v)),
        _plain("floor", _num_fn("floor", lambda v: float(math.floor(v)) if math.isfinite(v) else v)),
        _plain("round", _num_fn("round", _round)),
        _plain("int", lambda ctx, v: as_int(v)),
        _plain("float", lambda ctx, v: as_float(v)),
        _plain("string", _string),
        _plain("trim", _trim),
        _plain("trimPrefix", _trim_prefix),
        _plain("trimSuffix", _trim_suffix),
        _plain("upper", lambda ctx, v: _str(v, "upper").upper()),
        _plain("lower", lambda ctx, v: _str(v, "lower").lower()),
        _plain("split", _split),
        _plain("splitAfter", _split_after),
        _plain("replace", _replace),
        _plain("repeat", _repeat),
        _plain("join", _join),
        _plain("indexOf", _index_of),
        _plain("lastIndexOf", _last_index_of),
        _plain("hasPrefix", lambda ctx, s, p: _str(s, "hasPrefix").startswith(_str(p, "hasPrefix"))),
        _plain("hasSuffix", lambda ctx, s, p: _str(s, "hasSuffix").endswith(_str(p, "hasSuffix"))),
        _plain("max", _max),
        _plain("min", _min),
        _plain("mean", _mean),
        _plain("median", _median),
        _plain("toJSON", _to_json),
        _plain("fromJSON", _from_json),
        _plain("toBase64", _to_base64),
        _plain("fromBase64", _from_base64),
        _plain("keys", _keys),
        _plain("values", _values),
        _plain("first", _first),
        _plain("last", _last),
        _plain("get", _get),
        _plain("type", _type),
        _plain("sort", _sort),
        _plain("reverse", _reverse),
        _plain("uniq", _uniq),
        _plain("flatten", _flatten),
        _plain("concat", _concat),
        _plain("toPairs", _to_pairs),
        _plain("fromPairs", _from_pairs),
        _plain("now", _now),
        _plain("duration", _duration),
        _plain("date", _date),
        _plain("bitand", _bit(lambda a, b: a & b, "bitand")),
        _plain("bitor", _bit(lambda a, b: a | b, "bitor")),
        _plain("bitxor", _bit(lambda a, b: a ^ b, "bitxor")),
        _plain("bitnand", _bit(lambda a, b: a & ~b, "bitnand")),
        _plain("bitnot", lambda ctx, a: wrap_int(~as_int(a))),
        _plain("bitshl", _shift(True)),
        _plain("bitshr", _shift(False)),
        # Argo's additions (util/expr/env): asInt/asFloat alias int/float; toJson is compact JSON.
        _plain("asInt", lambda ctx, v: as_int(v)),
        _plain("asFloat", lambda ctx, v: as_float(v)),
        _plain("toJson", _argo_to_json),
        _plain("jsonpath", _jsonpath),
        Spec("all", _all, predicate=True),
        Spec("any", _any, predicate=True),
        Spec("none", _none, predicate=True),
        Spec("one", _one, predicate=True),
        Spec("filter", _filter, predicate=True),
        Spec("map", _map, predicate=True),
        Spec("count", _count, predicate=True),
        Spec("find", _find, predicate=True),
        Spec("findIndex", _find_index, predicate=True),
        Spec("findLast", _find_last, predicate=True),
        Spec("findLastIndex", _find_last_index, predicate=True),
        Spec("groupBy", _group_by, predicate=True),
        Spec("sortBy", _sort_by, predicate=True),
        Spec("reduce", _reduce, predicate=True),
    ]
}

_SPRIG_SPECS: dict[str, Spec] = {name: Spec(f"sprig.{name}", impl) for name, impl in _SPRIG.items()}


def lookup(name: str, nargs: int = 1) -> Spec | None:
    """The builtin called ``name``; ``sum`` is a predicate only when given two arguments."""
    if name == "sum":
        return Spec("sum", _sum_pred, predicate=True) if nargs == 2 else Spec("sum", _sum_dispatch)
    return _BUILTINS.get(name)


def _sum_dispatch(ctx: Context, value: Any) -> Any:
    return _sum_values(_list(value, "sum"))


def lookup_sprig(name: str) -> Spec | None:
    return _SPRIG_SPECS.get(name)


def is_function_name(name: str) -> bool:
    return name in _BUILTINS or name in ("sum", "sprig")


# ---------------------------------------------------------------------------------- Go value methods

_DURATION_METHODS: dict[str, Callable[[_dt.timedelta], Any]] = {
    "Seconds": lambda d: d.total_seconds(),
    "Minutes": lambda d: d.total_seconds() / 60,
    "Hours": lambda d: d.total_seconds() / 3600,
    "Milliseconds": lambda d: (d.days * 86_400 + d.seconds) * 1000 + d.microseconds // 1000,
    "Microseconds": lambda d: (d.days * 86_400 + d.seconds) * 1_000_000 + d.microseconds,
    "Nanoseconds": lambda d: ((d.days * 86_400 + d.seconds) * 1_000_000 + d.microseconds) * 1000,
    "String": format_duration,
}

_TIME_METHODS: dict[str, Callable[[_dt.datetime], Any]] = {
    "Unix": lambda t: int(_aware(t).timestamp()),
    "UnixMilli": lambda t: int(_aware(t).timestamp() * 1000),
    "Year": lambda t: t.year,
    "Month": lambda t: t.month,
    "Day": lambda t: t.day,
    "Hour": lambda t: t.hour,
    "Minute": lambda t: t.minute,
    "Second": lambda t: t.second,
    "YearDay": lambda t: t.timetuple().tm_yday,
    "Weekday": lambda t: t.isoweekday() % 7,
    "UTC": lambda t: _aware(t).astimezone(UTC),
    "IsZero": lambda t: t.year == 1 and t.month == 1 and t.day == 1 and t.hour == 0 and t.minute == 0,
    "String": lambda t: format_layout("2006-01-02 15:04:05.999999999 -0700 MST", _aware(t)),
}


def _aware(value: _dt.datetime) -> _dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def call_method(obj: Any, method: str, args: list[Any]) -> Any:
    """The few Go methods of time values that Argo users call (``(now() - t).Seconds()``...)."""
    if isinstance(obj, _dt.timedelta):
        if method in _DURATION_METHODS and not args:
            return _DURATION_METHODS[method](obj)
        if method == "Round" or method == "Truncate":
            unit = args[0] if args and isinstance(args[0], _dt.timedelta) else None
            if unit is None or not unit:
                return obj
            count = obj / unit
            whole = _round(count) if method == "Round" else float(math.trunc(count))
            return unit * whole
    if isinstance(obj, _dt.datetime):
        if method in _TIME_METHODS and not args:
            return _TIME_METHODS[method](obj)
        if method == "Format" and len(args) == 1:
            return format_layout(_str(args[0], "Format"), obj)
        if method == "Sub" and len(args) == 1 and isinstance(args[0], _dt.datetime):
            return _aware(obj) - _aware(args[0])
        if method == "Add" and len(args) == 1 and isinstance(args[0], _dt.timedelta):
            return obj + args[0]
        if method in ("Before", "After", "Equal") and len(args) == 1 and isinstance(args[0], _dt.datetime):
            a, b = _aware(obj), _aware(args[0])
            return a < b if method == "Before" else a > b if method == "After" else a == b
    if is_map(obj) and method in obj:
        raise Fail(f"{method} is not a function")
    raise Fail(f"type {type_name(obj)} has no method {method}")
