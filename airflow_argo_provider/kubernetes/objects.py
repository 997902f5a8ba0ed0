"""The pure parts of Argo ``resource`` templates: requests, conditions and outputs (no Airflow).

A ``resource`` template acts on one Kubernetes object: ``action`` (``create``, ``apply``,
``delete``, ``get``, ``patch``, ``replace``) with a ``manifest`` (``{{...}}`` already
substituted) or the manifest read from ``manifestFrom.artifact``, and kubectl ``flags``. Both
backends share what this module computes:

- :func:`parse_request`: the manifest and the flags as a :class:`ResourceRequest` (the object,
  the target named by flags, a label selector, the patch type);
- :func:`kubectl_arguments`: the ``kubectl`` command line Argo's executor runs for the request
  (the manifest goes on stdin, ``-f -``), used by the local backend;
- :func:`parse_conditions` and :func:`evaluate_conditions`: ``successCondition`` and
  ``failureCondition``, Kubernetes label-selector syntax over the object's fields (``status.
  succeeded > 2``, ``status.phase in (Failed, Error)``, ``status.phase == Succeeded``,
  ``metadata.labels.x``, ``!status.x``), fields read with gjson paths as Argo does;
- :func:`kube_jsonpath`: ``valueFrom.jsonPath`` in kubectl's template form (``{.metadata.name}``),
  the expressions of :mod:`airflow_argo_provider.expressions.jsonpath` inside ``{...}``;
- :func:`jq_filter`: ``valueFrom.jqFilter`` through the ``jq`` library, in a child process with
  a time limit, with the builtins that read the environment or other inputs refused.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from airflow_argo_provider.manifest.resource_syntax import (
    ACTIONS,
    MERGE_STRATEGIES,
    Requirement,
    ResourceError,
    check_jq,
    kube_jsonpath,
)
from airflow_argo_provider.manifest.yaml_source import YamlSyntaxError, load_all

PATCH_CONTENT_TYPES = {
    "strategic": "application/strategic-merge-patch+json",
    "merge": "application/merge-patch+json",
    "json": "application/json-patch+json",
}
FIELD_MANAGER = "airflow-argo-provider"
JQ_TIMEOUT_SECONDS = 10.0


# -- flags ---------------------------------------------------------------------------------------
# kubectl flags the kubernetes backend understands (name -> takes a value); the local backend
# passes every flag to kubectl unchanged.
_VALUE_FLAGS = {
    "--selector": "selector",
    "-l": "selector",
    "--namespace": "namespace",
    "-n": "namespace",
    "--field-manager": "field_manager",
    "--cascade": "cascade",
    "--grace-period": "grace_period",
    "--validate": "validate",
    "--ignore-not-found": "ignore_not_found",
    "--server-side": "server_side",
    "--force-conflicts": "force_conflicts",
    "--wait": "wait",
}
_BOOLEAN_FLAGS = ("--validate", "--ignore-not-found", "--server-side", "--force-conflicts", "--wait")
SUPPORTED_FLAGS = tuple(sorted(_VALUE_FLAGS))


@dataclass
class Flags:
    """kubectl ``flags`` as the object API needs them."""

    type_name: str | None = None  # "pod", "configmap", "jobs.batch" (a kubectl resource type)
    name: str | None = None
    selector: str | None = None
    namespace: str | None = None
    options: dict[str, str] = field(default_factory=dict)


def parse_flags(flags: Sequence[str]) -> Flags:
    """The flags of a template; raises :class:`ResourceError` for one the object API cannot honour."""
    out = Flags()
    positional: list[str] = []
    items = [str(f) for f in flags]
    i = 0
    while i < len(items):
        token = items[i]
        i += 1
        if not token.startswith("-") or token == "-":
            positional.append(token)
            continue
        key, eq, value = token.partition("=")
        if key.startswith("-l") and len(key) > 2 and not key.startswith("--"):
            key, value, eq = "-l", key[2:], "="
        if key not in _VALUE_FLAGS:
            raise ResourceError(
                f"flag {key!r} is not supported by the kubernetes backend (supported: {', '.join(SUPPORTED_FLAGS)})"
            )
        if not eq:
            if key in _BOOLEAN_FLAGS:
                value = "true"
            elif i < len(items):
                value = items[i]
                i += 1
            else:
                raise ResourceError(f"flag {key!r} needs a value")
        target = _VALUE_FLAGS[key]
        if target == "selector":
            out.selector = value
        elif target == "namespace":
            out.namespace = value
        else:
            out.options[target] = value
    if len(positional) > 2:
        raise ResourceError(f"flags name more than a resource type and a name: {' '.join(positional)}")
    if positional:
        first = positional[0]
        if "/" in first:
            if len(positional) > 1:
                raise ResourceError(f"flags name the object twice: {' '.join(positional)}")
            out.type_name, _, out.name = first.partition("/")
        else:
            out.type_name = first
            out.name = positional[1] if len(positional) > 1 else None
    return out


# -- the request -------------------------------------------------------------------------------------
@dataclass
class ResourceRequest:
    """One resource invocation: what to do, to which object."""

    action: str
    manifest: str  # the manifest text as substituted ("" when flags alone name the object)
    document: Any  # the parsed manifest (a mapping; a list for JSON patches), None without one
    flags: list[str]
    merge_strategy: str = "strategic"
    success: str = ""
    failure: str = ""
    set_owner_reference: bool = False

    @property
    def obj(self) -> dict[str, Any]:
        return self.document if isinstance(self.document, dict) else {}

    @property
    def api_version(self) -> str:
        return str(self.obj.get("apiVersion") or "")

    @property
    def kind(self) -> str:
        return str(self.obj.get("kind") or "")

    @property
    def name(self) -> str:
        return str((self.obj.get("metadata") or {}).get("name") or "")

    @property
    def namespace(self) -> str:
        return str((self.obj.get("metadata") or {}).get("namespace") or "")

    @property
    def waits(self) -> bool:
        return bool(self.success or self.failure) and self.action != "delete"

    def describe(self) -> str:
        target = parse_flags(self.flags) if self.flags else Flags()
        kind = target.type_name or self.kind or "object"
        name = target.name or self.name or (f"-l {target.selector}" if target.selector else "")
        if not name and (self.obj.get("metadata") or {}).get("generateName"):
            name = str(self.obj["metadata"]["generateName"]) + "*"
        return f"{kind}/{name}" if name else kind


def parse_request(resource: Mapping[str, Any], manifest: str | None = None) -> ResourceRequest:
    """The request of a substituted ``resource`` body (``manifest``: text from ``manifestFrom``)."""
    action = str(resource.get("action") or "")
    if action not in ACTIONS:
        raise ResourceError(f"resource action {action!r} is not one of {', '.join(ACTIONS)}")
    text = manifest if manifest is not None else str(resource.get("manifest") or "")
    strategy = str(resource.get("mergeStrategy") or "strategic")
    if strategy not in MERGE_STRATEGIES:
        raise ResourceError(f"mergeStrategy {strategy!r} is not one of {', '.join(MERGE_STRATEGIES)}")
    flags = [str(f) for f in resource.get("flags") or []]
    document: Any = None
    if text.strip():
        try:  # the same limits as manifests (no alias bombs, bounded depth)
            documents = load_all(text)
        except YamlSyntaxError as exc:
            raise ResourceError(f"the resource manifest is not valid YAML: line {exc.line}: {exc.message}") from None
        if len(documents) != 1:
            raise ResourceError(f"the resource manifest holds {len(documents)} objects; write exactly one")
        document = documents[0]
        json_patch = action == "patch" and strategy == "json"
        if json_patch and not isinstance(document, list):
            raise ResourceError("a json patch (mergeStrategy: json) is a list of operations")
        if not json_patch and not isinstance(document, dict):
            raise ResourceError("the resource manifest is not a Kubernetes object (a mapping)")
        if not json_patch and not flags:
            for key in ("apiVersion", "kind"):
                if not document.get(key):
                    raise ResourceError(f"the resource manifest has no {key}")
    elif not flags:
        raise ResourceError("a resource template needs a manifest (or flags naming the object)")
    request = ResourceRequest(
        action=action,
        manifest=text,
        document=document,
        flags=flags,
        merge_strategy=strategy,
        success=str(resource.get("successCondition") or ""),
        failure=str(resource.get("failureCondition") or ""),
        set_owner_reference=bool(resource.get("setOwnerReference")),
    )
    return request


def kubectl_arguments(request: ResourceRequest) -> tuple[list[str], str | None]:
    """The arguments after ``kubectl`` (as Argo's executor builds them) and what goes on stdin."""
    args = [request.action]
    output = "json"
    if request.action == "delete":
        args.append("--ignore-not-found")
        output = "name"
    stdin: str | None = None
    if request.action == "patch":
        patch = request.document
        args += ["--type", request.merge_strategy, "-p", json.dumps(patch, separators=(",", ":"))]
    args += request.flags
    names_object = request.action != "patch" or not request.flags
    if request.manifest.strip() and names_object:
        # A patch without flags patches the object its manifest names (read from stdin too).
        stdin = request.manifest
        args += ["-f", "-"]
    args += ["-o", output]
    return args, stdin


def object_reference(obj: Mapping[str, Any]) -> str:
    """``kind.group/name`` of an object, the way kubectl names it (``job.batch/rand-num-x``)."""
    api_version = str(obj.get("apiVersion") or "")
    kind = str(obj.get("kind") or "").lower()
    group = api_version.split("/", 1)[0] if "/" in api_version else ""
    name = str((obj.get("metadata") or {}).get("name") or "")
    return f"{kind}.{group}/{name}" if group else f"{kind}/{name}"


# -- conditions ------------------------------------------------------------------------------------
@dataclass
class ConditionState:
    """Where an object stands: ``failed`` (with the message), ``succeeded``, or neither (wait)."""

    succeeded: bool = False
    failed: bool = False
    message: str = ""


def evaluate_conditions(obj: Any, success: Sequence[Requirement], failure: Sequence[Requirement]) -> ConditionState:
    """Argo's rule: any failure requirement that holds fails the step; else all success requirements
    must hold (the failure condition's requirements are each enough on their own)."""
    for requirement in failure:
        if requirement.matches(obj):
            return ConditionState(failed=True, message=f"failure condition '{requirement}' evaluated true")
    if all(r.matches(obj) for r in success):
        return ConditionState(succeeded=True)
    return ConditionState()


# -- outputs ---------------------------------------------------------------------------------------
def jq_filter(program: str, obj: Any, timeout: float = JQ_TIMEOUT_SECONDS) -> str:
    """``jq -rc PROGRAM`` over ``obj``: strings raw, other values as compact JSON, one per line."""
    check_jq(program)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "airflow_argo_provider.kubernetes.objects", program],
            input=json.dumps(obj).encode(),
            capture_output=True,
            timeout=timeout,
            env={"PYTHONPATH": ":".join(p for p in sys.path if p)},
        )
    except subprocess.TimeoutExpired:
        raise ResourceError(f"jqFilter {program!r} ran longer than {timeout:g}s") from None
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise ResourceError(f"jqFilter {program!r}: {message[-1] if message else 'failed'}")
    text = done.stdout.decode("utf-8", "replace")
    return text[:-1] if text.endswith("\n") else text


