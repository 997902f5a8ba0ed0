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

    def run_invocation(self, invocation: Invocation, context: Any, timeout: float | None) -> RawOutcome:
        template = invocation.template
        body: Mapping[str, Any] = template.get("container") or template.get("script") or {}
        image = body.get("image")
        run_id = str(context["run_id"])
        step_root = run_dir(self.plan, run_id) / "steps" / safe_name(invocation.pod_name)
        shutil.rmtree(step_root, ignore_errors=True)
        volumes = [*(self.plan.pod_spec.get("volumes") or []), *(template.get("volumes") or [])]
        for claim in self.plan.pod_spec.get("volumeClaimTemplates") or []:
            name = (claim.get("metadata") or {}).get("name")
            if name:
                volumes.append({"name": name, "persistentVolumeClaim": {"claimName": f"__run__/{name}"}})
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
            argv = resolve_command(template, image)
            env = build_env(body, os.environ, self.plan.config_maps, local_secret)
        except (CommandError, MissingValueError) as exc:
            return RawOutcome(exit_code=None, message=str(exc), error=True)
        extra_path = image_path(image or "")
        if extra_path:
            env["PATH"] = os.pathsep.join([*extra_path, env.get("PATH", "")])
        env.setdefault("ARGO_POD_NAME", invocation.pod_name)
        env.setdefault("ARGO_NODE_NAME", invocation.node_name)
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
        stores = None
        if artifacts:
            from airflow_argo_provider.artifacts.clients import airflow_sessions
            from airflow_argo_provider.artifacts.staging import LoadError, load_inputs
            from airflow_argo_provider.artifacts.stores import Stores

            stores = Stores(local_secret, airflow_sessions)
            try:
                load_inputs(artifacts.inputs, stores, lambda a: input_target(sandbox, a.name, a.path))
            except (LoadError, MissingValueError) as exc:
                shutil.rmtree(step_root, ignore_errors=True)
                return RawOutcome(exit_code=None, message=str(exc), error=True)
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
            from airflow_argo_provider.artifacts.staging import save_outputs, settle

            def source(artifact: Any) -> Path:
                path = Path(sandbox.host_path(artifact.path) if sandbox.isolated else artifact.path)
                parent = os.path.dirname(artifact.path.rstrip("/"))
                if parent == "/" and not body.get("workingDir") and not (path.exists() or path.is_symlink()):
                    # A step without workingDir runs in its /tmp here, where an image's WORKDIR is
                    # usually /: a file it wrote to its own folder ("result.txt") is looked up there.
                    fallback = Path(sandbox.host_path("/tmp/" + path.name) if sandbox.isolated else "")
                    if sandbox.isolated and fallback.exists():
                        log.info("output artifact %s: %s is read from /tmp (the step's folder)", artifact.name, path)
                        return fallback
                return path

            settle(outcome, save_outputs(artifacts.outputs, stores, source), artifacts.outputs)
        if not os.environ.get("AIRFLOW_ARGO_KEEP_STEP_DIRS"):
            shutil.rmtree(step_root, ignore_errors=True)
        return outcome


def cleanup_run(plan: Any, run_id: str) -> None:
    """Remove a run's local directories (volumes of its claims, step directories)."""
    path: Path = run_dir(plan, run_id)
    shutil.rmtree(path, ignore_errors=True)
