"""A dispatcher plan as an Airflow DAG scheduled by the asset its SQS queue feeds.

The queue is watched by an :class:`~airflow.sdk.AssetWatcher` with the common-messaging
provider's ``MessageQueueTrigger(scheme="sqs", ...)`` (which runs the amazon provider's SQS
trigger in Airflow's triggerer). Received messages are **not** deleted by the trigger
(``delete_message_on_reception=False``): they stay in flight for the visibility timeout, and the
dispatcher deletes each one only after the workflow runs it starts exist. So a message is never
lost between the trigger and the dispatcher, and one that cannot be dispatched goes to the
queue's dead-letter queue after ``maxReceiveCount`` receptions.
"""

from __future__ import annotations

from typing import Any

from airflow_argo_provider.events.model import Dispatch, SqsSource

DISPATCH_TASK_ID = "dispatch"


def queue_trigger(source: SqsSource) -> Any:
    """The ``MessageQueueTrigger`` polling ``source``'s queue for the asset watcher."""
    from airflow.providers.common.messaging.triggers.msg_queue import MessageQueueTrigger

    return MessageQueueTrigger(
        scheme="sqs",
        sqs_queue=source.queue_url,
        aws_conn_id=source.aws_conn_id,
        region_name=source.region,
        max_messages=source.max_messages,
        num_batches=1,
        wait_time_seconds=source.wait_time_seconds,
        visibility_timeout=source.visibility_timeout,
        delete_message_on_reception=False,
        waiter_delay=source.waiter_delay,
    )


def source_asset(source: SqsSource) -> Any:
    """The asset whose events carry ``source``'s messages (one per queue, shared by its Sensors)."""
    from airflow.sdk import Asset, AssetWatcher

    watcher = AssetWatcher(name=f"{source.event_source}-{source.event_name}-sqs", trigger=queue_trigger(source))
    return Asset(
        name=source.asset_name, uri=f"x-argo-events://{source.event_source}/{source.event_name}", watchers=[watcher]
    )


def _doc(dispatch: Dispatch) -> str:
    lines = [
        f"**Argo Sensor** `{dispatch.sensor}`: one workflow run per message of `{dispatch.source.queue_url}`",
        "",
    ]
    for target in dispatch.targets:
        params = ", ".join(p.dest_name for p in target.parameters) or "no parameters"
        lines.append(f"* trigger `{target.name}` starts `{target.dag_id}` ({params})")
    if dispatch.source_file:
        lines += ["", f"Source: `{dispatch.source_file}`"]
    if dispatch.description:
        lines += ["", dispatch.description]
    return "\n".join(lines)


def render_dispatcher(dispatch: Dispatch) -> Any:
    """The dispatcher DAG of ``dispatch``."""
    from airflow.sdk import DAG

    from airflow_argo_provider.operators.dispatch import ArgoEventDispatchOperator

    dag = DAG(
        dag_id=dispatch.dag_id,
        description=f"Argo Sensor {dispatch.sensor}: workflow runs for SQS messages",
        schedule=[source_asset(dispatch.source)],
        catchup=False,
        max_active_runs=1,
        tags=["argo", "Sensor"],
        doc_md=_doc(dispatch),
        default_args={"owner": "argo"},
    )
    with dag:
        ArgoEventDispatchOperator(task_id=DISPATCH_TASK_ID, dispatch=dispatch, retries=0)
    return dag
