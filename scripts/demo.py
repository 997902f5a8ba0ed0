"""The demo (`make demo`): the deal aggregator end to end on this machine, no cloud account needed.

1. starts a local stand-in of the public posts API (scripts/posts_api.py; post 2 answers 503 once,
   so the run shows a transient-error retry) and a moto server for S3, SNS and SQS;
2. creates the bucket and the SNS topic, and an SQS queue subscribed to the topic;
3. runs dags/argo/deal-aggregator.yaml with ``airflow-argo run`` (Airflow's own machinery, the
   local backend) and shows its progress and node table;
4. prints where the artifact went with a summary of its content, and the SNS messages the queue
   received;
5. tells how to open the same DAG in the Airflow UI.

``--serve`` keeps the two stand-ins running on fixed ports (8000 and 5000) until Ctrl-C, with the
bucket, topic and queue created, for triggering the DAG from the Airflow UI.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from scripts.posts_api import PostsApi  # noqa: E402 (the repository is on the path only now)

MANIFEST = REPO / "dags" / "argo" / "deal-aggregator.yaml"
BUCKET = "deal-aggregator"
TOPIC = "deal-aggregator"
QUEUE = "deal-aggregator-inbox"
REGION = "us-east-1"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def heading(text: str) -> None:
    print(f"\n== {text} ==", flush=True)


def aws_environment(endpoint: str) -> dict[str, str]:
    """The environment that points boto3, the AWS CLI and Airflow's ``aws_default`` at ``endpoint``."""
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ENDPOINT_URL": endpoint,
        "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(
            {
                "conn_type": "aws",
                "login": "testing",
                "password": "testing",
                "extra": {"endpoint_url": endpoint, "region_name": REGION},
            }
        ),
    }


