"""``airflow-argo render``: the plan of a manifest and the pod of each step, without a cluster.

Prints the plan as a tree, then for each container or script step the pod the Kubernetes
backend would create (YAML, one document per step). Values only a run knows (other steps'
outputs, ``{{item}}``, the workflow's uid) stay ``{{...}}`` placeholders; the pods' namespace
comes from the Airflow connection unless the manifest sets ``metadata.namespace``, and the
provider adds its tracking labels (``dag_id``, ``task_id``, ``run_id``, ...) when it creates
them. Needs neither a cluster nor Airflow's database.

Exit status: 0 when every step has a valid pod, 1 when some step cannot become one (the reason
is printed in its place), 2 for invalid input.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, TextIO


def add_parser(sub: Any) -> None:
    from airflow_argo_provider.cli.run import add_input_arguments

    render = sub.add_parser(
        "render",
        help="print the plan and the pod of each step, without a cluster",
        description="Print the plan of an Argo manifest and, for each container or script step, the pod "
        "manifest the Kubernetes backend would create. Run-time values are shown as {{...}} placeholders.",
    )
    add_input_arguments(render, "render")
    render.add_argument(
        "--backend",
        choices=("kubernetes",),
        default="kubernetes",
        help="the backend whose objects are printed (only kubernetes builds pods)",
    )
    render.set_defaults(handler=render_command)


def render_command(args: argparse.Namespace) -> int:
    from airflow_argo_provider.cli.run import read_input
    from airflow_argo_provider.manifest import ManifestError
    from airflow_argo_provider.plan.build import build_plan

    err = sys.stderr
    command_input = read_input(args)
    if command_input is None:
        return 2
    params, manifest, mset = command_input.params, command_input.manifest, command_input.mset
    # A DAG id shared with another manifest of the folder (AAP013) does not change the pods.
    manifest.problems = [p for p in manifest.problems if p.code != "AAP013"]
    if args.entrypoint:
        spec = manifest.data["spec"]["workflowSpec"] if manifest.kind == "CronWorkflow" else manifest.data["spec"]
        spec["entrypoint"] = args.entrypoint
    try:
        plan = build_plan(manifest, mset)
    except ManifestError as exc:
        for problem in exc.problems:
            print(problem.format(), file=err)
        return 2
    known = {p.name for p in plan.parameters}
    unknown = sorted(set(params) - known)
    if unknown:
        print(
            f"error: unknown parameter(s) {', '.join(unknown)} (the workflow has: {', '.join(sorted(known))})", file=err
        )
        return 2
    return print_render(plan, params, sys.stdout)


def print_render(plan: Any, params: dict[str, str], out: TextIO) -> int:
    from airflow_argo_provider.kubernetes.pod import pod_yaml
    from airflow_argo_provider.kubernetes.preview import Previewer
    from airflow_argo_provider.kubernetes.settings import pod_settings
    from airflow_argo_provider.plan.printer import format_plan

    print(format_plan(plan), file=out)
    previewer = Previewer(plan, params, pod_settings(airflow_config=False))
    code = 0
    for preview in previewer.leaves():
        node = preview.node
        print("---", file=out)
        print(f"# {node.name} ({node.body} {plan.template(node.template).get('name', '')}, task {node.id})", file=out)
        for note in preview.notes:
            print(f"# note: {note}", file=out)
        if preview.resource is not None:
            import yaml

            print(f"# resource: {preview.resource.get('action')}, through the Kubernetes object API", file=out)
            out.write(yaml.safe_dump(preview.resource, sort_keys=False, width=120, allow_unicode=True))
            continue
        if preview.pod is None:
            print(f"# no pod: {preview.problem}", file=out)
            if preview.problem and "runs without a pod" not in preview.problem:
                code = 1
            continue
        if not plan.namespace:
            print("# namespace: the Airflow Kubernetes connection's (else default)", file=out)
        out.write(pod_yaml(preview.pod))
    return code
