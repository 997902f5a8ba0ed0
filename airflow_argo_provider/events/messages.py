"""From one SQS message to the workflow runs it starts, the way an Argo Sensor decides (no Airflow).

For each message the dispatcher builds the event data an Argo Events SQS event source would
publish (``messageId``, ``messageAttributes``, ``body`` (decoded JSON with ``jsonBody``),
``metadata``), applies the dependency's ``filters.data``, and resolves every trigger's parameters
(``dataTemplate``, then ``dataKey``, then ``value``, as Argo Events falls back). The result is a
:class:`Decision`: runs to create (each with a deterministic run id derived from the message id,
so creating it twice is a no-op), a message deliberately filtered out (logged with the reason), or a
message that cannot be dispatched (with the reason; it stays in the queue for the dead-letter policy):
a body that is not JSON, too large (MAX_BODY_LENGTH) or too deep (MAX_BODY_DEPTH), a filter that
cannot be evaluated on it, a parameter it lacks. Each message is decided on its own: whatever one
message holds, the others of the batch are dispatched.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from airflow_argo_provider.events.model import DataFilter, Dispatch, Parameter, SqsSource, Target
from airflow_argo_provider.expressions import ExpressionError, gjson
from airflow_argo_provider.expressions.gotemplate import NO_VALUE, GoTemplate, TemplateError, as_go_data
from airflow_argo_provider.expressions.regex import compile_regex

MAX_RUN_ID_LENGTH = 250
EXCERPT_CHARS = 120
#: Largest message body read (characters): SQS's own limit is 256 KiB.
MAX_BODY_LENGTH = 1024 * 1024
#: Deepest nesting of a JSON body (Argo Events' Sensors read it with gjson; nothing real nests this deep).
MAX_BODY_DEPTH = 100
_RUN_ID_UNSAFE = re.compile(r"[^A-Za-z0-9_.~:+-]+")


class MessageError(Exception):
    """The message cannot be turned into workflow runs (the reason says why)."""


@dataclass
class PlannedRun:
    dag_id: str
    run_id: str
    conf: dict[str, str]
    trigger: str


@dataclass
class Decision:
    """What the dispatcher does with one message."""

    message_id: str
    action: str  # "trigger", "filtered" or "error"
    reason: str = ""
    runs: list[PlannedRun] = field(default_factory=list)
    receipt_handles: list[str] = field(default_factory=list)


def excerpt(text: str) -> str:
    shown = text if len(text) <= EXCERPT_CHARS else text[:EXCERPT_CHARS] + "..."
    return json.dumps(shown, ensure_ascii=False)


def messages_from_event(extra: Any) -> list[dict[str, Any]]:
    """The SQS messages an asset event carries (``extra.payload.message_batch`` of the SQS trigger)."""
    payload = extra.get("payload") if isinstance(extra, dict) else None
    batch = payload.get("message_batch") if isinstance(payload, dict) else None
    if not isinstance(batch, list):
        raise MessageError("the asset event carries no SQS messages (no payload.message_batch in its extra)")
    return [m for m in batch if isinstance(m, dict)]


def event_data(message: dict[str, Any], source: SqsSource) -> dict[str, Any]:
    """The data of the Argo event for ``message`` (raises :class:`MessageError` for a bad body)."""
    message_id = message.get("MessageId")
    if not isinstance(message_id, str) or not message_id:
        raise MessageError("the message has no MessageId")
    body: Any = message.get("Body")
    if not isinstance(body, str):
        raise MessageError("the message has no Body")
    if len(body) > MAX_BODY_LENGTH:
        raise MessageError(f"the body has {len(body):,} characters, more than the limit of {MAX_BODY_LENGTH:,}")
    if source.json_body:
        depth = _json_depth(body)
        if depth > MAX_BODY_DEPTH:
            raise MessageError(
                f"the body nests more than {MAX_BODY_DEPTH} levels deep (jsonBody is set); body: {excerpt(body)}"
            )
        try:
            body = json.loads(body)
        except (ValueError, RecursionError) as exc:
            raise MessageError(f"the body is not valid JSON (jsonBody is set): {exc}; body: {excerpt(body)}") from None
    data: dict[str, Any] = {
        "messageId": message_id,
        "messageAttributes": message.get("MessageAttributes"),
        "body": body,
    }
    if source.metadata:
        data["metadata"] = dict(source.metadata)
    return data


def _json_depth(text: str) -> int:
    """The deepest bracket nesting of a JSON text (outside strings), counted without decoding it."""
    if text.count("[") + text.count("{") <= MAX_BODY_DEPTH:
        return 0  # cannot be deeper than the limit
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > MAX_BODY_DEPTH:
                    return deepest
        elif ch in "]}":
            depth -= 1
    return deepest


# -- filters.data -------------------------------------------------------------------------------------------
_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
_FALSE = {"0", "f", "F", "FALSE", "false", "False"}


def _parse_bool(text: str) -> bool:
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise MessageError(f'strconv.ParseBool: parsing "{text}": invalid syntax')


def _as_bool(value: Any) -> bool:
    """gjson's ``Result.Bool()``."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value != 0
    if isinstance(value, str):
        try:
            return _parse_bool(value)
        except MessageError:
            return False
    return False


