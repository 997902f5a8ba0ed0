"""The deal aggregator in the Airflow UI, in a real browser.

Airflow's api-server, scheduler and dag-processor run on 127.0.0.1 with the repository's dags
folder; headless Chromium (Debian's ``chromium``, driven by Playwright) logs in, opens the deal
aggregator's graph, checks its tasks and the mapped HTTP fan-out, unpauses the DAG, triggers a run
from the trigger form with the parameters filled in, and checks that the run succeeded. The posts
API is a local stand-in and S3/SNS are a moto server, so the run does real work: the test also
checks the object in S3 and the two SNS messages. The finished graph is saved as
``docs/img/deal-aggregator-graph.png`` (the README shows it).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import pytest

from scripts.posts_api import PostsApi, post
from tests.conftest import REPO
from tests.ui.airflow_server import PASSWORD, USER, AirflowServer

pytestmark = pytest.mark.ui

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
DAG_ID = "deal-aggregator"
PYTHON_DAG_ID = "deal_aggregator"
# The compiled DAG's tasks: the fan-out's items, the fan-out (a mapped task), the two steps, the
# exit handler and the task that sets the workflow's phase.
TASKS = ("fetch-all_items", "fetch-all", "save-results", "notify-sns", "on_exit", "workflow_phase")
SCREENSHOT = REPO / "docs" / "img" / "deal-aggregator-graph.png"
COUNT = 6  # posts to fetch: not the manifest's default (5), so the form's value is the one that ran
RUN_TIMEOUT = 120.0

if not CHROMIUM.exists():
    pytest.skip(
        f"the UI test needs Debian's chromium at {CHROMIUM} (apt-get install chromium; .ci/run installs it)",
        allow_module_level=True,
    )


@pytest.fixture
def airflow(moto_server: str, tmp_path: Path) -> Iterator[AirflowServer]:
    """Airflow on 127.0.0.1, its tasks using the moto server through ``aws_default``."""
    server = AirflowServer(
        tmp_path / "airflow",
        REPO / "dags",
        {"AIRFLOW_CONN_AWS_DEFAULT": os.environ["AIRFLOW_CONN_AWS_DEFAULT"]},
    )
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def aws_resources(moto_server: str) -> dict[str, Any]:
    """A bucket, an SNS topic and an SQS queue subscribed to it (raw delivery) on the moto server."""
    import boto3

    suffix = uuid.uuid4().hex[:8]
    s3 = boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1")
    sns = boto3.client("sns", endpoint_url=moto_server, region_name="us-east-1")
    sqs = boto3.client("sqs", endpoint_url=moto_server, region_name="us-east-1")
    bucket = f"deals-ui-{suffix}"
    s3.create_bucket(Bucket=bucket)
    topic = sns.create_topic(Name=f"deals-ui-{suffix}")["TopicArn"]
    queue = sqs.create_queue(QueueName=f"deals-ui-{suffix}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})
    return {"s3": s3, "sqs": sqs, "bucket": bucket, "topic": topic, "queue": queue}


def sns_messages(aws: dict[str, Any], expected: int, timeout: float = 20.0) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while len(got) < expected and time.monotonic() < deadline:
        answer = aws["sqs"].receive_message(QueueUrl=aws["queue"], MaxNumberOfMessages=10, WaitTimeSeconds=1)
        got.extend(answer.get("Messages", []))
    return got


def test_deal_aggregator_in_the_ui(airflow: AirflowServer, aws_resources: dict[str, Any], tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    airflow.wait_for_dag(DAG_ID)
    with PostsApi("127.0.0.1", 0) as api, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 800})
        # Generous timeouts: the test shares the machine with the rest of the suite.
        page.set_default_timeout(45_000)
        page.set_default_navigation_timeout(60_000)
        expect.set_options(timeout=30_000)
        try:
            # Log in (the simple auth manager's form).
            page.goto(f"{airflow.url}/")
            page.get_by_label("Username").fill(USER)
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(f"{airflow.url}/")

            # The graph: every task of the manifest, the HTTP fan-out as a mapped task.
            page.goto(f"{airflow.url}/dags/{DAG_ID}")
            page.get_by_role("button", name="Show Graph (Press g)").click()
            node = {name: page.locator(f'.react-flow__node[data-id="{name}"]') for name in TASKS}
            for name, locator in node.items():
                expect(locator, f"task {name} in the graph").to_be_visible()
            expect(page.locator(".react-flow__node")).to_have_count(len(TASKS))
            # A mapped task shows its number of instances in brackets ("[0]" before the first run).
            expect(node["fetch-all"]).to_contain_text("fetch-all [0]")
            expect(node["fetch-all"]).to_contain_text("ArgoHttpOperator")
            for name in ("save-results", "notify-sns", "on_exit"):
                expect(node[name]).not_to_contain_text("[")

            # The same pipeline written with the Python API: its steps are task groups (each an Argo
            # step with its fan-out and phase tasks); expanded, fetch-all shows its mapped task.
            airflow.wait_for_dag(PYTHON_DAG_ID)
            page.goto(f"{airflow.url}/dags/{PYTHON_DAG_ID}")
            page.get_by_role("button", name="Show Graph (Press g)").click()
            group = page.locator('.react-flow__node[data-id="fetch-all"]')
            expect(group).to_contain_text("Task Group")
            expect(page.locator('.react-flow__node[data-id="save_results"]')).to_be_visible()
            group.get_by_text("+ 3 Tasks").click()
            mapped = page.locator('.react-flow__node[data-id="fetch-all.fetch-all"]')
            expect(mapped).to_contain_text("[0]")
            for child in ("fetch-all.fetch-all_items", "fetch-all.workflow_phase"):
                expect(page.locator(f'.react-flow__node[data-id="{child}"]')).to_be_visible()
            page.goto(f"{airflow.url}/dags/{DAG_ID}")
            page.get_by_role("button", name="Show Graph (Press g)").click()
            expect(node["fetch-all"]).to_be_visible()

            # Unpause with the toggle beside the DAG's name.
            toggle = page.get_by_test_id("toggle-pause")
            expect(toggle).to_have_attribute("data-state", "unchecked")
            toggle.click()
            expect(toggle).to_have_attribute("data-state", "checked")

            # Trigger a run from the trigger form, with this test's API, bucket and topic.
            page.get_by_role("button", name="Trigger Dag").click()
            dialog = page.locator("[role=dialog][data-state=open]")
            expect(dialog).to_contain_text(f"Trigger Dag - {DAG_ID}")
            params = {
                "count": str(COUNT),
                "apiUrl": api.url,
                "bucket": aws_resources["bucket"],
                "snsTopicArn": aws_resources["topic"],
            }
            for name, value in params.items():
                # The form names its inputs element_PARAM (their labels point at other ids).
                field = dialog.locator(f'input[name="element_{name}"]')
                expect(field).to_be_visible()
                field.fill(value)
            dialog.get_by_role("button", name="Trigger", exact=True).click()
            page.wait_for_url("**/runs/**")  # the UI opens the new run

            run = airflow.wait_for_run(DAG_ID, RUN_TIMEOUT)
            run_id = run["dag_run_id"]
            states = airflow.task_states(DAG_ID, run_id)
            assert run["state"] == "success", f"the run ended {run['state']}: {states}"
            assert run["triggered_by"] == "ui" and run["triggering_user_name"] == USER
            assert run["conf"] == params
            assert unquote(page.url).endswith(f"/runs/{run_id}"), page.url  # the run the form started
            assert states == {name: ["success"] for name in TASKS}, states

            # The UI shows the finished run: its state and every task's.
            page.goto(f"{airflow.url}/dags/{DAG_ID}/runs/{quote(run_id, safe='')}")
            show_graph = page.get_by_role("button", name="Show Graph (Press g)")
            show_graph.click()
            heading = page.get_by_role("heading", name=run_id, exact=True)
            expect(heading.locator("xpath=..").get_by_test_id("state-badge")).to_have_text("Success")
            for name, locator in node.items():
                expect(locator, f"task {name} succeeded").to_contain_text("success")
            expect(node["fetch-all"]).to_contain_text("fetch-all [1]")  # one task runs the six requests
            page.set_viewport_size({"width": 1400, "height": 600})
            page.get_by_role("button", name="Fit View").click()
            page.mouse.move(700, 200)
            page.wait_for_timeout(500)
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOT))
        except BaseException:
            with contextlib.suppress(Exception):
                page.screenshot(path=str(tmp_path / "failure.png"))
                print(f"the browser's page when the test failed: {tmp_path / 'failure.png'}")
            print(airflow.log_tails())
            raise
        finally:
            browser.close()

    # The run did the work: every post fetched once, the file in S3, both SNS messages.
    assert dict(api.requests) == {number: 1 for number in range(1, COUNT + 1)}
    s3 = aws_resources["s3"]
    keys = [item["Key"] for item in s3.list_objects_v2(Bucket=aws_resources["bucket"]).get("Contents", [])]
    assert len(keys) == 1 and keys[0].endswith("/api-responses.json"), keys
    stored = json.loads(s3.get_object(Bucket=aws_resources["bucket"], Key=keys[0])["Body"].read())
    assert stored == [post(number) for number in range(1, COUNT + 1)]
    workflow = keys[0].split("/")[0]
    bodies = [json.loads(message["Body"]) for message in sns_messages(aws_resources, 2)]
    messages = {body.get("status", "ready"): body for body in bodies}
    assert set(messages) == {"ready", "Succeeded"}, messages
    assert messages["ready"]["workflow"] == workflow
    assert messages["ready"]["summary"] == {"posts": COUNT, "users": [1]}
    # Argo's {{workflow.failures}} is a quoted JSON string: "null" when nothing failed.
    assert messages["Succeeded"]["workflow"] == workflow and messages["Succeeded"]["failures"] == "null"
