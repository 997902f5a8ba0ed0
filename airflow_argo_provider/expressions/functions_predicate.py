"""expr-lang's predicate functions (``all``, ``filter``, ``map``, ``reduce``...): a closure run per element.

``#`` is the element, ``#index`` its index, ``#acc`` the accumulator of ``reduce``; each step is
counted against the evaluation's budget.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .functions_builtin import _list, _sort_key, _sum_values
from .gofmt import format_v, type_name
from .values import Fail, is_list, is_map

if TYPE_CHECKING:
    from .exprlang import Context


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
