"""The pod of one Argo container or script invocation, built the way Argo's controller builds it.

Input: the invocation's template with every ``{{...}}`` resolved, the workflow's pod settings
(``Plan.pod_spec``: ``volumes``, ``nodeSelector``, ``podMetadata``, ``podSpecPatch``, ...) in
Argo's JSON names, and where the pod goes (:class:`PodTarget`). Output: the pod as a
Kubernetes JSON document; :func:`to_v1pod` turns it into a ``kubernetes.client.V1Pod`` and
proves on the way that the client models accept every field.

Precedence is Argo's: a template field wins over the workflow's (``nodeSelector``,
``affinity``, ``tolerations``, ``schedulerName``, priority class, ``securityContext``,
``serviceAccountName``, ``automountServiceAccountToken``); host aliases and metadata add up
(template last); the template's ``volumes`` are always added, the workflow's volumes and
volume claims only when a container mounts them; ``podSpecPatch`` (workflow first, then the
template's) is applied last. The layout that brings outputs back is described in
:mod:`airflow_argo_provider.kubernetes.capture`.
"""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from airflow_argo_provider.artifacts.model import StepArtifacts
from airflow_argo_provider.kubernetes import artifacts as pod_artifacts
from airflow_argo_provider.kubernetes import capture
from airflow_argo_provider.kubernetes.patch import PatchError, apply_patch, parse_patch

MAIN_CONTAINER = "main"
WORKFLOW_LABEL = "workflows.argoproj.io/workflow"
NODE_NAME_ANNOTATION = "workflows.argoproj.io/node-name"

# Entrypoints of images that templates commonly use without a `command`. Argo's emissary
# executor has the same need and the same kind of table (the controller's `images` index).
KNOWN_IMAGE_COMMANDS: dict[str, list[str]] = {
    "argoproj/argosay:v1": ["/argosay"],
    "argoproj/argosay:v2": ["/argosay"],
    "quay.io/argoproj/argosay:v1": ["/argosay"],
    "quay.io/argoproj/argosay:v2": ["/argosay"],
    "docker/whalesay": ["/bin/bash"],
    "docker/whalesay:latest": ["/bin/bash"],
}

_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


class PodBuildError(ValueError):
    """The invocation cannot become a pod (the node is an Error, as in Argo)."""


@dataclass(frozen=True)
class PodSettings:
    """Deployment settings of the pod layout (from Airflow's configuration, not the manifest)."""

    executor_image: str = capture.DEFAULT_EXECUTOR_IMAGE
    executor_image_pull_policy: str | None = None
    image_commands: Mapping[str, Sequence[str]] = field(default_factory=lambda: dict(KNOWN_IMAGE_COMMANDS))
    # The artifact agent's image (Python, boto3 and this package): needed by steps with artifacts.
    artifact_image: str | None = None
    artifact_image_pull_policy: str | None = None
    # Seconds the outputs wrapper waits for the artifact agent's first heartbeat.
    agent_start_timeout: int = 600


@dataclass(frozen=True)
class PodTarget:
    """Where and as what the pod is created."""

    name: str
    workflow_name: str
    node_name: str
    namespace: str | None = None
    # volumeClaimTemplates name -> the PersistentVolumeClaim created for this run
    claims: Mapping[str, str] = field(default_factory=dict)
    # a deadline of the run (seconds from now) that may shorten activeDeadlineSeconds
    deadline_seconds: float | None = None


def label_value(text: str) -> str:
    """``text`` as a valid label value (at most 63 characters of ``[-_.A-Za-z0-9]``)."""
    if len(text) <= 63 and _LABEL_VALUE.match(text):
        return text
    cleaned = re.sub(r"[^-_.A-Za-z0-9]+", "-", text)[:63].strip("-_.")
    return cleaned


