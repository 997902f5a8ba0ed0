"""How a step's outputs leave its pod, whatever the image holds.

Argo copies its executor binary into a shared volume with an init container and starts the
main container through it. This backend does the same with a static BusyBox (the init
container's image, ``busybox:musl`` by default, ``[argo] kubernetes_executor_image``):

1. the init container ``argo-init`` copies ``/bin/busybox`` to ``/var/run/argo/bin/busybox``
   (an ``emptyDir`` shared with the main container) and, for a script template, writes the
   source to ``/argo/staging/script`` (a second ``emptyDir``), as Argo does;
2. the init container also writes the wrapper script to ``/var/run/argo/bin/wrapper``; the
   main container's command becomes ``/var/run/argo/bin/busybox sh /var/run/argo/bin/wrapper
   ...`` followed by the template's own command; its ``args`` are left as they are. The wrapper
   runs the command, copies its stdout to the container log and to a file, forwards
   ``SIGTERM``, and when the command has ended writes one JSON document to
   ``/airflow/xcom/return.json``: the exit code, the last 256 KiB of stdout and the content of
   each ``valueFrom.path`` output file (base64, so any bytes survive), then exits with the
   command's exit code;
3. a sidecar ``airflow-xcom-sidecar`` (the same small image; the name and protocol of the
   Kubernetes operator's XCom sidecar, so its ``PodManager.extract_xcom`` reads the file)
   shares ``/airflow/xcom`` and keeps the pod alive until the operator has read the document
   and stopped it.

Only the copied BusyBox runs inside the step's image, so images without a shell (distroless,
scratch) work. The wrapper is a fixed text; the output paths are passed to it as arguments,
never pasted into it.
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

ARGO_VOLUME = "var-run-argo"
ARGO_DIR = "/var/run/argo"
BUSYBOX = f"{ARGO_DIR}/bin/busybox"
WRAPPER_PATH = f"{ARGO_DIR}/bin/wrapper"
WRAPPER_ENV = "ARGO_WRAPPER"
OUTPUTS_DIR = f"{ARGO_DIR}/outputs"
STAGING_VOLUME = "argo-staging"
STAGING_DIR = "/argo/staging"
SCRIPT_PATH = f"{STAGING_DIR}/script"
XCOM_VOLUME = "xcom"
XCOM_DIR = "/airflow/xcom"
RETURN_FILE = f"{XCOM_DIR}/return.json"
XCOM_SIDECAR = "airflow-xcom-sidecar"  # PodDefaults.SIDECAR_CONTAINER_NAME of the cncf.kubernetes provider
INIT_CONTAINER = "argo-init"
SCRIPT_ENV = "ARGO_SCRIPT"
DEFAULT_EXECUTOR_IMAGE = "busybox:musl"
RESULT_TAIL_BYTES = 256 * 1024
# The executor's own containers run as an unprivileged user (Argo's executor uses the same
# uid), so namespaces that enforce the "restricted" pod security standard accept them.
EXECUTOR_SECURITY_CONTEXT: dict[str, Any] = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "runAsUser": 8737,
    "seccompProfile": {"type": "RuntimeDefault"},
}

# The init container: runs /bin/busybox of the executor image, nothing else.
INIT_SCRIPT = (
    "set -e\n"
    f"/bin/busybox mkdir -p {ARGO_DIR}/bin\n"
    f"/bin/busybox cp /bin/busybox {BUSYBOX}\n"
    f"printf '%s' \"${WRAPPER_ENV}\" > {WRAPPER_PATH}\n"
    f'if [ -n "${{{SCRIPT_ENV}+set}}" ]; then\n'
    f"  printf '%s' \"${SCRIPT_ENV}\" > {SCRIPT_PATH}\n"
    f"  /bin/busybox chmod 0755 {SCRIPT_PATH}\n"
    "fi\n"
)

# Shared by both wrappers: `files_json N` prints the output files p_0 .. p_(N-1) as a JSON list of
# their base64 contents (null for a missing or unreadable file), using the BusyBox binary in $B.
FILES_JSON = r"""files_json() {
  i=0
  while [ "$i" -lt "$1" ]; do
    eval "p=\$p_$i"
    [ "$i" -gt 0 ] && printf ','
    if [ -f "$p" ] && [ -r "$p" ]; then printf '"'; "$B" base64 < "$p" | "$B" tr -d '\n'; printf '"'
    else printf 'null'; fi
    i=$((i+1))
  done
}
"""

# The main container's wrapper, run by the copied BusyBox as `sh WRAPPER_PATH $1 $2 ...` with
#   $1 = the BusyBox binary, $2 = a directory for its files, $3 = the JSON file to write,
#   $4 = N, then N output file paths, then the step's command and arguments.
WRAPPER = (
    FILES_JSON
    + r"""B=$1; O=$2; X=$3; n=$4; shift 4
