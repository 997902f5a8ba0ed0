"""The upstream Argo example corpus through this provider: DagBag loads, local runs, coverage doc."""

from __future__ import annotations

from pathlib import Path

from scripts.update_coverage import codes_markdown, coverage_markdown
from tests.conftest import REPO


def test_coverage_doc_is_up_to_date(argo_examples: Path, airflow_db: Path) -> None:
    expected = coverage_markdown(argo_examples)
    actual = (REPO / "docs" / "coverage.md").read_text()
    assert actual == expected, "docs/coverage.md is stale: run `python scripts/update_coverage.py`"
    assert (REPO / "docs" / "codes.md").read_text() == codes_markdown()
