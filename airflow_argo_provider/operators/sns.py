"""Argo executor-plugin ``sns`` steps, published from the worker through the amazon provider's SnsHook.

A template ``plugin: {sns: {topicArn, message, subject, messageAttributes}}`` publishes one
message; its ``{{...}}`` tags were substituted like every other template field before it runs.
``outputs.result`` is the SNS message id. The Airflow AWS connection is ``aws_default``, or the one
the template's annotation ``airflow-argo-provider/aws-conn-id`` names (credentials, region, and
``endpoint_url`` for an SNS-compatible endpoint).

A failed publish fails the node; throttling, server errors and connection problems are transient
for ``retryPolicy: OnTransientError``, a missing topic or a refused credential is not. The
message text is never logged (only the topic and the message id).
"""

from __future__ import annotations

import logging
from typing import Any

from airflow_argo_provider.events.model import DEFAULT_AWS_CONN_ID
from airflow_argo_provider.manifest.annotations import AWS_CONN_ANNOTATION
from airflow_argo_provider.operators.base import ArgoNodeOperator
from airflow_argo_provider.runtime.step import Invocation, RawOutcome

log = logging.getLogger(__name__)

CONNECTION_ANNOTATION = AWS_CONN_ANNOTATION
# AWS error codes that say "try again later".
TRANSIENT_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "TooManyRequestsException",
        "InternalError",
        "InternalFailure",
        "ServiceUnavailable",
        "KMSThrottling",
    }
)


def aws_connection(template: dict[str, Any]) -> str:
    """The Airflow AWS connection a template's step uses."""
    annotations = (template.get("metadata") or {}).get("annotations") or {}
    value = annotations.get(CONNECTION_ANNOTATION)
    return str(value) if value else DEFAULT_AWS_CONN_ID


def _attributes(raw: Any) -> dict[str, Any] | None:
    if not raw:
        return None
    out: dict[str, Any] = {}
    for name, value in dict(raw).items():
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, list):
            value = [str(v) if isinstance(v, bool) else v for v in value]
        out[str(name)] = value
    return out


def publish_failure(exc: Exception, topic: str, conn_id: str) -> RawOutcome:
    """A failed publish as a node outcome, with a message that says what to fix."""
    from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError, NoCredentialsError

    if isinstance(exc, ClientError):
        error = exc.response.get("Error") or {}
        code = str(error.get("Code") or "")
        status = int((exc.response.get("ResponseMetadata") or {}).get("HTTPStatusCode") or 0)
        text = str(error.get("Message") or exc)
        transient = code in TRANSIENT_CODES or status >= 500 or status == 429
        hint = ""
        if code in ("NotFound", "NotFoundException"):
            hint = " (no such topic: check topicArn, and the region of the connection)"
        elif code in (
            "InvalidClientTokenId",
            "SignatureDoesNotMatch",
            "UnrecognizedClientException",
            "AuthorizationError",
        ):
            hint = f" (check the credentials of the Airflow AWS connection {conn_id!r})"
        message = f"SNS publish to {topic} failed: {code or status}: {text}{hint}"
        return RawOutcome(exit_code=None, failed=True, message=message, transient=transient)
    if isinstance(exc, NoCredentialsError):
        message = f"SNS publish to {topic} failed: no AWS credentials (Airflow AWS connection {conn_id!r})"
        return RawOutcome(exit_code=None, failed=True, message=message, transient=False)
    if isinstance(exc, EndpointConnectionError):
        return RawOutcome(exit_code=None, failed=True, message=f"SNS publish to {topic} failed: {exc}", transient=True)
    if isinstance(exc, BotoCoreError):
        return RawOutcome(exit_code=None, failed=True, message=f"SNS publish to {topic} failed: {exc}", transient=False)
    raise exc


class ArgoSnsOperator(ArgoNodeOperator):
    """Runs Argo ``plugin: {sns: ...}`` templates: publishes the message, ``outputs.result`` its id."""

    ui_color = "#ffe4cc"

    def run_invocation(self, invocation: Invocation, context: Any, timeout: float | None) -> RawOutcome:
        plugin = invocation.template.get("plugin") or {}
        body = plugin.get("sns")
        if not isinstance(body, dict):
            names = ", ".join(map(str, plugin)) or "none"
            return RawOutcome(exit_code=None, error=True, message=f"not an sns plugin template (plugin: {names})")
        topic = str(body.get("topicArn") or "")
        message = body.get("message")
        if not topic or message in (None, ""):
            return RawOutcome(exit_code=None, error=True, message="sns: topicArn and message are required")
        conn_id = aws_connection(invocation.template)
        from airflow.providers.amazon.aws.hooks.sns import SnsHook

        hook = SnsHook(aws_conn_id=conn_id)
        try:
            response = hook.publish_to_target(
                target_arn=topic,
                message=str(message),
                subject=str(body["subject"]) if body.get("subject") not in (None, "") else None,
                message_attributes=_attributes(body.get("messageAttributes")),
                message_deduplication_id=str(body["messageDeduplicationId"])
                if body.get("messageDeduplicationId")
                else None,
                message_group_id=str(body["messageGroupId"]) if body.get("messageGroupId") else None,
            )
        except Exception as exc:
            outcome = publish_failure(exc, topic, conn_id)
            log.warning("%s: %s", invocation.display_name, outcome.message)
            return outcome
        message_id = str((response or {}).get("MessageId") or "")
        log.info("%s: published message %s to %s", invocation.display_name, message_id, topic)
        return RawOutcome(exit_code=None, result=message_id)
