"""S3 uploads -> SQS -> asset events -> dispatcher -> one workflow run per message, against moto.

The trigger, the asset events, the asset-triggered dispatcher runs and the run creation all go
through Airflow's own code (see ``events_harness``); only the scheduler and triggerer loops are
replaced by explicit calls, so that the test decides when each poll and each run happens.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.aws.conftest import moto_auth, queue_arn, unique
from tests.aws.events_harness import Harness, harness

SENSOR = """
apiVersion: argoproj.io/v1alpha1
kind: EventSource
metadata:
  name: {source}
  annotations: {annotations}
spec:
  sqs:
    landing:
      queue: {queue}
      region: us-east-1
      jsonBody: true
      waitTimeSeconds: 1
---
apiVersion: argoproj.io/v1alpha1
kind: Sensor
metadata:
  name: {sensor}
spec:
  dependencies:
  - name: upload
    eventSourceName: {source}
    eventName: landing
    filters:
      data:
      - path: body.Records.0.eventName
        type: string
        value: ["^ObjectCreated:"]
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
              generateName: {workflow}-
            spec:
              entrypoint: main
              arguments:
                parameters:
                - name: bucket
                  value: none
                - name: key
                  value: none
                - name: url
                  value: none
              templates:
              - name: main
                script:
                  image: python:3.12
                  command: [python]
                  source: |
                    print("{{{{workflow.parameters.url}}}} from {{{{workflow.parameters.bucket}}}}")
        parameters:
        - src:
            dependencyName: upload
            dataKey: body.Records.0.s3.bucket.name
          dest: spec.arguments.parameters.0.value
        - src:
            dependencyName: upload
            dataTemplate: "{{{{ (index .Input.body.Records 0).s3.object.key }}}}"
          dest: spec.arguments.parameters.1.value
        - src:
            dependencyName: upload
            dataTemplate: "s3://{{{{ (index .Input.body.Records 0).s3.bucket.name }}}}/{{{{ (index .Input.body.Records 0).s3.object.key }}}}"
          dest: spec.arguments.parameters.2.value
