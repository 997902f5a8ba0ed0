"""EventSource and Sensor manifests: strict loading, problem codes, and the dispatcher plans they give."""

from __future__ import annotations

from pathlib import Path

from airflow_argo_provider.events.plan import build_dispatches, queue_url
from airflow_argo_provider.manifest import load_text

EVENT_SOURCE = """
apiVersion: argoproj.io/v1alpha1
kind: EventSource
metadata: {name: uploads}
spec:
  sqs:
    landing:
      queue: landing-queue
      queueAccountId: "123456789012"
      region: eu-west-1
      jsonBody: true
      waitTimeSeconds: 5
      metadata: {team: data}
"""

SENSOR = """
apiVersion: argoproj.io/v1alpha1
kind: Sensor
metadata: {name: process-uploads}
spec:
  dependencies:
  - name: upload
    eventSourceName: uploads
    eventName: landing
    filters:
      dataLogicalOperator: or
      data:
      - {path: body.Records.0.s3.object.size, type: number, comparator: ">", value: [0]}
      - {path: body.Records.0.eventName, type: string, value: ["^ObjectCreated:"]}
  triggers:
  - template:
      name: process
      argoWorkflow:
        operation: submit
        source:
          resource:
            apiVersion: argoproj.io/v1alpha1
            kind: Workflow
            metadata:
              generateName: process-file-
            spec:
              entrypoint: main
              arguments:
                parameters:
                - {name: bucket, value: none}
                - {name: key, value: "incoming/"}
              templates:
              - name: main
                container: {image: busybox, command: [echo, "{{workflow.parameters.key}}"]}
        parameters:
        - src: {dependencyName: upload, dataKey: body.Records.0.s3.bucket.name}
          dest: spec.arguments.parameters.0.value
        - src:
            dependencyName: upload
            dataTemplate: "{{ (index .Input.body.Records 0).s3.object.key }}"
            value: unknown
          dest: spec.arguments.parameters.1.value
          operation: append
"""


def _problems(text: str) -> list[str]:
    return [p.format() for p in load_text(text, "events.yaml").problems]


def test_an_sqs_sensor_becomes_a_dispatch_plan_and_its_workflow_a_manifest() -> None:
    mset = load_text(EVENT_SOURCE + "---" + SENSOR, "events.yaml")
    assert mset.problems == []
    assert [(m.kind, m.name) for m in mset.manifests] == [
        ("EventSource", "uploads"),
        ("Sensor", "process-uploads"),
        ("Workflow", "process-file"),
    ]
    (dispatch,) = build_dispatches(mset)
    assert dispatch.dag_id == "process-uploads"
    source = dispatch.source
    assert source.queue_url == "https://sqs.eu-west-1.amazonaws.com/123456789012/landing-queue"
    assert (source.region, source.json_body, source.wait_time_seconds) == ("eu-west-1", True, 5)
    assert source.metadata == {"team": "data"}
    assert source.asset_name == "argo-events/uploads/landing"
    assert dispatch.filter_operator == "or"
    assert [(f.path, f.type, f.values, f.comparator) for f in dispatch.filters] == [
        ("body.Records.0.s3.object.size", "number", ["0"], ">"),
        ("body.Records.0.eventName", "string", ["^ObjectCreated:"], ""),
    ]
    (target,) = dispatch.targets
    assert (target.name, target.dag_id) == ("process", "process-file")
    bucket, key = target.parameters
    assert (bucket.dest_name, bucket.data_key, bucket.default) == ("bucket", "body.Records.0.s3.bucket.name", None)
    assert (key.dest_name, key.operation, key.current, key.default) == ("key", "append", "incoming/", "unknown")


def test_queue_urls() -> None:
    assert queue_url({"queue": "https://sqs.us-east-1.amazonaws.com/1/q"}) == "https://sqs.us-east-1.amazonaws.com/1/q"
    assert queue_url({"queue": "q", "queueAccountId": "1", "region": "cn-north-1"}) == (
        "https://sqs.cn-north-1.amazonaws.com.cn/1/q"
    )
    assert queue_url({"queue": "q", "queueAccountId": "1", "endpoint": "http://localhost:4566/"}) == (
        "http://localhost:4566/1/q"
    )


