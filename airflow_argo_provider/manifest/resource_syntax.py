"""What a ``resource`` template may say, read the same way when manifests are checked and when steps run.

The ``action`` and ``mergeStrategy`` values Argo knows; ``successCondition``/``failureCondition`` in
Kubernetes label-selector syntax (:func:`parse_conditions`, each :class:`Requirement` matched against
an object with gjson paths, as Argo does); output parameters read with kubectl's JSONPath
(:func:`kube_jsonpath`) and jq filters that may not read beyond the object (:func:`check_jq`).
No Airflow and no cluster client: the backends use it to carry resource templates out.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from airflow_argo_provider.expressions import ExpressionError, gjson
from airflow_argo_provider.expressions import jsonpath as _jsonpath

ACTIONS = ("create", "apply", "delete", "get", "patch", "replace")
MERGE_STRATEGIES = ("strategic", "merge", "json")


class ResourceError(ValueError):
    """The resource template cannot be carried out as written (the node is an Error)."""


# -- conditions ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Requirement:
    key: str
    operator: str  # =, ==, !=, in, notin, exists, !, >, <
    values: tuple[str, ...] = ()

    def __str__(self) -> str:
        if self.operator == "exists":
            return self.key
        if self.operator == "!":
            return f"!{self.key}"
        if self.operator in ("in", "notin"):
            return f"{self.key} {self.operator} ({', '.join(self.values)})"
        return f"{self.key} {self.operator} {self.values[0]}"

    def matches(self, obj: Any) -> bool:
        value = gjson.get(obj, self.key)
        present = value is not gjson.MISSING
        text = gjson.as_string(value) if present else ""
        if self.operator == "exists":
            return present
        if self.operator == "!":
            return not present
        if self.operator in ("=", "==", "in"):
            return present and text in self.values
        if self.operator in ("!=", "notin"):
            return not present or text not in self.values
        if not present:
            return False
        try:
            have = int(text)
        except ValueError:
            return False
        want = int(self.values[0])
        return have > want if self.operator == ">" else have < want


_KEY = r"[A-Za-z0-9_./#*\\-]+"
_REQUIREMENT = re.compile(
    rf"^\s*(?:(?P<not>!)\s*(?P<nkey>{_KEY})"
    rf"|(?P<key>{_KEY})\s*(?:(?P<op>==|!=|=|>|<)\s*(?P<value>[^,\s()]*)"
    rf"|\s+(?P<set>in|notin)\s*\((?P<values>[^()]*)\))?)\s*$"
)


def _split_requirements(text: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


def parse_conditions(text: str) -> list[Requirement]:
    """A condition's requirements (comma-separated, all must hold); raises :class:`ResourceError`."""
    if not text.strip():
        return []
    out: list[Requirement] = []
    for part in _split_requirements(text):
        match = _REQUIREMENT.match(part)
        if match is None or not part.strip():
            raise ResourceError(
                f"condition {text!r}: cannot read {part.strip()!r} (write KEY OP VALUE with OP one of "
                "=, ==, !=, >, <, in (...), notin (...), or KEY / !KEY)"
            )
        if match.group("not"):
            out.append(Requirement(match.group("nkey"), "!"))
            continue
        key = match.group("key")
        if match.group("op"):
            op, value = match.group("op"), match.group("value")
            if op in (">", "<"):
                try:
                    int(value)
                except ValueError:
                    raise ResourceError(
                        f"condition {text!r}: {op} compares with a whole number, not {value!r}"
                    ) from None
            out.append(Requirement(key, op, (value,)))
        elif match.group("set"):
            values = tuple(v.strip() for v in match.group("values").split(",") if v.strip())
            out.append(Requirement(key, match.group("set"), values))
        else:
            out.append(Requirement(key, "exists"))
    return out


# -- outputs ---------------------------------------------------------------------------------------
_BRACES = re.compile(r"\{([^{}]*)\}")


def check_jsonpath(template: str) -> None:
    """Raise :class:`ResourceError` unless ``template`` is in the supported kubectl JSONPath subset."""
    kube_jsonpath(template, {}, check_only=True)


def _render(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return gjson.as_string(value)


def kube_jsonpath(template: str, obj: Any, *, check_only: bool = False) -> str:
    """``kubectl get -o jsonpath=TEMPLATE`` over ``obj``: ``{...}`` expressions, text around them."""
    if "{" not in template:
        raise ResourceError(f"jsonPath {template!r}: write the path in braces, as kubectl does ({{.metadata.name}})")
    out: list[str] = []
    position = 0
    for match in _BRACES.finditer(template):
        out.append(template[position : match.start()])
        position = match.end()
        inner = match.group(1).strip()
        if inner in ("range", "end") or inner.startswith(("range ", "end ")):
            raise ResourceError(f"jsonPath {template!r}: {{range}} blocks are not supported")
        if inner.startswith(("'", '"')) and inner.endswith(inner[0]) and len(inner) >= 2:
            out.append(inner[1:-1])
            continue
        if inner in ("@", "$", ""):
            path = "$"
        elif inner.startswith("."):
            path = "$" + inner
        elif inner.startswith(("$", "@")):
            path = "$" + inner[1:]
        else:
            raise ResourceError(f"jsonPath {template!r}: {inner!r} does not start with '.'")
        try:
            if check_only:
                _jsonpath._parse(path)
                continue
            value = _jsonpath.query(path, obj)
        except ExpressionError as exc:
            raise ResourceError(f"jsonPath {template!r}: {exc}") from None
        if isinstance(value, list) and _jsonpath_is_set(path):
            out.append(" ".join(_render(v) for v in value))
        else:
            out.append(_render(value))
    out.append(template[position:])
    if check_only:
        return ""
    return "".join(out)


def _jsonpath_is_set(path: str) -> bool:
    return any(token in path for token in ("[*]", ".*", "..", "[?", ":", ","))


# jq builtins that read something other than the object (the worker's environment, other inputs).
_JQ_REFUSED = re.compile(
    r"(?<![.\w$])(env|input|inputs|input_filename|debug|stderr|input_line_number|halt|halt_error|"
    r"get_search_list|import|include|modulemeta|splits_with_input)\b|\$ENV\b|\$__loc__|\$__prog"
)


def check_jq(program: str) -> None:
    """Raise :class:`ResourceError` for a jq filter that reads the environment or other inputs."""
    stripped = re.sub(r'"(?:[^"\\]|\\.)*"', '""', program)
    match = _JQ_REFUSED.search(stripped)
    if match:
        raise ResourceError(f"jqFilter {program!r}: {match.group(0)} is not allowed (it reads beyond the object)")
