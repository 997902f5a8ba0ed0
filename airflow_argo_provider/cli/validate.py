"""``airflow-argo validate`` and ``airflow-argo assess``."""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from collections.abc import Sequence
from typing import Any, TextIO

from airflow_argo_provider.manifest import CODES, ManifestSet, Problem, load_paths


def add_parsers(sub: Any) -> None:
    validate = sub.add_parser(
        "validate",
        help="check manifests; print FILE:LINE: CODE message for each problem",
        description="Check Argo manifests (files or folders). Exit 0 when all are valid, 1 otherwise.",
    )
    validate.add_argument("paths", nargs="+", metavar="PATH")
    validate.add_argument("--notes", action="store_true", help="also print notes (AAP2xx)")
    validate.set_defaults(handler=run_validate)

    assess = sub.add_parser(
        "assess",
        help="print a table of each manifest with ok or its problem codes, and the totals",
        description="Assess how much of a folder of Argo manifests this provider can run.",
    )
    assess.add_argument("path", metavar="PATH")
    assess.add_argument("--format", choices=("text", "markdown"), default="text")
    assess.set_defaults(handler=run_assess)


def run_validate(args: argparse.Namespace) -> int:
    mset = load_paths(args.paths)
    return print_validation(mset, sys.stdout, notes=args.notes)


def print_validation(mset: ManifestSet, out: TextIO, notes: bool = False) -> int:
    errors = mset.errors
    for problem in mset.problems:
        if notes or not problem.note:
            print(problem.format(), file=out)
    valid = sum(1 for m in mset.manifests if m.ok)
    print(
        f"{len(mset.files)} files, {len(mset.manifests)} manifests, {valid} valid, {len(errors)} problems",
        file=sys.stderr,
    )
    return 1 if errors else 0


# -- assess -----------------------------------------------------------------------------------


def assessment_rows(mset: ManifestSet, root: str) -> list[dict[str, Any]]:
    """One row per manifest (and per unusable document), relative to ``root``.

    DAG-id collisions (AAP013) concern the folder as a whole, not one manifest, so they are
    left out of the rows and counted separately by :func:`assessment_totals`.
    """
    rows: list[dict[str, Any]] = []
    for manifest in mset.manifests:
        codes = sorted({p.code for p in manifest.problems if not p.note and p.code != "AAP013"})
        rows.append(
            {
                "file": _rel(manifest.file, root),
                "doc": manifest.doc.index,
                "kind": manifest.kind,
                "name": manifest.name,
                "codes": codes,
            }
        )
    for problem in mset.file_problems:
        rows.append({"file": _rel(problem.file, root), "doc": None, "kind": "-", "name": "-", "codes": [problem.code]})
    rows.sort(key=lambda r: (r["file"], r["doc"] or 0))
    return rows


def _rel(path: str, root: str) -> str:
    rel = os.path.relpath(path, root) if os.path.isdir(root) else os.path.basename(path)
    return rel.replace(os.sep, "/")


def assessment_totals(rows: Sequence[dict[str, Any]]) -> tuple[int, int, Counter[str]]:
    ok = sum(1 for r in rows if not r["codes"])
    counts: Counter[str] = Counter(code for r in rows for code in r["codes"])
    return len(rows), ok, counts


def format_assessment(mset: ManifestSet, root: str, markdown: bool = False) -> str:
    rows = assessment_rows(mset, root)
    total, ok, counts = assessment_totals(rows)
    collisions = [p for p in mset.problems if p.code == "AAP013"]
    lines: list[str] = []
    if markdown:
        lines += ["| manifest | kind | name | status |", "| --- | --- | --- | --- |"]
        for r in rows:
            label = r["file"] + (f"#{r['doc']}" if r["doc"] else "")
            status = "ok" if not r["codes"] else " ".join(r["codes"])
            lines.append(f"| `{label}` | {r['kind']} | {r['name']} | {status} |")
    else:
        width = max([len(r["file"]) + 3 for r in rows] + [8])
        lines.append(f"{'MANIFEST':<{width}}  {'KIND':<24}  STATUS")
        for r in rows:
            label = r["file"] + (f"#{r['doc']}" if r["doc"] else "")
            status = "ok" if not r["codes"] else " ".join(r["codes"])
            lines.append(f"{label:<{width}}  {r['kind']:<24}  {status}")
    lines.append("")
    share = 100.0 * ok / total if total else 0.0
    lines.append(f"Total: {total} manifests, {ok} ok ({share:.0f}%), {total - ok} with problems.")
    if counts:
        lines.append("")
        if markdown:
            lines += ["| code | meaning | manifests |", "| --- | --- | --- |"]
        for code, n in sorted(counts.items()):
            title = CODES[code].title
            lines.append(f"| {code} | {title} | {n} |" if markdown else f"  {code}  {n:>4}  {title}")
    if collisions:
        lines.append("")
        lines.append(
            f"{len(collisions)} manifests share a DAG id with another one in this folder (AAP013); "
            "`airflow-argo validate` lists them."
        )
    return "\n".join(lines) + "\n"


def run_assess(args: argparse.Namespace) -> int:
    mset = load_paths([args.path])
    sys.stdout.write(format_assessment(mset, args.path, markdown=args.format == "markdown"))
    return 0


def problems_by_file(problems: Sequence[Problem]) -> dict[str, list[Problem]]:
    out: dict[str, list[Problem]] = {}
    for p in problems:
        out.setdefault(p.file, []).append(p)
    return out