def image_command(image: str, settings: PodSettings) -> list[str] | None:
    """The entrypoint of ``image`` from the known-images table (untagged means ``:latest``)."""
    table = settings.image_commands
    tagged = ":" in image.rsplit("/", 1)[-1]
    candidates = [image]
    if not tagged:
        candidates.append(f"{image}:latest")
    elif image.endswith(":latest"):
        candidates.append(image[: -len(":latest")])
    for key in candidates:
        if key in table:
            return list(table[key])
    return None


def _int(value: Any, where: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(str(value).strip())
    except ValueError:
        raise PodBuildError(f"{where}: {value!r} is not a whole number of seconds") from None


def _main_container(
    template: Mapping[str, Any],
    settings: PodSettings,
    outputs: Sequence[str],
    artifact_paths: Sequence[str] | None = None,
) -> dict[str, Any]:
    is_script = "script" in template
    body = copy.deepcopy(template.get("script") if is_script else template.get("container")) or {}
    source = body.pop("source", None) if is_script else None
    name = body.get("name") or MAIN_CONTAINER
    body["name"] = name
    image = body.get("image")
    if not image:
        raise PodBuildError(f"template {template.get('name', '')!r} has no image")
    command = list(body.get("command") or [])
    if not command:
        command = image_command(str(image), settings) or []
    if not command:
        raise PodBuildError(
            f"template {template.get('name', '')!r}: the command of image {image!r} is not known. Set `command` "
            "in the template, or list the image's entrypoint in [argo] kubernetes_image_commands (Argo's "
            "emissary executor needs the same)"
        )
    args = list(body.get("args") or [])
    if is_script and source is not None:
        args.append(capture.SCRIPT_PATH)
    if artifact_paths is None:
        body["command"] = capture.wrap_command(command, outputs)
    else:
        inner = capture.wrap_command(command, outputs, document=pod_artifacts.MAIN_DOCUMENT)
        body["command"] = pod_artifacts.wrap_outputs(inner, artifact_paths, settings.agent_start_timeout)
    if args:
        body["args"] = args
    else:
        body.pop("args", None)
    mounts = list(body.get("volumeMounts") or [])
    mounts.append({"name": capture.ARGO_VOLUME, "mountPath": capture.ARGO_DIR})
    mounts.append({"name": capture.XCOM_VOLUME, "mountPath": capture.XCOM_DIR})
    if is_script:
        mounts.append({"name": capture.STAGING_VOLUME, "mountPath": capture.STAGING_DIR})
    body["volumeMounts"] = mounts
    return body


def _set_retry(template: Mapping[str, Any]) -> tuple[int, int]:
    from airflow_argo_provider.runtime.retry import container_set_retry

    try:
        return container_set_retry(template)
    except ValueError as exc:
        raise PodBuildError(str(exc)) from None


def _set_containers(template: Mapping[str, Any], settings: PodSettings, outputs: Sequence[str]) -> list[dict[str, Any]]:
    """The containers of a ``containerSet``, each started through the set wrapper; the one named
    ``main`` (or an added executor container of that name) collects the outputs at the end."""
    body = template.get("containerSet") or {}
    members = [copy.deepcopy(c) for c in body.get("containers") or []]
    if not members:
        raise PodBuildError(f"template {template.get('name', '')!r}: containerSet has no containers")
    names = [str(c.get("name") or "") for c in members]
    shared = list(body.get("volumeMounts") or [])
    retries, delay = _set_retry(template)
    out: list[dict[str, Any]] = []
    for container in members:
        name = str(container.get("name") or "")
        image = container.get("image")
        if not image:
            raise PodBuildError(f"template {template.get('name', '')!r}: container {name!r} has no image")
        command = list(container.get("command") or []) or image_command(str(image), settings) or []
        if not command:
            raise PodBuildError(
                f"template {template.get('name', '')!r}: the command of image {image!r} (container {name!r}) is "
                "not known. Set `command`, or list the image's entrypoint in [argo] kubernetes_image_commands"
            )
        deps = [str(d) for d in container.pop("dependencies", None) or []]
        collect = name == MAIN_CONTAINER
        container["command"] = capture.wrap_set_command(
            command,
            name=name,
            collect=collect,
            retries=retries,
            delay=delay,
            dependencies=deps,
            names=names,
            output_paths=outputs if collect else (),
        )
        mounts = [*copy.deepcopy(shared), *(container.get("volumeMounts") or [])]
        mounts.append({"name": capture.ARGO_VOLUME, "mountPath": capture.ARGO_DIR})
        if collect:
            mounts.append({"name": capture.XCOM_VOLUME, "mountPath": capture.XCOM_DIR})
        container["volumeMounts"] = mounts
        out.append(container)
    if MAIN_CONTAINER not in names:
        if outputs:
            raise PodBuildError('a containerSet template with outputs needs a container named "main"')
        collector: dict[str, Any] = {
            "name": MAIN_CONTAINER,
            "image": settings.executor_image,
            "command": capture.wrap_set_command(
                [],
                name=MAIN_CONTAINER,
                collect=True,
                retries=0,
                delay=0,
                dependencies=[],
                names=[*names, MAIN_CONTAINER],
                output_paths=(),
            ),
            "securityContext": copy.deepcopy(capture.EXECUTOR_SECURITY_CONTEXT),
            "volumeMounts": [
                {"name": capture.ARGO_VOLUME, "mountPath": capture.ARGO_DIR},
                {"name": capture.XCOM_VOLUME, "mountPath": capture.XCOM_DIR},
            ],
        }
        if settings.executor_image_pull_policy:
            collector["imagePullPolicy"] = settings.executor_image_pull_policy
        out.insert(0, collector)
    else:
        out.sort(key=lambda c: c["name"] != MAIN_CONTAINER)  # main first, as the pod's base container
    return out


def _volumes(
    template: Mapping[str, Any],
    workflow: Mapping[str, Any],
    containers: Sequence[Mapping[str, Any]],
    claims: Mapping[str, str],
) -> list[dict[str, Any]]:
    """Template volumes, then the workflow volumes and claims the containers mount (Argo's order)."""
    own = [copy.deepcopy(v) for v in template.get("volumes") or []]
    available: dict[str, dict[str, Any]] = {}
    for volume in workflow.get("volumes") or []:
        available.setdefault(volume["name"], copy.deepcopy(volume))
    for claim in workflow.get("volumeClaimTemplates") or []:
        name = (claim.get("metadata") or {}).get("name")
        if name:
            available.setdefault(name, {"name": name, "persistentVolumeClaim": {"claimName": claims.get(name, name)}})
    names = {v["name"] for v in own}
    out = list(own)
    internal = {capture.ARGO_VOLUME, capture.STAGING_VOLUME, capture.XCOM_VOLUME, pod_artifacts.INPUTS_VOLUME}
    for container in containers:
        for mount in container.get("volumeMounts") or []:
            name = mount.get("name")
            if name in names or name in internal:
                continue
            volume = available.get(name)
            if volume is None:
                raise PodBuildError(f"volume {name!r} not found in workflow spec")
            out.append(volume)
            names.add(name)
    return out


def _first(template: Mapping[str, Any], workflow: Mapping[str, Any], key: str, wf_key: str | None = None) -> Any:
    value = template.get(key)
    if value not in (None, "", [], {}):
        return copy.deepcopy(value)
    value = workflow.get(wf_key or key)
    if value not in (None, "", [], {}):
        return copy.deepcopy(value)
    return None


def build_pod(
    template: Mapping[str, Any],
    workflow: Mapping[str, Any],
    target: PodTarget,
    settings: PodSettings | None = None,
    artifacts: StepArtifacts | None = None,
) -> dict[str, Any]:
    """The pod (Kubernetes JSON) that runs ``template``; raises :class:`PodBuildError`."""
    from airflow_argo_provider.runtime.step import output_paths

    settings = settings or PodSettings()
    is_set = "containerSet" in template
    if "container" not in template and "script" not in template and not is_set:
        raise PodBuildError("only container, script and containerSet templates run as pods")
    if is_set and artifacts and (artifacts.inputs or artifacts.outputs):
        raise PodBuildError(
            "artifacts of containerSet templates are not supported by the kubernetes backend (the local backend "
            "runs them); share files between the containers through a volume"
        )
    if artifacts and not settings.artifact_image:
        raise PodBuildError(
            "this step has artifacts: set [argo] kubernetes_artifact_image to an image with Python, boto3 and "
            "airflow-argo-provider (for example your Airflow worker image); it runs the artifact agent"
        )
    outputs = output_paths(template)
    has_outputs = bool(artifacts and artifacts.outputs)
    members: list[dict[str, Any]] = []
    if is_set:
        members = _set_containers(template, settings, outputs)
        main = members[0]
    else:
        main = _main_container(
            template, settings, outputs, [a.path for a in artifacts.outputs] if artifacts and has_outputs else None
        )
    is_script = "script" in template
    source = (template.get("script") or {}).get("source") if is_script else None

    for container in members or [main]:
        env = list(container.get("env") or [])
        env.extend(
            [
                {"name": "ARGO_CONTAINER_NAME", "value": container["name"]},
                {"name": "ARGO_POD_NAME", "value": target.name},
                {"name": "ARGO_NODE_NAME", "value": target.node_name},
            ]
        )
        container["env"] = env

    body = template.get("containerSet") if is_set else (template.get("container") or template.get("script"))
    user_mounts = [m for m in (body or {}).get("volumeMounts") or []]
    init_containers = [
        capture.init_container(
            settings.executor_image,
            script=None if source is None else str(source),
            pull_policy=settings.executor_image_pull_policy,
            wrapper=capture.SET_WRAPPER if is_set else capture.WRAPPER,
        )
    ]
    agent_volumes: list[dict[str, Any]] = []
    if artifacts and artifacts.inputs and settings.artifact_image:
        loader, input_mounts = pod_artifacts.load_container(
            artifacts, user_mounts, settings.artifact_image, settings.artifact_image_pull_policy
        )
        init_containers.append(loader)
        main["volumeMounts"] = [*main["volumeMounts"], *input_mounts]
        agent_volumes.append({"name": pod_artifacts.INPUTS_VOLUME, "emptyDir": {}})
    for extra in template.get("initContainers") or []:
        init_containers.append(_user_container(extra, user_mounts))
    sidecars = [_user_container(extra, user_mounts) for extra in template.get("sidecars") or []]
    if artifacts and has_outputs and settings.artifact_image:
        sidecars.append(
            pod_artifacts.wait_container(artifacts, settings.artifact_image, settings.artifact_image_pull_policy)
        )
    containers = [
        main,
        *members[1:],
        *sidecars,
        capture.xcom_sidecar(settings.executor_image, settings.executor_image_pull_policy),
    ]

    spec: dict[str, Any] = {"restartPolicy": "Never"}
    for key, wf_key in (
        ("serviceAccountName", None),
        ("nodeSelector", None),
        ("affinity", None),
        ("tolerations", None),
        ("schedulerName", None),
        ("priorityClassName", "podPriorityClassName"),
        ("priority", "podPriority"),
        ("securityContext", None),
    ):
        value = _first(template, workflow, key, wf_key)
        if value is not None:
            spec[key] = value
    automount = template.get("automountServiceAccountToken")
    if automount is None:
        automount = workflow.get("automountServiceAccountToken")
    if automount is not None:
        spec["automountServiceAccountToken"] = bool(automount)
    for key in ("imagePullSecrets", "dnsPolicy", "dnsConfig", "hostNetwork"):
        if workflow.get(key) not in (None, "", [], {}):
            spec[key] = copy.deepcopy(workflow[key])
    aliases = [*(workflow.get("hostAliases") or []), *(template.get("hostAliases") or [])]
    if aliases:
        spec["hostAliases"] = copy.deepcopy(aliases)

    deadline = _int(template.get("activeDeadlineSeconds"), "activeDeadlineSeconds")
    if target.deadline_seconds is not None:
        remaining = max(1, math.ceil(target.deadline_seconds))
        deadline = remaining if deadline is None else min(deadline, remaining)
    if deadline is not None:
        spec["activeDeadlineSeconds"] = deadline

    volumes = _volumes(template, workflow, [*init_containers[1:], *containers], target.claims)
    volumes.extend(agent_volumes)
    volumes.append({"name": capture.ARGO_VOLUME, "emptyDir": {}})
    volumes.append({"name": capture.XCOM_VOLUME, "emptyDir": {}})
    if is_script:
        volumes.append({"name": capture.STAGING_VOLUME, "emptyDir": {}})
    spec["initContainers"] = init_containers
    spec["containers"] = containers
    spec["volumes"] = volumes

    for where, text in (
        ("spec.podSpecPatch", workflow.get("podSpecPatch")),
        ("podSpecPatch", template.get("podSpecPatch")),
    ):
        if text in (None, ""):
            continue
        try:
            spec = apply_patch(spec, parse_patch(text, where))
        except PatchError as exc:
            raise PodBuildError(str(exc)) from None

    labels: dict[str, str] = {WORKFLOW_LABEL: label_value(target.workflow_name)}
    annotations: dict[str, str] = {NODE_NAME_ANNOTATION: target.node_name}
    for source_meta in (workflow.get("podMetadata") or {}, template.get("metadata") or {}):
        labels.update({str(k): str(v) for k, v in (source_meta.get("labels") or {}).items()})
        annotations.update({str(k): str(v) for k, v in (source_meta.get("annotations") or {}).items()})
    metadata: dict[str, Any] = {"name": target.name}
    if target.namespace:
        metadata["namespace"] = target.namespace
    metadata["labels"] = labels
    metadata["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}


def _user_container(extra: Mapping[str, Any], main_mounts: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """An init container or sidecar of the template; ``mirrorVolumeMounts`` copies main's mounts."""
    container = {k: copy.deepcopy(v) for k, v in extra.items() if k != "mirrorVolumeMounts"}
    if extra.get("mirrorVolumeMounts"):
        container["volumeMounts"] = [*(container.get("volumeMounts") or []), *copy.deepcopy(list(main_mounts))]
    return container


class _Response:
    def __init__(self, data: str) -> None:
        self.data = data


def to_v1pod(pod: Mapping[str, Any]) -> Any:
    """The ``kubernetes.client.V1Pod`` of a pod document; raises :class:`PodBuildError` when the
    client models reject it or would drop a field (a misspelled or misplaced field)."""
    from kubernetes.client import ApiClient

    client = ApiClient()
    try:
        model = client.deserialize(_Response(json.dumps(pod)), "V1Pod")
    except (ValueError, TypeError) as exc:
        raise PodBuildError(f"not a valid pod: {exc}") from None
    back = client.sanitize_for_serialization(model)
    lost = _differences(pod, back)
    if lost:
        raise PodBuildError("not a valid pod: " + "; ".join(lost[:5]))
    return model


def _differences(expected: Any, actual: Any, path: str = "") -> list[str]:
    if isinstance(expected, Mapping):
        if not isinstance(actual, Mapping):
            return [f"{path or '.'}: expected an object"]
        out: list[str] = []
        for key, value in expected.items():
            here = f"{path}.{key}" if path else str(key)
            if key not in actual:
                if value in (None, [], {}):
                    continue
                out.append(f"{here}: unknown field")
            else:
                out.extend(_differences(value, actual[key], here))
        return out
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return [f"{path}: expected a list"]
        out = []
        for i, (a, b) in enumerate(zip(expected, actual)):
            out.extend(_differences(a, b, f"{path}[{i}]"))
        return out
    if expected != actual and str(expected) != str(actual):
        return [f"{path}: {expected!r} became {actual!r}"]
    return []


def pod_yaml(pod: Mapping[str, Any]) -> str:
    """The pod as YAML, in the Kubernetes client's field order."""
    import yaml
    from kubernetes.client import ApiClient

    data = ApiClient().sanitize_for_serialization(to_v1pod(pod))
    return yaml.safe_dump(data, sort_keys=False, width=120, allow_unicode=True)
