"""resource and containerSet bodies: load-time checks, conditions and output readers."""

from __future__ import annotations

import pytest

from airflow_argo_provider.kubernetes.objects import (
    evaluate_conditions,
    jq_filter,
    kubectl_arguments,
    parse_flags,
    parse_request,
)
from airflow_argo_provider.manifest import load_paths
from airflow_argo_provider.manifest.resource_syntax import ResourceError, kube_jsonpath, parse_conditions

JOB = {"metadata": {"name": "j", "labels": {"a.b/c": "x"}}, "status": {"succeeded": 3, "phase": "Error"}}


@pytest.mark.parametrize(
    "condition, holds",
    [
        ("status.succeeded > 2", True),
        ("status.succeeded > 3", False),
        ("status.succeeded < 4", True),
        ("status.phase == Error", True),
        ("status.phase = Error", True),
        ("status.phase != Error", False),
        ("status.phase in (Failed, Error)", True),
        ("status.phase notin (Failed, Error)", False),
        ("status.failed", False),
        ("!status.failed", True),
        ("status.missing != x", True),
        ("status.succeeded > 2, status.phase in (Error)", True),
        ("status.succeeded > 2,status.phase == Succeeded", False),
        ("status.phase > 1", False),  # not a number: no match
    ],
)
def test_conditions(condition: str, holds: bool) -> None:
    state = evaluate_conditions(JOB, parse_conditions(condition), [])
    assert state.succeeded is holds


def test_failure_wins_and_names_the_requirement() -> None:
    state = evaluate_conditions(
        JOB, parse_conditions("status.succeeded > 0"), parse_conditions("status.phase in (Error)")
    )
    assert state.failed and state.message == "failure condition 'status.phase in (Error)' evaluated true"


@pytest.mark.parametrize("bad", ["status.x >", "status.x > two", "a in b", "== x", "status.x ~ 1"])
def test_unreadable_conditions(bad: str) -> None:
    with pytest.raises(ResourceError):
        parse_conditions(bad)


def test_jsonpath_and_jq() -> None:
    obj = {"metadata": {"name": "n", "uid": "u"}, "items": [{"a": 1}, {"a": 2}], "spec": {"x": {"y": True}}}
    assert kube_jsonpath("{.metadata.name}", obj) == "n"
    assert kube_jsonpath("{.metadata.name}/{.metadata.uid}", obj) == "n/u"
    assert kube_jsonpath("{.items[*].a}", obj) == "1 2"
    assert kube_jsonpath("{.spec.x}", obj) == '{"y":true}'
    assert jq_filter(".metadata.name", obj) == "n"
    assert jq_filter(".", {"a": [1, "b"]}) == '{"a":[1,"b"]}'
    assert jq_filter(".items[].a", obj) == "1\n2"
    with pytest.raises(ResourceError, match="env"):
        jq_filter("env.HOME", obj)
    with pytest.raises(ResourceError, match=r"\$ENV"):
        jq_filter("$ENV", obj)
    with pytest.raises(ResourceError, match="longer than"):
        jq_filter("[range(1e12)] | length", obj, timeout=1)
    with pytest.raises(ResourceError, match="range"):
        kube_jsonpath("{range .items[*]}{.a}{end}", obj)


def test_kubectl_arguments_follow_argo() -> None:
    create = parse_request({"action": "create", "manifest": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"})
    assert kubectl_arguments(create) == (["create", "-f", "-", "-o", "json"], create.manifest)
    delete = parse_request({"action": "delete", "flags": ["cm", "-l", "a=b"]})
    assert kubectl_arguments(delete) == (["delete", "--ignore-not-found", "cm", "-l", "a=b", "-o", "name"], None)
    patch = parse_request(
        {"action": "patch", "mergeStrategy": "merge", "manifest": "metadata: {labels: {a: b}}", "flags": ["pod", "p1"]}
    )
    assert kubectl_arguments(patch) == (
        ["patch", "--type", "merge", "-p", '{"metadata":{"labels":{"a":"b"}}}', "pod", "p1", "-o", "json"],
        None,
    )
    assert parse_flags(["pod/p1", "-n", "ns", "--validate=false"]).name == "p1"
    with pytest.raises(ResourceError, match="--dry-run"):
        parse_flags(["--dry-run=client"])


BAD = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: bad}
spec:
  entrypoint: main
  templates:
  - name: main
    dag:
      tasks:
      - {name: r, template: r}
      - {name: s, template: s}
  - name: r
    resource:
      action: creat
      successCondition: status.x >
      manifest: |
        kind: Job
        metadata: {name: j}
    outputs:
      parameters:
      - {name: p, valueFrom: {path: /tmp/x}}
      - {name: q, valueFrom: {jqFilter: '$ENV.HOME'}}
      - {name: j, valueFrom: {jsonPath: 'metadata.name'}}
  - name: s
    containerSet:
      containers:
      - {name: a, image: alpine, dependencies: [b]}
      - {name: b, image: alpine, dependencies: [a, z]}
      - {name: c, image: alpine}
      - {name: c, image: alpine}
    outputs:
      parameters: [{name: o, valueFrom: {path: /x}}]
"""


def test_load_time_problems(tmp_path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(BAD)
    problems = {(p.path, p.code) for p in load_paths([path]).problems if not p.note}
    found = {code: where for where, code in problems}
    texts = sorted(f"{code} {where}" for where, code in problems)
    assert "AAP101" not in found and "AAP103" not in found
    expected = [
        "spec.templates[1].resource.action",
        "spec.templates[1].resource.successCondition",
        "spec.templates[1].resource.manifest",
        "spec.templates[1].outputs.parameters[0].valueFrom.path",
        "spec.templates[1].outputs.parameters[1].valueFrom.jqFilter",
        "spec.templates[1].outputs.parameters[2].valueFrom.jsonPath",
        "spec.templates[2].containerSet.containers[3].name",
        "spec.templates[2].containerSet.containers[1].dependencies[1]",
        "spec.templates[2].containerSet.containers",
        "spec.templates[2].outputs",
    ]
    paths = {where for where, _ in problems}
    for where in expected:
        assert where in paths, texts
    assert ("spec.templates[2].containerSet.containers", "AAP022") in problems
    assert ("spec.templates[2].containerSet.containers[3].name", "AAP023") in problems
    assert ("spec.templates[2].containerSet.containers[1].dependencies[1]", "AAP025") in problems
