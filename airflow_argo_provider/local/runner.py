"""Run a container or script template as a local process (the local backend).

The image is recorded, not pulled: the template's ``command`` + ``args`` run on this machine
with the template's ``env`` and ``workingDir``. On Linux each step runs in a private mount
namespace (``unshare``), so that parallel steps writing the same absolute path
(``/tmp/hello_world.txt``) do not see each other's files, and volumes are mounted where the
template says: ``emptyDir`` volumes per step, persistent volume claims per run (or shared
across runs for existing claims). Where that is not possible the step runs without
isolation, and the log says so.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from airflow_argo_provider.local.shims import shim_command

log = logging.getLogger(__name__)

RESULT_BUFFER_BYTES = 256 * 1024
STAGING = "/tmp/.argo-staging"  # where a script's source is placed inside the step's namespace
PROTECTED = ("/", "/bin", "/sbin", "/lib", "/lib64", "/usr", "/etc", "/proc", "/sys", "/dev", "/boot", "/var", "/run")


class MissingValueError(Exception):
    """A value the step needs (secret, config map key) is not available."""


@dataclass
class ProcessResult:
    exit_code: int | None
    stdout_tail: str
    message: str = ""
    error: bool = False
    files: dict[str, str | None] = field(default_factory=dict)
    started: float = 0.0
    finished: float = 0.0
    timed_out: bool = False


@dataclass
class Sandbox:
    """Where one step's files live on the host, and how container paths map to them."""

    root: Path  # per-step directory
    run_dir: Path  # per-run directory (volumes shared by the run's steps)
    shared_dir: Path  # volumes shared by every run (existing claims)
    binds: list[tuple[str, str]] = field(default_factory=list)  # (host path, container path)
    isolated: bool = False

    def host_path(self, container_path: str) -> str:
        """The host file behind a container path (the longest matching mount wins)."""
        best: tuple[str, str] | None = None
        for host, target in self.binds:
            inside = container_path == target or container_path.startswith(target.rstrip("/") + "/")
            if inside and (best is None or len(target) > len(best[1])):
                best = (host, target)
        if best is None:
            return container_path
        rel = container_path[len(best[1]) :].lstrip("/")
        return str(Path(best[0]) / rel) if rel else best[0]


def isolation_available() -> bool:
    """Private mount namespaces: Linux with ``unshare`` and ``mount``, and permission to use them."""
    if not sys.platform.startswith("linux") or os.environ.get("AIRFLOW_ARGO_NO_ISOLATION"):
        return False
    cached = getattr(isolation_available, "_cached", None)
    if cached is not None:
        return bool(cached)
    ok = False
    if shutil.which("unshare") and shutil.which("mount"):
        try:
            probe = subprocess.run(
                [*_unshare_prefix(), "sh", "-c", "mount -t tmpfs none /mnt 2>/dev/null || mount -t tmpfs none /tmp"],
                capture_output=True,
                timeout=10,
            )
            ok = probe.returncode == 0
        except (OSError, subprocess.SubprocessError):
            ok = False
    isolation_available._cached = ok  # type: ignore[attr-defined]
    return ok


def _unshare_prefix() -> list[str]:
    prefix = ["unshare", "--mount", "--propagation", "private", "--fork"]
    if os.geteuid() != 0:
        prefix[1:1] = ["--user", "--map-root-user"]
    return prefix


def _volume_host_dir(
    volume: Mapping[str, Any],
    sandbox: Sandbox,
    config_maps: Mapping[str, Mapping[str, str]],
    secret: Callable[[str, str], str],
) -> Path:
    name = volume["name"]
    if volume.get("hostPath"):
        return Path(volume["hostPath"]["path"])
    if volume.get("persistentVolumeClaim"):
        claim = volume["persistentVolumeClaim"].get("claimName", name)
        if claim.startswith("__run__/"):
            path = sandbox.run_dir / "volumes" / claim.split("/", 1)[1]
        else:
            path = sandbox.shared_dir / "claims" / claim
        path.mkdir(parents=True, exist_ok=True)
        return path
    path = sandbox.root / "volumes" / name
    path.mkdir(parents=True, exist_ok=True)
    if volume.get("configMap"):
        data = config_maps.get(volume["configMap"].get("name", ""), {})
        for key, value in data.items():
            (path / key).write_text(str(value))
    if volume.get("secret"):
        secret_name = volume["secret"].get("secretName", "")
        for item in volume["secret"].get("items") or []:
            (path / item.get("path", item["key"])).write_text(secret(secret_name, item["key"]))
    return path


