"""From checked EventSource and Sensor manifests to dispatcher plans (:class:`~.model.Dispatch`).

Each valid Sensor becomes one :class:`Dispatch`: the SQS source of its dependency (queue URL,
region, the Airflow AWS connection, polling settings), the dependency's data filters, and for each
trigger the DAG id of the Workflow it submits (that Workflow is compiled into a DAG of its own by
:func:`airflow_argo_provider.dagfolder.compile_folder`) with the parameters taken from each
message. A Sensor with problems, or whose EventSource or Workflow has problems, gives no plan:
its problems are reported with the folder's other problems.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from airflow_argo_provider.events.model import (
    DEFAULT_AWS_CONN_ID,
    DEFAULT_VISIBILITY_TIMEOUT,
    DEFAULT_WAIT_TIME_SECONDS,
    DataFilter,
    Dispatch,
    Parameter,
    SqsSource,
    Target,
    dispatch_from_dict,
)
from airflow_argo_provider.manifest.annotations import AWS_CONN_ANNOTATION, VISIBILITY_ANNOTATION
from airflow_argo_provider.manifest.loader import Manifest, ManifestSet

# airflow_argo_provider.manifest.events is imported only when manifests are read: hera's Argo Events
# models take a while to import, and a cached folder does not need them.

DESTINATION_PREFIX = "spec.arguments.parameters."


def queue_url(entry: dict[str, Any]) -> str:
    """The URL of an sqs entry's queue: given, or built from the endpoint or region and the account."""
    queue = str(entry.get("queue") or "")
    if queue.startswith(("https://", "http://")):
        return queue
    account = str(entry.get("queueAccountId") or "")
    endpoint = str(entry.get("endpoint") or "")
    if endpoint:
        return f"{endpoint.rstrip('/')}/{account}/{queue}"
    region = str(entry.get("region") or "")
    suffix = ".cn" if region.startswith("cn-") else ""
    return f"https://sqs.{region}.amazonaws.com{suffix}/{account}/{queue}"


def sqs_source(event_source: Manifest, event_name: str) -> SqsSource:
    from airflow_argo_provider.manifest.event_documents import annotations_of

    entry = event_source.raw["spec"]["sqs"][event_name]
    notes = annotations_of(event_source)
    wait = entry.get("waitTimeSeconds")
    return SqsSource(
        event_source=event_source.name,
        event_name=event_name,
        queue_url=queue_url(entry),
        region=str(entry["region"]) if entry.get("region") else None,
        aws_conn_id=str(notes.get(AWS_CONN_ANNOTATION) or DEFAULT_AWS_CONN_ID),
        json_body=bool(entry.get("jsonBody")),
        metadata={str(k): str(v) for k, v in (entry.get("metadata") or {}).items()},
        wait_time_seconds=int(str(wait)) if wait not in (None, "") else DEFAULT_WAIT_TIME_SECONDS,
        visibility_timeout=int(str(notes.get(VISIBILITY_ANNOTATION) or DEFAULT_VISIBILITY_TIMEOUT)),
    )


def _filters(dependency: dict[str, Any]) -> tuple[list[DataFilter], str]:
    filters = dependency.get("filters") or {}
    out = [
        DataFilter(
            path=str(f.get("path") or ""),
            type=str(f.get("type") or "string"),
            values=[str(v) for v in f.get("value") or []],
            comparator=str(f.get("comparator") or ""),
            template=str(f.get("template") or ""),
        )
        for f in filters.get("data") or []
    ]
    return out, str(filters.get("dataLogicalOperator") or "and")


def _target(template: dict[str, Any], workflow: Manifest) -> Target:
    from airflow_argo_provider.manifest.event_documents import workflow_parameter_list

    body = template.get("argoWorkflow") or template.get("k8s") or {}
    params = workflow_parameter_list(workflow)
    parameters: list[Parameter] = []
    for param in body.get("parameters") or []:
        dest = str(param["dest"])
        index = int(dest[len(DESTINATION_PREFIX) :].split(".")[0])
        src = param.get("src") or {}
        current = params[index].get("value")
        parameters.append(
            Parameter(
                dest_name=str(params[index]["name"]),
                dest=dest,
                data_key=str(src.get("dataKey") or ""),
                data_template=str(src.get("dataTemplate") or ""),
                default=str(src["value"]) if src.get("value") is not None else None,
                operation=str(param.get("operation") or ""),
                current=str(current) if current is not None else "",
            )
        )
    return Target(name=str(template["name"]), dag_id=workflow.dag_id, parameters=parameters)