def test_event_manifests_are_checked_strictly() -> None:
    text = """
apiVersion: argoproj.io/v1alpha1
kind: EventSource
metadata: {name: uploads}
spec:
  webhook:
    hook: {port: "12000", endpoint: /x, method: POST}
  sqs:
    landing:
      queue: landing-queue
      region: us-east-1
      jsonBody: true
      waitTimeSecond: 5
      accessKey: {name: aws, key: id}
---
apiVersion: argoproj.io/v1alpha1
kind: Sensor
metadata: {name: bad}
spec:
  dependencies:
  - name: upload
    eventSourceName: uploads
    eventName: landng
    filters:
      data:
      - {path: "body.Records.#(size>0)", type: text, value: ["x"]}
      exprs:
      - {expr: "a > 1", fields: [{name: a, path: b}]}
  triggers:
  - template:
      name: run
      http: {url: "http://example.com"}
  - template:
      name: process
      argoWorkflow:
        source:
          resource:
            apiVersion: argoproj.io/v1alpha1
            kind: Workflow
            metadata: {generateName: process-}
            spec:
              entrypoint: main
              arguments: {parameters: [{name: key}]}
              templates:
              - name: main
                container: {image: busybox, comand: [echo]}
        parameters:
        - src: {dependencyName: uplod, dataTemplate: "{{ if .Input }}x{{ end }}"}
          dest: spec.arguments.parameters.1.value
        - src: {dependencyName: upload, dataKey: body.key}
          dest: metadata.name
"""
    assert _problems(text) == [
        "events.yaml:6: AAP120 spec.webhook: webhook event sources are not run (only sqs event sources start workflows)",
        "events.yaml:10: AAP043 spec.sqs.landing.queue: queue 'landing-queue' is a name: set queueAccountId (the AWS "
        "account that owns it) so that the queue URL can be built, or give the queue URL itself "
        "(https://sqs.REGION.amazonaws.com/ACCOUNT/NAME)",
        "events.yaml:13: AAP011 spec.sqs.landing.waitTimeSecond: unknown field; did you mean waitTimeSeconds?",
        "events.yaml:14: AAP201 spec.sqs.landing.accessKey: accessKey has no effect: the credentials of the Airflow "
        "AWS connection 'aws_default' are used (annotation airflow-argo-provider/aws-conn-id)",
        "events.yaml:23: AAP041 spec.dependencies[0].eventName: EventSource 'uploads' has no sqs event 'landng' "
        "(it has landing)",
        "events.yaml:26: AAP042 spec.dependencies[0].filters.data[0].path: invalid path: '(' (gjson queries, "
        "multipaths and pipes) is not supported (in 'body.Records.#(size>0)' at position 14)",
        "events.yaml:26: AAP042 spec.dependencies[0].filters.data[0].type: type must be one of string, number, "
        "bool (got 'text')",
        "events.yaml:27: AAP121 spec.dependencies[0].filters.exprs: exprs filters are not run (only filters.data is)",
        "events.yaml:32: AAP121 spec.triggers[0].template.http: http triggers are not run (only argoWorkflow)",
        "events.yaml:46: AAP011 spec.triggers[1].template.argoWorkflow.source.resource.spec.templates[0].container"
        ".comand: unknown field; did you mean command?",
        "events.yaml:48: AAP042 spec.triggers[1].template.argoWorkflow.parameters[0].src.dependencyName: "
        "dependencyName 'uplod' is not a dependency of this Sensor (it has 'upload')",
        "events.yaml:48: AAP042 spec.triggers[1].template.argoWorkflow.parameters[0].src.dataTemplate: invalid "
        "dataTemplate: 'if' actions are not supported (only expressions and pipes) (in '{{ if .Input }}x{{ end }}' "
        "at position 3)",
        "events.yaml:49: AAP042 spec.triggers[1].template.argoWorkflow.parameters[0].dest: dest "
        "'spec.arguments.parameters.1.value': the workflow has 1 argument parameter (spec.arguments.parameters), "
        "so N must be below 1",
        "events.yaml:51: AAP042 spec.triggers[1].template.argoWorkflow.parameters[1].dest: dest 'metadata.name' is "
        "not run: a parameter sets a workflow argument, dest: spec.arguments.parameters.N.value",
    ]


