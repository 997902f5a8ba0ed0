"""A stand-in for the Kubernetes API, at the boundary Airflow's own provider tests patch.

The Kubernetes client (``KubernetesHook.core_v1_client``), the async hook the trigger uses,
and the two ``PodManager`` calls that stream from a pod (log following, the XCom exec) are
replaced; everything above them (the Kubernetes operator, its pod manager, the trigger and
this provider's operator) runs for real.

The fake kubelet really runs a pod's main container: it takes the wrapper script and the
script source from the ``argo-init`` container's environment, runs the wrapper with ``dash``
and a BusyBox stand-in (``exec "$@"``) on this machine, and reports the exit code and the
outputs document the wrapper wrote. A template label ``fake-kubelet`` picks another ending:
``pull-error``, ``evicted``, ``deleted``, ``deadline``, ``init-failed``, ``running`` (add ``-once`` to
apply it to the first attempt only).
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

from airflow_argo_provider.kubernetes import artifacts as pod_artifacts
from airflow_argo_provider.kubernetes import capture

SCENARIO_LABEL = "fake-kubelet"


class _Response:
    def __init__(self, data: str) -> None:
        self.data = data


def _model(data: Any, kind: str) -> Any:
    return ApiClient().deserialize(_Response(json.dumps(data, default=str)), kind)


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _not_found(name: str) -> ApiException:
    exc = ApiException(status=404, reason="Not Found")
    exc.body = json.dumps({"message": f'pods "{name}" not found'})
    return exc


def _matches(selector: str | None, labels: dict[str, str]) -> bool:
    for part in (selector or "").split(","):
        part = part.strip()
        if not part:
            continue
        if "!=" in part:
            key, value = part.split("!=", 1)
            if labels.get(key) == value:
                return False
        elif "=" in part:
            key, value = part.split("=", 1)
            if labels.get(key) != value:
                return False
        elif part.startswith("!"):
            if part[1:] in labels:
                return False
        elif part not in labels:
            return False
    return True


class FakeCluster:
    """The subset of ``CoreV1Api`` the operators use, over pods kept in memory."""

    def __init__(self, work: Path, secrets: dict[str, dict[str, str]] | None = None) -> None:
        self.work = work
        self.secrets = secrets or {}
        self.api_client = ApiClient()
        self.pods: dict[tuple[str, str], dict[str, Any]] = {}
        self.documents: dict[tuple[str, str], str | None] = {}
        self.created: list[dict[str, Any]] = []
        self.deleted: list[str] = []
        self.patches: list[tuple[str, dict[str, Any]]] = []
        self.claims: dict[tuple[str, str], dict[str, Any]] = {}
        self.claim_log: list[tuple[str, str]] = []
        self.attempts: dict[str, int] = {}
        self.refuse_claims = False
        self.agent_logs: list[str] = []
        self.lock = threading.Lock()
        work.mkdir(parents=True, exist_ok=True)
        shim = work / "busybox"
        shim.write_text('#!/bin/sh\nexec "$@"\n')
        shim.chmod(0o755)
        self.shim = shim

    # -- pods ------------------------------------------------------------------------------
    def create_namespaced_pod(self, namespace: str, body: dict[str, Any], **_: Any) -> Any:
        name = body["metadata"]["name"]
        with self.lock:
            if (namespace, name) in self.pods:
                exc = ApiException(status=409, reason="AlreadyExists")
                raise exc
            pod = copy.deepcopy(body)
            pod["metadata"]["namespace"] = namespace
            pod["metadata"].setdefault("labels", {})
            self.pods[(namespace, name)] = pod
            self.created.append(copy.deepcopy(pod))
            node = pod["metadata"].get("annotations", {}).get("workflows.argoproj.io/node-name", name)
            attempt = self.attempts.get(node, 0)
            self.attempts[node] = attempt + 1
        self._kubelet(pod, attempt)
        return _model(pod, "V1Pod")

    def read_namespaced_pod(self, name: str, namespace: str, **_: Any) -> Any:
        pod = self.pods.get((namespace, name))
        if pod is None or pod.get("_gone"):
            raise _not_found(name)
        return _model({k: v for k, v in pod.items() if not k.startswith("_")}, "V1Pod")

    def list_namespaced_pod(self, namespace: str, label_selector: str | None = None, **_: Any) -> Any:
        items = [
            {k: v for k, v in pod.items() if not k.startswith("_")}
            for (ns, _name), pod in self.pods.items()
            if ns == namespace and not pod.get("_gone") and _matches(label_selector, pod["metadata"]["labels"])
        ]
        return _model({"items": items}, "V1PodList")

    def delete_namespaced_pod(self, name: str, namespace: str, *args: Any, **_: Any) -> Any:
        if (namespace, name) not in self.pods:
            raise _not_found(name)
        self.pods.pop((namespace, name))
        self.deleted.append(name)
        return None

    def patch_namespaced_pod(self, name: str, namespace: str, body: dict[str, Any], **_: Any) -> Any:
        pod = self.pods.get((namespace, name))
        if pod is None:
            raise _not_found(name)
        self.patches.append((name, copy.deepcopy(body)))
        pod["metadata"]["labels"].update((body.get("metadata") or {}).get("labels") or {})
        deadline = (body.get("spec") or {}).get("activeDeadlineSeconds")
        if deadline is not None:
            pod["spec"]["activeDeadlineSeconds"] = deadline
            status = pod["status"]
            status["phase"], status["reason"] = "Failed", "DeadlineExceeded"
            for entry in status.get("containerStatuses") or []:
                if "running" in entry["state"]:
                    entry["state"] = {"terminated": {"exitCode": 143, "reason": "Error", "finishedAt": _now()}}
        return _model({k: v for k, v in pod.items() if not k.startswith("_")}, "V1Pod")

    def list_namespaced_event(self, *args: Any, **_: Any) -> Any:
        return _model({"items": []}, "CoreV1EventList")

    def read_namespaced_pod_log(self, name: str, namespace: str, *args: Any, **_: Any) -> list[bytes]:
        pod = self.pods.get((namespace, name)) or {}
        return [line.encode() + b"\n" for line in str(pod.get("_stdout", "")).splitlines()]

    # -- claims ------------------------------------------------------------------------------
    def create_namespaced_persistent_volume_claim(self, namespace: str, body: dict[str, Any], **_: Any) -> Any:
        name = body["metadata"]["name"]
        if self.refuse_claims:
            raise ApiException(status=403, reason="Forbidden: persistentvolumeclaims is forbidden")
        if (namespace, name) in self.claims:
            raise ApiException(status=409, reason="AlreadyExists")
        self.claims[(namespace, name)] = copy.deepcopy(body)
        self.claim_log.append(("create", name))
        return _model(body, "V1PersistentVolumeClaim")

    def read_namespaced_persistent_volume_claim(self, name: str, namespace: str, **_: Any) -> Any:
        if (namespace, name) not in self.claims:
            raise _not_found(name)
        return _model(self.claims[(namespace, name)], "V1PersistentVolumeClaim")

    def delete_namespaced_persistent_volume_claim(self, name: str, namespace: str, **_: Any) -> Any:
        if (namespace, name) not in self.claims:
            raise _not_found(name)
        self.claims.pop((namespace, name))
        self.claim_log.append(("delete", name))
        return None

    # -- the XCom exec ---------------------------------------------------------------------------
    def extract(self, pod: Any) -> str:
        key = (pod.metadata.namespace, pod.metadata.name)
        state = self.pods[key]
        statuses = state["status"]["containerStatuses"]
        sidecar = next(s for s in statuses if s["name"] == capture.XCOM_SIDECAR)
        if "running" not in sidecar["state"]:
            raise RuntimeError("airflow-xcom-sidecar container is not running")
        sidecar["state"] = {"terminated": {"exitCode": 0, "reason": "Completed", "finishedAt": _now()}}
        if all("terminated" in s["state"] for s in statuses):
            failed = any(s["state"]["terminated"]["exitCode"] != 0 for s in statuses)
            state["status"]["phase"] = "Failed" if failed else "Succeeded"
        return self.documents.get(key) or "__airflow_xcom_result_empty__"

    # -- the kubelet ---------------------------------------------------------------------------
    def _kubelet(self, pod: dict[str, Any], attempt: int) -> None:
        labels = pod["metadata"]["labels"]
        scenario = labels.get(SCENARIO_LABEL, "")
        if scenario.endswith("-once"):
            scenario = scenario[: -len("-once")] if attempt == 0 else ""
        spec = pod["spec"]
        main = spec["containers"][0]
        others = spec["containers"][1:]
        started = _now()

        def status(name: str, image: str, state: dict[str, Any]) -> dict[str, Any]:
            return {"name": name, "image": image, "imageID": "", "ready": False, "restartCount": 0, "state": state}

        inits = [
            status(c["name"], c["image"], {"terminated": {"exitCode": 0, "reason": "Completed"}})
            for c in spec.get("initContainers") or []
        ]
        running = [status(c["name"], c["image"], {"running": {"startedAt": started}}) for c in others]
        if scenario == "pull-error":
            pod["status"] = {
                "phase": "Pending",
                "conditions": [{"type": "PodScheduled", "status": "True"}],
                "initContainerStatuses": inits,
                "containerStatuses": [
                    status(
                        main["name"],
                        main["image"],
                        {"waiting": {"reason": "ErrImagePull", "message": f'image "{main["image"]}" not found'}},
                    ),
                    *[status(c["name"], c["image"], {"waiting": {"reason": "PodInitializing"}}) for c in others],
                ],
            }
            return
        if scenario == "running":
            pod["status"] = {
                "phase": "Running",
                "startTime": started,
                "initContainerStatuses": inits,
                "containerStatuses": [
                    status(main["name"], main["image"], {"running": {"startedAt": started}}),
                    *running,
                ],
            }
            return
        if scenario == "deleted":
            pod["_gone"] = True
            pod["status"] = {"phase": "Running", "startTime": started}
            return
        if scenario == "evicted":
            pod["status"] = {
                "phase": "Failed",
                "reason": "Evicted",
                "message": "The node was low on resource: memory. Threshold quantity: 100Mi, available: 50Mi.",
                "startTime": started,
                "containerStatuses": [
                    status(c["name"], c["image"], {"terminated": {"exitCode": 137, "reason": "Error"}})
                    for c in spec["containers"]
                ],
            }
            return
        if scenario == "deadline":
            pod["status"] = {
                "phase": "Failed",
                "reason": "DeadlineExceeded",
                "message": "Pod was active on the node longer than the specified deadline",
                "startTime": started,
                "containerStatuses": [
                    status(c["name"], c["image"], {"terminated": {"exitCode": 143, "reason": "Error"}})
                    for c in spec["containers"]
                ],
            }
            return
        if scenario == "init-failed":
            inits[0]["state"] = {
                "terminated": {"exitCode": 1, "reason": "Error", "message": "cp: read-only file system"}
            }
            pod["status"] = {
                "phase": "Failed",
                "startTime": started,
                "initContainerStatuses": inits,
                "containerStatuses": [
                    status(c["name"], c["image"], {"waiting": {"reason": "PodInitializing"}})
                    for c in spec["containers"]
                ],
            }
            return
        init = next((c for c in spec.get("initContainers") or [] if c["name"] == capture.INIT_CONTAINER), None)
        if init is not None and any(e.get("value") == capture.SET_WRAPPER for e in init.get("env") or []):
            self._run_set(pod, spec, inits, started, status)
            return
        loader = next((c for c in spec.get("initContainers") or [] if c["name"] == pod_artifacts.LOAD_CONTAINER), None)
        if loader is not None:
            failure = self._run_loader(pod, loader, main)
            if failure is not None:
                for entry in inits:
                    if entry["name"] == pod_artifacts.LOAD_CONTAINER:
                        entry["state"] = {"terminated": {"exitCode": 1, "reason": "Error", "message": failure}}
                pod["status"] = {
                    "phase": "Failed",
                    "startTime": started,
                    "initContainerStatuses": inits,
                    "containerStatuses": [
                        status(c["name"], c["image"], {"waiting": {"reason": "PodInitializing"}})
                        for c in spec["containers"]
                    ],
                }
                return
        exit_code, stdout, document = self._run_main(pod, main, spec)
        pod["_stdout"] = stdout
        self.documents[(pod["metadata"]["namespace"], pod["metadata"]["name"])] = document
        pod["status"] = {
            "phase": "Running",
            "startTime": started,
            "initContainerStatuses": inits,
            "containerStatuses": [
                status(
                    main["name"],
                    main["image"],
                    {
                        "terminated": {
                            "exitCode": exit_code,
                            "reason": "Completed" if exit_code == 0 else "Error",
                            "startedAt": started,
                            "finishedAt": _now(),
                        }
                    },
                ),
                *running,
            ],
        }

    def _run_set(self, pod: dict[str, Any], spec: dict[str, Any], inits: list[Any], started: str, status: Any) -> None:
        """A containerSet pod: every container of the set runs at once through the set wrapper (with
        dash), each mount path mapped to a folder of the pod; main writes the outputs document."""
        here = self.work / pod["metadata"]["name"]
        (here / "ctr").mkdir(parents=True, exist_ok=True)
        wrapper = here / "wrapper"
        wrapper.write_text(capture.SET_WRAPPER)
        volumes = here / "volumes"
        fixed = {
            capture.BUSYBOX: str(self.shim),
            capture.WRAPPER_PATH: str(wrapper),
            capture.SET_DIR: str(here / "ctr"),
            capture.RETURN_FILE: str(here / "return.json"),
        }
        members = [c for c in spec["containers"] if c["command"][:3] == [capture.BUSYBOX, "sh", capture.WRAPPER_PATH]]
        running: list[tuple[dict[str, Any], subprocess.Popen[bytes]]] = []
        for container in members:
            mounts = {}
            for mount in container.get("volumeMounts") or []:
                if mount["name"] in (capture.ARGO_VOLUME, capture.XCOM_VOLUME):
                    continue
                target = volumes / mount["name"] / mount.get("subPath", "")
                target.mkdir(parents=True, exist_ok=True)
                mounts[mount["mountPath"].rstrip("/")] = str(target)

            def mapped(arg: str, mounts: dict[str, str] = mounts) -> str:
                if arg in fixed:
                    return fixed[arg]
                for path, host in sorted(mounts.items(), key=lambda m: -len(m[0])):
                    if arg == path or arg.startswith(path + "/"):
                        return host + arg[len(path) :]
                    arg = arg.replace(" " + path + "/", " " + host + "/")
                return arg

            argv = [mapped(a) for a in [*container["command"], *(container.get("args") or [])]]
            env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(here)}
            env.update(self._env(container))
            process = subprocess.Popen(
                ["dash", *argv[2:]], env=env, cwd=here, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
            )
            running.append((container, process))
        ends = []
        stdout = ""
        for container, process in running:
            out, _ = process.communicate(timeout=300)
            if container["name"] == "main":
                stdout = out.decode("utf-8", "replace")
            code = process.returncode
            ends.append(
                status(
                    container["name"],
                    container["image"],
                    {
                        "terminated": {
                            "exitCode": code,
                            "reason": "Completed" if code == 0 else "Error",
                            "startedAt": started,
                            "finishedAt": _now(),
                        }
                    },
                )
            )
        document = here / "return.json"
        pod["_stdout"] = stdout
        self.documents[(pod["metadata"]["namespace"], pod["metadata"]["name"])] = (
            document.read_text() if document.exists() else None
        )
        others = [c for c in spec["containers"] if c not in members]
        pod["status"] = {
            "phase": "Running",
            "startTime": started,
            "initContainerStatuses": inits,
            "containerStatuses": [
                *ends,
                *[status(c["name"], c["image"], {"running": {"startedAt": started}}) for c in others],
            ],
        }

    def _env(self, container: dict[str, Any]) -> dict[str, str]:
        """A container's environment: values, and Secrets resolved from the fake cluster's."""
        env: dict[str, str] = {}
        for entry in container.get("env") or []:
            if "value" in entry:
                env[entry["name"]] = str(entry["value"])
            ref = (entry.get("valueFrom") or {}).get("secretKeyRef")
            if ref:
                env[entry["name"]] = self.secrets.get(ref["name"], {}).get(ref["key"], "")
        return env

    def _agent_env(self, container: dict[str, Any], here: Path) -> dict[str, str]:
        # The agent's image has Python, boto3 and this package; its identity (IRSA) is the test's AWS env.
        env = {k: v for k, v in os.environ.items() if k.startswith(("AWS_", "PYTHON", "PATH", "HOME"))}
        env.update(self._env(container))
        env["TMPDIR"] = str(here)
        return env

    def _run_loader(self, pod: dict[str, Any], loader: dict[str, Any], main: dict[str, Any]) -> str | None:
        """Run the ``argo-artifacts`` init container's agent, then mount what it placed (as links)."""
        here = self.work / pod["metadata"]["name"]
        inputs = here / "inputs"
        inputs.mkdir(parents=True, exist_ok=True)
        message = here / "loader-message"
        argv = [sys.executable if a == "python" else a for a in loader["command"]]
        argv = [str(inputs) if a == pod_artifacts.INPUTS_DIR else a for a in argv] + ["--message-file", str(message)]
        done = subprocess.run(argv, capture_output=True, env=self._agent_env(loader, here), timeout=120, cwd=here)
        self.agent_logs.append(done.stderr.decode("utf-8", "replace"))
        if done.returncode != 0:
            return message.read_text() if message.exists() else done.stderr.decode()[-500:]
        for mount in main.get("volumeMounts") or []:
            if mount["name"] == pod_artifacts.INPUTS_VOLUME:
                target = Path(mount["mountPath"])
                target.parent.mkdir(parents=True, exist_ok=True)
                if target.is_symlink() or target.exists():
                    target.unlink()
                target.symlink_to(inputs / mount["subPath"])
        return None

    def _run_main(self, pod: dict[str, Any], main: dict[str, Any], spec: dict[str, Any]) -> tuple[int, str, str | None]:
        init = next(c for c in spec["initContainers"] if c["name"] == capture.INIT_CONTAINER)
        init_env = {e["name"]: e.get("value", "") for e in init.get("env") or []}
        here = self.work / pod["metadata"]["name"]
        here.mkdir(parents=True, exist_ok=True)
        wrapper = here / "wrapper"
        wrapper.write_text(init_env[capture.WRAPPER_ENV])
        script = here / "script"
        if capture.SCRIPT_ENV in init_env:
            script.write_text(init_env[capture.SCRIPT_ENV])
            script.chmod(0o755)
        argv = list(main["command"]) + list(main.get("args") or [])
        returned = here / "return.json"
        paths = {
            capture.BUSYBOX: str(self.shim),
            capture.WRAPPER_PATH: str(wrapper),
            capture.OUTPUTS_DIR: str(here / "outputs"),
            capture.RETURN_FILE: str(returned),
            capture.SCRIPT_PATH: str(script),
            pod_artifacts.OUTPUTS_DIR: str(here / "outputs" / "artifacts"),
            pod_artifacts.REPORT_DIR: str(here / "agent"),
            pod_artifacts.MAIN_DOCUMENT: str(here / "outputs" / "main.json"),
        }
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(here)}
        env.update(self._env(main))
        agent = None
        if argv[:3] == [capture.BUSYBOX, "sh", "-c"]:
            # Output artifacts: the artifacts wrapper around the outputs wrapper, with the argo-wait agent.
            assert argv[4] == "argo-artifacts", argv[4]
            rest = [paths.get(a, a) for a in argv[5:]]
            inner = rest.index(str(self.shim), 1)
            assert rest[inner + 1 : inner + 3] == ["sh", str(wrapper)], rest[inner : inner + 3]
            command = ["dash", "-c", argv[3], "argo-artifacts", *rest]
            waiter = next(c for c in spec["containers"] if c["name"] == pod_artifacts.WAIT_CONTAINER)
            agent_argv = [sys.executable if a == "python" else paths.get(a, a) for a in waiter["command"]]
            agent = subprocess.Popen(
                agent_argv,
                env=self._agent_env(waiter, here),
                cwd=here,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
        else:
            assert argv[:3] == [capture.BUSYBOX, "sh", capture.WRAPPER_PATH], argv[:3]
            rest = argv[3:]
            assert rest[:3] == [capture.BUSYBOX, capture.OUTPUTS_DIR, capture.RETURN_FILE], rest[:3]
            rest = [paths.get(a, a) for a in rest]
            command = ["dash", str(wrapper), *rest]
        done = subprocess.run(command, capture_output=True, env=env, timeout=300, cwd=here)
        if agent is not None:
            try:
                out, _ = agent.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                agent.kill()
                out, _ = agent.communicate()
            self.agent_logs.append(out.decode("utf-8", "replace"))
        document = returned.read_text() if returned.exists() else None
        return done.returncode, done.stdout.decode("utf-8", "replace"), document


def patch_cluster(monkeypatch: Any, cluster: FakeCluster) -> None:
    """Point the cncf.kubernetes provider at ``cluster`` (the boundary its own tests patch)."""
    from airflow.providers.cncf.kubernetes.hooks.kubernetes import AsyncKubernetesHook, KubernetesHook
    from airflow.providers.cncf.kubernetes.utils.pod_manager import PodManager

    monkeypatch.setattr(KubernetesHook, "core_v1_client", property(lambda self: cluster))
    monkeypatch.setattr(KubernetesHook, "is_in_cluster", property(lambda self: False))
    monkeypatch.setattr(PodManager, "extract_xcom", lambda self, pod, ignore_kill_failure=True: cluster.extract(pod))
    monkeypatch.setattr(PodManager, "fetch_requested_container_logs", lambda self, *args, **kwargs: [])

    async def get_pod(self: Any, name: str, namespace: str) -> Any:
        return cluster.read_namespaced_pod(name, namespace)

    async def no_events(self: Any, *args: Any, **kwargs: Any) -> Iterator[Any]:
        if False:  # pragma: no cover - an empty async generator
            yield None

    monkeypatch.setattr(AsyncKubernetesHook, "get_pod", get_pod)
    monkeypatch.setattr(AsyncKubernetesHook, "watch_pod_events", no_events)
