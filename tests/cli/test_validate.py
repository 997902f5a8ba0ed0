"""`airflow-argo validate` and `airflow-argo assess`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_argo_provider.cli.main import main

GOOD = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: good-}
spec:
  entrypoint: main
  templates:
  - name: main
    container: {image: busybox}
"""
BAD = GOOD.replace("generateName: good-", "name: bad").replace(
    "  entrypoint: main", "  entrypoint: main\n  paralelism: 2"
)


def test_validate_valid_file_exits_zero(write_manifest, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_manifest(GOOD)
    assert main(["validate", str(path)]) == 0
    out, err = capsys.readouterr()
    assert out == ""
    assert "1 manifests, 1 valid, 0 problems" in err


def test_validate_prints_file_line_code_and_exits_one(write_manifest, capsys: pytest.CaptureFixture[str]) -> None:
    good = write_manifest(GOOD, "good.yaml")
    bad = write_manifest(BAD, "bad.yaml")
    assert main(["validate", str(good.parent)]) == 1
    out, _ = capsys.readouterr()
    assert out.splitlines() == [f"{bad}:6: AAP011 spec.paralelism: unknown field; did you mean parallelism?"]


def test_validate_notes_only_on_request(write_manifest, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_manifest(GOOD.replace("  entrypoint: main", "  entrypoint: main\n  archiveLogs: true"))
    assert main(["validate", str(path)]) == 0
    assert capsys.readouterr().out == ""
    assert main(["validate", "--notes", str(path)]) == 0
    assert "AAP201 spec.archiveLogs: archiveLogs has no effect" in capsys.readouterr().out


def test_assess_prints_table_and_totals(write_manifest, capsys: pytest.CaptureFixture[str]) -> None:
    write_manifest(GOOD, "good.yaml")
    path = write_manifest(BAD, "sub/bad.yaml")
    assert main(["assess", str(path.parent.parent)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split() == ["MANIFEST", "KIND", "STATUS"]
    assert lines[1].split() == ["good.yaml", "Workflow", "ok"]
    assert lines[2].split() == ["sub/bad.yaml", "Workflow", "AAP011"]
    assert "Total: 2 manifests, 1 ok (50%), 1 with problems." in out
    assert "AAP011     1  unknown field" in out


def test_console_script_over_the_corpus_never_crashes(argo_examples: Path) -> None:
    exe = Path(sys.executable).parent / "airflow-argo"
    result = subprocess.run(
        [str(exe), "validate", str(argo_examples)], capture_output=True, text=True, env={**os.environ}, timeout=120
    )
    assert result.returncode == 1  # the corpus uses features that are rejected with codes
    assert "Traceback" not in result.stderr
    for line in result.stdout.splitlines():
        file, lineno, rest = line.split(":", 2)
        assert Path(file).is_file() and int(lineno) >= 1
        assert rest.split()[0].startswith("AAP")
    assessed = subprocess.run([str(exe), "assess", str(argo_examples)], capture_output=True, text=True, timeout=120)
    assert assessed.returncode == 0
    assert "Total: " in assessed.stdout and "Traceback" not in assessed.stderr
