"""Runs fuzz cases in one process: ``python -m tests.fuzz.worker RESULTS.json CASE...``.

For every case, in this process (the package is imported once):

1. ``validate``: the case's files are read and checked with a 10 s alarm and its peak memory
   measured (the kernel's resident high-water mark, reset before the case); every problem must be
   one line, ``FILE:LINE: CODE message`` with a known code;
2. then each case's folder (its files and a valid neighbour manifest) is loaded by a DAG file through
   a ``DagBag``, with Airflow's own per-file import timeout at 10 s: the neighbour's DAG must be there,
   and the import error, if any, must be the provider's problem list, not a traceback.

Results (one object per case) go to RESULTS.json.
"""

from __future__ import annotations

import json
import re
import resource
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

TIME_LIMIT = 10
MEMORY_LIMIT_MB = 500
_PROBLEM = re.compile(r"^.+:(\d+): (AAP\d{3}) .+$")


class _Hang(Exception):
    pass


def _on_alarm(signum: int, frame: Any) -> None:
    raise _Hang


def _rss_peak_mb() -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
        return True
    except OSError:
        return False


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _write_case(folder: Path, number: int, files: dict[str, bytes], neighbour: str) -> Path:
    case_dir = folder / f"case_{number}"
    case_dir.mkdir(parents=True)
    for name, data in files.items():
        (case_dir / name).write_bytes(data)
    (case_dir / "neighbour.yaml").write_text(neighbour)
    return case_dir


def validate_case(case_dir: Path) -> dict[str, Any]:
    from airflow_argo_provider.manifest import CODES, load_paths

    result: dict[str, Any] = {"traceback": None, "hang": False, "bad_problems": []}
    can_measure = _reset_peak()
    before = _rss_mb()
    start = time.monotonic()
    signal.alarm(TIME_LIMIT)
    try:
        mset = load_paths([case_dir])
        lines = [p.format() for p in mset.problems]
    except _Hang:
        result["hang"] = True
        lines = []
    except BaseException:
        result["traceback"] = traceback.format_exc()[-3000:]
        lines = []
    finally:
        signal.alarm(0)
    result["seconds"] = round(time.monotonic() - start, 3)
    peak = _rss_peak_mb() if can_measure else None
    result["memory_mb"] = round(peak - before, 1) if peak is not None else None
    for line in lines:
        match = _PROBLEM.match(line)
        if "\n" in line or match is None or int(match.group(1)) < 1 or match.group(2) not in CODES:
            result["bad_problems"].append(line[:500])
    result["problems"] = len(lines)
    return result


def dagbag_check(folder: Path, numbers: list[int]) -> dict[int, dict[str, Any]]:
    """Each case's DAG file through a DagBag (all in this process): did its neighbour load, and what
    does the import error say. One bag per file: cases mutated from the same source share DAG ids."""
    from airflow.dag_processing.dagbag import DagBag

    out: dict[int, dict[str, Any]] = {}
    for number in numbers:
        path = folder / f"case_{number}.py"
        bag = DagBag(str(path))
        errors = [str(message) for message in bag.import_errors.values()]
        out[number] = {
            "neighbour_loaded": f"fuzz-neighbour-{number}" in bag.dags,
            "import_error": errors[0][:3000] if errors else None,
        }
    return out


def main(argv: list[str]) -> int:
    results_path = Path(argv[0])
    numbers = [int(n) for n in argv[1:]]
    from tests.fuzz.mutations import case, neighbour, sources

    corpus = sources()
    signal.signal(signal.SIGALRM, _on_alarm)
    # A guard for the whole machine: far above what a case may use (checked per case above).
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    vm = 0
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmSize:"):
            vm = int(line.split()[1]) * 1024
    if vm:
        limit = vm + 3 * 1024**3
        resource.setrlimit(resource.RLIMIT_AS, (limit if hard == resource.RLIM_INFINITY else min(limit, hard), hard))
    results: dict[int, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="argo-fuzz-") as tmp:
        folder = Path(tmp) / "dags"
        for number in numbers:
            item = case(number, corpus)
            case_dir = _write_case(folder, number, item.files, neighbour(number))
            result = validate_case(case_dir)
            result.update(number=number, label=item.label)
            results[number] = result
            (folder / f"case_{number}.py").write_text(
                '"""Airflow DAG file of a fuzz case."""\n'
                "from airflow_argo_provider import load_workflows\n\n"
                f'globals().update(load_workflows("case_{number}/"))\n'
            )
        start = time.monotonic()
        for number, checked in dagbag_check(folder, numbers).items():
            results[number].update(checked)
        dagbag_seconds = time.monotonic() - start
    results_path.write_text(
        json.dumps({"cases": list(results.values()), "dagbag_seconds": round(dagbag_seconds, 1)}, indent=1)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
