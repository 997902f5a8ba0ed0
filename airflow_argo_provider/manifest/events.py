"""Argo Events manifests (EventSource, Sensor) checked as strictly as workflows.

An ``EventSource`` with ``sqs`` entries says which queues carry events; a ``Sensor`` says which
event it depends on (with ``filters.data``) and which Workflow it submits for each event, with
parameters taken from the event. They are read by :mod:`.event_documents`; this module checks what
needs the whole folder: queues, annotations, the dependency's EventSource, filters, triggers and
their parameters. The Sensor itself becomes a dispatcher DAG (:mod:`airflow_argo_provider.events.plan`).

What is not run is rejected with a code: other event source types (AAP120), several dependencies,
transforms, filters other than ``data``, other trigger types and operations (AAP121).
"""

from __future__ import annotations

import re
from typing import Any

from airflow_argo_provider.expressions import ExpressionError, gjson
from airflow_argo_provider.expressions.gotemplate import check_template
from airflow_argo_provider.expressions.regex import compile_regex
from airflow_argo_provider.manifest.annotations import AWS_CONN_ANNOTATION, VISIBILITY_ANNOTATION
from airflow_argo_provider.manifest.event_documents import (
    _EVENT_SOURCE_SETTINGS,
    EmbeddedManifest,
    _workflow_parameters,
    annotations_of,
    embedded_workflows,
    event_source_types,
    queue_is_url,
    sqs_events,
)
from airflow_argo_provider.manifest.loader import (
    Manifest,
    ManifestSet,
)
from airflow_argo_provider.manifest.problems import Problem
from airflow_argo_provider.manifest.yaml_source import (
    Path,
)

MAX_VISIBILITY_TIMEOUT = 43_200  # SQS's limit: 12 hours


_DEST = re.compile(r"^spec\.arguments\.parameters\.(\d+)\.value$")


_TRIGGER_TYPES = (
    "argoWorkflow",
    "k8s",
    "awsLambda",
    "azureEventHubs",
    "azureServiceBus",
    "custom",
    "email",
    "http",
    "kafka",
    "log",
    "nats",
    "openWhisk",
    "pulsar",
    "slack",
)


_SOURCE_KINDS = ("resource", "inline", "configmap", "file", "git", "s3", "url")


_SENSOR_SETTINGS = {
    "eventBusName": "has no effect: the dispatcher DAG reads events from the queue's Airflow asset",
    "replicas": "has no effect: the dispatcher is an Airflow DAG",
    "template": "has no effect: no sensor pod is created (the dispatcher is an Airflow DAG)",
    "errorOnFailedRound": "has no effect: each message is dispatched on its own",
    "loggingFields": "has no effect: the dispatcher logs to its task log",
    "revisionHistoryLimit": "has no effect: no sensor deployment is created",
}


_SQS_CREDENTIALS = ("accessKey", "secretKey", "sessionToken", "roleARN")


_FILTER_TYPES = ("string", "number", "bool")


_COMPARATORS = ("", "=", "!=", ">", ">=", "<", "<=")


_OPERATIONS = ("", "overwrite", "append", "prepend")


def check_event_manifests(mset: ManifestSet) -> None:
    """Problems of every EventSource and Sensor that need more than the document itself."""
    for manifest in mset.by_kind("EventSource"):
        if manifest.model is not None:
            try:
                manifest.problems.extend(_EventSourceChecker(manifest).run())
            except Exception as exc:  # one manifest never takes the others down
                manifest.problems.append(manifest.internal_problem(exc))
    events = sqs_events(mset)
    for manifest in mset.by_kind("Sensor"):
        if isinstance(manifest, EmbeddedManifest) or manifest.model is None:
            continue
        try:
            manifest.problems.extend(_SensorChecker(manifest, mset, events).run())
        except Exception as exc:
            manifest.problems.append(manifest.internal_problem(exc))