def prepare_sandbox(
    template: Mapping[str, Any],
    volumes: list[Mapping[str, Any]],
    root: Path,
    run_dir: Path,
    shared_dir: Path,
    output_paths: list[str],
    config_maps: Mapping[str, Mapping[str, str]],
    secret: Callable[[str, str], str],
    artifact_paths: Sequence[str] = (),
) -> Sandbox:
    """Create the step's directories and decide what is mounted where.

    ``artifact_paths`` (output artifacts) outside /tmp and the volumes get a private folder
    at the deepest existing folder above them that is not a system folder, so that the step
    can create the folders below it (``mkdir /mnt/out``) as it would in a fresh container.
    """
    root.mkdir(parents=True, exist_ok=True)
    isolated = isolation_available()
    sandbox = Sandbox(root=root, run_dir=run_dir, shared_dir=shared_dir, isolated=isolated)
    tmp = root / "tmp"
    tmp.mkdir(exist_ok=True)
    if not isolated:
        return sandbox
    sandbox.binds.append((str(tmp), "/tmp"))
    by_name = {v["name"]: v for v in volumes}
    body = template.get("container") or template.get("script") or {}
    for mount in body.get("volumeMounts") or []:
        volume = by_name.get(mount["name"])
        if volume is None:
            continue
        host = _volume_host_dir(volume, sandbox, config_maps, secret)
        if mount.get("subPath"):
            host = host / mount["subPath"]
            host.mkdir(parents=True, exist_ok=True)
        sandbox.binds.append((str(host), mount["mountPath"]))
    # Output files outside /tmp and outside the volumes get a private directory of their own.
    for path in output_paths:
        parent = os.path.dirname(path) or "/"
        if sandbox.host_path(path) != path:
            continue
        if parent in PROTECTED:
            continue
        private = root / "paths" / parent.strip("/").replace("/", "_")
        private.mkdir(parents=True, exist_ok=True)
        sandbox.binds.append((str(private), parent))
    for path in artifact_paths:
        if sandbox.host_path(path) != path:
            continue
        anchor = _private_anchor(path)
        if anchor is None:
            continue
        private = root / "paths" / anchor.strip("/").replace("/", "_")
        private.mkdir(parents=True, exist_ok=True)
        sandbox.binds.append((str(private), anchor))
    return sandbox


def _system(path: str) -> bool:
    return any(path == p or (p != "/" and path.startswith(p + "/")) for p in PROTECTED)


def _private_anchor(path: str) -> str | None:
    parent = os.path.dirname(path.rstrip("/")) or "/"
    existing = parent
    while existing != "/" and not os.path.isdir(existing):
        existing = os.path.dirname(existing) or "/"
    if not _system(existing):
        return existing
    if _system(parent):
        return None
    return parent


def input_target(sandbox: Sandbox, name: str, path: str) -> Path:
    """Where on the host an input artifact for the container path ``path`` is written.

    Inside /tmp or a mounted volume it is written where the step will see it; elsewhere it is
    written to the step's folder and bind-mounted at ``path`` (a new mount point in a system
    folder such as /usr or /bin is refused: it would be created on the host).
    """
    if not sandbox.isolated:
        return Path(path)
    host = sandbox.host_path(path)
    if host != path:
        return Path(host)
    parent = os.path.dirname(path.rstrip("/")) or "/"
    if not os.path.lexists(path) and parent != "/" and _system(parent):
        raise MissingValueError(
            f"input artifact {name!r}: the local backend cannot place a new file at {path} (a system folder "
            "of this machine); use a path under /tmp, a volume, or another folder"
        )
    staged = sandbox.root / "artifacts" / name
    staged.parent.mkdir(parents=True, exist_ok=True)
    sandbox.binds.append((str(staged), path))
    return staged


