"""How long it takes to turn manifests into Airflow DAGs, and how much of it is this project's code.

    python bench/compile.py [--tasks 2000] [--repeat 5]

Side by side, in one run:

* **corpus**: ``load_workflows`` over the upstream Argo examples (every valid one becomes a DAG);
* **generated**: ``load_workflows`` over one generated manifest with ``--tasks`` DAG tasks
  (dependencies, a few fan-outs, three templates);
* **airflow only**: the same DAG (same task ids, task groups, mapped tasks and edges) built
  directly with Airflow and a do-nothing operator: the cost of Airflow's own objects.

Times are CPU seconds of this process (``time.process_time``), medians of ``--repeat`` runs, so
that other work on the machine does not skew the comparison. This project's share is
``(generated - airflow only) / generated``. "cold" parses everything
(YAML, schema, checks, plan); "warm" is a repeated parse of unchanged files, which reuses the
cached plans as the DAG processor does when it re-parses a DAG file.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def generated_manifest(tasks: int, seed: int = 7) -> str:
    rng = random.Random(seed)
    lines = [
        "apiVersion: argoproj.io/v1alpha1",
        "kind: Workflow",
        "metadata: {name: generated}",
        "spec:",
        "  entrypoint: main",
        "  arguments: {parameters: [{name: greeting, value: hello}]}",
        "  templates:",
        "  - name: echo",
        "    inputs: {parameters: [{name: text}]}",
        "    container: {image: busybox, command: [echo, '{{inputs.parameters.text}}']}",
        "  - name: script",
        "    inputs: {parameters: [{name: n}]}",
        "    retryStrategy: {limit: 2, backoff: {duration: 1s, factor: 2}}",
        "    script: {image: python:3.12, command: [python], source: 'print({{inputs.parameters.n}})'}",
        "  - name: main",
        "    dag:",
        "      tasks:",
    ]
    for i in range(tasks):
        deps = sorted({f"t{rng.randrange(i)}" for _ in range(rng.choice((1, 2)))}) if i else []
        template = "script" if i % 3 == 0 else "echo"
        arg = (
            "{name: n, value: '{{item}}'}"
            if template == "script"
            else "{name: text, value: '{{workflow.parameters.greeting}} " + str(i) + "'}"
        )
        entry = f"      - name: t{i}\n        template: {template}\n        arguments: {{parameters: [{arg}]}}"
        if template == "script":
            entry += "\n        withItems: [1, 2, 3]" if i % 30 == 0 else ""
            if i % 30 != 0:
                entry = entry.replace("'{{item}}'", f"'{i}'")
        if deps:
            entry += "\n        depends: " + " && ".join(deps)
        lines.append(entry)
    return "\n".join(lines) + "\n"


def airflow_only(dag_ids_to_shapes: dict[str, Any]) -> float:
    """Build the same DAGs with plain Airflow objects and the same Airflow settings (DAG arguments,
    per-task retries, retry policy, trigger rules, docs, map index templates); returns seconds."""
    from airflow.sdk import DAG, BaseOperator, Param, TaskGroup, TriggerRule

    class Noop(BaseOperator):
        def __init__(self, batch: Any = None, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.batch = batch

        def execute(self, context: Any) -> None:
            return None

    gc.collect()
    started = time.process_time()
    for dag_id, shape in dag_ids_to_shapes.items():
        with DAG(
            dag_id=f"{dag_id}-plain",
            schedule=None,
            params={"greeting": Param("hello", type="string")},
            tags=["argo", "Workflow"],
            doc_md="generated",
            default_args={"owner": "argo"},
        ) as dag:
            objects: dict[str, Any] = {}
            groups: dict[str, Any] = {}
            for task_id, group_id, mapped, upstream, settings in shape:
                parent = groups.get(group_id) if group_id else None
                if group_id and parent is None:
                    parent = groups[group_id] = TaskGroup(group_id=group_id.rsplit(".", 1)[-1])
                local = task_id.rsplit(".", 1)[-1]
                kwargs = {"task_id": local, "trigger_rule": TriggerRule.ALL_DONE, "task_group": parent, **settings}
                if mapped:
                    items = objects[upstream[0]]
                    objects[task_id] = Noop.partial(**kwargs).expand(batch=items.output)
                else:
                    objects[task_id] = Noop(**kwargs)
                for up in upstream:
                    if up in objects and up != task_id:
                        objects[up] >> objects[task_id]
        del dag
    return time.process_time() - started


_SETTINGS = ("retries", "retry_delay", "retry_policy", "doc_md", "map_index_template", "max_active_tis_per_dagrun")


def shape_of(dag: Any) -> list[tuple[str, str | None, bool, list[str], dict[str, Any]]]:
    """Task ids, task groups, mapped flags, upstream ids and Airflow settings of a DAG's tasks."""
    from airflow.sdk.definitions.mappedoperator import MappedOperator

    out = []
    for task in dag.topological_sort():
        group = task.task_group.group_id if task.task_group is not None and task.task_group.group_id else None
        mapped = isinstance(task, MappedOperator)
        source = task.partial_kwargs if mapped else {k: getattr(task, k, None) for k in _SETTINGS}
        settings = {k: source[k] for k in _SETTINGS if source.get(k) is not None}
        out.append((task.task_id, group, mapped, sorted(task.upstream_task_ids), settings))
    return out


