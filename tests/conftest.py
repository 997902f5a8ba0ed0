"""Shared fixtures: the repository layout and the upstream Argo example corpus."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _find_examples() -> Path:
    """The upstream Argo Workflows examples (Apache-2.0): ``shared/argo-examples`` beside the
    repository (or beside one of its parent folders). They are read, never copied or edited.
    ARGO_EXAMPLES overrides the location."""
    if os.environ.get("ARGO_EXAMPLES"):
        return Path(os.environ["ARGO_EXAMPLES"]).resolve()
    for folder in REPO.parents:
        candidate = folder / "shared" / "argo-examples"
        if candidate.is_dir():
            return candidate
    return REPO.parent / "shared" / "argo-examples"


ARGO_EXAMPLES = _find_examples()


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
