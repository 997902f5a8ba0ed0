"""How artifacts get into a step's pod and out of it (Argo's init and wait containers).

Inputs: an init container ``argo-artifacts`` (after ``argo-init``) runs the artifact agent
(:mod:`airflow_argo_provider.artifacts.agent`) from ``[argo] kubernetes_artifact_image``: it
downloads every input artifact into the ``emptyDir`` ``argo-input-artifacts`` at
``/argo/inputs/artifacts/NAME``, and the main container mounts each at the artifact's path
with ``subPath: NAME``, exactly as Argo's controller does. An artifact whose path lies inside
one of the template's volume mounts is written into that volume instead (the init container
mounts it too).

Outputs: the main container's command is wrapped once more (:data:`ARTIFACTS_WRAPPER`, run by
the copied BusyBox): after the step's command (and the outputs wrapper of
:mod:`.capture`) ended, it hands each output path over as an uncompressed tar in
``/var/run/argo/outputs/artifacts`` (as Argo's emissary does), then waits for the sidecar
``argo-wait`` (the same agent) to store them and adds the agent's report (saved locations,
missing and failed outputs) to the outputs document. The sidecar's heartbeat lets the wrapper
give up when the agent is gone (60 s without a beat, or ``[argo] kubernetes_startup_timeout``
before the first). The main container ends only when the outputs are stored, so the worker
needs no further waiting.

Credentials: every Secret reference of a location (``accessKeySecret``, ``secretKeySecret``,
``sessionTokenSecret``, HTTP auth secrets) is mapped into the agent containers' environment with
``valueFrom.secretKeyRef``; the worker never reads those Secrets.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from typing import Any

from airflow_argo_provider.artifacts.clients import secret_refs
from airflow_argo_provider.artifacts.model import StepArtifacts
from airflow_argo_provider.kubernetes import capture

LOAD_CONTAINER = "argo-artifacts"
WAIT_CONTAINER = "argo-wait"
INPUTS_VOLUME = "argo-input-artifacts"
INPUTS_DIR = "/argo/inputs/artifacts"
OUTPUTS_DIR = f"{capture.ARGO_DIR}/outputs/artifacts"
REPORT_DIR = f"{capture.ARGO_DIR}/agent"
MAIN_DOCUMENT = f"{capture.ARGO_DIR}/outputs/main.json"
AGENT_COMMAND = ["python", "-m", "airflow_argo_provider.artifacts.agent"]
SPEC_ENV = "ARGO_ARTIFACTS"
SECRET_ENV = "ARGO_ARTIFACT_SECRET_{}"

# Run by the copied BusyBox as `sh -c ARTIFACTS_WRAPPER argo-artifacts B A R X M T k PATH... COMMAND...`:
#   B = BusyBox, A = where the tars go, R = the agent's report folder, X = the document to write,
#   M = the document the inner wrapper writes, T = seconds to wait for the agent's first beat,
#   k = the number of output artifact paths; COMMAND is the outputs wrapper of capture.py.
ARTIFACTS_WRAPPER = r"""B=$1; A=$2; R=$3; X=$4; M=$5; T=$6; k=$7; shift 7
i=0
while [ "$i" -lt "$k" ]; do eval "p_$i=\$1"; shift; i=$((i+1)); done
"$B" mkdir -p "$A"
"$@" &
c=$!
trap 'kill -TERM "$c" 2>/dev/null' TERM INT
while :; do wait "$c"; rc=$?; kill -0 "$c" 2>/dev/null || break; done
i=0
while [ "$i" -lt "$k" ]; do
  eval "p=\$p_$i"
  if [ -e "$p" ] || [ -L "$p" ]; then
    d=$("$B" dirname "$p"); b=$("$B" basename "$p")
    "$B" tar -C "$d" -cf "$A/$i.part" "$b" && "$B" mv "$A/$i.part" "$A/$i.tar"
  fi
  i=$((i+1))
done
: > "$A/ready"
n=0; last=
while [ ! -f "$R/saved.json" ]; do
  "$B" sleep 1
  beat=$("$B" cat "$R/beat" 2>/dev/null)
  if [ -n "$beat" ] && [ "$beat" != "$last" ]; then last=$beat; n=0; else n=$((n+1)); fi
  if [ -n "$last" ]; then [ "$n" -ge 60 ] && break; else [ "$n" -ge "$T" ] && break; fi
