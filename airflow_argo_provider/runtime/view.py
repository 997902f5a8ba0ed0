"""A running task's view of its workflow run: node phases, outputs and scopes.

:class:`RunView` answers the questions Argo's controller answers from its node tree: what
phase did a node end in, what are its outputs, what do ``{{inputs.parameters.x}}`` and
``{{tasks.fetch.outputs.result}}`` mean for a given invocation. It reads task payloads
lazily through a :class:`~airflow_argo_provider.runtime.store.RecordStore`, only for the
nodes an expression actually refers to.

Inside a fanned-out steps/DAG template (an Airflow mapped task group) a view is bound to one
instance of the group (``mapped_index``); nodes inside that group are read at that map index.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_argo_provider.expressions import ExpressionError, depends_task_names, substitute, template_variables
from airflow_argo_provider.plan.model import ITEMS_SUFFIX, Node, Plan
from airflow_argo_provider.runtime.loops import child_name
from airflow_argo_provider.runtime.phases import (
    ContinueOn,
    StepState,
    TaskState,
    dag_phase,
    fanout_phase,
    steps_phase,
)
from airflow_argo_provider.runtime.records import (
    ERROR,
    FAILED,
    OMITTED,
    SKIPPED,
    NodeRecord,
    Payload,
    failed_or_error,
)
from airflow_argo_provider.runtime.scope import (
    input_vars,
    node_output_vars,
    template_inputs,
)
from airflow_argo_provider.runtime.store import RecordStore

_NOT_LOADED = object()
FAIL_FAST_MESSAGE = "template has failed or errored children and failFast enabled"
_REF = re.compile(r"^(steps|tasks)\.([^.\[\]]+)")


@dataclass
class Status:
    """What is known of a node: its phase (None when it never ran), message, outputs."""

    phase: str | None
    message: str = ""
    record: NodeRecord | None = None
    children: list[NodeRecord] | None = None
    items: list[Any] | None = field(default=None, repr=False)


def continue_on(node: Node) -> ContinueOn:
    return ContinueOn(failed=node.continue_on_failed, error=node.continue_on_error)


class RunView:
    def __init__(
        self,
        plan: Plan,
        store: RecordStore,
        workflow: Mapping[str, Any],
        *,
        mapped_index: int | None = None,
        mapped_item: Any = _NOT_LOADED,
    ) -> None:
        self.plan = plan
        self.store = store
        self.workflow = dict(workflow)
        self.mapped_index = mapped_index
        self._mapped_item = mapped_item
        self._status: dict[str, Status] = {}
        self._gates: dict[str, Any] = {}
        # The local backend's artifact store (used when no artifact repository is configured).
        self.local_artifact_root: str | None = None
        self._inputs: dict[str, dict[str, str]] = {}
        self._instances: dict[int, RunView] = {}

    # -- structure ------------------------------------------------------------------------
    def mapped_group(self, node: Node) -> Node | None:
        """The fanned-out group that strictly encloses ``node`` (Airflow's mapped task group)."""
        for ancestor in self.plan.ancestors(node.id):
            if ancestor.loop is not None and ancestor.is_group and ancestor.id:
                return ancestor
        return None

    def map_index(self, node: Node) -> int:
        return self.mapped_index if (self.mapped_index is not None and self.mapped_group(node)) else -1

    def scope_parent(self, node: Node) -> Node | None:
        """The template whose scope ``node``'s invocation is written in.

        For a step or task that is its parent group; for an exit hook it is the scope of the
        node the hook belongs to; for the entrypoint and the workflow's exit handler, none.
        """
        parent = self.plan.parent_of(node.id)
        if parent is not None and parent.exit_hook is node:
            return self.scope_parent(parent)
        return parent

    def in_exit_handler(self, node: Node) -> bool:
        on_exit = self.plan.on_exit
        return on_exit is not None and (node.id == on_exit.id or node.id.startswith(on_exit.id + "."))

    # -- payloads -----------------------------------------------------------------------------
    def _payload(self, task_id: str, map_index: int) -> Payload | None:
        for payload in self.store.payloads(task_id):
            if payload.map_index == map_index:
                return payload
        return None

    def _airflow_failure(self, task_id: str, map_index: int) -> str | None:
        state = self.store.states([task_id]).get((task_id, map_index))
        if state in ("failed", "upstream_failed"):
            return state
        return None

    # -- phases ---------------------------------------------------------------------------------
    def status(self, node: Node) -> Status:
        cached = self._status.get(node.id)
        if cached is None:
            cached = self._compute_status(node)
            self._status[node.id] = cached
        return cached

    def phase(self, node: Node) -> str | None:
        return self.status(node).phase

    def _compute_status(self, node: Node) -> Status:
        if node.loop is not None and not node.inline_loop:
            return self._fanout_status(node)
        if node.is_group:
            return self._group_status(node)
        return self._leaf_status(node, node.id, self.map_index(node))

    def _leaf_status(self, node: Node, task_id: str, map_index: int) -> Status:
        payload = self._payload(task_id, map_index)
        if payload is None:
            if self._airflow_failure(task_id, map_index):
                return Status(ERROR, "the task failed before it reported the node's outcome")
            return Status(None, "did not run")
        if payload.not_run is not None:
            return Status(None, payload.not_run)
        if node.inline_loop:
            if payload.node is not None:
                return Status(payload.node.phase, payload.node.message, record=payload.node, children=[])
            phase, message = fanout_phase(payload.children)
            return Status(phase, message, children=sorted(payload.children, key=lambda c: c.index or 0))
        if payload.node is None:
            return Status(None, "did not run")
        return Status(payload.node.phase, payload.node.message, record=payload.node)

    def _items_payload(self, node: Node) -> Payload | None:
        return self._payload(items_task_id(node), self.map_index(node))

    def _fanout_status(self, node: Node) -> Status:
        items = self._items_payload(node)
        if items is None:
            if self._airflow_failure(items_task_id(node), self.map_index(node)):
                return Status(ERROR, "expanding the items failed")
            return Status(None, "did not run")
        if items.not_run is not None:
            return Status(None, items.not_run)
        if items.node is not None:
            return Status(items.node.phase, items.node.message, record=items.node, children=[])
        if node.is_group:
            children = self._group_instances(node, items.children)
        else:
            children = []
            reported: set[int] = set()
            for payload in self.store.payloads(node.id):
                children.extend(payload.children)
                reported.add(payload.map_index)
            children = self._missing_children(node, children, items)
        children.sort(key=lambda c: c.index or 0)
        phase, message = fanout_phase(children)
        return Status(phase, message, children=children, items=[c.item for c in items.children])

    def _missing_children(self, node: Node, children: list[NodeRecord], items: Payload) -> list[NodeRecord]:
        """Children whose task died without reporting count as Error; nothing is dropped."""
        have = {c.index for c in children}
        missing = [c for c in items.children if c.index not in have]
        if not missing:
            return children
        for entry in missing:
            children.append(
                NodeRecord(
                    ERROR,
                    "the task failed before it reported the node's outcome",
                    index=entry.index,
                    item=entry.item,
                    display_name=child_name(node.name, entry.index or 0, entry.item),
                )
            )
        return children

    def instance(self, group: Node, index: int, item: Any) -> RunView:
        """The view of one instance of a fanned-out group."""
        view = self._instances.get(index)
        if view is None:
            view = RunView(self.plan, self.store, self.workflow, mapped_index=index, mapped_item=item)
            self._instances[index] = view
        return view

    def _group_instances(self, node: Node, entries: list[NodeRecord]) -> list[NodeRecord]:
        out = []
        for entry in entries:
            index = entry.index or 0
            view = self.instance(node, index, entry.item)
            status = view._group_status(node)
            out.append(
                NodeRecord(
                    status.phase or FAILED,
                    status.message,
                    index=index,
                    item=entry.item,
                    display_name=child_name(node.name, index, entry.item),
                )
            )
        return out

    def gate(self, node: Node) -> Any:
        """``node``'s own gate in its parent, ``when`` included (memoised); see ``runtime.gates``."""
        cached = self._gates.get(node.id)
        if cached is None:
            from airflow_argo_provider.runtime.gates import own_gate

            cached = own_gate(self, node, with_when=True)
            self._gates[node.id] = cached
        return cached

    def _group_status(self, node: Node) -> Status:
        parent = self.plan.parent_of(node.id)
        if parent is not None:  # the entrypoint has no gate
            gate = self.gate(node)
            if gate.action == "not_run":
                return Status(None, gate.message)
            if gate.action in ("omit", "skip", "error"):
                gated = {"omit": OMITTED, "skip": SKIPPED, "error": ERROR}[gate.action]
                return Status(gated, gate.message, record=NodeRecord(gated, gate.message, display_name=node.name))
        phase: str | None
        if node.kind == "steps":
            groups: dict[int, list[StepState]] = {}
            for child in node.children:
                groups.setdefault(child.step_group or 0, []).extend(self.step_states(child))
            phase, message = steps_phase([groups[k] for k in sorted(groups)])
            if all(s.phase is None for g in groups.values() for s in g):
                phase, message = None, "did not run"
        else:
            states = {
                child.name: TaskState(
                    child.name, self.effective_phase(child), tuple(self.dependencies(node, child)), continue_on(child)
                )
                for child in node.children
            }
            targets = node.targets
            if node.dynamic_target:
                targets = self.dynamic_targets(node)
            phase, message = dag_phase(states, targets, node.fail_fast)
            if all(s.phase is None for s in states.values()):
                phase, message = None, "did not run"
        if (
            node.stop_on_failure
            and phase is not None
            and any(self.status(child).message == FAIL_FAST_MESSAGE for child in node.children)
        ):
            phase, message = FAILED, FAIL_FAST_MESSAGE
        return Status(phase, message)

    def effective_phase(self, node: Node) -> str | None:
        """A node's phase as its parent sees it (an exit hook's outcome never changes it)."""
        return self.phase(node)

    def step_states(self, node: Node) -> list[StepState]:
        """How a step counts in its step group: one state, or one per child of a fan-out."""
        status = self.status(node)
        if node.loop is not None and status.children:
            return [StepState(c.display_name or node.name, c.phase, continue_on(node)) for c in status.children]
        return [StepState(node.name, status.phase, continue_on(node))]

    def dependencies(self, parent: Node, child: Node) -> list[str]:
        if not child.depends:
            return []
        names = {c.name for c in parent.children}
        return [n for n in depends_task_names(child.depends) if n in names]

    def dynamic_targets(self, node: Node) -> list[str]:
        text = self.substitute(node.dynamic_target or "", node, item=_NOT_LOADED, scope_node=node)
        return text.replace(",", " ").split()

    def depends_results(self, parent: Node, child: Node) -> dict[str, Any]:
        """Phases of the siblings ``child.depends`` names, as ``evaluate_depends`` wants them."""
        results: dict[str, Any] = {}
        for name in self.dependencies(parent, child):
            sibling = parent.child(name)
            status = self.status(sibling)
            phase = self.effective_phase(sibling)
            if status.children and sibling.loop is not None and phase == status.phase:
                results[name] = [c.phase for c in status.children]
            else:
                results[name] = phase
        return results

    # -- scopes -----------------------------------------------------------------------------------
    def mapped_item(self, group: Node) -> Any:
        """The item of the fanned-out group instance this view is bound to."""
        if self._mapped_item is _NOT_LOADED:
            items = self._items_payload_outside(group)
            entry = next((c for c in items.children if c.index == self.mapped_index), None) if items else None
            self._mapped_item = entry.item if entry is not None else None
        return self._mapped_item

    def _items_payload_outside(self, group: Node) -> Payload | None:
        return self._payload(items_task_id(group), -1)

    def group_inputs(self, group: Node) -> dict[str, str]:
        """The input parameters of a steps/DAG template invocation (memoised)."""
        cached = self._inputs.get(group.id)
        if cached is not None:
            return cached
        item: Any = _NOT_LOADED
        if group.loop is not None and group.is_group and self.mapped_index is not None:
            item = self.mapped_item(group)
        inputs = self.invocation_inputs(group, item)
        self._inputs[group.id] = inputs
        return inputs

    def invocation_inputs(self, node: Node, item: Any = _NOT_LOADED) -> dict[str, str]:
        """The inputs ``node``'s template runs with: its arguments resolved in the caller's scope."""
        template = self.plan.template(node.template)
        supplied: dict[str, str] = {}
        for param in node.arguments.get("parameters") or []:
            if param.get("value") is None:
                continue
            try:
                supplied[param["name"]] = self.substitute(str(param["value"]), node, item=item)
            except ExpressionError:
                if not self._refers_to_absent_output(str(param["value"]), node):
                    raise
                # The output of a skipped or omitted step is absent: the argument is not supplied,
                # so the input's own default (if any) applies, as in Argo.
        return template_inputs(
            template,
            supplied,
            lambda text: self._substitute_with(text, self.template_scope(node, template_variables(text))),
            self.plan.config_maps,
        )

    def template_scope(self, node: Node, names: Iterable[str]) -> dict[str, Any]:
        """The workflow variables a template of ``node`` sees, with the global outputs ``names`` refer to."""
        scope = self.workflow_scope(node)
        for name in names:
            if name.startswith("workflow.outputs.parameters."):
                value = self.global_output(name.split(".", 3)[3])
                if value is not None:
                    scope[name] = value
        return scope

    def workflow_scope(self, node: Node) -> dict[str, Any]:
        scope = dict(self.workflow)
        if self.in_exit_handler(node):
            scope.update(self.exit_status_vars())
        return scope

    def exit_status_vars(self) -> dict[str, Any]:
        status = self.status(self.plan.root)
        phase = status.phase or FAILED
        failures = [
            {
                "displayName": record_name,
                "message": record.message,
                "templateName": template,
                "phase": record.phase,
                "podName": record_name,
                "finishedAt": record.finished_at,
            }
            for record_name, template, record in self.failed_nodes()
        ]
        # Argo substitutes strconv.Quote(json.Marshal(failures)): a quoted string ("null" when none).
        encoded = json.dumps(failures or None, separators=(",", ":"), ensure_ascii=False)
        out: dict[str, Any] = {"workflow.status": phase, "workflow.failures": json.dumps(encoded, ensure_ascii=False)}
        created = self.workflow.get("workflow.creationTimestamp.s")
        if created:
            out["workflow.duration"] = f"{max(time.time() - float(created), 0.0):f}"
        return out

    def failed_nodes(self) -> list[tuple[str, str, NodeRecord]]:
        """Leaf nodes that failed or errored, for ``workflow.failures``."""
        out: list[tuple[str, str, NodeRecord]] = []
        for node in self.plan.root.walk():
            if node.is_group:
                continue
            status = self.status(node)
            template = self.plan.template(node.template).get("name", "")
            if status.children:
                for child in status.children:
                    if failed_or_error(child.phase):
                        out.append((child.display_name or node.name, template, child))
            elif status.record is not None and failed_or_error(status.phase):
                out.append((node.name, template, status.record))
            elif failed_or_error(status.phase):
                out.append((node.name, template, NodeRecord(status.phase or ERROR, status.message)))
        return out

    def caller_scope(self, node: Node, names: Iterable[str], item: Any = _NOT_LOADED) -> dict[str, Any]:
        """The scope in which ``node``'s invocation (arguments, when, loop) is evaluated.

        That is the scope of the template that contains the invocation: the workflow
        variables, the parent template's inputs, the outputs of sibling steps/tasks that
        ``names`` refer to, and ``item`` for a fan-out child.
        """
        scope = self.workflow_scope(node)
        parent = self.scope_parent(node)
        if parent is not None:
            scope.update(input_vars(self.group_inputs(parent)))
            prefix = "steps" if parent.kind == "steps" else "tasks"
            for name in names:
                match = _REF.match(name)
                if match and match.group(1) == prefix:
                    sibling = next((c for c in parent.children if c.name == match.group(2)), None)
                    if sibling is not None:
                        scope.update(self.output_vars(prefix, sibling))
        for name in names:
            if name.startswith("workflow.outputs.parameters."):
                key = name.split(".", 3)[3]
                value = self.global_output(key)
                if value is not None:
                    scope[name] = value
        if item is not _NOT_LOADED:
            scope["item"] = item
        return scope

    def _refers_to_absent_output(self, text: str, node: Node) -> bool:
        parent = self.scope_parent(node)
        if parent is None:
            return False
        prefix = "steps" if parent.kind == "steps" else "tasks"
        for name in template_variables(text):
            match = _REF.match(name)
            if match and match.group(1) == prefix and ".outputs." in name:
                sibling = next((c for c in parent.children if c.name == match.group(2)), None)
                if sibling is not None and self.phase(sibling) in (SKIPPED, OMITTED):
                    return True
        return False

    def output_vars(self, prefix: str, sibling: Node) -> dict[str, Any]:
        status = self.status(sibling)
        name = f"{prefix}.{sibling.name}"
        if status.phase in (SKIPPED, OMITTED) and status.record is not None and not status.record.parameters:
            # A skipped or omitted step produced nothing; its outputs that declare a default take it.
            defaults = {
                p["name"]: str(p["valueFrom"]["default"])
                for p in (self.plan.template(sibling.template).get("outputs") or {}).get("parameters") or []
                if (p.get("valueFrom") or {}).get("default") is not None
            }
            record = NodeRecord(status.phase, status.message, parameters=defaults)
            return node_output_vars(name, record, None, status.phase)
        if sibling.is_group:
            record = NodeRecord(
                status.phase or FAILED,
                status.message,
                parameters=self.group_outputs(sibling),
                artifacts=self.group_artifacts(sibling),
            )
            if sibling.loop is not None and status.children is not None:
                return node_output_vars(name, None, self._group_children_with_outputs(sibling, status), status.phase)
            return node_output_vars(name, record, None, status.phase)
        if status.children is not None and sibling.loop is not None:
            return node_output_vars(name, None, status.children, status.phase)
        return node_output_vars(name, status.record, None, status.phase)

    def _group_children_with_outputs(self, group: Node, status: Status) -> list[NodeRecord]:
        out = []
        for child in status.children or []:
            view = self.instance(group, child.index or 0, child.item)
            params = view.group_outputs(group)
            out.append(
                NodeRecord(
                    child.phase,
                    child.message,
                    parameters=params,
                    index=child.index,
                    item=child.item,
                    display_name=child.display_name,
                )
            )
        return out

    def group_outputs(self, group: Node) -> dict[str, str]:
        """Output parameters of a steps/DAG template (``valueFrom.parameter``/``expression``)."""
        template = self.plan.template(group.template)
        out: dict[str, str] = {}
        for param in (template.get("outputs") or {}).get("parameters") or []:
            value_from = param.get("valueFrom") or {}
            text = value_from.get("parameter")
            if text is None and value_from.get("expression"):
                text = "{{=" + value_from["expression"] + "}}"
            if text is None:
                continue
            try:
                out[param["name"]] = self.inner_substitute(text, group)
            except ExpressionError:
                if value_from.get("default") is not None:
                    out[param["name"]] = str(value_from["default"])
        return out

    def group_artifacts(self, group: Node) -> dict[str, dict[str, Any]]:
        """Output artifacts of a steps/DAG template (``from``/``fromExpression`` over its children)."""
        if not (self.plan.template(group.template).get("outputs") or {}).get("artifacts"):
            return {}
        from airflow_argo_provider.artifacts.resolve import group_output_artifacts

        return group_output_artifacts(self, group)

    def inner_substitute(self, text: str, group: Node) -> str:
        """Substitute ``text`` in the scope inside ``group`` (its inputs and its children's outputs)."""
        names = template_variables(text)
        scope = self.workflow_scope(group)
        scope.update(input_vars(self.group_inputs(group)))
        prefix = "steps" if group.kind == "steps" else "tasks"
        for name in names:
            match = _REF.match(name)
            if match and match.group(1) == prefix:
                child = next((c for c in group.children if c.name == match.group(2)), None)
                if child is not None:
                    scope.update(self.output_vars(prefix, child))
        return substitute(text, scope)

    def global_output(self, key: str) -> str | None:
        """``workflow.outputs.parameters.KEY``: the last node that set that global output."""
        value = None
        for node_id in self.plan.global_outputs.get(key, []):
            node = self.plan.node(node_id)
            status = self.status(node)
            template = self.plan.template(node.template)
            names = [
                p["name"] for p in (template.get("outputs") or {}).get("parameters") or [] if p.get("globalName") == key
            ]
            records = status.children if status.children else ([status.record] if status.record else [])
            for record in records:
                for name in names:
                    if name in record.parameters:
                        value = record.parameters[name]
        return value

    def substitute(self, text: str, node: Node, *, item: Any = _NOT_LOADED, scope_node: Node | None = None) -> str:
        """Substitute ``text`` in the caller scope of ``node`` (with ``item`` for a fan-out child)."""
        if "{{" not in text:
            return text
        scope = self.caller_scope(scope_node or node, template_variables(text), item)
        return substitute(text, scope)

    def _substitute_with(self, text: str, scope: Mapping[str, Any]) -> str:
        if "{{" not in text:
            return text
        return substitute(text, scope)


def items_task_id(node: Node) -> str:
    return node.id + ITEMS_SUFFIX


def is_missing(value: Any) -> bool:
    return value is _NOT_LOADED


NOT_LOADED = _NOT_LOADED
