"""Parser and evaluator for expr-lang (github.com/expr-lang/expr) as Argo Workflows uses it.

Expressions are parsed once with a LALR grammar (``expr.lark``), converted to a small syntax tree,
checked for depth, and compiled into Python closures; the compiled form is kept in an LRU cache so
evaluating the same expression many times costs only the closure calls. The steps live in
:mod:`.exprparse` (text to tree), :mod:`.exprcompile` (tree to closures) and :mod:`.exprops` (the
operators); this module is the entry point.

Safety: no Python ``eval``/``exec``; member access on a map is a key lookup and on anything else an
error (except a short list of Go methods of time values, such as ``.Seconds()``); functions come
only from the tables in :mod:`.functions`; all work is bounded by :class:`.limits.Budget`.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from .errors import ExpressionError
from .exprcompile import Context, Fn, _Compiler
from .exprparse import parse, parse_names
from .limits import (
    CACHE_SIZE,
    MAX_NESTING_DEPTH,
    Budget,
)
from .values import Fail

__all__ = ["Context", "compile_expression", "evaluate", "parse_names"]


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
