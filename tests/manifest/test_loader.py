"""The manifest front end: kinds, names, strictness, references and clear errors."""

from __future__ import annotations

import textwrap
from pathlib import Path

from airflow_argo_provider.manifest import load_paths, load_text


def problems_of(text: str) -> list[str]:
    return [p.format() for p in load_text(textwrap.dedent(text), "wf.yaml").problems]


HELLO = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: hello-
spec:
  entrypoint: main
  templates:
  - name: main
    container:
      image: busybox
      command: [echo, hi]
"""


def test_valid_workflow_loads_with_generate_name() -> None:
    mset = load_text(HELLO)
    assert mset.problems == []
    (manifest,) = mset.manifests
    assert manifest.kind == "Workflow"
    assert manifest.name == "hello"
    assert manifest.dag_id == "hello"
    assert manifest.spec.templates[0].container.image == "busybox"


def test_every_workflow_kind_and_multi_document_files(write_manifest) -> None:
    text = """\
    apiVersion: argoproj.io/v1alpha1
    kind: WorkflowTemplate
    metadata: {name: lib}
    spec:
      templates:
      - name: say
        container: {image: busybox}
    ---
    apiVersion: argoproj.io/v1alpha1
    kind: ClusterWorkflowTemplate
    metadata: {name: cluster-lib}
    spec:
      templates:
      - name: say
        container: {image: busybox}
    ---
    apiVersion: argoproj.io/v1alpha1
    kind: CronWorkflow
    metadata: {name: nightly}
    spec:
      schedule: "0 1 * * *"
      workflowSpec:
        entrypoint: main
        templates:
        - name: main
          steps:
          - - name: a
              templateRef: {name: lib, template: say}
            - name: b
              templateRef: {name: cluster-lib, template: say, clusterScope: true}
    """
    path = write_manifest(textwrap.dedent(text), "all.yaml")
    mset = load_paths([path])
    assert mset.problems == []
    assert [(m.kind, m.name, m.doc.index) for m in mset.manifests] == [
        ("WorkflowTemplate", "lib", 0),
        ("ClusterWorkflowTemplate", "cluster-lib", 1),
        ("CronWorkflow", "nightly", 2),
    ]


def test_misspelled_field_is_reported_with_path_line_and_suggestion() -> None:
    text = HELLO.replace(
        "    container:\n      image: busybox\n      command: [echo, hi]\n",
        "    steps:\n    - - name: a\n        template: leaf\n        withItem: [1, 2]\n"
        "  - name: leaf\n    container: {image: busybox}\n",
    )
    problems = problems_of(text)
    assert problems == [
        "wf.yaml:12: AAP011 spec.templates[0].steps[0][0].withItem: unknown field; did you mean withItems?"
    ]


def test_snake_case_spelling_gets_camel_case_suggestion() -> None:
    text = HELLO.replace("  entrypoint: main", "  entrypoint: main\n  active_deadline_seconds: 10")
    (problem,) = problems_of(text)
    assert "AAP011 spec.active_deadline_seconds: unknown field; did you mean activeDeadlineSeconds?" in problem


def test_type_error_has_file_line_and_field_path() -> None:
    text = HELLO.replace("  entrypoint: main", "  entrypoint: main\n  parallelism: lots")
    (problem,) = problems_of(text)
    assert problem.startswith("wf.yaml:7: AAP010 spec.parallelism: ")
    assert "integer" in problem and "'lots'" in problem


def test_missing_required_field() -> None:
    text = HELLO.replace(
        "      image: busybox\n", "      image: busybox\n    inputs:\n      parameters:\n      - value: x\n"
    )
    (problem,) = problems_of(text)
    assert "AAP010 spec.templates[0].inputs.parameters[0].name: required field is missing" in problem
    assert problem.startswith("wf.yaml:13:")


def test_numeric_parameter_values_are_strings_as_in_argo() -> None:
    text = HELLO.replace(
        "  entrypoint: main",
        "  entrypoint: main\n  arguments:\n    parameters:\n"
        "    - name: count\n      value: 5\n    - name: flag\n      value: true",
    )
    mset = load_text(text)
    assert mset.problems == []
    params = mset.manifests[0].spec.arguments.parameters
    assert [(p.name, p.value) for p in params] == [("count", "5"), ("flag", "true")]


def test_malformed_yaml_reports_line() -> None:
    problems = problems_of("apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nspec: [1, 2\n")
    assert len(problems) == 1
    assert problems[0].startswith("wf.yaml:")
    assert "AAP001 invalid YAML" in problems[0]


def test_missing_name() -> None:
    text = HELLO.replace("  generateName: hello-", "  labels: {a: b}")
    assert problems_of(text) == ["wf.yaml:3: AAP012 metadata: metadata.name or metadata.generateName is required"]


def test_document_without_kind_and_foreign_kinds() -> None:
    problems = problems_of("just: a mapping\n---\napiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: x}\n")
    assert problems[0] == "wf.yaml:1: AAP002 document is not a Kubernetes object (no `kind`)"
    assert problems[1].startswith("wf.yaml:4: AAP109 kind: kind PersistentVolumeClaim is not compiled")


def test_config_maps_are_kept_for_the_workflows() -> None:
    mset = load_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg}\ndata: {k: v}\n")
    assert mset.problems == []
    assert mset.config_map("cfg") == {"k": "v"}


def test_unknown_template_name_with_suggestion() -> None:
    text = HELLO.replace("  entrypoint: main", "  entrypoint: mian")
    assert problems_of(text) == [
        "wf.yaml:6: AAP020 spec.entrypoint: template 'mian' does not exist; did you mean main?"
    ]


DAG = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {{name: d}}
spec:
  entrypoint: main
  templates:
  - name: main
    dag:
      tasks:
{tasks}
  - name: leaf
    container: {{image: busybox}}
"""