def _as_float(value: Any) -> float:
    """gjson's ``Result.Float()``."""
    if value is True:
        return 1.0
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return 0.0
    return 0.0


def _one_filter(data: dict[str, Any], flt: DataFilter) -> tuple[bool, str]:
    """Whether ``data`` passes one data filter, and why not.

    Raises :class:`MessageError` when the filter cannot be evaluated on this message (a template that
    fails, a value too long for a regular expression): such a message is not filtered out but left
    for the queue's dead-letter policy, with the reason."""
    found = gjson.get(data, flt.path)
    if found is gjson.MISSING:
        return False, f"path '{flt.path}' does not exist"
    if not flt.values:
        return False, "no values specified"
    if flt.template:
        try:
            out = GoTemplate.parse(flt.template).render({"Input": gjson.as_string(found)})
        except TemplateError as exc:
            raise MessageError(f"filter on {flt.path}: the template failed: {exc}") from None
        if out in ("", "<no value>"):
            return False, f"template '{flt.template}' evaluated to empty string or no value"
        found = out
    kind = (flt.type or "string").lower()
    comparator = flt.comparator or "="
    if kind == "bool":
        for value in flt.values:
            if _parse_bool(value) == _as_bool(found):
                return True, ""
        return False, f"{flt.path} is {gjson.as_string(found)}, not one of {flt.values}"
    if kind == "number":
        event_value = _as_float(found)
        for value in flt.values:
            try:
                wanted = float(value)
            except ValueError:
                raise MessageError(
                    f'filter on {flt.path}: strconv.ParseFloat: parsing "{value}": invalid syntax'
                ) from None
            if _compare(event_value, comparator, wanted):
                return True, ""
        return False, f"{flt.path} is {gjson.as_string(found)}: not {comparator} any of {flt.values}"
    if kind == "string":
        text = gjson.as_string(found)
        for value in flt.values:
            try:
                pattern = compile_regex(value)
            except ExpressionError as exc:
                raise MessageError(f"filter on {flt.path}: invalid pattern {value!r}: {exc.message}") from None
            try:
                match = pattern.search(text)
            except ExpressionError as exc:
                raise MessageError(f"filter on {flt.path}: {exc.message}") from None
            if (comparator == "=" and match) or (comparator == "!=" and not match):
                return True, ""
        return False, f"{flt.path} is {excerpt(text)}: no value of {flt.values} matches ({comparator})"
    raise MessageError(f"filter on {flt.path}: unsupported JSON type '{flt.type}'")


def _compare(a: float, comparator: str, b: float) -> bool:
    if comparator == ">=":
        return a >= b
    if comparator == ">":
        return a > b
    if comparator == "<":
        return a < b
    if comparator == "<=":
        return a <= b
    if comparator == "!=":
        return a != b
    return a == b


def passes_filters(data: dict[str, Any], filters: list[DataFilter], operator: str = "and") -> tuple[bool, str]:
    """Argo Events' ``filters.data`` with ``dataLogicalOperator`` (``and``, the default, or ``or``)."""
    if not filters:
        return True, ""
    reasons: list[str] = []
    for flt in filters:
        ok, reason = _one_filter(data, flt)
        if operator == "or" and ok:
            return True, ""
        if operator != "or" and not ok:
            return False, reason
        if not ok:
            reasons.append(reason)
    if operator == "or":
        return False, " / ".join(reasons)
    return True, ""


