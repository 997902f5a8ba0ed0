"""Argo's ``retryStrategy``: which failures are retried, how often, and how long to wait.

:class:`RetrySettings` is the pure part (also used for retries inside one task, in batched
fan-outs). :class:`ArgoRetryPolicy` plugs it into Airflow's retry policy hook, so a step is
retried by Airflow itself with exactly Argo's delays: the wait before retry ``n`` is
``duration * factor**(n-1)``, capped by ``cap``, and ``maxDuration`` (counted from the start
of the first attempt) stops retrying.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

from airflow_argo_provider.expressions import ExpressionError, evaluate
from airflow_argo_provider.manifest.durations import parse_duration
from airflow_argo_provider.runtime.records import ERROR, FAILED

# Without `limit` Argo retries forever; Airflow needs a number.
UNLIMITED_RETRIES = 10_000


# Messages Argo treats as transient (util/errors IsTransientErr), plus the Kubernetes API's
# quota, throttling, timeout and unavailable errors, plus TRANSIENT_ERROR_PATTERN.
_TRANSIENT = re.compile(
    "|".join(
        re.escape(text)
        for text in (
            "Connection closed by foreign host",
            "net/http: TLS handshake timeout",
            "i/o timeout",
            "connection timed out",
            "connection reset by peer",
            "http2: client connection lost",
            "connect: connection refused",
            "invalid connection",
            "etcdserver: leader changed",
            "etcdserver: request timed out",
            "etcdserver: too many requests",
            "upper: no more rows in",
            "exceeded quota",
            "Too Many Requests",
            "the server was unable to return a response in the time allotted",
            "the server is currently unable to handle the request",
        )
    )
)


def container_set_retry(template: Any) -> tuple[int, int]:
    """``containerSet.retryStrategy``: retries of each container, and whole seconds between
    attempts (both backends retry a failing container in place). ValueError when malformed."""
    import math

    retry = (template.get("containerSet") or {}).get("retryStrategy") or {}
    try:
        retries = int(str(retry.get("retries") or 0))
        delay = parse_duration(retry.get("duration")) or 0.0
    except ValueError as exc:
        raise ValueError(f"containerSet.retryStrategy: {exc}") from None
    return max(retries, 0), math.ceil(delay)


def is_transient(message: str) -> bool:
    pattern = os.environ.get("TRANSIENT_ERROR_PATTERN")
    if pattern:
        try:
            if re.search(pattern, message):
                return True
        except re.error:
            pass
    return bool(_TRANSIENT.search(message))


@dataclass(frozen=True)
class Failure:
    """How an attempt ended, as the retry rules see it."""

    phase: str  # Failed or Error
    message: str = ""
    exit_code: str | None = None
    duration: float = 0.0
    transient: bool | None = None  # None: decide from the message
    expression: str | None = None  # the retry expression with the invocation's variables substituted


@dataclass(frozen=True)
class RetrySettings:
    limit: int | None
    policy: str = "OnFailure"
    duration: float | None = None
    factor: float | None = None
    cap: float | None = None
    max_duration: float | None = None
    expression: str | None = None

    @classmethod
    def from_template(cls, spec: dict[str, Any] | None) -> RetrySettings | None:
        """The settings of a template's ``retryStrategy`` (None when it has none)."""
        if not spec:
            return None
        limit = spec.get("limit")
        backoff = spec.get("backoff") or {}
        factor = backoff.get("factor")
        return cls(
            limit=int(limit) if limit not in (None, "") and str(limit).lstrip("-").isdigit() else None,
            policy=spec.get("retryPolicy") or ("Always" if spec.get("expression") else "OnFailure"),
            duration=parse_duration(backoff.get("duration")),
            factor=float(factor) if factor not in (None, "") else None,
            cap=parse_duration(backoff.get("cap")),
            max_duration=parse_duration(backoff.get("maxDuration")),
            expression=spec.get("expression"),
        )

    @property
    def airflow_retries(self) -> int:
        return UNLIMITED_RETRIES if self.limit is None else max(self.limit, 0)

    def delay(self, retry_number: int) -> float:
        """Seconds to wait before retry ``retry_number`` (1 for the first retry).

        As in Argo, there is no backoff wait when ``limit`` is unset.
        """
        if self.limit is None:
            return 0.0
        wait = self.duration or 0.0
        if self.factor and self.factor > 0:
            wait = wait * self.factor ** max(retry_number - 1, 0)
        if self.cap is not None:
            wait = min(wait, self.cap)
        return wait

    def policy_allows(self, failure: Failure) -> bool:
        if self.policy == "Always":
            return True
        if self.policy == "OnError":
            return failure.phase == ERROR
        if self.policy == "OnTransientError":
            transient = failure.transient if failure.transient is not None else is_transient(failure.message)
            return failure.phase in (ERROR, FAILED) and transient
        return failure.phase == FAILED  # OnFailure

    def decide(self, failure: Failure, retries_done: int, elapsed: float | None) -> tuple[bool, float, str]:
        """``(retry?, delay seconds, reason)`` after an attempt failed.

        ``retries_done`` counts the retries already made; ``elapsed`` is the time since the
        first attempt started (for ``maxDuration``), when known.
        """
        if self.limit is not None and retries_done >= self.limit:
            return False, 0.0, "No more retries left"
        if not self.policy_allows(failure):
            return False, 0.0, f"retryPolicy {self.policy} does not retry this failure ({failure.phase})"
        expression = failure.expression or self.expression
        if expression:
            env = {
                "lastRetry": {
                    "exitCode": failure.exit_code if failure.exit_code is not None else "-1",
                    "status": failure.phase,
                    "duration": str(int(failure.duration)),
                    "message": failure.message,
                }
            }
            try:
                if not evaluate(expression, env):
                    return False, 0.0, "retryStrategy.expression evaluated to false"
            except ExpressionError as exc:
                return False, 0.0, f"retryStrategy.expression failed: {exc}"
        delay = self.delay(retries_done + 1)
        if self.max_duration is not None and elapsed is not None:
            if elapsed > self.max_duration:
                return False, 0.0, "Max duration limit exceeded"
            if elapsed + delay > self.max_duration:
                return False, 0.0, "Backoff would exceed max duration limit"
        return True, delay, f"retry {retries_done + 1} in {delay:g}s"


class NodeFailure(Exception):
    """A step ended Failed or Error; carries what the retry rules need."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.message or failure.phase)
        self.failure = failure


def failure_of(exception: BaseException) -> Failure:
    if isinstance(exception, NodeFailure):
        return exception.failure
    return Failure(ERROR, f"{type(exception).__name__}: {exception}")