"""


class Setup:
    def __init__(self, aws: Any, h: Harness, tmp_path: Path, annotations: str = "{}", dlq: bool = False) -> None:
        self.aws = aws
        self.h = h
        self.bucket = unique("uploads")
        self.queue = aws.sqs.create_queue(QueueName=unique("landing"))["QueueUrl"]
        self.dlq = None
        if dlq:
            self.dlq = aws.sqs.create_queue(QueueName=unique("landing-dlq"))["QueueUrl"]
            policy = {"deadLetterTargetArn": queue_arn(aws, self.dlq), "maxReceiveCount": 2}
            aws.sqs.set_queue_attributes(QueueUrl=self.queue, Attributes={"RedrivePolicy": json.dumps(policy)})
        aws.s3.create_bucket(Bucket=self.bucket)
        aws.s3.put_bucket_notification_configuration(
            Bucket=self.bucket,
            NotificationConfiguration={
                "QueueConfigurations": [{"QueueArn": queue_arn(aws, self.queue), "Events": ["s3:ObjectCreated:*"]}]
            },
        )
        self.source = unique("uploads-src")
        self.sensor = unique("process-uploads")
        self.workflow = unique("process-file")
        folder = tmp_path / "argo"
        folder.mkdir()
        (folder / "events.yaml").write_text(
            SENSOR.format(
                source=self.source,
                sensor=self.sensor,
                workflow=self.workflow,
                queue=self.queue,
                annotations=annotations,
            )
        )
        h.write_dag_file(
            f"from airflow_argo_provider import load_workflows\nglobals().update(load_workflows({str(folder)!r}))\n"
        )
        h.sync()
        self.asset = f"argo-events/{self.source}/landing"

    def queued(self) -> tuple[int, int]:
        attributes = self.aws.sqs.get_queue_attributes(QueueUrl=self.queue, AttributeNames=["All"])["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]), int(attributes["ApproximateNumberOfMessagesNotVisible"])

    def poll(self) -> list[dict[str, Any]]:
        event = self.h.poll(self.asset)
        assert event is not None
        return list(event.payload["message_batch"]), event

    def dispatch(self) -> tuple[str, dict[str, Any], str]:
        """One asset-triggered dispatcher run: its state, summary and error (if it failed)."""
        return dispatch(self.h, self.sensor)

    def show_again(self, messages: list[dict[str, Any]]) -> None:
        """As if the visibility timeout of these received messages ran out."""
        for message in messages:
            self.aws.sqs.change_message_visibility(
                QueueUrl=self.queue, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
            )


def dispatch(h: Harness, dag_id: str) -> tuple[str, dict[str, Any], str]:
    run_id = h.create_asset_triggered_run(dag_id)
    assert run_id is not None
    result = h.run(dag_id, run_id)
    return result.state, result.xcoms.get(("dispatch", "summary")) or {}, result.errors.get("dispatch", "")


@pytest.fixture
def events(airflow_db: Path, moto_server: str):
    with harness(airflow_db) as h:
        yield h


def test_twenty_uploads_start_twenty_runs_in_batches_and_a_redelivery_starts_none(
    aws: Any, events: Harness, tmp_path: Path
) -> None:
    setup = Setup(aws, events, tmp_path)
    keys = [f"incoming-{i:02d}.csv" for i in range(20)]
    for key in keys:
        aws.s3.put_object(Bucket=setup.bucket, Key=key, Body=key.encode())
    assert setup.queued() == (21, 0)  # 20 uploads and S3's test event

    # Poll A: the trigger receives a batch (it does not delete what it receives).
    batch_a, event_a = setup.poll()
    assert 1 <= len(batch_a) <= 10
    redelivered = batch_a[-1]
    # The visibility timeout of one message runs out before the dispatcher deleted it: poll B
    # receives it again (same MessageId, a new receipt handle).
    setup.show_again([redelivered])
    batch_b, event_b = setup.poll()
    assert redelivered["MessageId"] in [m["MessageId"] for m in batch_b]

    # Dispatcher run 1 consumes event A only.
    events.submit(setup.asset, event_a)
    state, first, _ = setup.dispatch()
    assert state == "success"
    assert len(first["created"]) + len(first["filtered"]) == len(batch_a)
    assert first["failed"] == [] and first["duplicates"] == []
    # The redelivered message was deleted with its first, stale receipt handle (SQS may keep it then;
    # moto deletes it): either way event B still carries it.
    assert first["not_deleted"] in ([], [redelivered["MessageId"]])

    # Dispatcher run 2 consumes event B: the redelivered message's run exists already.
    events.submit(setup.asset, event_b)
    state, second, _ = setup.dispatch()
    assert state == "success"
    assert len(second["duplicates"]) == 1
    assert second["duplicates"][0].endswith(redelivered["MessageId"])
    assert second["not_deleted"] == []

    # The rest, in as many batches as it takes; two polls can land in one dispatcher run.
    runs_total = [*first["created"], *second["created"]]
    filtered = [*first["filtered"], *second["filtered"]]
    while setup.queued()[0]:
        _, event = setup.poll()
        events.submit(setup.asset, event)
        if setup.queued()[0]:
            _, event = setup.poll()
            events.submit(setup.asset, event)
        state, more, _ = setup.dispatch()
        assert state == "success" and more["failed"] == []
        runs_total += more["created"]
        filtered += more["filtered"]
    assert setup.queued() == (0, 0)  # every message handled and deleted
    assert len(filtered) == 1  # S3's s3:TestEvent, rejected by the filter

    runs = events.runs_of(setup.workflow)
    assert len(runs) == 20 == len(runs_total)
    assert sorted(runs) == sorted(runs_total)
    assert sorted(conf["key"] for conf in runs.values()) == keys
    assert {conf["bucket"] for conf in runs.values()} == {setup.bucket}
    assert all(conf["url"] == f"s3://{setup.bucket}/{conf['key']}" for conf in runs.values())

    # One of the created runs runs: its workflow sees the parameters.
    from airflow_argo_provider.cli.run import report

    run_id, conf = sorted(runs.items())[0]
    assert events.run(setup.workflow, run_id).state == "success"
    plan = next(t.plan for t in events.bag.dags[setup.workflow].tasks if hasattr(t, "plan"))
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        dag_run = session.scalars(select(DagRun).where(DagRun.run_id == run_id)).one()
        result = report(plan, setup.workflow, dag_run, 0.0)
    assert result["parameters"]["key"] == conf["key"]
    (node,) = result["nodes"]
    assert node["outputs"]["result"] == f"s3://{setup.bucket}/{conf['key']} from {setup.bucket}"


def test_bad_messages_are_reported_left_in_the_queue_and_end_in_the_dead_letter_queue(
    aws: Any, events: Harness, tmp_path: Path
) -> None:
    setup = Setup(aws, events, tmp_path, dlq=True)
    for key in ("good-1.csv", "good-2.csv"):
        aws.s3.put_object(Bucket=setup.bucket, Key=key, Body=b"x")
    malformed = aws.sqs.send_message(QueueUrl=setup.queue, MessageBody="{not json")["MessageId"]
    no_bucket = aws.sqs.send_message(
        QueueUrl=setup.queue,
        MessageBody=json.dumps({"Records": [{"eventName": "ObjectCreated:Put", "s3": {"object": {"key": "orphan"}}}]}),
    )["MessageId"]
    assert setup.queued() == (5, 0)

    batch, event = setup.poll()
    assert len(batch) == 5
    events.submit(setup.asset, event)
    state, summary, error = setup.dispatch()
    assert state == "failed"
    # The good messages were dispatched all the same, and the bad ones are named with the reason.
    assert len(summary["created"]) == 2 and len(summary["filtered"]) == 1
    reasons = {f["message_id"]: f["reason"] for f in summary["failed"]}
    assert set(reasons) == {malformed, no_bucket}
    assert reasons[malformed].startswith("the body is not valid JSON (jsonBody is set): Expecting property name")
    assert reasons[malformed].endswith('body: "{not json"')
    assert reasons[no_bucket] == (
        "trigger 'process': parameter 'bucket': key 'body.Records.0.s3.bucket.name' does not exist in the event payload"
    )
    assert error.startswith("2 of 5 messages could not be dispatched (they stay in the queue): ")
    assert malformed in error and no_bucket in error
    assert setup.queued() == (0, 2)  # in flight, not deleted
    assert sorted(events.runs_of(setup.workflow)) == sorted(summary["created"])

    # Their visibility timeout runs out: they come back, fail again, and after maxReceiveCount (2)
    # receptions SQS moves them to the dead-letter queue. Nothing is lost.
    setup.show_again([m for m in batch if m["MessageId"] in reasons])
    batch, event = setup.poll()
    assert {m["MessageId"] for m in batch} == {malformed, no_bucket}
    events.submit(setup.asset, event)
    state, summary, _ = setup.dispatch()
    assert state == "failed" and len(summary["failed"]) == 2 and summary["created"] == []
    setup.show_again(batch)
    assert aws.sqs.receive_message(QueueUrl=setup.queue, WaitTimeSeconds=0).get("Messages", []) == []
    dead = aws.sqs.receive_message(QueueUrl=setup.dlq, MaxNumberOfMessages=10)["Messages"]
    assert {m["MessageId"]: m["Body"] for m in dead} == {
        malformed: "{not json",
        no_bucket: json.dumps({"Records": [{"eventName": "ObjectCreated:Put", "s3": {"object": {"key": "orphan"}}}]}),
    }
    assert len(events.runs_of(setup.workflow)) == 2


def test_wrong_credentials_and_a_missing_queue_are_clear_errors_and_lose_nothing(
    aws: Any, events: Harness, tmp_path: Path, moto_server: str, monkeypatch: Any
) -> None:
    bad = {
        "conn_type": "aws",
        "login": "AKIAWRONGWRONGWRONG0",
        "password": "wrong-secret",
        "extra": {"endpoint_url": moto_server, "region_name": "us-east-1"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_AWS_WRONG", json.dumps(bad))
    setup = Setup(aws, events, tmp_path, annotations="{airflow-argo-provider/aws-conn-id: aws_wrong}")
    aws.s3.put_object(Bucket=setup.bucket, Key="a.csv", Body=b"x")
    with moto_auth(moto_server), pytest.raises(Exception) as refused:
        setup.poll()
    assert "InvalidClientTokenId" in str(refused.value)
    assert "The security token included in the request is invalid" in str(refused.value)
    assert setup.queued() == (2, 0)  # the upload and the test event are still there

    missing = setup.queue.rsplit("/", 1)[0] + "/no-such-queue"
    events.write_dag_file(
        f"""
        from airflow_argo_provider.events import sqs_trigger

        dispatcher = sqs_trigger(dag_id="to-nowhere", queue_url={missing!r}, target_dag_id="nothing")
        """
    )
    events.sync()
    with pytest.raises(Exception) as gone:
        events.poll("argo-events/no-such-queue/sqs")
    assert "NonExistentQueue" in str(gone.value) or "QueueDoesNotExist" in str(gone.value)
    assert "does not exist" in str(gone.value)


COPY_FILE = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: WORKFLOW}
spec:
  entrypoint: main
  arguments:
    parameters: [{name: bucket}, {name: key}, {name: size, value: "0"}]
  templates:
  - name: main
    container: {image: busybox, command: [echo, "{{workflow.parameters.bucket}}/{{workflow.parameters.key}}"]}
"""


