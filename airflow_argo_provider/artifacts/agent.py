"""The artifact agent inside a step's pod (Kubernetes backend): Argo's init and wait roles.

    python -m airflow_argo_provider.artifacts.agent load --dir /argo/inputs/artifacts
    python -m airflow_argo_provider.artifacts.agent save --dir /var/run/argo/outputs/artifacts \\
        --report /var/run/argo/agent

The pod's ``argo-artifacts`` init container runs ``load``: it places every input artifact
(``ARGO_ARTIFACTS``, a JSON description written by the worker) under ``--dir/NAME`` (or at its
path, when that lies in a volume the container mounts), from where the main container mounts
it at the artifact's path. A failure is written to the container's termination message and
the container exits 1: the node is an Error, as in Argo.

The ``argo-wait`` sidecar runs ``save``: it writes a heartbeat to ``--report/beat`` every
second, waits for the main container's wrapper to hand over each output path as an
uncompressed tar (``--dir/N.tar``, then ``--dir/ready``), stores each per its archive
strategy (streamed: gzip, zip, or one object per file) and writes the result
(``--report/saved.json``: saved locations, missing and failed outputs). The wrapper waits for
that file and adds it to the outputs document the worker reads.

Credentials: each Secret reference of a location (``accessKeySecret`` ...) reaches the agent
as an environment variable with ``valueFrom.secretKeyRef`` (``ARGO_ARTIFACTS`` maps references
to variable names), so secret values never appear in the pod spec; without references boto3's
default chain applies (IRSA, instance profiles). Needs Python, boto3 and this package; GCS and
Azure Blob artifacts also need gcsfs/adlfs (the ``google``/``azure`` extras), Git inputs ``git``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

from airflow_argo_provider.artifacts.clients import default_sessions
from airflow_argo_provider.artifacts.model import ArtifactNotFound, SaveReport, StepArtifacts, StoreError
from airflow_argo_provider.artifacts.staging import LoadError, load_inputs
from airflow_argo_provider.artifacts.stores import Stores

SPEC_ENV = "ARGO_ARTIFACTS"
TERMINATION_LOG = "/dev/termination-log"
READY = "ready"
BEAT = "beat"
SAVED = "saved.json"

log = logging.getLogger("argo-artifacts")


def env_secrets(mapping: list[list[str]]) -> Any:
    """A secret reader over the environment variables the pod maps Secrets to."""
    table = {(name, key): env for name, key, env in mapping}

    def read(name: str, key: str) -> str:
        env = table.get((name, key))
        if env is None or env not in os.environ:
            raise StoreError(f"secret {name!r} key {key!r} is not mapped into this container")
        return os.environ[env]

    return read


def _spec() -> tuple[StepArtifacts, dict[str, Any], Stores]:
    raw = json.loads(os.environ[SPEC_ENV])
    artifacts = StepArtifacts.from_json(raw)
    stores = Stores(env_secrets(raw.get("secrets") or []), default_sessions)
    return artifacts, raw, stores


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def load(directory: Path, message_file: str) -> int:
    artifacts, raw, stores = _spec()
    targets = {t["name"]: t["target"] for t in raw.get("targets") or []}
    directory.mkdir(parents=True, exist_ok=True)

    def dest(artifact: Any) -> Path:
        return Path(targets.get(artifact.name) or directory / artifact.name)

    try:
        load_inputs(artifacts.inputs, stores, dest)
    except LoadError as exc:
        _fail(str(exc), message_file)
        return 1
    except Exception as exc:  # anything else still ends as the node's message
        _fail(f"failed to load input artifacts: {type(exc).__name__}: {exc}", message_file)
        return 1
    return 0


def _fail(message: str, message_file: str) -> None:
    print(message, file=sys.stderr, flush=True)
    try:
        Path(message_file).write_text(message[:4000])
    except OSError:
        pass


def save(directory: Path, report_dir: Path, poll: float = 0.2) -> int:
    artifacts, _raw, stores = _spec()
    report_dir.mkdir(parents=True, exist_ok=True)
    stop = threading.Event()

    def beat() -> None:
        count = 0
        while not stop.is_set():
            count += 1
            try:
                _write_atomic(report_dir / BEAT, str(count))
            except OSError:
                pass
            stop.wait(1.0)

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        while not (directory / READY).exists():
            time.sleep(poll)
        report = SaveReport()
        for index, artifact in enumerate(artifacts.outputs):
            tar = directory / f"{index}.tar"
            if not tar.exists():
                report.missing.append(artifact.name)
                continue
            try:
                with tar.open("rb") as stream:
                    report.saved[artifact.name] = stores.save_tar(artifact, stream)
                log.info("saved output artifact %s", artifact.name)
            except ArtifactNotFound:
                report.missing.append(artifact.name)
            except Exception as exc:
                report.errors.append(f"output artifact {artifact.name!r}: {exc}")
            finally:
                try:
                    tar.unlink()
                except OSError:
                    pass
        _write_atomic(report_dir / SAVED, json.dumps(report.to_json()))
    except Exception as exc:
        _write_atomic(report_dir / SAVED, json.dumps({"error": f"the artifact agent failed: {exc}"}))
    finally:
        stop.set()
    return 0


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    parser = argparse.ArgumentParser(prog="python -m airflow_argo_provider.artifacts.agent")
    sub = parser.add_subparsers(dest="command", required=True)
    loading = sub.add_parser("load", help="place the input artifacts (init container)")
    loading.add_argument("--dir", required=True)
    loading.add_argument("--message-file", default=TERMINATION_LOG)
    saving = sub.add_parser("save", help="store the output artifacts (sidecar)")
    saving.add_argument("--dir", required=True)
    saving.add_argument("--report", required=True)
    args = parser.parse_args(argv)
    if args.command == "load":
        return load(Path(args.dir), args.message_file)
    return save(Path(args.dir), Path(args.report))


if __name__ == "__main__":
    sys.exit(main())
