"""Fan-out items: ``withItems``, ``withSequence`` and ``withParam``, expanded as Argo does.

Items are expanded at run time (a sequence's ``count`` or a ``withParam`` list usually
depends on parameters or upstream outputs). Child nodes are named the Argo way,
``name(INDEX:ITEM)``, and large lists are split into chunks that each run in one task.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any

from airflow_argo_provider.expressions import render_value
from airflow_argo_provider.plan.model import Loop


class LoopError(Exception):
    """The items of a fan-out cannot be computed (bad sequence, ``withParam`` not a JSON list)."""


MAX_SEQUENCE = 1_000_000


def expand_items(loop: Loop, substitute: Callable[[str], str]) -> list[Any]:
    """The items of ``loop``; ``substitute`` resolves ``{{...}}`` tags in the parent's scope."""
    if loop.kind == "items":
        return [_substitute_item(item, substitute) for item in loop.items or []]
    if loop.kind == "sequence":
        return expand_sequence({k: substitute(v) for k, v in (loop.sequence or {}).items()})
    text = substitute(loop.param or "")
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise LoopError(f"withParam value could not be parsed as a JSON list: {_clip(text)}: {exc}") from None
    if not isinstance(value, list):
        raise LoopError(f"withParam value is not a JSON list: {_clip(text)}")
    return value


def _clip(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _substitute_item(item: Any, substitute: Callable[[str], str]) -> Any:
    if isinstance(item, str):
        return substitute(item) if "{{" in item else item
    if isinstance(item, dict):
        return {k: _substitute_item(v, substitute) for k, v in item.items()}
    if isinstance(item, list):
        return [_substitute_item(v, substitute) for v in item]
    return item


def _int(name: str, text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise LoopError(f"withSequence.{name} must be an integer, got {text!r}") from None


_FORMAT = re.compile(r"%([-+ #0]*)(\d*)(?:\.(\d+))?([dioxXbcsvqeEfFgG])")


def format_sequence_value(fmt: str, value: int) -> str:
    """Go's ``fmt.Sprintf(format, n)`` for the verbs people use in ``withSequence.format``."""

    def one(match: re.Match[str]) -> str:
        flags, width, precision, verb = match.groups()
        py_verb = {"v": "d", "i": "d", "q": "s", "b": "b"}.get(verb, verb)
        spec = f"{flags.replace('#', '#')}{width}{'.' + precision if precision else ''}{py_verb}"
        if py_verb == "s":
            return format(str(value), spec)
        if py_verb in "eEfFgG":
            return format(float(value), spec)
        if py_verb == "c":
            return chr(value)
        return format(value, spec)

    out, count = _FORMAT.subn(one, fmt.replace("%%", "\0"))
    if count == 0:
        out = out + f"%!(EXTRA int={value})"
    return out.replace("\0", "%")


def expand_sequence(seq: dict[str, str]) -> list[str]:
    """Argo's ``withSequence``: ``count`` or ``end`` (inclusive), ``start`` (default 0), ``format``."""
    start = _int("start", seq["start"]) if seq.get("start") not in (None, "") else 0
    if seq.get("count") not in (None, "") and seq.get("end") not in (None, ""):
        raise LoopError("withSequence takes count or end, not both")
    if seq.get("count") not in (None, ""):
        count = _int("count", seq["count"])
        if count < 0:
            raise LoopError(f"withSequence.count must not be negative, got {count}")
        if count == 0:
            return []
        values = range(start, start + count)
    elif seq.get("end") not in (None, ""):
        end = _int("end", seq["end"])
        values = range(start, end + 1) if end >= start else range(start, end - 1, -1)
    else:
        raise LoopError("withSequence needs count or end")
    if len(values) > MAX_SEQUENCE:
        raise LoopError(f"withSequence would create {len(values)} items (more than {MAX_SEQUENCE})")
    fmt = seq.get("format")
    if fmt:
        return [format_sequence_value(fmt, v) for v in values]
    return [str(v) for v in values]


def item_label(item: Any) -> str:
    """An item as it appears in a node name: a map as sorted ``k:v`` pairs joined by ``,``."""
    if isinstance(item, dict):
        return ",".join(
            f"{k}:{item_label(item[k]) if not isinstance(item[k], (dict, list)) else render_value(item[k])}"
            for k in sorted(item)
        )
    return render_value(item)


def child_name(name: str, index: int, item: Any) -> str:
    """Argo's display name of a fan-out child: ``fetch-all(3:4)``."""
    return f"{name}({index}:{item_label(item)})"


def batches(items: list[Any], max_length: int, per_task: int = 1) -> list[list[dict[str, Any]]]:
    """Split items into batches of ``{"index", "item"}``: ``per_task`` items each (one by default),
    more when needed to stay within ``max_length`` batches (Airflow's ``max_map_length``)."""
    entries = [{"index": i, "item": item} for i, item in enumerate(items)]
    size = max(per_task, math.ceil(len(entries) / max_length) if entries else 1)
    return [entries[i : i + size] for i in range(0, len(entries), size)]


def batch_label(name: str, batch: list[dict[str, Any]]) -> str:
    """The label of a mapped task instance: the child's name, or the index range of a chunk."""
    if len(batch) == 1:
        return child_name(name, batch[0]["index"], batch[0]["item"])
    return f"{name}({batch[0]['index']}..{batch[-1]['index']})"
