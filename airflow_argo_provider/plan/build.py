"""Turn a checked manifest into a :class:`~airflow_argo_provider.plan.model.Plan`.

The builder works on the normalised manifest document (Argo's JSON field names) and on the
template lookups of :mod:`airflow_argo_provider.manifest.templates`, so the plan agrees with
what the loader checked. It expects a manifest without errors; anything it still cannot
represent is reported as a :class:`~airflow_argo_provider.manifest.ManifestError`.
"""

from __future__ import annotations

import copy
from typing import Any

from airflow_argo_provider.expressions import dependencies_to_depends, depends_task_names
from airflow_argo_provider.manifest.loader import Manifest, ManifestSet
from airflow_argo_provider.manifest.locks import lock_of
from airflow_argo_provider.manifest.problems import ManifestError, Problem
from airflow_argo_provider.manifest.templates import (
    ResolveError,
    TemplateHandle,
    by_name,
    effective_owner,
    resolve_invocation,
)
from airflow_argo_provider.manifest.yaml_source import Path, format_path
from airflow_argo_provider.plan.model import (
    EXIT_SUFFIX,
    ON_EXIT_ID,
    Loop,
    Node,
    ParamSpec,
    Plan,
    Schedule,
)

# Workflow spec fields that describe templates or the run, not the pods.
_NOT_POD_FIELDS = frozenset(
    {
        "templates",
        "entrypoint",
        "arguments",
        "onExit",
        "hooks",
        "workflowTemplateRef",
        "templateDefaults",
        "parallelism",
        "activeDeadlineSeconds",
        "ttlStrategy",
        "metrics",
        "archiveLogs",
        "artifactRepositoryRef",
        "retryStrategy",
        "suspend",
        "shutdown",
        "priority",
        "synchronization",
        "workflowMetadata",
        "artifactGC",
    }
)
_BODIES = ("container", "script", "steps", "dag", "suspend", "http", "plugin", "resource", "data", "containerSet")


def _get(node: Any, path: Path) -> Any:
    for part in path:
        node = node[part]
    return node


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``override`` on top of ``base`` (dicts merge recursively, everything else replaces)."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _merge_arguments(base: dict[str, Any] | None, override: dict[str, Any] | None) -> dict[str, Any]:
    """Workflow arguments over WorkflowTemplate arguments, parameter by parameter (as Argo does)."""
    out: dict[str, Any] = {}
    for kind in ("parameters", "artifacts"):
        merged: dict[str, Any] = {}
        for source in (base or {}, override or {}):
            for item in source.get(kind) or []:
                merged[item["name"]] = {**merged.get(item["name"], {}), **item}
        if merged:
            out[kind] = list(merged.values())
    return out


