"""expr-lang text to a syntax tree (see :mod:`.exprlang`).

The LALR grammar (``expr.lark``) parses the text; the parse tree becomes small tuples (associative
chains such as ``a && b && c`` flattened), checked for depth; string and number literals are read as
Go reads them. :func:`parse_names` lists the variables an expression reads.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Any

from lark import Lark, Token, Tree
from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from .errors import ExpressionError
from .limits import (
    MAX_EXPRESSION_LENGTH,
    MAX_NESTING_DEPTH,
)
from .values import Fail


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
