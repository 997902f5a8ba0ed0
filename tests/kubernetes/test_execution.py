"""The Kubernetes backend's execution path in real Airflow runs, with the Kubernetes API faked.

Each test runs a manifest with ``dag.test()`` and the ``kubernetes`` backend; the fake cluster
(tests/kubernetes/fake_cluster.py) stands in for the API server and runs each pod's wrapper on
this machine. What is checked: the pods created, how long they live, what came back through the
outputs document, and the Argo phase of every node, including each failure class and retries.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from airflow_argo_provider.kubernetes.capture import XCOM_SIDECAR
from tests.conftest import nodes_by_name
from tests.kubernetes.fake_cluster import FakeCluster


def _main(pod: dict[str, Any]) -> dict[str, Any]:
    return pod["spec"]["containers"][0]


def test_outputs_come_back_through_the_pods(run_workflow, fake_cluster: FakeCluster, tmp_path) -> None:
    out = tmp_path / f"param-{uuid.uuid4().hex}.txt"
    manifest = f"""
    apiVersion: argoproj.io/v1alpha1
    kind: Workflow
    metadata: {{generateName: outputs-}}
    spec:
      entrypoint: main
      templates:
      - name: main
        steps:
        - - name: gen
            template: gen
        - - name: show
            template: show
            arguments:
              parameters:
              - {{name: number, value: "{{{{steps.gen.outputs.result}}}}"}}
              - {{name: word, value: "{{{{steps.gen.outputs.parameters.word}}}}"}}
      - name: gen
        script:
          image: python:alpine3.23
          command: [sh]
          source: |
            printf 'héllo' > {out}
            echo "to stderr" >&2
            echo 42
        outputs:
          parameters:
          - name: word
            valueFrom: {{path: {out}}}
          - name: missing
            valueFrom: {{path: {out}.nothing, default: fallback}}
      - name: show
        inputs:
          parameters: [{{name: number}}, {{name: word}}]
        container:
          image: alpine:3.23
          command: [sh, -c]
          args: ["echo number $SECRET {{{{inputs.parameters.number}}}} {{{{inputs.parameters.word}}}}; echo"]
          env:
          - name: SECRET
            valueFrom: {{secretKeyRef: {{name: my-secret, key: mypassword}}}}
    """
    result = run_workflow(manifest, backend="kubernetes")
    assert result["phase"] == "Succeeded", result
    nodes = nodes_by_name(result)
    assert nodes["gen"]["outputs"]["result"] == "42"
    assert nodes["gen"]["outputs"]["parameters"] == {"word": "héllo", "missing": "fallback"}
    assert nodes["gen"]["outputs"]["exitCode"] == "0"
    # one trailing newline is trimmed from the result, not more
    assert nodes["show"]["outputs"]["result"] == "number S00perS3cretPa55word 42 héllo\n"

    gen, show = fake_cluster.created
    assert gen["metadata"]["namespace"] == "argo-test"  # from the kubernetes_default connection
    labels = gen["metadata"]["labels"]
    assert labels["workflows.argoproj.io/workflow"] == result["name"]
    assert labels["task_id"] == "gen" and labels["kubernetes_pod_operator"] == "True"
    # the script reaches the pod as the init container's environment, the secret as a reference
    init = gen["spec"]["initContainers"][0]
    assert {e["name"]: e["value"] for e in init["env"]}["ARGO_SCRIPT"].startswith("printf")
    assert {"name": "SECRET", "valueFrom": {"secretKeyRef": {"name": "my-secret", "key": "mypassword"}}} in _main(show)[
        "env"
    ]
    assert "S00perS3cretPa55word" not in str(fake_cluster.created)
    # Argo's default podGC keeps pods; they are marked as handled so a retry never reattaches
    assert fake_cluster.deleted == []
    assert {name for name, body in fake_cluster.patches if body["metadata"]["labels"]["already_checked"] == "True"} == {
        gen["metadata"]["name"],
        show["metadata"]["name"],
    }


FAILURES = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: failures-}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - {name: ok, template: run, arguments: {parameters: [{name: how, value: ok}]}, continueOn: {failed: true, error: true}}
      - {name: exit-3, template: exit3, continueOn: {failed: true, error: true}}
      - {name: pull-error, template: pull-error, continueOn: {failed: true, error: true}}
      - {name: evicted, template: evicted, continueOn: {failed: true, error: true}}
      - {name: deleted, template: deleted, continueOn: {failed: true, error: true}}
      - {name: deadline, template: deadline, continueOn: {failed: true, error: true}}
      - {name: init-failed, template: init-failed, continueOn: {failed: true, error: true}}
      - {name: no-command, template: no-command, continueOn: {failed: true, error: true}}
  - name: run
    inputs: {parameters: [{name: how}]}
    container: {image: busybox, command: [echo, "{{inputs.parameters.how}}"]}
  - name: exit3
    container: {image: busybox, command: [sh, -c, "echo failing; exit 3"]}
  - name: pull-error
    metadata: {labels: {fake-kubelet: pull-error}}
    container: {image: no-such-registry.invalid/nothing:1, command: [echo]}
  - name: evicted
    metadata: {labels: {fake-kubelet: evicted}}
    container: {image: busybox, command: [echo]}
  - name: deleted
    metadata: {labels: {fake-kubelet: deleted}}
    container: {image: busybox, command: [echo]}
  - name: deadline
    activeDeadlineSeconds: 5
    metadata: {labels: {fake-kubelet: deadline}}
    container: {image: busybox, command: [sleep, "60"]}
  - name: init-failed
    metadata: {labels: {fake-kubelet: init-failed}}
    container: {image: busybox, command: [echo]}
  - name: no-command
    container: {image: some/image-with-an-unknown-entrypoint:1}
"""