class _Checker:
    def __init__(self, manifest: Manifest) -> None:
        self.manifest = manifest
        self.problems: list[Problem] = []

    def add(self, code: str, message: str, path: Path) -> None:
        problem = self.manifest.problem(code, message, path)
        if problem not in self.problems:
            self.problems.append(problem)

    def mapping(self, parent: dict[str, Any], key: str, path: Path) -> dict[str, Any] | None:
        """``parent[key]`` (at ``path + (key,)``) when it is a mapping; else AAP010 (required) and None."""
        value = parent.get(key)
        if not isinstance(value, dict):
            self.add("AAP010", f"{key} is required", (*path, key))
            return None
        return value

    def check_annotations(self) -> None:
        notes = annotations_of(self.manifest)
        conn = notes.get(AWS_CONN_ANNOTATION)
        if conn is not None and (not isinstance(conn, str) or not conn.strip()):
            self.add("AAP010", "must name an Airflow AWS connection", ("metadata", "annotations", AWS_CONN_ANNOTATION))
        timeout = notes.get(VISIBILITY_ANNOTATION)
        if timeout is not None:
            try:
                seconds = int(str(timeout))
            except ValueError:
                seconds = -1
            if not 0 < seconds <= MAX_VISIBILITY_TIMEOUT:
                self.add(
                    "AAP010",
                    f"must be a whole number of seconds from 1 to {MAX_VISIBILITY_TIMEOUT} (got {timeout!r})",
                    ("metadata", "annotations", VISIBILITY_ANNOTATION),
                )


class _EventSourceChecker(_Checker):
    def run(self) -> list[Problem]:
        self.check_annotations()
        spec = self.mapping(self.manifest.raw, "spec", ())
        if spec is None:
            return self.problems
        known = set(event_source_types())
        types = [k for k in spec if k in known and k != "sqs"]
        for key in types:
            self.add(
                "AAP120", f"{key} event sources are not run (only sqs event sources start workflows)", ("spec", key)
            )
        for key, reason in _EVENT_SOURCE_SETTINGS.items():
            if spec.get(key) is not None:
                self.add("AAP201", f"{key} {reason}", ("spec", key))
        sqs = spec.get("sqs")
        if not sqs and not types:
            self.add("AAP010", "an EventSource needs an sqs event source (spec.sqs)", ("spec",))
        for name, entry in (sqs or {}).items() if isinstance(sqs, dict) else ():
            if isinstance(entry, dict):
                self._sqs(str(name), entry, ("spec", "sqs", name))
        return self.problems

    def _sqs(self, name: str, entry: dict[str, Any], path: Path) -> None:
        queue = entry.get("queue")
        if not isinstance(queue, str) or not queue:
            self.add("AAP010", "queue is required (the queue's name or URL)", (*path, "queue"))
        elif not queue_is_url(queue):
            if not entry.get("queueAccountId"):
                self.add(
                    "AAP043",
                    f"queue {queue!r} is a name: set queueAccountId (the AWS account that owns it) so that the "
                    "queue URL can be built, or give the queue URL itself (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME)",
                    (*path, "queue"),
                )
            if not entry.get("region") and not entry.get("endpoint"):
                self.add("AAP010", "region is required to build the queue URL", (*path, "region"))
        wait = entry.get("waitTimeSeconds")
        if wait not in (None, ""):
            try:
                seconds = int(str(wait))
            except ValueError:
                seconds = -1
            if not 0 <= seconds <= 20:
                self.add("AAP010", f"waitTimeSeconds must be from 0 to 20 (got {wait!r})", (*path, "waitTimeSeconds"))
        conn = annotations_of(self.manifest).get(AWS_CONN_ANNOTATION) or "aws_default"
        for key in _SQS_CREDENTIALS:
            if entry.get(key) is not None:
                self.add(
                    "AAP201",
                    f"{key} has no effect: the credentials of the Airflow AWS connection {conn!r} are used "
                    f"(annotation {AWS_CONN_ANNOTATION})",
                    (*path, key),
                )
        if entry.get("endpoint"):
            self.add(
                "AAP201",
                f"endpoint only builds the queue URL: requests go to the endpoint_url of the Airflow AWS "
                f"connection {conn!r}, so set the same endpoint there",
                (*path, "endpoint"),
            )
        if entry.get("dlq") is not None:
            self.add(
                "AAP201",
                "dlq has no effect: a message that cannot be dispatched is never deleted, so the queue's "
                "redrive policy always applies",
                (*path, "dlq"),
            )
        if entry.get("filter") is not None:
            self.add("AAP121", "event source filters are not run; use the Sensor's filters.data", (*path, "filter"))