def test_unsupported_sensor_shapes_and_inline_workflows() -> None:
    text = (
        EVENT_SOURCE
        + """---
apiVersion: argoproj.io/v1alpha1
kind: Sensor
metadata: {name: two-deps}
spec:
  dependencies:
  - {name: a, eventSourceName: uploads, eventName: landing}
  - {name: b, eventSourceName: elsewhere, eventName: x}
  triggers:
  - template:
      name: k8s-pod
      k8s:
        operation: create
        source:
          resource: {apiVersion: v1, kind: Pod, metadata: {name: p}}
  - template:
      name: inline
      argoWorkflow:
        operation: resubmit
        source:
          inline: |
            apiVersion: argoproj.io/v1alpha1
            kind: Workflow
            metadata: {generateName: inline-}
            spec:
              entrypoint: main
              templates:
              - name: main
                container: {image: busybox, args: ["{{workflow.name"]}
"""
    )
    assert _problems(text) == [
        "events.yaml:19: AAP121 spec.dependencies: 2 dependencies: event correlation (a trigger waiting for several "
        "events) is not run; write one Sensor per event source",
        "events.yaml:28: AAP121 spec.triggers[0].template.k8s.source.resource.kind: the trigger submits a 'Pod'; "
        "only Workflows are run",
        "events.yaml:32: AAP121 spec.triggers[1].template.argoWorkflow.operation: operation 'resubmit' is not run "
        "(only submit: each event starts a workflow run)",
        "events.yaml:42: AAP028 spec.triggers[1].template.argoWorkflow.source.inline.spec.templates[0].container"
        ".args[0]: cannot find end tag '}}' for the tag starting at 0 (in '{{workflow.name' at position 0)",
    ]


def test_sensor_and_workflow_dag_ids_must_be_unique(tmp_path: Path) -> None:
    from airflow_argo_provider.manifest import load_paths

    (tmp_path / "events.yaml").write_text(EVENT_SOURCE + "---" + SENSOR)
    (tmp_path / "wf.yaml").write_text(
        "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata: {name: process-uploads}\nspec:\n"
        "  entrypoint: main\n  templates:\n  - {name: main, container: {image: busybox}}\n"
    )
    problems = [p.format().replace(str(tmp_path) + "/", "") for p in load_paths([tmp_path]).errors]
    assert problems == [
        "wf.yaml:3: AAP013 metadata: DAG id 'process-uploads' is also used by Sensor at events.yaml:15; set a "
        "different metadata.name, or the annotation airflow-argo-provider/dag-id"
    ]


def test_load_workflows_adds_dispatcher_dags_and_reports_bad_sensors(tmp_path: Path, airflow_db: Path) -> None:
    from airflow.dag_processing.dagbag import DagBag

    from airflow_argo_provider.events.render import DISPATCH_TASK_ID

    argo = tmp_path / "argo"
    argo.mkdir()
    (argo / "events.yaml").write_text(EVENT_SOURCE + "---" + SENSOR)
    broken = SENSOR.replace("name: process-uploads", "name: broken-sensor").replace(
        "eventName: landing", "eventName: lnding"
    )
    broken = broken.replace("generateName: process-file-", "generateName: broken-file-")
    (argo / "broken.yaml").write_text(broken)
    (tmp_path / "argo_dags.py").write_text(
        '"""Argo manifests as Airflow DAGs."""\nfrom airflow_argo_provider import load_workflows\n\n'
        'globals().update(load_workflows("argo"))\n'
    )
    bag = DagBag(str(tmp_path))
    # The broken Sensor's workflow compiles, the Sensor itself does not become a dispatcher.
    assert set(bag.dag_ids) == {"process-uploads", "process-file", "broken-file"}
    (message,) = bag.import_errors.values()
    assert (
        "broken.yaml:9: AAP041 spec.dependencies[0].eventName: EventSource 'uploads' has no sqs event 'lnding'"
        in message
    )
    dispatcher = bag.dags["process-uploads"]
    assert [t.task_id for t in dispatcher.tasks] == [DISPATCH_TASK_ID]
    assert dispatcher.max_active_runs == 1
    (asset,) = dispatcher.timetable.asset_condition.objects
    assert asset.name == "argo-events/uploads/landing"
    (watcher,) = asset.watchers
    classpath, kwargs = watcher.trigger.serialize()
    assert classpath == "airflow.providers.amazon.aws.triggers.sqs.SqsSensorTrigger"
    assert kwargs["sqs_queue"] == "https://sqs.eu-west-1.amazonaws.com/123456789012/landing-queue"
    assert kwargs["delete_message_on_reception"] is False
    assert (kwargs["visibility_timeout"], kwargs["wait_time_seconds"], kwargs["max_messages"]) == (300, 5, 10)
