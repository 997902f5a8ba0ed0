"""``airflow-argo render``: the plan and each step's pod, without a cluster or Airflow."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml
from kubernetes.client import ApiClient

from airflow_argo_provider.cli.main import main
from tests.conftest import REPO


def render(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["render", *args])
    out, err = capsys.readouterr()
    return code, out, err


def pods(text: str) -> list[dict]:
    documents = text.split("\n---\n")[1:]
    return [yaml.safe_load(d) for d in documents]


class _Response:
    def __init__(self, data: str) -> None:
        self.data = data


def test_plan_and_valid_pods(capsys, argo_examples: Path) -> None:
    code, out, err = render(capsys, str(argo_examples / "scripts-python.yaml"))
    assert code == 0, err
    tree = out.split("\n---\n")[0].splitlines()
    assert tree == [
        "Workflow scripts-python- (Airflow DAG scripts-python)",
        "scripts-python  steps python-script-example",
        "├── [0] generate  script gen-random-int",
        "└── [1] print  container print-message",
    ]
    generate, show = pods(out)
    for pod in (generate, show):
        ApiClient().deserialize(_Response(json.dumps(pod)), "V1Pod")
    assert generate["metadata"]["name"].startswith("scripts-python-xxxxx-gen-random-int-")
    # a value only the run knows stays a placeholder
    assert show["spec"]["containers"][0]["args"] == ["echo result was: {{steps.generate.outputs.result}}"]
    assert "# namespace: the Airflow Kubernetes connection's (else default)" in out


def test_parameters_fill_in_and_unknown_ones_are_rejected(capsys, argo_examples: Path) -> None:
    code, out, _ = render(capsys, str(argo_examples / "pod-spec-patch.yaml"), "-p", "cpu-limit=250m")
    assert code == 0
    (pod,) = pods(out)
    assert pod["spec"]["containers"][0]["resources"] == {"limits": {"cpu": "250m"}}
    code, _, err = render(capsys, str(argo_examples / "pod-spec-patch.yaml"), "-p", "cpu=1")
    assert code == 2 and "unknown parameter(s) cpu" in err
    code, _, err = render(capsys, str(argo_examples / "does-not-exist.yaml"))
    assert code == 2 and "no such file" in err


def test_steps_that_cannot_become_pods_are_reported(capsys, write_manifest) -> None:
    path = write_manifest(
        """
        apiVersion: argoproj.io/v1alpha1
        kind: Workflow
        metadata: {generateName: partial-}
        spec:
          entrypoint: main
          templates:
          - name: main
            steps:
            - - {name: pause, template: pause}
            - - {name: fan, template: echo, withItems: [a, b], arguments: {parameters: [{name: x, value: "{{item}}"}]}}
            - - {name: mystery, template: mystery}
          - name: pause
            suspend: {duration: "1s"}
          - name: echo
            inputs: {parameters: [{name: x}]}
            container: {image: busybox, command: [echo, "{{inputs.parameters.x}}"]}
          - name: mystery
            container: {image: some/unknown-image:1}
        """.replace("\n        ", "\n")
    )
    code, out, _ = render(capsys, str(path))
    assert code == 1
    assert '├── [1] fan  container echo  (withItems ["a","b"])' in out
    assert "# no pod: suspend template: runs without a pod" in out
    assert "# no pod: template 'mystery': the command of image 'some/unknown-image:1' is not known" in out
    fan = next(p for p in pods(out) if p and p["spec"]["containers"][0]["image"] == "busybox")
    assert fan["spec"]["containers"][0]["command"][-2:] == ["echo", "{{item}}"]


def test_manifest_problems_exit_2(capsys, write_manifest) -> None:
    path = write_manifest(
        "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata: {name: x}\nspec: {entrypoint: nope}\n"
    )
    code, _, err = render(capsys, str(path))
    assert code == 2 and "AAP" in err


def test_render_needs_no_airflow(argo_examples: Path, tmp_path: Path) -> None:
    code = (
        "import sys, contextlib, io\n"
        "from airflow_argo_provider.cli.main import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    assert main(['render', {str(argo_examples / 'volumes-pvc.yaml')!r}]) == 0\n"
        "loaded = sorted(m for m in sys.modules if m == 'airflow' or m.startswith('airflow.'))\n"
        "assert not loaded, loaded\n"
    )
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path / "no-airflow-home")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "no-airflow-home").exists()
