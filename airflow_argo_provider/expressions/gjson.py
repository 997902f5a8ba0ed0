"""The path language of Argo Events' ``dataKey`` and ``filters.data[].path`` (tidwall/gjson), a safe subset.

A path is a series of keys separated by dots: ``body.Records.0.s3.bucket.name``. A key that is a
number indexes an array; ``*`` and ``?`` are wildcards within a key (the first matching key of an
object wins); ``\\`` escapes the next character (``a\\.b`` is the key ``a.b``); ``#`` is the length of
an array, and ``#.key`` collects ``key`` from every element of an array. gjson's queries
(``#(...)``), modifiers (``@reverse``), pipes and multipaths are not supported: such a path is
rejected when the manifest is loaded, never misread.

:func:`get` finds a value in a decoded JSON document; :func:`as_string` renders it the way Argo
Events passes a ``dataKey`` value on (strings raw, numbers and booleans as text, objects and
arrays as JSON).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .errors import ExpressionError

MAX_PATH_LENGTH = 1_000

__all__ = ["MISSING", "PathError", "as_string", "check_path", "get", "json_type"]


class PathError(ExpressionError):
    """A path that cannot be parsed or is not supported."""


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


@dataclass(frozen=True)
class _Key:
    text: str
    wildcard: bool


def _split(path: str) -> list[_Key]:
    if not path:
        raise PathError("empty path", path)
    if len(path) > MAX_PATH_LENGTH:
        raise PathError(f"path longer than {MAX_PATH_LENGTH} characters", path[:100])
    keys: list[_Key] = []
    current: list[str] = []
    wildcard = False
    index = 0
    while index < len(path):
        ch = path[index]
        if ch == "\\":
            if index + 1 >= len(path):
                raise PathError("path ends with an escape character", path, index)
            current.append("\\" + path[index + 1])
            index += 2
            continue
        if ch == ".":
            keys.append(_key(current, wildcard, path, index))
            current, wildcard = [], False
        elif ch in "|[]{}()!=<>%":
            raise PathError(f"{ch!r} (gjson queries, multipaths and pipes) is not supported", path, index)
        elif ch == "@" and not current:
            raise PathError("gjson modifiers (@...) are not supported", path, index)
        else:
            if ch in "*?":
                wildcard = True
            current.append(ch)
        index += 1
    keys.append(_key(current, wildcard, path, len(path)))
    for position, key in enumerate(keys):
        if key.text == "#" and position == len(keys) - 1:
            continue
        if key.text.startswith("#") and key.text != "#":
            raise PathError(f"gjson queries ({key.text}) are not supported", path)
    return keys


def _key(parts: list[str], wildcard: bool, path: str, position: int) -> _Key:
    if not parts:
        raise PathError("empty key in path", path, position)
    return _Key("".join(parts), wildcard)


def _unescape(text: str) -> str:
    out: list[str] = []
    index = 0
    while index < len(text):
        if text[index] == "\\" and index + 1 < len(text):
            out.append(text[index + 1])
            index += 2
        else:
            out.append(text[index])
            index += 1
    return "".join(out)


def _glob(pattern: str, text: str) -> bool:
    """gjson's wildcard match: ``*`` any run, ``?`` one character, ``\\x`` the literal ``x``."""
    tokens: list[tuple[str, str]] = []
    index = 0
    while index < len(pattern):
        ch = pattern[index]
        if ch == "\\" and index + 1 < len(pattern):
            tokens.append(("lit", pattern[index + 1]))
            index += 2
            continue
        tokens.append(("star", "") if ch == "*" else ("one", "") if ch == "?" else ("lit", ch))
        index += 1
    # Linear-space dynamic programming: no backtracking whatever the pattern.
    reachable = [False] * (len(tokens) + 1)
    reachable[0] = True
    for t in range(len(tokens)):
        if tokens[t][0] == "star" and reachable[t]:
            reachable[t + 1] = True
    for ch in text:
        nxt = [False] * (len(tokens) + 1)
        for t, (kind, lit) in enumerate(tokens):
            if not reachable[t]:
                continue
            if kind == "star":
                nxt[t] = True
            elif kind == "one" or lit == ch:
                nxt[t + 1] = True
        for t in range(len(tokens)):
            if tokens[t][0] == "star" and nxt[t]:
                nxt[t + 1] = True
        reachable = nxt
    return reachable[len(tokens)]


def check_path(path: str) -> None:
    """Raise :class:`PathError` unless ``path`` is a supported gjson path."""
    _split(path)


def get(document: Any, path: str) -> Any:
    """The value at ``path`` in ``document`` (decoded JSON), or :data:`MISSING`."""
    return _walk(document, _split(path))


def _walk(node: Any, keys: list[_Key]) -> Any:
    for position, key in enumerate(keys):
        if key.text == "#" and isinstance(node, list):
            if position == len(keys) - 1:
                return len(node)
            rest = keys[position + 1 :]
            found = [value for value in (_walk(item, rest) for item in node) if value is not MISSING]
            return found
        if isinstance(node, dict):
            if key.wildcard:
                node = next((v for k, v in node.items() if _glob(key.text, str(k))), MISSING)
            else:
                node = node.get(_unescape(key.text), MISSING)
        elif isinstance(node, list):
            text = _unescape(key.text)
            if not text.isdigit():
                return MISSING
            number = int(text)
            node = node[number] if number < len(node) else MISSING
        else:
            return MISSING
        if node is MISSING:
            return MISSING
    return node


def json_type(value: Any) -> str:
    """gjson's type name of a value: String, Number, True, False, Null or JSON."""
    if value is None:
        return "Null"
    if value is True:
        return "True"
    if value is False:
        return "False"
    if isinstance(value, (int, float)):
        return "Number"
    if isinstance(value, str):
        return "String"
    return "JSON"


def as_string(value: Any) -> str:
    """gjson's ``Result.String()`` (JSON blocks as compact JSON, ``null`` for null)."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return "NaN" if math.isnan(value) else ("+Inf" if value > 0 else "-Inf")
        # strconv.FormatFloat(f, 'f', -1, 64): shortest digits, never an exponent.
        text = format(Decimal(repr(value)), "f")
        return text[:-2] if text.endswith(".0") else text
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
