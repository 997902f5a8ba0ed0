"""Run the upstream Argo example corpus through this provider: load every example into an
Airflow DagBag, and run every example with the local backend, comparing each run's phase with
the phase Argo gives it.

    python scripts/corpus.py [--jobs 2] [--only NAME...]      # prints a table

Used by ``scripts/update_coverage.py`` (docs/coverage.md) and by the corpus tests.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from airflow_argo_provider.manifest import load_paths  # noqa: E402
from airflow_argo_provider.manifest.loader import ManifestSet, runnable_manifest  # noqa: E402

# The phase Argo gives an example, where it is not Succeeded. Upstream labels examples that fail
# on purpose `workflows.argoproj.io/no-test: expected-failure`; the others listed here fail or
# error by design when run as they are (their reason is given). "Succeeded|Failed" marks examples
# whose outcome is random by design (they draw exit codes at random).
EXPECTED = {
    "continue-on-fail.yaml": ("Succeeded", "continueOn lets the workflow succeed (upstream labels the failing step)"),
    "pod-gc-strategy.yaml": ("Failed", "its `fail` step exits 1 on purpose"),
    "pod-gc-strategy-with-label-selector.yaml": ("Failed", "its `fail` step exits 1 on purpose"),
    "loops-arbitrary-sequential-steps.yaml": ("Failed", "its third item exits 1 on purpose"),
    "retry-conditional.yaml": ("Failed", "exit code 1 stops the retries: the step always ends failed"),
    "step-level-timeout.yaml": ("Failed", "both steps outlive their 10s timeout"),
    "timeouts-workflow.yaml": ("Failed", "the steps outlive the workflow's 30s deadline"),
    "retry-on-error.yaml": ("Succeeded|Failed", "random exit codes"),
    "resubmit.yaml": ("Succeeded|Failed", "random exit codes"),
    "template-defaults.yaml": ("Succeeded|Failed", "random exit codes"),
    "workflow-event-binding/event-consumer-workflowtemplate.yaml": (
        "Failed",
        "`appellation` comes from an event; run on its own it is missing",
    ),
    "workflow-template/templates.yaml": ("Error", "its entrypoint needs a `message` argument"),
}
# Examples the local backend cannot run as they are: they need a cluster, a service or a tool
# this machine does not have, or run for a very long time. They count as not run.
NOT_RUN_LABELS = {"duration": "runs for a long time (upstream label no-test: duration)"}
NOT_RUN = {
    "sidecar-nginx.yaml": "its step waits for an nginx sidecar, and nginx is not installed here",
    "sidecar-dind.yaml": "its step waits for a Docker daemon sidecar",
    "input-artifact-git.yaml": "clones a public GitHub repository (tests/artifacts runs it against a local one)",
    "ci.yaml": "clones a public GitHub repository and builds it with Go",
    "ci-output-artifact.yaml": "clones a public GitHub repository and builds it with Go",
}
RUN_TIMEOUT = 150


@dataclass
class Example:
    path: Path  # absolute
    name: str  # relative to the corpus, with /
    expected: str
    reason: str = ""
    skip: str = ""


def examples(corpus: Path, mset: ManifestSet | None = None) -> list[Example]:
    """Every corpus file whose first runnable manifest loads without problems."""
    mset = mset or load_paths([corpus])
    out = []
    for file in sorted({m.file for m in mset.manifests}):
        manifest = runnable_manifest(mset, file)
        # Each example is judged on its own: a DAG id it shares with another example is not its problem.
        if manifest is None or any(not p.note and p.code != "AAP013" for p in manifest.problems):
            continue
        name = Path(file).resolve().relative_to(corpus.resolve()).as_posix()
        labels = (manifest.data.get("metadata") or {}).get("labels") or {}
        no_test = str(labels.get("workflows.argoproj.io/no-test", ""))
        expected, reason = EXPECTED.get(
            name, ("Failed", "upstream label") if no_test == "expected-failure" else ("Succeeded", "")
        )
        skip = NOT_RUN.get(name) or NOT_RUN_LABELS.get(no_test, "")
        out.append(Example(Path(file).resolve(), name, expected, reason, skip))
    return out


def matches(phase: str, expected: str) -> bool:
    return phase in expected.split("|")


def workflow_examples(corpus: Path, mset: ManifestSet | None = None) -> int:
    """How many files of the corpus hold a workflow to run (Workflow, CronWorkflow, or
    WorkflowTemplate with an entrypoint), whatever their problems: the denominator of the shares."""
    mset = mset or load_paths([corpus])
    return sum(1 for file in {m.file for m in mset.manifests} if runnable_manifest(mset, file) is not None)


def _seed_home(work: Path) -> Path:
    """A migrated Airflow home to copy for each run (one `airflow db migrate` for the whole corpus)."""
    seed = work / "seed" / ".airflow-argo"
    if not (seed / "airflow.db").exists():
        seed.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "AIRFLOW_HOME": str(seed), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
        airflow = Path(sys.executable).parent / "airflow"
        done = subprocess.run([str(airflow), "db", "migrate"], env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(done.stderr[-2000:])
        import airflow as airflow_pkg

        (seed / f".migrated-{airflow_pkg.__version__}").write_text("ok\n")
    return seed


def run_example(example: Example, corpus: Path, work: Path, seed: Path) -> tuple[str, str, float]:
    """Run one example with ``airflow-argo run -o json``; returns (phase, message, seconds)."""
    folder = work / "runs" / example.name.replace("/", "__")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    shutil.copytree(seed, folder / ".airflow-argo")
    exe = Path(sys.executable).parent / "airflow-argo"
    started = time.time()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    try:
        done = subprocess.run(
            [str(exe), "run", str(example.path), "--templates", str(corpus), "-o", "json"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
            env=env,
        )
    except subprocess.TimeoutExpired:
        return "timeout", f"did not finish in {RUN_TIMEOUT}s", time.time() - started
    finally:
        seconds = time.time() - started
    (folder / "stderr.txt").write_text(done.stderr)
    try:
        result = json.loads(done.stdout)
    except ValueError:
        tail = done.stderr.strip().splitlines()[-1:] or [""]
        return f"exit {done.returncode}", tail[0][:200], seconds
    return str(result["phase"]), str(result.get("message", "")), seconds


def run_all(corpus: Path, jobs: int = 2, only: list[str] | None = None) -> dict[str, tuple[str, str, float]]:
    items = [e for e in examples(corpus) if not e.skip]
    if only:
        items = [e for e in items if any(o in e.name for o in only)]
    work = Path(tempfile.mkdtemp(prefix="argo-corpus-"))
    try:
        seed = _seed_home(work)
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            results = list(pool.map(lambda e: run_example(e, corpus, work, seed), items))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {e.name: r for e, r in zip(items, results)}


def dagbag_results(corpus: Path) -> dict[str, str]:
    """Load every example through a real Airflow DagBag: '' when it loads, else the import error.

    Each example is loaded in a DagBag of its own (examples share DAG ids with each other).
    """
    import logging

    from airflow.dag_processing.dagbag import DagBag

    items = examples(corpus)
    folder = Path(tempfile.mkdtemp(prefix="argo-dagbag-"))
    quiet = logging.getLogger("airflow.dag_processing")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)
    try:
        out = {}
        for i, example in enumerate(items):
            stub = folder / f"example_{i:03d}.py"
            stub.write_text(
                '"""Airflow DAG of an Argo example."""\n'
                "from airflow_argo_provider.dagfolder import load_manifest_dag\n\n"
                f"globals().update(load_manifest_dag({str(example.path)!r}, library={str(corpus)!r}))\n"
            )
            bag = DagBag(str(stub))
            errors = list(bag.import_errors.values())
            out[example.name] = errors[0] if errors else ("" if bag.dags else "no DAG")
        return out
    finally:
        quiet.setLevel(level)
        shutil.rmtree(folder, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("corpus", nargs="?", default=None)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--only", nargs="*")
    args = parser.parse_args()
    from scripts.update_coverage import default_corpus

    corpus = Path(args.corpus).resolve() if args.corpus else default_corpus().resolve()
    expected = {e.name: e for e in examples(corpus)}
    for name, (phase, message, seconds) in run_all(corpus, args.jobs, args.only).items():
        mark = "ok " if matches(phase, expected[name].expected) else "BAD"
        print(f"{mark} {name:70} {phase:10} {seconds:6.1f}s {message[:100]}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