def build_dispatches(mset: ManifestSet) -> list[Dispatch]:
    """The dispatcher plans of every valid Sensor of ``mset`` (whose EventSource and Workflows are valid)."""
    if not mset.by_kind("Sensor"):
        return []
    from airflow_argo_provider.manifest.event_documents import embedded_workflows, sqs_events

    events = sqs_events(mset)
    out: list[Dispatch] = []
    for sensor in mset.by_kind("Sensor"):
        if not sensor.ok:
            continue
        spec = sensor.raw["spec"]
        dependency = spec["dependencies"][0]
        found = events.get((str(dependency["eventSourceName"]), str(dependency["eventName"])))
        if found is None or not found[0].ok:
            continue
        workflows = embedded_workflows(mset, sensor)
        targets: list[Target] = []
        complete = True
        for trigger in spec.get("triggers") or []:
            template = trigger["template"]
            workflow = workflows.get(str(template["name"]))
            if workflow is None or not workflow.ok:
                complete = False
                break
            targets.append(_target(template, workflow))
        if not complete or not targets:
            continue
        filters, operator = _filters(dependency)
        meta = sensor.raw.get("metadata") or {}
        notes = meta.get("annotations") or {}
        out.append(
            Dispatch(
                dag_id=sensor.dag_id,
                sensor=sensor.name,
                source=sqs_source(*found),
                dependency=str(dependency["name"]),
                filters=filters,
                filter_operator=operator,
                targets=targets,
                source_file=sensor.file,
                description=notes.get("workflows.argoproj.io/description") if isinstance(notes, dict) else None,
            )
        )
    return out


# -- cached for DAG-file parsing --------------------------------------------------------------------------
def compile_event_folder(folder: str | os.PathLike[str]) -> list[Dispatch]:
    """The dispatcher plans of the Sensors under ``folder``, cached like the workflow plans.

    Problems are not returned here: :func:`airflow_argo_provider.dagfolder.compile_folder` reports
    every problem of the folder (Sensors and EventSources included).
    """
    from airflow_argo_provider.manifest import load_paths
    from airflow_argo_provider.manifest.loader import manifest_files
    from airflow_argo_provider.plan import cache

    files, _ = manifest_files([folder])
    if not files:
        return []
    key = cache.key_for(files, extra=f"events:{folder}:{_fingerprint()}")
    cached = _load(cache.cache_dir(), key)
    if cached is not None:
        return cached
    dispatches = build_dispatches(load_paths([folder]))
    _store(cache.cache_dir(), key, dispatches)
    return dispatches


def _fingerprint() -> str:
    """Changes when this package's code changes (the plan cache's own fingerprint covers manifest/ and plan/)."""
    import hashlib

    digest = hashlib.sha256()
    for source in sorted(Path(__file__).resolve().parent.glob("*.py")):
        stat = source.stat()
        digest.update(f"{source.name}:{stat.st_size}:{stat.st_mtime_ns};".encode())
    return digest.hexdigest()[:16]


def _load(folder: Path | None, key: str) -> list[Dispatch] | None:
    if folder is None:
        return None
    try:
        data = json.loads((folder / f"{key}.json").read_text())
        return [dispatch_from_dict(d) for d in data["dispatches"]]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _store(folder: Path | None, key: str, dispatches: list[Dispatch]) -> None:
    import tempfile

    if folder is None:
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
        with os.fdopen(fd, "w") as out:
            json.dump({"dispatches": [d.to_dict() for d in dispatches]}, out)
        os.replace(tmp, folder / f"{key}.json")
    except OSError:
        return
