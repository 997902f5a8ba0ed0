"""The pieces of HTTP steps that need no Airflow run: requests, verdicts, secrets, registration."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from airflow_argo_provider.hooks.secrets import SecretNotFound, kubernetes_secret
from airflow_argo_provider.operators.http import (
    DEFAULT_TIMEOUT_SECONDS,
    TRANSIENT_STATUSES,
    ArgoHttpOperator,
    ArgoKubernetesHttpOperator,
    RequestError,
    build_request,
    canonical_header,
    judge,
)
from airflow_argo_provider.render.backends import operator_class


def no_secrets(name: str, key: str) -> str:
    raise SecretNotFound(f"secret {name!r} has no key {key!r}")


@pytest.mark.parametrize(
    ("name", "canonical"),
    [
        ("content-type", "Content-Type"),
        ("X-MULTI", "X-Multi"),
        ("www-authenticate", "Www-Authenticate"),
        ("etag", "Etag"),
        ("bad header", "bad header"),
    ],
)
def test_canonical_header_names_as_go_has_them(name: str, canonical: str) -> None:
    assert canonical_header(name) == canonical


def test_build_request_defaults_and_fields() -> None:
    request = build_request({"http": {"url": "http://h/x"}}, no_secrets)
    assert (request.method, request.body, request.timeout, request.verify) == (
        "GET",
        b"",
        DEFAULT_TIMEOUT_SECONDS,
        True,
    )
    request = build_request(
        {
            "http": {
                "url": "http://h/x",
                "method": "post",
                "bodyFrom": {"bytes": base64.b64encode(b"\x00raw").decode()},
                "timeoutSeconds": 5,
                "insecureSkipVerify": True,
                "headers": [
                    {"name": "x-a", "value": "1"},
                    {"name": "x-a", "value": "2"},
                    {"name": "X-Key", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
                ],
                "successCondition": "response.statusCode == 201",
            }
        },
        lambda name, key: f"{name}/{key}-value",
    )
    assert request.method == "POST" and request.body == b"\x00raw" and request.timeout == 5.0
    assert request.verify is False and request.condition == "response.statusCode == 201"
    assert request.headers == [("x-a", "1"), ("x-a", "2"), ("X-Key", "s/k-value")]
    # What the success condition sees: literal headers as Argo lists them, never secret ones.
    assert request.visible_headers == {"x-a": ["2"]}
    assert "s/k-value" not in repr(request)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"url": ""}, "http.url is empty"),
        ({"url": "http://h", "bodyFrom": {"bytes": "not base64!"}}, "bodyFrom.bytes is not base64"),
        ({"url": "http://h", "timeoutSeconds": "soon"}, "timeoutSeconds must be a number"),
        (
            {"url": "http://h", "headers": [{"name": "K", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]},
            "header 'K': secret 's' has no key 'k'",
        ),
    ],
)
def test_bad_requests_are_reported_clearly(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(RequestError, match=message):
        build_request({"http": spec}, no_secrets)


def test_optional_missing_secret_header_is_left_out() -> None:
    spec = {"url": "http://h", "headers": [{"name": "K", "valueFrom": {"secretKeyRef": {"optional": True}}}]}
    assert build_request({"http": spec}, no_secrets).headers == []


def test_connection_annotation() -> None:
    template = {"http": {"url": "/x"}, "metadata": {"annotations": {"airflow-argo-provider/http-conn-id": "api"}}}
    assert build_request(template, no_secrets).connection == "api"


def verdict(status: int, condition: str = "", body: str = "{}") -> Any:
    request = build_request({"http": {"url": "http://h/x", "successCondition": condition}}, no_secrets)
    return judge(request, status, "Reason", body, {"Content-Type": ["application/json"]})


@pytest.mark.parametrize("status", [200, 201, 204, 299])
def test_no_condition_means_2xx(status: int) -> None:
    outcome = verdict(status, body="the body")
    assert not outcome.failed and outcome.result == "the body" and outcome.message == ""


@pytest.mark.parametrize("status", [199, 300, 301, 400, 401, 403, 404, 408, 418, 429, 500, 502, 503, 504, 505])
def test_other_statuses_fail_and_only_some_are_transient(status: int) -> None:
    outcome = verdict(status, body="x" * 500)
    assert outcome.failed and outcome.result == "x" * 500
    assert outcome.transient is (status in {408, 429, 500, 502, 503, 504})
    assert outcome.message.startswith(f"received non-2xx response code: {status} Reason; body: 'xxx")
    assert outcome.message.endswith("...'") and len(outcome.message) < 300


def test_transient_statuses_are_exactly_those_documented() -> None:
    assert frozenset({408, 429, 500, 502, 503, 504}) == TRANSIENT_STATUSES


def test_condition_verdicts() -> None:
    assert not verdict(200, 'response.headers["Content-Type"][0] == "application/json"').failed
    false = verdict(200, "response.statusCode == 201", body="  hello \n world ")
    assert false.failed and false.transient is False
    assert (
        false.message
        == "successCondition 'response.statusCode == 201' evaluated false; response 200 Reason; body: 'hello world'"
    )
    # A condition that passes on a 503 is a success; one that fails on a 503 is transient.
    assert not verdict(503, "response.statusCode == 503").failed
    assert verdict(503, "response.statusCode == 200").transient is True
    broken = verdict(200, "response.nothing.deeper == 1")
    assert broken.failed and broken.transient is False and "could not be evaluated" in broken.message
    not_bool = verdict(200, "response.statusCode")
    assert not_bool.failed and "not a boolean" in not_bool.message


def test_backends_register_http_in_both_backends() -> None:
    assert operator_class("local", "http") is ArgoHttpOperator
    assert operator_class("kubernetes", "http") is ArgoKubernetesHttpOperator
    assert ArgoHttpOperator.items_per_task > 1  # a fan-out's requests share a task


def test_http_examples_of_the_corpus_validate(argo_examples) -> None:
    from airflow_argo_provider.manifest import load_paths

    for name in ("http-hello-world.yaml", "http-success-condition.yaml"):
        mset = load_paths([argo_examples / name])
        assert [p for p in mset.problems if not p.note] == [], name


class FakeCoreV1:
    def __init__(self, secrets: dict[tuple[str, str], dict[str, str]]) -> None:
        self.secrets = secrets
        self.calls: list[tuple[str, str]] = []

    def read_namespaced_secret(self, name: str, namespace: str) -> Any:
        from kubernetes.client import V1Secret
        from kubernetes.client.exceptions import ApiException

        self.calls.append((name, namespace))
        if (namespace, name) not in self.secrets:
            raise ApiException(status=404, reason="Not Found")
        data = {k: base64.b64encode(v.encode()).decode() for k, v in self.secrets[(namespace, name)].items()}
        return V1Secret(data=data)


def test_kubernetes_secret_reads_the_cluster(monkeypatch) -> None:
    from airflow.providers.cncf.kubernetes.hooks.kubernetes import KubernetesHook

    fake = FakeCoreV1({("team", "creds"): {"token": "t0ken-value", "user": "me"}})
    monkeypatch.setattr(KubernetesHook, "core_v1_client", property(lambda self: fake))
    assert kubernetes_secret("creds", "token", namespace="team") == "t0ken-value"
    assert json.loads(kubernetes_secret("creds", "", namespace="team")) == {"token": "t0ken-value", "user": "me"}
    with pytest.raises(SecretNotFound, match="has no key 'other'"):
        kubernetes_secret("creds", "other", namespace="team")
    with pytest.raises(SecretNotFound, match="secret 'nope' not found in namespace 'team'"):
        kubernetes_secret("nope", "token", namespace="team")
    assert fake.calls == [("creds", "team")] * 3 + [("nope", "team")]
