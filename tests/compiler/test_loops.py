"""Fan-outs of all three kinds, fan-in aggregation, empty lists, groups and chunking."""

from __future__ import annotations

import json

from tests.conftest import nodes_by_name

LOOPS = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: loops-}
spec:
  entrypoint: main
  arguments:
    parameters: [{name: count, value: "3"}]
  templates:
  - name: main
    dag:
      tasks:
      - name: maps
        template: describe
        withItems:
        - {os: debian, version: 9}
        - {os: ubuntu, version: 20.04}
        arguments:
          parameters:
          - {name: text, value: "{{item.os}} {{item.version}}"}
          - {name: whole, value: "{{item}}"}
      - name: seq
        template: square
        withSequence: {count: "{{workflow.parameters.count}}", start: "1"}
        arguments: {parameters: [{name: n, value: "{{item}}"}]}
      - name: gen
        template: gen
      - name: param
        template: square
        dependencies: [gen]
        withParam: "{{tasks.gen.outputs.result}}"
        arguments: {parameters: [{name: n, value: "{{item.n}}"}]}
      - {name: after-seq, template: echo, dependencies: [seq], arguments: {parameters: [{name: text, value: after}]}}
      - name: total
        template: echo
        dependencies: [seq, param]
        arguments:
          parameters:
          - {name: text, value: "{{tasks.seq.outputs.result}} {{tasks.seq.outputs.parameters.double}} {{tasks.param.outputs.result}}"}
  - name: describe
    inputs: {parameters: [{name: text}, {name: whole}]}
    container: {image: busybox, command: [echo, "{{inputs.parameters.text}} | {{inputs.parameters.whole}}"]}
  - name: square
    inputs: {parameters: [{name: n}]}
    outputs:
      parameters:
      - name: double
        valueFrom: {path: /tmp/double.txt}
    script:
      image: python:alpine3.23
      command: [python]
      source: |
        n = int("{{inputs.parameters.n}}")
        open("/tmp/double.txt", "w").write(str(2 * n))
        print({"n": n, "square": n * n}.__repr__().replace("'", '"'))
  - name: gen
    script:
      image: python:alpine3.23
      command: [python]
      source: |
        import json
        print(json.dumps([{"n": 7}, {"n": 8}]))
  - name: echo
    inputs: {parameters: [{name: text}]}
    container: {image: busybox, command: [echo, "{{inputs.parameters.text}}"]}
"""


def test_items_sequence_and_param_fan_out_and_aggregate(run_workflow) -> None:
    result = run_workflow(LOOPS)
    assert result["phase"] == "Succeeded", result
    nodes = nodes_by_name(result)
    assert nodes["maps(0:os:debian,version:9)"]["outputs"]["result"] == 'debian 9 | {"os":"debian","version":9}'
    assert nodes["maps(1:os:ubuntu,version:20.04)"]["outputs"]["result"].startswith("ubuntu 20.04 | ")
    assert nodes["maps"]["type"] == "TaskGroup"
    assert [n for n in nodes if n.startswith("seq(")] == ["seq(0:1)", "seq(1:2)", "seq(2:3)"]
    assert [n for n in nodes if n.startswith("param(")] == ["param(0:n:7)", "param(1:n:8)"]
    seq_result, doubles, param_result = nodes["total"]["outputs"]["result"].split(" ")
    assert json.loads(seq_result) == [{"n": 1, "square": 1}, {"n": 2, "square": 4}, {"n": 3, "square": 9}]
    assert json.loads(doubles) == ["2", "4", "6"]
    assert json.loads(param_result) == [{"n": 7, "square": 49}, {"n": 8, "square": 64}]


def test_sequence_count_from_a_run_time_parameter(run_workflow) -> None:
    result = run_workflow(LOOPS, {"count": "5"})
    nodes = nodes_by_name(result)
    assert len([n for n in nodes if n.startswith("seq(")]) == 5
    assert json.loads(nodes["total"]["outputs"]["result"].split(" ")[1]) == ["2", "4", "6", "8", "10"]


def test_empty_list_is_skipped_and_dependents_run(run_workflow) -> None:
    result = run_workflow(LOOPS, {"count": "0"})
    nodes = nodes_by_name(result)
    assert nodes["seq"]["phase"] == "Skipped"
    assert nodes["seq"]["message"] == "Skipped, empty params"
    assert not [n for n in nodes if n.startswith("seq(")]
    assert nodes["after-seq"]["phase"] == "Succeeded"
    # A skipped node has no outputs: an argument made of them is not supplied (as in Argo).
    assert nodes["total"]["phase"] == "Error"
    assert nodes["total"]["message"] == "inputs.parameters.text was not supplied"


GROUP_FANOUT = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: group-fanout}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - name: per-city
        template: pipeline
        withItems: [paris, rome]
        arguments: {parameters: [{name: city, value: "{{item}}"}]}
    - - name: report
        template: echo
        arguments: {parameters: [{name: text, value: "{{steps.per-city.outputs.parameters.summary}}"}]}
  - name: pipeline
    inputs: {parameters: [{name: city}]}
    outputs:
      parameters:
      - name: summary
        valueFrom: {parameter: "{{steps.shout.outputs.result}}"}
    steps:
    - - name: fetch
        template: echo
        arguments: {parameters: [{name: text, value: "{{inputs.parameters.city}}"}]}
    - - name: shout
        template: upper
        arguments: {parameters: [{name: text, value: "{{steps.fetch.outputs.result}}"}]}
      - name: letters
        template: echo
        withItems: [a, b]
        arguments: {parameters: [{name: text, value: "{{inputs.parameters.city}}-{{item}}"}]}
  - name: echo
    inputs: {parameters: [{name: text}]}
    container: {image: busybox, command: [echo, "{{inputs.parameters.text}}"]}
  - name: upper
    inputs: {parameters: [{name: text}]}
    container: {image: busybox, command: [sh, -c, "echo {{inputs.parameters.text}} | tr a-z A-Z"]}
"""


