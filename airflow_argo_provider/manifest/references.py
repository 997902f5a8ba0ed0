"""References in ``{{...}}`` tags checked against what exists in their scope, as ``argo lint`` does.

A port of the variable rules of Argo's ``workflow/validate`` (``resolveAllVariables`` and the scopes
``validateTemplate``, ``validateSteps`` and ``validateDAG`` build): a simple tag that starts with
``workflow.``, ``inputs.``, ``steps.`` or ``tasks.`` must name something that can exist where it is
written. ``{{workflow.parameters.nope}}`` in a Workflow without that argument, ``{{inputs.parameters.x}}``
in a template without that input, ``{{steps.ghost.outputs.result}}`` in a steps template without a step
``ghost``, or the output parameter of a step whose template does not declare it: each is AAP034 with a
suggestion. Like Argo, expression tags (``{{=...}}``) are not checked here, and a WorkflowTemplate may use
any ``workflow.parameters.*`` (the Workflow that runs it supplies them).

Where this port is less strict than Argo (the order of steps, ``.status`` only of ancestors, item keys,
``pod.name`` outside pods, annotation keys), it accepts: a manifest ``argo lint`` accepts is never rejected.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Mapping
from typing import Any

from airflow_argo_provider.expressions import ExpressionError, depends_task_names
from airflow_argo_provider.manifest.yaml_source import Path

Finding = tuple[Path, str, str]

_WORKFLOW_FIELDS = {
    "name",
    "namespace",
    "mainEntrypoint",
    "serviceAccountName",
    "uid",
    "status",
    "failures",
    "priority",
    "parameters",
    "annotations",
    "labels",
    "creationTimestamp",
    "scheduledTime",
    "duration",
    "outputs",
}
_NODE_FIELDS = {"id", "ip", "status", "startedAt", "finishedAt", "hostNodeName", "exitCode", "outputs"}
_LEAF_KINDS = ("container", "script", "resource", "containerSet", "data", "http", "plugin", "suspend")
_PARAMETRISED = re.compile(r"\{\{[-a-zA-Z0-9]+(\.[-a-zA-Z0-9_]+)*\}\}")


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _strings(value: Any, path: Path, skip: frozenset[str] = frozenset()) -> Iterator[tuple[Path, str]]:
    """Every string in ``value`` with its path (iteratively; keys in ``skip`` are not entered at the top)."""
    pending: list[tuple[Any, Path, bool]] = [(value, path, True)]
    while pending:
        node, at, top = pending.pop()
        if isinstance(node, str):
            if "{{" in node:
                yield at, node
        elif isinstance(node, dict):
            for key, child in node.items():
                if top and key in skip:
                    continue
                pending.append((child, (*at, key), False))
        elif isinstance(node, list):
            for index, child in enumerate(node):
                pending.append((child, (*at, index), False))


def simple_tags(text: str) -> list[str]:
    """The simple (not ``=`` expression) tags of ``text``, stripped."""
    tags: list[str] = []
    position = 0
    while True:
        start = text.find("{{", position)
        if start < 0:
            return tags
        end = text.find("}}", start + 2)
        if end < 0:
            return tags
        tag = text[start + 2 : end].strip()
        if tag and not tag.startswith("="):
            tags.append(tag)
        position = end + 2


def _names(items: Any) -> list[str]:
    return [str(i["name"]) for i in items or [] if isinstance(i, dict) and i.get("name") is not None]


def _suggest(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return f"; did you mean {close[0]}?" if close else ""


def _has_output(template: Mapping[str, Any]) -> bool:
    """Argo's ``Template.HasOutput``: the templates that produce ``outputs.result`` and ``exitCode``."""
    container_set = template.get("containerSet")
    has_main = isinstance(container_set, dict) and "main" in _names(container_set.get("containers"))
    return any(template.get(k) is not None for k in ("container", "script", "data", "http", "plugin")) or has_main


