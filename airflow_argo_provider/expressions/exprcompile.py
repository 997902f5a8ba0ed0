"""expr-lang syntax trees compiled into Python closures (see :mod:`.exprlang`).

Each node becomes a closure over its children; calling the root with a :class:`Context` evaluates the
expression. Functions come only from :mod:`.functions`; member access on anything but a map is a
Go method of a time value or an error.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Mapping
from typing import Any

from .exprops import arith, compare, fetch, make_range, power, slice_value
from .gofmt import type_name
from .limits import (
    Budget,
)
from .values import Fail, is_number, wrap_int

Fn = Callable[["Context"], Any]


class Context:
    """State of one evaluation: the environment, ``let`` variables, predicate pointers, budget."""

    __slots__ = ("budget", "env", "pointers", "variables")

    def __init__(self, env: Mapping[str, Any], budget: Budget) -> None:
        self.env = env
        self.budget = budget
        self.pointers: list[tuple[Any, int, Any]] = []
        self.variables: dict[str, Any] = {}


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
