"""End-to-end runs of small manifests with the local backend, checked node by node."""

from __future__ import annotations

from tests.conftest import nodes_by_name

STEPS = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: steps-}
spec:
  entrypoint: main
  arguments:
    parameters: [{name: who, value: world}]
  templates:
  - name: main
    steps:
    - - name: hello
        template: say
        arguments: {parameters: [{name: text, value: "hello {{workflow.parameters.who}}"}]}
    - - name: a
        template: say
        arguments: {parameters: [{name: text, value: "{{steps.hello.outputs.result}} from a"}]}
      - name: b
        template: say
        arguments: {parameters: [{name: text, value: b}]}
  - name: say
    inputs: {parameters: [{name: text}]}
    container: {image: busybox, command: [echo, "{{inputs.parameters.text}}"]}
"""


def test_steps_run_in_order_and_pass_outputs(run_workflow) -> None:
    result = run_workflow(STEPS)
    assert result["phase"] == "Succeeded"
    assert result["name"].startswith("steps-") and len(result["name"]) == len("steps-") + 5
    nodes = nodes_by_name(result)
    assert nodes["hello"]["outputs"]["result"] == "hello world"
    assert nodes["a"]["outputs"]["result"] == "hello world from a"
    assert nodes["b"]["outputs"]["result"] == "b"
    assert result["parameters"] == {"who": "world"}


def test_parameters_from_the_command_line(run_workflow) -> None:
    result = run_workflow(STEPS, {"who": "airflow"})
    assert nodes_by_name(result)["a"]["outputs"]["result"] == "hello airflow from a"


def test_jinja_is_never_applied_to_argo_strings(run_workflow) -> None:
    result = run_workflow(STEPS, {"who": "{{ 7*7 }} {% if true %}x{% endif %}"})
    assert nodes_by_name(result)["hello"]["outputs"]["result"] == "hello {{ 7*7 }} {% if true %}x{% endif %}"
