"""Argo's ``retryStrategy`` for Python: on Argo templates, and on any Airflow operator."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from airflow_argo_provider.runtime.retry import RetrySettings

POLICIES = ("Always", "OnFailure", "OnError", "OnTransientError")


@dataclass(frozen=True)
class Backoff:
    """Wait ``duration * factor**(n-1)`` before retry ``n``, at most ``cap``; stop after ``max_duration``.

    Durations are Argo durations: ``"5s"``, ``"1m30s"``, ``"2h"``, or seconds as a number.
    """

    duration: str | int | float | None = None
    factor: int | float | None = None
    max_duration: str | int | float | None = None
    cap: str | int | float | None = None

    def to_argo(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.duration is not None:
            out["duration"] = str(self.duration)
        if self.factor is not None:
            out["factor"] = self.factor
        if self.max_duration is not None:
            out["maxDuration"] = str(self.max_duration)
        if self.cap is not None:
            out["cap"] = str(self.cap)
        return out


@dataclass(frozen=True)
class RetryStrategy:
    """``RetryStrategy(limit=3, policy="OnTransientError", backoff=Backoff("5s", 2))``.

    ``policy``: ``OnFailure`` (the default: the step's own failure), ``OnError`` (infrastructure
    errors), ``OnTransientError`` (transient errors only) or ``Always``. ``expression`` is an
    expr-lang condition over ``lastRetry.{exitCode,status,duration,message}``.
    """

    limit: int | None = None
    policy: str | None = None
    backoff: Backoff | None = None
    expression: str | None = None

    def __post_init__(self) -> None:
        if self.policy is not None and self.policy not in POLICIES:
            raise ValueError(f"policy must be one of {', '.join(POLICIES)}, not {self.policy!r}")
        if self.limit is not None and self.limit < 0:
            raise ValueError("limit must not be negative")

    def to_argo(self) -> dict[str, Any]:
        """The Argo ``retryStrategy`` field."""
        out: dict[str, Any] = {}
        if self.limit is not None:
            out["limit"] = self.limit
        if self.policy is not None:
            out["retryPolicy"] = self.policy
        if self.backoff is not None:
            out["backoff"] = self.backoff.to_argo()
        if self.expression is not None:
            out["expression"] = self.expression
        return out

    def settings(self) -> RetrySettings:
        settings = RetrySettings.from_template(self.to_argo())
        return settings if settings is not None else RetrySettings(limit=self.limit)

    def airflow_kwargs(self) -> dict[str, Any]:
        """``retries``, ``retry_delay`` and ``retry_policy`` for any Airflow operator.

        A plain operator's exception counts as the step's own failure (Failed); connection
        errors and timeouts also count as transient.
        """
        from airflow_argo_provider.operators.retry import ArgoRetryPolicy, supports_retry_policy

        settings = self.settings()
        kwargs: dict[str, Any] = {
            "retries": settings.airflow_retries,
            "retry_delay": timedelta(seconds=settings.duration or 0),
        }
        if supports_retry_policy():
            kwargs["retry_policy"] = ArgoRetryPolicy(settings, plain_operator=True)
        return kwargs

    def apply(self, operator: Any) -> Any:
        """Set this strategy on an existing operator; returns it."""
        for key, value in self.airflow_kwargs().items():
            setattr(operator, key, value)
        return operator
