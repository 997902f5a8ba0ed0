"""The JSONPath dialect of Argo's ``jsonpath(json, path)`` (``github.com/evilmonkeyinc/jsonpath``).

A definite path (only keys and indexes) returns one value; a path with a wildcard, a recursive
descent, a union, a slice or a filter returns a list. Supported: ``$``, ``.key``, ``['key']``,
``["key"]``, ``[n]`` (negative counts from the end), ``[*]``, ``.*``, ``..key``, ``[a,b]``,
``[start:end:step]`` and filters ``[?(...)]`` over ``@`` with ``== != < <= > >=``, ``&&``, ``||``,
``!`` and parentheses.
"""

from __future__ import annotations

import re
from typing import Any

from .limits import MAX_COLLECTION_SIZE
from .values import Fail, equal, is_list, is_map, is_number

__all__ = ["query"]

_SIMPLE_KEY = re.compile(r"[A-Za-z0-9_$\-]+")
_FILTER_TOKEN = re.compile(
    r"\s*(?:(?P<op>==|!=|<=|>=|&&|\|\||[<>!()])|(?P<str>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")"
    r"|(?P<num>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)|(?P<path>[@$](?:\.[A-Za-z0-9_$\-]+|\[[^\]]*\])*)"
    r"|(?P<word>true|false|null))"
)


def _fail(message: str) -> Fail:
    return Fail(f"jsonpath: {message}")


def _parse(path: str) -> list[tuple[Any, ...]]:
    if not path.startswith("$"):
        raise _fail(f"invalid path '{path}': must start with $")
    segments: list[tuple[Any, ...]] = []
    pos = 1
    while pos < len(path):
        ch = path[pos]
        if path.startswith("..", pos):
            pos += 2
            if pos < len(path) and path[pos] == "[":
                inner, pos = _bracket(path, pos)
                segments.append(("recursive", inner))
            else:
                match = _SIMPLE_KEY.match(path, pos) or (re.compile(r"\*").match(path, pos))
                if not match:
                    raise _fail(f"invalid path '{path}'")
                name = match.group(0)
                segments.append(("recursive", ("wild",) if name == "*" else ("key", name)))
                pos = match.end()
        elif ch == ".":
            pos += 1
            if path.startswith("*", pos):
                segments.append(("wild",))
                pos += 1
                continue
            match = _SIMPLE_KEY.match(path, pos)
            if not match:
                raise _fail(f"invalid path '{path}'")
            segments.append(("key", match.group(0)))
            pos = match.end()
        elif ch == "[":
            segment, pos = _bracket(path, pos)
            segments.append(segment)
        else:
            raise _fail(f"invalid path '{path}' at position {pos}")
    return segments


def _bracket(path: str, pos: int) -> tuple[tuple[Any, ...], int]:
    depth = 0
    quote = ""
    end = pos
    while end < len(path):
        c = path[end]
        if quote:
            if c == "\\":
                end += 1
            elif c == quote:
                quote = ""
        elif c in "'\"":
            quote = c
        elif c == "[":
            depth += 1
        elif c == "]":
            depth -= 1
            if depth == 0:
                break
        end += 1
    if end >= len(path):
        raise _fail(f"invalid path '{path}': missing ]")
    body = path[pos + 1 : end].strip()
    nxt = end + 1
    if body == "*":
        return ("wild",), nxt
    if body.startswith("?(") and body.endswith(")"):
        return ("filter", body[2:-1]), nxt
    if ":" in body and not body.startswith(("'", '"')):
        parts = [p.strip() for p in body.split(":")]
        if len(parts) > 3:
            raise _fail(f"invalid slice '{body}'")
        try:
            nums = [int(p) if p else None for p in parts] + [None] * (3 - len(parts))
        except ValueError:
            raise _fail(f"invalid slice '{body}'") from None
        return ("slice", nums[0], nums[1], nums[2]), nxt
    items = _split_union(body)
    keys: list[Any] = []
    for item in items:
        if item[:1] in "'\"" and item[-1:] == item[:1] and len(item) >= 2:
            keys.append(item[1:-1].replace("\\" + item[0], item[0]))
        else:
            try:
                keys.append(int(item))
            except ValueError:
                raise _fail(f"invalid subscript '{item}'") from None
    if len(keys) == 1:
        return (("key", keys[0]) if isinstance(keys[0], str) else ("index", keys[0])), nxt
    return ("union", keys), nxt


def _split_union(body: str) -> list[str]:
    items: list[str] = []
    current = ""
    quote = ""
    for c in body:
        if quote:
            current += c
            if c == quote:
                quote = ""
        elif c in "'\"":
            quote = c
            current += c
        elif c == ",":
            items.append(current.strip())
            current = ""
        else:
            current += c
    items.append(current.strip())
    return items


def _children(value: Any) -> list[Any]:
    if is_map(value):
        return [value[k] for k in sorted(value)]
    if is_list(value):
        return list(value)
    return []