class _SensorChecker(_Checker):
    def __init__(self, manifest: Manifest, mset: ManifestSet, events: dict[tuple[str, str], tuple[Manifest, str]]):
        super().__init__(manifest)
        self.mset = mset
        self.events = events

    def run(self) -> list[Problem]:
        self.check_annotations()
        spec = self.mapping(self.manifest.raw, "spec", ())
        if spec is None:
            return self.problems
        for key, reason in _SENSOR_SETTINGS.items():
            if spec.get(key) is not None:
                self.add("AAP201", f"{key} {reason}", ("spec", key))
        deps = spec.get("dependencies") or []
        dep_name = ""
        if not deps:
            self.add("AAP010", "a Sensor needs one dependency (spec.dependencies)", ("spec", "dependencies"))
        elif len(deps) > 1:
            self.add(
                "AAP121",
                f"{len(deps)} dependencies: event correlation (a trigger waiting for several events) is not run; "
                "write one Sensor per event source",
                ("spec", "dependencies"),
            )
        if deps and isinstance(deps[0], dict):
            dep_name = str(deps[0].get("name") or "")
            self._dependency(deps[0], ("spec", "dependencies", 0))
        triggers = spec.get("triggers") or []
        if not triggers:
            self.add("AAP010", "a Sensor needs at least one trigger (spec.triggers)", ("spec", "triggers"))
        names: set[str] = set()
        for index, trigger in enumerate(triggers):
            if isinstance(trigger, dict):
                self._trigger(trigger, ("spec", "triggers", index), dep_name, names)
        return self.problems

    # -- the dependency ------------------------------------------------------------------------------
    def _dependency(self, dep: dict[str, Any], path: Path) -> None:
        if not dep.get("name"):
            self.add("AAP010", "name is required", (*path, "name"))
        source, event = dep.get("eventSourceName"), dep.get("eventName")
        if not source:
            self.add("AAP010", "eventSourceName is required", (*path, "eventSourceName"))
        if not event:
            self.add("AAP010", "eventName is required", (*path, "eventName"))
        if source and event and (source, event) in self.events:
            event_source = self.events[(source, event)][0]
            if not event_source.ok:
                self.add(
                    "AAP041",
                    f"EventSource {source!r} ({event_source.file}:{event_source.doc.line}) has errors of its own",
                    (*path, "eventSourceName"),
                )
        if source and event and (source, event) not in self.events:
            sources = {s for s, _ in self.events}
            if source in sources:
                known = sorted(e for s, e in self.events if s == source)
                message = f"EventSource {source!r} has no sqs event {event!r} (it has {', '.join(known)})"
                self.add("AAP041", message, (*path, "eventName"))
            else:
                others = [m for m in self.mset.by_kind("EventSource") if m.name == source]
                if others:
                    message = f"EventSource {source!r} has no sqs event sources"
                else:
                    message = f"no EventSource named {source!r} in the folder tree"
                self.add("AAP041", message, (*path, "eventSourceName"))
        if dep.get("transform") is not None:
            self.add("AAP121", "event transforms (jq, Lua) are not run", (*path, "transform"))
        filters = dep.get("filters")
        if isinstance(filters, dict):
            for key in filters:
                if key in ("data", "dataLogicalOperator"):
                    continue
                if key in ("exprLogicalOperator",):
                    continue
                self.add("AAP121", f"{key} filters are not run (only filters.data is)", (*path, "filters", key))
            operator = filters.get("dataLogicalOperator")
            if operator not in (None, "", "and", "or"):
                self.add(
                    "AAP042",
                    f"dataLogicalOperator must be and or or (got {operator!r})",
                    (*path, "filters", "dataLogicalOperator"),
                )
            for j, flt in enumerate(filters.get("data") or []):
                if isinstance(flt, dict):
                    self._data_filter(flt, (*path, "filters", "data", j))

    def _data_filter(self, flt: dict[str, Any], path: Path) -> None:
        data_path = flt.get("path")
        if not data_path:
            self.add("AAP010", "path is required", (*path, "path"))
        else:
            try:
                gjson.check_path(str(data_path))
            except ExpressionError as exc:
                self.add("AAP042", f"invalid path: {exc}", (*path, "path"))
        kind = flt.get("type")
        if not kind:
            self.add("AAP010", "type is required (string, number or bool)", (*path, "type"))
        elif kind not in _FILTER_TYPES:
            self.add("AAP042", f"type must be one of {', '.join(_FILTER_TYPES)} (got {kind!r})", (*path, "type"))
        values = flt.get("value") or []
        if not values:
            self.add("AAP010", "value is required (the values to compare with)", (*path, "value"))
        comparator = flt.get("comparator") or ""
        if comparator not in _COMPARATORS:
            shown = ", ".join(c for c in _COMPARATORS if c)
            self.add("AAP042", f"comparator must be one of {shown} (got {comparator!r})", (*path, "comparator"))
        for k, value in enumerate(values):
            if kind == "string":
                try:
                    compile_regex(str(value))
                except ExpressionError as exc:
                    self.add("AAP042", f"invalid regular expression: {exc.message}", (*path, "value", k))
            elif kind == "number":
                try:
                    float(str(value))
                except ValueError:
                    self.add("AAP042", f"{value!r} is not a number", (*path, "value", k))
            elif kind == "bool" and str(value) not in (
                "1",
                "t",
                "T",
                "TRUE",
                "true",
                "True",
                "0",
                "f",
                "F",
                "FALSE",
                "false",
                "False",
            ):
                self.add("AAP042", f"{value!r} is not a boolean", (*path, "value", k))
        if flt.get("template"):
            try:
                check_template(str(flt["template"]))
            except ExpressionError as exc:
                self.add("AAP042", f"invalid template: {exc}", (*path, "template"))

    # -- triggers -----------------------------------------------------------------------------------
    def _trigger(self, trigger: dict[str, Any], path: Path, dep_name: str, names: set[str]) -> None:
        template = self.mapping(trigger, "template", path)
        if template is None:
            return
        tpath = (*path, "template")
        name = template.get("name")
        if not name:
            self.add("AAP010", "name is required", (*tpath, "name"))
        elif name in names:
            self.add("AAP023", f"trigger name {name!r} is used more than once", (*tpath, "name"))
        names.add(str(name or ""))
        conditions = template.get("conditions")
        if conditions and dep_name and str(conditions).strip() != dep_name:
            self.add(
                "AAP121",
                f"conditions {conditions!r}: only the Sensor's one dependency can be waited for",
                (*tpath, "conditions"),
            )
        if trigger.get("parameters"):
            self.add(
                "AAP121", "trigger-level parameters (changing the trigger template) are not run", (*path, "parameters")
            )
        if trigger.get("dlqTrigger") is not None:
            self.add("AAP121", "dlqTrigger is not run; use the queue's redrive policy", (*path, "dlqTrigger"))
        for key, reason in (
            (
                "retryStrategy",
                "has no effect: a message whose run could not be created stays in the queue and comes back",
            ),
            ("rateLimit", "has no effect: limit the workflow DAG with max_active_runs instead"),
            ("policy", "has no effect: the dispatcher does not wait for the workflow runs"),
            ("atLeastOnce", "has no effect: runs are created at least once and deduplicated by message id"),
        ):
            if trigger.get(key) is not None:
                self.add("AAP201", f"{key} {reason}", (*path, key))
        kinds = [k for k in _TRIGGER_TYPES if template.get(k) is not None]
        if not kinds:
            self.add("AAP010", "the trigger needs a type (argoWorkflow)", tpath)
            return
        for other in kinds:
            if other not in ("argoWorkflow", "k8s"):
                self.add("AAP121", f"{other} triggers are not run (only argoWorkflow)", (*tpath, other))
        for kind in ("argoWorkflow", "k8s"):
            body = template.get(kind)
            if isinstance(body, dict):
                self._workflow_trigger(kind, body, (*tpath, kind), dep_name, str(name or ""))

    def _workflow_trigger(self, kind: str, body: dict[str, Any], path: Path, dep_name: str, trigger: str) -> None:
        operation = body.get("operation")
        allowed = ("submit",) if kind == "argoWorkflow" else ("create",)
        if operation not in (None, "", *allowed):
            self.add(
                "AAP121",
                f"operation {operation!r} is not run (only {allowed[0]}: each event starts a workflow run)",
                (*path, "operation"),
            )
        if kind == "argoWorkflow" and body.get("args"):
            self.add("AAP121", "args (extra argo CLI arguments) are not run", (*path, "args"))
        if kind == "k8s":
            for key in ("liveObject", "patchStrategy"):
                if body.get(key) is not None:
                    self.add("AAP121", f"{key} is not run", (*path, key))
        source = body.get("source")
        found = [k for k in _SOURCE_KINDS if isinstance(source, dict) and source.get(k) is not None]
        if not found:
            self.add("AAP010", "source is required (resource: a Workflow)", (*path, "source"))
        for key in found:
            if key not in ("resource", "inline"):
                self.add(
                    "AAP121",
                    f"{key} sources are not read; write the Workflow in source.resource",
                    (*path, "source", key),
                )
        resource = source.get("resource") if isinstance(source, dict) else None
        if resource is not None and not isinstance(resource, dict):
            self.add("AAP010", "source.resource must be a Workflow manifest (a mapping)", (*path, "source", "resource"))
        inline = source.get("inline") if isinstance(source, dict) else None
        if inline is not None and not isinstance(inline, str):
            self.add("AAP010", "source.inline must be a Workflow manifest as YAML text", (*path, "source", "inline"))
        workflow = embedded_workflows(self.mset, self.manifest).get(trigger)
        parameters = _workflow_parameters(workflow)
        for index, param in enumerate(body.get("parameters") or []):
            if isinstance(param, dict):
                self._parameter(param, (*path, "parameters", index), dep_name, parameters, workflow is not None)

    def _parameter(
        self, param: dict[str, Any], path: Path, dep_name: str, workflow_params: list[str], known: bool
    ) -> None:
        dest = str(param.get("dest") or "")
        match = _DEST.match(dest)
        if not match:
            self.add(
                "AAP042",
                f"dest {dest!r} is not run: a parameter sets a workflow argument, "
                "dest: spec.arguments.parameters.N.value",
                (*path, "dest"),
            )
        elif known and int(match.group(1)) >= len(workflow_params):
            count = len(workflow_params)
            self.add(
                "AAP042",
                f"dest {dest!r}: the workflow has {count} argument parameter{'s' if count != 1 else ''} "
                f"(spec.arguments.parameters), so N must be below {count}",
                (*path, "dest"),
            )
        operation = param.get("operation") or ""
        if operation not in _OPERATIONS:
            self.add(
                "AAP042", f"operation must be overwrite, append or prepend (got {operation!r})", (*path, "operation")
            )
        src = self.mapping(param, "src", path)
        if src is None:
            return
        spath = (*path, "src")
        dep = src.get("dependencyName")
        if not dep:
            self.add("AAP010", "dependencyName is required", (*spath, "dependencyName"))
        elif dep_name and dep != dep_name:
            self.add(
                "AAP042",
                f"dependencyName {dep!r} is not a dependency of this Sensor (it has {dep_name!r})",
                (*spath, "dependencyName"),
            )
        for key in ("contextKey", "contextTemplate"):
            if src.get(key):
                self.add(
                    "AAP121", f"{key} (the CloudEvent context) is not run; use dataKey or dataTemplate", (*spath, key)
                )
        if src.get("dataKey"):
            try:
                gjson.check_path(str(src["dataKey"]))
            except ExpressionError as exc:
                self.add("AAP042", f"invalid dataKey: {exc}", (*spath, "dataKey"))
        if src.get("dataTemplate"):
            try:
                check_template(str(src["dataTemplate"]))
            except ExpressionError as exc:
                self.add("AAP042", f"invalid dataTemplate: {exc}", (*spath, "dataTemplate"))