def dag_problems(tasks: str) -> list[str]:
    return problems_of(DAG.format(tasks=textwrap.indent(textwrap.dedent(tasks), "      ")))


def test_cycle_in_dag() -> None:
    problems = dag_problems("""\
    - {name: a, template: leaf, dependencies: [c]}
    - {name: b, template: leaf, dependencies: [a]}
    - {name: c, template: leaf, depends: b.Succeeded}
    """)
    assert len(problems) == 1
    assert "AAP022" in problems[0] and "a -> c -> b -> a" in problems[0]
    assert problems[0].startswith("wf.yaml:10: ")


def test_duplicate_task_names() -> None:
    problems = dag_problems("""\
    - {name: a, template: leaf}
    - {name: a, template: leaf}
    """)
    assert problems == [
        "wf.yaml:11: AAP023 spec.templates[0].dag.tasks[1].name: task name 'a' is used more than once in template 'main'"
    ]


def test_dependencies_together_with_depends() -> None:
    problems = dag_problems("""\
    - {name: a, template: leaf}
    - {name: b, template: leaf, dependencies: [a], depends: a}
    """)
    assert problems == [
        "wf.yaml:11: AAP024 spec.templates[0].dag.tasks[1].depends: use either dependencies or depends, not both"
    ]


def test_unknown_dependency_and_target() -> None:
    text = DAG.format(tasks=textwrap.indent("- {name: a, template: leaf, dependencies: [zz]}\n", "      "))
    text = text.replace("    dag:\n", "    dag:\n      target: a nope\n")
    problems = problems_of(text)
    assert any("AAP025" in p and "'zz'" in p for p in problems)
    assert any("AAP025 spec.templates[0].dag.target: target 'nope'" in p for p in problems)


def test_missing_template_ref(write_manifest) -> None:
    text = HELLO.replace(
        "    container:\n      image: busybox\n      command: [echo, hi]\n",
        "    steps:\n    - - name: a\n        templateRef: {name: nowhere, template: x}\n",
    )
    path = write_manifest(text)
    problems = [p.format() for p in load_paths([path]).problems]
    assert problems == [
        f"{path}:11: AAP021 spec.templates[0].steps[0][0].templateRef: "
        "templateRef: WorkflowTemplate 'nowhere' is not in the folder tree"
    ]


def test_template_ref_to_missing_template_in_existing_workflow_template(write_manifest) -> None:
    write_manifest(
        "apiVersion: argoproj.io/v1alpha1\nkind: WorkflowTemplate\nmetadata: {name: lib}\n"
        "spec:\n  templates:\n  - name: say\n    container: {image: busybox}\n",
        "lib.yaml",
    )
    wf = write_manifest(
        HELLO.replace(
            "    container:\n      image: busybox\n      command: [echo, hi]\n",
            "    steps:\n    - - name: a\n        templateRef: {name: lib, template: sya}\n",
        )
    )
    problems = [p.format() for p in load_paths([wf.parent]).problems]
    assert problems == [
        f"{wf}:11: AAP021 spec.templates[0].steps[0][0].templateRef: templateRef: WorkflowTemplate 'lib': "
        "template 'sya' does not exist; did you mean say?"
    ]


