"""Find manifest files, read every document in them, and check each one.

``load_paths(["argo/"])`` returns a :class:`ManifestSet`: every Argo manifest found (with its
hera model, raw document and line map), every problem found (file, line, field path,
code), and the supporting Kubernetes objects (ConfigMaps, Secrets) that manifests may read.
Nothing is dropped silently: a document that cannot be used is a problem, not a gap.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any

from airflow_argo_provider.manifest.problems import Problem
from airflow_argo_provider.manifest.schema import KIND_MODELS, normalise, validate_model
from airflow_argo_provider.manifest.yaml_source import (
    MAX_TEXT_LENGTH,
    Path,
    YamlDocument,
    YamlSyntaxError,
    format_path,
    read_documents,
)

MANIFEST_SUFFIXES = (".yaml", ".yml")
ARGO_API_VERSION = "argoproj.io/v1alpha1"
# Kubernetes objects that manifests read from (``configMapKeyRef``, ``secretKeyRef``) and that
# the local backend can serve from the same folder tree.
SUPPORTING_KINDS = frozenset({"ConfigMap", "Secret"})
WORKFLOW_KINDS = ("Workflow", "CronWorkflow")
TEMPLATE_KINDS = ("WorkflowTemplate", "ClusterWorkflowTemplate")
# Kinds that become an Airflow DAG each.
DAG_KINDS = ("Workflow", "CronWorkflow", "WorkflowTemplate")
# Argo Events kinds: SQS event sources and the Sensors that become dispatcher DAGs
# (see airflow_argo_provider.manifest.events).
EVENT_KINDS = ("EventSource", "Sensor")
# Overrides the DAG id (by default the manifest's name), e.g. when two manifests share a
# ``generateName``.
DAG_ID_ANNOTATION = "airflow-argo-provider/dag-id"


@dataclass
class Manifest:
    """One Argo object read from a file."""

    kind: str
    name: str
    model: Any
    doc: YamlDocument
    file: str
    # The document as Argo reads it (see ``schema.normalise``); same paths as the raw YAML.
    data: dict[str, Any] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    @property
    def raw(self) -> dict[str, Any]:
        value: dict[str, Any] = self.doc.value
        return value

    @property
    def spec(self) -> Any:
        """The workflow spec (for a CronWorkflow, its ``workflowSpec``); None when the manifest did not validate."""
        if self.model is None:
            return None
        if self.kind == "CronWorkflow":
            return self.model.spec.workflow_spec
        return self.model.spec

    @property
    def spec_path(self) -> Path:
        return ("spec", "workflowSpec") if self.kind == "CronWorkflow" else ("spec",)

    @property
    def namespace(self) -> str | None:
        meta = self.model.metadata
        return meta.namespace if meta is not None else None

    @property
    def dag_id(self) -> str:
        """The Airflow DAG id: the annotation :data:`DAG_ID_ANNOTATION`, else the name."""
        meta = self.raw.get("metadata")
        annotations = meta.get("annotations") if isinstance(meta, dict) else None
        if isinstance(annotations, dict) and isinstance(annotations.get(DAG_ID_ANNOTATION), str):
            return str(annotations[DAG_ID_ANNOTATION])
        return self.name

    @property
    def label(self) -> str:
        """``file#N name`` for tables; the document index only when the file has several."""
        return f"{self.file}#{self.doc.index}" if self.doc.index else self.file

    def line_of(self, path: Path) -> int:
        return self.doc.line_of(path)

    def problem(self, code: str, message: str, path: Path = ()) -> Problem:
        return Problem(code, message, self.file, self.line_of(path), format_path(path))

    @property
    def ok(self) -> bool:
        return not any(not p.note for p in self.problems)

    def template_index(self) -> dict[str, int]:
        """Template name -> index in the spec's ``templates`` list (computed once; do not modify it)."""
        spec = self.spec
        templates = (spec.templates if spec is not None else None) or []
        cached = self.__dict__.get("_template_index")
        if cached is not None and cached[0] is templates:
            return cached[1]
        index: dict[str, int] = {}
        for i, t in enumerate(templates):
            if t.name:
                index[t.name] = i  # as before: the last of a name wins (duplicates are AAP023)
        self.__dict__["_template_index"] = (templates, index)
        return index

    def internal_problem(self, exc: BaseException, what: str = "checking") -> Problem:
        """An unexpected failure while working on this manifest, as its problem (AAP008)."""
        return internal_problem(self.file, self.doc.line, exc, what)


