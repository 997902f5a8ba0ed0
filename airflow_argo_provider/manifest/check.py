"""Checks that need a whole manifest, or the whole folder tree, to decide.

Names, references, DAG shape (cycles, unknown dependencies), recursion, expression syntax
and the features this provider does not run. Every problem carries file, line and field
path; nothing here raises for a user mistake.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from hera.workflows import models as m

from airflow_argo_provider.expressions import ExpressionError, check_template, depends_task_names
from airflow_argo_provider.manifest.artifacts import artifact_problems
from airflow_argo_provider.manifest.graph import find_cycle
from airflow_argo_provider.manifest.lint import cron_findings, spec_findings
from airflow_argo_provider.manifest.loader import (
    DAG_ID_ANNOTATION,
    DAG_KINDS,
    EVENT_KINDS,
    TEMPLATE_KINDS,
    WORKFLOW_KINDS,
    Manifest,
    ManifestSet,
)
from airflow_argo_provider.manifest.problems import Problem
from airflow_argo_provider.manifest.references import ReferenceChecker, global_outputs
from airflow_argo_provider.manifest.support import unsupported_features
from airflow_argo_provider.manifest.templates import (
    ResolveError,
    TemplateHandle,
    body_kinds,
    by_name,
    effective_owner,
    resolve_invocation,
)
from airflow_argo_provider.manifest.yaml_source import Path

# Deepest chain of steps/DAG templates calling each other (each level is a task group in Airflow).
MAX_CALL_DEPTH = 50


def check_set(mset: ManifestSet, kubernetes_names: bool = True) -> None:
    """Run every check on every manifest of ``mset``; problems land on the manifests.

    Each manifest is checked on its own: an unexpected failure becomes that manifest's problem
    (AAP008), never an exception that would take the other manifests of the folder down.
    ``kubernetes_names=False`` (workflows built by the Python API, named by Airflow ids) skips
    the Kubernetes and ``argo lint`` rules for ``metadata.name``.
    """
    _check_duplicate_names(mset)
    if kubernetes_names:
        for manifest in mset.manifests:
            manifest.problems.extend(name_problems(manifest))
    for manifest in mset.manifests:
        if manifest.kind in EVENT_KINDS or manifest.model is None or manifest.spec is None:
            continue
        checker = _Checker(manifest, mset)
        try:
            checker.run()
        except Exception as exc:
            checker.problems.append(manifest.internal_problem(exc))
        manifest.problems.extend(checker.problems)
    if any(manifest.kind in EVENT_KINDS for manifest in mset.manifests):
        from airflow_argo_provider.manifest.events import check_event_manifests  # hera's events models: slow import

        check_event_manifests(mset)


# Kubernetes object names (DNS-1123 subdomains); Argo's lint limits workflow names to 63 characters (52 for a
# CronWorkflow, whose runs append a timestamp). Airflow's DAG ids: at most 250 word characters, '.', '-'.
_K8S_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DAG_ID = re.compile(r"^[\w.-]+$")
_NAME_LIMITS = {"CronWorkflow": 52, "Workflow": 63, "WorkflowTemplate": 63, "ClusterWorkflowTemplate": 63}
_K8S_NAME_LIMIT = 253
_DAG_ID_LIMIT = 250


def name_problems(manifest: Manifest) -> list[Problem]:
    """AAP014 for a name Kubernetes, Argo or Airflow would reject (checked before Airflow sees it)."""
    meta = manifest.raw.get("metadata")
    if not isinstance(meta, dict):
        return []
    problems: list[Problem] = []
    limit = _NAME_LIMITS.get(manifest.kind, _K8S_NAME_LIMIT)
    for key in ("name", "generateName"):
        value = meta.get(key)
        if not isinstance(value, str) or not value:
            continue
        text = value if key == "name" else value.rstrip("-").lower()
        shown = value if len(value) <= 70 else value[:60] + "..."
        if len(value) > limit:
            problems.append(
                manifest.problem(
                    "AAP014",
                    f"{shown!r} has {len(value)} characters; a {manifest.kind} name has at most {limit}",
                    ("metadata", key),
                )
            )
        elif text and not _K8S_NAME.match(text):
            problems.append(
                manifest.problem(
                    "AAP014",
                    f"{shown!r} is not a Kubernetes name: lower-case letters, digits, '-' and '.', starting and "
                    "ending with a letter or digit",
                    ("metadata", key),
                )
            )
    annotations = meta.get("annotations")
    if isinstance(annotations, dict) and DAG_ID_ANNOTATION in annotations:
        dag_id = annotations[DAG_ID_ANNOTATION]
        if not isinstance(dag_id, str) or len(dag_id) > _DAG_ID_LIMIT or not _DAG_ID.match(dag_id):
            problems.append(
                manifest.problem(
                    "AAP014",
                    f"{str(dag_id)[:70]!r} is not an Airflow DAG id: at most {_DAG_ID_LIMIT} letters, digits, "
                    "'_', '.' and '-'",
                    ("metadata", "annotations", DAG_ID_ANNOTATION),
                )
            )
    return problems


def _check_duplicate_names(mset: ManifestSet) -> None:
    """Workflows, CronWorkflows, WorkflowTemplates and Sensors become DAGs: their ids must be unique.

    (Cluster)WorkflowTemplates are also looked up by name, so they must be unique per kind.
    """
    seen: dict[tuple[str, str], Manifest] = {}
    for manifest in mset.manifests:
        if not manifest.name:
            continue
        keys = []
        if manifest.kind in DAG_KINDS or manifest.kind == "Sensor":  # a Sensor becomes a dispatcher DAG
            keys.append(("dag", manifest.dag_id))
        if manifest.kind in TEMPLATE_KINDS:
            keys.append((manifest.kind, manifest.name))
        for key in keys:
            first = seen.setdefault(key, manifest)
            if first is manifest:
                continue
            what = "DAG id" if key[0] == "dag" else f"{manifest.kind} name"
            manifest.problems.append(
                manifest.problem(
                    "AAP013",
                    f"{what} {key[1]!r} is also used by {first.kind} at {first.file}:{first.doc.line}; "
                    f"set a different metadata.name, or the annotation {DAG_ID_ANNOTATION}",
                    ("metadata",),
                )
            )
            break


class _Checker:
    def __init__(self, manifest: Manifest, mset: ManifestSet) -> None:
        self.manifest = manifest
        self.mset = mset
        self.problems: list[Problem] = []
        self._visiting: list[tuple[int, str]] = []
        self._done: set[tuple[int, str]] = set()

    def add(self, code: str, message: str, path: Path, owner: Manifest | None = None) -> None:
        where = owner or self.manifest
        problem = where.problem(code, message, path)
        if problem not in self.problems:
            self.problems.append(problem)

    # -- whole manifest ----------------------------------------------------------------
    def run(self) -> None:
        manifest = self.manifest
        spec = manifest.spec
        spec_path = manifest.spec_path
        for path, code, reason in unsupported_features(manifest.raw, spec_path):
            self.add(code, reason, path)
        config_maps = {name: obj for (kind, name), obj in self.mset.resources.items() if kind == "ConfigMap"}
        for path, code, reason in artifact_problems(manifest.raw, spec_path, config_maps):
            self.add(code, reason, path)
        self._check_values(owner_or_none(manifest, self.mset))
        self._check_template_names()
        for index, template in enumerate(spec.templates or []):
            self._check_template(TemplateHandle(manifest, template, (*spec_path, "templates", index)))
        self._check_arguments(spec.arguments, (*spec_path, "arguments"))
        try:
            owner = effective_owner(manifest, self.mset)
        except ResolveError as exc:
            self.add(exc.code, exc.message, (*spec_path, "workflowTemplateRef"))
            return
        entrypoint = spec.entrypoint or (owner.spec.entrypoint if owner is not manifest else None)
        if entrypoint:
            self._check_root(owner, entrypoint, (*spec_path, "entrypoint"))
        elif manifest.kind in WORKFLOW_KINDS:
            self.add("AAP027", "spec.entrypoint is required", spec_path)
        on_exit = spec.on_exit or (owner.spec.on_exit if owner is not manifest else None)
        if on_exit:
            self._check_root(owner, on_exit, (*spec_path, "onExit"))
        for event, hook in (spec.hooks or {}).items():
            self._check_hook(owner, event, hook, (*spec_path, "hooks", event))

    def _check_values(self, owner: Manifest | None) -> None:
        """What ``argo lint`` rejects in values: enumerations, sequences, schedules, references."""
        manifest = self.manifest
        data = manifest.data
        spec = data.get("spec") if isinstance(data, dict) else None
        if manifest.kind == "CronWorkflow" and isinstance(spec, dict):
            raw_spec = manifest.raw.get("spec")
            deprecated = isinstance(raw_spec, dict) and "schedule" in raw_spec and "schedules" not in raw_spec
            for path, code, reason in cron_findings(spec, ("spec",)):
                if deprecated and path[:2] == ("spec", "schedules"):
                    path = ("spec", "schedule")  # written the deprecated way
                self.add(code, reason, path)
            spec = spec.get("workflowSpec")
        if not isinstance(spec, dict):
            return
        for path, code, reason in spec_findings(spec, manifest.spec_path):
            self.add(code, reason, path)
        parameters: list[str] | None = None
        if manifest.kind in WORKFLOW_KINDS:
            parameters = _parameter_names(spec)
            if owner is not None and owner is not manifest:
                owner_spec = owner.data.get("spec") if isinstance(owner.data, dict) else None
                parameters += _parameter_names(owner_spec if isinstance(owner_spec, dict) else {})
            elif owner is None:
                parameters = None  # its workflowTemplateRef is reported on its own
        uses_refs = owner is not manifest or _mentions_template_ref(spec)
        checker = ReferenceChecker(
            spec,
            manifest.spec_path,
            workflow_parameters=parameters,
            global_outputs=None if uses_refs else global_outputs(list(spec.get("templates") or [])),
            resolve=lambda invocation: self._raw_template(invocation, spec),
        )
        for path, code, reason in checker.run():
            self.add(code, reason, path)

    def _raw_template(self, invocation: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any] | None:
        """The raw template a step or task runs (inline, templateRef, or by name), or None."""
        if isinstance(invocation.get("inline"), dict):
            return dict(invocation["inline"])
        ref = invocation.get("templateRef")
        if isinstance(ref, dict):
            target = self.mset.find_template_manifest(str(ref.get("name") or ""), bool(ref.get("clusterScope")))
            target_spec = target.data.get("spec") if target is not None and isinstance(target.data, dict) else None
            return _by_name(target_spec, ref.get("template"))
        return _by_name(spec, invocation.get("template"))

    def _check_root(self, owner: Manifest, name: str, path: Path) -> None:
        try:
            handle = by_name(owner, name)
        except ResolveError as exc:
            self.add(exc.code, exc.message, path)
            return
        self._walk(handle, path)

    def _check_hook(self, owner: Manifest, event: str, hook: m.LifecycleHook, path: Path) -> None:
        if event != "exit":
            self.add("AAP111", f"lifecycle hook {event!r} is not run (only `exit` hooks are)", path)
            return
        try:
            handle = resolve_invocation(owner, hook, path, self.mset)
        except ResolveError as exc:
            self.add(exc.code, exc.message, path)
            return
        self._walk(handle, path)

    def _check_template_names(self) -> None:
        seen: set[str] = set()
        for index, template in enumerate(self.manifest.spec.templates or []):
            path = (*self.manifest.spec_path, "templates", index, "name")
            if not template.name:
                self.add("AAP010", "template name is required", path)
            elif template.name in seen:
                self.add("AAP023", f"template name {template.name!r} is used more than once", path)
            seen.add(template.name or "")

    # -- one template ------------------------------------------------------------------
    def _check_template(self, handle: TemplateHandle) -> None:
        template, path = handle.template, handle.path
        kinds = body_kinds(template)
        if len(kinds) != 1:
            found = ", ".join(kinds) if kinds else "none"
            self.add(
                "AAP029",
                f"a template needs exactly one body (container, script, steps, dag, suspend, http, ...); found {found}",
                path,
                handle.owner,
            )
        self._check_strings(template, path, handle.owner)
        if template.steps is not None:
            self._check_steps(handle)
        if template.dag is not None:
            self._check_dag(handle)

    def _check_steps(self, handle: TemplateHandle) -> None:
        names: set[str] = set()
        for g, group in enumerate(handle.template.steps or []):
            for s, step in enumerate(group.root):
                path = (*handle.path, "steps", g, s)
                if not step.name:
                    self.add("AAP010", "step name is required", (*path, "name"), handle.owner)
                elif step.name in names:
                    self.add(
                        "AAP023",
                        f"step name {step.name!r} is used more than once in template {handle.name!r}",
                        (*path, "name"),
                        handle.owner,
                    )
                names.add(step.name or "")
                self._check_invocation(handle.owner, step, path)

    def _check_dag(self, handle: TemplateHandle) -> None:
        dag = handle.template.dag
        assert dag is not None
        tasks = dag.tasks or []
        names = [t.name for t in tasks]
        index: dict[str, int] = {}
        for i, name in enumerate(names):
            index.setdefault(name, i)
        edges: dict[str, list[str]] = {name: [] for name in names}
        for i, task in enumerate(tasks):
            path = (*handle.path, "dag", "tasks", i)
            if index[task.name] != i:
                self.add(
                    "AAP023",
                    f"task name {task.name!r} is used more than once in template {handle.name!r}",
                    (*path, "name"),
                    handle.owner,
                )
            if task.dependencies is not None and task.depends is not None:
                self.add("AAP024", "use either dependencies or depends, not both", (*path, "depends"), handle.owner)
            deps: list[tuple[str, Path]] = [
                (d, (*path, "dependencies", j)) for j, d in enumerate(task.dependencies or [])
            ]
            if task.depends is not None:
                try:
                    deps += [(d, (*path, "depends")) for d in depends_task_names(task.depends)]
                except ExpressionError as exc:
                    self.add("AAP028", f"depends: {exc}", (*path, "depends"), handle.owner)
            for dep, dep_path in deps:
                if dep not in index:
                    self.add(
                        "AAP025",
                        f"task {task.name!r} depends on {dep!r}, which is not a task of template {handle.name!r}",
                        dep_path,
                        handle.owner,
                    )
                elif dep not in edges[task.name]:
                    edges[task.name].append(dep)
            self._check_invocation(handle.owner, task, path)
        for target in (dag.target or "").replace(",", " ").split():
            if "{{" not in target and target not in index:
                self.add(
                    "AAP025",
                    f"target {target!r} is not a task of template {handle.name!r}",
                    (*handle.path, "dag", "target"),
                    handle.owner,
                )
        cycle = find_cycle(edges)
        if cycle:
            first = cycle[0]
            self.add(
                "AAP022",
                "tasks depend on each other in a cycle: " + " -> ".join(cycle),
                (*handle.path, "dag", "tasks", index[first]),
                handle.owner,
            )

    def _check_invocation(self, owner: Manifest, invocation: Any, path: Path) -> None:
        loops = [k for k in ("with_items", "with_param", "with_sequence") if getattr(invocation, k) is not None]
        if len(loops) > 1:
            self.add("AAP030", "use only one of withItems, withParam and withSequence", path, owner)
        sequence = invocation.with_sequence
        if sequence is not None and sequence.count is not None and sequence.end is not None:
            self.add("AAP030", "withSequence takes count or end, not both", (*path, "withSequence"), owner)
        for field in ("when", "with_param"):
            value = getattr(invocation, field)
            if value:
                self._check_text(value, (*path, "when" if field == "when" else "withParam"), owner)
        self._check_arguments(invocation.arguments, (*path, "arguments"), owner)
        for event, hook in (invocation.hooks or {}).items():
            hook_path = (*path, "hooks", event)
            if event != "exit":
                self.add("AAP111", f"lifecycle hook {event!r} is not run (only `exit` hooks are)", hook_path, owner)
                continue
            try:
                resolve_invocation(owner, hook, hook_path, self.mset)
            except ResolveError as exc:
                self.add(exc.code, exc.message, hook_path, owner)
        if invocation.on_exit:
            try:
                by_name(owner, invocation.on_exit)
            except ResolveError as exc:
                self.add(exc.code, exc.message, (*path, "onExit"), owner)
        try:
            resolve_invocation(owner, invocation, path, self.mset)
        except ResolveError as exc:
            self.add(exc.code, exc.message, (*path, "templateRef" if invocation.template_ref else "template"), owner)

    def _check_arguments(self, arguments: Any, path: Path, owner: Manifest | None = None) -> None:
        if arguments is None:
            return
        for i, param in enumerate(arguments.parameters or []):
            if param.value is not None:
                self._check_text(param.value, (*path, "parameters", i, "value"), owner)

    def _check_strings(self, template: m.Template, path: Path, owner: Manifest) -> None:
        """Syntax of ``{{...}}`` tags in the leaf fields users write most."""
        for field_path, text in _template_strings(template, path):
            self._check_text(text, field_path, owner)

    def _check_text(self, text: str, path: Path, owner: Manifest | None = None) -> None:
        try:
            check_template(text)
        except ExpressionError as exc:
            self.add("AAP028", str(exc), path, owner)

    # -- recursion over the invocation graph ----------------------------------------------
    def _walk(self, root: TemplateHandle, via: Path) -> None:
        """Follow the invocations from ``root`` depth-first (with an explicit stack: a manifest can
        chain any number of templates), reporting recursion and chains deeper than MAX_CALL_DEPTH."""
        if root.key in self._done:
            return
        self._visiting = [root.key]
        stack: list[tuple[TemplateHandle, Path, Iterator[tuple[Any, Path]]]] = [(root, via, _invocations(root))]
        while stack:
            handle, handle_via, children = stack[-1]
            step = next(children, None)
            if step is None:
                stack.pop()
                self._visiting.pop()
                self._done.add(handle.key)
                continue
            invocation, path = step
            try:
                child = resolve_invocation(handle.owner, invocation, path, self.mset)
            except ResolveError:
                continue  # reported where the invocation itself is checked
            # Report at the invocation in this manifest, even when the loop closes elsewhere.
            child_via = path if handle.owner is self.manifest else handle_via
            if child.key in self._done:
                continue
            if child.key in self._visiting:
                self.add("AAP026", f"template {child.name!r} invokes itself (recursion is not compiled)", child_via)
                continue
            if len(stack) >= MAX_CALL_DEPTH:
                self.add(
                    "AAP006",
                    f"templates call each other more than {MAX_CALL_DEPTH} levels deep (at {child.name!r})",
                    child_via,
                )
                self._visiting = []
                return
            self._visiting.append(child.key)
            stack.append((child, child_via, _invocations(child)))


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def owner_or_none(manifest: Manifest, mset: ManifestSet) -> Manifest | None:
    """The manifest whose templates ``manifest`` runs, or None when its workflowTemplateRef does not resolve."""
    try:
        return effective_owner(manifest, mset)
    except ResolveError:
        return None


def _parameter_names(spec: dict[str, Any]) -> list[str]:
    arguments = _mapping(spec.get("arguments"))
    return [str(p["name"]) for p in arguments.get("parameters") or [] if isinstance(p, dict) and p.get("name")]


def _mentions_template_ref(spec: dict[str, Any]) -> bool:
    return "templateRef" in repr(spec.get("templates"))


def _by_name(spec: Any, name: Any) -> dict[str, Any] | None:
    if not isinstance(spec, dict) or not isinstance(name, str):
        return None
    for template in spec.get("templates") or []:
        if isinstance(template, dict) and template.get("name") == name:
            return template
    return None


def _invocations(handle: TemplateHandle) -> Iterator[tuple[Any, Path]]:
    template = handle.template
    for g, group in enumerate(template.steps or []):
        for s, step in enumerate(group.root):
            yield step, (*handle.path, "steps", g, s)
    if template.dag is not None:
        for i, task in enumerate(template.dag.tasks or []):
            yield task, (*handle.path, "dag", "tasks", i)


def _template_strings(template: m.Template, path: Path) -> Iterator[tuple[Path, str]]:
    for kind in ("container", "script"):
        body = getattr(template, kind)
        if body is None:
            continue
        for field in ("command", "args"):
            for i, text in enumerate(getattr(body, field) or []):
                yield (*path, kind, field, i), text
        if kind == "script" and body.source:
            yield (*path, kind, "source"), body.source
        for i, env in enumerate(body.env or []):
            if env.value:
                yield (*path, kind, "env", i, "value"), env.value
    if template.http is not None:
        if template.http.url:
            yield (*path, "http", "url"), template.http.url
        if template.http.body:
            yield (*path, "http", "body"), template.http.body
    for i, param in enumerate((template.outputs.parameters if template.outputs else None) or []):
        vf = param.value_from
        if vf is not None and vf.parameter:
            yield (*path, "outputs", "parameters", i, "valueFrom", "parameter"), vf.parameter
        if vf is not None and vf.expression:
            yield (*path, "outputs", "parameters", i, "valueFrom", "expression"), "{{=" + vf.expression + "}}"
