"""The nodes of a finished run, as Argo lists them (``airflow-argo run`` output).

Every node that was created appears once: the workflow's root, steps/DAG template nodes,
leaves, fan-out children named ``NAME(INDEX:ITEM)`` (and, in DAGs, their parent), exit
hooks (``NAME.onExit``) and the workflow's exit handler (``onExit``). Nodes that never ran
are left out, as Argo creates no node for them.
"""

from __future__ import annotations

from typing import Any

from airflow_argo_provider.plan.model import Node
from airflow_argo_provider.runtime.records import NodeRecord
from airflow_argo_provider.runtime.view import RunView


def _outputs(record: NodeRecord | None) -> dict[str, Any]:
    if record is None:
        return {}
    out: dict[str, Any] = {}
    if record.result is not None:
        out["result"] = record.result
    if record.parameters:
        out["parameters"] = dict(record.parameters)
    if record.exit_code is not None:
        out["exitCode"] = record.exit_code
    if record.artifacts:
        out["artifacts"] = dict(record.artifacts)
    return out


def _entry(
    display: str, template: str, phase: str, message: str, record: NodeRecord | None, node_type: str
) -> dict[str, Any]:
    return {
        "displayName": display,
        "templateName": template,
        "type": node_type,
        "phase": phase,
        "message": message,
        "outputs": _outputs(record),
        "retries": record.retries if record is not None else 0,
        "startedAt": record.started_at if record is not None else None,
        "finishedAt": record.finished_at if record is not None else None,
    }


def node_report(view: RunView) -> list[dict[str, Any]]:
    """Argo-style node entries for the whole run, in plan order."""
    plan = view.plan
    out: list[dict[str, Any]] = []
    roots = [plan.root] + ([plan.on_exit] if plan.on_exit is not None else [])
    for root in roots:
        _walk(view, root, out, root is plan.root)
    return out


def _template_name(view: RunView, node: Node) -> str:
    return str(view.plan.template(node.template).get("name", ""))


def _walk(view: RunView, node: Node, out: list[dict[str, Any]], is_root: bool = False) -> None:
    status = view.status(node)
    if status.phase is None:
        return
    template = _template_name(view, node)
    display = view.workflow.get("workflow.name", node.name) if is_root else node.name
    node_type = "Steps" if node.kind == "steps" else "DAG" if node.kind == "dag" else _leaf_type(node)
    parent = view.plan.parent_of(node.id)
    in_steps = parent is not None and parent.kind == "steps" and parent.exit_hook is not node
    if node.loop is not None:
        if not in_steps:  # a DAG fan-out has a parent node (a TaskGroup); steps have none
            out.append(_entry(display, template, status.phase, status.message, None, "TaskGroup"))
        elif not status.children:
            out.append(_entry(display, template, status.phase, status.message, status.record, "Skipped"))
        for child in status.children or []:
            child_type = node_type
            out.append(_entry(child.display_name or node.name, template, child.phase, child.message, child, child_type))
            if node.is_group:
                instance = view.instance(node, child.index or 0, child.item)
                for inner in node.children:
                    _walk(instance, inner, out)
    else:
        record = status.record
        out.append(_entry(display, template, status.phase, status.message, record, node_type))
        for inner in node.children:
            _walk(view, inner, out)
    if node.exit_hook is not None:
        _walk(view, node.exit_hook, out)


def _leaf_type(node: Node) -> str:
    return {"suspend": "Suspend", "http": "HTTP", "plugin": "Plugin"}.get(node.body, "Pod")
