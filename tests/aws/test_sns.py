"""SNS steps: executor-plugin ``sns`` templates and ``aws sns publish`` containers, against moto."""

from __future__ import annotations

import json
import os
import shutil
from typing import Any

import pytest

from airflow_argo_provider.manifest import load_text
from tests.aws.conftest import moto_auth, receive_all, sns_envelopes
from tests.conftest import nodes_by_name

PLUGIN_WORKFLOW = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: report-}
spec:
  entrypoint: main
  arguments:
    parameters:
    - {name: topic}
    - {name: region, value: eu-west-1}
  templates:
  - name: main
    dag:
      tasks:
      - name: count
        template: count
      - name: notify
        dependencies: [count]
        template: notify
        arguments:
          parameters:
          - {name: rows, value: "{{tasks.count.outputs.result}}"}
      - name: echo-id
        dependencies: [notify]
        template: echo
        arguments:
          parameters:
          - {name: id, value: "{{tasks.notify.outputs.result}}"}
  - name: count
    script:
      image: python:3.12
      command: [python]
      source: print(6 * 7)
  - name: notify
    inputs:
      parameters:
      - name: rows
    plugin:
      sns:
        topicArn: "{{workflow.parameters.topic}}"
        subject: "{{workflow.name}} done"
        message: "{{workflow.name}} counted {{inputs.parameters.rows}} rows"
        messageAttributes:
          rows: "{{inputs.parameters.rows}}"
          region: "{{workflow.parameters.region}}"
          attempt: 1
  - name: echo
    inputs:
      parameters:
      - name: id
    container:
      image: busybox
      command: [echo, "published {{inputs.parameters.id}}"]
"""


def test_sns_plugin_step_publishes_with_substituted_fields(
    run_workflow: Any, aws: Any, subscribed_topic: tuple[str, str]
) -> None:
    topic, queue = subscribed_topic
    result = run_workflow(PLUGIN_WORKFLOW, {"topic": topic})
    assert result["phase"] == "Succeeded", result
    nodes = nodes_by_name(result)
    message_id = nodes["notify"]["outputs"]["result"]
    assert message_id and len(message_id) >= 32
    # outputs.result (the message id) flows on to the next step.
    assert nodes["echo-id"]["outputs"]["result"] == f"published {message_id}"

    (envelope,) = sns_envelopes(receive_all(aws, queue, 1))
    name = result["name"]
    assert envelope["MessageId"] == message_id
    assert envelope["TopicArn"] == topic
    assert envelope["Subject"] == f"{name} done"
    assert envelope["Message"] == f"{name} counted 42 rows"
    attributes = envelope["MessageAttributes"]
    assert attributes["rows"] == {"Type": "String", "Value": "42"}
    assert attributes["region"] == {"Type": "String", "Value": "eu-west-1"}
    assert attributes["attempt"] == {"Type": "Number", "Value": "1"}


def test_sns_step_to_a_missing_topic_fails_with_a_clear_message(run_workflow: Any, aws: Any) -> None:
    missing = "arn:aws:sns:us-east-1:123456789012:no-such-topic"
    result = run_workflow(PLUGIN_WORKFLOW, {"topic": missing})
    assert result["phase"] == "Failed"
    notify = nodes_by_name(result)["notify"]
    assert notify["phase"] == "Failed"
    assert f"SNS publish to {missing} failed: NotFound" in notify["message"]
    assert "no such topic" in notify["message"]


def test_sns_step_with_wrong_credentials_fails_and_names_the_connection(
    run_workflow: Any, aws: Any, subscribed_topic: tuple[str, str], moto_server: str, monkeypatch: Any
) -> None:
    topic, queue = subscribed_topic
    bad = {
        "conn_type": "aws",
        "login": "AKIAWRONGWRONGWRONG0",
        "password": "wrong-secret",
        "extra": {"endpoint_url": moto_server, "region_name": "us-east-1"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_AWS_WRONG", json.dumps(bad))
    manifest = PLUGIN_WORKFLOW.replace(
        "  - name: notify\n    inputs:",
        "  - name: notify\n    metadata:\n      annotations: {airflow-argo-provider/aws-conn-id: aws_wrong}\n    inputs:",
    )
    with moto_auth(moto_server):
        result = run_workflow(manifest, {"topic": topic})
    notify = nodes_by_name(result)["notify"]
    assert notify["phase"] == "Failed"
    assert "InvalidClientTokenId" in notify["message"]
    assert "credentials of the Airflow AWS connection 'aws_wrong'" in notify["message"]
    assert receive_all(aws, queue, 1, timeout=2) == []  # nothing was published


def test_sns_plugin_body_is_checked_strictly() -> None:
    text = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: bad-sns}
spec:
  entrypoint: main
  templates:
  - name: main
    plugin:
      sns:
        topicARN: arn:aws:sns:us-east-1:123456789012:t
        subject: ["not", "a", "string"]
        messageAttributes: {ok: "{{workflow.name}}", nested: {no: 1}, broken: "{{inputs.parameters.x"}
  - name: other
    plugin:
      slack: {channel: x}
"""
    problems = [p.format() for p in load_text(text, "wf.yaml").errors]
    sns = "wf.yaml:{}: {} spec.templates[0].plugin.sns.{}"
    assert problems == [
        sns.format(10, "AAP010", "topicArn: required field is missing"),
        sns.format(10, "AAP010", "message: required field is missing"),
        sns.format(11, "AAP011", "topicARN: unknown field; did you mean topicArn?"),
        sns.format(12, "AAP010", "subject: must be a string (got list)"),
        sns.format(13, "AAP010", "messageAttributes.nested: an attribute is a string, a number or a list of them"),
        sns.format(
            13,
            "AAP028",
            "messageAttributes.broken: cannot find end tag '}}' for the tag starting at 0 "
            "(in '{{inputs.parameters.x' at position 0)",
        ),
        "wf.yaml:15: AAP108 spec.templates[1].plugin: executor plugin 'slack' is not run (only sns)",
    ]