class PlanBuilder:
    def __init__(self, manifest: Manifest, mset: ManifestSet, root_id: str = "") -> None:
        self.manifest = manifest
        self.mset = mset
        # Non-empty when the workflow is rendered as a task group inside another DAG.
        self.root_id = root_id
        self.templates: dict[str, dict[str, Any]] = {}
        self.problems: list[Problem] = []
        self.global_outputs: dict[str, list[str]] = {}
        try:
            self.owner = effective_owner(manifest, mset)
        except ResolveError as exc:
            raise ManifestError(
                [manifest.problem(exc.code, exc.message, (*manifest.spec_path, "workflowTemplateRef"))]
            ) from None
        own_spec = _get(manifest.data, manifest.spec_path)
        if self.owner is manifest:
            self.spec = own_spec
        else:
            base = _get(self.owner.data, self.owner.spec_path)
            spec = _deep_merge(
                base, {k: v for k, v in own_spec.items() if k not in ("workflowTemplateRef", "arguments")}
            )
            spec["arguments"] = _merge_arguments(base.get("arguments"), own_spec.get("arguments"))
            self.spec = spec
        self.template_defaults: dict[str, Any] = self.spec.get("templateDefaults") or {}
        self.config_maps = {
            name: dict(obj.get("data") or {}) for (kind, name), obj in mset.resources.items() if kind == "ConfigMap"
        }
        self.workflow_retry: dict[str, Any] | None = self.spec.get("retryStrategy")

    # -- templates ---------------------------------------------------------------------------
    def template_key(self, handle: TemplateHandle) -> str:
        """Register the template's dictionary (defaults applied) and return its key."""
        owner = handle.owner
        key = f"{owner.kind}/{owner.name}/{format_path(handle.path[len(owner.spec_path) :])}"
        if key in self.templates:
            return key
        raw = _get(owner.data, handle.path)
        template = _deep_merge(self.template_defaults, raw) if self.template_defaults else copy.deepcopy(raw)
        body = next((b for b in _BODIES if b in template), None)
        if body not in ("steps", "dag") and self.workflow_retry and "retryStrategy" not in template:
            template["retryStrategy"] = copy.deepcopy(self.workflow_retry)
        self.templates[key] = template
        return key

    # -- nodes ---------------------------------------------------------------------------------
    def build(self) -> Plan:
        spec = self.spec
        manifest = self.manifest
        params = [
            ParamSpec(
                name=p["name"],
                value=p.get("value"),
                enum=p.get("enum"),
                description=p.get("description"),
                value_from=p.get("valueFrom"),
            )
            for p in (spec.get("arguments") or {}).get("parameters") or []
        ]
        root_invocation = {
            "template": spec.get("entrypoint"),
            "arguments": {
                "parameters": [{"name": p.name, "value": f"{{{{workflow.parameters.{p.name}}}}}"} for p in params],
                **(
                    {"artifacts": spec["arguments"]["artifacts"]}
                    if (spec.get("arguments") or {}).get("artifacts")
                    else {}
                ),
            },
        }
        entry = self._handle_by_name(spec.get("entrypoint") or "", (*manifest.spec_path, "entrypoint"))
        root = self._node(
            entry, root_invocation, caller=self.owner, name=manifest.name, node_id=self.root_id, in_mapped_group=False
        )
        if root.kind == "leaf":
            root.id = f"{self.root_id}.{manifest.name}" if self.root_id else manifest.name
        on_exit = None
        exit_name = spec.get("onExit")
        exit_hook = (spec.get("hooks") or {}).get("exit")
        if exit_name or exit_hook:
            invocation = exit_hook if exit_hook else {"template": exit_name}
            handle = self._resolve(self.owner, invocation, (*manifest.spec_path, "onExit"))
            exit_id = f"{self.root_id}.{ON_EXIT_ID}" if self.root_id else ON_EXIT_ID
            on_exit = self._node(
                handle, invocation, caller=self.owner, name="onExit", node_id=exit_id, in_mapped_group=False
            )
        if self.problems:
            raise ManifestError(self.problems)
        metadata = manifest.data.get("metadata") or {}
        annotations = dict(metadata.get("annotations") or {})
        workflow_lock = lock_of(spec.get("synchronization"), self.config_maps)
        plan = Plan(
            dag_id=manifest.dag_id,
            workflow_name=manifest.name,
            kind=manifest.kind,
            source=manifest.file,
            root=root,
            templates=self.templates,
            parameters=params,
            on_exit=on_exit,
            namespace=metadata.get("namespace"),
            labels=dict(metadata.get("labels") or {}),
            annotations=annotations,
            parallelism=spec.get("parallelism"),
            active_deadline_seconds=spec.get("activeDeadlineSeconds"),
            schedule=self._schedule(),
            pod_spec={k: copy.deepcopy(v) for k, v in spec.items() if k not in _NOT_POD_FIELDS},
            config_maps={
                name: dict(obj.get("data") or {})
                for (kind, name), obj in self.mset.resources.items()
                if kind == "ConfigMap"
            },
            description=annotations.get("workflows.argoproj.io/description"),
            generate_name=not metadata.get("name"),
            entrypoint=spec.get("entrypoint"),
            global_outputs=self.global_outputs,
            workflow_lock=workflow_lock.__dict__ if workflow_lock is not None else None,
            artifact_repository=self._artifact_repository(),
            metrics=copy.deepcopy(list((spec.get("metrics") or {}).get("prometheus") or [])),
            workflow_template=(
                None
                if self.owner is manifest
                else {"name": self.owner.name, "clusterScope": self.owner.kind == "ClusterWorkflowTemplate"}
            ),
        )
        return plan

    def _artifact_repository(self) -> dict[str, Any] | None:
        """``artifactRepositoryRef`` resolved from the folder's ConfigMaps (errors are the loader's)."""
        from airflow_argo_provider.manifest.artifact_repository import RepositoryError, from_config_maps

        maps = {name: obj for (kind, name), obj in self.mset.resources.items() if kind == "ConfigMap"}
        try:
            return from_config_maps(maps, self.spec.get("artifactRepositoryRef"))
        except RepositoryError:
            return None

    def _schedule(self) -> Schedule | None:
        if self.manifest.kind != "CronWorkflow":
            return None
        cron = self.manifest.data["spec"]
        return Schedule(
            crons=list(cron.get("schedules") or []),
            timezone=cron.get("timezone"),
            concurrency_policy=cron.get("concurrencyPolicy") or "Allow",
            suspend=bool(cron.get("suspend")),
            starting_deadline_seconds=cron.get("startingDeadlineSeconds"),
        )

    def _handle_by_name(self, name: str, path: Path) -> TemplateHandle:
        try:
            return by_name(self.owner, name)
        except ResolveError as exc:
            raise ManifestError([self.manifest.problem(exc.code, exc.message, path)]) from None

    def _resolve(self, caller: Manifest, invocation: dict[str, Any], path: Path) -> TemplateHandle:
        try:
            return resolve_invocation(caller, _InvocationView(invocation), path, self.mset)
        except ResolveError as exc:
            raise ManifestError([caller.problem(exc.code, exc.message, path)]) from None

    def _node(
        self,
        handle: TemplateHandle,
        invocation: dict[str, Any],
        *,
        caller: Manifest,
        name: str,
        node_id: str,
        in_mapped_group: bool,
        invocation_path: Path = (),
        step_group: int | None = None,
    ) -> Node:
        key = self.template_key(handle)
        template = self.templates[key]
        body = next((b for b in _BODIES if b in template), "container")
        kind = "steps" if body == "steps" else "dag" if body == "dag" else "leaf"
        continue_on = invocation.get("continueOn") or {}
        stop_on_failure = bool(template.get("failFast")) and kind != "leaf"
        node = Node(
            id=node_id,
            name=name,
            kind=kind,  # type: ignore[arg-type]
            body=body,
            template=key,
            arguments=invocation.get("arguments") or {},  # read-only from here on
            when=invocation.get("when"),
            loop=self._loop(invocation),
            continue_on_failed=bool(continue_on.get("failed")),
            continue_on_error=bool(continue_on.get("error")),
            step_group=step_group,
            stop_on_failure=stop_on_failure,
        )
        mapped_here = node.loop is not None
        if mapped_here and in_mapped_group:
            if kind != "leaf":
                self.problems.append(
                    handle.owner.problem(
                        "AAP112",
                        f"{name!r} fans out over a {kind} template inside a fanned-out group; "
                        "Airflow cannot map a task group inside a mapped task group",
                        invocation_path,
                    )
                )
            node.inline_loop = True
        child_in_mapped = in_mapped_group or (mapped_here and kind != "leaf")
        if kind == "steps":
            self._steps_children(node, handle, template, child_in_mapped)
        elif kind == "dag":
            self._dag_children(node, handle, template, child_in_mapped)
        else:
            self._leaf_outputs(node, template)
            lock = lock_of(template.get("synchronization"), self.config_maps)
            node.lock = lock.__dict__ if lock is not None else None
        hook = (invocation.get("hooks") or {}).get("exit")
        exit_template = invocation.get("onExit")
        if hook or exit_template:
            hook_invocation = hook if hook else {"template": exit_template}
            # Exit hooks are looked up where the invocation was written: in the caller's manifest.
            hook_handle = self._resolve(caller, hook_invocation, invocation_path)
            node.exit_hook = self._node(
                hook_handle,
                hook_invocation,
                caller=caller,
                name=f"{name}.onExit",
                node_id=f"{node_id or name}{EXIT_SUFFIX}",
                in_mapped_group=in_mapped_group,
                invocation_path=invocation_path,
            )
        return node

    def _child_id(self, parent: Node, name: str) -> str:
        return f"{parent.id}.{name}" if parent.id else name

    def _steps_children(self, node: Node, handle: TemplateHandle, template: dict[str, Any], in_mapped: bool) -> None:
        for g, group in enumerate(template["steps"]):
            for s, step in enumerate(group or []):
                path = (*handle.path, "steps", g, s)
                child_handle = self._resolve(handle.owner, step, path)
                node.children.append(
                    self._node(
                        child_handle,
                        step,
                        caller=handle.owner,
                        name=step["name"],
                        node_id=self._child_id(node, step["name"]),
                        in_mapped_group=in_mapped,
                        invocation_path=path,
                        step_group=g,
                    )
                )

    def _dag_children(self, node: Node, handle: TemplateHandle, template: dict[str, Any], in_mapped: bool) -> None:
        dag = template["dag"]
        tasks = dag.get("tasks") or []
        continue_on = {
            t["name"]: (bool((t.get("continueOn") or {}).get("failed")), bool((t.get("continueOn") or {}).get("error")))
            for t in tasks
        }
        node.fail_fast = dag.get("failFast", True) is not False
        target = dag.get("target")
        keep = {t["name"] for t in tasks}
        if target and "{{" in target:
            node.dynamic_target = target
        elif target:
            wanted = target.replace(",", " ").split()
            keep = _closure(wanted, {t["name"]: _task_deps(t) for t in tasks})
            node.targets = wanted
        for i, task in enumerate(tasks):
            if task["name"] not in keep:
                continue
            path = (*handle.path, "dag", "tasks", i)
            child_handle = self._resolve(handle.owner, task, path)
            child = self._node(
                child_handle,
                task,
                caller=handle.owner,
                name=task["name"],
                node_id=self._child_id(node, task["name"]),
                in_mapped_group=in_mapped,
                invocation_path=path,
            )
            if task.get("dependencies") is not None:
                deps = [d for d in task["dependencies"] if d in keep]
                child.depends = dependencies_to_depends(deps, continue_on) if deps else None
            elif task.get("depends"):
                child.depends = task["depends"]
            node.children.append(child)

    def _loop(self, invocation: dict[str, Any]) -> Loop | None:
        if invocation.get("withItems") is not None:
            return Loop(kind="items", items=list(invocation["withItems"]))
        if invocation.get("withSequence") is not None:
            seq = {k: str(v) for k, v in invocation["withSequence"].items() if v is not None}
            return Loop(kind="sequence", sequence=seq)
        if invocation.get("withParam") is not None:
            return Loop(kind="param", param=invocation["withParam"])
        return None

    def _leaf_outputs(self, node: Node, template: dict[str, Any]) -> None:
        for param in (template.get("outputs") or {}).get("parameters") or []:
            if param.get("globalName"):
                self.global_outputs.setdefault(param["globalName"], []).append(node.id)