def test_failure_classes_match_argo(run_workflow, fake_cluster: FakeCluster) -> None:
    result = run_workflow(FAILURES, backend="kubernetes")
    nodes = nodes_by_name(result)
    phases = {name: nodes[name]["phase"] for name in nodes if name != result["name"]}
    assert phases == {
        "ok": "Succeeded",
        "exit-3": "Failed",  # the main container's non-zero exit
        "pull-error": "Error",  # never started
        "evicted": "Failed",  # Argo: a pod failed with its own message is Failed
        "deleted": "Error",  # the pod vanished
        "deadline": "Failed",  # activeDeadlineSeconds: Failed with the deadline's message
        "init-failed": "Error",  # the executor's init container failed
        "no-command": "Error",  # no pod could be built
    }
    assert nodes["exit-3"]["outputs"]["exitCode"] == "3"
    assert nodes["exit-3"]["outputs"]["result"] == "failing"
    assert "ErrImagePull" in nodes["pull-error"]["message"]
    assert nodes["evicted"]["message"].startswith("The node was low on resource: memory")
    assert nodes["deleted"]["message"] == "pod deleted"
    assert nodes["deadline"]["message"] == "Pod was active on the node longer than the specified deadline"
    assert nodes["init-failed"]["message"].startswith("argo-init: Error (exit code 1)")
    assert "command of image 'some/image-with-an-unknown-entrypoint:1' is not known" in nodes["no-command"]["message"]
    created = {p["metadata"]["labels"]["task_id"]: p for p in fake_cluster.created}
    assert "no-command" not in created
    assert created["deadline"]["spec"]["activeDeadlineSeconds"] == 5
    # a pod that never ran its step is deleted (it would start later, unobserved); others are kept
    assert fake_cluster.deleted == [created["pull-error"]["metadata"]["name"]]


