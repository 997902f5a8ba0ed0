"""DAG templates: dependencies, enhanced depends, when, continueOn, targets and phases."""

from __future__ import annotations

from tests.conftest import nodes_by_name

HEADER = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: dag-test}
spec:
  entrypoint: main
  templates:
  - name: say
    inputs: {parameters: [{name: text}]}
    container: {image: busybox, command: [echo, "{{inputs.parameters.text}}"]}
  - name: fail
    container: {image: busybox, command: [sh, -c, "echo failing; exit 3"]}
"""


def dag(tasks: str, extra: str = "") -> str:
    return (
        HEADER
        + f"""
  - name: main
{extra}    dag:
      tasks:
{tasks}"""
    )


def test_diamond_passes_outputs_along_its_edges(run_workflow) -> None:
    result = run_workflow(
        dag("""
      - {name: A, template: say, arguments: {parameters: [{name: text, value: a}]}}
      - {name: B, template: say, dependencies: [A], arguments: {parameters: [{name: text, value: "{{tasks.A.outputs.result}}b"}]}}
      - {name: C, template: say, dependencies: [A], arguments: {parameters: [{name: text, value: "{{tasks.A.outputs.result}}c"}]}}
      - name: D
        template: say
        dependencies: [B, C]
        arguments: {parameters: [{name: text, value: "{{tasks.B.outputs.result}}+{{tasks.C.outputs.result}}"}]}
""")
    )
    assert result["phase"] == "Succeeded"
    nodes = nodes_by_name(result)
    assert nodes["D"]["outputs"]["result"] == "ab+ac"
    assert nodes["dag-test"]["type"] == "DAG"


def test_enhanced_depends_and_omitted_nodes(run_workflow) -> None:
    result = run_workflow(
        dag("""
      - {name: A, template: fail}
      - {name: on-failure, template: say, depends: A.Failed, arguments: {parameters: [{name: text, value: handled}]}}
      - {name: on-success, template: say, depends: A.Succeeded, arguments: {parameters: [{name: text, value: no}]}}
      - {name: after-omitted, template: say, depends: on-success, arguments: {parameters: [{name: text, value: no}]}}
      - {name: either, template: say, depends: "on-failure || on-success", arguments: {parameters: [{name: text, value: yes}]}}
""")
    )
    nodes = nodes_by_name(result)
    assert nodes["A"]["phase"] == "Failed"
    assert nodes["A"]["message"] == "Error (exit code 3)"
    assert nodes["on-failure"]["phase"] == "Succeeded"
    assert nodes["on-success"]["phase"] == "Omitted"
    assert nodes["after-omitted"]["phase"] == "Omitted"
    assert nodes["either"]["phase"] == "Succeeded"
    # The omitted leaf inherits the failed branch: the DAG fails, as in Argo.
    assert result["phase"] == "Failed"


def test_continue_on_failed_does_not_fail_the_workflow(run_workflow) -> None:
    result = run_workflow(
        dag("""
      - {name: A, template: fail, continueOn: {failed: true}}
      - {name: B, template: say, dependencies: [A], arguments: {parameters: [{name: text, value: ran}]}}
""")
    )
    nodes = nodes_by_name(result)
    assert nodes["A"]["phase"] == "Failed"
    assert nodes["B"]["phase"] == "Succeeded"
    assert result["phase"] == "Succeeded"


def test_when_false_is_skipped_and_dependents_still_run(run_workflow) -> None:
    result = run_workflow(
        dag("""
      - {name: flip, template: say, arguments: {parameters: [{name: text, value: tails}]}}
      - name: heads
        template: say
        dependencies: [flip]
        when: "{{tasks.flip.outputs.result}} == heads"
        arguments: {parameters: [{name: text, value: heads}]}
      - {name: after, template: say, dependencies: [heads], arguments: {parameters: [{name: text, value: after}]}}
""")
    )
    nodes = nodes_by_name(result)
    assert nodes["heads"]["phase"] == "Skipped"
    assert nodes["heads"]["message"] == "when 'tails == heads' evaluated false"
    assert nodes["after"]["phase"] == "Succeeded"
    assert result["phase"] == "Succeeded"


def test_static_target_runs_only_what_it_needs(run_workflow) -> None:
    result = run_workflow(
        dag(
            """
      - {name: A, template: say, arguments: {parameters: [{name: text, value: a}]}}
      - {name: B, template: say, dependencies: [A], arguments: {parameters: [{name: text, value: b}]}}
      - {name: C, template: say, arguments: {parameters: [{name: text, value: c}]}}
""",
            extra="",
        ).replace("    dag:\n      tasks:", "    dag:\n      target: B\n      tasks:")
    )
    assert set(nodes_by_name(result)) == {"dag-test", "A", "B"}
    assert result["phase"] == "Succeeded"


def test_dynamic_target_from_a_parameter(run_workflow) -> None:
    manifest = dag(
        """
      - {name: A, template: say, arguments: {parameters: [{name: text, value: a}]}}
      - {name: B, template: say, dependencies: [A], arguments: {parameters: [{name: text, value: b}]}}
      - {name: C, template: say, arguments: {parameters: [{name: text, value: c}]}}
"""
    ).replace("    dag:\n      tasks:", '    dag:\n      target: "{{workflow.parameters.target}}"\n      tasks:')
    manifest = manifest.replace(
        "  entrypoint: main\n", "  entrypoint: main\n  arguments: {parameters: [{name: target, value: C}]}\n"
    )
    assert set(nodes_by_name(run_workflow(manifest))) == {"dag-test", "C"}
    assert set(nodes_by_name(run_workflow(manifest, {"target": "B"}))) == {"dag-test", "A", "B"}


NESTED_GATES = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: nested-gates}
spec:
  entrypoint: main
  templates:
  - name: main
    dag:
      tasks:
      - {name: A, template: fail, continueOn: {failed: true}}
      - {name: only-on-success, template: pair, depends: A.Succeeded}
      - {name: never-when, template: pair, depends: A.Failed, when: "1 == 2"}
      - {name: on-failure, template: pair, depends: A.Failed}
  - name: pair
    steps:
    - - {name: first, template: ok}
    - - {name: second, template: ok}
  - name: ok
    container: {image: busybox, command: [echo, ok]}
  - name: fail
    container: {image: busybox, command: [sh, -c, "exit 1"]}
"""


def test_gates_of_nested_groups_apply_to_everything_inside(run_workflow) -> None:
    result = run_workflow(NESTED_GATES)
    nodes = result["nodes"]
    by_name = {}
    for node in nodes:
        by_name.setdefault(node["displayName"], []).append(node)
    assert by_name["only-on-success"][0]["phase"] == "Omitted"
    assert by_name["never-when"][0]["phase"] == "Skipped"
    assert by_name["on-failure"][0]["phase"] == "Succeeded"
    # Only the group that ran has steps in the report.
    assert [n["phase"] for n in by_name["first"]] == ["Succeeded"]
    assert [n["phase"] for n in by_name["second"]] == ["Succeeded"]
    # Argo's DAG phase: the omitted and skipped leaves inherit A's failed branch (A's continueOn is
    # A's own), so the DAG fails even though every group that ran succeeded.
    assert result["phase"] == "Failed"