@dataclass
class ManifestSet:
    """Everything read from a set of paths, with cross-manifest lookups."""

    manifests: list[Manifest] = field(default_factory=list)
    file_problems: list[Problem] = field(default_factory=list)
    resources: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    resource_files: dict[tuple[str, str], str] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)

    @property
    def problems(self) -> list[Problem]:
        out = list(self.file_problems)
        for manifest in self.manifests:
            out.extend(manifest.problems)
        return sorted(out, key=lambda p: (p.file, p.line, p.code, p.message))

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if not p.note]

    def by_kind(self, *kinds: str) -> list[Manifest]:
        return [m for m in self.manifests if m.kind in kinds]

    def find_template_manifest(self, name: str, cluster_scope: bool) -> Manifest | None:
        kind = "ClusterWorkflowTemplate" if cluster_scope else "WorkflowTemplate"
        for manifest in self.manifests:
            if manifest.kind == kind and manifest.name == name:
                return manifest
        return None

    def config_map(self, name: str) -> dict[str, str] | None:
        obj = self.resources.get(("ConfigMap", name))
        return dict(obj.get("data") or {}) if obj else None

    def secret(self, name: str) -> dict[str, str] | None:
        obj = self.resources.get(("Secret", name))
        if not obj:
            return None
        import base64

        data = {k: base64.b64decode(v).decode() for k, v in (obj.get("data") or {}).items()}
        data.update(obj.get("stringData") or {})
        return data


def internal_problem(file: str, line: int, exc: BaseException, what: str = "checking") -> Problem:
    """AAP008: ``what`` failed unexpectedly for the manifest at ``file:line``; the others go on."""
    if isinstance(exc, RecursionError):
        reason = "it nests too deeply"
    else:
        reason = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}".rstrip(": ")
    return Problem("AAP008", f"{what} this manifest failed ({reason}); it is skipped", file, line)


def manifest_files(paths: Iterable[str | os.PathLike[str]]) -> tuple[list[str], list[Problem]]:
    """Expand folders into their manifest files (sorted); report paths that do not exist."""
    files: list[str] = []
    problems: list[Problem] = []
    for raw_path in paths:
        path = FsPath(raw_path)
        if path.is_dir():
            found = sorted(
                str(p)
                for p in path.rglob("*")
                if p.suffix in MANIFEST_SUFFIXES and p.is_file() and not _hidden(p, path)
            )
            files.extend(found)
        elif path.is_file():
            files.append(str(path))
        else:
            problems.append(Problem("AAP004", "no such file or folder", str(path), 1))
    return files, problems


def _hidden(path: FsPath, root: FsPath) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def _workflow_name(doc: YamlDocument) -> tuple[str, Path] | None:
    meta = doc.value.get("metadata")
    if not isinstance(meta, dict):
        return None
    name = meta.get("name")
    if isinstance(name, str) and name:
        return name, ("metadata", "name")
    generate = meta.get("generateName")
    if isinstance(generate, str) and generate.strip("-"):
        return generate.rstrip("-"), ("metadata", "generateName")
    return None


def read_file(file: str, into: ManifestSet) -> None:
    """Read every document of ``file`` into ``into`` (manifests, resources or problems)."""
    into.files.append(file)
    try:
        size = os.stat(file).st_size
        if size > 4 * MAX_TEXT_LENGTH:  # not read at all: more than any UTF-8 text within the limit
            into.file_problems.append(
                Problem("AAP005", f"the file has {size:,} bytes, more than the limit of {MAX_TEXT_LENGTH:,}", file, 1)
            )
            return
        text = FsPath(file).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        data = FsPath(file).read_bytes()
        line = data.count(b"\n", 0, exc.start) + 1
        into.file_problems.append(
            Problem("AAP004", f"cannot read file: byte 0x{data[exc.start]:02x} is not UTF-8 ({exc.reason})", file, line)
        )
        return
    except OSError as exc:
        into.file_problems.append(Problem("AAP004", f"cannot read file: {exc}", file, 1))
        return
    try:
        documents = list(read_documents(text))
    except YamlSyntaxError as exc:
        into.file_problems.append(Problem(exc.code, exc.message, file, exc.line))
        return
    for doc in documents:
        try:
            read_document(doc, file, into)
        except Exception as exc:  # one document never takes the others down
            into.file_problems.append(internal_problem(file, doc.line, exc, "reading"))