RETRIES = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: retries-}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - {name: error-on-error, template: error-on-error, continueOn: {failed: true, error: true}}
      - {name: error-on-failure, template: error-on-failure, continueOn: {failed: true, error: true}}
      - {name: failed-on-error, template: failed-on-error, continueOn: {failed: true, error: true}}
      - {name: failed-on-failure, template: failed-on-failure, continueOn: {failed: true, error: true}}
  - name: error-on-error
    retryStrategy: {limit: 2, retryPolicy: OnError}
    metadata: {labels: {fake-kubelet: deleted-once}}
    container: {image: busybox, command: [echo, "attempt {{retries}}"]}
  - name: error-on-failure
    retryStrategy: {limit: 2, retryPolicy: OnFailure}
    metadata: {labels: {fake-kubelet: deleted-once}}
    container: {image: busybox, command: [echo, "attempt {{retries}}"]}
  - name: failed-on-error
    retryStrategy: {limit: 2, retryPolicy: OnError}
    container: {image: busybox, command: [sh, -c, "exit 1"]}
  - name: failed-on-failure
    retryStrategy: {limit: 2, retryPolicy: OnFailure}
    container: {image: busybox, command: [sh, -c, "exit 1"]}
"""


def test_retry_policies_see_the_failure_class(run_workflow, fake_cluster: FakeCluster) -> None:
    result = run_workflow(RETRIES, backend="kubernetes")
    nodes = nodes_by_name(result)
    assert nodes["error-on-error"]["phase"] == "Succeeded"
    assert nodes["error-on-error"]["retries"] == 1
    assert nodes["error-on-error"]["outputs"]["result"] == "attempt 1"
    assert (nodes["error-on-failure"]["phase"], nodes["error-on-failure"]["retries"]) == ("Error", 0)
    assert (nodes["failed-on-error"]["phase"], nodes["failed-on-error"]["retries"]) == ("Failed", 0)
    assert (nodes["failed-on-failure"]["phase"], nodes["failed-on-failure"]["retries"]) == ("Failed", 2)
    per_task: dict[str, list[str]] = {}
    for pod in fake_cluster.created:
        per_task.setdefault(pod["metadata"]["labels"]["task_id"], []).append(pod["metadata"]["name"])
    assert {task: len(names) for task, names in per_task.items()} == {
        "error-on-error": 2,
        "error-on-failure": 1,
        "failed-on-error": 1,
        "failed-on-failure": 3,
    }
    # every attempt has a pod of its own (Argo names attempts NODE(0), NODE(1), ...)
    assert len(set(per_task["failed-on-failure"])) == 3


FANOUT = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: fanout-}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - name: square
        template: square
        arguments: {parameters: [{name: n, value: "{{item}}"}]}
        withItems: [1, 2, 3]
        continueOn: {failed: true}
    - - name: total
        template: echo
        arguments: {parameters: [{name: text, value: "{{steps.square.outputs.result}}"}]}
  - name: square
    inputs: {parameters: [{name: n}]}
    container:
      image: busybox
      command: [sh, -c, 'if [ {{inputs.parameters.n}} = 3 ]; then exit 7; fi; echo $(({{inputs.parameters.n}} * {{inputs.parameters.n}}))']
  - name: echo
    inputs: {parameters: [{name: text}]}
    container: {image: busybox, command: [echo, "{{inputs.parameters.text}}"]}
"""


def test_fanout_items_wait_in_the_triggerer(run_workflow, fake_cluster: FakeCluster, monkeypatch) -> None:
    from airflow.providers.cncf.kubernetes.triggers.pod import KubernetesPodTrigger

    waited: list[str] = []
    run = KubernetesPodTrigger.run

    def counting(self: Any) -> Any:
        waited.append(self.pod_name)
        return run(self)

    monkeypatch.setattr(KubernetesPodTrigger, "run", counting)
    result = run_workflow(FANOUT, backend="kubernetes")
    nodes = nodes_by_name(result)
    assert nodes["square(0:1)"]["outputs"]["result"] == "1"
    assert nodes["square(1:2)"]["outputs"]["result"] == "4"
    assert (nodes["square(2:3)"]["phase"], nodes["square(2:3)"]["outputs"]["exitCode"]) == ("Failed", "7")
    assert nodes["total"]["outputs"]["result"] == "[1,4]"
    pods = {p["metadata"]["labels"]["task_id"]: p for p in fake_cluster.created}
    by_name = {p["metadata"]["name"]: p["metadata"]["labels"]["task_id"] for p in fake_cluster.created}
    # the three items waited in the triggerer; the single step waited in its worker
    assert sorted(by_name[name] for name in waited) == ["square", "square", "square"]
    assert "total" in pods


