"""The plan of a dispatcher: what an SQS-triggered Sensor does, as plain data (no Airflow objects).

A :class:`Dispatch` says which queue is watched (:class:`SqsSource`, from an EventSource's ``sqs``
entry or from the Python API), which messages count (``filters.data``), and which workflow DAGs
start for each message with which parameters (:class:`Target`). It is built from manifests by
:mod:`airflow_argo_provider.events.plan`, rendered into a DAG by
:mod:`airflow_argo_provider.events.render`, and read by the dispatcher operator at run time.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# Defaults of the SQS polling (see docs/aws.md).
DEFAULT_VISIBILITY_TIMEOUT = 300
DEFAULT_WAIT_TIME_SECONDS = 20
DEFAULT_MAX_MESSAGES = 10
DEFAULT_WAITER_DELAY = 5
DEFAULT_AWS_CONN_ID = "aws_default"


@dataclass
class SqsSource:
    """One SQS queue watched for messages (an EventSource's ``spec.sqs.NAME``)."""

    event_source: str
    event_name: str
    queue_url: str
    region: str | None = None
    aws_conn_id: str = DEFAULT_AWS_CONN_ID
    json_body: bool = False
    metadata: dict[str, str] = field(default_factory=dict)
    wait_time_seconds: int = DEFAULT_WAIT_TIME_SECONDS
    visibility_timeout: int = DEFAULT_VISIBILITY_TIMEOUT
    max_messages: int = DEFAULT_MAX_MESSAGES
    waiter_delay: int = DEFAULT_WAITER_DELAY

    @property
    def asset_name(self) -> str:
        """The Airflow asset whose events carry this queue's messages."""
        return f"argo-events/{self.event_source}/{self.event_name}"


@dataclass
class DataFilter:
    """One ``filters.data`` entry: ``path`` (gjson) compared with ``values`` as ``type``."""

    path: str
    type: str = "string"
    values: list[str] = field(default_factory=list)
    comparator: str = ""
    template: str = ""


@dataclass
class Parameter:
    """A trigger parameter: a value from the message, written to a workflow parameter."""

    dest_name: str  # the workflow parameter (spec.arguments.parameters.N.name)
    dest: str  # as written: spec.arguments.parameters.N.value
    data_key: str = ""
    data_template: str = ""
    default: str | None = None  # src.value
    operation: str = ""  # "", overwrite, append, prepend
    current: str = ""  # the parameter's value in the workflow (for append/prepend)


@dataclass
class Target:
    """A trigger: the workflow DAG that one message starts, and its parameters."""

    name: str
    dag_id: str
    parameters: list[Parameter] = field(default_factory=list)


@dataclass
class Dispatch:
    """A dispatcher DAG: one source, the messages it accepts, the workflow runs each one starts."""

    dag_id: str
    sensor: str
    source: SqsSource
    dependency: str = ""
    filters: list[DataFilter] = field(default_factory=list)
    filter_operator: str = "and"
    targets: list[Target] = field(default_factory=list)
    source_file: str = ""
    description: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def dispatch_from_dict(data: dict[str, Any]) -> Dispatch:
    """The inverse of :meth:`Dispatch.to_dict` (used by the plan cache)."""
    fields = dict(data)
    fields["source"] = SqsSource(**fields["source"])
    fields["filters"] = [DataFilter(**f) for f in fields.get("filters") or []]
    fields["targets"] = [
        Target(name=t["name"], dag_id=t["dag_id"], parameters=[Parameter(**p) for p in t.get("parameters") or []])
        for t in fields.get("targets") or []
    ]
    return Dispatch(**fields)
