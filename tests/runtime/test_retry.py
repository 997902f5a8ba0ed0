"""Argo's retry rules: policies, limits, backoff, expressions."""

from __future__ import annotations

import pytest

from airflow_argo_provider.runtime.retry import Failure, RetrySettings, is_transient, parse_duration


def test_durations() -> None:
    assert parse_duration("5s") == 5
    assert parse_duration("1m30s") == 90
    assert parse_duration("2") == 2
    assert parse_duration("1d") == 86400
    assert parse_duration(None) is None
    with pytest.raises(ValueError):
        parse_duration("five")


def test_backoff_delays_and_cap() -> None:
    s = RetrySettings.from_template({"limit": 5, "backoff": {"duration": "2s", "factor": 2, "cap": "10s"}})
    assert s is not None
    assert [s.delay(n) for n in (1, 2, 3, 4, 5)] == [2, 4, 8, 10, 10]
    constant = RetrySettings.from_template({"limit": 2, "backoff": {"duration": "3"}})
    assert constant is not None and [constant.delay(n) for n in (1, 2)] == [3, 3]


def test_policies() -> None:
    failed, error = Failure("Failed", "exit 1"), Failure("Error", "pod deleted")
    on_failure = RetrySettings(limit=3)
    assert on_failure.policy_allows(failed) and not on_failure.policy_allows(error)
    on_error = RetrySettings(limit=3, policy="OnError")
    assert on_error.policy_allows(error) and not on_error.policy_allows(failed)
    always = RetrySettings(limit=3, policy="Always")
    assert always.policy_allows(failed) and always.policy_allows(error)
    transient = RetrySettings(limit=3, policy="OnTransientError")
    assert transient.policy_allows(Failure("Error", "dial tcp: connect: connection refused"))
    assert not transient.policy_allows(Failure("Failed", "exit code 1"))
    assert transient.policy_allows(Failure("Failed", "503", transient=True))
    assert is_transient("read: connection reset by peer")


def test_decide_limit_expression_and_max_duration() -> None:
    s = RetrySettings(limit=2, duration=1.0, factor=2)
    assert s.decide(Failure("Failed"), 0, None)[:2] == (True, 1.0)
    assert s.decide(Failure("Failed"), 1, None)[:2] == (True, 2.0)
    assert s.decide(Failure("Failed"), 2, None) == (False, 0.0, "No more retries left")
    expr = RetrySettings(limit=5, policy="Always", expression="asInt(lastRetry.exitCode) > 1")
    assert expr.decide(Failure("Failed", exit_code="2"), 0, None)[0]
    assert not expr.decide(Failure("Failed", exit_code="1"), 0, None)[0]
    capped = RetrySettings(limit=10, duration=5.0, max_duration=8.0)
    assert capped.decide(Failure("Failed"), 0, 1.0)[0]
    assert capped.decide(Failure("Failed"), 1, 4.0)[2] == "Backoff would exceed max duration limit"
    assert capped.decide(Failure("Failed"), 1, 9.0)[2] == "Max duration limit exceeded"
    assert RetrySettings.from_template({}) is None
    assert RetrySettings(limit=None).airflow_retries > 1000
