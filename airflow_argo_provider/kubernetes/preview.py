"""Invocations and pods as they would be created, before a run exists (``airflow-argo render``).

What is known before the run is filled in: the workflow's parameters (defaults, or the values
given), the inputs the manifest passes literally, ``pod.name`` and ``node.name``. What only the
run knows stays a ``{{...}}`` placeholder: outputs of other steps, ``{{item}}`` of a fan-out,
``workflow.uid``, the creation time. A workflow named by ``generateName`` is shown as
``NAME-xxxxx``: a run's five-character suffix comes from its Airflow run id (pods and claims of
a workflow with a fixed name carry that suffix too, so two runs never share a pod name).

Nothing here needs Airflow's database or a cluster.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from airflow_argo_provider.artifacts.resolve import preview_artifacts
from airflow_argo_provider.expressions import ExpressionError, substitute
from airflow_argo_provider.kubernetes.pod import PodBuildError, PodSettings, PodTarget, build_pod
from airflow_argo_provider.kubernetes.resources import claim_templates
from airflow_argo_provider.plan.model import Node, Plan
from airflow_argo_provider.runtime.scope import input_vars, workflow_scope
from airflow_argo_provider.runtime.step import _LATE_FIELDS, Invocation, attempt_pod_name

RUN_SUFFIX = "xxxxx"
# Values only a run has: left as placeholders.
_RUN_TIME = ("workflow.uid", "workflow.creationTimestamp", "workflow.scheduledTime")


def preview_workflow_name(plan: Plan) -> str:
    return f"{plan.workflow_name}-{RUN_SUFFIX}" if plan.generate_name else plan.workflow_name


def preview_run_name(plan: Plan) -> str:
    """The base of pod and claim names: the workflow's name with the run's suffix."""
    return f"{plan.workflow_name}-{RUN_SUFFIX}"


def preview_scope(plan: Plan, parameters: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The ``workflow.*`` variables known before a run (run-time ones are left out)."""
    values: dict[str, str] = {}
    for spec in plan.parameters:
        if parameters and spec.name in parameters:
            values[spec.name] = parameters[spec.name]
        elif spec.value is not None:
            values[spec.name] = spec.value
    scope = workflow_scope(
        name=preview_workflow_name(plan),
        namespace=plan.namespace or "",
        uid="",
        parameters=values,
        created=datetime(1970, 1, 1, tzinfo=timezone.utc),
        labels=plan.labels,
        annotations=plan.annotations,
        service_account=plan.pod_spec.get("serviceAccountName"),
        entrypoint=plan.entrypoint,
    )
    for key in list(scope):
        if key.startswith(_RUN_TIME) or (key == "workflow.namespace" and not plan.namespace):
            del scope[key]
    return scope


def _lenient(value: Any, scope: Mapping[str, Any]) -> Any:
    if isinstance(value, str):
        if "{{" not in value:
            return value
        try:
            return substitute(value, scope, strict=False)
        except ExpressionError:
            return value
    if isinstance(value, dict):
        return {k: _lenient(v, scope) for k, v in value.items()}
    if isinstance(value, list):
        return [_lenient(v, scope) for v in value]
    return value


@dataclass
class Preview:
    """One leaf: its invocation with placeholders, and its pod (or why it has none)."""

    node: Node
    invocation: Invocation
    pod: dict[str, Any] | None = None
    # A resource template: the action, and the object it acts on (its manifest text when the
    # placeholders of run-time values keep it from reading as YAML).
    resource: dict[str, Any] | None = None
    problem: str | None = None
    notes: list[str] = field(default_factory=list)