class ReferenceChecker:
    """The references of one workflow spec (``spec`` is the normalised document at ``spec_path``)."""

    def __init__(
        self,
        spec: Mapping[str, Any],
        spec_path: Path,
        *,
        workflow_parameters: list[str] | None,
        global_outputs: tuple[set[str], set[str]] | None,
        resolve: Any,
    ) -> None:
        """``workflow_parameters`` None means any ``workflow.parameters.*`` (a WorkflowTemplate);
        ``global_outputs`` None means any ``workflow.outputs.*``; ``resolve(invocation)`` gives the
        raw template a step or task runs (or None)."""
        self.spec = spec
        self.spec_path = spec_path
        self.workflow_parameters = workflow_parameters
        self.global_outputs = global_outputs
        self.resolve = resolve
        self.findings: list[Finding] = []

    # -- one tag ----------------------------------------------------------------------------------------
    def _report(self, path: Path, tag: str, why: str) -> None:
        finding = (path, "AAP034", f"failed to resolve {{{{{tag}}}}}: {why}")
        if finding not in self.findings:
            self.findings.append(finding)

    def _workflow(self, path: Path, tag: str) -> None:
        parts = tag.split(".")
        field = parts[1] if len(parts) > 1 else ""
        if field not in _WORKFLOW_FIELDS:
            self._report(path, tag, f"workflow has no variable {field!r}{_suggest(field, sorted(_WORKFLOW_FIELDS))}")
            return
        if field == "parameters" and len(parts) > 2 and parts[2] != "json" and self.workflow_parameters is not None:
            name = ".".join(parts[2:])
            if name not in self.workflow_parameters:
                known = ", ".join(self.workflow_parameters) or "none"
                self._report(
                    path,
                    tag,
                    f"the workflow has no parameter {name!r} in spec.arguments.parameters (it has: {known})"
                    + _suggest(name, self.workflow_parameters),
                )
        if field == "outputs" and len(parts) > 3 and self.global_outputs is not None:
            kind, name = parts[2], ".".join(parts[3:])
            declared = self.global_outputs[0] if kind == "parameters" else self.global_outputs[1]
            if kind in ("parameters", "artifacts") and name not in declared:
                self._report(path, tag, f"no template declares an output {kind[:-1]} with globalName {name!r}")

    def _inputs(self, path: Path, tag: str, template: Mapping[str, Any]) -> None:
        parts = tag.split(".")
        inputs = _mapping(template.get("inputs"))
        name = str(template.get("name") or "")
        if len(parts) < 3:
            if parts[-1] == "parameters":
                return  # all inputs as JSON: Argo substitutes it for every template
            self._report(path, tag, f"template {name!r} has no such input")
            return
        kind, item = parts[1], parts[2]
        if kind not in ("parameters", "artifacts"):
            self._report(path, tag, f"inputs have parameters and artifacts, not {kind!r}")
            return
        declared = _names(inputs.get(kind))
        if item not in declared:
            known = ", ".join(declared) or "none"
            self._report(
                path,
                tag,
                f"template {name!r} has no input {kind[:-1]} {item!r} (its inputs.{kind}: {known})"
                + _suggest(item, declared),
            )

    def _node(self, path: Path, tag: str, nodes: Mapping[str, Any], what: str, owner: str) -> None:
        parts = tag.split(".")
        if len(parts) < 2 or parts[1] == "name" and len(parts) == 2:
            return  # steps.name / tasks.name: the node's own name
        name = parts[1]
        if name not in nodes:
            known = sorted(nodes)
            listing = ", ".join(known) or "none"
            self._report(
                path, tag, f"template {owner!r} has no {what} {name!r} ({what}s: {listing}){_suggest(name, known)}"
            )
            return
        if len(parts) < 3:
            return
        field = parts[2]
        if field not in _NODE_FIELDS:
            self._report(path, tag, f"a {what} has no field {field!r}{_suggest(field, sorted(_NODE_FIELDS))}")
            return
        invocation, template = nodes[name]
        if template is None or field != "outputs" or len(parts) < 4:
            return
        looped = any(invocation.get(k) is not None for k in ("withItems", "withParam", "withSequence"))
        outputs = _mapping(template.get("outputs"))
        kind = parts[3]
        if kind == "result":
            if not _has_output(template) and not looped:
                self._report(
                    path,
                    tag,
                    f"{what} {name!r} runs template {template.get('name')!r}, which has no result "
                    "(only container, script, containerSet, http, data and plugin templates have one)",
                )
        elif kind in ("parameters", "artifacts") and len(parts) > 4:
            declared = _names(outputs.get(kind))
            item = ".".join(parts[4:])
            if item not in declared:
                listing = ", ".join(declared) or "none"
                self._report(
                    path,
                    tag,
                    f"{what} {name!r} runs template {template.get('name')!r}, which has no output {kind[:-1]} "
                    f"{item!r} (its outputs.{kind}: {listing}){_suggest(item, declared)}",
                )

    def _check(
        self,
        path: Path,
        text: str,
        template: Mapping[str, Any],
        steps: Mapping[str, Any] | None = None,
        tasks: Mapping[str, Any] | None = None,
    ) -> None:
        owner = str(template.get("name") or "")
        for tag in simple_tags(text):
            if tag.startswith("workflow."):
                self._workflow(path, tag)
            elif tag.startswith("inputs."):
                self._inputs(path, tag, template)
            elif tag.startswith("steps."):
                self._node(path, tag, steps or {}, "step", owner)
            elif tag.startswith("tasks."):
                self._node(path, tag, tasks or {}, "task", owner)

    # -- templates --------------------------------------------------------------------------------------
    def run(self) -> list[Finding]:
        pending: list[tuple[Any, Path]] = [
            (t, (*self.spec_path, "templates", i)) for i, t in enumerate(self.spec.get("templates") or [])
        ]
        while pending:
            template, path = pending.pop(0)
            if not isinstance(template, dict):
                continue
            pending += self._template(template, path)
        return self.findings

    def _template(self, template: dict[str, Any], path: Path) -> list[tuple[Any, Path]]:
        """Check one template; return the inline templates it holds (checked in their own scope)."""
        inline: list[tuple[Any, Path]] = []
        if template.get("steps") is not None:
            steps: dict[str, Any] = {}
            entries: list[tuple[dict[str, Any], Path]] = []
            for g, group in enumerate(template.get("steps") or []):
                for s, step in enumerate(group or [] if isinstance(group, list) else []):
                    if isinstance(step, dict) and step.get("name") is not None:
                        steps[str(step["name"])] = (step, self.resolve(step))
                        entries.append((step, (*path, "steps", g, s)))
            for step, at in entries:
                if isinstance(step.get("inline"), dict):
                    inline.append((step["inline"], (*at, "inline")))
                for where, text in _strings(step, at, frozenset({"inline"})):
                    self._check(where, text, template, steps=steps)
            for where, text in _strings(template.get("outputs"), (*path, "outputs")):
                self._check(where, text, template, steps=steps)
        elif isinstance(template.get("dag"), dict):
            tasks_raw = [t for t in template["dag"].get("tasks") or [] if isinstance(t, dict)]
            tasks = {str(t["name"]): (t, self.resolve(t)) for t in tasks_raw if t.get("name") is not None}
            parents = {name: _dependencies(task) for name, (task, _) in tasks.items()}
            for i, task in enumerate(template["dag"].get("tasks") or []):
                if not isinstance(task, dict):
                    continue
                at = (*path, "dag", "tasks", i)
                if isinstance(task.get("inline"), dict):
                    inline.append((task["inline"], (*at, "inline")))
                for where, text in _strings(task, at, frozenset({"inline"})):
                    self._check(where, text, template, tasks=tasks)
                self._argument_dependencies(task, at, parents)
            target = template["dag"].get("target")
            if isinstance(target, str):
                self._check((*path, "dag", "target"), target, template, tasks=tasks)
            for where, text in _strings(template.get("outputs"), (*path, "outputs")):
                self._check(where, text, template, tasks=tasks)
        elif any(template.get(kind) is not None for kind in _LEAF_KINDS):
            for where, text in _strings(template, path):
                self._check(where, text, template)
        return inline

    def _argument_dependencies(self, task: dict[str, Any], at: Path, parents: Mapping[str, set[str]]) -> None:
        """Argo: an argument whose value starts with ``{{tasks.X`` needs X among the task's ancestors."""
        name = str(task.get("name") or "")
        ancestors = _ancestors(name, parents)
        arguments = _mapping(task.get("arguments"))
        for kind, field in (("parameters", "value"), ("artifacts", "from")):
            for i, entry in enumerate(arguments.get(kind) or []):
                value = entry.get(field) if isinstance(entry, dict) else None
                if not isinstance(value, str) or not value.startswith("{{tasks."):
                    continue
                parts = value.split(".")
                referenced = parts[1] if len(parts) > 1 else ""
                if referenced and referenced not in ancestors and referenced in parents:
                    self.findings.append(
                        (
                            (*at, "arguments", kind, i, field),
                            "AAP034",
                            f"task {name!r} uses {referenced!r} in its arguments but does not depend on it "
                            f"(add it to depends or dependencies)",
                        )
                    )


