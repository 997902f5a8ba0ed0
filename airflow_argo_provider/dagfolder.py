"""The dags-folder helper: every Argo manifest under a folder becomes an Airflow DAG.

In a DAG file of Airflow's dags folder::

    from airflow_argo_provider import load_workflows

    globals().update(load_workflows("argo/"))

Relative paths are taken from the calling DAG file's folder. Every Workflow, CronWorkflow
and (runnable) WorkflowTemplate becomes one DAG; every Sensor (with its SQS EventSource) becomes
a dispatcher DAG, and the Workflow each of its triggers submits a DAG of its own. Manifests with
problems do not disappear: their problems (``FILE:LINE: CODE message``) become an Airflow import
error of the DAG file, while the valid manifests still load.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path
from typing import Any

from airflow.sdk import DAG

from airflow_argo_provider.manifest import ManifestError, Problem, load_paths
from airflow_argo_provider.manifest.loader import DAG_KINDS, internal_problem, manifest_files, runnable_manifest
from airflow_argo_provider.plan import cache
from airflow_argo_provider.plan.build import build_plan
from airflow_argo_provider.plan.model import Plan
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
    """The folder of the file that called ``load_workflows`` (a DAG file)."""
    frame = sys._getframe(1)
    here = str(Path(__file__).resolve())
    while frame is not None:
        filename = frame.f_code.co_filename
        if filename and not filename.startswith("<") and str(Path(filename).resolve()) != here:
            return Path(filename).resolve().parent
        frame = frame.f_back  # type: ignore[assignment]
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
    plans, compiled_problems = compile_folder(folder)
    problems = list(compiled_problems)
    dags: dict[str, Any] = {}
    for plan in plans:  # one DAG that Airflow refuses never takes the others down
        try:
            dags[plan.dag_id] = render_dag(plan, backend)
        except Exception as exc:
            problems.append(internal_problem(plan.source, 1, exc, f"rendering DAG {plan.dag_id!r} of"))
    try:
        dags.update(dispatcher_dags(folder, problems))
    except Exception as exc:
        problems.append(internal_problem(str(folder), 1, exc, "rendering the Sensors' dispatcher DAGs of"))
    if problems:
        holder = ManifestErrors(problems, str(folder))
        dags[holder.dag_id] = holder
    return dags


def dispatcher_dags(folder: Path, problems: list[Problem] | None = None) -> dict[str, Any]:
    """The dispatcher DAGs of the folder's (valid) Sensors: one workflow run per SQS message.

    A dispatcher that cannot be rendered is left out and reported in ``problems``."""
    from airflow_argo_provider.events.plan import compile_event_folder

    dispatches = compile_event_folder(folder)
    if not dispatches:
        return {}
    from airflow_argo_provider.events.render import render_dispatcher

    dags: dict[str, Any] = {}
    for dispatch in dispatches:
        try:
            dags[dispatch.dag_id] = render_dispatcher(dispatch)
        except Exception as exc:
            if problems is None:
                raise
            problems.append(
                internal_problem(dispatch.source_file or str(folder), 1, exc, "rendering the dispatcher of")
            )
    return dags


def compile_folder(folder: Path) -> tuple[list[Plan], list[Problem]]:
    """The plans of every runnable manifest under ``folder`` and the problems of the others.

    Cached by the contents of the folder's manifest files (see :mod:`airflow_argo_provider.plan.cache`).
    """
    files, _ = manifest_files([folder])
    key = cache.key_for(files, extra=str(folder))
    cached = cache.load(key)
    if cached is not None:
        return cached
    mset = load_paths([folder])
    problems = list(mset.errors)
    plans: list[Plan] = []
    for manifest in mset.by_kind(*DAG_KINDS):
        if not manifest.ok:
            continue
        if manifest.kind == "WorkflowTemplate" and not (manifest.spec.entrypoint if manifest.spec else None):
            continue  # a library of templates, nothing to run
        try:
            plans.append(build_plan(manifest, mset))
        except ManifestError as exc:
            problems.extend(exc.problems)
        except Exception as exc:  # one manifest never takes the others down
            problems.append(manifest.internal_problem(exc, "compiling"))
    problems = sorted(set(problems), key=lambda p: (p.file, p.line, p.code, p.message))
    cache.store(key, plans, problems)
    return plans, problems


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
    # A DAG id shared with another manifest of the folder (AAP013) does not matter for one manifest.
    errors = [p for p in manifest.problems if not p.note and p.code != "AAP013"]
    if errors:
        raise ManifestError(errors)
    if entrypoint:
        spec = manifest.data["spec"]["workflowSpec"] if manifest.kind == "CronWorkflow" else manifest.data["spec"]
        spec["entrypoint"] = entrypoint
    plan = build_plan(manifest, mset)
    return {plan.dag_id: render_dag(plan, backend)}
