"""How a finished (or lost) pod becomes Argo's node phase.

The rules are those of Argo's controller (``inferFailedReason`` in
``workflow/controller/operator.go``):

- the main container exited: its exit code decides (0 Succeeded, otherwise Failed), and the
  outputs come from the wrapper's document (:mod:`.capture`);
- the pod failed with a message of its own (the kubelet's eviction for node pressure, or
  ``activeDeadlineSeconds`` exceeded): Failed with that message; a deadline is reported as
  ``timed_out`` so the node gets the deadline's message;
- a container never started (image pull errors, invalid image names) or the executor's init
  container failed: Error;
- a user init container or a sidecar failed: Failed, except a sidecar stopped by a signal
  (exit code 137 or 143), which is ignored;
- the pod is gone (deleted, or evicted through the API) or never started in time: Error.

Errors are what ``retryPolicy: OnError`` retries; Failed is what ``OnFailure`` retries.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from airflow_argo_provider.kubernetes.artifacts import LOAD_CONTAINER, WAIT_CONTAINER
from airflow_argo_provider.kubernetes.capture import INIT_CONTAINER, CaptureError, parse_captured
from airflow_argo_provider.runtime.step import RawOutcome

POD_DELETED = "pod deleted"
SIDECAR_STOPPED = (137, 143)


@dataclass
class ContainerEnd:
    """The last state of one container, as read from the pod's status."""

    name: str
    exit_code: int | None = None  # set when the container terminated
    reason: str = ""
    message: str = ""
    waiting: bool = False
    finished_at: str | None = None
    started_at: str | None = None


def _iso(moment: Any) -> str | None:
    if moment is None:
        return None
    if isinstance(moment, str):
        return moment
    return str(moment.strftime("%Y-%m-%dT%H:%M:%SZ"))


def container_ends(statuses: Sequence[Any] | None) -> list[ContainerEnd]:
    """Container states of a ``V1Pod`` status list."""
    out: list[ContainerEnd] = []
    for status in statuses or []:
        state = status.state
        end = ContainerEnd(name=status.name)
        if state is not None and state.terminated is not None:
            t = state.terminated
            end.exit_code = int(t.exit_code) if t.exit_code is not None else None
            end.reason = t.reason or ""
            end.message = t.message or ""
            end.finished_at = _iso(t.finished_at)
            end.started_at = _iso(t.started_at)
        elif state is not None and state.waiting is not None:
            end.waiting = True
            end.reason = state.waiting.reason or ""
            end.message = state.waiting.message or ""
        out.append(end)
    return out


def main_container(pod: Any, name: str) -> ContainerEnd | None:
    status = getattr(pod, "status", None)
    for end in container_ends(getattr(status, "container_statuses", None)):
        if end.name == name:
            return end
    return None


def outcome_of(
    pod: Any,
    document: Mapping[str, Any] | None,
    output_paths: Sequence[str],
    *,
    main: str = "main",
) -> RawOutcome:
    """The outcome of a pod whose main container is no longer running (or never ran)."""
    status = getattr(pod, "status", None)
    phase = getattr(status, "phase", None) or ""
    reason = getattr(status, "reason", None) or ""
    message = getattr(status, "message", None) or ""
    containers = container_ends(getattr(status, "container_statuses", None))
    inits = container_ends(getattr(status, "init_container_statuses", None))
    main_end = next((c for c in containers if c.name == main), None)
    started = _iso(getattr(status, "start_time", None))
    finished = main_end.finished_at if main_end is not None else None

    captured = None
    if document is not None:
        try:
            captured = parse_captured(document, output_paths)
        except CaptureError as exc:
            return RawOutcome(exit_code=None, message=str(exc), error=True, started_at=started)

    if phase == "Failed" and message:
        # Argo: the pod's own message (eviction, deadline) makes the node Failed.
        return RawOutcome(
            exit_code=captured.exit_code if captured else (main_end.exit_code if main_end else None),
            stdout=captured.stdout if captured else "",
            files=dict(captured.files) if captured else {},
            message=message,
            timed_out=reason == "DeadlineExceeded",
            failed=True,
            started_at=started,
            finished_at=finished,
        )
    if captured is not None:
        outcome = RawOutcome(
            exit_code=captured.exit_code,
            stdout=captured.stdout,
            files=dict(captured.files),
            started_at=started,
            finished_at=finished,
        )
        if captured.exit_code == 0:
            failure = _sidecar_failure(containers, main)
            if failure is not None:
                outcome.failed, outcome.message = True, failure
        return outcome
    # No document from the wrapper: decide from the containers' states alone.
    for end in inits:
        if end.waiting and phase == "Failed":
            return _error(f"Pod failed before {end.name} container starts due to {end.reason}: {end.message}", started)
        if end.exit_code not in (None, 0):
            text = _describe(end)
            if end.name in (INIT_CONTAINER, LOAD_CONTAINER):
                return _error(end.message or text if end.name == LOAD_CONTAINER else text, started)
            return RawOutcome(exit_code=None, message=text, failed=True, started_at=started)
    if main_end is not None and main_end.exit_code is not None:
        if main_end.exit_code != 0:
            return RawOutcome(
                exit_code=main_end.exit_code,
                message=_describe(main_end, with_name=False),
                started_at=started,
                finished_at=finished,
            )
        return _error("the step ended but its outputs could not be read back from the pod", started)
    if main_end is not None and main_end.waiting:
        return _error(
            f"Pod failed before {main} container starts due to {main_end.reason}: {main_end.message}", started
        )
    if phase == "Failed":
        return _error(f"pod failed before the {main} container ran", started)
    return _error(f"the {main} container did not finish (pod phase {phase or 'unknown'})", started)


def _describe(end: ContainerEnd, *, with_name: bool = True) -> str:
    text = f"{end.reason or 'Error'} (exit code {end.exit_code})"
    if end.message:
        text += f": {end.message}"
    return f"{end.name}: {text}" if with_name else text


def _sidecar_failure(containers: list[ContainerEnd], main: str) -> str | None:
    """A sidecar that failed on its own (not stopped by a signal) fails the node, as in Argo."""
    for end in containers:
        if end.name in (main, "airflow-xcom-sidecar", WAIT_CONTAINER) or end.exit_code in (None, 0, *SIDECAR_STOPPED):
            continue
        return _describe(end)
    return None


def _error(message: str, started: str | None = None) -> RawOutcome:
    return RawOutcome(exit_code=None, message=message, error=True, started_at=started)


def deleted(message: str = POD_DELETED) -> RawOutcome:
    return _error(message)


def launch_failed(message: str) -> RawOutcome:
    """The pod never ran its main container (image pull errors, scheduling or start timeouts)."""
    return _error(message)
