"""Load-time checks of artifacts: malformed specs and an unresolvable ``artifactRepositoryRef``.

Each problem carries the field path of the artifact (so file and line), code ``AAP031``
(``AAP107`` for a repository in another store). What only a run can know (whether a
deployment has an artifact repository configured, whether an object exists) is checked when
the step is prepared, and reported on the node.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from airflow_argo_provider.expressions import template_variables
from airflow_argo_provider.manifest.support import Finding, _get, _templates
from airflow_argo_provider.manifest.yaml_source import Path

SOURCES = ("from", "fromExpression", "s3", "gcs", "azure", "http", "artifactory", "git", "raw")
# Where a container's or script's output artifact can be stored.
OUTPUT_STORES = ("s3", "gcs", "azure", "http", "artifactory")
_SECRET_FIELDS = {
    "gcs": ("serviceAccountKeySecret",),
    "azure": ("accountKeySecret",),
    "git": ("usernameSecret", "passwordSecret", "sshPrivateKeySecret"),
    "artifactory": ("usernameSecret", "passwordSecret"),
}
_LEAF_BODIES = ("container", "script")
_REFERENCE_PREFIXES = ("steps.", "tasks.", "inputs.artifacts.", "workflow.outputs.artifacts.")


def artifact_problems(
    raw: dict[str, Any], spec_path: Path, config_maps: Mapping[str, Mapping[str, Any]]
) -> Iterator[Finding]:
    """Yield ``(path, code, message)`` for every malformed artifact of one manifest."""
    spec = _get(raw, spec_path)
    if not isinstance(spec, dict):
        return
    if spec.get("artifactRepositoryRef") is not None or "artifact-repositories" in config_maps:
        from airflow_argo_provider.manifest.artifact_repository import RepositoryError, from_config_maps

        try:
            from_config_maps(config_maps, spec.get("artifactRepositoryRef"))
        except RepositoryError as exc:
            where = (
                (*spec_path, "artifactRepositoryRef") if spec.get("artifactRepositoryRef") is not None else spec_path
            )
            yield where, exc.code, str(exc)
    for i, argument in enumerate((spec.get("arguments") or {}).get("artifacts") or []):
        yield from _argument(argument, (*spec_path, "arguments", "artifacts", i))
    for template, path in _templates(spec, spec_path):
        yield from _template(template, path)


def _sources(artifact: Mapping[str, Any]) -> list[str]:
    return [k for k in SOURCES if artifact.get(k) not in (None, "")]


def _check_source(artifact: Mapping[str, Any], path: Path) -> Iterator[Finding]:
    sources = _sources(artifact)
    if len(sources) > 1:
        yield (*path, sources[1]), "AAP031", f"an artifact takes one source; this one has {' and '.join(sources)}"
        return
    if not sources:
        return
    source = sources[0]
    value = artifact[source]
    if source == "from":
        names = template_variables(str(value))
        text = str(value).replace(" ", "")
        if (
            len(names) != 1
            or text != "{{" + names[0].replace(" ", "") + "}}"
            or not names[0].startswith(_REFERENCE_PREFIXES)
        ):
            yield (
                (*path, "from"),
                "AAP031",
                (
                    "`from` must be one reference: {{steps.NAME.outputs.artifacts.ART}}, {{tasks.NAME.outputs."
                    "artifacts.ART}}, {{inputs.artifacts.ART}} or {{workflow.outputs.artifacts.ART}}"
                ),
            )
    elif source == "s3":
        if not isinstance(value, dict) or not (value.get("key") or value.get("bucket")):
            yield (*path, "s3"), "AAP031", "an s3 artifact needs a `key` (and a `bucket`, or an artifact repository)"
        else:
            for name in ("accessKeySecret", "secretKeySecret", "sessionTokenSecret"):
                ref = value.get(name)
                if ref is not None and not (isinstance(ref, dict) and ref.get("name") and ref.get("key")):
                    yield (*path, "s3", name), "AAP031", f"s3.{name} must name a secret and a key"
            if bool(value.get("accessKeySecret")) != bool(value.get("secretKeySecret")):
                yield (*path, "s3"), "AAP031", "s3 accessKeySecret and secretKeySecret go together"
    elif source in ("http", "artifactory"):
        url = value.get("url") if isinstance(value, dict) else None
        if not url:
            yield (*path, source), "AAP031", f"an {source} artifact needs a `url`"
    elif source in ("gcs", "azure", "git"):
        yield from _check_other(source, value, path)
    elif source == "raw" and (not isinstance(value, dict) or value.get("data") is None):
        yield (*path, "raw"), "AAP031", "a raw artifact needs `data`"


def _check_other(source: str, value: Any, path: Path) -> Iterator[Finding]:
    if not isinstance(value, dict):
        yield (*path, source), "AAP031", f"the {source} location is a mapping"
        return
    required = {"gcs": ("bucket", "key"), "azure": ("endpoint", "container", "blob"), "git": ("repo",)}[source]
    missing = [f for f in required if not value.get(f)]
    if missing:
        yield (*path, source), "AAP031", f"the {source} location needs {' and '.join(f'`{f}`' for f in missing)}"
    for name in _SECRET_FIELDS.get(source, ()):
        ref = value.get(name)
        if ref is not None and not (isinstance(ref, dict) and ref.get("name") and ref.get("key")):
            yield (*path, source, name), "AAP031", f"{source}.{name} must name a secret and a key"
    if source == "git" and value.get("singleBranch") and not value.get("branch"):
        yield (*path, source, "singleBranch"), "AAP031", "git singleBranch needs a `branch`"


def _check_archive(artifact: Mapping[str, Any], path: Path) -> Iterator[Finding]:
    archive = artifact.get("archive")
    if archive is None:
        return
    modes = [k for k in ("none", "tar", "zip") if isinstance(archive, dict) and archive.get(k) is not None]
    if len(modes) != 1:
        yield (*path, "archive"), "AAP031", "archive takes exactly one of none, tar and zip"
        return
    level = (archive.get("tar") or {}).get("compressionLevel") if modes == ["tar"] else None
    if level is not None and not (isinstance(level, int) and 0 <= level <= 9):
        yield (*path, "archive", "tar", "compressionLevel"), "AAP031", "compressionLevel must be from 0 to 9"


def _check_output_location(store: str, value: Any, path: Path) -> Iterator[Finding]:
    """An output's GCS/Azure location may leave its key out (Argo's default key is used)."""
    if store in ("http", "artifactory"):
        yield from _check_source({store: value}, path)
        return
    if not isinstance(value, dict):
        yield (*path, store), "AAP031", f"the {store} location is a mapping"
        return
    required = {"gcs": ("bucket",), "azure": ("endpoint", "container")}[store]
    missing = [f for f in required if not value.get(f)]
    if missing:
        yield (
            (*path, store),
            "AAP031",
            f"the {store} location of an output artifact needs {' and '.join(f'`{f}`' for f in missing)}",
        )


def _argument(artifact: Any, path: Path) -> Iterator[Finding]:
    if not isinstance(artifact, dict):
        return
    yield from _check_source(artifact, path)
    if not _sources(artifact) and not artifact.get("optional"):
        message = (
            f"argument artifact {artifact.get('name')!r} has no source (from, fromExpression, s3, gcs, azure, "
            "http, artifactory, git or raw)"
        )
        yield path, "AAP031", message


def _template(template: dict[str, Any], path: Path) -> Iterator[Finding]:
    leaf = any(template.get(body) is not None for body in _LEAF_BODIES)
    group = template.get("steps") is not None or template.get("dag") is not None
    for i, artifact in enumerate((template.get("inputs") or {}).get("artifacts") or []):
        where = (*path, "inputs", "artifacts", i)
        if not isinstance(artifact, dict):
            continue
        if leaf and not artifact.get("path"):
            yield where, "AAP031", f"input artifact {artifact.get('name')!r} needs a `path` to be placed at"
        yield from _check_source(artifact, where)
        yield from _check_archive(artifact, where)
    for i, artifact in enumerate((template.get("outputs") or {}).get("artifacts") or []):
        where = (*path, "outputs", "artifacts", i)
        if not isinstance(artifact, dict):
            continue
        sources = _sources(artifact)
        if leaf:
            if not artifact.get("path"):
                yield where, "AAP031", f"output artifact {artifact.get('name')!r} needs the `path` it is read from"
            if "git" in sources:
                yield (*where, "git"), "AAP107", "git artifacts are inputs only (Argo has no git output)"
            elif any(s in sources for s in ("from", "fromExpression", "raw")):
                first = next(s for s in sources if s not in OUTPUT_STORES)
                message = (
                    "an output artifact of a container or script is stored in S3, GCS, Azure Blob, HTTP or "
                    f"Artifactory; `{first}` is not allowed here"
                )
                yield (*where, first), "AAP031", message
            yield from _check_archive(artifact, where)
            stores = [s for s in sources if s in OUTPUT_STORES]
            if len(stores) > 1:
                yield (
                    (*where, stores[1]),
                    "AAP031",
                    f"an artifact takes one location; this one has {' and '.join(stores)}",
                )
            elif stores and stores[0] != "s3":
                yield from _check_output_location(stores[0], artifact[stores[0]], where)
            elif stores:
                yield from _check_source({"s3": artifact["s3"]}, where)
        elif group:
            if not any(s in sources for s in ("from", "fromExpression")):
                yield (
                    where,
                    "AAP031",
                    (
                        f"output artifact {artifact.get('name')!r} of a steps/dag template needs `from` or `fromExpression`"
                    ),
                )
            else:
                yield from _check_source({k: artifact[k] for k in ("from", "fromExpression") if k in artifact}, where)
    for key in ("steps", "dag"):
        body = template.get(key)
        invocations: list[tuple[Any, Path]] = []
        if key == "steps" and isinstance(body, list):
            for g, group_steps in enumerate(body):
                for s, step in enumerate(group_steps or []):
                    invocations.append((step, (*path, "steps", g, s)))
        elif key == "dag" and isinstance(body, dict):
            for t, task in enumerate(body.get("tasks") or []):
                invocations.append((task, (*path, "dag", "tasks", t)))
        for invocation, where in invocations:
            if not isinstance(invocation, dict):
                continue
            for i, argument in enumerate((invocation.get("arguments") or {}).get("artifacts") or []):
                yield from _argument(argument, (*where, "arguments", "artifacts", i))
            for event, hook in (invocation.get("hooks") or {}).items():
                if isinstance(hook, dict):
                    for i, argument in enumerate((hook.get("arguments") or {}).get("artifacts") or []):
                        yield from _argument(argument, (*where, "hooks", event, "arguments", "artifacts", i))