def header_problems(doc: YamlDocument, file: str) -> list[Problem]:
    """A resource's problems that do not depend on its kind: its apiVersion, and keys given twice."""
    problems: list[Problem] = []
    api_version = doc.value.get("apiVersion")
    if api_version != ARGO_API_VERSION:
        problems.append(
            Problem(
                "AAP002",
                f"apiVersion must be {ARGO_API_VERSION} (got {api_version!r})",
                file,
                doc.line_of(("apiVersion",)),
                "apiVersion",
            )
        )
    for path, line in doc.duplicate_keys:
        problems.append(Problem("AAP003", "key appears more than once", file, line, format_path(path)))
    return problems


def read_document(doc: YamlDocument, file: str, into: ManifestSet) -> None:
    value = doc.value
    if not isinstance(value, dict) or not isinstance(value.get("kind"), str):
        into.file_problems.append(Problem("AAP002", "document is not a Kubernetes object (no `kind`)", file, doc.line))
        return
    kind = value["kind"]
    if kind in SUPPORTING_KINDS:
        name = (value.get("metadata") or {}).get("name")
        if isinstance(name, str):
            into.resources[(kind, name)] = value
            into.resource_files[(kind, name)] = file
            return
        into.file_problems.append(Problem("AAP012", f"{kind} has no metadata.name", file, doc.line))
        return
    if kind in EVENT_KINDS:
        from airflow_argo_provider.manifest.event_documents import read_event_document

        read_event_document(doc, file, into)
        return
    if kind not in KIND_MODELS:
        supported = ", ".join([*KIND_MODELS, *EVENT_KINDS])
        into.file_problems.append(
            Problem(
                "AAP109", f"kind {kind} is not compiled (supported: {supported})", file, doc.line_of(("kind",)), "kind"
            )
        )
        return
    problems = header_problems(doc, file)
    data = normalise(kind, value)
    model, schema_problems = validate_model(kind, doc, file, data)
    problems.extend(schema_problems)
    named = _workflow_name(doc)
    if named is None:
        problems.append(
            Problem(
                "AAP012",
                "metadata.name or metadata.generateName is required",
                file,
                doc.line_of(("metadata",)),
                "metadata",
            )
        )
    manifest = Manifest(
        kind=kind, name=named[0] if named else "", model=model, doc=doc, file=file, data=data, problems=problems
    )
    into.manifests.append(manifest)


def load_paths(paths: Sequence[str | os.PathLike[str]] | str | os.PathLike[str]) -> ManifestSet:
    """Read and check every manifest under ``paths`` (files or folders).

    Returns the :class:`ManifestSet`; problems are collected, not raised, so that one bad
    file never hides the others. See :func:`airflow_argo_provider.manifest.check.check_set`
    for the checks that need the whole set (references, names).
    """
    from airflow_argo_provider.manifest.check import check_set

    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    files, problems = manifest_files(paths)
    result = ManifestSet(file_problems=problems)
    for file in files:
        read_file(file, result)
    check_set(result)
    return result


def load_text(text: str, file: str = "<string>") -> ManifestSet:
    """Read and check manifests given as text (used by tests and the Python API)."""
    from airflow_argo_provider.manifest.check import check_set

    result = ManifestSet()
    result.files.append(file)
    try:
        documents = list(read_documents(text))
    except YamlSyntaxError as exc:
        result.file_problems.append(Problem(exc.code, exc.message, file, exc.line))
        return result
    for doc in documents:
        try:
            read_document(doc, file, result)
        except Exception as exc:
            result.file_problems.append(internal_problem(file, doc.line, exc, "reading"))
    check_set(result)
    return result


def runnable_manifest(mset: ManifestSet, file: str, entrypoint: str | None = None) -> Manifest | None:
    """The manifest of ``file`` to run: its first Workflow or CronWorkflow, else a WorkflowTemplate
    with an entrypoint (or any WorkflowTemplate when ``entrypoint`` is given)."""
    target = str(FsPath(file).resolve())
    candidates = [m for m in mset.by_kind(*DAG_KINDS) if str(FsPath(m.file).resolve()) == target]
    candidates.sort(key=lambda m: (m.kind == "WorkflowTemplate", m.doc.index))
    for manifest in candidates:
        if manifest.kind != "WorkflowTemplate" or entrypoint or (manifest.spec and manifest.spec.entrypoint):
            return manifest
    return None