class Aws:
    """The bucket, the topic and the subscribed queue on the moto server."""

    def __init__(self, endpoint: str) -> None:
        import boto3

        options: dict[str, Any] = {
            "endpoint_url": endpoint,
            "region_name": REGION,
            "aws_access_key_id": "testing",
            "aws_secret_access_key": "testing",
        }
        self.s3 = boto3.client("s3", **options)
        self.sns = boto3.client("sns", **options)
        self.sqs = boto3.client("sqs", **options)
        self.s3.create_bucket(Bucket=BUCKET)
        self.topic = str(self.sns.create_topic(Name=TOPIC)["TopicArn"])
        self.queue = str(self.sqs.create_queue(QueueName=QUEUE)["QueueUrl"])
        queue_arn = self.sqs.get_queue_attributes(QueueUrl=self.queue, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        self.sns.subscribe(TopicArn=self.topic, Protocol="sqs", Endpoint=queue_arn)

    def artifacts(self) -> list[dict[str, Any]]:
        return list(self.s3.list_objects_v2(Bucket=BUCKET).get("Contents", []))

    def messages(self, expected: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """SNS envelopes received on the queue (until ``expected`` arrived or the timeout)."""
        got: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while len(got) < expected and time.monotonic() < deadline:
            answer = self.sqs.receive_message(QueueUrl=self.queue, MaxNumberOfMessages=10, WaitTimeSeconds=1)
            for message in answer.get("Messages", []):
                got.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=self.queue, ReceiptHandle=message["ReceiptHandle"])
        return got


def show_artifact(aws: Aws) -> None:
    heading("The artifact")
    objects = {o["Key"]: o for o in aws.artifacts() if o["Key"].endswith("/api-responses.json")}
    if not objects:
        print(f"nothing was stored in s3://{BUCKET} (the run did not get that far)")
        return
    key = max(objects, key=lambda k: objects[k]["LastModified"])
    posts = json.loads(aws.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    users = sorted({p["userId"] for p in posts})
    print(f"s3://{BUCKET}/{key}  ({objects[key]['Size']:,} bytes)")
    print(f"  {len(posts)} posts, ids {posts[0]['id']}..{posts[-1]['id']}, from users {users}")
    for item in posts[:3]:
        print(f"  {item['id']:>3}  user {item['userId']}  {item['title']!r}")
    if len(posts) > 3:
        print(f"  ... and {len(posts) - 3} more")


def show_messages(aws: Aws, expected: int) -> None:
    heading(f"SNS messages received through the SQS subscription ({QUEUE})")
    envelopes = aws.messages(expected)
    if not envelopes:
        print("none arrived")
    for envelope in envelopes:
        kind = envelope.get("MessageAttributes", {}).get("kind", {}).get("Value", "?")
        print(f"[{kind}] subject: {envelope.get('Subject')}")
        print(f"  {envelope.get('Message')}")


def ui_instructions() -> None:
    heading("The same DAG in the Airflow UI")
    print(
        "1. Keep the two stand-ins running (posts API on :8000, moto on :5000, bucket and topic created):\n"
        "     .venv/bin/python scripts/demo.py --serve\n"
        "2. In another terminal, start Airflow with this repository's dags folder:\n"
        "     PATH=$PWD/.venv/bin:$PATH AIRFLOW_HOME=$PWD/.airflow AIRFLOW__CORE__DAGS_FOLDER=$PWD/dags AIRFLOW__CORE__LOAD_EXAMPLES=false \\\n"
        "     AIRFLOW_CONN_AWS_DEFAULT="
        + shlex.quote(aws_environment("http://127.0.0.1:5000")["AIRFLOW_CONN_AWS_DEFAULT"])
        + " \\\n"
        "     airflow standalone\n"
        "3. Open http://localhost:8080, sign in as admin with the password `airflow standalone` prints,\n"
        "   open the DAG deal-aggregator (Graph shows fetch-all as a mapped task), press Trigger and set\n"
        "     apiUrl = http://127.0.0.1:8000\n"
        f"     snsTopicArn = arn:aws:sns:{REGION}:123456789012:{TOPIC}\n"
        "   (count and bucket keep their defaults). deal_aggregator is the same pipeline written in Python."
    )


def quiet_moto() -> None:
    """The moto server's request log would drown the run's progress."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)


def run(count: int) -> int:
    from moto.server import ThreadedMotoServer

    quiet_moto()
    heading("airflow-argo-provider demo: the deal aggregator (dags/argo/deal-aggregator.yaml)")
    moto_port = free_port()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=moto_port, verbose=False)
    moto.start()
    endpoint = f"http://127.0.0.1:{moto_port}"
    try:
        with PostsApi(flaky={2}) as api:
            aws = Aws(endpoint)
            print(f"posts API stand-in  {api.url}/posts/N   (post 2 answers 503 once: watch it being retried)")
            print(f"S3, SNS, SQS (moto) {endpoint}   bucket {BUCKET}, topic {aws.topic}, queue {QUEUE}")
            command = [
                str(Path(sys.executable).parent / "airflow-argo"),
                "run",
                str(MANIFEST.relative_to(REPO)),
                "-p",
                f"count={count}",
                "-p",
                f"apiUrl={api.url}",
                "-p",
                f"bucket={BUCKET}",
                "-p",
                f"snsTopicArn={aws.topic}",
            ]
            heading("Running it: " + " ".join(["airflow-argo", *map(shlex.quote, command[1:])]))
            env = {**os.environ, **aws_environment(endpoint)}
            done = subprocess.run(command, cwd=REPO, env=env)
            show_artifact(aws)
            show_messages(aws, 2 if done.returncode == 0 else 1)
    finally:
        moto.stop()
    ui_instructions()
    return done.returncode


def serve() -> int:
    from moto.server import ThreadedMotoServer

    quiet_moto()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=5000, verbose=False)
    moto.start()
    try:
        with PostsApi(port=8000, flaky={2}) as api:
            aws = Aws("http://127.0.0.1:5000")
            print(f"posts API stand-in on {api.url}, moto on http://127.0.0.1:5000")
            print(f"bucket {BUCKET}, topic {aws.topic}, queue {QUEUE} (Ctrl-C stops them)", flush=True)
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        return 0
    finally:
        moto.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=10, help="how many posts to fetch (1..100, default 10)")
    parser.add_argument("--serve", action="store_true", help="only keep the stand-ins running, for the Airflow UI")
    args = parser.parse_args()
    if args.serve:
        return serve()
    if not 1 <= args.count <= 100:
        parser.error("--count must be between 1 and 100 (the API has posts 1..100)")
    return run(args.count)


if __name__ == "__main__":
    sys.exit(main())