def _mount_script(sandbox: Sandbox, cwd: str | None) -> str:
    """Shell commands that set up the step's mounts inside its private namespace, then run it.

    Every source is first bound inside the step's new ``/tmp`` directory (host paths may
    themselves live under the host's ``/tmp``), then ``/tmp`` is replaced, then each mount is
    made from its alias. The aliases live in ``/tmp/.argo-mounts``.
    """
    lines = ["set -e"]
    new_tmp = next((host for host, target in sandbox.binds if target == "/tmp"), None)
    others = [(host, target) for host, target in sandbox.binds if target != "/tmp"]
    if new_tmp is not None:
        for i, (host, _) in enumerate(others):
            alias = f"{new_tmp}/.argo-mounts/{i}"
            if os.path.isfile(host):  # a file (an input artifact) is bound onto a file
                make = f"mkdir -p {shlex.quote(os.path.dirname(alias))} && : > {shlex.quote(alias)}"
            else:
                make = f"mkdir -p {shlex.quote(alias)}"
            lines.append(f"{make} && mount --bind {shlex.quote(host)} {shlex.quote(alias)}")
        lines.append(f"mount --rbind {shlex.quote(new_tmp)} /tmp")  # --rbind keeps the aliases
    for i, (host, target) in sorted(enumerate(others), key=lambda e: e[1][1].count("/")):
        source = f"/tmp/.argo-mounts/{i}" if new_tmp is not None else host
        quoted = shlex.quote(target)
        if os.path.isfile(host):
            make = f"mkdir -p {shlex.quote(os.path.dirname(target) or '/')} && : > {quoted}"
        else:
            make = f"mkdir -p {quoted}"
        lines.append(
            f"if [ ! -e {quoted} ]; then {{ {make}; }} 2>/dev/null || "
            f"{{ echo 'cannot create mount point {target}' >&2; exit 125; }}; fi"
        )
        lines.append(f"mount --bind {shlex.quote(source)} {quoted}")
    if cwd:
        lines.append(f"mkdir -p {shlex.quote(cwd)} && cd {shlex.quote(cwd)}")
    else:  # a container starts in its image's folder; the worker's own may be hidden under the new /tmp
        lines.append("cd /")
    lines.append('exec "$@"')
    return "\n".join(lines)


def resolve_command(template: Mapping[str, Any], image: str | None) -> list[str]:
    """``command`` + ``args`` of the template (the image's known entrypoint when no command)."""
    body = template.get("container") or template.get("script") or {}
    command = list(body.get("command") or [])
    args = list(body.get("args") or [])
    if not command:
        shim = shim_command(image or "")
        if shim is None:
            raise CommandError(
                f"template has no command and the entrypoint of image {image!r} is unknown to the local "
                "backend; set `command` in the template"
            )
        command = shim
    return [*command, *args]


class CommandError(Exception):
    pass


PYTHON_COMMANDS = frozenset({"python", "python3"})


def local_python() -> str:
    """The interpreter a template's ``python`` command runs with in the local backend.

    By default the one running Airflow, so that scripts can use the packages installed beside it
    (``[argo] local_python``, ``AIRFLOW__ARGO__LOCAL_PYTHON``: a command or path, or ``path`` to
    take whatever ``python`` is first on PATH).
    """
    configured = os.environ.get("AIRFLOW__ARGO__LOCAL_PYTHON", "")
    if not configured:
        try:
            from airflow.configuration import conf

            configured = conf.get("argo", "local_python", fallback="") or ""
        except Exception:  # no Airflow configuration
            configured = ""
    return configured or sys.executable


def _which(command: str, env: Mapping[str, str]) -> str | None:
    if os.sep in command:
        return command if os.access(command, os.X_OK) else None
    if command in PYTHON_COMMANDS:
        chosen = local_python()
        if chosen != "path":
            return shutil.which(chosen, path=env.get("PATH")) or chosen
    found = shutil.which(command, path=env.get("PATH"))
    if found is None and command == "python":
        found = shutil.which("python3", path=env.get("PATH")) or sys.executable
    return found


