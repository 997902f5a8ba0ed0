"""The Argo features this provider does not run, found at load time.

Each feature is rejected with a stable code and a one-line reason, never ignored. A few
fields are accepted although they have no effect under Airflow (for example ``ttlStrategy``:
Airflow keeps run history until ``airflow db clean``); those are reported as notes
(codes from ``AAP200``), which do not fail validation.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from airflow_argo_provider.manifest.bodies import container_set_findings, resource_findings
from airflow_argo_provider.manifest.locks import LockError, lock_of
from airflow_argo_provider.manifest.plugins import plugin_findings
from airflow_argo_provider.manifest.yaml_source import Path

Finding = tuple[Path, str, str]

SUPPORTED_ARTIFACT_STORES: frozenset[str] = frozenset({"s3", "gcs", "azure", "git", "artifactory", "http", "raw"})
ALL_ARTIFACT_STORES = ("s3", "gcs", "azure", "oss", "hdfs", "git", "artifactory", "http", "raw", "plugin")
# Executor plugins run natively in the worker (their bodies are checked in manifest/plugins.py).
NATIVE_PLUGINS: frozenset[str] = frozenset({"sns"})

_TEMPLATE_BODIES = {
    "data": ("AAP102", "data templates (artifact transformations) are not run"),
}

_SPEC_NOTES = {
    "ttlStrategy": "has no effect: Airflow keeps run history until `airflow db clean`",
    "archiveLogs": "has no effect: Airflow keeps every task log",
    "priority": "has no effect: the run priority of the Argo controller has no Airflow equivalent",
    "podDisruptionBudget": "has no effect: no PodDisruptionBudget is created",
}
# Fields of Argo releases newer than the schema of the hera models in use: they are real Argo
# fields, so they are reported as unsupported rather than as misspellings.
NEWER_ARGO_FIELDS = {
    "podResources": "pod-level resources",
    "resourceClaims": "dynamic resource claims",
    "executorPlugins": "workflow-level executor plugins",
}

_SPEC_UNSUPPORTED = {
    "artifactGC": ("AAP113", "artifact garbage collection is not run"),
    "shutdown": ("AAP114", "shutdown is a run-time control of the Argo controller"),
}


def _lock_features(owner: dict[str, Any], path: Path, workflow: bool = False) -> Iterator[Finding]:
    """Locks run as Airflow pools: one per template, on leaf templates (or the workflow)."""
    sync = owner.get("synchronization")
    if not isinstance(sync, dict):
        return
    if not workflow and ("steps" in owner or "dag" in owner):
        yield (*path, "synchronization"), "AAP105", "synchronization on a steps/dag template is not enforced"
        return
    try:
        lock_of(sync, {})
    except LockError as exc:
        yield (*path, "synchronization"), "AAP105", f"synchronization: {exc}"


def unsupported_features(raw: dict[str, Any], spec_path: Path) -> Iterator[Finding]:
    """Yield ``(path, code, reason)`` for each unsupported feature of one manifest."""
    spec = _get(raw, spec_path)
    if not isinstance(spec, dict):
        return
    yield from _lock_features(spec, spec_path, workflow=True)
    for key, (code, reason) in _SPEC_UNSUPPORTED.items():
        if spec.get(key) is not None:
            yield (*spec_path, key), code, reason
    for key, what in NEWER_ARGO_FIELDS.items():
        if spec.get(key) is not None:
            yield (*spec_path, key), "AAP114", f"{key} ({what}, a newer Argo feature) is not supported"
    for key, reason in _SPEC_NOTES.items():
        if spec.get(key) is not None:
            yield (*spec_path, key), "AAP201", f"{key} {reason}"
    if spec.get("metrics") is not None:
        yield from _metric_findings(spec["metrics"], (*spec_path, "metrics"), "workflow")
    for template, path in _templates(spec, spec_path):
        yield from _template_features(template, path)


def _metric_findings(metrics: Any, path: Path, scope: str) -> Iterator[Finding]:
    """Metrics are emitted through OpenTelemetry (docs/metrics.md); what Argo refuses is AAP036,
    what it accepts but could never emit a note."""
    from airflow_argo_provider.manifest.metrics import problems

    for i, spec in enumerate((metrics or {}).get("prometheus") or [] if isinstance(metrics, dict) else []):
        for where, error, message in problems(spec, scope):
            yield (*path, "prometheus", i, *where), "AAP036" if error else "AAP201", message


def _get(node: Any, path: Path) -> Any:
    for part in path:
        if isinstance(node, dict) and isinstance(part, str):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            return None
    return node


def _templates(spec: dict[str, Any], spec_path: Path) -> Iterator[tuple[dict[str, Any], Path]]:
    """Every template of the spec: listed, defaults, and inline ones (at any depth)."""
    pending: list[tuple[Any, Path]] = [
        (t, (*spec_path, "templates", i)) for i, t in enumerate(spec.get("templates") or [])
    ]
    if isinstance(spec.get("templateDefaults"), dict):
        pending.append((spec["templateDefaults"], (*spec_path, "templateDefaults")))
    while pending:
        template, path = pending.pop(0)
        if not isinstance(template, dict):
            continue
        yield template, path
        for g, group in enumerate(template.get("steps") or []):
            for s, step in enumerate(group or []):
                if isinstance(step, dict) and isinstance(step.get("inline"), dict):
                    pending.append((step["inline"], (*path, "steps", g, s, "inline")))
        dag = template.get("dag")
        if isinstance(dag, dict):
            for t, task in enumerate(dag.get("tasks") or []):
                if isinstance(task, dict) and isinstance(task.get("inline"), dict):
                    pending.append((task["inline"], (*path, "dag", "tasks", t, "inline")))


def _template_features(template: dict[str, Any], path: Path) -> Iterator[Finding]:
    for key, what in NEWER_ARGO_FIELDS.items():
        if template.get(key) is not None:
            yield (*path, key), "AAP114", f"{key} ({what}, a newer Argo feature) is not supported"
    for key, (code, reason) in _TEMPLATE_BODIES.items():
        if template.get(key) is not None:
            yield (*path, key), code, reason
    if template.get("resource") is not None:
        yield from resource_findings(template, path)
    if template.get("containerSet") is not None:
        yield from container_set_findings(template, path)
    if template.get("daemon"):
        yield (*path, "daemon"), "AAP104", "daemon templates (kept running beside the workflow) are not run"
    if template.get("synchronization") is not None:
        yield from _lock_features(template, path)
    if template.get("memoize") is not None:
        yield (*path, "memoize"), "AAP106", "memoization (result caching in a ConfigMap) is not run"
    if template.get("metrics") is not None:
        yield from _metric_findings(template["metrics"], (*path, "metrics"), "template")
    suspend = template.get("suspend")
    if isinstance(suspend, dict) and not suspend.get("duration"):
        yield (*path, "suspend"), "AAP110", "suspend without duration waits for a manual resume, which is not run"
    plugin = template.get("plugin")
    if isinstance(plugin, dict):
        names = [n for n in plugin if n not in NATIVE_PLUGINS]
        if names:
            native = ", ".join(sorted(NATIVE_PLUGINS))
            yield (*path, "plugin"), "AAP108", f"executor plugin {names[0]!r} is not run (only {native})"
        elif len(plugin) != 1:
            yield (*path, "plugin"), "AAP029", "a plugin template names exactly one plugin"
        for name in plugin:
            if name in NATIVE_PLUGINS:
                yield from plugin_findings(str(name), plugin[name], (*path, "plugin", name))
    location = template.get("archiveLocation")
    if isinstance(location, dict):
        stores = [k for k in ALL_ARTIFACT_STORES if location.get(k) is not None and k != "s3"]
        if stores:
            yield (
                (*path, "archiveLocation", stores[0]),
                "AAP107",
                (
                    f"{stores[0]} archive locations are not supported (S3 is; {stores[0]} artifacts with a full location are)"
                ),
            )
        if location.get("archiveLogs"):
            yield (
                (*path, "archiveLocation", "archiveLogs"),
                "AAP201",
                ("archiveLogs has no effect: Airflow keeps every task log"),
            )
    for side in ("inputs", "outputs"):
        block = template.get(side)
        if not isinstance(block, dict):
            continue
        for i, artifact in enumerate(block.get("artifacts") or []):
            yield from _artifact_features(artifact, (*path, side, "artifacts", i))


def _artifact_features(artifact: Any, path: Path) -> Iterator[Finding]:
    if not isinstance(artifact, dict):
        return
    for store in ALL_ARTIFACT_STORES:
        if artifact.get(store) is not None and store not in SUPPORTED_ARTIFACT_STORES:
            yield (
                (*path, store),
                "AAP107",
                f"{store} artifacts are not supported (S3, GCS, Azure Blob, Git, Artifactory, HTTP and raw are)",
            )
            return
    if artifact.get("artifactGC") is not None:
        yield (*path, "artifactGC"), "AAP113", "artifact garbage collection is not run"
    if artifact.get("archiveLogs"):
        yield (*path, "archiveLogs"), "AAP201", "archiveLogs has no effect: Airflow keeps every task log"