# -- trigger parameters -------------------------------------------------------------------------------------
def resolve_parameter(data: dict[str, Any], parameter: Parameter) -> str:
    """The value of one trigger parameter for this event (Argo Events' ``ResolveParamValue``)."""
    problems: list[str] = []
    if not parameter.data_key and not parameter.data_template:
        if parameter.default is not None:
            return parameter.default
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    if parameter.data_template:
        try:
            out = GoTemplate.parse(parameter.data_template).render({"Input": as_go_data(data)})
        except TemplateError as exc:
            problems.append(f"dataTemplate failed: {exc}")
        else:
            if out not in ("", "<no value>"):
                return out
            problems.append(f"dataTemplate {parameter.data_template!r} evaluated to empty string or no value")
    if parameter.data_key:
        found = gjson.get(data, parameter.data_key)
        if found is not gjson.MISSING and found is not NO_VALUE:
            return gjson.as_string(found)
        problems.append(f"key {parameter.data_key!r} does not exist in the event payload")
    if parameter.default is not None:
        return parameter.default
    raise MessageError(f"parameter {parameter.dest_name!r}: " + "; ".join(problems))


def parameters_for(data: dict[str, Any], target: Target) -> dict[str, str]:
    """The workflow parameters (``conf``) of the run ``target`` starts for this event."""
    conf: dict[str, str] = {}
    for parameter in target.parameters:
        value = resolve_parameter(data, parameter)
        current = conf.get(parameter.dest_name, parameter.current)
        if parameter.operation == "append":
            value = current + value
        elif parameter.operation == "prepend":
            value = value + current
        conf[parameter.dest_name] = value
    return conf


def run_id_for(dispatch: Dispatch, target: Target, message_id: str) -> str:
    """The run id of the workflow run a message starts: the same message always gives the same id."""
    raw = f"event__{dispatch.dag_id}__{target.name}__{message_id}"
    safe = _RUN_ID_UNSAFE.sub("-", raw)
    if len(safe) > MAX_RUN_ID_LENGTH or safe != raw:
        digest = hashlib.sha256(raw.encode()).hexdigest()[:16]
        safe = safe[: MAX_RUN_ID_LENGTH - len(digest) - 2] + "__" + digest
    return safe


def decide(message: dict[str, Any], dispatch: Dispatch) -> Decision:
    """What to do with one message: the runs to create, or why none."""
    message_id = str(message.get("MessageId") or "")
    handle = message.get("ReceiptHandle")
    handles = [handle] if isinstance(handle, str) and handle else []
    try:
        data = event_data(message, dispatch.source)
    except MessageError as exc:
        return Decision(message_id or "<no id>", "error", str(exc), receipt_handles=handles)
    try:
        ok, reason = passes_filters(data, dispatch.filters, dispatch.filter_operator)
    except MessageError as exc:
        return Decision(message_id, "error", f"dependency {dispatch.dependency!r}: {exc}", receipt_handles=handles)
    if not ok:
        return Decision(
            message_id, "filtered", f"dependency {dispatch.dependency!r}: {reason}", receipt_handles=handles
        )
    runs: list[PlannedRun] = []
    try:
        for target in dispatch.targets:
            conf = parameters_for(data, target)
            runs.append(PlannedRun(target.dag_id, run_id_for(dispatch, target, message_id), conf, target.name))
    except MessageError as exc:
        return Decision(message_id, "error", f"trigger {target.name!r}: {exc}", receipt_handles=handles)
    return Decision(message_id, "trigger", runs=runs, receipt_handles=handles)


def decide_all(messages: list[dict[str, Any]], dispatch: Dispatch) -> list[Decision]:
    """One decision per distinct message id (a message received twice is decided once; every
    receipt handle is kept so that deleting it works whichever reception is the latest)."""
    decisions: dict[str, Decision] = {}
    order: list[str] = []
    for message in messages:
        message_id = str(message.get("MessageId") or "")
        if message_id and message_id in decisions:
            handle = message.get("ReceiptHandle")
            if isinstance(handle, str) and handle:
                decisions[message_id].receipt_handles.append(handle)
            continue
        try:
            decision = decide(message, dispatch)
        except Exception as exc:  # one message never takes the batch down: it is left for the dead-letter policy
            handle = message.get("ReceiptHandle")
            reason = "it nests too deeply" if isinstance(exc, RecursionError) else f"{type(exc).__name__}: {exc}"
            decision = Decision(
                message_id or "<no id>",
                "error",
                f"the message could not be processed ({reason[:300]})",
                receipt_handles=[handle] if isinstance(handle, str) and handle else [],
            )
        key = message_id or f"<no id {len(order)}>"
        decisions[key] = decision
        order.append(key)
    return [decisions[key] for key in order]
