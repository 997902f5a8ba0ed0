"""Steps semantics, retries with Argo's backoff, exit handlers, global outputs, deadlines and isolation."""

from __future__ import annotations

import json
from datetime import datetime

from tests.conftest import nodes_by_name

STEPS_FAILURE = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: steps-failure}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - {name: ok, template: ok}
      - {name: tolerated, template: boom, continueOn: {failed: true}}
    - - {name: breaks, template: boom}
      - {name: parallel, template: ok}
    - - {name: never, template: ok}
  - name: ok
    container: {image: busybox, command: [echo, ok]}
  - name: boom
    container: {image: busybox, command: [sh, -c, "exit 1"]}
"""


def test_failed_step_stops_later_groups(run_workflow) -> None:
    result = run_workflow(STEPS_FAILURE)
    nodes = nodes_by_name(result)
    assert nodes["tolerated"]["phase"] == "Failed"  # continueOn let the next group start
    assert nodes["breaks"]["phase"] == "Failed"
    assert nodes["parallel"]["phase"] == "Succeeded"  # same group: it still ran
    assert "never" not in nodes  # Argo never creates it
    assert nodes["steps-failure"]["phase"] == "Failed"
    assert nodes["steps-failure"]["message"] == "child 'breaks' failed"
    assert result["phase"] == "Failed"


RETRIES = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: retries}
spec:
  entrypoint: main
  volumeClaimTemplates:
  - metadata: {name: state}
    spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Mi}}}
  templates:
  - name: main
    steps:
    - - {name: flaky, template: flaky}
      - {name: not-retried, template: not-retried}
  - name: flaky
    retryStrategy:
      limit: "4"
      retryPolicy: OnFailure
      backoff: {duration: "1s", factor: "2"}
    script:
      image: python:alpine3.23
      command: [python]
      volumeMounts: [{name: state, mountPath: /state}]
      source: |
        import datetime, os, sys
        with open("/state/attempts", "a") as f:
            f.write(datetime.datetime.now(datetime.timezone.utc).isoformat() + "\\n")
        attempts = open("/state/attempts").read().split()
        print(f"attempt {len(attempts)}")
        sys.exit(0 if len(attempts) == 3 else 1)
  - name: not-retried
    retryStrategy: {limit: 3, retryPolicy: OnError}
    container: {image: busybox, command: [sh, -c, "exit 5"]}
"""


def test_retries_follow_policy_and_backoff(run_workflow) -> None:
    result = run_workflow(RETRIES)
    nodes = nodes_by_name(result)
    flaky = nodes["flaky"]
    assert flaky["phase"] == "Succeeded"
    assert flaky["retries"] == 2
    assert flaky["outputs"]["result"] == "attempt 3"
    assert nodes["not-retried"]["phase"] == "Failed"  # OnError does not retry a failed exit
    assert nodes["not-retried"]["retries"] == 0
    assert result["phase"] == "Failed"


def test_backoff_delays_are_argo_delays(run_workflow, airflow_db) -> None:
    """The gaps between attempts are at least duration * factor**(n-1): 1 s, then 2 s."""
    from airflow.models.taskinstancehistory import TaskInstanceHistory
    from airflow.utils.session import create_session
    from sqlalchemy import select

    run_workflow(RETRIES)
    with create_session() as session:
        rows = session.execute(
            select(TaskInstanceHistory.try_number, TaskInstanceHistory.start_date, TaskInstanceHistory.end_date)
            .where(TaskInstanceHistory.dag_id == "retries", TaskInstanceHistory.task_id == "flaky")
            .order_by(TaskInstanceHistory.start_date.desc())
            .limit(2)
        ).all()
    rows = sorted(rows)
    assert [r.try_number for r in rows] == [1, 2]
    from airflow.models.taskinstance import TaskInstance

    with create_session() as session:
        last = session.execute(
            select(TaskInstance.start_date)
            .where(TaskInstance.dag_id == "retries", TaskInstance.task_id == "flaky")
            .order_by(TaskInstance.start_date.desc())
        ).first()
    gaps = [(rows[1].start_date - rows[0].end_date).total_seconds(), (last[0] - rows[1].end_date).total_seconds()]
    assert gaps[0] >= 1.0
    assert gaps[1] >= 2.0


EXIT = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: exit-handlers}
spec:
  entrypoint: main
  onExit: report
  arguments: {parameters: [{name: fail, value: "no"}]}
  templates:
  - name: main
    steps:
    - - name: work
        template: work
        hooks:
          exit: {template: cleanup}
  - name: work
    container: {image: busybox, command: [sh, -c, "echo working; [ {{workflow.parameters.fail}} = no ]"]}
  - name: cleanup
    container: {image: busybox, command: [echo, cleanup]}
  - name: report
    steps:
    - - name: celebrate
        template: say
        when: "{{workflow.status}} == Succeeded"
        arguments: {parameters: [{name: text, value: "{{workflow.status}}"}]}
      - name: mourn
        template: say
        when: "{{workflow.status}} != Succeeded"
        arguments: {parameters: [{name: text, value: "{{workflow.status}} {{workflow.failures}}"}]}
  - name: say
    inputs: {parameters: [{name: text}]}
    container: {image: busybox, command: [echo, "{{inputs.parameters.text}}"]}