def test_python_api_dispatches_to_a_workflow_dag_and_reports_a_missing_target(
    aws: Any, events: Harness, tmp_path: Path
) -> None:
    workflow = unique("copy-file")
    folder = tmp_path / "argo"
    folder.mkdir()
    (folder / "copy.yaml").write_text(COPY_FILE.replace("WORKFLOW", workflow))
    bucket = unique("landing")
    queue = aws.sqs.create_queue(QueueName=unique("copy-queue"))["QueueUrl"]
    orphan_queue = aws.sqs.create_queue(QueueName=unique("orphan-queue"))["QueueUrl"]
    aws.s3.create_bucket(Bucket=bucket)
    aws.s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "QueueConfigurations": [{"QueueArn": queue_arn(aws, queue), "Events": ["s3:ObjectCreated:*"]}]
        },
    )
    dispatcher, orphan = unique("copy-dispatcher"), unique("orphan-dispatcher")
    events.write_dag_file(
        f"""
        from airflow_argo_provider import load_workflows
        from airflow_argo_provider.events import S3_BUCKET, S3_EVENT_NAME, S3_KEY, sqs_trigger

        globals().update(load_workflows({str(folder)!r}))
        copy = sqs_trigger(
            dag_id={dispatcher!r},
            queue_url={queue!r},
            target_dag_id={workflow!r},
            parameters={{
                "bucket": S3_BUCKET,
                "key": S3_KEY,
                "size": {{"dataKey": "body.Records.0.s3.object.size", "value": "unknown"}},
            }},
            filters=[{{"path": S3_EVENT_NAME, "type": "string", "value": ["^ObjectCreated:"]}}],
        )
        orphan = sqs_trigger(dag_id={orphan!r}, queue_url={orphan_queue!r}, target_dag_id="no-such-dag")
        """
    )
    events.sync()
    for key, body in (("a.csv", b"1"), ("b.csv", b"22")):
        aws.s3.put_object(Bucket=bucket, Key=key, Body=body)
    asset = f"argo-events/{queue.rsplit('/', 1)[1]}/sqs"
    received = 0
    while received < 3:  # two uploads and the test event
        event = events.poll(asset)
        received += len(event.payload["message_batch"])
        events.submit(asset, event)
    state, summary, _ = dispatch(events, dispatcher)
    assert state == "success"
    assert len(summary["created"]) == 2 and len(summary["filtered"]) == 1
    confs = sorted(events.runs_of(workflow).values(), key=lambda c: c["key"])
    assert confs == [
        {"bucket": bucket, "key": "a.csv", "size": "1"},
        {"bucket": bucket, "key": "b.csv", "size": "2"},
    ]

    # A target DAG that does not exist: the message is reported and stays in its queue.
    message_id = aws.sqs.send_message(QueueUrl=orphan_queue, MessageBody='{"any": "thing"}')["MessageId"]
    orphan_asset = f"argo-events/{orphan_queue.rsplit('/', 1)[1]}/sqs"
    events.submit(orphan_asset, events.poll(orphan_asset))
    state, summary, error = dispatch(events, orphan)
    assert state == "failed"
    (failure,) = summary["failed"]
    assert failure["message_id"] == message_id
    assert "could not start a run of no-such-dag" in failure["reason"]
    assert "not found" in failure["reason"]
    assert message_id in error
    attributes = aws.sqs.get_queue_attributes(QueueUrl=orphan_queue, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessagesNotVisible"] == "1"


def test_a_poisonous_message_is_left_for_the_dead_letter_queue_and_the_others_run(
    aws: Any, events: Harness, tmp_path: Path
) -> None:
    """A 6 KB body of nested ``[`` once raised RecursionError for the whole batch on every redelivery;
    a body with a 100,000-character value was silently filtered out (deleted). Each is now its own
    message's error, and the uploads of the same batch start their runs."""
    setup = Setup(aws, events, tmp_path, dlq=True)
    for key in ("good-1.csv", "good-2.csv", "good-3.csv"):
        aws.s3.put_object(Bucket=setup.bucket, Key=key, Body=b"x")
    deep = aws.sqs.send_message(QueueUrl=setup.queue, MessageBody="[" * 6000)["MessageId"]
    huge = {"Records": [{"eventName": "ObjectCreated:" + "x" * 100_001, "s3": {"bucket": {"name": "b"}}}]}
    long_value = aws.sqs.send_message(QueueUrl=setup.queue, MessageBody=json.dumps(huge))["MessageId"]
    assert setup.queued() == (6, 0)  # with S3's test event

    batch, event = setup.poll()
    assert len(batch) == 6
    events.submit(setup.asset, event)
    state, summary, error = setup.dispatch()
    assert state == "failed"
    assert len(summary["created"]) == 3 and len(summary["filtered"]) == 1  # the test event, logged
    assert sorted(events.runs_of(setup.workflow)) == sorted(summary["created"])
    reasons = {f["message_id"]: f["reason"] for f in summary["failed"]}
    assert set(reasons) == {deep, long_value}
    assert reasons[deep].startswith("the body nests more than 100 levels deep (jsonBody is set); body: ")
    assert "too long for a regular expression" in reasons[long_value]
    assert error.startswith("2 of 6 messages could not be dispatched (they stay in the queue): ")
    assert setup.queued() == (0, 2)  # in flight, not deleted

    # Redelivered until the queue's maxReceiveCount, then in the dead-letter queue: nothing is lost.
    setup.show_again([m for m in batch if m["MessageId"] in reasons])
    batch, event = setup.poll()
    events.submit(setup.asset, event)
    state, summary, _ = setup.dispatch()
    assert state == "failed" and summary["created"] == [] and len(summary["failed"]) == 2
    setup.show_again(batch)
    assert aws.sqs.receive_message(QueueUrl=setup.queue, WaitTimeSeconds=0).get("Messages", []) == []
    dead = aws.sqs.receive_message(QueueUrl=setup.dlq, MaxNumberOfMessages=10)["Messages"]
    assert {m["MessageId"] for m in dead} == {deep, long_value}
    assert len(events.runs_of(setup.workflow)) == 3