def _dependencies(task: Mapping[str, Any]) -> set[str]:
    found = {str(d) for d in task.get("dependencies") or []}
    depends = task.get("depends")
    if isinstance(depends, str) and depends.strip():
        try:
            found.update(depends_task_names(depends))
        except ExpressionError:
            pass
    return found


def _ancestors(name: str, parents: Mapping[str, set[str]]) -> set[str]:
    seen: set[str] = set()
    pending = list(parents.get(name, ()))
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        pending.extend(parents.get(current, ()))
    return seen


def global_outputs(templates: list[Any]) -> tuple[set[str], set[str]] | None:
    """The ``globalName`` of every output parameter and artifact; None when one is itself a parameter."""
    parameters: set[str] = set()
    artifacts: set[str] = set()
    pending = list(templates)
    while pending:
        template = pending.pop()
        if not isinstance(template, dict):
            continue
        outputs = _mapping(template.get("outputs"))
        for kind, into in (("parameters", parameters), ("artifacts", artifacts)):
            for entry in outputs.get(kind) or []:
                name = entry.get("globalName") if isinstance(entry, dict) else None
                if isinstance(name, str) and name:
                    if _PARAMETRISED.search(name):
                        return None
                    into.add(name)
        for group in template.get("steps") or []:
            for step in group or [] if isinstance(group, list) else []:
                if isinstance(step, dict) and isinstance(step.get("inline"), dict):
                    pending.append(step["inline"])
        dag = template.get("dag")
        for task in (dag.get("tasks") or []) if isinstance(dag, dict) else []:
            if isinstance(task, dict) and isinstance(task.get("inline"), dict):
                pending.append(task["inline"])
    return parameters, artifacts
