"""Stage a step's artifacts: inputs into place before it starts, outputs to S3 after it ends.

Used by the local backend (on the worker, against the step's sandbox directories) and by
the in-pod agent (:mod:`.agent`). :func:`settle` then applies Argo's rules to the step's
outcome: saved outputs are recorded (their locations, never their content); a missing
``optional`` output is fine; a missing or failed non-optional output makes a step that
succeeded an Error ``failed to save outputs: ...``; a step that failed keeps its own failure.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from airflow_argo_provider.artifacts.archive import ArchiveError, chmod
from airflow_argo_provider.artifacts.model import (
    ArtifactNotFound,
    InputArtifact,
    OutputArtifact,
    SaveReport,
    StoreError,
    describe,
)
from airflow_argo_provider.artifacts.stores import Stores

if TYPE_CHECKING:
    from airflow_argo_provider.runtime.step import RawOutcome

log = logging.getLogger(__name__)


class LoadError(Exception):
    """An input artifact could not be placed (the node is an Error, as in Argo)."""


def load_inputs(inputs: list[InputArtifact], stores: Stores, dest_of: Callable[[InputArtifact], Path]) -> list[str]:
    """Place every supplied input artifact; returns the names placed."""
    placed: list[str] = []
    for artifact in inputs:
        if artifact.source is None:
            log.info("optional input artifact %s was not supplied", artifact.name)
            continue
        dest = dest_of(artifact)
        log.info("loading input artifact %s from %s to %s", artifact.name, describe(artifact.source), artifact.path)
        try:
            stores.load(artifact.source, dest, artifact.archive)
        except ArtifactNotFound as exc:
            if artifact.optional:
                log.info("optional input artifact %s was not found: %s", artifact.name, exc)
                continue
            raise LoadError(f"artifact {artifact.name} failed to load: {exc}") from None
        except (StoreError, ArchiveError, OSError) as exc:
            raise LoadError(f"artifact {artifact.name} failed to load: {exc}") from None
        if artifact.mode is not None:
            chmod(dest, artifact.mode, artifact.recurse_mode)
        placed.append(artifact.name)
    return placed


def save_outputs(
    outputs: list[OutputArtifact], stores: Stores, source_of: Callable[[OutputArtifact], Path]
) -> SaveReport:
    """Store every output artifact whose path exists; report the missing and failed ones."""
    report = SaveReport()
    for artifact in outputs:
        try:
            location = stores.save_path(artifact, source_of(artifact))
        except ArtifactNotFound:
            report.missing.append(artifact.name)
            continue
        except (StoreError, ArchiveError, OSError) as exc:
            report.errors.append(f"output artifact {artifact.name!r}: {exc}")
            continue
        log.info("saved output artifact %s to %s", artifact.name, describe(location))
        report.saved[artifact.name] = location
    return report


def settle(raw: RawOutcome, report: SaveReport, outputs: list[OutputArtifact]) -> RawOutcome:
    """Record the saved artifacts on the outcome and apply Argo's rules for the others."""
    raw.artifacts.update(report.saved)
    problems = list(report.errors)
    for artifact in outputs:
        if artifact.name in report.missing and not artifact.optional:
            problems.append(f"output artifact {artifact.name!r}: {artifact.path}: no such file or directory")
        elif artifact.name in report.missing:
            log.info("optional output artifact %s: %s does not exist", artifact.name, artifact.path)
    if not problems:
        return raw
    finished_ok = not (raw.error or raw.failed or raw.timed_out) and raw.exit_code in (0, None)
    if not finished_ok:
        for problem in problems:
            log.warning("the step did not succeed, and %s", problem)
        return raw
    raw.error = True
    raw.message = "failed to save outputs: " + "; ".join(problems)
    return raw