i=0
while [ "$i" -lt "$n" ]; do eval "p_$i=\$1"; shift; i=$((i+1)); done
"$B" mkdir -p "$O"
( "$@" & c=$!; echo "$c" > "$O/pid"; wait "$c"; echo "$?" > "$O/exit" ) | "$B" tee "$O/stdout" &
w=$!
trap 'k=$("$B" cat "$O/pid" 2>/dev/null) && kill -TERM "$k" 2>/dev/null' TERM INT
wait "$w"
while [ ! -f "$O/exit" ] && kill -0 "$w" 2>/dev/null; do wait "$w"; done
rc=$("$B" cat "$O/exit" 2>/dev/null) || rc=64
{
  printf '{"exitCode":%s,"stdout":"' "$rc"
  "$B" tail -c 262144 "$O/stdout" | "$B" base64 | "$B" tr -d '\n'
  printf '","files":['
  files_json "$n"
  printf ']}'
} > "$X.tmp" && "$B" mv "$X.tmp" "$X"
exit "$rc"
"""
)


# A container of a ``containerSet``, run by the copied BusyBox as `sh WRAPPER_PATH ARGS...` with
#   $1 = the BusyBox binary, $2 = the set's folder (one sub-folder per container), $3 = this
#   container's name, $4 = 1 when it writes the outputs document (the container named main),
#   $5 = retries, $6 = seconds between attempts, then N and N dependencies, then N and every
#   container's name, then N and N output file paths, then the JSON file to write, then the
#   container's command and arguments (none: a main that only collects).
# Each container waits until its dependencies have written their `exit` file and runs only when
# all of them exited 0 (else it records `x`, not run); main then waits for every container and
# writes the document: the first failing container's exit code, main's stdout, the output files.
SET_WRAPPER = (
    FILES_JSON
    + r"""B=$1; D=$2; me=$3; collect=$4; retries=$5; delay=$6; shift 6
n=$1; shift; deps=""; i=0
while [ "$i" -lt "$n" ]; do deps="$deps $1"; shift; i=$((i+1)); done
n=$1; shift; all=""; i=0
while [ "$i" -lt "$n" ]; do all="$all $1"; shift; i=$((i+1)); done
np=$1; shift; i=0
while [ "$i" -lt "$np" ]; do eval "p_$i=\$1"; shift; i=$((i+1)); done
X=$1; shift
O="$D/$me"
"$B" mkdir -p "$O"
run=1
for d in $deps; do
  while [ ! -f "$D/$d/exit" ]; do "$B" sleep 1; done
  [ "$("$B" cat "$D/$d/exit")" = 0 ] || run=0
done
rc=0
if [ "$run" = 0 ]; then
  rc=x
  echo "not run: a dependency did not succeed" >&2
elif [ "$#" -gt 0 ]; then
  a=0
  trap 'k=$("$B" cat "$O/pid" 2>/dev/null) && kill -TERM "$k" 2>/dev/null' TERM INT
  while :; do
    "$B" rm -f "$O/rc"
    ( "$@" & c=$!; echo "$c" > "$O/pid"; wait "$c"; echo "$?" > "$O/rc" ) | "$B" tee "$O/stdout" &
    w=$!
    wait "$w"
    while [ ! -f "$O/rc" ] && kill -0 "$w" 2>/dev/null; do wait "$w"; done
    rc=$("$B" cat "$O/rc" 2>/dev/null) || rc=64
    [ "$rc" = 0 ] && break
    [ "$a" -ge "$retries" ] && break
    a=$((a+1))
    "$B" sleep "$delay"
  done
fi
echo "$rc" > "$O/exit.tmp" && "$B" mv "$O/exit.tmp" "$O/exit"
if [ "$collect" != 1 ]; then
  [ "$rc" = x ] && exit 0
  exit "$rc"
fi
for c in $all; do
  while [ ! -f "$D/$c/exit" ]; do "$B" sleep 1; done
done
code=0; first=""
for c in $all; do
  e=$("$B" cat "$D/$c/exit")
  if [ "$e" != 0 ] && [ "$e" != x ] && [ -z "$first" ]; then code=$e; first=$c; fi
done
{
  printf '{"exitCode":%s,"failedContainer":"%s","stdout":"' "$code" "$first"
  if [ -f "$O/stdout" ]; then "$B" tail -c 262144 "$O/stdout" | "$B" base64 | "$B" tr -d '\n'; fi
  printf '","files":['
  files_json "$np"
  printf '],"containers":{'
  sep=""
  for c in $all; do printf '%s"%s":"%s"' "$sep" "$c" "$("$B" cat "$D/$c/exit")"; sep=","; done
  printf '}}'
} > "$X.tmp" && "$B" mv "$X.tmp" "$X"
exit "$code"
"""
)
SET_DIR = f"{ARGO_DIR}/ctr"


def wrap_set_command(
    command: Sequence[str],
    *,
    name: str,
    collect: bool,
    retries: int,
    delay: int,
    dependencies: Sequence[str],
    names: Sequence[str],
    output_paths: Sequence[str],
    document: str = RETURN_FILE,
) -> list[str]:
    """A ``containerSet`` container's new command: the set wrapper, then ``command``."""
    return [
        BUSYBOX,
        "sh",
        WRAPPER_PATH,
        BUSYBOX,
        SET_DIR,
        name,
        "1" if collect else "0",
        str(retries),
        str(delay),
        str(len(dependencies)),
        *dependencies,
        str(len(names)),
        *names,
        str(len(output_paths)),
        *output_paths,
        document,
        *command,
    ]