"""


def test_exit_handler_runs_after_success_and_failure(run_workflow) -> None:
    ok = nodes_by_name(run_workflow(EXIT))
    assert ok["work.onExit"]["phase"] == "Succeeded"
    assert ok["celebrate"]["outputs"]["result"] == "Succeeded"
    assert ok["mourn"]["phase"] == "Skipped"
    assert ok["onExit"]["phase"] == "Succeeded"

    failed = run_workflow(EXIT, {"fail": "yes"})
    nodes = nodes_by_name(failed)
    assert failed["phase"] == "Failed"
    assert nodes["work.onExit"]["phase"] == "Succeeded"  # hooks run whatever the outcome
    assert nodes["celebrate"]["phase"] == "Skipped"
    status, failures = nodes["mourn"]["outputs"]["result"].split(" ", 1)
    assert status == "Failed"
    # Argo quotes the JSON list of failures (strconv.Quote).
    decoded = json.loads(json.loads(failures))
    assert [(f["displayName"], f["phase"], f["templateName"]) for f in decoded] == [("work", "Failed", "work")]


def test_failed_exit_handler_fails_the_workflow(run_workflow) -> None:
    manifest = (
        EXIT.replace(
            "container: {image: busybox, command: [echo, cleanup]}",
            "container: {image: busybox, command: [echo, cleanup]}",
        )
        .replace("  onExit: report", "  onExit: broken")
        .replace(
            "  - name: cleanup",
            "  - name: broken\n    container: {image: busybox, command: [sh, -c, 'exit 2']}\n  - name: cleanup",
        )
    )
    result = run_workflow(manifest)
    assert nodes_by_name(result)["work"]["phase"] == "Succeeded"
    assert nodes_by_name(result)["onExit"]["phase"] == "Failed"
    assert result["phase"] == "Failed"


GLOBAL = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: global-outputs}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - {name: produce, template: produce}
    - - name: consume
        template: say
        arguments: {parameters: [{name: text, value: "{{workflow.outputs.parameters.answer}}"}]}
  - name: produce
    outputs:
      parameters:
      - name: value
        globalName: answer
        valueFrom: {path: /tmp/answer}
    container: {image: busybox, command: [sh, -c, "echo 42 > /tmp/answer"]}
  - name: say
    inputs: {parameters: [{name: text}]}
    container: {image: busybox, command: [echo, "{{inputs.parameters.text}}"]}
"""


def test_global_outputs(run_workflow) -> None:
    result = run_workflow(GLOBAL)
    assert nodes_by_name(result)["consume"]["outputs"]["result"] == "42"
    assert result["outputs"]["parameters"] == {"answer": "42"}


ISOLATION = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: isolation}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - name: write
        template: write
        withItems: [a, b, c]
        arguments: {parameters: [{name: v, value: "{{item}}"}]}
  - name: write
    inputs: {parameters: [{name: v}]}
    outputs:
      parameters:
      - name: seen
        valueFrom: {path: /tmp/hello_world.txt}
    container:
      image: busybox
      command: [sh, -c, "[ ! -e /tmp/hello_world.txt ] && echo {{inputs.parameters.v}} > /tmp/hello_world.txt"]
"""


def test_parallel_steps_do_not_see_each_others_tmp(run_workflow) -> None:
    result = run_workflow(ISOLATION)
    nodes = nodes_by_name(result)
    assert result["phase"] == "Succeeded"
    assert [nodes[f"write({i}:{v})"]["outputs"]["parameters"]["seen"] for i, v in enumerate("abc")] == ["a", "b", "c"]


DEADLINES = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: deadlines}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - {name: slow, template: slow, continueOn: {failed: true}}
    - - {name: missing, template: missing}
  - name: slow
    activeDeadlineSeconds: 1
    container: {image: busybox, command: [sleep, "30"]}
  - name: missing
    container: {image: example/not-here:1.0, command: [definitely-not-a-command-xyz]}
"""


def test_deadline_and_missing_command(run_workflow) -> None:
    started = datetime.now()
    result = run_workflow(DEADLINES)
    assert (datetime.now() - started).total_seconds() < 25
    nodes = nodes_by_name(result)
    assert nodes["slow"]["phase"] == "Failed"
    assert nodes["slow"]["message"] == "Pod was active on the node longer than the specified deadline"
    assert nodes["missing"]["phase"] == "Failed"
    assert "definitely-not-a-command-xyz" in nodes["missing"]["message"]
    assert "example/not-here:1.0" in nodes["missing"]["message"]


LOCAL_ARTIFACTS = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: local-artifacts-}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - {name: make, template: make}
    - - name: use
        template: use
        arguments:
          artifacts:
          - {name: data, from: "{{steps.make.outputs.artifacts.data}}"}
          - {name: keyed, s3: {key: "{{workflow.name}}/keyed.txt"}}
  - name: make
    outputs:
      artifacts:
      - {name: data, path: /tmp/out}
      - {name: keyed, path: /tmp/keyed.txt, s3: {key: "{{workflow.name}}/keyed.txt"}, archive: {none: {}}}
    container: {image: busybox, command: [sh, -c, "mkdir -p /tmp/out && echo one > /tmp/out/a && echo two > /tmp/out/b && echo three > /tmp/keyed.txt"]}
  - name: use
    inputs:
      artifacts:
      - {name: data, path: /in/data}
      - {name: keyed, path: /in/keyed.txt}
    container: {image: busybox, command: [sh, -c, "cat /in/data/a /in/data/b /in/keyed.txt"]}
"""


def test_artifacts_without_a_repository_stay_on_this_machine(run_workflow) -> None:
    result = run_workflow(LOCAL_ARTIFACTS)
    assert result["phase"] == "Succeeded", result
    nodes = nodes_by_name(result)
    assert nodes["use"]["outputs"]["result"] == "one\ntwo\nthree"
    assert "local" in nodes["make"]["outputs"]["artifacts"]["data"]