SEED_NOTIFY = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: dynamic-deal-aggregator-
spec:
  entrypoint: main
  arguments:
    parameters:
    - name: snsTopicArn
      value: "arn:aws:sns:AWS_REGION:ACCOUNT_ID:TOPIC_NAME"
  templates:
  - name: main
    dag:
      tasks:
      - name: notify-sns
        template: notify-sns
        arguments:
          parameters:
          - name: topicArn
            value: "{{workflow.parameters.snsTopicArn}}"
          - name: workflowName
            value: "{{workflow.name}}"
  # The notify-sns template of seed document 001, unchanged but for the region placeholder.
  - name: notify-sns
    inputs:
      parameters:
      - name: topicArn
      - name: workflowName
    retryStrategy:
      limit: 3
      retryPolicy: OnTransientError
      backoff:
        duration: "5s"
        factor: 2
    container:
      image: amazon/aws-cli:2.17.59
      env:
      - name: AWS_ACCESS_KEY_ID
        valueFrom:
          secretKeyRef:
            name: argo-s3-credentials
            key: accessKey
      - name: AWS_SECRET_ACCESS_KEY
        valueFrom:
          secretKeyRef:
            name: argo-s3-credentials
            key: secretKey
      - name: AWS_DEFAULT_REGION
        value: "us-east-1"
      - name: SNS_TOPIC_ARN
        value: "{{inputs.parameters.topicArn}}"
      - name: WORKFLOW_NAME
        value: "{{inputs.parameters.workflowName}}"
      command: [sh, -c]
      args:
      - |
        MSG="Workflow ${WORKFLOW_NAME} completed successfully. Artifact: s3://S3_BUCKET/${WORKFLOW_NAME}/api-responses.json"
        exec aws sns publish --topic-arn "${SNS_TOPIC_ARN}" --message "${MSG}" --region "${AWS_DEFAULT_REGION}"
"""


@pytest.mark.skipif(shutil.which("aws") is None, reason="the AWS CLI (aws) is not installed")
def test_seed_aws_cli_step_publishes_in_the_local_backend(
    run_workflow: Any, aws: Any, subscribed_topic: tuple[str, str], monkeypatch: Any
) -> None:
    topic, queue = subscribed_topic
    # The local backend serves Kubernetes secrets from Airflow Variables; AWS_ENDPOINT_URL passes through.
    monkeypatch.setenv("AIRFLOW_VAR_ARGO-S3-CREDENTIALS", json.dumps({"accessKey": "testing", "secretKey": "testing"}))
    assert os.environ["AWS_ENDPOINT_URL"] == aws.endpoint
    result = run_workflow(SEED_NOTIFY, {"snsTopicArn": topic})
    assert result["phase"] == "Succeeded", result
    node = nodes_by_name(result)["notify-sns"]
    published = json.loads(node["outputs"]["result"])  # the CLI prints {"MessageId": ...}
    (envelope,) = sns_envelopes(receive_all(aws, queue, 1))
    assert envelope["MessageId"] == published["MessageId"]
    name = result["name"]
    assert envelope["Message"] == (
        f"Workflow {name} completed successfully. Artifact: s3://S3_BUCKET/{name}/api-responses.json"
    )


def test_sns_steps_run_in_the_worker_in_both_backends() -> None:
    from airflow_argo_provider.manifest import load_text
    from airflow_argo_provider.operators.sns import ArgoSnsOperator
    from airflow_argo_provider.plan.build import build_plan
    from airflow_argo_provider.render.backends import operator_class

    mset = load_text(PLUGIN_WORKFLOW, "wf.yaml")
    (manifest,) = mset.manifests
    plan = build_plan(manifest, mset)
    notify = plan.node("notify")
    assert notify.body == "plugin"
    # The plugin's body comes through the plan although hera's model drops it.
    assert plan.template(notify.template)["plugin"]["sns"]["topicArn"] == "{{workflow.parameters.topic}}"
    for backend in ("local", "kubernetes"):
        assert operator_class(backend, "plugin") is ArgoSnsOperator
