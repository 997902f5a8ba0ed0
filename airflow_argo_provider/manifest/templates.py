"""Find the template a step, task, entrypoint or exit handler refers to.

Templates are looked up the way Argo does: by name in the manifest that holds the caller,
through ``templateRef`` in a (Cluster)WorkflowTemplate of the same folder tree, or inline.
The compiler and the checks both use this module, so they agree on what a name means.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hera.workflows import models as m

from airflow_argo_provider.manifest.yaml_source import Path

if TYPE_CHECKING:
    from airflow_argo_provider.manifest.loader import Manifest, ManifestSet

# The fields of a template that say what it does; a template has exactly one of them.
BODY_FIELDS = (
    "container",
    "script",
    "steps",
    "dag",
    "suspend",
    "http",
    "plugin",
    "resource",
    "data",
    "container_set",
)


def body_kind(template: m.Template) -> str | None:
    """Which body the template has (``container``, ``steps``, ...), or None."""
    kinds = body_kinds(template)
    return kinds[0] if len(kinds) == 1 else None


def body_kinds(template: m.Template) -> list[str]:
    return [name for name in BODY_FIELDS if getattr(template, name) is not None]


@dataclass(frozen=True)
class TemplateHandle:
    """A template together with the manifest it lives in and its path there."""

    owner: Manifest
    template: m.Template
    path: Path

    @property
    def name(self) -> str:
        return self.template.name or ""

    @property
    def kind(self) -> str | None:
        return body_kind(self.template)

    @property
    def key(self) -> tuple[int, str]:
        """Identity for recursion checks and caches (owner object, template path)."""
        return id(self.owner), ".".join(str(p) for p in self.path)


class ResolveError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def effective_owner(manifest: Manifest, mset: ManifestSet) -> Manifest:
    """The manifest whose templates a workflow runs: itself, or its ``workflowTemplateRef``."""
    spec = manifest.spec
    ref = getattr(spec, "workflow_template_ref", None) if spec is not None else None
    if ref is None:
        return manifest
    target = mset.find_template_manifest(ref.name or "", bool(ref.cluster_scope))
    kind = "ClusterWorkflowTemplate" if ref.cluster_scope else "WorkflowTemplate"
    if target is None:
        raise ResolveError("AAP021", f"workflowTemplateRef: {kind} {ref.name!r} is not in the folder tree")
    if target.spec is None:
        raise ResolveError(
            "AAP021",
            f"workflowTemplateRef: {kind} {ref.name!r} ({target.file}:{target.doc.line}) has errors of its own",
        )
    return target


def by_name(owner: Manifest, name: str) -> TemplateHandle:
    index = owner.template_index().get(name)
    if index is None:
        known = sorted(owner.template_index())
        hint = _suggest(name, known)
        raise ResolveError("AAP020", f"template {name!r} does not exist{hint}")
    template = owner.spec.templates[index]  # the index exists, so the spec does
    return TemplateHandle(owner, template, (*owner.spec_path, "templates", index))


def _suggest(name: str, known: list[str]) -> str:
    import difflib

    close = difflib.get_close_matches(name, known, n=1)
    return f"; did you mean {close[0]}?" if close else ""


def resolve_ref(ref: m.TemplateRef, mset: ManifestSet) -> TemplateHandle:
    """Resolve a ``templateRef`` against the WorkflowTemplates of the folder tree."""
    target = mset.find_template_manifest(ref.name or "", bool(ref.cluster_scope))
    kind = "ClusterWorkflowTemplate" if ref.cluster_scope else "WorkflowTemplate"
    if target is None:
        raise ResolveError("AAP021", f"templateRef: {kind} {ref.name!r} is not in the folder tree")
    if target.spec is None:
        raise ResolveError(
            "AAP021", f"templateRef: {kind} {ref.name!r} ({target.file}:{target.doc.line}) has errors of its own"
        )
    try:
        return by_name(target, ref.template or "")
    except ResolveError as exc:
        raise ResolveError("AAP021", f"templateRef: {kind} {ref.name!r}: {exc.message}") from None


def resolve_invocation(caller: Manifest, invocation: Any, invocation_path: Path, mset: ManifestSet) -> TemplateHandle:
    """The template that a step or DAG task (``template``/``templateRef``/``inline``) runs."""
    if getattr(invocation, "inline", None) is not None:
        return TemplateHandle(caller, invocation.inline, (*invocation_path, "inline"))
    if getattr(invocation, "template_ref", None) is not None:
        return resolve_ref(invocation.template_ref, mset)
    name = getattr(invocation, "template", None)
    if not name:
        raise ResolveError("AAP020", "names no template (set template, templateRef or inline)")
    return by_name(caller, name)


def hook_invocations(hooks: Any) -> dict[str, Any]:
    """Lifecycle hooks by event name (``exit``, or an expression)."""
    if not hooks:
        return {}
    return dict(hooks.items()) if isinstance(hooks, dict) else {}
