"""The dags-folder helper: every Argo manifest under a folder becomes an Airflow DAG.

In a DAG file of Airflow's dags folder::

    from airflow_argo_provider import load_workflows

    globals().update(load_workflows("argo/"))

Relative paths are taken from the calling DAG file's folder. Every Workflow, CronWorkflow
and (runnable) WorkflowTemplate becomes one DAG. Manifests with problems do not disappear:
their problems (``FILE:LINE: CODE message``) become an Airflow import error of the DAG file,
while the valid manifests still load.
"""

from __future__ import annotations

import hashlib
import inspect
import os
from pathlib import Path
from typing import Any

from airflow.sdk import DAG

from airflow_argo_provider.manifest import ManifestError, Problem, load_paths
from airflow_argo_provider.manifest.loader import DAG_KINDS, runnable_manifest
from airflow_argo_provider.plan.build import build_plan
from airflow_argo_provider.render.dag import render_dag


class ManifestErrors(DAG):
    """Carries manifest problems into Airflow: validating it raises them as an import error."""

    def __init__(self, problems: list[Problem], source: str) -> None:
        digest = hashlib.sha1(source.encode()).hexdigest()[:8]
        super().__init__(dag_id=f"argo_manifest_errors_{digest}", schedule=None)
        self.problems = problems

    def validate(self) -> None:
        raise ManifestError(self.problems)


def _caller_dir() -> Path:
    for frame in inspect.stack()[2:]:
        filename = frame.filename
        if filename and not filename.startswith("<") and Path(filename).resolve() != Path(__file__).resolve():
            return Path(filename).resolve().parent
    return Path.cwd()


def load_workflows(path: str | os.PathLike[str], backend: str | None = None) -> dict[str, Any]:
    """DAGs for every manifest under ``path`` (a folder or a file), keyed by DAG id.

    ``backend`` is ``local`` or ``kubernetes`` (default: ``[argo] backend``). When some
    manifests have problems, the result also holds one object that makes Airflow report them
    as an import error of the calling DAG file; the valid manifests' DAGs load normally.
    """
    folder = Path(path)
    if not folder.is_absolute():
        folder = _caller_dir() / folder
    mset = load_paths([folder])
    problems = list(mset.errors)
    dags: dict[str, Any] = {}
    for manifest in mset.by_kind(*DAG_KINDS):
        if not manifest.ok:
            continue
        if manifest.kind == "WorkflowTemplate" and not (manifest.spec.entrypoint if manifest.spec else None):
            continue  # a library of templates, nothing to run
        try:
            plan = build_plan(manifest, mset)
        except ManifestError as exc:
            problems.extend(exc.problems)
            continue
        dags[plan.dag_id] = render_dag(plan, backend)
    if problems:
        holder = ManifestErrors(sorted(set(problems), key=lambda p: (p.file, p.line, p.code)), str(folder))
        dags[holder.dag_id] = holder
    return dags


def load_manifest_dag(
    file: str, *, backend: str | None = None, entrypoint: str | None = None, library: str | None = None
) -> dict[str, Any]:
    """The DAG of the runnable manifest in ``file`` (used by ``airflow-argo run``).

    ``library`` is the folder whose WorkflowTemplates ``templateRef`` may use (default: the
    file's folder). ``entrypoint`` replaces the manifest's ``spec.entrypoint``.
    """
    root = Path(library).resolve() if library else Path(file).resolve().parent
    target = Path(file).resolve()
    mset = load_paths([root] if target.is_relative_to(root) else [root, target])
    manifest = runnable_manifest(mset, file, entrypoint)
    if manifest is None:
        raise ManifestError([Problem("AAP027", "no runnable Workflow, CronWorkflow or WorkflowTemplate", file, 1)])
    errors = [p for p in manifest.problems if not p.note]
    if errors:
        raise ManifestError(errors)
    if entrypoint:
        spec = manifest.data["spec"]["workflowSpec"] if manifest.kind == "CronWorkflow" else manifest.data["spec"]
        spec["entrypoint"] = entrypoint
    plan = build_plan(manifest, mset)
    return {plan.dag_id: render_dag(plan, backend)}
