"""Read YAML documents safely and remember the line of every field.

Manifests are untrusted text: only PyYAML's safe constructors are used. Besides the plain
Python value of each document, the reader keeps a map from field paths
(``("spec", "templates", 2, "steps", 0, 0, "withItem")``) to 1-based line numbers, so that
every problem found later can point at the line that caused it.

Before a document is built, a streaming pass over the parser's events enforces limits that no
real manifest comes near: the size of the text, the nesting depth, and the number of nodes once
aliases are expanded (a "billion laughs" alias bomb of a few hundred bytes would otherwise grow
without bound); an alias that refers to its own anchor is rejected. Nothing later (building the
value, normalising it, validating it) can then be driven past Python's stack or the memory of
the DAG processor.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml

try:  # libyaml is much faster; fall back to the pure-Python loader where it is missing.
    _BaseLoader: type[yaml.SafeLoader] = yaml.CSafeLoader  # type: ignore[assignment]
except AttributeError:  # pragma: no cover - depends on how PyYAML was built
    _BaseLoader = yaml.SafeLoader

Path = tuple[str | int, ...]

#: Largest manifest file (characters). Kubernetes stores one object in at most 1.5 MiB.
MAX_TEXT_LENGTH = 8 * 1024 * 1024
#: Deepest nesting of mappings and sequences in a document.
MAX_DEPTH = 100
#: Most nodes (scalars, mappings, sequences) of one file, counting each alias as the nodes it repeats.
MAX_NODES = 500_000


@dataclass
class YamlDocument:
    """One document of a YAML file: its value, where it starts, and the line of each field."""

    value: Any
    index: int
    line: int
    lines: dict[Path, int] = field(default_factory=dict)
    duplicate_keys: list[tuple[Path, int]] = field(default_factory=list)

    def line_of(self, path: Path) -> int:
        """The line of ``path``, or of its nearest ancestor that has one."""
        probe = tuple(path)
        while probe:
            line = self.lines.get(probe)
            if line is not None:
                return line
            probe = probe[:-1]
        return self.line


class YamlSyntaxError(Exception):
    """The text is not valid YAML, or is over a limit; ``line`` is 1-based, ``code`` the problem code."""

    def __init__(self, message: str, line: int, code: str = "AAP001") -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.code = code


def _limit_error(message: str, mark: Any, code: str) -> YamlSyntaxError:
    return YamlSyntaxError(message, mark.line + 1 if mark is not None else 1, code)


def check_limits(text: str) -> None:
    """Raise :class:`YamlSyntaxError` (with its code) when ``text`` is over a limit of this module.

    One pass over the parser's events (libyaml's parser keeps an explicit stack, so a deep
    document cannot exhaust the C stack here, as composing it would).
    """
    if len(text) > MAX_TEXT_LENGTH:
        raise YamlSyntaxError(
            f"the file has {len(text):,} characters, more than the limit of {MAX_TEXT_LENGTH:,}", 1, "AAP005"
        )
    loader = _BaseLoader(text)
    # One frame per open collection: [nodes so far, anchor].
    stack: list[list[Any]] = []
    sizes: dict[str, int] = {}
    open_anchors: set[str] = set()
    total = 0
    try:
        while loader.check_event():
            event = loader.get_event()
            kind = type(event)
            if kind is yaml.ScalarEvent or kind is yaml.AliasEvent:
                if kind is yaml.AliasEvent:
                    anchor = event.anchor
                    if anchor in open_anchors:
                        raise _limit_error(
                            f"alias *{anchor} refers to its own anchor (a recursive structure)",
                            event.start_mark,
                            "AAP007",
                        )
                    size = sizes.get(anchor, 1)
                else:
                    size = 1
                    if event.anchor is not None:
                        sizes[event.anchor] = 1
                total += size
                if stack:
                    stack[-1][0] += size
            elif kind is yaml.SequenceStartEvent or kind is yaml.MappingStartEvent:
                total += 1
                stack.append([1, event.anchor])
                if event.anchor is not None:
                    open_anchors.add(event.anchor)
                if len(stack) > MAX_DEPTH:
                    raise _limit_error(
                        f"mappings and lists are nested more than {MAX_DEPTH} levels deep", event.start_mark, "AAP006"
                    )
            elif kind is yaml.SequenceEndEvent or kind is yaml.MappingEndEvent:
                size, anchor = stack.pop()
                if anchor is not None:
                    sizes[anchor] = size
                    open_anchors.discard(anchor)
                if stack:
                    stack[-1][0] += size
            else:
                continue
            if total > MAX_NODES:
                raise _limit_error(
                    f"the file expands to more than {MAX_NODES:,} values (aliases count as the values they repeat)",
                    event.start_mark,
                    "AAP005",
                )
    except yaml.YAMLError:
        return  # reported, with its line, when the documents are read
    finally:
        loader.dispose()


def _record(node: yaml.Node, path: Path, doc: YamlDocument, seen: set[int]) -> None:
    # Aliases point at the same node object; walk each node once to stay linear.
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        keys: dict[Any, int] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue
            key: str | int = key_node.value
            if key == "<<":  # merge key: the merged fields keep the lines of their source
                if isinstance(value_node, yaml.MappingNode):
                    _record(value_node, path, doc, seen)
                continue
            line = key_node.start_mark.line + 1
            if key in keys:
                doc.duplicate_keys.append(((*path, key), line))
            keys[key] = line
            doc.lines[path + (key,)] = line
            _record(value_node, (*path, key), doc, seen)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            doc.lines[path + (index,)] = item.start_mark.line + 1
            _record(item, (*path, index), doc, seen)


_STR = "tag:yaml.org,2002:str"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"


class _Fallback(Exception):
    """The document uses YAML features the fast builder leaves to PyYAML (merge keys, tags)."""


def _build(node: yaml.Node, path: Path, doc: YamlDocument, loader: Any, memo: dict[int, Any]) -> Any:
    """The value of ``node`` (as PyYAML's safe constructor builds it), recording lines on the way."""
    known = memo.get(id(node))
    if known is not None:
        return known
    if isinstance(node, yaml.ScalarNode):
        return node.value if node.tag == _STR else loader.construct_object(node)
    if isinstance(node, yaml.MappingNode):
        if node.tag != _MAP:
            raise _Fallback
        out: dict[Any, Any] = {}
        memo[id(node)] = out
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.value == "<<" and key_node.tag != _STR:
                raise _Fallback
            key = _build(key_node, path, doc, loader, memo)
            line = key_node.start_mark.line + 1
            child = path + (key,)
            if key in out:
                doc.duplicate_keys.append((child, line))
            doc.lines[child] = line
            out[key] = _build(value_node, child, doc, loader, memo)
        return out
    if isinstance(node, yaml.SequenceNode):
        if node.tag != _SEQ:
            raise _Fallback
        items: list[Any] = []
        memo[id(node)] = items
        for index, item in enumerate(node.value):
            child = path + (index,)
            doc.lines[child] = item.start_mark.line + 1
            items.append(_build(item, child, doc, loader, memo))
        return items
    raise _Fallback  # pragma: no cover - every YAML node is one of the three


def _document(node: yaml.Node, index: int, loader: Any) -> YamlDocument:
    doc = YamlDocument(value=None, index=index, line=node.start_mark.line + 1)
    try:
        doc.value = _build(node, (), doc, loader, {})
    except _Fallback:
        doc = YamlDocument(value=loader.construct_document(node), index=index, line=node.start_mark.line + 1)
        _record(node, (), doc, set())
    return doc


def read_documents(text: str) -> Iterator[YamlDocument]:
    """Yield every non-empty document of ``text`` with its line map.

    Raises :class:`YamlSyntaxError` on malformed YAML (with the line of the problem), or on a text
    over a limit (see :func:`check_limits`).
    """
    check_limits(text)
    loader = _BaseLoader(text)
    index = 0
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:  # pragma: no cover - check_node guarantees a node
                break
            doc = _document(node, index, loader)
            if doc.value is not None:
                yield doc
            index += 1
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        problem = exc.problem or str(exc)
        context = f" ({exc.context})" if exc.context else ""
        raise YamlSyntaxError(f"invalid YAML: {problem}{context}", line) from None
    except yaml.reader.ReaderError as exc:
        raise _reader_error(text, exc) from None
    except yaml.YAMLError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise YamlSyntaxError(f"invalid YAML: {first}", 1) from None
    finally:
        loader.dispose()


def _reader_error(text: str, exc: yaml.reader.ReaderError) -> YamlSyntaxError:
    """A character YAML does not allow (NUL, other control characters), at its real line, on one line."""
    position = exc.position if isinstance(exc.position, int) and exc.position >= 0 else 0
    position = min(position, len(text))
    line = text.count("\n", 0, position) + 1
    column = position - (text.rfind("\n", 0, position) + 1) + 1
    character = exc.character
    code = ord(character) if isinstance(character, str) else int(character)
    return YamlSyntaxError(f"invalid YAML: character #x{code:04x} at column {column}: {exc.reason}", line)


def load_all(text: str) -> list[Any]:
    """Every non-empty document of ``text`` as plain values, within this module's limits.

    For YAML embedded in a manifest (a ``resource`` template's ``manifest``): raises
    :class:`YamlSyntaxError` like :func:`read_documents`.
    """
    return [doc.value for doc in read_documents(text)]


def format_path(path: Path) -> str:
    """``("spec", "templates", 2, "name")`` -> ``spec.templates[2].name``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif out:
            out += f".{part}"
        else:
            out = str(part)
    return out
