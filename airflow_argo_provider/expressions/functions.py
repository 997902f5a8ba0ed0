"""Functions available to expr-lang expressions: expr-lang builtins, Argo's additions and ``sprig.*``.

Only the functions in these tables can be called; nothing from the environment is ever called.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .functions_builtin import (
    _abs,
    _argo_to_json,
    _bit,
    _concat,
    _date,
    _duration,
    _first,
    _flatten,
    _from_base64,
    _from_json,
    _from_pairs,
    _get,
    _index_of,
    _join,
    _jsonpath,
    _keys,
    _last,
    _last_index_of,
    _len,
    _list,
    _max,
    _mean,
    _median,
    _min,
    _now,
    _num_fn,
    _repeat,
    _replace,
    _reverse,
    _round,
    _shift,
    _sort,
    _split,
    _split_after,
    _str,
    _string,
    _sum_values,
    _to_base64,
    _to_json,
    _to_pairs,
    _trim,
    _trim_prefix,
    _trim_suffix,
    _type,
    _uniq,
    _values,
)
from .functions_predicate import (
    _all,
    _any,
    _count,
    _filter,
    _find,
    _find_index,
    _find_last,
    _find_last_index,
    _group_by,
    _map,
    _none,
    _one,
    _reduce,
    _sort_by,
    _sum_pred,
)
from .functions_sprig import _SPRIG
from .functions_time import call_method
from .values import as_float, as_int, wrap_int

if TYPE_CHECKING:
    from .exprlang import Context


__all__ = ["call_method", "is_function_name", "lookup", "lookup_sprig"]


@dataclass(frozen=True)
class Spec:
    name: str
    impl: Callable[..., Any]
    predicate: bool = False


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
