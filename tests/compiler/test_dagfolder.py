"""The dags-folder helper, DAG-level settings, and the `airflow-argo run` command itself."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

GOOD = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: good}
spec:
  entrypoint: main
  parallelism: 3
  arguments:
    parameters:
    - {name: size, value: small, enum: [small, large], description: How much to process}
  templates:
  - name: main
    container: {image: busybox, command: [echo, "{{workflow.parameters.size}}"]}
"""
CRON = """
apiVersion: argoproj.io/v1alpha1
kind: CronWorkflow
metadata: {name: nightly}
spec:
  schedules: ["0 2 * * *", "30 14 * * 1"]
  timezone: Europe/Paris
  concurrencyPolicy: Forbid
  suspend: true
  workflowSpec:
    entrypoint: main
    templates:
    - name: main
      container: {image: busybox, command: [echo, hi]}
"""
BAD = GOOD.replace("name: good", "name: bad").replace("  parallelism: 3", "  paralelism: 3")


def _dagbag(folder: Path):
    from airflow.dag_processing.dagbag import DagBag

    (folder / "argo_dags.py").write_text(
        '"""Argo manifests as Airflow DAGs."""\n'
        "from airflow_argo_provider import load_workflows\n\n"
        'globals().update(load_workflows("argo"))\n'
    )
    return DagBag(str(folder))


def test_load_workflows_builds_dags_and_reports_bad_manifests(tmp_path: Path, airflow_db: Path) -> None:
    argo = tmp_path / "argo"
    argo.mkdir()
    (argo / "good.yaml").write_text(GOOD)
    (argo / "cron.yaml").write_text(CRON)
    (argo / "bad.yaml").write_text(BAD)
    bag = _dagbag(tmp_path)
    assert set(bag.dag_ids) == {"good", "nightly"}
    # The bad manifest is not silently missing: it is the DAG file's import error.
    (message,) = bag.import_errors.values()
    assert "bad.yaml:7: AAP011 spec.paralelism: unknown field; did you mean parallelism?" in message

    good = bag.dags["good"]
    assert good.max_active_tasks == 3
    assert good.params["size"] == "small"
    param = good.params.get_param("size")
    assert param.schema["enum"] == ["small", "large"]
    assert param.description == "How much to process"
    assert "argo" in good.tags
    assert good.timetable.__class__.__name__ == "NullTimetable"  # a Workflow runs when triggered

    cron = bag.dags["nightly"]
    assert cron.max_active_runs == 1
    assert cron.is_paused_upon_creation is True
    assert cron.timetable.__class__.__name__ == "MultipleCronTriggerTimetable"
    crons = [(t.expression, str(t.timezone)) for t in cron.timetable.timetables]
    assert crons == [("0 2 * * *", "Europe/Paris"), ("30 14 * * 1", "Europe/Paris")]


def test_task_groups_follow_the_manifest(tmp_path: Path, airflow_db: Path) -> None:
    from tests.compiler.test_loops import GROUP_FANOUT, LOOPS

    argo = tmp_path / "argo"
    argo.mkdir()
    (argo / "group.yaml").write_text(textwrap.dedent(GROUP_FANOUT))
    (argo / "loops.yaml").write_text(textwrap.dedent(LOOPS))
    bag = _dagbag(tmp_path)
    assert not bag.import_errors
    group = bag.dags["group-fanout"]
    assert {
        "per-city_items",
        "per-city.fetch",
        "per-city.shout",
        "per-city.letters",
        "report",
        "workflow_phase",
    } <= set(group.task_ids)
    from airflow.sdk.definitions.mappedoperator import MappedOperator
    from airflow.sdk.definitions.taskgroup import MappedTaskGroup

    assert isinstance(group.task_group_dict["per-city"], MappedTaskGroup)
    loops = next(d for d in bag.dags.values() if d.dag_id.startswith("loops"))
    assert isinstance(loops.get_task("seq"), MappedOperator)
    assert "seq_items" in loops.task_ids
    # Every task runs whatever its upstreams ended in: Argo decides, not Airflow's skip propagation.
    assert {t.trigger_rule for t in loops.tasks} == {"all_done"}
    assert [t.task_id for t in loops.leaves] == ["workflow_phase"]


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).parent / "airflow-argo"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    return subprocess.run([str(exe), *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=300)


@pytest.mark.parametrize("fail,code,phase", [("no", 0, "Succeeded"), ("yes", 1, "Failed")])
def test_run_command_json_and_exit_status(tmp_path: Path, fail: str, code: int, phase: str) -> None:
    from tests.compiler.test_steps_retries_exit import EXIT

    manifest = tmp_path / "exit.yaml"
    manifest.write_text(textwrap.dedent(EXIT))
    done = _cli("run", str(manifest), "-p", f"fail={fail}", "-o", "json", cwd=tmp_path)
    assert done.returncode == code, done.stderr[-2000:]
    result = json.loads(done.stdout)  # stdout holds exactly one JSON object
    assert set(result) >= {"name", "phase", "startedAt", "finishedAt", "parameters", "outputs", "nodes"}
    assert result["phase"] == phase
    assert result["parameters"] == {"fail": fail}
    node = next(n for n in result["nodes"] if n["displayName"] == "work")
    assert set(node) >= {"displayName", "templateName", "phase", "message", "outputs", "retries"}
    assert (tmp_path / ".airflow-argo" / "airflow.db").exists()


def test_run_command_invalid_input_exits_2(tmp_path: Path) -> None:
    manifest = tmp_path / "bad.yaml"
    manifest.write_text(BAD)
    done = _cli("run", str(manifest), cwd=tmp_path)
    assert done.returncode == 2
    assert "AAP011 spec.paralelism" in done.stderr
    assert "Traceback" not in done.stderr
    assert _cli("run", str(tmp_path / "missing.yaml"), cwd=tmp_path).returncode == 2
    assert _cli("run", str(manifest), "-p", "oops", cwd=tmp_path).returncode == 2


def test_run_command_prints_a_node_table(tmp_path: Path) -> None:
    manifest = tmp_path / "good.yaml"
    manifest.write_text(GOOD)
    done = _cli("run", str(manifest), "-p", "size=large", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.strip().splitlines()
    assert lines[0].split() == ["NODE", "PHASE", "MESSAGE"]
    assert lines[1].split()[:3] == ["good", "Succeeded", "result:"]
    assert lines[-1] == "good: Succeeded"
    assert "ok    good" in done.stderr  # progress while running


PARALLEL = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: parallel}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - {name: left, template: nap}
      - {name: right, template: nap}
  - name: nap
    script:
      image: python:3.12
      command: [python]
      source: |
        import json, time
        start = time.time()
        time.sleep(4)
        print(json.dumps([start, time.time()]))
"""


def test_run_command_runs_branches_in_parallel_with_the_executor(tmp_path: Path) -> None:
    manifest = tmp_path / "parallel.yaml"
    manifest.write_text(PARALLEL)
    done = _cli("run", str(manifest), "--parallel", "2", "-o", "json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    nodes = {n["displayName"]: n for n in json.loads(done.stdout)["nodes"]}
    left = json.loads(nodes["left"]["outputs"]["result"])
    right = json.loads(nodes["right"]["outputs"]["result"])
    # The two steps of one step group ran at the same time.
    assert max(left[0], right[0]) < min(left[1], right[1])
