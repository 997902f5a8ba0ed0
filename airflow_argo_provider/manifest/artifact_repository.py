"""Argo's artifact repository format, and the repository a ConfigMap of the folder tree names.

Read when manifests are checked (``artifactRepositoryRef`` naming a ConfigMap or key that is not
there is a problem with a line) and when plans are built; the deployment's own repository
(``[argo] artifact_repository``, the ``argo_artifacts`` connection) is read at run time by
:mod:`airflow_argo_provider.artifacts.repository`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

DEFAULT_KEY_FORMAT = "{{workflow.name}}/{{pod.name}}"
DEFAULT_CONFIG_MAP = "artifact-repositories"
DEFAULT_KEY_ANNOTATION = "workflows.argoproj.io/default-artifact-repository"
OTHER_STORES = ("gcs", "azure", "oss", "hdfs", "artifactory", "git", "http", "raw")
# Fields of an s3 repository that are not part of an artifact's location.
_NOT_LOCATION = ("keyFormat", "keyPrefix")


class RepositoryError(ValueError):
    """An artifact repository is missing or malformed; ``code`` is the problem code."""

    def __init__(self, message: str, code: str = "AAP031") -> None:
        super().__init__(message)
        self.code = code


def parse(value: Any, source: str) -> dict[str, Any]:
    """A repository from Argo's format (YAML text or a mapping)."""
    if isinstance(value, str):
        import yaml

        try:
            value = yaml.safe_load(value)
        except yaml.YAMLError as exc:
            raise RepositoryError(f"{source}: not valid YAML: {exc}") from None
    if not isinstance(value, Mapping):
        raise RepositoryError(f"{source}: an artifact repository must be a mapping with an `s3` entry")
    other = [k for k in OTHER_STORES if value.get(k) is not None]
    if value.get("s3") is None and other:
        raise RepositoryError(f"{source}: {other[0]} artifact repositories are not supported (S3 is)", "AAP107")
    s3 = value.get("s3") if value.get("s3") is not None else {k: v for k, v in value.items() if k != "connId"}
    if not isinstance(s3, Mapping):
        raise RepositoryError(f"{source}: `s3` must be a mapping")
    s3 = dict(s3)
    if value.get("connId") and "connId" not in s3:
        s3["connId"] = value["connId"]
    if not s3.get("bucket"):
        raise RepositoryError(f"{source}: the s3 repository has no `bucket`")
    key_format = s3.get("keyFormat")
    if not key_format and s3.get("keyPrefix"):
        key_format = str(s3["keyPrefix"]).rstrip("/") + "/" + DEFAULT_KEY_FORMAT
    for name in ("accessKeySecret", "secretKeySecret", "sessionTokenSecret"):
        ref = s3.get(name)
        if ref is not None and not (isinstance(ref, Mapping) and ref.get("name") and ref.get("key")):
            raise RepositoryError(f"{source}: s3.{name} must have `name` and `key`")
    return {
        "s3": {k: v for k, v in s3.items() if k not in _NOT_LOCATION},
        "keyFormat": str(key_format or DEFAULT_KEY_FORMAT),
        "source": source,
    }


def from_config_maps(
    config_maps: Mapping[str, Mapping[str, Any]], ref: Mapping[str, Any] | None
) -> dict[str, Any] | None:
    """The repository named by ``artifactRepositoryRef`` (or the folder's default ConfigMap).

    ``config_maps`` maps names to whole ConfigMap objects (``metadata`` and ``data``).
    Raises :class:`RepositoryError` when the ref cannot be resolved.
    """
    if ref is None:
        default = config_maps.get(DEFAULT_CONFIG_MAP)
        key = _annotation(default) if default is not None else None
        if default is None or not key:
            return None
        ref = {"configMap": DEFAULT_CONFIG_MAP, "key": key}
    if not isinstance(ref, Mapping):
        raise RepositoryError("artifactRepositoryRef must be a mapping with `configMap` and `key`")
    name = str(ref.get("configMap") or DEFAULT_CONFIG_MAP)
    obj = config_maps.get(name)
    if obj is None:
        raise RepositoryError(
            f"ConfigMap {name!r} is not in the manifests' folder tree; add it "
            "(kind: ConfigMap) beside the workflow, or remove the ref to use [argo] artifact_repository"
        )
    key = ref.get("key") or _annotation(obj)
    if not key:
        raise RepositoryError(
            f"artifactRepositoryRef names no key, and ConfigMap {name!r} has no annotation {DEFAULT_KEY_ANNOTATION}"
        )
    data = obj.get("data") or {}
    if key not in data:
        keys = ", ".join(sorted(map(str, data))) or "none"
        raise RepositoryError(f"ConfigMap {name!r} has no key {key!r} (it has: {keys})")
    return parse(data[key], f"ConfigMap {name!r} key {key!r}")


def _annotation(obj: Mapping[str, Any] | None) -> str | None:
    annotations = ((obj or {}).get("metadata") or {}).get("annotations") or {}
    value = annotations.get(DEFAULT_KEY_ANNOTATION)
    return str(value) if value else None
