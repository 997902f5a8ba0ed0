"""Executor-plugin templates this provider runs natively, checked strictly.

hera's model keeps nothing of a ``plugin`` template's body, so the body is checked here from the
raw document: ``plugin: {sns: {topicArn, message, subject, messageAttributes, messageGroupId,
messageDeduplicationId}}``, with ``topicArn`` and ``message`` required, unknown keys reported with
a suggestion, and the syntax of every ``{{...}}`` tag checked.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from typing import Any

from airflow_argo_provider.expressions import ExpressionError, check_template
from airflow_argo_provider.manifest.yaml_source import Path

Finding = tuple[Path, str, str]

SNS_FIELDS = ("topicArn", "message", "subject", "messageAttributes", "messageGroupId", "messageDeduplicationId")
SNS_REQUIRED = ("topicArn", "message")
_STRING_FIELDS = ("topicArn", "message", "subject", "messageGroupId", "messageDeduplicationId")


def plugin_findings(name: str, body: Any, path: Path) -> Iterator[Finding]:
    """Problems of one natively run plugin's body (``path`` is the path of ``plugin.NAME``)."""
    if name == "sns":
        yield from sns_findings(body, path)


def _scalar(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool))


def _check_text(value: Any, path: Path) -> Iterator[Finding]:
    if isinstance(value, str) and "{{" in value:
        try:
            check_template(value)
        except ExpressionError as exc:
            yield path, "AAP028", str(exc)


def sns_findings(body: Any, path: Path) -> Iterator[Finding]:
    if not isinstance(body, dict):
        yield path, "AAP010", "the sns plugin needs a mapping with topicArn and message"
        return
    for key in body:
        if key not in SNS_FIELDS:
            close = difflib.get_close_matches(str(key), SNS_FIELDS, n=1, cutoff=0.6)
            lowered = {f.lower(): f for f in SNS_FIELDS}.get(str(key).lower())
            hint = close[0] if close else lowered
            message = (
                f"unknown field; did you mean {hint}?" if hint else f"unknown field (sns takes {', '.join(SNS_FIELDS)})"
            )
            yield (*path, key), "AAP011", message
    for key in SNS_REQUIRED:
        if body.get(key) in (None, ""):
            yield (*path, key), "AAP010", "required field is missing"
    for key in _STRING_FIELDS:
        value = body.get(key)
        if value is None:
            continue
        if not _scalar(value):
            yield (*path, key), "AAP010", f"must be a string (got {type(value).__name__})"
        else:
            yield from _check_text(value, (*path, key))
    attributes = body.get("messageAttributes")
    if attributes is None:
        return
    if not isinstance(attributes, dict):
        yield (*path, "messageAttributes"), "AAP010", "must be a mapping of attribute name: value"
        return
    for name, value in attributes.items():
        where = (*path, "messageAttributes", name)
        if isinstance(value, list):
            if not all(_scalar(v) for v in value):
                yield where, "AAP010", "a list attribute holds strings or numbers only"
            for index, item in enumerate(value):
                yield from _check_text(item, (*where, index))
        elif not _scalar(value):
            yield where, "AAP010", "an attribute is a string, a number or a list of them"
        else:
            yield from _check_text(value, where)