def test_deferrable_setting_and_annotation(run_workflow, fake_cluster: FakeCluster, monkeypatch) -> None:
    from airflow.providers.cncf.kubernetes.triggers.pod import KubernetesPodTrigger

    waited: list[str] = []
    run = KubernetesPodTrigger.run

    def counting(self: Any) -> Any:
        waited.append(self.pod_name)
        return run(self)

    monkeypatch.setattr(KubernetesPodTrigger, "run", counting)
    monkeypatch.setenv("AIRFLOW__ARGO__KUBERNETES_DEFERRABLE", "never")
    run_workflow(FANOUT, backend="kubernetes")
    assert waited == []
    annotated = FANOUT.replace(
        "metadata: {generateName: fanout-}",
        "metadata: {generateName: fanout-, annotations: {airflow-argo/deferrable: 'true'}}",
    )
    result = run_workflow(annotated, backend="kubernetes")
    assert result["phase"] == "Succeeded"
    assert len(waited) == 4  # three items and the single step


CLAIMS = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: claims}
spec:
  entrypoint: main
  podGC: {strategy: STRATEGY}
  volumeClaimTemplates:
  - metadata: {name: workdir}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 1Gi}}
  templates:
  - name: main
    steps:
    - - {name: write, template: write}
    - - {name: read, template: read}
  - name: write
    container:
      image: busybox
      command: [echo, EXIT]
      volumeMounts: [{name: workdir, mountPath: /mnt/vol}]
  - name: read
    container:
      image: busybox
      command: [echo, read]
      volumeMounts: [{name: workdir, mountPath: /mnt/vol}]
