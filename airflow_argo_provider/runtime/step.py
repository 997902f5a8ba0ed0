"""Prepare one leaf invocation and turn what it produced into an Argo node record.

Shared by every backend: evaluate ``when``, resolve the inputs, substitute ``{{...}}`` in
the template, and afterwards compute ``outputs.result``, the exit code and the output
parameters (``valueFrom.path``/``default``/``expression``/``supplied``) the way Argo does.
The backend only runs the prepared template and reports stdout, the exit code and the
content of the files the outputs name.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from airflow_argo_provider.artifacts.model import ArtifactError, StepArtifacts
from airflow_argo_provider.artifacts.resolve import step_artifacts
from airflow_argo_provider.expressions import (
    ExpressionError,
    evaluate,
    evaluate_when,
    render_value,
    substitute,
    template_variables,
)
from airflow_argo_provider.expressions.template import substitute_tree
from airflow_argo_provider.plan.model import Node
from airflow_argo_provider.runtime.loops import child_name
from airflow_argo_provider.runtime.records import (
    ERROR,
    FAILED,
    SKIPPED,
    SUCCEEDED,
    NodeRecord,
)
from airflow_argo_provider.runtime.scope import InputError, input_vars
from airflow_argo_provider.runtime.view import NOT_LOADED, RunView

MAX_RESULT_BYTES = 256 * 1024
# Fields of a leaf template that are not substituted before it runs: they are evaluated
# later (outputs, retry expression) or belong to other nodes.
_LATE_FIELDS = ("outputs", "retryStrategy", "inputs", "steps", "dag", "metrics", "name")


def now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Invocation:
    """A leaf template, ready to run: every ``{{...}}`` of its body resolved."""

    node: Node
    template: dict[str, Any]
    inputs: dict[str, str]
    display_name: str
    node_name: str
    pod_name: str
    retries: int
    workflow: dict[str, Any]
    index: int | None = None
    item: Any = None
    scope: dict[str, Any] = field(default_factory=dict)
    # Input and output artifacts, resolved (see airflow_argo_provider.artifacts.resolve).
    artifacts: StepArtifacts | None = None

    @property
    def body(self) -> str:
        return self.node.body


@dataclass
class RawOutcome:
    """What a backend reports after running an invocation."""

    exit_code: int | None
    stdout: str = ""
    message: str = ""
    error: bool = False  # an infrastructure problem (Argo's Error), not the step's own failure
    files: dict[str, str | None] = field(default_factory=dict)
    artifacts: dict[str, dict[str, Any]] = field(default_factory=dict)
    started_at: str | None = None
    finished_at: str | None = None
    result: str | None = None  # set by backends whose result is not stdout (HTTP: the body)
    timed_out: bool = False  # stopped at its deadline: the node fails with the deadline's message
    # The step's own failure without an exit code (HTTP: a non-2xx status, a false successCondition).
    failed: bool = False
    # For ``retryPolicy: OnTransientError``: whether the failure is transient; None: judge the message.
    transient: bool | None = None
    # Output parameters the backend read itself (resource templates: ``jsonPath``, ``jqFilter``).
    parameters: dict[str, str] = field(default_factory=dict)


def trim_result(stdout: str) -> str:
    """Argo's ``outputs.result``: the last 256 KiB of stdout, one trailing newline removed."""
    data = stdout.encode("utf-8", "replace")
    if len(data) > MAX_RESULT_BYTES:
        data = data[-MAX_RESULT_BYTES:]
        stdout = data.decode("utf-8", "ignore")
    if stdout.endswith("\n"):
        stdout = stdout[:-1]
    return stdout


def pod_name(workflow_name: str, template_name: str, node_name: str) -> str:
    """A stable pod name in Argo's v2 style: ``WORKFLOW-TEMPLATE-HASH`` (at most 63 characters)."""
    digest = int(hashlib.sha256(node_name.encode()).hexdigest()[:8], 16) % 10_000_000_000
    prefix = f"{workflow_name}-{template_name}" if template_name else workflow_name
    prefix = prefix[: 63 - len(str(digest)) - 1].rstrip("-")
    return f"{prefix}-{digest}"