def wrap_command(command: Sequence[str], output_paths: Sequence[str], document: str = RETURN_FILE) -> list[str]:
    """The main container's new command: the wrapper, then ``command`` (its args stay in ``args``)."""
    return [
        BUSYBOX,
        "sh",
        WRAPPER_PATH,
        BUSYBOX,
        OUTPUTS_DIR,
        document,
        str(len(output_paths)),
        *output_paths,
        *command,
    ]


def init_container(
    image: str, *, script: str | None, pull_policy: str | None = None, wrapper: str = WRAPPER
) -> dict[str, Any]:
    """The ``argo-init`` container (Kubernetes JSON)."""
    script_text = INIT_SCRIPT
    if wrapper == SET_WRAPPER:
        # The set's folder, writable by every container of the set whatever its user.
        script_text += f"/bin/busybox mkdir -p {SET_DIR}\n/bin/busybox chmod 1777 {SET_DIR}\n"
    container: dict[str, Any] = {
        "name": INIT_CONTAINER,
        "image": image,
        "command": ["/bin/busybox", "sh", "-c", script_text],
        "securityContext": copy.deepcopy(EXECUTOR_SECURITY_CONTEXT),
    }
    if pull_policy:
        container["imagePullPolicy"] = pull_policy
    container["env"] = [{"name": WRAPPER_ENV, "value": wrapper}]
    if script is not None:
        container["env"].append({"name": SCRIPT_ENV, "value": script})
    mounts = [{"name": ARGO_VOLUME, "mountPath": ARGO_DIR}]
    if script is not None:
        mounts.append({"name": STAGING_VOLUME, "mountPath": STAGING_DIR})
    container["volumeMounts"] = mounts
    return container


def xcom_sidecar(image: str, pull_policy: str | None = None) -> dict[str, Any]:
    """The sidecar that holds the pod open until the document is read (stopped with SIGINT)."""
    container: dict[str, Any] = {
        "name": XCOM_SIDECAR,
        "image": image,
        "command": ["/bin/busybox", "sh", "-c", 'trap "exit 0" INT; while true; do sleep 1; done;'],
        "resources": {"requests": {"cpu": "1m", "memory": "10Mi"}},
        "securityContext": copy.deepcopy(EXECUTOR_SECURITY_CONTEXT),
        "volumeMounts": [{"name": XCOM_VOLUME, "mountPath": XCOM_DIR}],
    }
    if pull_policy:
        container["imagePullPolicy"] = pull_policy
    return container


@dataclass
class Captured:
    """What the wrapper reported: exit code, stdout tail, output files (None: missing)."""

    exit_code: int
    stdout: str
    files: dict[str, str | None] = field(default_factory=dict)


class CaptureError(ValueError):
    pass


def _text(data: bytes, *, tail: bool = False) -> str:
    if tail and len(data) >= RESULT_TAIL_BYTES:
        # The tail may start inside a multi-byte character: drop its continuation bytes.
        start = 0
        while start < len(data) and start < 4 and (data[start] & 0xC0) == 0x80:
            start += 1
        data = data[start:]
    return data.decode("utf-8", "replace")


def parse_captured(document: Mapping[str, Any] | None, output_paths: Sequence[str]) -> Captured:
    """Decode the wrapper's JSON document (as read back through XCom)."""
    if not isinstance(document, Mapping):
        raise CaptureError(f"the step's output document is missing or not an object: {document!r}"[:300])
    try:
        exit_code = int(document["exitCode"])
        stdout = _text(base64.b64decode(document.get("stdout") or ""), tail=True)
        raw_files = document.get("files") or []
        files: dict[str, str | None] = {}
        for path, value in zip(output_paths, list(raw_files) + [None] * (len(output_paths) - len(raw_files))):
            files[path] = None if value is None else _text(base64.b64decode(value))
    except (KeyError, TypeError, ValueError) as exc:
        raise CaptureError(f"the step's output document is malformed: {exc}") from None
    return Captured(exit_code=exit_code, stdout=stdout, files=files)


def encode_captured(exit_code: int, stdout: bytes, files: Sequence[bytes | None]) -> str:
    """The document the wrapper writes (used by tests and fakes of the pod)."""
    return json.dumps(
        {
            "exitCode": exit_code,
            "stdout": base64.b64encode(stdout[-RESULT_TAIL_BYTES:]).decode(),
            "files": [None if f is None else base64.b64encode(f).decode() for f in files],
        }
    )
