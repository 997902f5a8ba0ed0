"""Container and script templates as local processes (the local backend)."""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from airflow_argo_provider.hooks.secrets import local_secret
from airflow_argo_provider.local.runner import (
    STAGING,
    CommandError,
    MissingValueError,
    ProcessResult,
    Sandbox,
    build_env,
    input_target,
    prepare_sandbox,
    resolve_command,
    run_process,
)
from airflow_argo_provider.local.shims import image_path
from airflow_argo_provider.operators.base import ArgoNodeOperator
from airflow_argo_provider.runtime.context import run_dir, safe_name, work_dir
from airflow_argo_provider.runtime.step import Invocation, RawOutcome, output_paths

log = logging.getLogger(__name__)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class ArgoLocalOperator(ArgoNodeOperator):
    """Runs an Argo container or script template as a process on the worker."""

    ui_color = "#d9f2e6"

    def make_view(self, context: Any) -> Any:
        view = super().make_view(context)
        # Without a configured artifact repository, artifacts stay on this machine.
        view.local_artifact_root = str(work_dir() / "artifacts")
        return view

    def command_and_env(
        self, template: Mapping[str, Any], body: Mapping[str, Any], invocation: Invocation
    ) -> tuple[list[str], dict[str, str]]:
        """A container's (or script's) command line and environment as a local process: the
        image's tools first on PATH, Argo's pod and node names set."""
        image = body.get("image")
        argv = resolve_command(template, image)
        env = build_env(body, os.environ, self.plan.config_maps, local_secret)
        extra_path = image_path(image or "")
        if extra_path:
            env["PATH"] = os.pathsep.join([*extra_path, env.get("PATH", "")])
        env.setdefault("ARGO_POD_NAME", invocation.pod_name)
        env.setdefault("ARGO_NODE_NAME", invocation.node_name)
        return argv, env

    def run_invocation(self, invocation: Invocation, context: Any, timeout: float | None) -> RawOutcome:
        template = invocation.template
        body: Mapping[str, Any] = template.get("container") or template.get("script") or {}
        image = body.get("image")
        run_id = str(context["run_id"])
        step_root = run_dir(self.plan, run_id) / "steps" / safe_name(invocation.pod_name)
        shutil.rmtree(step_root, ignore_errors=True)
        volumes = step_volumes(self.plan, template)
        paths = output_paths(template)
        artifacts = invocation.artifacts
        sandbox = prepare_sandbox(
            template,
            volumes,
            step_root,
            run_dir(self.plan, run_id),
            work_dir(),
            paths,
            self.plan.config_maps,
            local_secret,
            artifact_paths=[a.path for a in artifacts.outputs] if artifacts else (),
        )
        if not sandbox.isolated:
            log.warning(
                "steps run without a private mount namespace here: parallel steps share /tmp and "
                "volumes are not mounted"
            )
        try:
            argv, env = self.command_and_env(template, body, invocation)
        except (CommandError, MissingValueError) as exc:
            return RawOutcome(exit_code=None, message=str(exc), error=True)
        if "script" in template:
            source = template["script"].get("source", "")
            if source:
                script_dir = (
                    (sandbox.root / "tmp" / ".argo-staging") if sandbox.isolated else (sandbox.root / "staging")
                )
                script_dir.mkdir(parents=True, exist_ok=True)
                script = script_dir / "script"
                script.write_text(source)
                script.chmod(0o755)
                argv.append(f"{STAGING}/script" if sandbox.isolated else str(script))
        stores, failed = stage_inputs(artifacts, sandbox, step_root)
        if failed is not None:
            return failed
        name = invocation.display_name
        log.info("running %s (image %s): %s", name, image, " ".join(argv))

        def on_line(stream: str, line: str) -> None:
            log.info("[%s] %s", stream, line)

        result = run_process(
            argv,
            env=env,
            cwd=body.get("workingDir"),
            sandbox=sandbox,
            image=image,
            timeout=timeout,
            output_paths=paths,
            on_line=on_line,
        )
        outcome = RawOutcome(
            exit_code=result.exit_code,
            stdout=result.stdout_tail,
            message=result.message,
            error=result.error,
            files=result.files,
            started_at=_iso(result.started) if result.started else None,
            finished_at=_iso(result.finished) if result.finished else None,
            timed_out=result.timed_out,
        )
        if artifacts and artifacts.outputs and stores is not None:
            save_output_artifacts(outcome, artifacts, stores, sandbox, body.get("workingDir"))
        if not os.environ.get("AIRFLOW_ARGO_KEEP_STEP_DIRS"):
            shutil.rmtree(step_root, ignore_errors=True)
        return outcome