class Previewer:
    def __init__(
        self, plan: Plan, parameters: Mapping[str, str] | None = None, settings: PodSettings | None = None
    ) -> None:
        self.plan = plan
        self.workflow = preview_scope(plan, parameters)
        self.settings = settings or PodSettings()
        self._inputs: dict[str, dict[str, str]] = {}

    def inputs(self, node: Node) -> dict[str, str]:
        """The inputs a node's template gets, with placeholders for what only the run knows."""
        cached = self._inputs.get(node.id)
        if cached is not None:
            return cached
        scope = dict(self.workflow)
        parent = self.plan.parent_of(node.id)
        if parent is not None and (parent.id or parent is self.plan.root):
            scope.update(input_vars(self.inputs(parent)))
        supplied = {
            p["name"]: str(_lenient(str(p["value"]), scope))
            for p in node.arguments.get("parameters") or []
            if p.get("value") is not None
        }
        values: dict[str, str] = {}
        template = self.plan.template(node.template)
        for param in (template.get("inputs") or {}).get("parameters") or []:
            name = param["name"]
            if name in supplied:
                values[name] = supplied[name]
            elif param.get("value") is not None:
                values[name] = str(_lenient(str(param["value"]), self.workflow))
            elif param.get("default") is not None:
                values[name] = str(_lenient(str(param["default"]), self.workflow))
            else:
                ref = (param.get("valueFrom") or {}).get("configMapKeyRef") or {}
                data = self.plan.config_maps.get(ref.get("name", ""), {})
                values[name] = str(data.get(ref.get("key", ""), f"{{{{inputs.parameters.{name}}}}}"))
        self._inputs[node.id] = values
        return values

    def invocation(self, node: Node) -> Invocation:
        template = self.plan.template(node.template)
        inputs = self.inputs(node)
        workflow_name = str(self.workflow["workflow.name"])
        node_name = f"{workflow_name}.{node.id or node.name}"
        if node.loop is not None:
            node_name += "(0:{{item}})"
        pod = attempt_pod_name(preview_run_name(self.plan), template, node_name, 0)
        scope = dict(self.workflow)
        scope.update(input_vars(inputs))
        scope.update({"pod.name": pod, "node.name": node_name, "retries": "0"})
        for out in (template.get("outputs") or {}).get("parameters") or []:
            if (out.get("valueFrom") or {}).get("path"):
                scope[f"outputs.parameters.{out['name']}.path"] = out["valueFrom"]["path"]
        body = {k: v for k, v in template.items() if k not in _LATE_FIELDS}
        rendered = _lenient(body, scope)
        for key in _LATE_FIELDS:
            if key in template:
                rendered[key] = copy.deepcopy(template[key])
        for art in (template.get("inputs") or {}).get("artifacts") or []:
            if art.get("path"):
                scope[f"inputs.artifacts.{art['name']}.path"] = art["path"]
        artifacts = preview_artifacts(self.plan, node, template, scope, lambda value: _lenient(value, scope))
        return Invocation(
            node=node,
            template=rendered,
            inputs=inputs,
            display_name=node.name,
            node_name=node_name,
            pod_name=pod,
            retries=0,
            workflow=self.workflow,
            scope=scope,
            artifacts=artifacts,
        )

    def preview(self, node: Node) -> Preview:
        invocation = self.invocation(node)
        result = Preview(node, invocation)
        if node.body == "resource":
            result.resource = _resource_preview(invocation.template.get("resource") or {})
            return result
        if node.body not in ("container", "script", "containerSet"):
            result.problem = f"{node.body} template: runs without a pod"
            return result
        workflow = _lenient(self.plan.pod_spec, invocation.scope)
        template = dict(invocation.template)
        for where, holder in (("spec.podSpecPatch", workflow), ("podSpecPatch", template)):
            patch = holder.get("podSpecPatch")
            if isinstance(patch, str) and "{{" in patch:
                holder.pop("podSpecPatch")
                result.notes.append(f"{where} depends on run-time values; the pod is shown without it: {patch}")
        base = preview_run_name(self.plan)
        target = PodTarget(
            name=invocation.pod_name,
            workflow_name=str(self.workflow["workflow.name"]),
            node_name=invocation.node_name,
            namespace=self.plan.namespace,
            claims={c["metadata"]["name"]: f"{base}-{c['metadata']['name']}" for c in claim_templates(self.plan)},
        )
        try:
            result.pod = build_pod(template, workflow, target, self.settings, invocation.artifacts)
        except PodBuildError as exc:
            result.problem = str(exc)
        return result

    def leaves(self) -> Iterator[Preview]:
        for node in self.plan.nodes():
            if not node.is_group:
                yield self.preview(node)


def _resource_preview(body: Mapping[str, Any]) -> dict[str, Any]:
    """What a resource template would do: its settings, and its object as YAML allows."""
    import yaml

    shown: dict[str, Any] = {"action": body.get("action")}
    for key in ("mergeStrategy", "flags", "successCondition", "failureCondition", "setOwnerReference"):
        if body.get(key) not in (None, "", []):
            shown[key] = body[key]
    manifest = body.get("manifest")
    if body.get("manifestFrom"):
        shown["manifestFrom"] = body["manifestFrom"]
    elif isinstance(manifest, str):
        try:
            shown["object"] = yaml.safe_load(manifest)
        except yaml.YAMLError:
            shown["manifest"] = manifest
    return shown