def test_workflow_template_ref_resolves_entrypoint(write_manifest) -> None:
    write_manifest(
        "apiVersion: argoproj.io/v1alpha1\nkind: WorkflowTemplate\nmetadata: {name: lib}\n"
        "spec:\n  entrypoint: say\n  templates:\n  - name: say\n    container: {image: busybox}\n",
        "lib.yaml",
    )
    write_manifest(
        "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata: {generateName: use-}\n"
        "spec:\n  workflowTemplateRef: {name: lib}\n",
        "use.yaml",
    )
    write_manifest(
        "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata: {generateName: broken-}\n"
        "spec:\n  workflowTemplateRef: {name: nope}\n",
        "broken.yaml",
    )
    mset = load_paths([Path(write_manifest("", "empty.yaml")).parent])
    problems = [p.format() for p in mset.problems]
    assert len(problems) == 1
    assert problems[0].endswith(
        "broken.yaml:5: AAP021 spec.workflowTemplateRef: workflowTemplateRef: "
        "WorkflowTemplate 'nope' is not in the folder tree"
    )


def test_recursive_template_is_rejected() -> None:
    text = HELLO.replace(
        "    container:\n      image: busybox\n      command: [echo, hi]\n",
        "    steps:\n    - - name: again\n        template: main\n        when: '1 == 2'\n",
    )
    assert problems_of(text) == [
        "wf.yaml:10: AAP026 spec.templates[0].steps[0][0]: template 'main' invokes itself (recursion is not compiled)"
    ]


def test_two_loop_sources() -> None:
    text = HELLO.replace(
        "    container:\n      image: busybox\n      command: [echo, hi]\n",
        "    steps:\n    - - name: a\n        template: leaf\n        withItems: [1]\n        withParam: '[2]'\n"
        "  - name: leaf\n    container: {image: busybox}\n",
    )
    assert problems_of(text) == [
        "wf.yaml:10: AAP030 spec.templates[0].steps[0][0]: use only one of withItems, withParam and withSequence"
    ]


def test_unsupported_feature_has_code_and_reason() -> None:
    text = HELLO.replace(
        "    container:\n      image: busybox\n      command: [echo, hi]\n",
        "    data:\n      source: {artifactPaths: {name: a, s3: {key: k}}}\n      transformation: []\n",
    )
    assert [p for p in problems_of(text) if "AAP102" in p] == [
        "wf.yaml:9: AAP102 spec.templates[0].data: data templates (artifact transformations) are not run"
    ]


def test_resource_template_mistakes_are_reported() -> None:
    text = HELLO.replace(
        "    container:\n      image: busybox\n      command: [echo, hi]\n",
        "    resource:\n      action: create\n      manifest: 'kind: ConfigMap'\n",
    )
    assert problems_of(text) == [
        "wf.yaml:11: AAP010 spec.templates[0].resource.manifest: the manifest has no apiVersion",
        "wf.yaml:11: AAP010 spec.templates[0].resource.manifest: the manifest names no object: set "
        "metadata.name (or generateName, with action create)",
    ]


def test_notes_do_not_make_a_manifest_invalid() -> None:
    text = HELLO.replace("  entrypoint: main", "  entrypoint: main\n  ttlStrategy: {secondsAfterCompletion: 60}")
    mset = load_text(text)
    assert [p.code for p in mset.problems] == ["AAP201"]
    assert mset.errors == []
    assert mset.manifests[0].ok


def test_duplicate_dag_ids_in_one_tree(write_manifest) -> None:
    write_manifest(HELLO, "a.yaml")
    second = write_manifest(HELLO, "b.yaml")
    problems = [p.format() for p in load_paths([second.parent]).problems]
    assert len(problems) == 1
    assert "b.yaml:3: AAP013 metadata: DAG id 'hello' is also used by Workflow at" in problems[0]
    renamed = HELLO.replace("metadata:\n", "metadata:\n  annotations: {airflow-argo-provider/dag-id: hello-2}\n")
    write_manifest(renamed, "b.yaml")
    assert load_paths([second.parent]).problems == []


def test_unreadable_paths(tmp_path: Path) -> None:
    mset = load_paths([tmp_path / "missing.yaml"])
    assert [p.code for p in mset.problems] == ["AAP004"]
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes(b"kind: \xff\n")
    assert [p.code for p in load_paths([bad]).problems] == ["AAP004"]
