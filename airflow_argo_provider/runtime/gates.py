"""Whether a node runs: Argo's step-group order, ``depends``, ``failFast``, ``target`` and ``when``.

A node runs only if every steps/DAG template around it runs: each enclosing group has its own
gate (its step order or ``depends`` in its parent, and its ``when``), decided by the first leaf
that needs it. A leaf's own ``when`` is evaluated per item when the invocation is prepared; its
other gates once per node (for a fan-out, by its ``_items`` task).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from airflow_argo_provider.expressions import ExpressionError, evaluate_depends, evaluate_when
from airflow_argo_provider.plan.model import Node
from airflow_argo_provider.runtime.phases import group_allows_next
from airflow_argo_provider.runtime.records import OMITTED, SKIPPED, failed_or_error
from airflow_argo_provider.runtime.view import FAIL_FAST_MESSAGE, NOT_LOADED, RunView, items_task_id


@dataclass(frozen=True)
class Decision:
    action: Literal["run", "omit", "skip", "not_run", "error"]
    message: str = ""


RUN = Decision("run")


def decide(view: RunView, node: Node) -> Decision:
    """Whether ``node`` runs, given the groups around it and its own gate (not its ``when``)."""
    for group in enclosing_groups(view, node):
        gate = view.gate(group)
        if gate.action != "run":
            return Decision("not_run", f"{group.name}: {gate.message}" if gate.message else f"{group.name} did not run")
    return own_gate(view, node, with_when=False)


def enclosing_groups(view: RunView, node: Node) -> list[Node]:
    """The steps/DAG templates around ``node`` that have a gate of their own, outermost first."""
    out = []
    for ancestor in view.plan.ancestors(node.id):
        if not ancestor.is_group:
            break  # an exit hook's owner: the hook's own gate looks at it
        if view.plan.parent_of(ancestor.id) is not None:
            out.append(ancestor)
    return out


def own_gate(view: RunView, node: Node, *, with_when: bool) -> Decision:
    """``node``'s own gate in its parent, and its ``when`` when ``with_when``."""
    owner = view.plan.parent_of(node.id)
    if owner is not None and owner.exit_hook is node:
        phase = view.phase(owner)
        if phase is None or phase in (SKIPPED, OMITTED):
            return Decision("not_run", f"{owner.name} did not run, so its exit hook does not either")
        return RUN
    parent = view.scope_parent(node)
    if parent is None:
        return RUN
    if node.loop is not None and not node.inline_loop and node.is_group and view.mapped_index is not None:
        decision = RUN  # an instance of a fanned-out group: its _items task decided the rest
    elif parent.kind == "steps":
        decision = _steps_gate(view, parent, node)
    else:
        decision = _dag_gate(view, parent, node)
    if decision is RUN and with_when and node.when:
        return when_gate(view, node)
    return decision


def when_gate(view: RunView, node: Node) -> Decision:
    item: Any = NOT_LOADED
    if node.loop is not None and node.is_group and view.mapped_index is not None:
        item = view.mapped_item(node)
    try:
        text = view.substitute(node.when or "", node, item=item)
        if not evaluate_when(text):
            return Decision("skip", f"when '{text}' evaluated false")
    except ExpressionError as exc:
        return Decision("error", str(exc))
    return RUN


def _steps_gate(view: RunView, parent: Node, node: Node) -> Decision:
    group = node.step_group or 0
    if group == 0:
        return RUN
    previous = [c for c in parent.children if c.step_group == group - 1]
    states = [state for c in previous for state in view.step_states(c)]
    if not group_allows_next(states):
        return Decision("not_run", "an earlier step did not succeed")
    return _fail_fast_gate(view, parent, node)


def _dag_gate(view: RunView, parent: Node, node: Node) -> Decision:
    if parent.dynamic_target:
        wanted = view.dynamic_targets(parent)
        if node.name not in _closure(view, parent, wanted):
            return Decision("not_run", "not needed by the DAG's target")
    deps = [parent.child(name) for name in view.dependencies(parent, node)]
    for dep in deps:
        if view.effective_phase(dep) is None:
            return Decision("not_run", f"dependency {dep.name!r} did not run")
    stop = _fail_fast_gate(view, parent, node)
    if stop is not RUN:
        return stop
    if node.depends:
        try:
            widen = {c.name: (c.continue_on_failed, c.continue_on_error) for c in parent.children}
            ok = evaluate_depends(node.depends, view.depends_results(parent, node), continue_on=widen)
        except ExpressionError as exc:
            return Decision("error", f"invalid depends: {exc}")
        if not ok:
            return Decision("omit", f"omitted: depends condition not met ({node.depends})")
    return RUN


def _closure(view: RunView, parent: Node, targets: list[str]) -> set[str]:
    keep: set[str] = set()
    pending = list(targets)
    names = {c.name for c in parent.children}
    while pending:
        name = pending.pop()
        if name in keep or name not in names:
            continue
        keep.add(name)
        pending.extend(view.dependencies(parent, parent.child(name)))
    return keep


def _task_ids(node: Node) -> list[str]:
    ids = []
    for sub in node.walk():
        if not sub.is_group:
            ids.append(sub.id)
        if sub.loop is not None and not sub.inline_loop:
            ids.append(items_task_id(sub))
    return ids


def _fail_fast_gate(view: RunView, parent: Node, node: Node) -> Decision:
    """Template-level ``failFast: true``: once a child failed, no new children start."""
    if not parent.stop_on_failure:
        return RUN
    failed = _failed_sibling(view, parent, node)
    if failed is not None:
        return Decision("not_run", FAIL_FAST_MESSAGE)
    return RUN


def _failed_sibling(view: RunView, parent: Node, node: Node) -> str | None:
    """A sibling that already failed or errored (``continueOn`` does not matter here).

    Airflow task states find the candidates in one call; only those are read in detail.
    """
    siblings = [c for c in parent.children if c is not node]
    owners: dict[str, Node] = {}
    for sibling in siblings:
        for task_id in _task_ids(sibling):
            owners[task_id] = sibling
    if not owners:
        return None
    states = view.store.states(owners)
    candidates: list[Node] = []
    for (task_id, map_index), state in states.items():
        owner = owners.get(task_id)
        if state != "failed" or owner is None or owner in candidates:
            continue
        if view.map_index(owner) != -1 and map_index != view.mapped_index:
            continue  # another instance of the fanned-out group this task runs in
        candidates.append(owner)
    for candidate in candidates:
        if failed_or_error(view.phase(candidate)):
            return candidate.name
    return None
