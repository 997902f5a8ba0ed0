"""A plan as a readable tree (``airflow-argo render``): what runs, in which order, fanned out how.

Each line is one node: its name, the body of its template (``container``, ``script``, ``steps``,
``dag``, ...), the template's name, and what decides whether and how often it runs (``when``,
``depends``, ``withItems``/``withSequence``/``withParam``, ``continueOn``). Steps show their
step group as ``[N]`` (steps of one group run in parallel). Exit handlers hang below the node
they belong to.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from airflow_argo_provider.plan.model import Node, Plan


def _loop(node: Node) -> str:
    loop = node.loop
    if loop is None:
        return ""
    if loop.kind == "items":
        text = json.dumps(loop.items, separators=(",", ":"))
        if len(text) > 60:
            text = text[:57] + "..."
        return f"withItems {text}"
    if loop.kind == "sequence":
        return "withSequence " + json.dumps(loop.sequence or {}, separators=(",", ":"), sort_keys=True)
    return f"withParam {loop.param}"


def describe(node: Node, plan: Plan) -> str:
    """One line about one node."""
    template = plan.template(node.template).get("name", "") or "(inline)"
    parts = [node.name]
    if node.step_group is not None:
        parts[0] = f"[{node.step_group}] {node.name}"
    parts.append(f"{node.body} {template}")
    extras = []
    if node.when:
        extras.append(f"when {node.when}")
    if node.depends:
        extras.append(f"depends {node.depends}")
    loop = _loop(node)
    if loop:
        extras.append(loop)
    if node.continue_on_failed or node.continue_on_error:
        what = [w for w, on in (("failed", node.continue_on_failed), ("error", node.continue_on_error)) if on]
        extras.append("continueOn " + ",".join(what))
    if node.kind == "dag" and node.targets:
        extras.append("target " + " ".join(node.targets))
    line = "  ".join(parts)
    if extras:
        line += "  (" + "; ".join(extras) + ")"
    return line


def _tree(node: Node, plan: Plan, prefix: str, last: bool, root: bool) -> Iterator[str]:
    branch = "" if root else ("└── " if last else "├── ")
    yield prefix + branch + describe(node, plan)
    below = prefix + ("" if root else ("    " if last else "│   "))
    children = list(node.children)
    if node.exit_hook is not None:
        children.append(node.exit_hook)
    for i, child in enumerate(children):
        yield from _tree(child, plan, below, i == len(children) - 1, False)


def format_plan(plan: Plan) -> str:
    """The plan as a tree, one node per line."""
    lines = [f"{plan.kind} {plan.workflow_name}{'-' if plan.generate_name else ''} (Airflow DAG {plan.dag_id})"]
    if plan.parameters:
        values = ", ".join(f"{p.name}={p.value if p.value is not None else '?'}" for p in plan.parameters)
        lines.append(f"parameters: {values}")
    lines.extend(_tree(plan.root, plan, "", True, True))
    if plan.on_exit is not None:
        lines.append("on exit:")
        lines.extend(_tree(plan.on_exit, plan, "", True, True))
    return "\n".join(lines)
