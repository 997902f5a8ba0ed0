"""Strict checks of the ``resource`` and ``containerSet`` template bodies.

hera's models check the field names and types; this module checks what Argo's own validation
and this provider's run-time need: an ``action`` Argo knows, exactly one manifest source,
conditions in Kubernetes label-selector syntax, output parameters a resource template can
produce (``jsonPath``, ``jqFilter``), and for a container set unique container names,
dependencies on containers of the set without cycles, and a container named ``main`` when the
template has outputs.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from airflow_argo_provider.expressions import ExpressionError, check_template
from airflow_argo_provider.manifest.durations import parse_duration
from airflow_argo_provider.manifest.graph import find_cycle
from airflow_argo_provider.manifest.resource_syntax import (
    ACTIONS,
    MERGE_STRATEGIES,
    ResourceError,
    check_jq,
    check_jsonpath,
    parse_conditions,
)
from airflow_argo_provider.manifest.yaml_source import Path, YamlSyntaxError, load_all

Finding = tuple[Path, str, str]


def _tags(value: Any, path: Path) -> Iterator[Finding]:
    if isinstance(value, str) and "{{" in value:
        try:
            check_template(value)
        except ExpressionError as exc:
            yield path, "AAP028", str(exc)


def resource_findings(template: dict[str, Any], path: Path) -> Iterator[Finding]:
    """Problems of a ``resource`` template (``path`` is the template's)."""
    body = template.get("resource")
    where = (*path, "resource")
    if not isinstance(body, dict):
        yield where, "AAP010", "resource needs a mapping with action and manifest"
        return
    action = body.get("action")
    if action in (None, ""):
        yield (*where, "action"), "AAP010", f"required field is missing (one of {', '.join(ACTIONS)})"
    elif action not in ACTIONS:
        yield (*where, "action"), "AAP010", f"unknown action {action!r} (one of {', '.join(ACTIONS)})"
    manifest = body.get("manifest")
    source = body.get("manifestFrom")
    flags = body.get("flags") or []
    if manifest not in (None, "") and source is not None:
        yield (*where, "manifestFrom"), "AAP010", "set manifest or manifestFrom, not both"
    elif manifest in (None, "") and source is None and not flags:
        yield where, "AAP010", "a resource template needs manifest or manifestFrom (or flags naming the object)"
    strategy = body.get("mergeStrategy")
    if strategy not in (None, "") and strategy not in MERGE_STRATEGIES:
        yield (*where, "mergeStrategy"), "AAP010", f"unknown mergeStrategy {strategy!r} ({', '.join(MERGE_STRATEGIES)})"
    if isinstance(manifest, str) and manifest:
        if "{{" in manifest:
            yield from _tags(manifest, (*where, "manifest"))
        else:
            yield from _literal_manifest(manifest, action, strategy, bool(flags), (*where, "manifest"))
    if isinstance(source, dict):
        artifact = (source.get("artifact") or {}).get("name") if isinstance(source.get("artifact"), dict) else None
        inputs = {a.get("name") for a in (template.get("inputs") or {}).get("artifacts") or [] if isinstance(a, dict)}
        if not artifact:
            yield (*where, "manifestFrom", "artifact"), "AAP010", "manifestFrom needs artifact.name"
        elif artifact not in inputs:
            known = ", ".join(sorted(str(n) for n in inputs if n)) or "none"
            yield (
                (*where, "manifestFrom", "artifact", "name"),
                "AAP031",
                f"manifestFrom names input artifact {artifact!r}, which the template does not declare (inputs: {known})",
            )
    for key in ("successCondition", "failureCondition"):
        value = body.get(key)
        if not isinstance(value, str) or not value:
            continue
        if "{{" in value:
            yield from _tags(value, (*where, key))
            continue
        try:
            parse_conditions(value)
        except ResourceError as exc:
            yield (*where, key), "AAP028", str(exc)
    for index, flag in enumerate(flags):
        yield from _tags(flag, (*where, "flags", index))
    if body.get("setOwnerReference"):
        yield (
            (*where, "setOwnerReference"),
            "AAP201",
            "setOwnerReference has no effect: no Workflow object owns the object under Airflow (it is labelled "
            "with the run's dag_id and run_id instead)",
        )
    outputs: dict[str, Any] = template["outputs"] if isinstance(template.get("outputs"), dict) else {}
    for index, param in enumerate(outputs.get("parameters") or []):
        if not isinstance(param, dict):
            continue
        value_from = param.get("valueFrom")
        at = (*path, "outputs", "parameters", index, "valueFrom")
        if not isinstance(value_from, dict):
            continue
        if value_from.get("path"):
            yield (
                (*at, "path"),
                "AAP010",
                "a resource template writes no files: read the object with jsonPath or jqFilter",
            )
        if isinstance(value_from.get("jsonPath"), str):
            try:
                check_jsonpath(value_from["jsonPath"])
            except ResourceError as exc:
                yield (*at, "jsonPath"), "AAP028", str(exc)
        if isinstance(value_from.get("jqFilter"), str):
            try:
                check_jq(value_from["jqFilter"])
            except ResourceError as exc:
                yield (*at, "jqFilter"), "AAP028", str(exc)
    if outputs.get("artifacts"):
        yield (*path, "outputs", "artifacts"), "AAP010", "a resource template has no output artifacts"


def _literal_manifest(text: str, action: Any, strategy: Any, flags: bool, path: Path) -> Iterator[Finding]:
    try:
        documents = load_all(text)
    except YamlSyntaxError as exc:
        yield path, exc.code if exc.code != "AAP001" else "AAP010", f"the manifest is not valid YAML: {exc.message}"
        return
    if len(documents) != 1:
        yield path, "AAP010", f"the manifest holds {len(documents)} objects; a resource template acts on one"
        return
    document = documents[0]
    if action == "patch" and strategy == "json":
        if not isinstance(document, list):
            yield path, "AAP010", "a json patch (mergeStrategy: json) is a list of operations"
        return
    if not isinstance(document, dict):
        yield path, "AAP010", "the manifest is not a Kubernetes object (a mapping)"
        return
    if flags:
        return
    for key in ("apiVersion", "kind"):
        if not document.get(key):
            yield path, "AAP010", f"the manifest has no {key}"
    metadata: dict[str, Any] = document["metadata"] if isinstance(document.get("metadata"), dict) else {}
    if not metadata.get("name") and not (action == "create" and metadata.get("generateName")):
        needs = "metadata.name (or generateName, with action create)"
        yield path, "AAP010", f"the manifest names no object: set {needs}"


def container_set_findings(template: dict[str, Any], path: Path) -> Iterator[Finding]:
    """Problems of a ``containerSet`` template (``path`` is the template's)."""
    body = template.get("containerSet")
    where = (*path, "containerSet")
    if not isinstance(body, dict):
        yield where, "AAP010", "containerSet needs a mapping with containers"
        return
    containers = body.get("containers")
    if not isinstance(containers, list) or not containers:
        yield (*where, "containers"), "AAP010", "containerSet needs at least one container"
        return
    names: dict[str, int] = {}
    for index, container in enumerate(containers):
        if not isinstance(container, dict):
            continue
        name = container.get("name")
        at = (*where, "containers", index)
        if not name:
            yield (*at, "name"), "AAP012", "every container of a set needs a name"
        elif name in names:
            yield (*at, "name"), "AAP023", f"container name {name!r} is used twice"
        else:
            names[str(name)] = index
        if not container.get("image"):
            yield (*at, "image"), "AAP010", "required field is missing"
    graph: dict[str, list[str]] = {}
    for index, container in enumerate(containers):
        if not isinstance(container, dict) or not container.get("name"):
            continue
        deps = container.get("dependencies") or []
        graph[str(container["name"])] = [str(d) for d in deps]
        for d, dep in enumerate(deps):
            if str(dep) not in names:
                yield (
                    (*where, "containers", index, "dependencies", d),
                    "AAP025",
                    f"no container named {dep!r} in this set (containers: {', '.join(names)})",
                )
    cycle = find_cycle(graph)
    if cycle:
        yield (*where, "containers"), "AAP022", "the containers' dependencies form a cycle: " + " -> ".join(cycle)
    outputs: dict[str, Any] = template["outputs"] if isinstance(template.get("outputs"), dict) else {}
    if (outputs.get("parameters") or outputs.get("artifacts")) and "main" not in names:
        yield (
            (*path, "outputs"),
            "AAP010",
            'a containerSet template with outputs needs a container named "main" (as Argo requires)',
        )
    retry = body.get("retryStrategy")
    if isinstance(retry, dict):
        retries = retry.get("retries")
        if retries is not None:
            try:
                if int(str(retries)) < 0:
                    raise ValueError
            except ValueError:
                yield (*where, "retryStrategy", "retries"), "AAP010", f"retries {retries!r} is not a whole number"
        duration = retry.get("duration")
        if duration not in (None, ""):
            try:
                parse_duration(duration)
            except ValueError as exc:
                yield (*where, "retryStrategy", "duration"), "AAP010", str(exc)
