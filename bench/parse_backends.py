"""DAG-parse cost of the backends, side by side: local vs kubernetes, in fresh processes.

Renders every compilable manifest of the upstream Argo example corpus into Airflow DAGs, once
per backend, each in a new interpreter (so import costs count, as in a DAG processor), and
prints the wall time of each and their ratio. Also checks that the local backend never imports
the Kubernetes client or the KubernetesPodOperator.

    .venv/bin/python bench/parse_backends.py [CORPUS_DIR] [--repeat N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import json, sys, time
started = time.perf_counter()
from airflow_argo_provider.manifest import ManifestError, load_paths
from airflow_argo_provider.manifest.loader import DAG_KINDS
from airflow_argo_provider.plan.build import build_plan
from airflow_argo_provider.render.dag import render_dag
mset = load_paths([sys.argv[1]])
dags = tasks = 0
for manifest in mset.by_kind(*DAG_KINDS):
    if not manifest.ok or (manifest.kind == "WorkflowTemplate" and not (manifest.spec and manifest.spec.entrypoint)):
        continue
    try:
        plan = build_plan(manifest, mset)
    except ManifestError:
        continue
    dag = render_dag(plan, sys.argv[2])
    dags += 1
    tasks += len(dag.tasks)
print(json.dumps({
    "seconds": time.perf_counter() - started,
    "dags": dags,
    "tasks": tasks,
    "kubernetes_client": "kubernetes.client" in sys.modules,
    "pod_operator": "airflow.providers.cncf.kubernetes.operators.pod" in sys.modules,
}))
"""


def main() -> int:
    parser = argparse.ArgumentParser()
    default = Path(__file__).resolve().parent.parent.parent / "shared" / "argo-examples"
    parser.add_argument("corpus", nargs="?", default=os.environ.get("ARGO_EXAMPLES", str(default)))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    env = {
        **os.environ,
        "AIRFLOW_HOME": tempfile.mkdtemp(prefix="bench-airflow-"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }
    results: dict[str, list[dict]] = {"local": [], "kubernetes": []}
    for _ in range(args.repeat):
        for backend in results:
            done = subprocess.run(
                [sys.executable, "-c", CHILD, args.corpus, backend], capture_output=True, text=True, env=env, check=True
            )
            results[backend].append(json.loads(done.stdout.strip().splitlines()[-1]))
    median = {b: statistics.median(r["seconds"] for r in runs) for b, runs in results.items()}
    for backend, runs in results.items():
        last = runs[-1]
        print(
            f"{backend:<11} {median[backend]:6.2f} s median of {len(runs)} "
            f"({last['dags']} DAGs, {last['tasks']} tasks; kubernetes client imported: {last['kubernetes_client']}, "
            f"KubernetesPodOperator imported: {last['pod_operator']})"
        )
    print(f"kubernetes / local: {median['kubernetes'] / median['local']:.2f}x")
    local = results["local"][-1]
    return 1 if local["kubernetes_client"] or local["pod_operator"] else 0


if __name__ == "__main__":
    sys.exit(main())
