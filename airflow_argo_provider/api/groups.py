"""Argo patterns as task groups inside a hand-written DAG.

``argo_task_group`` fans a template out over ``with_items``, ``with_sequence`` or ``with_param`` (an
upstream task's output), with ``parallelism``, a ``RetryStrategy`` and, for HTTP, a success
condition; its ``.output`` is the aggregated result (a list, as Argo aggregates it) for downstream
tasks. ``manifest_task_group`` puts a whole Argo manifest in a task group. Both build an Argo
workflow, check it like a manifest and compile it with the same plan and operators: there is no
second implementation of the semantics.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from airflow_argo_provider.api.templates import item_inputs
from airflow_argo_provider.manifest import ManifestError, ManifestSet, Problem, load_paths
from airflow_argo_provider.manifest.check import check_set
from airflow_argo_provider.manifest.loader import read_document, runnable_manifest
from airflow_argo_provider.manifest.yaml_source import YamlDocument
from airflow_argo_provider.plan.build import build_plan
from airflow_argo_provider.plan.model import Loop, Plan

ARGO_API_VERSION = "argoproj.io/v1alpha1"


def with_sequence(
    count: int | str | None = None,
    start: int | str | None = None,
    end: int | str | None = None,
    format: str | None = None,
) -> dict[str, str]:
    """Argo's ``withSequence``: ``count`` (or ``end``), ``start`` (default 0), ``format`` (``%d``)."""
    out = {"count": count, "start": start, "end": end, "format": format}
    return {k: str(v) for k, v in out.items() if v is not None}


class ArgoGroup:
    """A compiled Argo workflow as a task group: use it in ``>>``/``<<``; ``.output`` for its result."""

    def __init__(self, group: Any, phase: Any, plan: Plan) -> None:
        self.group = group
        self.phase_task = phase
        self.plan = plan

    @property
    def output(self) -> Any:
        """The group's result (an XComArg): the aggregated ``outputs.result`` of a fan-out, or a
        manifest's output parameters."""
        return self.phase_task.output

    # Airflow's dependency protocol, delegated to the task group.
    @property
    def roots(self) -> list[Any]:
        return list(self.group.roots)

    @property
    def leaves(self) -> list[Any]:
        return list(self.group.leaves)

    def update_relative(self, other: Any, upstream: bool = True, edge_modifier: Any = None) -> None:
        self.group.update_relative(other, upstream, edge_modifier)

    def set_upstream(self, other: Any, edge_modifier: Any = None) -> None:
        self.group.set_upstream(other, edge_modifier)

    def set_downstream(self, other: Any, edge_modifier: Any = None) -> None:
        self.group.set_downstream(other, edge_modifier)

    def __rshift__(self, other: Any) -> Any:
        self.group.set_downstream(other)
        return other

    def __lshift__(self, other: Any) -> Any:
        self.group.set_upstream(other)
        return other

    def __rrshift__(self, other: Any) -> ArgoGroup:
        self.group.set_upstream(other)
        return self

    def __rlshift__(self, other: Any) -> ArgoGroup:
        self.group.set_downstream(other)
        return self


def _caller_file() -> str:
    frame = sys._getframe(1)
    here = str(Path(__file__).resolve())
    while frame is not None:
        name = frame.f_code.co_filename
        if name and not name.startswith("<") and str(Path(name).resolve()) != here:
            return name
        frame = frame.f_back  # type: ignore[assignment]
    return "<python>"


def _current_dag_and_prefix(group_id: str) -> tuple[Any, str]:
    from airflow.sdk.definitions._internal.contextmanager import DagContext, TaskGroupContext

    dag = DagContext.get_current()
    if dag is None:
        raise RuntimeError("argo task groups are created inside `with DAG(...)`")
    parent = TaskGroupContext.get_current(dag)
    full = parent.child_id(group_id) if parent is not None else group_id
    return dag, full


def _checked(workflow: dict[str, Any], source: str) -> tuple[Any, ManifestSet]:
    mset = ManifestSet()
    mset.files.append(source)
    read_document(YamlDocument(value=workflow, index=0, line=1), source, mset)
    check_set(mset, kubernetes_names=False)  # named by Airflow ids, not Kubernetes objects
    errors = [p for p in mset.problems if not p.note]
    if errors:
        raise ManifestError(errors)
    return mset.manifests[0], mset


