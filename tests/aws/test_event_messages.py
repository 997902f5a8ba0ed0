"""The per-message logic of the dispatcher: gjson paths, Go templates, filters, parameters, run ids."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_argo_provider.events.messages import (
    MessageError,
    decide_all,
    event_data,
    parameters_for,
    passes_filters,
    resolve_parameter,
    run_id_for,
)
from airflow_argo_provider.events.model import DataFilter, Dispatch, Parameter, SqsSource, Target
from airflow_argo_provider.expressions import gjson
from airflow_argo_provider.expressions.gotemplate import TemplateError, as_go_data, check_template, render

S3_EVENT = {
    "Records": [
        {
            "eventName": "ObjectCreated:Put",
            "s3": {"bucket": {"name": "landing"}, "object": {"key": "in/a b.csv", "size": 1000000, "tags": None}},
        }
    ]
}
SOURCE = SqsSource(event_source="uploads", event_name="landing", queue_url="http://q/1/landing", json_body=True)


def data(body: Any = None) -> dict[str, Any]:
    return event_data({"MessageId": "m-1", "Body": json.dumps(S3_EVENT if body is None else body)}, SOURCE)


# -- gjson ------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("body.Records.0.s3.bucket.name", "landing"),
        ("body.Records.0.s3.object.size", "1000000"),
        ("body.Records.0.s3.object.tags", "null"),
        ("body.Records.#", "1"),
        ("body.Records.#.eventName", '["ObjectCreated:Put"]'),
        ("body.Records.0.s3.bucket", '{"name":"landing"}'),
        ("body.Rec*.0.event?ame", "ObjectCreated:Put"),
        ("messageId", "m-1"),
    ],
)
def test_gjson_paths(path: str, expected: str) -> None:
    assert gjson.as_string(gjson.get(data(), path)) == expected


def test_gjson_escapes_missing_values_and_unsupported_syntax() -> None:
    assert gjson.get({"a.b": {"c": 1}}, r"a\.b.c") == 1
    assert gjson.get(data(), "body.Records.1.s3") is gjson.MISSING
    assert gjson.get(data(), "body.Records.x") is gjson.MISSING
    assert gjson.get(data(), "body.nothing.here") is gjson.MISSING
    for bad in ("a..b", "a|b", "a.@reverse", "#(a==1)", ""):
        with pytest.raises(gjson.PathError):
            gjson.check_path(bad)


def test_gjson_floats_print_like_go() -> None:
    assert gjson.as_string(1.5e-7) == "0.00000015"
    assert gjson.as_string(2.0) == "2"
    assert gjson.as_string(12.25) == "12.25"


# -- Go templates ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ (index .Input.body.Records 0).s3.object.key }}", "in/a b.csv"),
        ("s3://{{ (index .Input.body.Records 0).s3.bucket.name | upper }}/x", "s3://LANDING/x"),
        ("{{ (index .Input.body.Records 0).s3.object.size }}", "1e+06"),
        ("{{ (index .Input.body.Records 0).s3.object.tags }}", "<nil>"),
        ("{{ .Input.body.missing }}", "<no value>"),
        ('{{ index .Input.body.Records 0 "s3" "object" "key" | urlquery }}', "in%2Fa+b.csv"),
        ('{{ len .Input.body.Records }} {{ printf "%s=%d" "n" 3 }}', "1 n=3"),
        ('{{ default "none" .Input.body.missing }}', "none"),
        ("{{ if1 := 3 }}", None),
        ('a {{- " b " -}} c', "a b c"),
        ("{{/* a comment */}}x", "x"),
        ("{{ and .Input.body.Records .Input.messageId }}", "m-1"),
        ('{{ eq .Input.messageId "m-1" "m-2" }}', "true"),
        ("{{ $.Input.messageId }}", "m-1"),
    ],
)
def test_go_templates(template: str, expected: str | None) -> None:
    if expected is None:
        with pytest.raises(TemplateError):
            render(template, {"Input": as_go_data(data())})
        return
    assert render(template, {"Input": as_go_data(data())}) == expected


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{ if .Input }}x{{ end }}", "'if' actions are not supported"),
        ("{{ range .Input }}x{{ end }}", "'range' actions are not supported"),
        ("{{ $x := 1 }}", "variables ($x) are not supported"),
        ("{{ .Input.body.Records.0 }}", "'.0' is not a field name; use (index X 0)"),
        ('{{ exec "ls" }}', 'function "exec" not defined'),
        ("{{ .Input", "unclosed action"),
        ("{{ (.Input }}", "unclosed left paren"),
    ],
)
def test_go_template_syntax_errors(template: str, message: str) -> None:
    with pytest.raises(TemplateError, match=re.escape(message)):
        check_template(template)


def test_go_templates_only_read_json_data() -> None:
    # Field names are map keys, never Python attributes.
    assert render("{{ .Input.__class__ }}", {"Input": {}}) == "<no value>"
    with pytest.raises(TemplateError, match="can't evaluate field __class__ in type string"):
        render("{{ .Input.__class__ }}", {"Input": "text"})
    with pytest.raises(TemplateError, match="nested too deeply"):
        check_template("{{ " + "(" * 100 + ".Input" + ")" * 100 + " }}")
    with pytest.raises(TemplateError, match="exceeded the work limit|exceeds the limit"):
        render('{{ repeat 2000000 "ab" }}', {"Input": {}})


# -- filters ------------------------------------------------------------------------------------------------------------
def f(path: str, kind: str, values: list[str], comparator: str = "", template: str = "") -> DataFilter:
    return DataFilter(path=path, type=kind, values=values, comparator=comparator, template=template)


def test_data_filters() -> None:
    event = data()
    created = f("body.Records.0.eventName", "string", ["^ObjectCreated:"])
    removed = f("body.Records.0.eventName", "string", ["^ObjectRemoved:"])
    big = f("body.Records.0.s3.object.size", "number", ["1000"], ">=")
    small = f("body.Records.0.s3.object.size", "number", ["1000"], "<")
    assert passes_filters(event, [created, big]) == (True, "")
    ok, reason = passes_filters(event, [created, small])
    assert not ok and "not < any of ['1000']" in reason
    assert passes_filters(event, [removed, big], "or") == (True, "")
    assert passes_filters(event, [f("body.Records.0.eventName", "string", ["^ObjectCreated:"], "!=")])[0] is False
    assert passes_filters(event, [f("body.Records.0.s3.object.tags", "bool", ["false"])]) == (True, "")
    ok, reason = passes_filters(data({"Service": "Amazon S3", "Event": "s3:TestEvent"}), [created])
    assert not ok and reason == "path 'body.Records.0.eventName' does not exist"
    by_template = f(
        "body.Records.0.s3.object.key", "string", ["^CSV$"], template='{{ .Input | trimPrefix "in/a b." | upper }}'
    )
    assert passes_filters(event, [by_template]) == (True, "")


# -- parameters -----------------------------------------------------------------------------------------------------------
def p(name: str, **kwargs: Any) -> Parameter:
    return Parameter(dest_name=name, dest="spec.arguments.parameters.0.value", **kwargs)


def test_parameter_sources_fall_back_like_argo_events() -> None:
    event = data()
    assert resolve_parameter(event, p("b", data_key="body.Records.0.s3.bucket.name")) == "landing"
    template = "{{ (index .Input.body.Records 0).s3.object.key }}"
    assert resolve_parameter(event, p("k", data_template=template)) == "in/a b.csv"
    # A template that gives nothing falls back to the key, then to the value.
    assert resolve_parameter(event, p("k", data_template="{{ .Input.nope }}", data_key="messageId")) == "m-1"
    assert resolve_parameter(event, p("k", data_key="body.nope", default="fallback")) == "fallback"
    assert resolve_parameter(event, p("k", default="constant")) == "constant"
    assert json.loads(resolve_parameter(event, p("whole")))["body"] == S3_EVENT
    with pytest.raises(MessageError) as missing:
        resolve_parameter(event, p("k", data_template="{{ .Input.nope }}", data_key="body.nope"))
    assert str(missing.value) == (
        "parameter 'k': dataTemplate '{{ .Input.nope }}' evaluated to empty string or no value; "
        "key 'body.nope' does not exist in the event payload"
    )


def test_parameter_operations() -> None:
    target = Target(
        name="t",
        dag_id="wf",
        parameters=[
            p("path", data_key="body.Records.0.s3.object.key", operation="append", current="s3://landing/"),
            p("tag", data_key="messageId", operation="prepend", current="-v1"),
            p("plain", data_key="messageId", current="ignored"),
        ],
    )
    assert parameters_for(data(), target) == {"path": "s3://landing/in/a b.csv", "tag": "m-1-v1", "plain": "m-1"}


def test_event_data_without_json_body_keeps_the_text() -> None:
    source = SqsSource(event_source="s", event_name="e", queue_url="http://q/1/x", metadata={"team": "data"})
    event = event_data({"MessageId": "m", "Body": "plain text", "MessageAttributes": {"a": 1}}, source)
    assert event == {
        "messageId": "m",
        "messageAttributes": {"a": 1},
        "body": "plain text",
        "metadata": {"team": "data"},
    }
    with pytest.raises(MessageError, match="the body is not valid JSON"):
        event_data({"MessageId": "m", "Body": "plain text"}, SOURCE)
    with pytest.raises(MessageError, match="no MessageId"):
        event_data({"Body": "{}"}, SOURCE)


# -- decisions and run ids ----------------------------------------------------------------------------------------------
def dispatch() -> Dispatch:
    return Dispatch(
        dag_id="process-uploads",
        sensor="process-uploads",
        source=SOURCE,
        dependency="upload",
        filters=[f("body.Records.0.eventName", "string", ["^ObjectCreated:"])],
        targets=[
            Target(name="process", dag_id="wf", parameters=[p("bucket", data_key="body.Records.0.s3.bucket.name")])
        ],
    )


def test_decisions_deduplicate_a_message_received_twice() -> None:
    good = {"MessageId": "m-1", "ReceiptHandle": "r1", "Body": json.dumps(S3_EVENT)}
    again = {**good, "ReceiptHandle": "r2"}
    test_event = {"MessageId": "m-2", "ReceiptHandle": "r3", "Body": json.dumps({"Event": "s3:TestEvent"})}
    broken = {"MessageId": "m-3", "ReceiptHandle": "r4", "Body": "nope"}
    first, filtered, failed = decide_all([good, test_event, again, broken], dispatch())
    assert (first.action, first.receipt_handles) == ("trigger", ["r1", "r2"])
    (run,) = first.runs
    assert (run.dag_id, run.run_id, run.conf) == ("wf", "event__process-uploads__process__m-1", {"bucket": "landing"})
    assert (filtered.action, filtered.reason) == (
        "filtered",
        "dependency 'upload': path 'body.Records.0.eventName' does not exist",
    )
    assert failed.action == "error" and failed.reason.startswith("the body is not valid JSON")


@given(st.text(min_size=1, max_size=300), st.text(min_size=1, max_size=300))
def test_run_ids_are_valid_deterministic_and_distinct(first: str, second: str) -> None:
    plan = dispatch()
    target = plan.targets[0]
    a, b = run_id_for(plan, target, first), run_id_for(plan, target, second)
    assert a == run_id_for(plan, target, first)
    assert len(a) <= 250 and re.fullmatch(r"[A-Za-z0-9_.~:+-]+", a)
    assert (a == b) == (first == second)
