"""``{{...}}`` substitution as Argo's ``util/template`` does it, and the fan-in aggregation helpers.

Tags are found the way ``valyala/fasttemplate`` finds them: from ``{{`` to the next ``}}``. A tag whose
text starts with ``=`` is an expression tag (expr-lang); any other tag is a simple tag, looked up by its
text with surrounding whitespace removed. Substitution is a single pass: a substituted value is
never scanned for tags again.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .errors import ExpressionError
from .exprlang import compile_expression, parse_names, run
from .gofmt import go_json, load_json, render_value
from .gotime import strftime
from .limits import MAX_STRING_LENGTH

__all__ = [
    "aggregate_parameters",
    "aggregate_results",
    "build_env",
    "check_template",
    "substitute",
    "substitute_tree",
    "template_variables",
    "templated_strings",
]

_CREATION = "workflow.creationTimestamp"
_MISSING = object()
_CREATION_FORMATS = [*"aAbBcCdDeFgGhHIjklLmMnprRStTuUvVwWxXyYzZ", "RFC3339", "s"]


def _tags(text: str) -> list[tuple[int, int, str]]:
    """(start of ``{{``, end after ``}}``, tag text) for every tag; raises on an unclosed ``{{``."""
    tags: list[tuple[int, int, str]] = []
    pos = 0
    while True:
        start = text.find("{{", pos)
        if start < 0:
            return tags
        end = text.find("}}", start + 2)
        if end < 0:
            raise ExpressionError(f"cannot find end tag '}}}}' for the tag starting at {start}", text, start)
        tags.append((start, end + 2, text[start + 2 : end]))
        pos = end + 2


def build_env(scope: Mapping[str, Any]) -> dict[str, Any]:
    """The expr-lang environment Argo builds from a flat scope (``expand.Expand``).

    Dotted keys become nested maps (``{"inputs.parameters.x": "1"}`` gives
    ``{"inputs": {"parameters": {"x": "1"}}}``). When a key is also the parent of another key, Argo drops
    the less specific one; here a parent whose value is itself a map is merged instead.
    """
    if _CREATION in scope:
        # Argo also puts workflow.creationTimestamp.<fmt> in the scope, so in expressions the
        # timestamp is a map of its formats (the less specific string is dropped).
        scope = dict(scope)
        for spec in _CREATION_FORMATS:
            name = f"{_CREATION}.{spec}"
            if name not in scope:
                value = _creation_form(scope, name)
                if value is not _MISSING:
                    scope[name] = value
    keys = sorted(scope)
    env: dict[str, Any] = {}
    for key in keys:
        value = scope[key]
        parts = key.split(".")
        node = env
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = dict(child) if isinstance(child, Mapping) else {}
                node[part] = child
            node = child
        leaf = parts[-1]
        existing = node.get(leaf)
        if isinstance(existing, dict) and isinstance(value, Mapping):
            merged = dict(value)
            merged.update(existing)
            node[leaf] = merged
        elif isinstance(existing, dict):
            continue  # a less specific scalar key loses against its children, as in Argo
        else:
            node[leaf] = dict(value) if isinstance(value, Mapping) else value
    return env


def _creation_form(scope: Mapping[str, Any], name: str) -> Any:
    """``workflow.creationTimestamp.<fmt>`` derived from ``workflow.creationTimestamp`` when not in scope."""
    if not name.startswith(_CREATION + ".") or _CREATION not in scope:
        return _MISSING
    stamp = scope[_CREATION]
    if isinstance(stamp, str):
        try:
            moment = _dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        except ValueError:
            return _MISSING
    elif isinstance(stamp, _dt.datetime):
        moment = stamp
    else:
        return _MISSING
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_dt.timezone.utc)
    spec = name[len(_CREATION) + 1 :]
    if spec == "RFC3339":
        return moment.strftime("%Y-%m-%dT%H:%M:%S") + _zone(moment)
    if spec == "s":
        return str(int(moment.timestamp()))
    if len(spec) == 1:
        value = strftime(spec, moment)
        return _MISSING if value is None else value
    return _MISSING


def _zone(moment: _dt.datetime) -> str:
    offset = moment.utcoffset() or _dt.timedelta(0)
    if not offset:
        return "Z"
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    minutes = abs(minutes)
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def _lookup(scope: Mapping[str, Any], name: str) -> tuple[Any, bool]:
    """(value, nested) for a simple tag name; value is ``_MISSING`` when unknown."""
    if name in scope:
        return scope[name], False
    derived = _creation_form(scope, name)
    if derived is not _MISSING:
        return derived, False
    parts = name.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        prefix = ".".join(parts[:cut])
        if prefix not in scope:
            continue
        value = scope[prefix]
        for part in parts[cut:]:
            if isinstance(value, Mapping) and part in value:
                value = value[part]
            else:
                value = _MISSING
                break
        if value is not _MISSING:
            return value, True
    return _MISSING, False


def substitute(text: str, scope: Mapping[str, Any], *, strict: bool = True) -> str:
    """Replace the ``{{...}}`` tags of ``text`` with values from ``scope``, as Argo does.

    >>> substitute("hello {{ inputs.parameters.name }}", {"inputs.parameters.name": "world"})
    'hello world'
    >>> substitute("{{=asInt(inputs.parameters.n) * 10}}", {"inputs.parameters.n": "4"})
    '40'
    >>> substitute("{{item.a}} {{item}}", {"item": {"b": [1, 2], "a": "x"}})
    'x {"a":"x","b":[1,2]}'
    >>> substitute("{{tasks.later.outputs.result}}", {}, strict=False)
    '{{tasks.later.outputs.result}}'

    Strings are inserted raw; other values as compact JSON with sorted keys (Go's ``json.Marshal``).
    With ``strict`` an unknown variable (or a failing expression tag) raises :class:`ExpressionError`
    naming it; otherwise the tag is left as it is. The output is never scanned again for tags.
    """
    if not isinstance(text, str):
        raise ExpressionError(f"template must be a string, not {type(text).__name__}")
    if "{{" not in text:
        return text
    tags = _tags(text)
    out: list[str] = []
    last = 0
    env: dict[str, Any] | None = None
    size = 0
    for start, end, tag in tags:
        out.append(text[last:start])
        last = end
        if tag.startswith("="):
            if env is None:
                env = build_env(scope)
            piece = _expression_tag(text, start, tag[1:], env, strict)
        else:
            piece = _simple_tag(text, start, tag, scope, strict)
        out.append(piece)
        size += len(piece)
        if size > MAX_STRING_LENGTH:
            raise ExpressionError(f"substituted text exceeds the limit of {MAX_STRING_LENGTH} characters", text[:200])
    out.append(text[last:])
    result = "".join(out)
    if len(result) > MAX_STRING_LENGTH:
        raise ExpressionError(f"substituted text exceeds the limit of {MAX_STRING_LENGTH} characters", text[:200])
    return result


def templated_strings(value: Any, sub: Callable[[str], str]) -> Any:
    """``value`` (JSON-like: dicts, lists, scalars) with every string that holds a ``{{`` replaced by
    ``sub(string)``; other strings and scalars are kept as they are."""
    if isinstance(value, str):
        return sub(value) if "{{" in value else value
    if isinstance(value, dict):
        return {k: templated_strings(v, sub) for k, v in value.items()}
    if isinstance(value, list):
        return [templated_strings(v, sub) for v in value]
    return value


def substitute_tree(value: Any, scope: Mapping[str, Any]) -> Any:
    """:func:`substitute` (strict) applied to every string of ``value``, a JSON-like tree."""
    return templated_strings(value, lambda text: substitute(text, scope))


def _simple_tag(text: str, start: int, tag: str, scope: Mapping[str, Any], strict: bool) -> str:
    name = tag.strip()
    value, nested = _lookup(scope, name)
    if value is _MISSING:
        index = tag.rfind("{{")
        if index > 0:
            inner, inner_nested = _lookup(scope, tag[index + 2 :])
            if isinstance(inner, str):
                return "{{" + tag[:index] + inner
        if strict:
            raise ExpressionError(f"failed to resolve {{{{{tag}}}}}: unknown variable '{name}'", text, start)
        return "{{" + tag + "}}"
    if value is None and not nested:
        if strict:
            raise ExpressionError(f"failed to resolve {{{{{tag}}}}}: '{name}' has no value", text, start)
        return "{{" + tag + "}}"
    try:
        return render_value(value)
    except ExpressionError as exc:
        raise ExpressionError(f"failed to render {{{{{tag}}}}}: {exc.message}", text, start) from None


def _expression_tag(text: str, start: int, expression: str, env: Mapping[str, Any], strict: bool) -> str:
    try:
        result = run(compile_expression(expression), expression, env)
        if result is None:
            raise ExpressionError(f"failed to evaluate expression {expression!r}: the result is nil")
        return render_value(result)
    except ExpressionError as exc:
        if not strict:
            return "{{=" + expression + "}}"
        position = start + 3 + exc.position if exc.position is not None else start
        raise ExpressionError(f"failed to evaluate expression: {exc.message}", text, position) from None


def template_variables(text: str) -> list[str]:
    """The variables a text refers to, in order of first appearance.

    >>> template_variables("{{inputs.parameters.x}} {{=tasks['fetch-all'].outputs.result + item}}")
    ['inputs.parameters.x', 'tasks.fetch-all.outputs.result', 'item']

    Simple tags are returned verbatim (whitespace stripped); for expression tags the dotted paths are a
    best effort (``a['b-c'].d`` gives ``a.b-c.d``). Malformed tags are skipped (see :func:`check_template`).
    """
    names: list[str] = []
    try:
        tags = _tags(text)
    except ExpressionError:
        tags = _tags(text[: text.rfind("{{")])
    for _start, _end, tag in tags:
        if tag.startswith("="):
            try:
                found = parse_names(tag[1:])
            except ExpressionError:
                continue
        else:
            found = [tag.strip()]
        for name in found:
            if name and name not in names:
                names.append(name)
    return names


def check_template(text: str) -> None:
    """Raise :class:`ExpressionError` (with its position) for a malformed tag or an unparsable expression.

    >>> check_template("{{inputs.parameters.x}} and {{= 1 + }}")
    Traceback (most recent call last):
    ...
    airflow_argo_provider.expressions.errors.ExpressionError: ...
    """
    if not isinstance(text, str):
        raise ExpressionError(f"template must be a string, not {type(text).__name__}")
    for start, _end, tag in _tags(text):
        if tag.startswith("="):
            try:
                compile_expression(tag[1:])
            except ExpressionError as exc:
                position = start + 3 + exc.position if exc.position is not None else start
                raise ExpressionError(f"invalid expression tag: {exc.message}", text, position) from None
        elif not tag.strip():
            raise ExpressionError("empty tag {{}}", text, start)


# ------------------------------------------------------------------------------------------- fan-in


def _compact_json(text: str) -> str:
    """Go's ``json.Marshal`` of a ``json.RawMessage``: whitespace removed, ``<>&`` escaped, numbers kept."""
    out: list[str] = []
    in_string = False
    escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
            out.append(
                {
                    "<": "\\u003c",
                    ">": "\\u003e",
                    "&": "\\u0026",
                    "\u2028": "\\u2028",
                    "\u2029": "\\u2029",
                }.get(ch, ch)
            )
        elif ch in " \t\r\n":
            continue
        else:
            if ch == '"':
                in_string = True
            out.append(ch)
    return "".join(out)


def aggregate_results(results: Sequence[str]) -> str:
    """``tasks.X.outputs.result`` of a fanned-out task X (Argo's ``processAggregateNodeOutputs``).

    ``results`` are the succeeded children's results in loop-index order. Each must be JSON (Argo
    unmarshals it into a ``wfv1.Item``, a raw JSON message, and fails the node otherwise); the values are
    kept as they are, compacted, in a JSON list.

    >>> aggregate_results(['{"id":1}', '{"id": 2}', '{"id":3}'])
    '[{"id":1},{"id":2},{"id":3}]'
    >>> aggregate_results(["1", '"a"', "[true]"])
    '[1,"a",[true]]'
    """
    parts: list[str] = []
    for index, result in enumerate(results):
        if not isinstance(result, str):
            raise ExpressionError(f"result {index} of the fan-in is not a string")
        try:
            load_json(result, float_numbers=True)
        except ExpressionError as exc:
            raise ExpressionError(
                f"cannot aggregate outputs.result: the result of child {index} is not JSON ({exc.message})",
                result[:200],
            ) from None
        parts.append(_compact_json(result))
    text = "[" + ",".join(parts) + "]"
    if len(text) > MAX_STRING_LENGTH:
        raise ExpressionError(f"aggregated results exceed the limit of {MAX_STRING_LENGTH} characters")
    return text


def aggregate_parameters(values: Sequence[str]) -> str:
    """``tasks.X.outputs.parameters.Y`` of a fanned-out task X (Argo's ``aggregatedJSONValueList``).

    When every value is a JSON object or array the list holds the decoded values (re-encoded as Go
    does: keys sorted, numbers as float64); otherwise it is the list of the strings.

    >>> aggregate_parameters(["1", "2"])
    '["1","2"]'
    >>> aggregate_parameters(['{"b": 1, "a": 2}', "[3]"])
    '[{"a":2,"b":1},[3]]'
    """
    decoded: list[Any] = []
    all_json = True
    for value in values:
        if not isinstance(value, str):
            raise ExpressionError("parameter values of a fan-in must be strings")
        try:
            item = load_json(value)
        except ExpressionError:
            all_json = False
            break
        if not isinstance(item, (list, dict)):
            all_json = False
            break
        decoded.append(item)
    if all_json:
        return go_json(decoded)
    return go_json(list(values))