def test_fan_out_over_a_steps_template_is_a_mapped_group(run_workflow) -> None:
    result = run_workflow(GROUP_FANOUT)
    assert result["phase"] == "Succeeded", result
    nodes = result["nodes"]
    names = [n["displayName"] for n in nodes]
    assert "per-city(0:paris)" in names and "per-city(1:rome)" in names
    # An inner fan-out of a mapped group runs its items inside one task, and still names them.
    assert names.count("letters(0:a)") == 2 and names.count("letters(1:b)") == 2
    report = nodes_by_name(result)["report"]
    assert json.loads(report["outputs"]["result"]) == ["PARIS", "ROME"]


CHUNKED = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: chunked}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - name: each
        template: double
        withSequence: {count: "{{workflow.parameters.n}}"}
        arguments: {parameters: [{name: n, value: "{{item}}"}]}
    - - name: sum
        template: total
        arguments: {parameters: [{name: values, value: "{{steps.each.outputs.result}}"}]}
  - name: double
    inputs: {parameters: [{name: n}]}
    container: {image: busybox, command: [sh, -c, "echo $(( {{inputs.parameters.n}} * 2 ))"]}
  - name: total
    inputs: {parameters: [{name: values}]}
    script:
      image: python:alpine3.23
      command: [python]
      source: |
        import json
        values = json.loads('''{{inputs.parameters.values}}''')
        print(json.dumps({"count": len(values), "sum": sum(values), "ordered": values == sorted(values)}))
  arguments:
    parameters: [{name: n, value: "3000"}]
"""


def test_fan_out_beyond_max_map_length_is_chunked_and_exact(run_workflow, monkeypatch) -> None:
    # 3,000 items, at most 100 task instances: 100 chunks of 30 items, each chunk one mapped task instance.
    monkeypatch.setenv("AIRFLOW__CORE__MAX_MAP_LENGTH", "100")
    result = run_workflow(CHUNKED)
    assert result["phase"] == "Succeeded", result["message"]
    nodes = nodes_by_name(result)
    children = [n for n in result["nodes"] if n["displayName"].startswith("each(")]
    assert len(children) == 3000
    assert [c["displayName"] for c in children[:2]] == ["each(0:0)", "each(1:1)"]
    assert json.loads(nodes["sum"]["outputs"]["result"]) == {
        "count": 3000,
        "sum": 2 * sum(range(3000)),
        "ordered": True,
    }


def test_chunked_and_unchunked_runs_give_identical_results(run_workflow, monkeypatch) -> None:
    unchunked = run_workflow(CHUNKED, {"n": "40"})
    monkeypatch.setenv("AIRFLOW__CORE__MAX_MAP_LENGTH", "7")
    chunked = run_workflow(CHUNKED, {"n": "40"})

    def view(result: dict) -> list:
        return [(n["displayName"], n["phase"], n["outputs"].get("result")) for n in result["nodes"][1:]]

    assert view(chunked) == view(unchunked)
    assert chunked["phase"] == unchunked["phase"] == "Succeeded"