def _key(value: Any, key: str, strict: bool) -> list[Any]:
    if is_map(value) and key in value:
        return [value[key]]
    if strict:
        if is_map(value):
            raise _fail(f"key '{key}' not found in object")
        raise _fail(f"cannot get key '{key}' from a {type(value).__name__}")
    return []


def _index(value: Any, index: int, strict: bool) -> list[Any]:
    if is_list(value):
        i = index + len(value) if index < 0 else index
        if 0 <= i < len(value):
            return [value[i]]
        if strict:
            raise _fail(f"index {index} out of range")
        return []
    if strict:
        raise _fail(f"cannot index a {type(value).__name__}")
    return []


def _apply(segment: tuple[Any, ...], nodes: list[Any], strict: bool) -> list[Any]:
    kind = segment[0]
    out: list[Any] = []
    for node in nodes:
        if kind == "key":
            out.extend(_key(node, segment[1], strict))
        elif kind == "index":
            out.extend(_index(node, segment[1], strict))
        elif kind == "wild":
            out.extend(_children(node))
        elif kind == "union":
            for key in segment[1]:
                out.extend(_key(node, key, False) if isinstance(key, str) else _index(node, key, False))
        elif kind == "slice":
            if is_list(node):
                out.extend(list(node)[slice(segment[1], segment[2], segment[3])])
        elif kind == "filter":
            for child in _children(node):
                if _truthy(_filter_eval(segment[1], child)):
                    out.append(child)
        elif kind == "recursive":
            stack = [node]
            visited: list[Any] = []
            while stack:
                current = stack.pop()
                visited.append(current)
                stack.extend(reversed(_children(current)))
                if len(visited) > MAX_COLLECTION_SIZE:
                    raise _fail("document too large for recursive descent")
            for current in visited:
                out.extend(_apply(segment[1], [current], False))
        if len(out) > MAX_COLLECTION_SIZE:
            raise _fail("result too large")
    return out


def query(path: str, document: Any) -> Any:
    """Evaluate ``path`` against an already-decoded JSON ``document``."""
    segments = _parse(path)
    definite = all(s[0] in ("key", "index") for s in segments)
    nodes = [document]
    for segment in segments:
        nodes = _apply(segment, nodes, strict=definite)
    if definite:
        return nodes[0]
    return nodes


# ----------------------------------------------------------------------------------------- filters


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _FILTER_TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise _fail(f"invalid filter '{text}'")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        pos = match.end()
    return tokens


class _FilterParser:
    def __init__(self, text: str, current: Any) -> None:
        self.tokens = _tokens(text)
        self.pos = 0
        self.current = current
        self.text = text

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise _fail(f"invalid filter '{self.text}'")
        self.pos += 1
        return token

    def parse_or(self) -> Any:
        left = self.parse_and()
        while self.peek() == ("op", "||"):
            self.take()
            right = self.parse_and()
            left = _truthy(left) or _truthy(right)
        return left

    def parse_and(self) -> Any:
        left = self.parse_cmp()
        while self.peek() == ("op", "&&"):
            self.take()
            right = self.parse_cmp()
            left = _truthy(left) and _truthy(right)
        return left

    def parse_cmp(self) -> Any:
        left = self.parse_unary()
        token = self.peek()
        if token and token[0] == "op" and token[1] in ("==", "!=", "<", "<=", ">", ">="):
            self.take()
            right = self.parse_unary()
            return _compare(token[1], left, right)
        return left

    def parse_unary(self) -> Any:
        kind, value = self.take()
        if (kind, value) == ("op", "!"):
            return not _truthy(self.parse_unary())
        if (kind, value) == ("op", "("):
            inner = self.parse_or()
            if self.take() != ("op", ")"):
                raise _fail(f"invalid filter '{self.text}'")
            return inner
        if kind == "str":
            return value[1:-1]
        if kind == "num":
            return float(value)
        if kind == "word":
            return {"true": True, "false": False, "null": None}[value]
        if kind == "path":
            segments = _parse("$" + value[1:])
            nodes = [self.current]
            for segment in segments:
                nodes = _apply(segment, nodes, strict=False)
            return nodes[0] if nodes else _MISSING
        raise _fail(f"invalid filter '{self.text}'")


class _Missing:
    pass


_MISSING = _Missing()


def _truthy(value: Any) -> bool:
    return not (value is _MISSING or value is None or value is False)


def _compare(op: str, left: Any, right: Any) -> bool:
    if left is _MISSING or right is _MISSING:
        return op == "!="
    if op == "==":
        return equal(left, right)
    if op == "!=":
        return not equal(left, right)
    if is_number(left) and is_number(right) or isinstance(left, str) and isinstance(right, str):
        if op == "<":
            return bool(left < right)
        if op == "<=":
            return bool(left <= right)
        if op == ">":
            return bool(left > right)
        return bool(left >= right)
    return False


def _filter_eval(text: str, current: Any) -> Any:
    parser = _FilterParser(text, current)
    value = parser.parse_or()
    if parser.peek() is not None:
        raise _fail(f"invalid filter '{text}'")
    return value
