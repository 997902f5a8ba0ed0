"""The ``sprig.*`` functions Argo offers in expressions (strings, math, lists, dicts, regex, encoding, dates).

Arguments are converted the way sprig converts Go values; every function that builds a string or
a list checks the size it is about to build first (see :mod:`.limits`).
"""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
import hashlib
import math
import unicodedata
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .functions_builtin import (
    _bounded_list,
    _bounded_str,
    _concat,
    _list,
    _repeat,
    _split,
    _trim_prefix,
    _trim_suffix,
    _uniq,
    joined,
    replaced,
)
from .gofmt import format_duration, format_v, go_json, load_json, type_name
from .gotime import UTC, format_layout, parse_time, utc_now
from .limits import MAX_COLLECTION_SIZE, MAX_STRING_LENGTH
from .regex import compile_regex
from .values import Fail, as_int, equal, is_list, is_map, is_number, wrap_int

if TYPE_CHECKING:
    from .exprlang import Context


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
    exponent = _to_int64(places)
    # Go's math.Pow(10, places): a float, +Inf past 1e308 (never a huge integer).
    pow10 = math.inf if exponent > 308 else 0.0 if exponent < -323 else 10.0**exponent
    digit = pow10 * number
    if not math.isfinite(digit) or pow10 == 0.0:
        return math.nan
    frac, _ = math.modf(digit)  # Go's math.Modf returns (int, frac); Python's (frac, int)
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
    "replace": lambda ctx, old, new, src: replaced(_strval(src), _strval(old), _strval(new)),
    "repeat": _sprig_repeat,
    "substr": _sprig_substr,
    "trunc": _sprig_trunc,
    "nospace": _sprig_nospace,
    "contains": lambda ctx, sub, s: _strval(sub) in _strval(s),
    "hasPrefix": lambda ctx, p, s: _strval(s).startswith(_strval(p)),
    "hasSuffix": lambda ctx, p, s: _strval(s).endswith(_strval(p)),
    "quote": _sprig_quote,
    "squote": lambda ctx, *v: _sprig_quote(ctx, *v, single=True),
    "cat": lambda ctx, *v: joined([_strval(x) for x in v if x is not None], " "),
    "indent": _sprig_indent,
    "nindent": lambda ctx, n, s: _sprig_indent(ctx, n, s, newline=True),
    "splitList": lambda ctx, sep, s: _split(ctx, _strval(s), _strval(sep)),
    "split": _sprig_split,
    "join": lambda ctx, sep, v: joined([_strval(x) for x in _list(v, "join")], _strval(sep)),
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