def stage_inputs(artifacts: Any, sandbox: Sandbox, step_root: Path) -> tuple[Any, RawOutcome | None]:
    """Load a step's input artifacts into its sandbox: the artifact stores for its outputs, or
    the failed outcome (an Error, the step's folder removed) when an input cannot be loaded."""
    if not artifacts:
        return None, None
    from airflow_argo_provider.artifacts.clients import airflow_sessions
    from airflow_argo_provider.artifacts.staging import LoadError, load_inputs
    from airflow_argo_provider.artifacts.stores import Stores

    stores = Stores(local_secret, airflow_sessions)
    try:
        load_inputs(artifacts.inputs, stores, lambda a: input_target(sandbox, a.name, a.path))
    except (LoadError, MissingValueError) as exc:
        shutil.rmtree(step_root, ignore_errors=True)
        return stores, RawOutcome(exit_code=None, message=str(exc), error=True)
    return stores, None


def step_volumes(plan: Any, template: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The volumes a step can mount: the workflow's, the template's, the run's claims."""
    volumes: list[Mapping[str, Any]] = [*(plan.pod_spec.get("volumes") or []), *(template.get("volumes") or [])]
    for claim in plan.pod_spec.get("volumeClaimTemplates") or []:
        name = (claim.get("metadata") or {}).get("name")
        if name:
            volumes.append({"name": name, "persistentVolumeClaim": {"claimName": f"__run__/{name}"}})
    return volumes


def save_output_artifacts(
    outcome: RawOutcome, artifacts: Any, stores: Any, sandbox: Sandbox, working_dir: str | None
) -> None:
    """Upload a finished step's output artifacts from its sandbox, and settle the outcome."""
    from airflow_argo_provider.artifacts.staging import save_outputs, settle

    def source(artifact: Any) -> Path:
        path = Path(sandbox.host_path(artifact.path) if sandbox.isolated else artifact.path)
        parent = os.path.dirname(artifact.path.rstrip("/"))
        if parent == "/" and not working_dir and not (path.exists() or path.is_symlink()):
            # A step without workingDir runs in its /tmp here, where an image's WORKDIR is
            # usually /: a file it wrote to its own folder ("result.txt") is looked up there.
            fallback = Path(sandbox.host_path("/tmp/" + path.name) if sandbox.isolated else "")
            if sandbox.isolated and fallback.exists():
                log.info("output artifact %s: %s is read from /tmp (the step's folder)", artifact.name, path)
                return fallback
        return path

    settle(outcome, save_outputs(artifacts.outputs, stores, source), artifacts.outputs)


def cleanup_run(plan: Any, run_id: str) -> None:
    """Remove a run's local directories (volumes of its claims, step directories)."""
    path: Path = run_dir(plan, run_id)
    shutil.rmtree(path, ignore_errors=True)


class ArgoLocalContainerSetOperator(ArgoLocalOperator):
    """Runs an Argo ``containerSet`` template as processes on the worker, in dependency order.

    Each container is a process (its command, args, env and the set's and its own volume mounts);
    containers whose dependencies all succeeded start together, and a container whose dependency
    failed does not run. Volumes (``emptyDir`` of the template too) are shared by the set, each
    container has its own ``/tmp``. ``retryStrategy`` of the set retries a failing container in
    place. Outputs are read when every container has ended: ``outputs.result`` is the stdout of the
    container named ``main``, output files and artifacts are read where ``main`` sees them.
    """

    ui_color = "#cdeedd"

    def run_invocation(self, invocation: Invocation, context: Any, timeout: float | None) -> RawOutcome:
        import threading
        import time
        from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
        from graphlib import TopologicalSorter

        from airflow_argo_provider.kubernetes.pod import MAIN_CONTAINER
        from airflow_argo_provider.local.runner import read_output
        from airflow_argo_provider.runtime.retry import container_set_retry

        template = invocation.template
        body: Mapping[str, Any] = template.get("containerSet") or {}
        containers = [dict(c) for c in body.get("containers") or []]
        if not containers:
            return RawOutcome(exit_code=None, error=True, message="containerSet has no containers")
        try:
            retries, delay = container_set_retry(template)
        except ValueError as exc:
            return RawOutcome(exit_code=None, error=True, message=str(exc))
        names = [str(c.get("name") or "") for c in containers]
        collector = MAIN_CONTAINER if MAIN_CONTAINER in names else names[-1]
        run_id = str(context["run_id"])
        step_root = run_dir(self.plan, run_id) / "steps" / safe_name(invocation.pod_name)
        shutil.rmtree(step_root, ignore_errors=True)
        volumes = step_volumes(self.plan, template)
        paths = output_paths(template)
        artifacts = invocation.artifacts
        shared_mounts = list(body.get("volumeMounts") or [])
        sandboxes: dict[str, Sandbox] = {}
        for container in containers:
            name = str(container["name"])
            own = {**container, "volumeMounts": [*shared_mounts, *(container.get("volumeMounts") or [])]}
            main = name == collector
            sandbox = prepare_sandbox(
                {"container": own},
                volumes,
                step_root,
                run_dir(self.plan, run_id),
                work_dir(),
                paths if main else [],
                self.plan.config_maps,
                local_secret,
                artifact_paths=[a.path for a in artifacts.outputs] if artifacts and main else (),
            )
            own_tmp = step_root / "containers" / safe_name(name) / "tmp"
            own_tmp.mkdir(parents=True, exist_ok=True)
            sandbox.binds = [(str(own_tmp) if target == "/tmp" else host, target) for host, target in sandbox.binds]
            sandbox.root = own_tmp.parent
            sandboxes[name] = sandbox
            container["volumeMounts"] = own["volumeMounts"]
        stores, failed = stage_inputs(artifacts, sandboxes[collector], step_root)
        if failed is not None:
            return failed
        deadline = time.monotonic() + timeout if timeout is not None else None
        lock = threading.Lock()

        def run_one(container: dict[str, Any]) -> ProcessResult:
            name = str(container["name"])
            image = container.get("image")
            try:
                argv, env = self.command_and_env({"container": container}, container, invocation)
            except (CommandError, MissingValueError) as exc:
                return ProcessResult(exit_code=None, stdout_tail="", message=f"container {name}: {exc}", error=True)
            env["ARGO_CONTAINER_NAME"] = name

            def on_line(stream: str, line: str) -> None:
                with lock:
                    log.info("[%s %s] %s", name, stream, line)

            attempt = 0
            while True:
                left = None if deadline is None else max(deadline - time.monotonic(), 0.0)
                log.info("%s: container %s (image %s): %s", invocation.display_name, name, image, " ".join(argv))
                result = run_process(
                    argv,
                    env=env,
                    cwd=container.get("workingDir"),
                    sandbox=sandboxes[name],
                    image=image,
                    timeout=left,
                    output_paths=[],
                    on_line=on_line,
                )
                if result.exit_code == 0 or result.error or result.timed_out or attempt >= retries:
                    return result
                attempt += 1
                log.info(
                    "%s: container %s exited %s; retry %d of %d",
                    invocation.display_name,
                    name,
                    result.exit_code,
                    attempt,
                    retries,
                )
                time.sleep(delay)

        done: dict[str, ProcessResult | None] = {}  # None: not run (a dependency did not succeed)
        by_name = {str(c["name"]): c for c in containers}
        deps = {name: [str(d) for d in by_name[name].get("dependencies") or []] for name in names}
        running: dict[Future[ProcessResult], str] = {}
        order = TopologicalSorter(deps)  # checked acyclic when the manifest was loaded
        order.prepare()
        with ThreadPoolExecutor(max_workers=len(containers)) as pool:
            while order.is_active():
                for name in order.get_ready():
                    if all(done[d] is not None and done[d].exit_code == 0 and not done[d].error for d in deps[name]):  # type: ignore[union-attr]
                        running[pool.submit(run_one, by_name[name])] = name
                        continue
                    log.info(
                        "%s: container %s does not run (a dependency did not succeed)", invocation.display_name, name
                    )
                    done[name] = None
                    order.done(name)
                if running:
                    finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
                    for future in finished:
                        name = running.pop(future)
                        done[name] = future.result()
                        order.done(name)
        results = {name: result for name, result in done.items() if result is not None}
        main_result = results.get(MAIN_CONTAINER)
        started = min((r.started for r in results.values() if r.started), default=0.0)
        finished_at = max((r.finished for r in results.values() if r.finished), default=0.0)
        main_box = sandboxes[collector]
        files = {path: read_output(main_box.host_path(path) if main_box.isolated else path) for path in paths}
        outcome = RawOutcome(
            exit_code=0,
            stdout=main_result.stdout_tail if main_result is not None else "",
            files=files,
            started_at=_iso(started) if started else None,
            finished_at=_iso(finished_at) if finished_at else None,
        )
        for name in names:
            result = results.get(name)
            if result is None:
                continue
            if result.error:
                outcome.error, outcome.exit_code = True, result.exit_code
                outcome.message = (
                    result.message
                    if result.message.startswith("container ")
                    else (f"container {name}: {result.message}")
                )
                break
            if result.timed_out:
                outcome.timed_out, outcome.exit_code = True, None
                break
            if result.exit_code != 0:
                outcome.exit_code = result.exit_code
                outcome.message = f"container {name}: {result.message or f'Error (exit code {result.exit_code})'}"
                break
        if artifacts and artifacts.outputs and stores is not None:
            save_output_artifacts(outcome, artifacts, stores, main_box, by_name[collector].get("workingDir"))
        if not os.environ.get("AIRFLOW_ARGO_KEEP_STEP_DIRS"):
            shutil.rmtree(step_root, ignore_errors=True)
        return outcome
