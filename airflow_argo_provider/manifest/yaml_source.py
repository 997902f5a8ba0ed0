"""Read YAML documents safely and remember the line of every field.

Manifests are untrusted text: only PyYAML's safe constructors are used. Besides the plain
Python value of each document, the reader keeps a map from field paths
(``("spec", "templates", 2, "steps", 0, 0, "withItem")``) to 1-based line numbers, so that
every problem found later can point at the line that caused it.
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
    """The text is not valid YAML; ``line`` is 1-based."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


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

    Raises :class:`YamlSyntaxError` on malformed YAML (with the line of the problem).
    """
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
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(f"invalid YAML: {exc}", 1) from None
    finally:
        loader.dispose()


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
