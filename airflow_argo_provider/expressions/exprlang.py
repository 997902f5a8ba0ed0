"""Parser and evaluator for expr-lang (github.com/expr-lang/expr) as Argo Workflows uses it.

Expressions are parsed once with a LALR grammar (``expr.lark``), converted to a small syntax tree,
checked for depth, and compiled into Python closures; the compiled form is kept in an LRU cache so
evaluating the same expression many times costs only the closure calls.

Safety: no Python ``eval``/``exec``; member access on a map is a key lookup and on anything else an
error (except a short list of Go methods of time values, such as ``.Seconds()``); functions come
only from the tables in :mod:`.functions`; all work is bounded by :class:`.limits.Budget`.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Callable, Mapping
from functools import lru_cache
from importlib import resources
from typing import Any

from lark import Lark, Token, Tree
from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from .errors import ExpressionError
from .gofmt import type_name
from .limits import (
    CACHE_SIZE,
    MAX_COLLECTION_SIZE,
    MAX_EXPRESSION_LENGTH,
    MAX_NESTING_DEPTH,
    MAX_STRING_LENGTH,
    Budget,
)
from .regex import compile_regex
from .values import Fail, equal, is_list, is_map, is_number, wrap_int

__all__ = ["Context", "compile_expression", "evaluate", "parse_names"]

Fn = Callable[["Context"], Any]


class Context:
    """State of one evaluation: the environment, ``let`` variables, predicate pointers, budget."""

    __slots__ = ("budget", "env", "pointers", "variables")

    def __init__(self, env: Mapping[str, Any], budget: Budget) -> None:
        self.env = env
        self.budget = budget
        self.pointers: list[tuple[Any, int, Any]] = []
        self.variables: dict[str, Any] = {}


# ------------------------------------------------------------------------------------------- parsing


@lru_cache(maxsize=1)
def _parser() -> Lark:
    grammar = resources.files(__package__).joinpath("expr.lark").read_text(encoding="utf-8")
    return Lark(grammar, parser="lalr", maybe_placeholders=True, cache=False)


def _unescape(body: str, quote: str) -> str:
    """Go-style escapes of a quoted expr-lang string literal."""
    if "\\" not in body:
        return body
    out: list[str] = []
    i = 0
    simple = {
        "a": "\a",
        "b": "\b",
        "f": "\f",
        "n": "\n",
        "r": "\r",
        "t": "\t",
        "v": "\v",
        "\\": "\\",
        "'": "'",
        '"': '"',
        "`": "`",
    }
    while i < len(body):
        c = body[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        nxt = body[i + 1] if i + 1 < len(body) else ""
        if nxt in simple:
            out.append(simple[nxt])
            i += 2
        elif nxt in ("x", "u", "U"):
            width = {"x": 2, "u": 4, "U": 8}[nxt]
            digits = body[i + 2 : i + 2 + width]
            try:
                if len(digits) != width:
                    raise ValueError
                out.append(chr(int(digits, 16)))
            except ValueError:
                raise Fail(f"invalid char escape \\{nxt}{digits}") from None
            i += 2 + width
        elif nxt in "01234567":
            digits = body[i + 1 : i + 4]
            if len(digits) != 3 or any(d not in "01234567" for d in digits):
                raise Fail("invalid char escape")
            out.append(chr(int(digits, 8)))
            i += 4
        else:
            raise Fail(f"invalid char escape \\{nxt}")
    return "".join(out)


def _int_literal(text: str) -> int:
    cleaned = text.replace("_", "")
    lowered = cleaned.lower()
    if lowered.startswith("0x"):
        value = int(cleaned[2:], 16)
    elif lowered.startswith("0o"):
        value = int(cleaned[2:], 8)
    elif lowered.startswith("0b"):
        value = int(cleaned[2:], 2)
    else:
        value = int(cleaned)
    if value >= 2**63:
        raise Fail(f"integer literal {text} overflows int")
    return value


def _pos(item: Any) -> int | None:
    """Character offset of the first token under a lark tree/token, or of an AST node."""
    if isinstance(item, Token):
        return item.start_pos
    if isinstance(item, tuple):
        return item[1]
    if isinstance(item, list):
        for child in item:
            found = _pos(child)
            if found is not None:
                return found
    return None


_CHAIN_OPS = {"+", "-", "*", "/", "%"}
_ORDER_OPS = {"<", ">", "<=", ">="}


def _build(node: Tree, kids: list[Any]) -> tuple[Any, ...]:
    """Convert one lark tree node (children already converted) into an AST tuple."""
    kind = node.data
    pos = _pos(kids)
    if kind == "int_lit":
        return ("lit", pos, _int_literal(kids[0]))
    if kind == "float_lit":
        return ("lit", pos, float(str(kids[0]).replace("_", "")))
    if kind in ("string_lit", "key_string"):
        text = str(kids[0])
        return ("lit", pos, _unescape(text[1:-1], text[0]))
    if kind in ("raw_string_lit", "key_raw_string"):
        return ("lit", pos, str(kids[0])[1:-1])
    if kind == "true_lit":
        return ("lit", pos, True)
    if kind == "false_lit":
        return ("lit", pos, False)
    if kind == "nil_lit":
        return ("lit", pos, None)
    if kind == "name":
        return ("name", pos, str(kids[0]))
    if kind == "key_name":
        return ("lit", pos, str(kids[0]))
    if kind == "key_int":
        return ("lit", pos, str(_int_literal(kids[0])))
    if kind == "key_expr":
        return kids[0]
    if kind == "pointer":
        return ("pointer", pos, str(kids[0])[1:])
    if kind == "member_name":
        return ("lit", pos, str(kids[0]))
    if kind == "implicit_member":
        return ("member", pos, ("pointer", pos, ""), kids[0][2], False)
    if kind == "member":
        return ("member", _pos(kids[1]), kids[0], kids[1][2], False)
    if kind == "opt_member":
        return ("member", _pos(kids[1]), kids[0], kids[1][2], True)
    if kind == "index":
        return ("index", pos, kids[0], kids[1], False)
    if kind == "opt_index":
        return ("index", pos, kids[0], kids[1], True)
    if kind == "slice":
        return ("slice", pos, kids[0], kids[1], kids[2])
    if kind in ("slice_from", "slice_to"):
        return kids[0] if kids and kids[0] is not None else None  # type: ignore[return-value]
    if kind == "args":
        return ("args", pos, [k for k in kids if k is not None])
    if kind == "call":
        return ("call", _pos(kids[0]), kids[0], kids[1][2] if kids[1] is not None else [])
    if kind == "pipe":
        args = kids[2][2] if kids[2] is not None else []
        return ("call", kids[1].start_pos, ("name", kids[1].start_pos, str(kids[1])), [kids[0], *args])
    if kind == "pipe_bare":
        return ("call", kids[1].start_pos, ("name", kids[1].start_pos, str(kids[1])), [kids[0]])
    if kind == "array":
        return ("array", pos, kids[0][2] if kids[0] is not None else [])
    if kind == "map":
        return ("map", pos, kids[0][2] if kids[0] is not None else [])
    if kind == "pairs":
        return ("pairs", pos, [k for k in kids if k is not None])
    if kind == "pair":
        return (kids[0], kids[1])
    if kind == "closure":
        return ("closure", pos, kids[0])
    if kind == "unary":
        op = str(kids[0])
        return ("unary", pos, op, kids[1])
    if kind == "not_op":
        return ("unary", pos, "!", kids[1])
    if kind == "binop":
        op = str(kids[1])
        left, right = kids[0], kids[2]
        if op in ("**", "^"):
            return ("pow", kids[1].start_pos, left, right)
        if left[0] == "chain" and op in _CHAIN_OPS and _same_level(left[3][0][0], op):
            return ("chain", left[1], left[2], [*left[3], (op, right, kids[1].start_pos)])
        return ("chain", _pos(left), left, [(op, right, kids[1].start_pos)])
    if kind in ("and_op", "or_op"):
        tag = "and" if kind == "and_op" else "or"
        left, right = kids[0], kids[2]
        items = [*left[2], right] if left[0] == tag else [left, right]
        return (tag, pos, items)
    if kind == "compare":
        op = str(kids[1])
        left, right = kids[0], kids[2]
        if op in _ORDER_OPS and left[0] == "cmp" and left[2] in _ORDER_OPS and not left[5]:
            # expr-lang chains orderings: a < b < c is a < b && b < c.
            return ("and", pos, [left, ("cmp", kids[1].start_pos, op, left[4], right, False)])
        return ("cmp", kids[1].start_pos, op, left, right, False)
    if kind == "not_compare":
        return ("cmp", kids[2].start_pos, str(kids[2]), kids[0], kids[3], True)
    if kind == "range_op":
        return ("range", pos, kids[0], kids[1])
    if kind == "coalesce":
        left, right = kids[0], kids[1]
        items = [*left[2], right] if left[0] == "coalesce" else [left, right]
        return ("coalesce", pos, items)
    if kind == "ternary":
        return ("cond", pos, kids[0], kids[1], kids[2])
    if kind == "elvis":
        return ("elvis", pos, kids[0], kids[1])
    if kind == "let_expr":
        return ("let", pos, str(kids[0]), kids[1], kids[2])
    raise Fail(f"unsupported syntax {kind}")  # pragma: no cover - every grammar rule is handled


def _same_level(a: str, b: str) -> bool:
    additive = {"+", "-"}
    return (a in additive) == (b in additive)


def _to_ast(tree: Tree) -> tuple[Any, ...]:
    """Post-order conversion without recursion (the input can nest arbitrarily deep)."""
    stack: list[tuple[Any, bool]] = [(tree, False)]
    results: list[Any] = []
    while stack:
        item, expanded = stack.pop()
        if not isinstance(item, Tree):
            results.append(item)
            continue
        if not expanded:
            stack.append((item, True))
            for child in reversed(item.children):
                stack.append((child, False))
            continue
        count = len(item.children)
        kids = results[len(results) - count :] if count else []
        del results[len(results) - count :]
        results.append(_build(item, kids))
    return results[0]


def _depth(ast: Any) -> int:
    deepest = 0
    stack = [(ast, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > MAX_NESTING_DEPTH:
            return deepest
        for child in _ast_children(node):
            stack.append((child, depth + 1))
    return deepest


def _ast_children(node: Any) -> list[Any]:
    if not isinstance(node, tuple) or not node:
        return []
    kind = node[0]
    if not isinstance(kind, str):  # a map pair (key, value)
        return [node[0], node[1]]
    out: list[Any] = []
    for field in node[2:]:
        if isinstance(field, tuple) and field and isinstance(field[0], str):
            out.append(field)
        elif isinstance(field, list):
            for element in field:
                if isinstance(element, tuple) and len(element) == 3 and isinstance(element[1], tuple):
                    out.append(element[1])  # chain element (op, operand, pos)
                elif isinstance(element, tuple):
                    out.append(element)
    return out


def parse(expression: str) -> tuple[Any, ...]:
    """Parse ``expression`` into the AST; raises :class:`ExpressionError` with a position."""
    if not isinstance(expression, str):
        raise ExpressionError(f"expression must be a string, not {type(expression).__name__}")
    if len(expression) > MAX_EXPRESSION_LENGTH:
        raise ExpressionError(
            f"expression of {len(expression)} characters exceeds the limit of {MAX_EXPRESSION_LENGTH}",
            expression[:200],
        )
    if not expression.strip():
        raise ExpressionError("unexpected token EOF", expression, len(expression))
    try:
        tree = _parser().parse(expression)
    except UnexpectedCharacters as exc:
        where = exc.pos_in_stream or 0
        raise ExpressionError(f"unexpected character {expression[where]!r}", expression, where) from None
    except UnexpectedToken as exc:
        token = exc.token
        if token.type == "$END":
            raise ExpressionError("unexpected end of expression", expression, len(expression)) from None
        raise ExpressionError(f"unexpected token {str(token)!r}", expression, token.start_pos) from None
    except UnexpectedEOF:
        raise ExpressionError("unexpected end of expression", expression, len(expression)) from None
    except (UnexpectedInput, LarkError) as exc:  # pragma: no cover - other lark failures
        raise ExpressionError(f"syntax error: {exc}", expression) from None
    try:
        ast = _to_ast(tree)
    except Fail as exc:
        raise ExpressionError(exc.message, expression, exc.position) from None
    except RecursionError:
        raise ExpressionError(f"expression nests deeper than {MAX_NESTING_DEPTH} levels", expression) from None
    if _depth(ast) > MAX_NESTING_DEPTH:
        raise ExpressionError(f"expression nests deeper than {MAX_NESTING_DEPTH} levels", expression)
    return ast


# ------------------------------------------------------------------------------------------ operators


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


# ------------------------------------------------------------------------------------------ compiler


def _lit(value: Any) -> Fn:
    return lambda ctx: value


class _Compiler:
    def __init__(self, expression: str) -> None:
        self.expression = expression

    def compile(self, node: tuple[Any, ...]) -> Fn:
        method = getattr(self, "c_" + node[0])
        fn: Fn = method(node)
        return fn

    # -- leaves --------------------------------------------------------------------------------

    def c_lit(self, node: tuple[Any, ...]) -> Fn:
        return _lit(node[2])

    def c_name(self, node: tuple[Any, ...]) -> Fn:
        name, pos = node[2], node[1]

        def run(ctx: Context) -> Any:
            variables = ctx.variables
            if variables and name in variables:
                return variables[name]
            env = ctx.env
            if name in env:
                return env[name]
            from .functions import is_function_name

            if is_function_name(name):
                raise Fail(f"function {name} must be called", pos)
            raise Fail(f"unknown name {name}", pos)

        return run

    def c_pointer(self, node: tuple[Any, ...]) -> Fn:
        which, pos = node[2], node[1]

        def run(ctx: Context) -> Any:
            if not ctx.pointers:
                raise Fail(f"#{which} can only be used inside a predicate", pos)
            value, index, acc = ctx.pointers[-1]
            if which == "":
                return value
            if which == "index":
                return index
            if which == "acc":
                return acc
            raise Fail(f"unknown pointer #{which}", pos)

        return run

    # -- containers ----------------------------------------------------------------------------

    def c_array(self, node: tuple[Any, ...]) -> Fn:
        items = [self.compile(item) for item in node[2]]
        return lambda ctx: [item(ctx) for item in items]

    def c_map(self, node: tuple[Any, ...]) -> Fn:
        pairs = [(self.compile(key), self.compile(value)) for key, value in node[2]]
        pos = node[1]

        def run(ctx: Context) -> Any:
            out: dict[str, Any] = {}
            for key_fn, value_fn in pairs:
                key = key_fn(ctx)
                if not isinstance(key, str):
                    raise Fail(f"map key must be a string, not {type_name(key)}", pos)
                out[key] = value_fn(ctx)
            return out

        return run

    def c_closure(self, node: tuple[Any, ...]) -> Fn:
        # A closure outside a predicate argument evaluates its body (expr-lang rejects it; harmless).
        return self.compile(node[2])

    # -- access --------------------------------------------------------------------------------

    def c_member(self, node: tuple[Any, ...]) -> Fn:
        pos, obj_node, key, optional = node[1], node[2], node[3], node[4]
        if obj_node == ("name", obj_node[1], "sprig"):
            raise Fail(f"sprig.{key} must be called", pos)
        obj_fn = self.compile(obj_node)

        def run(ctx: Context) -> Any:
            obj = obj_fn(ctx)
            try:
                return fetch(obj, key, optional)
            except Fail as exc:
                raise Fail(exc.message, pos) from None

        return run

    def c_index(self, node: tuple[Any, ...]) -> Fn:
        pos, optional = node[1], node[4]
        obj_fn = self.compile(node[2])
        key_fn = self.compile(node[3])

        def run(ctx: Context) -> Any:
            obj = obj_fn(ctx)
            if obj is None and optional:
                return None
            try:
                return fetch(obj, key_fn(ctx))
            except Fail as exc:
                raise Fail(exc.message, exc.position if exc.position is not None else pos) from None

        return run

    def c_slice(self, node: tuple[Any, ...]) -> Fn:
        pos = node[1]
        obj_fn = self.compile(node[2])
        start_fn = self.compile(node[3]) if node[3] is not None else None
        stop_fn = self.compile(node[4]) if node[4] is not None else None

        def run(ctx: Context) -> Any:
            obj = obj_fn(ctx)
            start = start_fn(ctx) if start_fn else None
            stop = stop_fn(ctx) if stop_fn else None
            try:
                return slice_value(obj, start, stop)
            except Fail as exc:
                raise Fail(exc.message, pos) from None

        return run

    # -- operators -----------------------------------------------------------------------------

    def c_unary(self, node: tuple[Any, ...]) -> Fn:
        pos, op = node[1], node[2]
        operand = self.compile(node[3])
        if op == "!":

            def run_not(ctx: Context) -> Any:
                value = operand(ctx)
                if not isinstance(value, bool):
                    raise Fail(f"invalid operation: ! (mismatched type {type_name(value)})", pos)
                return not value

            return run_not

        def run(ctx: Context) -> Any:
            value = operand(ctx)
            if not is_number(value) and not isinstance(value, _dt.timedelta):
                raise Fail(f"invalid operation: {op} (mismatched type {type_name(value)})", pos)
            if op == "-":
                return wrap_int(-value) if isinstance(value, int) else -value
            return value

        return run

    def c_chain(self, node: tuple[Any, ...]) -> Fn:
        first = self.compile(node[2])
        rest = [(op, self.compile(operand), pos) for op, operand, pos in node[3]]

        def run(ctx: Context) -> Any:
            value = first(ctx)
            budget = ctx.budget
            for op, operand, pos in rest:
                right = operand(ctx)
                try:
                    value = arith(op, value, right, budget)
                except Fail as exc:
                    raise Fail(exc.message, pos) from None
            return value

        return run

    def c_pow(self, node: tuple[Any, ...]) -> Fn:
        pos = node[1]
        left, right = self.compile(node[2]), self.compile(node[3])

        def run(ctx: Context) -> Any:
            try:
                return power(left(ctx), right(ctx))
            except Fail as exc:
                raise Fail(exc.message, exc.position if exc.position is not None else pos) from None

        return run

    def _logic(self, node: tuple[Any, ...], stop: bool) -> Fn:
        items = [(self.compile(item), item[1]) for item in node[2]]
        what = "&&" if not stop else "||"

        def run(ctx: Context) -> Any:
            for fn, pos in items:
                value = fn(ctx)
                if not isinstance(value, bool):
                    raise Fail(f"invalid operation: {what} (non-bool value of type {type_name(value)})", pos)
                if value is stop:
                    return stop
            return not stop

        return run

    def c_and(self, node: tuple[Any, ...]) -> Fn:
        return self._logic(node, False)

    def c_or(self, node: tuple[Any, ...]) -> Fn:
        return self._logic(node, True)

    def c_cmp(self, node: tuple[Any, ...]) -> Fn:
        pos, op, negate = node[1], node[2], node[5]
        left, right = self.compile(node[3]), self.compile(node[4])

        def run(ctx: Context) -> Any:
            a = left(ctx)
            b = right(ctx)
            try:
                result = compare(op, a, b, ctx.budget)
            except Fail as exc:
                raise Fail(exc.message, pos) from None
            return not result if negate else result

        return run

    def c_range(self, node: tuple[Any, ...]) -> Fn:
        pos = node[1]
        left, right = self.compile(node[2]), self.compile(node[3])

        def run(ctx: Context) -> Any:
            try:
                return make_range(left(ctx), right(ctx), ctx.budget)
            except Fail as exc:
                raise Fail(exc.message, pos) from None

        return run

    def c_coalesce(self, node: tuple[Any, ...]) -> Fn:
        items = [self._lenient(item) for item in node[2]]

        def run(ctx: Context) -> Any:
            value = None
            for fn in items:
                value = fn(ctx)
                if value is not None:
                    return value
            return value

        return run

    def _lenient(self, node: tuple[Any, ...]) -> Fn:
        """The left side of ``??``: a member chain through nil gives nil instead of an error."""
        if node[0] == "member":
            return self.compile(("member", node[1], self._lenient_node(node[2]), node[3], True))
        if node[0] == "index":
            return self.compile(("index", node[1], self._lenient_node(node[2]), node[3], True))
        return self.compile(node)

    def _lenient_node(self, node: tuple[Any, ...]) -> tuple[Any, ...]:
        if node[0] == "member":
            return ("member", node[1], self._lenient_node(node[2]), node[3], True)
        if node[0] == "index":
            return ("index", node[1], self._lenient_node(node[2]), node[3], True)
        return node

    def c_cond(self, node: tuple[Any, ...]) -> Fn:
        pos = node[1]
        cond, yes, no = self.compile(node[2]), self.compile(node[3]), self.compile(node[4])

        def run(ctx: Context) -> Any:
            value = cond(ctx)
            if not isinstance(value, bool):
                raise Fail(f"non-bool expression (type {type_name(value)}) used as condition", pos)
            return yes(ctx) if value else no(ctx)

        return run

    def c_elvis(self, node: tuple[Any, ...]) -> Fn:
        left, right = self.compile(node[2]), self.compile(node[3])

        def run(ctx: Context) -> Any:
            value = left(ctx)
            if value is None or value is False:
                return right(ctx)
            return value

        return run

    def c_let(self, node: tuple[Any, ...]) -> Fn:
        name = node[2]
        value_fn, body = self.compile(node[3]), self.compile(node[4])

        def run(ctx: Context) -> Any:
            previous = ctx.variables.get(name, _UNSET)
            ctx.variables[name] = value_fn(ctx)
            try:
                return body(ctx)
            finally:
                if previous is _UNSET:
                    ctx.variables.pop(name, None)
                else:
                    ctx.variables[name] = previous

        return run

    # -- calls ---------------------------------------------------------------------------------

    def c_call(self, node: tuple[Any, ...]) -> Fn:
        from . import functions

        pos, callee, arg_nodes = node[1], node[2], node[3]
        if callee[0] == "name":
            spec = functions.lookup(callee[2], len(arg_nodes))
            if spec is None:
                name = callee[2]

                def unknown(ctx: Context) -> Any:
                    if name in ctx.env or name in ctx.variables:
                        raise Fail(f"{name} is not a function", pos)
                    raise Fail(f"unknown function {name}", pos)

                return unknown
            return self._call_spec(spec, arg_nodes, pos)
        if callee[0] == "member" and callee[2] == ("name", callee[2][1], "sprig"):
            spec = functions.lookup_sprig(callee[3])
            if spec is None:
                raise Fail(f"unknown function sprig.{callee[3]}", callee[1])
            return self._call_spec(spec, arg_nodes, pos)
        if callee[0] == "member":
            obj_fn = self.compile(callee[2])
            method = callee[3]
            args = [self.compile(arg) for arg in arg_nodes]

            def run_method(ctx: Context) -> Any:
                obj = obj_fn(ctx)
                values = [arg(ctx) for arg in args]
                try:
                    return functions.call_method(obj, method, values)
                except Fail as exc:
                    raise Fail(exc.message, exc.position if exc.position is not None else pos) from None

            return run_method
        raise Fail("only functions and methods can be called", pos)

    def _call_spec(self, spec: Any, arg_nodes: list[Any], pos: int | None) -> Fn:
        impl = spec.impl
        if spec.predicate:
            if len(arg_nodes) < 2:
                raise Fail(f"not enough arguments to call {spec.name}", pos)
            collection = self.compile(arg_nodes[0])
            body_node = arg_nodes[1][2] if arg_nodes[1][0] == "closure" else arg_nodes[1]
            body = self.compile(body_node)
            extra = [self.compile(arg) for arg in arg_nodes[2:]]

            def run_predicate(ctx: Context) -> Any:
                values = [collection(ctx), *(fn(ctx) for fn in extra)]
                try:
                    return impl(ctx, body, *values)
                except Fail as exc:
                    raise Fail(exc.message, exc.position if exc.position is not None else pos) from None

            return run_predicate
        args = [self.compile(arg) for arg in arg_nodes]

        def run(ctx: Context) -> Any:
            values = [arg(ctx) for arg in args]
            try:
                return impl(ctx, *values)
            except Fail as exc:
                raise Fail(exc.message, exc.position if exc.position is not None else pos) from None
            except TypeError:
                raise Fail(f"wrong number of arguments ({len(values)}) to call {spec.name}", pos) from None

        return run


_UNSET = object()


@lru_cache(maxsize=CACHE_SIZE)
def compile_expression(expression: str) -> Fn:
    """Parse and compile ``expression`` (cached); raises :class:`ExpressionError`."""
    ast = parse(expression)
    try:
        return _Compiler(expression).compile(ast)
    except Fail as exc:
        raise ExpressionError(exc.message, expression, exc.position) from None
    except RecursionError:
        raise ExpressionError(f"expression nests deeper than {MAX_NESTING_DEPTH} levels", expression) from None


def run(fn: Fn, expression: str, env: Mapping[str, Any]) -> Any:
    """Run a compiled expression against ``env``, converting every failure to ExpressionError."""
    ctx = Context(env, Budget(expression))
    try:
        return fn(ctx)
    except ExpressionError as exc:
        if exc.expression:
            raise
        raise ExpressionError(exc.message, expression, exc.position) from None
    except Fail as exc:
        raise ExpressionError(exc.message, expression, exc.position) from None
    except RecursionError:
        raise ExpressionError("expression nests too deeply", expression) from None
    except MemoryError:
        raise ExpressionError("evaluation ran out of memory", expression) from None
    except Exception as exc:
        raise ExpressionError(f"evaluation failed: {type(exc).__name__}: {exc}", expression) from None


def evaluate(expression: str, env: Mapping[str, Any]) -> Any:
    """Evaluate an expr-lang ``expression`` (github.com/expr-lang/expr) against ``env``.

    >>> evaluate('response.statusCode == 200 && response.body contains "userId"',
    ...          {"response": {"statusCode": 200, "body": '{"userId": 1}'}})
    True
    >>> evaluate("asInt(inputs.parameters.n) * 10", {"inputs": {"parameters": {"n": "4"}}})
    40
    >>> evaluate("filter(users, .age > 18) | map(.name)", {"users": [{"name": "a", "age": 30}]})
    ['a']
    >>> evaluate("7 / 2", {})
    3.5

    ``env`` holds plain data (maps, lists, strings, numbers, bools, ``None``, datetimes, timedeltas).
    A member of a map is a key lookup (a missing key gives ``None``); an unknown top-level name, a type
    error or an exceeded limit raises :class:`ExpressionError`. Parsed expressions are cached.
    """
    if not isinstance(env, Mapping):
        raise ExpressionError(f"env must be a mapping, not {type(env).__name__}", str(expression)[:200])
    fn = compile_expression(expression)
    return run(fn, expression, env)


def parse_names(expression: str) -> list[str]:
    """Dotted variable paths an expression reads (``tasks.a-b.outputs.result``), best effort."""
    ast = parse(expression)
    found: list[str] = []
    bound: set[str] = set()
    stack: list[Any] = [ast]
    while stack:
        node = stack.pop()
        if not isinstance(node, tuple) or not node:
            continue
        if node[0] == "let":
            bound.add(node[2])
        path = _member_path(node)
        if path is not None:
            head = path.split(".", 1)[0]
            if head not in bound and path not in found:
                found.append(path)
            continue
        if node[0] == "call" and node[2][0] in ("name", "member"):
            # The callee is a function, not a variable; look only at the arguments.
            stack.extend(reversed(node[3]))
            continue
        stack.extend(reversed(_ast_children(node)))
    return found


def _member_path(node: tuple[Any, ...]) -> str | None:
    parts: list[str] = []
    current = node
    while True:
        kind = current[0]
        if kind == "name":
            if current[2] == "sprig":
                return None
            parts.append(current[2])
            return ".".join(reversed(parts))
        if kind == "member":
            parts.append(current[3])
        elif kind == "index" and current[3][0] == "lit" and isinstance(current[3][2], str):
            parts.append(current[3][2])
        else:
            return None if not parts or kind not in ("index", "slice", "call") else None
        current = current[2]
