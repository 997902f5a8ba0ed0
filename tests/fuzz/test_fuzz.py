"""Broken and hostile manifests never cost a DAG (see ``mutations.py`` for what is thrown at the loader).

Each case (a mutated manifest, or a small folder) is validated and then loaded by a ``DagBag`` next to a
valid neighbour manifest. Per case: no traceback, no hang beyond 10 s, less than 500 MB of memory, every
problem a one-line ``FILE:LINE: CODE message``, and the neighbour's DAG loads (the import error of the
case's DAG file, if any, is the provider's problem list).

``make test`` runs every fourth case (300 of 1,200); CI (``AIRFLOW_ARGO_FUZZ=full``, set by ``.ci/run``)
runs all 1,200. Cases run in worker processes, 100 per process, each process loading the package and
Airflow once.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fuzz.worker import MEMORY_LIMIT_MB, TIME_LIMIT

REPO = Path(__file__).resolve().parents[2]
CASES = 1_200
CHUNK = 100
FULL = os.environ.get("AIRFLOW_ARGO_FUZZ", "").lower() == "full"
NUMBERS = list(range(CASES)) if FULL else list(range(0, CASES, 4))
CHUNKS = [NUMBERS[i : i + CHUNK] for i in range(0, len(NUMBERS), CHUNK)]
_PROBLEM_LINE = re.compile(r"^.+:\d+: AAP\d{3} .+$")


def run_chunk(numbers: list[int], results: Path) -> dict[str, object]:
    env = dict(os.environ)
    env.update(
        {
            "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": str(TIME_LIMIT),
            "AIRFLOW__ARGO__CACHE_DIR": "",  # every case compiled for real
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "PYTHONPATH": str(REPO),
        }
    )
    done = subprocess.run(
        [sys.executable, "-m", "tests.fuzz.worker", str(results), *map(str, numbers)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60 + len(numbers) * 2 * TIME_LIMIT,
    )
    assert done.returncode == 0, done.stderr[-5000:]
    data: dict[str, object] = json.loads(results.read_text())
    return data


def failures(cases: list[dict[str, object]]) -> list[str]:
    out: list[str] = []
    for case in cases:
        label = str(case["label"])
        if case.get("traceback"):
            out.append(f"{label}: traceback in validate:\n{case['traceback']}")
        if case.get("hang"):
            out.append(f"{label}: validate ran longer than {TIME_LIMIT} s")
        memory = case.get("memory_mb")
        if isinstance(memory, (int, float)) and memory > MEMORY_LIMIT_MB:
            out.append(f"{label}: validate used {memory} MB")
        for line in case.get("bad_problems") or []:  # type: ignore[attr-defined]
            out.append(f"{label}: not a one-line FILE:LINE: CODE problem: {line!r}")
        if not case.get("neighbour_loaded"):
            out.append(f"{label}: the valid neighbour did not load; import error: {case.get('import_error')}")
        error = case.get("import_error")
        if isinstance(error, str):
            lines = error.removeprefix("ManifestError: ").splitlines()
            if not error.startswith("ManifestError: ") or not all(_PROBLEM_LINE.match(line) for line in lines):
                out.append(f"{label}: the import error is not the problem list:\n{error[:2000]}")
    return out


@pytest.mark.parametrize("chunk", range(len(CHUNKS)), ids=lambda i: f"cases-{CHUNKS[i][0]}-{CHUNKS[i][-1]}")
def test_broken_manifests_never_cost_a_dag(chunk: int, tmp_path: Path) -> None:
    data = run_chunk(CHUNKS[chunk], tmp_path / "results.json")
    cases = data["cases"]
    assert isinstance(cases, list) and len(cases) == len(CHUNKS[chunk])
    problems = failures(cases)
    assert not problems, f"{len(problems)} failures:\n" + "\n\n".join(problems[:20])
    # The suite must really exercise the loader: most cases are rejected with problems.
    assert sum(1 for c in cases if c["problems"]) > len(cases) // 2
