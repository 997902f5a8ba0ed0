"""AWS fixtures on the session's moto server: boto3 clients, topics with an SQS subscription, queues."""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest


@pytest.fixture
def aws(moto_server: str) -> Any:
    """boto3 clients (sqs, sns, s3) bound to the moto server."""
    import boto3

    class Clients:
        endpoint = moto_server
        sqs = boto3.client("sqs", endpoint_url=moto_server, region_name="us-east-1")
        sns = boto3.client("sns", endpoint_url=moto_server, region_name="us-east-1")
        s3 = boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1")
        iam = boto3.client("iam", endpoint_url=moto_server, region_name="us-east-1")

    return Clients


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def queue_arn(aws: Any, url: str) -> str:
    return str(aws.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])


@pytest.fixture
def subscribed_topic(aws: Any) -> tuple[str, str]:
    """A new SNS topic with a new SQS queue subscribed to it (raw delivery off: SNS envelopes)."""
    topic = aws.sns.create_topic(Name=unique("topic"))["TopicArn"]
    queue = aws.sqs.create_queue(QueueName=unique("inbox"))["QueueUrl"]
    aws.sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn(aws, queue))
    return topic, queue


def receive_all(
    aws: Any, queue: str, expected: int, timeout: float = 10.0, delete: bool = True
) -> list[dict[str, Any]]:
    """Receive until ``expected`` messages arrived (or the timeout), deleting them unless told not to."""
    got: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while len(got) < expected and time.monotonic() < deadline:
        response = aws.sqs.receive_message(
            QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1, MessageAttributeNames=["All"]
        )
        for message in response.get("Messages", []):
            got.append(message)
            if delete:
                aws.sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
    return got


def sns_envelopes(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [json.loads(m["Body"]) for m in messages]


@contextmanager
def moto_auth(endpoint: str) -> Iterator[None]:
    """Make the moto server check credentials (IAM) until the block ends: unknown keys are refused."""

    def post(value: bytes) -> None:
        request = urllib.request.Request(
            endpoint + "/moto-api/reset-auth", data=value, method="POST", headers={"Content-Type": "text/plain"}
        )
        urllib.request.urlopen(request, timeout=10).read()

    post(b"0")
    try:
        yield
    finally:
        post(b"inf")