"""


@pytest.mark.parametrize(
    ("strategy", "fail", "claims_deleted", "pods_deleted"),
    [
        ("OnWorkflowSuccess", False, True, 2),
        ("OnWorkflowSuccess", True, False, 0),  # Argo's volumeClaimGC default keeps claims of a failed run
        ("OnPodCompletion", True, False, 1),  # each pod is deleted by its own step; `read` never ran
    ],
)
def test_volume_claims_and_pod_gc(
    run_workflow, fake_cluster: FakeCluster, strategy: str, fail: bool, claims_deleted: bool, pods_deleted: int
) -> None:
    manifest = CLAIMS.replace("STRATEGY", strategy).replace(
        "command: [echo, EXIT]", "command: [sh, -c, 'exit 1']" if fail else "command: [echo, wrote]"
    )
    result = run_workflow(manifest, backend="kubernetes")
    assert result["phase"] == ("Failed" if fail else "Succeeded")
    created, _ = fake_cluster.claim_log[0]
    claim = fake_cluster.claim_log[0][1]
    assert created == "create" and claim.startswith("claims-") and claim.endswith("-workdir")
    # the claim is bound to the run, and every pod mounts it
    for pod in fake_cluster.created:
        volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
        assert volumes["workdir"]["persistentVolumeClaim"] == {"claimName": claim}
    assert (("delete", claim) in fake_cluster.claim_log) == claims_deleted
    assert len(fake_cluster.deleted) == pods_deleted
    nodes = nodes_by_name(result)
    assert [n for n in nodes if n in ("write", "read")] == (["write"] if fail else ["write", "read"])


def test_sidecars_are_stopped_when_main_ends(run_workflow, fake_cluster: FakeCluster) -> None:
    manifest = """
    apiVersion: argoproj.io/v1alpha1
    kind: Workflow
    metadata: {generateName: sidecar-}
    spec:
      entrypoint: main
      templates:
      - name: main
        container: {image: alpine:3.23, command: [echo, done]}
        sidecars:
        - {name: db, image: influxdb:1.2, command: [influxd]}
    """
    result = run_workflow(manifest, backend="kubernetes")
    assert result["phase"] == "Succeeded"
    (pod,) = fake_cluster.created
    names = [c["name"] for c in pod["spec"]["containers"]]
    assert names == ["main", "db", XCOM_SIDECAR]
    stops = [body for name, body in fake_cluster.patches if "spec" in body]
    assert len(stops) == 1 and stops[0]["spec"]["activeDeadlineSeconds"] >= 1


def test_pod_spec_patch_uses_run_parameters(run_workflow, fake_cluster: FakeCluster, argo_examples) -> None:
    text = (argo_examples / "pod-spec-patch.yaml").read_text()
    result = run_workflow(text, {"cpu-limit": "250m"}, backend="kubernetes")
    assert result["phase"] == "Succeeded"
    (pod,) = fake_cluster.created
    assert _main(pod)["resources"] == {"limits": {"cpu": "250m"}}
    assert nodes_by_name(result)[result["name"]]["outputs"]["result"] == "hello world"


def test_delayed_pod_gc_runs_in_the_teardown(run_workflow, fake_cluster: FakeCluster, monkeypatch) -> None:
    from airflow.providers.standard.triggers.temporal import DateTimeTrigger

    waits: list[Any] = []
    run = DateTimeTrigger.run

    def counting(self: Any) -> Any:
        waits.append(self.moment)
        return run(self)

    monkeypatch.setattr(DateTimeTrigger, "run", counting)
    manifest = """
    apiVersion: argoproj.io/v1alpha1
    kind: Workflow
    metadata: {generateName: delayed-}
    spec:
      entrypoint: main
      podGC: {strategy: OnPodSuccess, deleteDelayDuration: 1s}
      templates:
      - name: main
        steps:
        - - {name: good, template: run, arguments: {parameters: [{name: code, value: "0"}]}}
          - {name: bad, template: run, arguments: {parameters: [{name: code, value: "1"}]}, continueOn: {failed: true}}
      - name: run
        inputs: {parameters: [{name: code}]}
        container: {image: busybox, command: [sh, -c, "exit {{inputs.parameters.code}}"]}
    """
    result = run_workflow(manifest, backend="kubernetes")
    assert result["phase"] == "Succeeded"
    names = {p["metadata"]["labels"]["task_id"]: p["metadata"]["name"] for p in fake_cluster.created}
    assert len(waits) == 1  # the teardown waited for deleteDelayDuration in the triggerer
    assert fake_cluster.deleted == [names["good"]]  # OnPodSuccess: the failed pod stays


def test_manifest_namespace_wins_over_the_connection(run_workflow, fake_cluster: FakeCluster) -> None:
    manifest = """
    apiVersion: argoproj.io/v1alpha1
    kind: Workflow
    metadata: {generateName: ns-, namespace: team-a}
    spec:
      entrypoint: main
      templates:
      - name: main
        container: {image: busybox, command: [echo, "{{workflow.namespace}}"]}
    """
    result = run_workflow(manifest, backend="kubernetes")
    assert nodes_by_name(result)[result["name"]]["outputs"]["result"] == "team-a"
    assert [p["metadata"]["namespace"] for p in fake_cluster.created] == ["team-a"]


def test_a_finished_earlier_attempt_of_the_same_name_is_replaced(fake_cluster: FakeCluster, write_manifest) -> None:
    from airflow_argo_provider.kubernetes.pod import PodBuildError, PodTarget, build_pod, to_v1pod
    from airflow_argo_provider.manifest import load_paths
    from airflow_argo_provider.manifest.loader import runnable_manifest
    from airflow_argo_provider.operators.kubernetes import ArgoKubernetesPodOperator
    from airflow_argo_provider.plan.build import build_plan

    path = write_manifest(
        "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata: {name: again}\n"
        "spec:\n  entrypoint: main\n  templates:\n  - name: main\n    container: {image: busybox, command: [echo]}\n"
    )
    mset = load_paths([path])
    plan = build_plan(runnable_manifest(mset, str(path)), mset)
    operator = ArgoKubernetesPodOperator(task_id="again", plan=plan, argo_node_id="again")
    operator._in_batch = True
    document = build_pod(
        plan.template(plan.root.template), {}, PodTarget("again-x-1", "again", "again.again", "argo-test")
    )
    old = json.loads(json.dumps(document))
    old["metadata"]["labels"]["already_checked"] = "True"
    fake_cluster.pods[("argo-test", "again-x-1")] = old
    operator._start(to_v1pod(document), {})
    assert fake_cluster.deleted == ["again-x-1"]
    assert [p["metadata"]["name"] for p in fake_cluster.created] == ["again-x-1"]
    # a pod of that name that is not a finished attempt of this step is left alone
    with pytest.raises(PodBuildError, match="already exists in namespace argo-test"):
        operator._start(to_v1pod(document), {})
    assert fake_cluster.deleted == ["again-x-1"]


def test_no_step_runs_when_the_claims_cannot_be_created(run_workflow, fake_cluster: FakeCluster) -> None:
    fake_cluster.refuse_claims = True
    result = run_workflow(CLAIMS.replace("STRATEGY", "OnPodCompletion").replace("EXIT", "wrote"), backend="kubernetes")
    assert result["phase"] != "Succeeded"
    assert fake_cluster.created == []
    assert [n["displayName"] for n in result["nodes"] if n["phase"] == "Succeeded"] == []


def test_back_from_the_triggerer(fake_cluster: FakeCluster, write_manifest) -> None:
    """The operator's re-entry: a start timeout, a trigger error on a running pod, a finished pod."""
    from airflow.sdk.exceptions import TaskDeferred

    from airflow_argo_provider.kubernetes.pod import PodTarget, build_pod
    from airflow_argo_provider.manifest import load_paths
    from airflow_argo_provider.manifest.loader import runnable_manifest
    from airflow_argo_provider.operators.kubernetes import ArgoKubernetesPodOperator
    from airflow_argo_provider.plan.build import build_plan
    from airflow_argo_provider.runtime.step import Invocation

    path = write_manifest(
        "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata: {name: back}\n"
        "spec:\n  entrypoint: main\n  templates:\n  - name: main\n    container: {image: busybox, command: [echo, hi]}\n"
    )
    mset = load_paths([path])
    plan = build_plan(runnable_manifest(mset, str(path)), mset)
    operator = ArgoKubernetesPodOperator(task_id="back", plan=plan, argo_node_id="back")
    template = plan.template(plan.root.template)
    invocation = Invocation(plan.root, template, {}, "back", "back.back", "p", 0, {"workflow.name": "back"})

    def pod(name: str, scenario: str) -> dict[str, Any]:
        document = build_pod(template, {}, PodTarget(name, "back", "back.back", "argo-test"))
        if scenario:
            document["metadata"]["labels"]["fake-kubelet"] = scenario
        fake_cluster.create_namespaced_pod("argo-test", document)
        return {"name": name, "namespace": "argo-test"}

    stuck = pod("stuck", "pull-error")
    outcome = operator._resume(invocation, {}, {**stuck, "status": "timeout", "message": "Pod took too long to start"})
    assert (outcome.error, outcome.message) == (True, "Pod took too long to start")
    assert fake_cluster.deleted == ["stuck"]  # it would start later, unobserved

    busy = pod("busy", "running")
    with pytest.raises(TaskDeferred) as deferred:
        operator._resume(invocation, {"ti": None}, {**busy, "status": "error", "message": "watch failed"})
    assert deferred.value.trigger.pod_name == "busy"
    assert deferred.value.trigger.trigger_kwargs["_redefer_count"] == 1
    gave_up = operator._resume(
        invocation, {}, {**busy, "status": "error", "message": "watch failed", "_redefer_count": 3}
    )
    assert gave_up.error and gave_up.message == "watch failed"

    done = pod("done", "")
    outcome = operator._resume(invocation, {}, {**done, "status": "success"})
    assert (outcome.error, outcome.exit_code, outcome.stdout) == (False, 0, "hi\n")
    gone = operator._resume(invocation, {}, {"name": "never-there", "namespace": "argo-test", "status": "success"})
    assert (gone.error, gone.message) == (True, "pod deleted")
