"""Problems found in manifests, and the catalogue of their stable codes.

Every problem has a code that never changes meaning (``AAP011``), so users can search for
it, suppress nothing silently, and read its explanation in ``docs/codes.md``. Codes below
``AAP100`` are mistakes in a manifest; codes from ``AAP100`` are Argo features this
provider does not run (yet): such a manifest is rejected, never half-run.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Code:
    code: str
    title: str
    explanation: str

    @property
    def unsupported(self) -> bool:
        return 100 <= int(self.code[3:]) < 200

    @property
    def note(self) -> bool:
        return int(self.code[3:]) >= 200


_CATALOGUE = [
    Code("AAP001", "invalid YAML", "The file is not valid YAML; the line of the syntax error is given."),
    Code("AAP002", "not an Argo manifest", "A document has no `apiVersion`/`kind`, or is not a mapping."),
    Code("AAP003", "duplicate key", "A YAML mapping names the same key twice; Kubernetes would reject it."),
    Code("AAP004", "unreadable file", "The file could not be read (missing, a directory, not UTF-8)."),
    Code(
        "AAP005",
        "too large",
        "The file is larger than 8 MiB, or holds more than 500,000 values once its aliases are expanded "
        "(an alias bomb); nothing of it is compiled.",
    ),
    Code(
        "AAP006",
        "too deeply nested",
        "Mappings and lists nest more than 100 levels deep, or templates call each other through more "
        "than 50 levels of steps/DAGs.",
    ),
    Code(
        "AAP007",
        "recursive alias",
        "A YAML alias refers to the anchor it is inside of (a structure that contains itself).",
    ),
    Code(
        "AAP008",
        "internal error",
        "Checking or compiling this manifest failed unexpectedly; the manifest is reported and skipped, the "
        "others load. Please report it with the manifest.",
    ),
    Code("AAP010", "wrong type or missing field", "A field has the wrong type, or a required field is absent."),
    Code("AAP011", "unknown field", "A field is not part of the Argo schema; usually a misspelling."),
    Code("AAP012", "missing name", "A manifest needs `metadata.name` or `metadata.generateName`."),
    Code("AAP013", "duplicate workflow name", "Two manifests in the same folder tree have the same name."),
    Code(
        "AAP014",
        "invalid name",
        "A name Kubernetes, Argo or Airflow would reject: `metadata.name` must be a Kubernetes name (lower-case "
        "letters, digits, `-`, `.`) of at most 63 characters (52 for a CronWorkflow, as `argo lint` says), and "
        "the DAG id annotation at most 250 letters, digits, `_`, `.` and `-`.",
    ),
    Code("AAP020", "unknown template", "A step, task, `entrypoint` or `onExit` names a template that does not exist."),
    Code(
        "AAP021",
        "unresolved reference",
        "A `templateRef` or `workflowTemplateRef` names a template not in the folder tree.",
    ),
    Code("AAP022", "cycle in a DAG", "The `dependencies`/`depends` of a DAG template form a cycle."),
    Code("AAP023", "duplicate name", "Two templates, steps or tasks in the same scope have the same name."),
    Code("AAP024", "dependencies with depends", "A DAG task sets both `dependencies` and `depends`; Argo allows one."),
    Code("AAP025", "unknown dependency", "`dependencies`, `depends` or `target` names a task that is not in the DAG."),
    Code("AAP026", "recursive template", "A template invokes itself, directly or through others."),
    Code(
        "AAP027", "missing entrypoint", "The workflow has no `entrypoint` (and no `workflowTemplateRef` providing one)."
    ),
    Code("AAP028", "invalid expression", "A `{{...}}` tag, `when`, `depends` or expression does not parse."),
    Code("AAP029", "invalid template", "A template must have exactly one body (container, script, steps, dag, ...)."),
    Code(
        "AAP030",
        "invalid argument",
        "An argument or parameter is malformed (for example a loop with two sources, or a literal "
        "`withSequence` count, start or end that is not a whole number).",
    ),
    Code(
        "AAP031",
        "invalid artifact",
        "An artifact is malformed (no path, two sources, a `from` that is not one reference), or "
        "`artifactRepositoryRef` names a ConfigMap or key that is not in the folder tree.",
    ),
    Code(
        "AAP033",
        "invalid value",
        "A value `argo lint` rejects: a `retryPolicy`, `podGC.strategy` or `concurrencyPolicy` Argo does not "
        "know (with the closest valid one), a negative `startingDeadlineSeconds`.",
    ),
    Code(
        "AAP034",
        "unresolvable reference",
        "A `{{...}}` tag names a workflow parameter, input, step, task or output that cannot exist where it is "
        "written (`argo lint`: failed to resolve), or a task's argument uses a task it does not depend on.",
    ),
    Code(
        "AAP035",
        "invalid schedule",
        "A CronWorkflow schedule is not five cron fields in range (or a descriptor such as `@daily`), or its "
        "time zone is unknown, or it has no schedule.",
    ),
    Code(
        "AAP036",
        "invalid metric",
        "A `metrics.prometheus` entry Argo refuses: a name or label key that is not a Prometheus name, no "
        "`help`, a counter, gauge or histogram without `value`. Metrics are emitted through "
        "OpenTelemetry (metrics.md).",
    ),
    Code(
        "AAP041",
        "unknown event source",
        "A Sensor dependency names an EventSource, or an event of it, that is not in the folder tree.",
    ),
    Code(
        "AAP042",
        "invalid sensor setting",
        "A Sensor filter or trigger parameter is malformed: a path, template, comparator, type or `dest` "
        "that cannot work.",
    ),
    Code(
        "AAP043",
        "SQS queue URL unknown",
        "An SQS event source names its queue without `queueAccountId`; the queue URL is not looked up "
        "while DAGs are parsed, so give the account id or the queue URL.",
    ),
    Code(
        "AAP101",
        "unsupported: resource template",
        "No longer reported: `resource` templates run (kubectl locally, the Kubernetes object API on "
        "Kubernetes; see kubernetes.md). Their mistakes are AAP010/AAP028.",
    ),
    Code("AAP102", "unsupported: data template", "`data` templates (artifact transformations) are not run."),
    Code(
        "AAP103",
        "unsupported: containerSet template",
        "No longer reported: `containerSet` templates run (one pod on Kubernetes, processes locally; "
        "see kubernetes.md). Their mistakes are AAP010/AAP012/AAP022/AAP023/AAP025.",
    ),
    Code("AAP104", "unsupported: daemon", "Daemon steps (`daemon: true`) keep running alongside the workflow."),
    Code("AAP105", "unsupported: synchronization", "Semaphores and mutexes (`synchronization`) are not enforced."),
    Code("AAP106", "unsupported: memoization", "`memoize` (result caching in a ConfigMap) is not run."),
    Code(
        "AAP107",
        "unsupported: artifact store",
        "S3, GCS, Azure Blob, Git (inputs), Artifactory, HTTP (download and upload) and raw artifacts run "
        "(docs/artifacts.md); OSS, HDFS and artifact plugins are rejected, and so are artifact repositories "
        "(`archiveLocation`, `artifactRepositoryRef`) in a store other than S3.",
    ),
    Code("AAP108", "unsupported: executor plugin", "Only the `sns` executor plugin is run natively."),
    Code(
        "AAP109",
        "unsupported: kind",
        "Only Workflow, WorkflowTemplate, ClusterWorkflowTemplate, CronWorkflow, EventSource and Sensor are compiled.",
    ),
    Code(
        "AAP110",
        "unsupported: suspend without duration",
        "A `suspend` template without `duration` waits for a manual resume.",
    ),
    Code(
        "AAP111",
        "unsupported: lifecycle hook expression",
        "Lifecycle hooks other than `exit` (conditional `expression` hooks) are not run.",
    ),
    Code(
        "AAP112",
        "unsupported: nested fan-out",
        "A fan-out inside a fanned-out steps/dag template needs nested dynamic mapping.",
    ),
    Code(
        "AAP113",
        "unsupported: artifact feature",
        "This artifact feature (artifact garbage collection) is not run.",
    ),
    Code(
        "AAP114",
        "unsupported: workflow feature",
        "A workflow-level feature that changes how the run is scheduled or stored is not run.",
    ),
    Code(
        "AAP120",
        "unsupported: event source type",
        "Only `sqs` event sources start workflows; other EventSource types (webhook, kafka, ...) are not run.",
    ),
    Code(
        "AAP121",
        "unsupported: sensor feature",
        "A Sensor feature that is not run: several dependencies (event correlation), transforms, filters "
        "other than `data`, trigger types other than `argoWorkflow` (or `k8s` creating a Workflow), "
        "operations other than submit.",
    ),
    Code("AAP201", "note: no effect", "The field is accepted but has no effect under Airflow; the message says why."),
]

CODES: dict[str, Code] = {c.code: c for c in _CATALOGUE}


@dataclass(frozen=True)
class Problem:
    """One problem in one manifest: where it is and what is wrong."""

    code: str
    message: str
    file: str
    line: int = 1
    path: str = ""

    def __post_init__(self) -> None:
        if self.code not in CODES:  # pragma: no cover - programming error
            raise ValueError(f"unknown problem code {self.code}")

    @property
    def unsupported(self) -> bool:
        return CODES[self.code].unsupported

    @property
    def note(self) -> bool:
        """Notes (codes from AAP200) inform; they do not make a manifest invalid."""
        return CODES[self.code].note

    def format(self) -> str:
        """``FILE:LINE: CODE message`` (the path, when known, leads the message)."""
        where = f"{self.path}: " if self.path else ""
        return f"{self.file}:{self.line}: {self.code} {where}{self.message}"

    def __str__(self) -> str:
        return self.format()


class ManifestError(Exception):
    """A manifest (or a set of them) cannot be compiled; carries every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems, key=lambda p: (p.file, p.line, p.code))
        super().__init__("\n".join(p.format() for p in self.problems))