def run_process(
    argv: list[str],
    *,
    env: Mapping[str, str],
    cwd: str | None,
    sandbox: Sandbox,
    image: str | None,
    timeout: float | None,
    output_paths: list[str],
    on_line: Callable[[str, str], None] | None = None,
) -> ProcessResult:
    """Run ``argv`` (in the sandbox), stream its output, and read the output files back."""
    executable = _which(argv[0], env)
    if executable is None:
        return ProcessResult(
            exit_code=127,
            stdout_tail="",
            message=f"command {argv[0]!r} not found (from image {image or 'unknown'}): "
            "install it on this machine or run with the kubernetes backend",
        )
    argv = [executable, *argv[1:]]
    # Without a workingDir, a step starts in its private /tmp (an image's WORKDIR is unknown here).
    if sandbox.isolated:
        full = [*_unshare_prefix(), "sh", "-c", _mount_script(sandbox, cwd or "/tmp"), "argo-step", *argv]
        cwd = str(sandbox.root)
    else:
        full = argv
        if cwd:
            try:
                Path(cwd).mkdir(parents=True, exist_ok=True)
            except OSError:
                cwd = None
        cwd = cwd or str(sandbox.root / "tmp")
    started = time.time()
    try:
        proc = subprocess.Popen(
            full,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            env=dict(env),
            cwd=cwd if cwd and Path(cwd).is_dir() else None,
            start_new_session=True,
        )
    except OSError as exc:
        return ProcessResult(exit_code=127, stdout_tail="", message=f"cannot start {argv[0]!r} (image {image}): {exc}")
    tail: deque[bytes] = deque()
    size = [0]

    def pump_stdout() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            tail.append(line)
            size[0] += len(line)
            while size[0] > RESULT_BUFFER_BYTES and len(tail) > 1:
                size[0] -= len(tail.popleft())
            if on_line:
                on_line("stdout", line.decode("utf-8", "replace").rstrip("\n"))

    def pump_stderr() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            if on_line:
                on_line("stderr", line.decode("utf-8", "replace").rstrip("\n"))

    threads = [threading.Thread(target=pump_stdout, daemon=True), threading.Thread(target=pump_stderr, daemon=True)]
    for thread in threads:
        thread.start()
    timed_out = False
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        _kill(proc)
    for thread in threads:
        thread.join(timeout=5)
    finished = time.time()
    data = b"".join(tail)
    if len(data) > RESULT_BUFFER_BYTES:
        data = data[-RESULT_BUFFER_BYTES:]
    stdout = data.decode("utf-8", "replace")
    files = {path: read_output(sandbox.host_path(path)) for path in output_paths}
    if timed_out:
        return ProcessResult(None, stdout, files=files, started=started, finished=finished, timed_out=True)
    code = proc.returncode
    if code == 125 and sandbox.isolated:
        return ProcessResult(
            code,
            stdout,
            "the step's mounts could not be set up",
            error=True,
            files=files,
            started=started,
            finished=finished,
        )
    if code is not None and code < 0:
        message = f"Error (exit code {128 - code}): killed by signal {-code}"
        return ProcessResult(128 - code, stdout, message, files=files, started=started, finished=finished)
    return ProcessResult(code, stdout, files=files, started=started, finished=finished)


def _kill(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=5)
    except (ProcessLookupError, subprocess.TimeoutExpired, PermissionError):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        proc.wait()


def read_output(path: str) -> str | None:
    """An output parameter file (one trailing newline trimmed, as Argo does)."""
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except (OSError, IsADirectoryError):
        return None
    return text[:-1] if text.endswith("\n") else text


def build_env(
    body: Mapping[str, Any],
    base: Mapping[str, str],
    config_maps: Mapping[str, Mapping[str, str]],
    secret: Callable[[str, str], str],
) -> dict[str, str]:
    """The process environment: this machine's, then ``envFrom``, then ``env`` (as Kubernetes orders them)."""
    env = dict(base)
    for source in body.get("envFrom") or []:
        prefix = source.get("prefix", "")
        if source.get("configMapRef"):
            data = config_maps.get(source["configMapRef"].get("name", ""))
            if data is None and not source["configMapRef"].get("optional"):
                raise MissingValueError(f"envFrom: ConfigMap {source['configMapRef'].get('name')!r} not found")
            env.update({prefix + k: str(v) for k, v in (data or {}).items()})
        if source.get("secretRef"):
            name = source["secretRef"].get("name", "")
            env.update({prefix + k: v for k, v in _secret_map(name, secret).items()})
    for var in body.get("env") or []:
        name = var["name"]
        if "value" in var:
            env[name] = str(var["value"])
            continue
        value_from = var.get("valueFrom") or {}
        if value_from.get("configMapKeyRef"):
            ref = value_from["configMapKeyRef"]
            data = config_maps.get(ref.get("name", ""), {})
            if ref.get("key") in data:
                env[name] = str(data[ref["key"]])
            elif not ref.get("optional"):
                raise MissingValueError(f"env {name}: ConfigMap {ref.get('name')!r} has no key {ref.get('key')!r}")
        elif value_from.get("secretKeyRef"):
            ref = value_from["secretKeyRef"]
            try:
                env[name] = secret(ref.get("name", ""), ref.get("key", ""))
            except MissingValueError:
                if not ref.get("optional"):
                    raise
        elif value_from.get("fieldRef"):
            env[name] = _field_ref(value_from["fieldRef"].get("fieldPath", ""), env)
    return env


def _secret_map(name: str, secret: Callable[[str, str], str]) -> dict[str, str]:
    try:
        raw = secret(name, "")
    except MissingValueError:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        return {}
    return {k: str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def _field_ref(path: str, env: Mapping[str, str]) -> str:
    values = {"metadata.namespace": env.get("ARGO_NAMESPACE", "default"), "metadata.name": env.get("ARGO_POD_NAME", "")}
    return values.get(path, "")


def decode_secret_data(obj: Mapping[str, Any]) -> dict[str, str]:
    data = {k: base64.b64decode(v).decode() for k, v in (obj.get("data") or {}).items()}
    data.update({k: str(v) for k, v in (obj.get("stringData") or {}).items()})
    return data