done
if [ -f "$M" ]; then
  {
    printf '{"artifacts":'
    if [ -f "$R/saved.json" ]; then "$B" cat "$R/saved.json"
    else printf '{"error":"the artifact agent (container argo-wait) stopped before the outputs were saved"}'; fi
    printf ','
    "$B" tail -c +2 "$M"
  } > "$X.tmp" && "$B" mv "$X.tmp" "$X"
fi
exit "$rc"
"""


def overlapping_mount(path: str, mounts: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The template's volume mount that ``path`` lies in (the deepest), if any."""
    best: Mapping[str, Any] | None = None
    for mount in mounts:
        target = str(mount.get("mountPath") or "").rstrip("/")
        inside = bool(target) and (path == target or path.startswith(target + "/"))
        if inside and (best is None or len(target) > len(str(best.get("mountPath")))):
            best = mount
    return best


def _agent_env(artifacts: StepArtifacts, targets: list[dict[str, str]]) -> list[dict[str, Any]]:
    refs: list[tuple[str, str]] = []
    for artifact in artifacts.inputs:
        for ref in secret_refs(artifact.source or {}):
            if ref not in refs:
                refs.append(ref)
    for output in artifacts.outputs:
        for ref in secret_refs(output.destination):
            if ref not in refs:
                refs.append(ref)
    mapping = [[name, key, SECRET_ENV.format(i)] for i, (name, key) in enumerate(refs)]
    spec = artifacts.to_json()
    spec["secrets"] = mapping
    spec["targets"] = targets
    env: list[dict[str, Any]] = [{"name": SPEC_ENV, "value": json.dumps(spec, sort_keys=True, separators=(",", ":"))}]
    for name, key, variable in mapping:
        env.append({"name": variable, "valueFrom": {"secretKeyRef": {"name": name, "key": key}}})
    return env


def _agent(name: str, image: str, args: list[str], pull_policy: str | None) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": name,
        "image": image,
        "command": [*AGENT_COMMAND, *args],
        "securityContext": copy.deepcopy(capture.EXECUTOR_SECURITY_CONTEXT),
    }
    if pull_policy:
        container["imagePullPolicy"] = pull_policy
    return container


def load_container(
    artifacts: StepArtifacts, user_mounts: Sequence[Mapping[str, Any]], image: str, pull_policy: str | None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The ``argo-artifacts`` init container and the main container's extra mounts."""
    targets: list[dict[str, str]] = []
    main_mounts: list[dict[str, Any]] = []
    extra_mounts: list[dict[str, Any]] = []
    for artifact in artifacts.inputs:
        if artifact.source is None:
            continue
        overlap = overlapping_mount(artifact.path, user_mounts)
        if overlap is not None:
            targets.append({"name": artifact.name, "target": artifact.path})
            if overlap not in extra_mounts:
                extra_mounts.append(copy.deepcopy(dict(overlap)))
            continue
        main_mounts.append({"name": INPUTS_VOLUME, "mountPath": artifact.path, "subPath": artifact.name})
    container = _agent(LOAD_CONTAINER, image, ["load", "--dir", INPUTS_DIR], pull_policy)
    container["env"] = [*_agent_env(artifacts, targets), {"name": "TMPDIR", "value": INPUTS_DIR}]
    container["volumeMounts"] = [{"name": INPUTS_VOLUME, "mountPath": INPUTS_DIR}, *extra_mounts]
    return container, main_mounts


def wait_container(artifacts: StepArtifacts, image: str, pull_policy: str | None) -> dict[str, Any]:
    """The ``argo-wait`` sidecar that stores the output artifacts."""
    container = _agent(WAIT_CONTAINER, image, ["save", "--dir", OUTPUTS_DIR, "--report", REPORT_DIR], pull_policy)
    container["env"] = [*_agent_env(artifacts, []), {"name": "TMPDIR", "value": capture.ARGO_DIR}]
    container["volumeMounts"] = [{"name": capture.ARGO_VOLUME, "mountPath": capture.ARGO_DIR}]
    return container


def wrap_outputs(inner: Sequence[str], paths: Sequence[str], start_timeout: int) -> list[str]:
    """The main container's command when it has output artifacts (``inner`` is the outputs wrapper)."""
    return [
        capture.BUSYBOX,
        "sh",
        "-c",
        ARTIFACTS_WRAPPER,
        "argo-artifacts",
        capture.BUSYBOX,
        OUTPUTS_DIR,
        REPORT_DIR,
        capture.RETURN_FILE,
        MAIN_DOCUMENT,
        str(start_timeout),
        str(len(paths)),
        *paths,
        *inner,
    ]