def attempt_pod_name(workflow_name: str, template: Mapping[str, Any], node_name: str, retries: int) -> str:
    """The pod name of one attempt: a template with a ``retryStrategy`` runs each attempt as the
    child node ``NAME(N)``, so every retry gets a pod of its own (as in Argo)."""
    if template.get("retryStrategy"):
        node_name = f"{node_name}({retries})"
    return pod_name(workflow_name, str(template.get("name", "")), node_name)


class Skip(Exception):
    """The invocation does not run: ``when`` is false (the node is Skipped)."""

    def __init__(self, record: NodeRecord) -> None:
        super().__init__(record.message)
        self.record = record


class Unresolvable(Exception):
    """The invocation cannot be prepared (bad input, unknown variable): the node is an Error."""

    def __init__(self, record: NodeRecord) -> None:
        super().__init__(record.message)
        self.record = record


def _names_in(value: Any) -> list[str]:
    names: list[str] = []
    if isinstance(value, str):
        if "{{" in value:
            names.extend(template_variables(value))
    elif isinstance(value, dict):
        for v in value.values():
            names.extend(_names_in(v))
    elif isinstance(value, list):
        for v in value:
            names.extend(_names_in(v))
    return names


def prepare(
    view: RunView, node: Node, *, index: int | None = None, item: Any = NOT_LOADED, retries: int = 0
) -> Invocation:
    """Evaluate ``when``, resolve inputs and substitute the template of one leaf invocation.

    Raises :class:`Skip` when ``when`` is false and :class:`Unresolvable` when the
    invocation cannot be built (the node is then an Error, as in Argo).
    """
    display = child_name(node.name, index, item) if index is not None else node.name
    base = NodeRecord(ERROR, index=index, item=None if item is NOT_LOADED else item, display_name=display)
    try:
        if node.when:
            text = view.substitute(node.when, node, item=item)
            if not evaluate_when(text):
                base.phase = SKIPPED
                base.message = f"when '{text}' evaluated false"
                raise Skip(base)
        inputs = view.invocation_inputs(node, item)
    except (ExpressionError, InputError) as exc:
        base.message = str(exc)
        raise Unresolvable(base) from None
    template = view.plan.template(node.template)
    workflow_name = str(view.workflow.get("workflow.name", view.plan.workflow_name))
    node_name = f"{workflow_name}.{node.id or node.name}" + display[len(node.name) :]
    pod = attempt_pod_name(workflow_name, template, node_name, retries)
    scope = view.template_scope(node, _names_in(template))
    scope.update(input_vars(inputs))
    scope.update({"pod.name": pod, "node.name": node_name, "retries": str(retries)})
    for kind in ("parameters", "artifacts"):
        for out in (template.get("outputs") or {}).get(kind) or []:
            if out.get("path"):
                scope[f"outputs.{kind}.{out['name']}.path"] = out["path"]
            if kind == "parameters" and (out.get("valueFrom") or {}).get("path"):
                scope[f"outputs.parameters.{out['name']}.path"] = out["valueFrom"]["path"]
    for art in (template.get("inputs") or {}).get("artifacts") or []:
        if art.get("path"):
            scope[f"inputs.artifacts.{art['name']}.path"] = art["path"]
    try:
        artifacts = step_artifacts(view, node, template, scope, item)
    except ArtifactError as exc:
        base.message = str(exc)
        raise Unresolvable(base) from None
    body = {k: v for k, v in template.items() if k not in _LATE_FIELDS}
    try:
        rendered = substitute_tree(body, scope)
    except ExpressionError as exc:
        base.message = f"failed to resolve {exc}"
        raise Unresolvable(base) from None
    for key in _LATE_FIELDS:
        if key in template:
            rendered[key] = copy.deepcopy(template[key])
    expression = (rendered.get("retryStrategy") or {}).get("expression")
    if expression and "{{" in expression:
        # Argo substitutes the template's variables (its inputs) into the retry expression too.
        rendered["retryStrategy"]["expression"] = substitute(expression, scope, strict=False)
    return Invocation(
        node=node,
        template=rendered,
        inputs=inputs,
        display_name=display,
        node_name=node_name,
        pod_name=pod,
        retries=retries,
        workflow=view.workflow,
        index=index,
        item=None if item is NOT_LOADED else item,
        scope=scope,
        artifacts=artifacts,
    )


