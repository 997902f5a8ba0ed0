"""The Python API of event triggers: an SQS queue whose messages start a workflow DAG, one run each.

In a DAG file::

    from airflow_argo_provider.events import S3_BUCKET, S3_KEY, sqs_trigger

    dispatcher = sqs_trigger(
        dag_id="process-uploads",
        queue_url="https://sqs.eu-west-1.amazonaws.com/123456789012/uploads",
        target_dag_id="process-file",
        parameters={"bucket": S3_BUCKET, "key": S3_KEY},
        filters=[{"path": "body.Records.0.eventName", "type": "string", "value": ["^ObjectCreated:"]}],
    )

is the same as an EventSource with one ``sqs`` entry and a Sensor with one ``argoWorkflow``
trigger: ``parameters`` maps a parameter of the target DAG to where its value comes from: a
gjson path into the event (``dataKey``), or a dict with Argo's ``dataKey``, ``dataTemplate``
and ``value`` (the default); ``filters`` are Argo's ``filters.data`` entries.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlparse

from airflow_argo_provider.events.model import (
    DEFAULT_AWS_CONN_ID,
    DEFAULT_VISIBILITY_TIMEOUT,
    DEFAULT_WAIT_TIME_SECONDS,
    DataFilter,
    Dispatch,
    Parameter,
    SqsSource,
    Target,
)
from airflow_argo_provider.expressions import ExpressionError, gjson
from airflow_argo_provider.expressions.gotemplate import check_template
from airflow_argo_provider.expressions.regex import compile_regex

# Where an S3 event notification (delivered to SQS with jsonBody) keeps the bucket and the key.
S3_BUCKET = "body.Records.0.s3.bucket.name"
S3_KEY = "body.Records.0.s3.object.key"
S3_EVENT_NAME = "body.Records.0.eventName"

_SOURCE_KEYS = ("dataKey", "dataTemplate", "value")


def _parameter(name: str, spec: Any) -> Parameter:
    if isinstance(spec, str):
        spec = {"dataKey": spec}
    if not isinstance(spec, Mapping) or not spec or set(spec) - set(_SOURCE_KEYS):
        raise ValueError(
            f"parameter {name!r}: give a gjson path (str) or a dict with {', '.join(_SOURCE_KEYS)} (got {spec!r})"
        )
    try:
        if spec.get("dataKey"):
            gjson.check_path(str(spec["dataKey"]))
        if spec.get("dataTemplate"):
            check_template(str(spec["dataTemplate"]))
    except ExpressionError as exc:
        raise ValueError(f"parameter {name!r}: {exc}") from None
    return Parameter(
        dest_name=name,
        dest=f"parameters.{name}",
        data_key=str(spec.get("dataKey") or ""),
        data_template=str(spec.get("dataTemplate") or ""),
        default=str(spec["value"]) if spec.get("value") is not None else None,
    )


def _filter(spec: Any) -> DataFilter:
    if isinstance(spec, DataFilter):
        return spec
    if not isinstance(spec, Mapping) or not spec.get("path") or not spec.get("value"):
        raise ValueError(f"a filter needs path and value (got {spec!r})")
    kind = str(spec.get("type") or "string")
    if kind not in ("string", "number", "bool"):
        raise ValueError(f"filter {spec['path']!r}: type must be string, number or bool (got {kind!r})")
    values = [str(v).lower() if isinstance(v, bool) else str(v) for v in spec["value"]]
    try:
        gjson.check_path(str(spec["path"]))
        if kind == "string":
            for value in values:
                compile_regex(value)
        if spec.get("template"):
            check_template(str(spec["template"]))
    except ExpressionError as exc:
        raise ValueError(f"filter {spec['path']!r}: {exc}") from None
    return DataFilter(
        path=str(spec["path"]),
        type=kind,
        values=values,
        comparator=str(spec.get("comparator") or ""),
        template=str(spec.get("template") or ""),
    )


def sqs_dispatch(
    *,
    dag_id: str,
    queue_url: str,
    target_dag_id: str,
    parameters: Mapping[str, Any] | None = None,
    filters: Sequence[Any] = (),
    filter_operator: str = "and",
    json_body: bool = True,
    aws_conn_id: str = DEFAULT_AWS_CONN_ID,
    region: str | None = None,
    visibility_timeout: int = DEFAULT_VISIBILITY_TIMEOUT,
    wait_time_seconds: int = DEFAULT_WAIT_TIME_SECONDS,
    metadata: Mapping[str, str] | None = None,
) -> Dispatch:
    """The dispatcher plan :func:`sqs_trigger` renders (checked; raises ``ValueError``)."""
    if not queue_url.startswith(("https://", "http://")):
        raise ValueError(f"queue_url must be the queue's URL (got {queue_url!r})")
    if filter_operator not in ("and", "or"):
        raise ValueError(f"filter_operator must be and or or (got {filter_operator!r})")
    if not 0 < visibility_timeout <= 43_200:
        raise ValueError(f"visibility_timeout must be from 1 to 43200 seconds (got {visibility_timeout})")
    if not 0 <= wait_time_seconds <= 20:
        raise ValueError(f"wait_time_seconds must be from 0 to 20 (got {wait_time_seconds})")
    queue_name = urlparse(queue_url).path.rstrip("/").rsplit("/", 1)[-1] or "queue"
    source = SqsSource(
        event_source=queue_name,
        event_name="sqs",
        queue_url=queue_url,
        region=region,
        aws_conn_id=aws_conn_id,
        json_body=json_body,
        metadata=dict(metadata or {}),
        wait_time_seconds=wait_time_seconds,
        visibility_timeout=visibility_timeout,
    )
    target = Target(
        name=target_dag_id,
        dag_id=target_dag_id,
        parameters=[_parameter(name, spec) for name, spec in (parameters or {}).items()],
    )
    return Dispatch(
        dag_id=dag_id,
        sensor=dag_id,
        source=source,
        dependency=queue_name,
        filters=[_filter(f) for f in filters],
        filter_operator=filter_operator,
        targets=[target],
    )


def sqs_trigger(**kwargs: Any) -> Any:
    """A dispatcher DAG: every message of ``queue_url`` starts one run of ``target_dag_id``.

    Takes the arguments of :func:`sqs_dispatch`; returns the Airflow DAG (put it in the DAG
    file's globals, as ``load_workflows`` results are).
    """
    from airflow_argo_provider.events.render import render_dispatcher

    return render_dispatcher(sqs_dispatch(**kwargs))