def timed_load(folder: Path, repeat: int, cached: bool) -> tuple[float, dict[str, Any]]:
    from airflow_argo_provider import load_workflows
    from airflow_argo_provider.plan import cache

    runs = []
    dags: dict[str, Any] = {}
    for _ in range(repeat):
        if not cached:
            cache.clear()
        dags = {}
        gc.collect()
        started = time.process_time()
        dags = load_workflows(folder)
        runs.append(time.process_time() - started)
    return statistics.median(runs), dags


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--corpus", default=None)
    args = parser.parse_args()

    home = tempfile.mkdtemp(prefix="argo-bench-compile-")
    os.environ["AIRFLOW_HOME"] = home
    os.environ["AIRFLOW__ARGO__CACHE_DIR"] = str(Path(home) / "cache")
    started = time.process_time()
    import airflow.sdk  # noqa: F401

    import airflow_argo_provider.dagfolder  # noqa: F401

    imports = time.process_time() - started
    from scripts.update_coverage import default_corpus

    corpus = Path(args.corpus) if args.corpus else default_corpus()
    folder = Path(home) / "generated"
    folder.mkdir()
    (folder / "generated.yaml").write_text(generated_manifest(args.tasks))

    corpus_cold, corpus_dags = timed_load(corpus, args.repeat, cached=False)
    corpus_warm, _ = timed_load(corpus, args.repeat, cached=True)
    cold, dags = timed_load(folder, args.repeat, cached=False)
    warm, _ = timed_load(folder, args.repeat, cached=True)
    dag = dags["generated"]
    shape = {"generated": shape_of(dag)}
    plain = statistics.median(airflow_only(shape) for _ in range(args.repeat))

    print(f"imports (Airflow + this package): {imports:.2f} s")
    print(f"corpus: {len(corpus_dags)} DAGs from {corpus.name}: cold {corpus_cold:.3f} s, warm {corpus_warm:.3f} s")
    print(f"generated manifest: {args.tasks} DAG tasks -> {len(dag.tasks)} Airflow tasks")
    print(f"{'':28}{'seconds':>10}{'this project':>15}{'share':>8}")
    print(f"{'airflow only (same DAG)':28}{plain:10.3f}{'':>15}{'':>8}")
    for label, total in (("load_workflows, cold", cold), ("load_workflows, warm", warm)):
        ours = max(total - plain, 0.0)
        print(f"{label:28}{total:10.3f}{ours:15.3f}{ours / total:8.0%}")
    print(
        f"targets: generated manifest under 2 s (cold: {'met' if cold < 2 else 'NOT met'}), "
        f"this project's share under 30% (warm: {'met' if (warm - plain) / warm < 0.30 else 'NOT met'}, "
        f"cold: {'met' if (cold - plain) / cold < 0.30 else 'NOT met'})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
