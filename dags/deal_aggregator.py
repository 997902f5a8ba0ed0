"""Deal aggregator written in Python with airflow-argo-provider's API: the pipeline of argo/deal-aggregator.yaml.

    fetch-all (HTTP fan-out over posts 1..count) >> save_results (S3) >> notify-sns
    on success or failure: an SNS report of the run (ArgoSnsNotifier)

``fetch-all`` is an Argo HTTP step fanned out with ``with_sequence``: every post is requested in
parallel (at most ten at a time), accepted only when the answer passes the success condition, and
retried with backoff when the failure is transient. Its ``.output`` is the list of posts, in
order, which an ordinary ``@task`` validates, normalises and stores in S3 with the amazon
provider's ``S3Hook``. The announcement is the amazon provider's ``SnsPublishOperator`` with the
same Argo retry strategy; the run report is the provider's exit notifier.

Trigger with ``{"count": "10", "apiUrl": "http://127.0.0.1:8000", "bucket": "...", "snsTopicArn":
"..."}``; S3 and SNS use the Airflow connection ``aws_default``.
"""

from __future__ import annotations

import json
from typing import Any

from airflow.providers.amazon.aws.operators.sns import SnsPublishOperator
from airflow.sdk import DAG, Param, get_current_context, task

from airflow_argo_provider import ArgoSnsNotifier, Backoff, Http, RetryStrategy, argo_task_group, with_sequence

TRANSIENT = RetryStrategy(limit=3, policy="OnTransientError", backoff=Backoff("5s", 2))
report = ArgoSnsNotifier(target_arn="{{ params.snsTopicArn }}")

with DAG(
    "deal_aggregator",
    schedule=None,
    catchup=False,
    tags=["argo", "example", "python-api"],
    doc_md=__doc__,
    params={
        "count": Param("5", type="string", description="how many posts to fetch (posts 1..count)"),
        "apiUrl": Param("https://jsonplaceholder.typicode.com", type="string", description="base URL of the API"),
        "bucket": Param("deal-aggregator", type="string", description="S3 bucket of the aggregate"),
        "snsTopicArn": Param(
            "arn:aws:sns:us-east-1:123456789012:deal-aggregator", type="string", description="SNS topic"
        ),
    },
    on_success_callback=report,
    on_failure_callback=report,
):
    fetch_all = argo_task_group(
        "fetch-all",
        Http(
            url="{{workflow.parameters.apiUrl}}/posts/{{item}}",
            headers={"Accept": "application/json"},
            success_condition='response.statusCode == 200 && response.body contains "userId" '
            '&& response.body contains "id"',
            timeout_seconds=30,
        ),
        with_sequence=with_sequence(count="{{workflow.parameters.count}}", start="1"),
        retry_strategy=TRANSIENT,
        parallelism=10,
        parameters={"count": "5", "apiUrl": "https://jsonplaceholder.typicode.com"},
    )

    @task
    def save_results(posts: list[Any]) -> dict[str, Any]:
        """Check that exactly ``count`` posts arrived, each with whole-number ``id`` and ``userId``,
        one per id; store them sorted by id, text trimmed, as ``deal_aggregator/RUN_ID/api-responses.json``."""
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        context = get_current_context()
        params = context["params"]
        expected = int(params["count"])
        if len(posts) != expected:
            raise ValueError(f"expected {expected} posts, got {len(posts)}")
        normalised: dict[int, dict[str, Any]] = {}
        for index, post in enumerate(posts, start=1):
            if not isinstance(post, dict):
                raise ValueError(f"post {index}: not a JSON object: {str(post)[:80]!r}")
            for field in ("id", "userId"):
                if type(post.get(field)) is not int:
                    raise ValueError(f"post {index}: {field} must be a whole number, got {post.get(field)!r}")
            if post["id"] in normalised:
                raise ValueError(f"post {index}: id {post['id']} appears twice")
            normalised[post["id"]] = {
                key: value.strip() if isinstance(value, str) else value for key, value in sorted(post.items())
            }
        ordered = [normalised[key] for key in sorted(normalised)]
        key = f"deal_aggregator/{context['run_id']}/api-responses.json"
        S3Hook().load_string(json.dumps(ordered, indent=2) + "\n", key=key, bucket_name=params["bucket"], replace=True)
        return {
            "posts": len(ordered),
            "users": sorted({post["userId"] for post in ordered}),
            "artifact": f"s3://{params['bucket']}/{key}",
        }

    saved = save_results(fetch_all.output)
    notify = TRANSIENT.apply(
        SnsPublishOperator(
            task_id="notify-sns",
            target_arn="{{ params.snsTopicArn }}",
            subject="deal_aggregator: deals ready",
            message="{{ ti.xcom_pull(task_ids='save_results') | tojson }}",
            message_attributes={"kind": "aggregate-ready"},
        )
    )
    fetch_all >> saved >> notify