def argo_task_group(
    group_id: str,
    template: Any,
    *,
    with_items: list[Any] | None = None,
    with_sequence: dict[str, str] | None = None,
    with_param: Any = None,
    parallelism: int | None = None,
    retry_strategy: Any = None,
    when: str | None = None,
    continue_on: dict[str, bool] | None = None,
    parameters: dict[str, str] | None = None,
    backend: str | None = None,
) -> ArgoGroup:
    """Fan ``template`` out as Argo does, as a task group of the DAG being defined.

    ``with_param`` is an upstream task's output (an ``XComArg``: a list, or a JSON list) or an Argo
    expression string. ``parameters`` are workflow parameters (``{{workflow.parameters.x}}``) with
    their defaults; a run's conf or DAG params of the same name override them.
    """
    loops = [x for x in (with_items, with_sequence, with_param) if x is not None]
    if len(loops) > 1:
        raise ValueError("use only one of with_items, with_sequence and with_param")
    dag, full_id = _current_dag_and_prefix(group_id)
    step = template.to_template("step")
    if retry_strategy is not None:
        step["retryStrategy"] = retry_strategy.to_argo()
    step, item_arguments = item_inputs(step)
    task: dict[str, Any] = {"name": group_id, "template": "step"}
    if item_arguments:
        task["arguments"] = {"parameters": item_arguments}
    external = with_param is not None and not isinstance(with_param, str)
    if with_items is not None:
        task["withItems"] = list(with_items)
    elif with_sequence is not None:
        task["withSequence"] = dict(with_sequence)
    elif with_param is not None:
        task["withParam"] = "[]" if external else with_param
    if when:
        task["when"] = when
    if continue_on:
        task["continueOn"] = dict(continue_on)
    main: dict[str, Any] = {"name": "main", "dag": {"tasks": [task]}}
    if parallelism:
        main["parallelism"] = parallelism
    spec: dict[str, Any] = {"entrypoint": "main", "templates": [main, step]}
    if parameters:
        spec["arguments"] = {"parameters": [{"name": k, "value": str(v)} for k, v in parameters.items()]}
    workflow = {"apiVersion": ARGO_API_VERSION, "kind": "Workflow", "metadata": {"name": dag.dag_id}, "spec": spec}
    manifest, mset = _checked(workflow, _caller_file())
    plan = build_plan(manifest, mset, root_id=full_id)
    node = plan.root.child(group_id)
    external_items = {}
    if external:
        node.loop = Loop("param", external=True)
        external_items[node.id] = with_param
    return _render(plan, group_id, backend, external_items, f"result:{node.id}")


def manifest_task_group(
    path: str | Path, group_id: str | None = None, *, backend: str | None = None, templates: str | Path | None = None
) -> ArgoGroup:
    """One Argo manifest (its runnable Workflow/WorkflowTemplate) as a task group of the DAG being
    defined. ``.output`` holds the workflow's output parameters. ``templates`` is the folder whose
    WorkflowTemplates ``templateRef`` may use (default: the manifest's folder)."""
    file = Path(path)
    if not file.is_absolute():
        file = Path(_caller_file()).resolve().parent / file
    library = Path(templates).resolve() if templates else file.resolve().parent
    mset = load_paths([library] if file.resolve().is_relative_to(library) else [library, file])
    manifest = runnable_manifest(mset, str(file.resolve()))
    if manifest is None:
        raise ManifestError([Problem("AAP027", "no runnable Workflow or WorkflowTemplate", str(file), 1)])
    group_id = group_id or manifest.name
    _dag, full_id = _current_dag_and_prefix(group_id)
    plan = build_plan(manifest, mset, root_id=full_id)
    return _render(plan, group_id, backend, {}, "outputs")


def _render(plan: Plan, group_id: str, backend: str | None, external: dict[str, Any], result: str) -> ArgoGroup:
    from airflow.sdk import TriggerRule

    from airflow_argo_provider.render.dag import render_group

    group, phase = render_group(plan, group_id, backend, external_items=external, result=result)
    # Inside the group every task runs whatever its upstreams ended in (Argo's rules decide), but the
    # group's first tasks only have upstreams outside it: like any Airflow task, the group starts when
    # those succeeded, so a group placed after a failed task or group does not run.
    for task in group.roots:
        task.trigger_rule = TriggerRule.ALL_SUCCESS
    return ArgoGroup(group, phase, plan)
