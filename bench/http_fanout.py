"""HTTP fan-out: this provider's ``http`` steps against Airflow's own dynamic task mapping.

    python bench/http_fanout.py [--sizes 100,1000] [--failures 0,0.2] [--backoff 1]

Runs, side by side in one process and against the same local server (127.0.0.1, started
here), the fetch of seed document 001 ("fetch N posts in parallel, validate each, retry
transient failures, aggregate"):

(a) ``argo``: the seed-style Argo manifest (an ``http`` template fanned out with
    ``withSequence``, ``successCondition``, ``retryStrategy`` with ``OnTransientError``,
    and a downstream step receiving ``{{tasks.fetch-all.outputs.result}}``) compiled by this
    provider and run with ``dag.test()``;
(b) ``native``: the same fetch written as plain Airflow: the http provider's ``HttpOperator``
    mapped over the N endpoints (dynamic task mapping), ``response_check``, Airflow retries
    with the same exponential backoff, and a downstream task receiving the mapped results,
    run with ``dag.test()``.

The server answers ``/posts/ID`` with jsonplaceholder's JSON. With ``--failures F`` a share F
of the items (chosen deterministically) fail their first request with a transient failure,
in turn a 503, a dropped connection, or a response slower than the 1 s request timeout.

Each run must deliver exactly N valid posts, ids 1..N in order, no duplicates, to the
downstream step (which posts them to the server's ``/collect``). Throughput is reported two
ways: over the fetch task's own execution (first start to last end of the fetch task
instances, every try included, from Airflow's task instance records) and over the whole
``dag.test()`` call (DAG parsing, the run, every task). Exit status 1 when a run delivers
wrong results or a target (argo at least 50x native, and at least 1,000 items/s at N = 1,000
without failures, both over the fetch task) is missed.

Airflow runs in a temporary home (SQLite) created and deleted here.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from scripts.posts_api import post  # noqa: E402 (the posts of the API stand-in)

TIMEOUT_SECONDS = 1.0  # request timeout on both sides
SLOW_SECONDS = 1.3  # a "slow response" takes this long: longer than the timeout


class Server:
    """jsonplaceholder's ``/posts/ID`` on 127.0.0.1, with injected transient failures."""

    def __init__(self) -> None:
        self.share = 0.0
        self.counts: dict[int, int] = defaultdict(int)
        self.collected: list[bytes] = []
        self.injected: dict[str, int] = defaultdict(int)
        self.port = 0

    def reset(self, share: float) -> None:
        self.share = share
        self.counts.clear()
        self.collected.clear()
        self.injected.clear()

    def failure_of(self, ident: int) -> str | None:
        """The failure item ``ident`` gets on its first request, if it is one of the chosen share."""
        digest = int(hashlib.sha256(f"item-{ident}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
        if digest >= self.share:
            return None
        return ("503", "drop", "slow")[ident % 3]

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                method, target, _ = line.decode("latin-1").split(" ", 2)
                length = 0
                while True:
                    raw = await reader.readline()
                    if raw in (b"\r\n", b"\n", b""):
                        break
                    name, _, value = raw.decode("latin-1").partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value.strip())
                body = await reader.readexactly(length) if length else b""
                status, payload = 404, b"not found"
                if method == "POST" and target.startswith("/collect"):
                    self.collected.append(body)
                    status, payload = 200, b"ok"
                elif target.startswith("/posts/"):
                    ident = int(target.rsplit("/", 1)[1])
                    self.counts[ident] += 1
                    failure = self.failure_of(ident) if self.counts[ident] == 1 else None
                    if failure:
                        self.injected[failure] += 1
                    if failure == "drop":
                        writer.transport.abort()
                        return
                    if failure == "slow":
                        await asyncio.sleep(SLOW_SECONDS)
                    if failure == "503":
                        status, payload = 503, b"service unavailable"
                    else:
                        status, payload = 200, json.dumps(post(ident)).encode()
                reason = {200: "OK", 404: "Not Found", 503: "Service Unavailable"}[status]
                head = f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
                writer.write(head.encode() + payload)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            writer.close()

    def start(self) -> None:
        ready = threading.Event()

        def serve() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            server = loop.run_until_complete(asyncio.start_server(self.handle, "127.0.0.1", 0, backlog=1024))
            self.port = server.sockets[0].getsockname()[1]
            ready.set()
            loop.run_forever()

        threading.Thread(target=serve, daemon=True).start()
        ready.wait(10)


MANIFEST = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  name: argo-http-fanout
spec:
  entrypoint: main
  arguments:
    parameters:
    - name: count
      value: "5"
  templates:
  - name: main
    dag:
      tasks:
      - name: fetch-all
        template: call-api
        withSequence:
          count: "{{workflow.parameters.count}}"
          start: 1
        arguments:
          parameters:
          - name: url
            value: "http://127.0.0.1:PORT/posts/{{item}}"
      - name: save-results
        dependencies: [fetch-all]
        template: save
        arguments:
          parameters:
          - name: results
            value: "{{tasks.fetch-all.outputs.result}}"
  - name: call-api
    retryStrategy:
      limit: 3
      retryPolicy: OnTransientError
      backoff:
        duration: "BACKOFFs"
        factor: 2
    inputs:
      parameters:
      - name: url
    http:
      url: "{{inputs.parameters.url}}"
      method: GET
      timeoutSeconds: TIMEOUT
      successCondition: "response.statusCode == 200 && response.body contains \\"userId\\" && response.body contains \\"id\\""
  - name: save
    inputs:
      parameters:
      - name: results
    http:
      url: "http://127.0.0.1:PORT/collect"
      method: POST
      body: "{{inputs.parameters.results}}"
"""

NATIVE_DAG = '''\
"""The seed's fetch as plain Airflow: HttpOperator mapped over the endpoints."""
from __future__ import annotations

import json
from datetime import timedelta

from airflow.providers.http.hooks.http import HttpHook
from airflow.providers.http.operators.http import HttpOperator
from airflow.sdk import DAG, task

with DAG("native_http_fanout", schedule=None, catchup=False, params={"count": 5}) as dag:

    @task
    def endpoints(params=None) -> list[str]:
        return [f"/posts/{i}" for i in range(1, int(params["count"]) + 1)]

    fetch = HttpOperator.partial(
        task_id="fetch",
        http_conn_id="bench_http",
        method="GET",
        response_check=lambda r: r.status_code == 200 and "userId" in r.text and "id" in r.text,
        response_filter=lambda r: r.text,
        extra_options={"timeout": TIMEOUT},
        retries=3,
        retry_delay=timedelta(seconds=BACKOFF),
        retry_exponential_backoff=2.0,
        log_response=False,
    ).expand(endpoint=endpoints())

    @task
    def save(results) -> None:
        body = "[" + ",".join(json.dumps(json.loads(r), separators=(",", ":")) for r in results) + "]"
        HttpHook(method="POST", http_conn_id="bench_http").run("/collect", data=body)

    save(fetch.output)
'''


@dataclass
class Measure:
    side: str
    n: int
    share: float
    wall: float
    fetch: float
    task_instances: int
    tries: int
    ok: bool
    problem: str = ""
    item_retries: int = 0  # argo: retries made inside the fetch task, summed over the items

    @property
    def fetch_rate(self) -> float:
        return self.n / self.fetch if self.fetch > 0 else float("inf")

    @property
    def wall_rate(self) -> float:
        return self.n / self.wall


def check(server: Server, n: int) -> str:
    """'' when the downstream step received exactly N valid posts 1..N in order, else what is wrong."""
    if len(server.collected) != 1:
        return f"the downstream step posted {len(server.collected)} times"
    try:
        results = json.loads(server.collected[0])
    except ValueError as exc:
        return f"the aggregate is not JSON: {exc}"
    if not isinstance(results, list) or len(results) != n:
        return f"expected {n} results, got {len(results) if isinstance(results, list) else type(results).__name__}"
    ids = [r.get("id") if isinstance(r, dict) else None for r in results]
    if len(set(ids)) != n:
        return "duplicate results"
    if ids != list(range(1, n + 1)):
        return "results out of order or wrong ids"
    if any(r != post(r["id"]) for r in results):
        return "a result is not the post the server sent"
    return ""


def fetch_span(dag_id: str, run_id: str, task_id: str) -> tuple[float, int, int]:
    """Seconds from the first start to the last end of the task's instances (every try), the
    number of task instances, and the number of tries."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.taskinstancehistory import TaskInstanceHistory
    from airflow.utils.session import create_session
    from sqlalchemy import select

    starts, ends = [], []
    instances = tries = 0
    with create_session() as session:
        for model in (TaskInstance, TaskInstanceHistory):
            rows = session.execute(
                select(model.start_date, model.end_date).where(
                    model.dag_id == dag_id, model.run_id == run_id, model.task_id == task_id
                )
            ).all()
            for start, end in rows:
                if start is not None and end is not None:
                    starts.append(start)
                    ends.append(end)
                    tries += 1
            if model is TaskInstance:
                instances = len(rows)
    return (max(ends) - min(starts)).total_seconds(), instances, tries


def run_argo(server: Server, manifest: Path, dags: Path, n: int, share: float) -> Measure:
    from airflow_argo_provider.cli.run import execute_manifest

    server.reset(share)
    started = time.perf_counter()
    result = execute_manifest(manifest, {"count": str(n)}, dags=dags)
    wall = time.perf_counter() - started
    problem = check(server, n)
    if result["phase"] != "Succeeded":
        problem = problem or f"workflow {result['phase']}: {result['message']}"
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        run = session.scalars(
            select(DagRun).where(DagRun.dag_id == "argo-http-fanout").order_by(DagRun.id.desc()).limit(1)
        ).one()
        run_id = run.run_id
    fetch, instances, tries = fetch_span("argo-http-fanout", run_id, "fetch-all")
    retries = sum(node["retries"] for node in result["nodes"] if node["displayName"].startswith("fetch-all("))
    return Measure("argo", n, share, wall, fetch, instances, tries, not problem, problem, retries)


def run_native(server: Server, dags: Path, n: int, share: float) -> Measure:
    from airflow.dag_processing.dagbag import DagBag

    server.reset(share)
    started = time.perf_counter()
    bag = DagBag(str(dags))
    dag = bag.dags["native_http_fanout"]
    dag_run = dag.test(run_conf={"count": n})
    wall = time.perf_counter() - started
    problem = check(server, n)
    if str(dag_run.state) != "success":
        problem = problem or f"dag run {dag_run.state}"
    fetch, instances, tries = fetch_span("native_http_fanout", dag_run.run_id, "fetch")
    return Measure("native", n, share, wall, fetch, instances, tries, not problem, problem)


def prepare_airflow(home: Path) -> Path:
    dags = home / "dags"
    dags.mkdir(parents=True)
    os.environ.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
            "AIRFLOW__CORE__MAX_MAP_LENGTH": "1024",
        }
    )
    os.environ.pop("AIRFLOW__ARGO__BACKEND", None)
    airflow = Path(sys.executable).parent / "airflow"
    done = subprocess.run([str(airflow), "db", "migrate"], capture_output=True, text=True, env=dict(os.environ))
    if done.returncode != 0:
        sys.exit(f"airflow db migrate failed:\n{done.stderr[-2000:]}")
    return dags


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100,1000", help="comma-separated N (default 100,1000)")
    parser.add_argument("--failures", default="0,0.2", help="comma-separated transient failure shares")
    parser.add_argument("--backoff", type=float, default=1.0, help="retry backoff duration in seconds (factor 2)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary Airflow home")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    shares = [float(s) for s in args.failures.split(",")]

    home = Path(tempfile.mkdtemp(prefix="bench-http-fanout-"))
    print(f"Airflow home: {home} (temporary)", file=sys.stderr)
    try:
        dags = prepare_airflow(home)
        server = Server()
        server.start()
        os.environ["AIRFLOW_CONN_BENCH_HTTP"] = f"http://127.0.0.1:{server.port}"
        manifest = home / "manifests" / "http-fanout.yaml"
        manifest.parent.mkdir()
        backoff = f"{args.backoff:g}"
        manifest.write_text(
            MANIFEST.replace("PORT", str(server.port))
            .replace("BACKOFF", backoff)
            .replace("TIMEOUT", f"{TIMEOUT_SECONDS:g}")
        )
        (dags / "native_http_fanout.py").write_text(
            NATIVE_DAG.replace("TIMEOUT", f"{TIMEOUT_SECONDS:g}").replace("BACKOFF", backoff)
        )
        measures: list[tuple[Measure, Measure, dict[str, int]]] = []
        # Airflow's task logs go to stdout: keep stdout for the table.
        with contextlib.redirect_stdout(sys.stderr):
            # Warm up both sides (imports, first DAG parse), not measured.
            run_argo(server, manifest, dags, 5, 0.0)
            run_native(server, dags, 5, 0.0)
            for n in sizes:
                for share in shares:
                    print(f"N={n} failures={share:.0%}: argo ...", file=sys.stderr, flush=True)
                    argo = run_argo(server, manifest, dags, n, share)
                    injected = dict(server.injected)
                    print(f"N={n} failures={share:.0%}: native ...", file=sys.stderr, flush=True)
                    native = run_native(server, dags, n, share)
                    measures.append((argo, native, injected))
        return report(measures)
    finally:
        if args.keep:
            print(f"kept {home}", file=sys.stderr)
        else:
            shutil.rmtree(home, ignore_errors=True)


def report(measures: list[tuple[Measure, Measure, dict[str, int]]]) -> int:
    print(
        textwrap.dedent(
            """
            items/s over the fetch task (first start to last end of its task instances, all tries)
            and over the whole dag.test() call; ratio = argo / native.
            """
        )
    )
    header = (
        f"{'N':>5} {'fail':>5} {'injected':>22} | {'argo TIs':>8} {'tries':>5} {'item retries':>12} "
        f"{'native TIs':>10} {'tries':>5} | "
        f"{'argo fetch/s':>12} {'native fetch/s':>14} {'ratio':>7} | {'argo wall/s':>11} {'native wall/s':>13} "
        f"{'ratio':>7} | {'argo s':>7} {'native s':>8} | results"
    )
    print(header)
    print("-" * len(header))
    failed = False
    for argo, native, injected in measures:
        shown = ",".join(f"{k}:{v}" for k, v in sorted(injected.items())) or "-"
        results = "ok" if argo.ok and native.ok else f"argo: {argo.problem or 'ok'}; native: {native.problem or 'ok'}"
        failed |= not (argo.ok and native.ok)
        print(
            f"{argo.n:>5} {argo.share:>5.0%} {shown:>22} | {argo.task_instances:>8} {argo.tries:>5} "
            f"{argo.item_retries:>12} {native.task_instances:>10} {native.tries:>5} | {argo.fetch_rate:>12.0f} {native.fetch_rate:>14.1f} "
            f"{argo.fetch_rate / native.fetch_rate:>6.0f}x | {argo.wall_rate:>11.1f} {native.wall_rate:>13.1f} "
            f"{argo.wall_rate / native.wall_rate:>6.1f}x | {argo.wall:>7.2f} {native.wall:>8.2f} | {results}"
        )
    print()
    for argo, native, _ in measures:
        if argo.n == 1000 and argo.share == 0:
            ratio = argo.fetch_rate / native.fetch_rate
            fast = argo.fetch_rate >= 1000
            print(
                f"target: argo >= 1,000 items/s at N=1000, 0% failures: {argo.fetch_rate:.0f} items/s -> {'met' if fast else 'MISSED'}"
            )
            print(
                f"target: argo >= 50x native at N=1000, 0% failures: {ratio:.0f}x -> {'met' if ratio >= 50 else 'MISSED'}"
            )
            failed |= not fast or ratio < 50
    if failed:
        print("FAILED: see above")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
