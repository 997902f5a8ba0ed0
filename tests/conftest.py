"""Shared fixtures: the repository layout and the upstream Argo example corpus."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# The upstream Argo Workflows examples (Apache-2.0) live beside the repository; they are read,
# never copied or edited. ARGO_EXAMPLES overrides the location.
ARGO_EXAMPLES = Path(os.environ.get("ARGO_EXAMPLES", REPO.parent / "shared" / "argo-examples")).resolve()


@pytest.fixture(scope="session")
def argo_examples() -> Path:
    if not ARGO_EXAMPLES.is_dir():
        pytest.fail(f"the Argo example corpus is missing at {ARGO_EXAMPLES} (set ARGO_EXAMPLES)")
    return ARGO_EXAMPLES


@pytest.fixture
def write_manifest(tmp_path: Path):
    """Write YAML text to a file under tmp_path and return its path."""

    def write(text: str, name: str = "wf.yaml") -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    return write
