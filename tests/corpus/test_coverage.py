"""The upstream Argo example corpus through this provider: DagBag loads, local runs, coverage doc."""

from __future__ import annotations

from pathlib import Path

from scripts.update_coverage import codes_markdown, coverage_markdown, coverage_totals, load_runs
from tests.conftest import REPO

# Recorded runs replayed by the tests: quick examples whose recorded phases differ, so a replay that
# drifted from the recording (or a recording made up by hand) shows.
REPLAYED = [
    "dag-diamond-steps.yaml",
    "exit-handlers.yaml",
    "loops-maps.yaml",
    "retry-conditional.yaml",
    "artifact-passing.yaml",
    "container-set-template/sequence-workflow.yaml",
]


def test_coverage_doc_is_up_to_date_and_meets_the_targets(argo_examples: Path, airflow_db: Path) -> None:
    expected = coverage_markdown(argo_examples)
    actual = (REPO / "docs" / "coverage.md").read_text()
    assert actual == expected, "docs/coverage.md is stale: run `python scripts/update_coverage.py`"
    assert (REPO / "docs" / "codes.md").read_text() == codes_markdown()
    totals = coverage_totals(expected)
    assert totals["dagbag"] >= 0.80, totals  # examples whose DAG loads in a DagBag with no import error
    assert totals["local"] >= 0.50, totals  # examples that run locally to the phase Argo gives them


def test_recorded_runs_replay_to_the_same_phase(argo_examples: Path) -> None:
    from scripts.corpus import run_all

    recorded = load_runs()
    assert set(REPLAYED) <= set(recorded), set(REPLAYED) - set(recorded)
    results = run_all(argo_examples, jobs=2, only=REPLAYED)
    replayed = {name: results[name][0] for name in REPLAYED}
    assert replayed == {name: recorded[name] for name in REPLAYED}, {n: results[n] for n in REPLAYED}
