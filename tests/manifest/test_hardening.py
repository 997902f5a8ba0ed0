"""Bad input never costs a DAG: each measured way a manifest took its folder down, as a regression test.

Each case is loaded next to a valid neighbour manifest; ``validate`` must report it as
``FILE:LINE: CODE message`` on one line, and the neighbour's DAG must load in a real ``DagBag``.
"""

from __future__ import annotations

import resource
import time
from pathlib import Path

import pytest

from airflow_argo_provider.manifest import load_paths

NEIGHBOUR = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  name: {name}
spec:
  entrypoint: main
  templates:
  - name: main
    container: {{image: busybox, command: [echo, hi]}}
"""

BOMB = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  name: bomb
spec:
  entrypoint: main
  arguments:
    parameters:
    - name: a
      value: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
    - name: b
      value: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
    - name: c
      value: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
    - name: d
      value: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
    - name: e
      value: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
    - name: f
      value: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
    - name: g
      value: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
    - name: h
      value: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
  templates:
  - name: main
    container: {image: busybox}
"""

BROKEN_LIBRARY = """\
apiVersion: argoproj.io/v1alpha1
kind: WorkflowTemplate
metadata:
  name: library
spec:
  templates:
  - name: t
    container:
      image: 3
      command: {a: b}
"""

USES_LIBRARY = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  name: uses-library
spec:
  workflowTemplateRef: {name: library}
---
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  name: refers-to-library
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - name: a
        templateRef: {name: library, template: t}
"""

SENSOR_WITH_BROKEN_WORKFLOW = """\
apiVersion: argoproj.io/v1alpha1
kind: EventSource
metadata:
  name: uploads
spec:
  sqs:
    landing: {queue: landing, queueAccountId: "123456789012", region: us-east-1, jsonBody: true}
---
apiVersion: argoproj.io/v1alpha1
kind: Sensor
metadata:
  name: uploads
spec:
  dependencies:
  - {name: upload, eventSourceName: uploads, eventName: landing}
  triggers:
  - template:
      name: run
      argoWorkflow:
        operation: submit
        source:
          resource:
            apiVersion: argoproj.io/v1alpha1
            kind: Workflow
            metadata: {generateName: run-}
            spec:
              workflowTemplateRef: 5
"""


def _chain(length: int) -> str:
    templates = "".join(
        f"  - name: t{i}\n    steps:\n    - - name: s\n        template: t{i + 1}\n" for i in range(length)
    )
    return (
        "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata:\n  name: chain\nspec:\n  entrypoint: t0\n"
        f"  templates:\n{templates}  - name: t{length}\n    container: {{image: busybox}}\n"
    )


def _named(name: str) -> str:
    return NEIGHBOUR.format(name=name).replace("name: main\n    container", "name: main\n    container", 1)


CASES: dict[str, tuple[dict[str, str | bytes], list[tuple[str, str, int | None]]]] = {
    # name: (files, [(file, code, line)])
    "alias bomb": ({"bomb.yaml": BOMB}, [("bomb.yaml", "AAP005", None)]),
    "recursive alias": (
        {"loop.yaml": "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nspec: &s\n  again: *s\n"},
        [("loop.yaml", "AAP007", 4)],
    ),
    "10,000-deep nesting": (
        {"deep.yaml": "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nspec: " + "[" * 10_000 + "]" * 10_000},
        [("deep.yaml", "AAP006", 3)],
    ),
    "long template chain": ({"chain.yaml": _chain(1_500)}, [("chain.yaml", "AAP006", None)]),
    "invalid referenced WorkflowTemplate": (
        {"library.yaml": BROKEN_LIBRARY, "users.yaml": USES_LIBRARY},
        [("library.yaml", "AAP010", 9), ("users.yaml", "AAP021", 6), ("users.yaml", "AAP021", 18)],
    ),
    "Sensor with an invalid workflow": (
        {"sensor.yaml": SENSOR_WITH_BROKEN_WORKFLOW},
        [("sensor.yaml", "AAP010", 27)],
    ),
    "400-character name": ({"long.yaml": _named("x" * 400)}, [("long.yaml", "AAP014", 4)]),
    "non-ASCII name": ({"accent.yaml": _named("h\u00e9llo-w\u00f6rld")}, [("accent.yaml", "AAP014", 4)]),
    "NUL byte": (
        {"nul.yaml": _named("with-nul").replace("echo, hi", "echo, h\x00i").encode()},
        [("nul.yaml", "AAP001", 9)],
    ),
    "bytes that are not UTF-8": (
        {"latin1.yaml": _named("latin").encode() + b"# caf\xe9\n"},
        [("latin1.yaml", "AAP004", 10)],
    ),
}


def _write(folder: Path, files: dict[str, str | bytes], neighbour: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        path = folder / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    (folder / "neighbour.yaml").write_text(NEIGHBOUR.format(name=neighbour))


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_measured_case_is_a_problem_with_file_line_and_code(case: str, tmp_path: Path) -> None:
    files, expected = CASES[case]
    _write(tmp_path, files, "neighbour")
    start = time.monotonic()
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    mset = load_paths([tmp_path])
    assert time.monotonic() - start < 10
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before < 500 * 1024  # KiB
    problems = [p for p in mset.problems if not p.note]
    for problem in problems:
        assert "\n" not in problem.format() and problem.line >= 1
    found = {(Path(p.file).name, p.code, p.line) for p in problems}
    for file, code, line in expected:
        assert any(f == file and c == code and (line is None or n == line) for f, c, n in found), (
            f"{case}: expected {file}:{line}: {code}, got:\n" + "\n".join(p.format() for p in problems)
        )
    assert not any(Path(p.file).name == "neighbour.yaml" for p in problems)
    neighbour = [m for m in mset.manifests if m.name == "neighbour"]
    assert neighbour and neighbour[0].ok


def test_referrers_name_the_broken_template(tmp_path: Path) -> None:
    _write(tmp_path, {"library.yaml": BROKEN_LIBRARY, "users.yaml": USES_LIBRARY}, "neighbour")
    messages = [p.message for p in load_paths([tmp_path]).problems if p.code == "AAP021"]
    assert len(messages) == 2
    assert all("'library'" in m and "library.yaml:1) has errors of its own" in m for m in messages)


def test_nul_byte_is_reported_on_its_line_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "nul.yaml"
    path.write_bytes(b"apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata:\n  name: x\x00y\n")
    (problem,) = load_paths([path]).problems
    assert problem.format() == (
        f"{path}:4: AAP001 invalid YAML: character #x0000 at column 10: control characters are not allowed"
    )


def test_every_case_next_to_its_neighbour_loads_in_a_dagbag(airflow_db: Path, tmp_path: Path) -> None:
    """All the cases above in one dags folder, each with a DAG file and a valid neighbour: every
    neighbour's DAG loads, and each case's import error is its problem list (no traceback)."""
    from airflow.dag_processing.dagbag import DagBag

    folder = tmp_path / "dags"
    for index, case in enumerate(sorted(CASES)):
        files, _ = CASES[case]
        _write(folder / f"case{index}", files, f"neighbour-{index}")
        (folder / f"case{index}.py").write_text(
            '"""Airflow DAG file."""\nfrom airflow_argo_provider import load_workflows\n\n'
            f'globals().update(load_workflows("case{index}/"))\n'
        )
    bag = DagBag(str(folder))
    for index in range(len(CASES)):
        assert f"neighbour-{index}" in bag.dags, bag.import_errors
    assert len(bag.import_errors) == len(CASES)
    for message in bag.import_errors.values():
        assert message.startswith("ManifestError: "), message
        assert "Traceback" not in message
