"""``airflow-argo run``: run one manifest once through Airflow, and report its nodes.

The manifest is compiled into a DAG that Airflow loads from a dags folder (``dag.test()``
only runs DAGs that come from a DAG bundle), then run with ``dag.test()``. By default a
project-local Airflow home ``.airflow-argo/`` (SQLite) is created on demand in the current
folder; ``--airflow-home`` (or ``AIRFLOW_ARGO_USE_AIRFLOW_HOME=1``) uses the configured one.

With ``-o json`` stdout holds exactly one JSON object and everything else goes to stderr.
Exit status: 0 when the workflow Succeeded, 1 when it Failed or Errored, 2 for invalid input.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, NamedTuple, TextIO

LOCAL_HOME = ".airflow-argo"
STUB_NAME = "airflow_argo_run.py"


def add_parser(sub: Any) -> None:
    run = sub.add_parser(
        "run",
        help="run a manifest once through Airflow and print its nodes",
        description="Compile an Argo manifest and run it once with Airflow (dag.test()).",
    )
    add_input_arguments(run, "run")
    run.add_argument("--backend", choices=("local", "kubernetes"), default=None)
    run.add_argument(
        "--templates",
        metavar="DIR",
        help="folder whose WorkflowTemplates templateRef may use (default: the file's folder)",
    )
    run.add_argument("-o", "--output", choices=("json",), default=None, help="print one JSON object")
    run.add_argument(
        "--parallel",
        type=int,
        nargs="?",
        const=os.cpu_count() or 2,
        default=0,
        metavar="N",
        help="run tasks through Airflow's LocalExecutor with N worker processes, so that parallel branches "
        "run at the same time (default N: the number of CPUs)",
    )
    run.add_argument(
        "--airflow-home",
        action="store_true",
        help="use the configured Airflow (AIRFLOW_HOME) instead of ./.airflow-argo",
    )
    run.set_defaults(handler=run_command)


def add_input_arguments(parser: Any, verb: str) -> None:
    """FILE, its parameters and ``--entrypoint``: the input of ``run`` and ``render``."""
    parser.add_argument("file", metavar="FILE")
    parser.add_argument(
        "-p", "--parameter", action="append", default=[], metavar="NAME=VALUE", help="a workflow parameter (repeatable)"
    )
    parser.add_argument("--parameter-file", metavar="F", help="YAML or JSON file of parameters")
    parser.add_argument("--entrypoint", metavar="T", help=f"{verb} this template instead of spec.entrypoint")


class InvalidInput(Exception):
    pass


class CommandInput(NamedTuple):
    file: Path
    params: dict[str, str]
    library: Path
    manifest: Any
    mset: Any


def read_input(args: argparse.Namespace, templates: str | None = None) -> CommandInput | None:
    """FILE, its parameters and its runnable manifest; None once the reason why not is printed
    (exit status 2). ``templates``: the folder of the WorkflowTemplates (default: FILE's folder)."""
    err = sys.stderr
    file = Path(args.file).resolve()
    try:
        params = parse_parameters(args.parameter, args.parameter_file)
        if not file.is_file():
            raise InvalidInput(f"{args.file}: no such file")
    except InvalidInput as exc:
        print(f"error: {exc}", file=err)
        return None
    from airflow_argo_provider.manifest import load_paths
    from airflow_argo_provider.manifest.loader import runnable_manifest

    library = Path(templates).resolve() if templates else file.parent
    mset = load_paths([library] if file.is_relative_to(library) else [library, file])
    manifest = runnable_manifest(mset, str(file), args.entrypoint)
    # One run or render of FILE is not disturbed by a DAG id it shares with another manifest (AAP013).
    problems = [p for p in mset.problems if p.file == str(file) and not p.note and p.code != "AAP013"]
    if problems:
        for problem in problems:
            print(problem.format(), file=err)
        return None
    if manifest is None:
        print(f"{file}: no runnable Workflow, CronWorkflow or WorkflowTemplate", file=err)
        return None
    return CommandInput(file, params, library, manifest, mset)


class DagLoadError(Exception):
    """The compiled DAG file could not be loaded by Airflow (the message says why)."""


def parse_parameters(pairs: list[str], parameter_file: str | None) -> dict[str, str]:
    import yaml

    from airflow_argo_provider.expressions import render_value

    values: dict[str, str] = {}
    if parameter_file:
        try:
            data = yaml.safe_load(Path(parameter_file).read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise InvalidInput(f"--parameter-file {parameter_file}: {exc}") from None
        if not isinstance(data, dict):
            raise InvalidInput(f"--parameter-file {parameter_file}: expected a mapping of name: value")
        values.update({str(k): v if isinstance(v, str) else render_value(v) for k, v in data.items()})
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise InvalidInput(f"-p {pair!r}: expected NAME=VALUE")
        values[name] = value
    return values


def _setup_environment(use_airflow_home: bool) -> Path:
    """Point Airflow at the project-local home (unless told otherwise) before importing it."""
    if use_airflow_home or os.environ.get("AIRFLOW_ARGO_USE_AIRFLOW_HOME"):
        home = Path(os.environ.get("AIRFLOW_HOME", Path.home() / "airflow"))
        dags = home / "argo-run-dags"
    else:
        home = Path.cwd() / LOCAL_HOME
        os.environ["AIRFLOW_HOME"] = str(home)
        os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
        os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "False")
        dags = home / "dags"
    home.mkdir(parents=True, exist_ok=True)
    dags.mkdir(parents=True, exist_ok=True)
    os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(dags)
    os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")
    return dags


def _configure_executor(workers: int) -> None:
    """LocalExecutor with ``workers`` processes; its task runners reach the API this process serves."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    import secrets

    os.environ["AIRFLOW__CORE__EXECUTOR"] = "LocalExecutor"
    # The API signs the task runners' tokens; a run-local secret unless one is configured.
    os.environ.setdefault("AIRFLOW__API_AUTH__JWT_SECRET", secrets.token_urlsafe(32))
    os.environ["AIRFLOW__CORE__PARALLELISM"] = str(workers)
    os.environ["AIRFLOW_ARGO_EXECUTION_API_PORT"] = str(port)
    os.environ["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] = f"http://127.0.0.1:{port}/execution/"


@contextlib.contextmanager
def _stdout_to_stderr(active: bool) -> Any:
    """With ``-o json`` nothing but the JSON may reach stdout: point file descriptor 1 at stderr
    while the run goes (task runners and step processes write to inherited descriptors)."""
    if not active:
        yield
        return
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def _migrate(out: TextIO) -> None:
    """Create or upgrade the metadata database when this Airflow version has not done it yet."""
    import airflow

    home = Path(os.environ["AIRFLOW_HOME"])
    marker = home / f".migrated-{airflow.__version__}"
    if marker.exists():
        return
    print(f"preparing the Airflow metadata database in {home} ...", file=out)
    airflow_bin = Path(sys.executable).parent / "airflow"
    command = [str(airflow_bin)] if airflow_bin.exists() else [sys.executable, "-m", "airflow"]
    done = subprocess.run([*command, "db", "migrate"], capture_output=True, text=True, env=dict(os.environ))
    if done.returncode != 0:
        raise RuntimeError(f"airflow db migrate failed:\n{done.stderr[-2000:]}")
    marker.write_text("ok\n")


def _write_stub(dags: Path, file: Path, entrypoint: str | None, backend: str | None, templates: Path | None) -> None:
    for old in dags.glob("*.py"):
        if old.name == STUB_NAME:
            old.unlink()
    library = str(templates) if templates else None
    args = f"{str(file)!r}, backend={backend!r}, entrypoint={entrypoint!r}, library={library!r}"
    (dags / STUB_NAME).write_text(
        '"""The Airflow DAG of the manifest `airflow-argo run` is running."""\n'
        "from airflow_argo_provider.dagfolder import load_manifest_dag\n\n"
        f"globals().update(load_manifest_dag({args}))\n"
    )


def _progress(dag_id: str, stop: threading.Event, out: TextIO) -> None:
    """Print task instances as they finish (polls the metadata database)."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    seen: dict[tuple[str, int], str] = {}
    symbols = {"success": "ok  ", "failed": "FAIL", "skipped": "skip", "up_for_retry": "retry"}
    while True:
        last = stop.is_set()
        with contextlib.suppress(Exception), create_session() as session:
            rows = session.execute(
                select(  # type: ignore[call-overload]
                    TaskInstance.task_id, TaskInstance.map_index, TaskInstance.state, TaskInstance.rendered_map_index
                )
                .where(TaskInstance.dag_id == dag_id)
                .where(TaskInstance.state.in_(list(symbols)))
            ).all()
            for task_id, map_index, state, label in rows:
                key = (task_id, map_index)
                if seen.get(key) != state:
                    seen[key] = state
                    name = label if map_index >= 0 and label else task_id
                    print(f"  {symbols.get(str(state), str(state))}  {name}", file=out, flush=True)
        if last:
            return
        stop.wait(0.5)


def ensure_pools(plan: Any) -> None:
    """Create the Airflow pools of the workflow's mutexes and semaphores (Argo synchronization)."""
    from airflow.models.pool import Pool

    locks = {n.lock["pool"]: n.lock for n in plan.nodes() if n.lock}
    for lock in locks.values():
        if Pool.get_pool(lock["pool"]) is None:
            Pool.create_or_update_pool(lock["pool"], lock["slots"], lock["description"], include_deferred=False)


def _import_models_before_threads() -> None:
    """Import and configure every ORM model now: a second thread querying the database while
    ``dag.test()`` imports model modules would otherwise deadlock on the import lock."""
    import importlib

    from airflow.models import import_all_models
    from sqlalchemy.orm import configure_mappers

    for module in (
        "airflow.models.dagbag",
        "airflow.api.common.trigger_dag",
        "airflow.dag_processing.bundles.manager",
        "airflow.dag_processing.dagbag",
        "airflow.models.dag_version",
        "airflow.serialization.serialized_objects",
        "airflow.jobs.scheduler_job_runner",
    ):
        with contextlib.suppress(ImportError):
            importlib.import_module(module)
    import_all_models()
    configure_mappers()


def _iso(moment: Any) -> str | None:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment is not None else None


def run_command(args: argparse.Namespace) -> int:
    import warnings

    warnings.simplefilter("ignore", DeprecationWarning)
    # dag.test() serves the execution API in process through starlette's test client, which warns
    # about the httpx it is given; nothing a user of this command can act on.
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette\.testclient`", category=UserWarning)
    json_out = args.output == "json"
    err = sys.stderr
    # Check the manifest before touching Airflow: invalid input exits 2 with its problems.
    command_input = read_input(args, args.templates)
    if command_input is None:
        return 2
    file, params, library = command_input.file, command_input.params, command_input.library
    from airflow_argo_provider.manifest import ManifestError

    dags = _setup_environment(args.airflow_home)
    if args.parallel:
        _configure_executor(args.parallel)
    with contextlib.redirect_stdout(err), _stdout_to_stderr(json_out):
        try:
            _migrate(err)
            result = execute_manifest(
                file,
                params,
                dags=dags,
                entrypoint=args.entrypoint,
                backend=args.backend,
                templates=library,
                progress=None if json_out else err,
                parallel=args.parallel,
            )
        except ManifestError as exc:
            for problem in exc.problems:
                print(problem.format(), file=err)
            return 2
        except DagLoadError as exc:
            print(str(exc), file=err)
            return 2
    if json_out:
        sys.stdout.write(json.dumps(result, indent=2, sort_keys=False) + "\n")
    else:
        print_table(result, sys.stdout)
    return 0 if result["phase"] == "Succeeded" else 1


def execute_manifest(
    file: Path,
    params: dict[str, str],
    *,
    dags: Path,
    entrypoint: str | None = None,
    backend: str | None = None,
    templates: Path | None = None,
    progress: TextIO | None = None,
    parallel: int = 0,
) -> dict[str, Any]:
    """Compile ``file`` into the dags folder ``dags``, run it with ``dag.test()``, report it.

    With ``parallel`` > 0 the tasks run through Airflow's LocalExecutor with that many worker
    processes (parallel branches run at the same time); its task runners talk to an execution
    API served from this process.

    Airflow must already be configured (``AIRFLOW_HOME``, a migrated database) and ``dags``
    must be its dags folder.
    """
    from airflow.dag_processing.dagbag import DagBag

    _write_stub(dags, file, entrypoint, backend, templates)
    bag = DagBag(str(dags / STUB_NAME))
    if bag.import_errors:
        message = "\n".join(bag.import_errors.values())
        raise DagLoadError(f"the DAG could not be loaded:\n{message}")
    stub = str((dags / STUB_NAME).resolve())
    dags_found = [d for d in bag.dags.values() if str(Path(d.fileloc).resolve()) == stub]
    if not dags_found:
        raise DagLoadError(f"no DAG was compiled from {file}")
    dag = dags_found[0]
    dag_id = dag.dag_id
    plan = next(t.plan for t in dag.tasks if hasattr(t, "plan"))
    ensure_pools(plan)
    stop = threading.Event()
    printer = None
    if progress is not None:
        _import_models_before_threads()
        print(f"running {dag_id} ({len(dag.tasks)} tasks) ...", file=progress, flush=True)
        printer = threading.Thread(target=_progress, args=(dag_id, stop, progress), daemon=True)
        printer.start()
    started = time.time()
    try:
        if parallel > 0:
            with execution_api_server():
                dag_run = dag.test(run_conf=params or None, use_executor=True)
        else:
            dag_run = dag.test(run_conf=params or None)
    finally:
        stop.set()
        if printer is not None:
            printer.join(timeout=2)
    return report(plan, dag_id, dag_run, time.time() - started)


@contextlib.contextmanager
def execution_api_server() -> Any:
    """Serve Airflow's execution API on 127.0.0.1 for the executor's task runners."""
    import socket

    import uvicorn
    from airflow.api_fastapi.app import create_app

    port = int(os.environ.get("AIRFLOW_ARGO_EXECUTION_API_PORT") or 0)
    if not port:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        os.environ["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] = f"http://127.0.0.1:{port}/execution/"
    server = uvicorn.Server(
        uvicorn.Config(create_app(apps="execution"), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not server.started and thread.is_alive() and time.time() < deadline:
        time.sleep(0.05)
    if not server.started:
        raise DagLoadError("could not start Airflow's execution API for the executor")
    try:
        yield f"http://127.0.0.1:{port}/execution/"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def report(plan: Any, dag_id: str, dag_run: Any, seconds: float) -> dict[str, Any]:
    """The run as Argo reports a workflow: phase, times, parameters, outputs and nodes."""
    from airflow_argo_provider.plan.model import WORKFLOW_PHASE_ID
    from airflow_argo_provider.runtime.context import workflow_vars
    from airflow_argo_provider.runtime.report import node_report
    from airflow_argo_provider.runtime.store import database_store
    from airflow_argo_provider.runtime.view import RunView

    store = database_store(dag_id, dag_run.run_id)
    context = {
        "run_id": dag_run.run_id,
        "dag_run": dag_run,
        "params": dag_run.conf or {},
        "logical_date": dag_run.logical_date,
    }
    workflow = workflow_vars(plan, context)
    view = RunView(plan, store, workflow)
    final = next((p for p in store.payloads(WORKFLOW_PHASE_ID) if p.node is not None), None)
    phase = final.node.phase if final and final.node else ("Succeeded" if str(dag_run.state) == "success" else "Error")
    message = final.node.message if final and final.node else ""
    parameters = {
        k[len("workflow.parameters.") :]: v
        for k, v in workflow.items()
        if k.startswith("workflow.parameters.") and k != "workflow.parameters.json"
    }
    return {
        "name": workflow["workflow.name"],
        "phase": phase,
        "message": message,
        "startedAt": _iso(dag_run.start_date),
        "finishedAt": _iso(dag_run.end_date),
        "duration": round(seconds, 3),
        "parameters": parameters,
        "outputs": {"parameters": dict(final.node.parameters) if final and final.node else {}},
        "nodes": node_report(view),
    }


def _one_line(text: str) -> str:
    """``text`` with its runs of white space (newlines too) as single spaces."""
    return " ".join(text.split())


def _retried(count: int) -> str:
    return f"after {count} retr{'y' if count == 1 else 'ies'}" if count else ""


def print_table(result: dict[str, Any], out: TextIO) -> None:
    nodes = result["nodes"]
    width = max([len(n["displayName"]) for n in nodes] + [4])
    print(f"\n{'NODE':<{width}}  {'PHASE':<10}  MESSAGE", file=out)
    for node in nodes:
        message = _one_line(node["message"] or "")
        result_text = _one_line(node["outputs"].get("result") or "")
        if not message and result_text:
            message = "result: " + (result_text if len(result_text) < 60 else result_text[:57] + "...")
        retried = _retried(node.get("retries") or 0)
        if retried:
            message = f"{message} ({retried})" if message else retried
        print(f"{node['displayName']:<{width}}  {node['phase']:<10}  {message}".rstrip(), file=out)
    print(
        f"\n{result['name']}: {result['phase']}" + (f" ({_one_line(result['message'])})" if result["message"] else ""),
        file=out,
    )
    if result["outputs"]["parameters"]:
        print(f"outputs: {json.dumps(result['outputs']['parameters'])}", file=out)