def _jq_main(program: str) -> int:
    import jq

    try:
        compiled = jq.compile(program)
        results = compiled.input_text(sys.stdin.read()).all()
    except ValueError as exc:
        sys.stderr.write(f"{exc}\n")
        return 2
    lines = [r if isinstance(r, str) else json.dumps(r, separators=(",", ":"), ensure_ascii=False) for r in results]
    sys.stdout.write("\n".join(lines) + ("\n" if lines else ""))
    return 0


def output_values(outputs: Mapping[str, Any] | None, obj: Any) -> tuple[dict[str, str], dict[str, str]]:
    """``outputs.parameters`` read from the object: values, and the problems of those that failed."""
    values: dict[str, str] = {}
    problems: dict[str, str] = {}
    for param in (outputs or {}).get("parameters") or []:
        value_from = param.get("valueFrom") or {}
        try:
            if value_from.get("jsonPath"):
                values[param["name"]] = kube_jsonpath(str(value_from["jsonPath"]), obj)
            elif value_from.get("jqFilter"):
                values[param["name"]] = jq_filter(str(value_from["jqFilter"]), obj)
        except ResourceError as exc:
            problems[param["name"]] = str(exc)
    return values, problems


if __name__ == "__main__":  # the jq child process
    sys.exit(_jq_main(sys.argv[1]))