class _InvocationView:
    """Attribute access over an invocation dict, for the shared template lookup."""

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data

    @property
    def inline(self) -> Any:
        inline = self._data.get("inline")
        return _TemplateView(inline) if inline is not None else None

    @property
    def template_ref(self) -> Any:
        ref = self._data.get("templateRef")
        return _RefView(ref) if ref is not None else None

    @property
    def template(self) -> str | None:
        return self._data.get("template")


class _RefView:
    def __init__(self, data: dict[str, Any]) -> None:
        self.name = data.get("name")
        self.template = data.get("template")
        self.cluster_scope = data.get("clusterScope")


class _TemplateView:
    def __init__(self, data: dict[str, Any]) -> None:
        self.name = data.get("name")
        self._data = data


def _task_deps(task: dict[str, Any]) -> list[str]:
    if task.get("dependencies") is not None:
        return list(task["dependencies"])
    if task.get("depends"):
        return depends_task_names(task["depends"])
    return []


def _closure(targets: list[str], deps: dict[str, list[str]]) -> set[str]:
    keep: set[str] = set()
    pending = list(targets)
    while pending:
        name = pending.pop()
        if name in keep or name not in deps:
            continue
        keep.add(name)
        pending.extend(deps[name])
    return keep


def build_plan(manifest: Manifest, mset: ManifestSet, root_id: str = "") -> Plan:
    """The plan of one Workflow, CronWorkflow or WorkflowTemplate (which must have no errors).

    ``root_id`` places the workflow in a task group of that id inside another DAG (the Python
    API): node ids, and so Airflow task ids, start with it.
    """
    errors = [p for p in manifest.problems if not p.note and p.code != "AAP013"]
    if errors:
        raise ManifestError(errors)
    return PlanBuilder(manifest, mset, root_id).build()
