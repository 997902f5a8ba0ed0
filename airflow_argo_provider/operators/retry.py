"""Airflow's retry hook running an Argo ``retryStrategy`` (Airflow 3.3+ retry policies).

A step is retried by Airflow itself, with exactly Argo's delays and stop rules
(:class:`~airflow_argo_provider.runtime.retry.RetrySettings`).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from airflow_argo_provider.runtime.records import FAILED
from airflow_argo_provider.runtime.retry import Failure, NodeFailure, RetrySettings, failure_of, is_transient

try:
    from airflow.sdk import RetryDecision, RetryPolicy
except ImportError:  # pragma: no cover - Airflow before 3.3: plain retries, see retry_arguments
    RetryPolicy = object  # type: ignore[assignment,misc]
    RetryDecision = None  # type: ignore[assignment,misc]


def _first_attempt_key(ti: Any) -> str:
    return f"argo-provider:first-attempt:{ti.dag_id}:{ti.run_id}:{ti.task_id}:{ti.map_index}"


def first_attempt_elapsed(ti: Any, try_number: int) -> float:
    """Seconds since the first attempt of this task instance started.

    Airflow keeps only the current try's start, so the first one is remembered in an
    Airflow Variable while retries are pending (only for ``maxDuration``).
    """
    from airflow.sdk import Variable

    now = datetime.now(timezone.utc)
    start = getattr(ti, "start_date", None) or now
    key = _first_attempt_key(ti)
    if try_number <= 1:
        Variable.set(key, start.isoformat())
        return (now - start).total_seconds()
    stored = Variable.get(key, default=None)
    first = datetime.fromisoformat(stored) if stored else start
    return (now - first).total_seconds()


def forget_first_attempt(ti: Any) -> None:
    from airflow.sdk import Variable

    try:
        Variable.delete(_first_attempt_key(ti))
    except Exception:
        pass


class ArgoRetryPolicy(RetryPolicy):
    """Airflow retry policy applying a template's ``retryStrategy``."""

    def __init__(self, settings: RetrySettings, plain_operator: bool = False) -> None:
        self.settings = settings
        # On an operator that is not an Argo step, an exception is the step's own failure.
        self.plain_operator = plain_operator

    def evaluate(self, exception: BaseException, try_number: int, max_tries: int, context: Any = None) -> Any:
        failure = plain_failure(exception) if self.plain_operator else failure_of(exception)
        elapsed = None
        if self.settings.max_duration is not None and context is not None:
            elapsed = first_attempt_elapsed(context["ti"], try_number)
        retry, delay, reason = self.settings.decide(failure, try_number - 1, elapsed)
        if not retry:
            return RetryDecision.fail(reason=reason)
        return RetryDecision.retry(delay=timedelta(seconds=delay), reason=reason)

    def serialize(self) -> dict[str, Any]:
        return {"__type": "ArgoRetryPolicy", "settings": self.settings.__dict__, "plain": self.plain_operator}

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> ArgoRetryPolicy:
        return cls(RetrySettings(**data["settings"]), bool(data.get("plain")))


def plain_failure(exception: BaseException) -> Failure:
    """How a plain Airflow operator's exception looks to the retry rules: Failed, and transient
    for connection errors and timeouts (or a transient message)."""
    if isinstance(exception, NodeFailure):
        return exception.failure
    message = f"{type(exception).__name__}: {exception}"
    transient = isinstance(exception, (ConnectionError, TimeoutError)) or is_transient(message)
    return Failure(FAILED, message, transient=transient)


def supports_retry_policy() -> bool:
    return RetryPolicy is not object