def output_paths(template: Mapping[str, Any]) -> list[str]:
    """The files the backend must read back after the step ran."""
    paths = []
    for param in (template.get("outputs") or {}).get("parameters") or []:
        path = (param.get("valueFrom") or {}).get("path")
        if path:
            paths.append(path)
    return paths


def finish(invocation: Invocation, raw: RawOutcome) -> NodeRecord:
    """The node record of a finished invocation (phase, message, outputs)."""
    record = NodeRecord(
        SUCCEEDED,
        index=invocation.index,
        item=invocation.item,
        display_name=invocation.display_name,
        started_at=raw.started_at,
        finished_at=raw.finished_at or now_iso(),
        retries=invocation.retries,
    )
    record.result = raw.result if raw.result is not None else trim_result(raw.stdout)
    record.exit_code = str(raw.exit_code) if raw.exit_code is not None else None
    record.artifacts = dict(raw.artifacts)
    record.transient = raw.transient
    if raw.error:
        record.phase, record.message = ERROR, raw.message or "Error"
    elif raw.exit_code not in (0, None):
        record.phase, record.message = FAILED, raw.message or f"Error (exit code {raw.exit_code})"
    elif raw.failed:
        record.phase, record.message = FAILED, raw.message or "Failed"
    elif raw.message:
        record.message = raw.message
    try:
        record.parameters = output_parameters(invocation, raw, record)
    except OutputError as exc:
        if record.phase == SUCCEEDED:
            record.phase, record.message = ERROR, str(exc)
    return record


class OutputError(Exception):
    pass


def output_parameters(invocation: Invocation, raw: RawOutcome, record: NodeRecord) -> dict[str, str]:
    """``outputs.parameters`` of a leaf: from a file, a default, an expression or a supplied value."""
    out: dict[str, str] = {}
    template = invocation.template
    for param in (template.get("outputs") or {}).get("parameters") or []:
        name = param["name"]
        value_from = param.get("valueFrom") or {}
        value: str | None = None
        if value_from.get("path"):
            value = raw.files.get(value_from["path"])
            if value is None:
                if value_from.get("default") is not None:
                    value = str(value_from["default"])
                elif record.phase == SUCCEEDED:
                    raise OutputError(f"failed to read output parameter {name!r}: no file {value_from['path']}")
                else:
                    continue
        elif value_from.get("jsonPath") or value_from.get("jqFilter"):
            value = raw.parameters.get(name)
            if value is None:
                if value_from.get("default") is not None:
                    value = str(value_from["default"])
                elif record.phase == SUCCEEDED:
                    raise OutputError(f"output parameter {name!r}: the object was not read")
                else:
                    continue
        elif value_from.get("expression"):
            env = _expression_env(invocation, record)
            try:
                result = evaluate(value_from["expression"], env)
            except ExpressionError as exc:
                if value_from.get("default") is not None:
                    value = str(value_from["default"])
                else:
                    raise OutputError(f"output parameter {name!r}: {exc}") from None
            else:
                value = result if isinstance(result, str) else render_value(result)
        elif value_from.get("supplied") is not None:
            value = str(param.get("value") if param.get("value") is not None else value_from.get("default", ""))
        elif value_from.get("default") is not None:
            value = str(value_from["default"])
        elif param.get("value") is not None:
            value = substitute(str(param["value"]), invocation.scope)
        if value is not None:
            out[name] = value
    return out


def _expression_env(invocation: Invocation, record: NodeRecord) -> dict[str, Any]:
    """The expr-lang environment of ``valueFrom.expression``: inputs, outputs.result, exitCode."""
    env: dict[str, Any] = {
        "inputs": {"parameters": dict(invocation.inputs)},
        "outputs": {"result": record.result},
        "exitCode": record.exit_code,
        "workflow": {"name": invocation.workflow.get("workflow.name")},
    }
    return env
