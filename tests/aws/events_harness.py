"""Drive Airflow's own asset-event machinery for a dispatcher DAG, without a scheduler process.

The steps are the ones a deployment takes, each done by Airflow's code:

1. the DAG processor's sync (``sync_bag_to_db``) registers the DAGs, the asset and its watcher's
   trigger;
2. the watcher's trigger (the common-messaging ``MessageQueueTrigger`` on SQS, as stored in the
   ``trigger`` table) runs until it yields an event, as the triggerer runs it;
3. ``Trigger.submit_event`` turns the event into an asset event and queues the dispatcher DAG;
4. the scheduler's ``_create_dag_runs_asset_triggered`` creates the asset-triggered DAG run that
   consumes every asset event queued since the previous one;
5. the run's task runs in-process through the task SDK (``dag.test()``'s ``_run_task``), whose
   execution API creates the workflow runs.
"""

from __future__ import annotations

import asyncio
import textwrap
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class RunResult:
    state: str
    xcoms: dict[tuple[str, str], Any]
    errors: dict[str, str]


@dataclass
class Harness:
    dags_folder: Path
    files: list[Path] = field(default_factory=list)
    bag: Any = None

    def write_dag_file(self, source: str) -> Path:
        path = self.dags_folder / f"events_{uuid.uuid4().hex[:8]}.py"
        # Airflow's safe mode parses only files that mention both "airflow" and "dag".
        path.write_text('"""Airflow DAGs of a test."""\n' + textwrap.dedent(source))
        self.files.append(path)
        return path

    def sync(self) -> Any:
        """Parse the dags folder and write the DAGs, assets and watchers to the metadata DB."""
        from airflow.dag_processing.bundles.manager import DagBundlesManager
        from airflow.dag_processing.dagbag import BundleDagBag, sync_bag_to_db
        from airflow.utils.session import create_session

        manager = DagBundlesManager()
        with create_session() as session:
            manager.sync_bundles_to_db(session=session)
        (bundle,) = [b for b in manager.get_all_dag_bundles() if Path(b.path) == self.dags_folder]
        if not bundle.is_initialized:
            bundle.initialize()
        bag = BundleDagBag(dag_folder=bundle.path, bundle_path=bundle.path, bundle_name=bundle.name)
        mine = {str(p) for p in self.files}
        errors = {k: v for k, v in bag.import_errors.items() if str(self.dags_folder / k) in mine or k in mine}
        assert not errors, errors
        sync_bag_to_db(bag, bundle.name, bundle.version)
        # New DAGs start paused, and the watchers of a paused DAG's assets are not registered:
        # unpause this test's DAGs (as a user does in the UI) and sync again.
        from airflow.models.dag import DagModel
        from sqlalchemy import update

        ours = [dag_id for dag_id, dag in bag.dags.items() if dag.fileloc in mine]
        with create_session() as session:
            session.execute(update(DagModel).where(DagModel.dag_id.in_(ours)).values(is_paused=False))
        sync_bag_to_db(bag, bundle.name, bundle.version)
        self.bag = bag
        return bag

    # -- the triggerer's part ------------------------------------------------------------------------
    def watcher_trigger(self, asset_name: str) -> tuple[int, Any]:
        """The stored trigger of the asset's watcher, inflated as the triggerer inflates it."""
        from airflow.models.asset import AssetModel
        from airflow.models.trigger import Trigger
        from airflow.sdk._shared.module_loading import import_string
        from airflow.utils.session import create_session
        from sqlalchemy import select

        with create_session() as session:
            asset = session.scalars(select(AssetModel).where(AssetModel.name == asset_name)).one()
            (trigger_id,) = [t.id for t in asset.triggers]
            row = session.get(Trigger, trigger_id)
            assert row is not None
            trigger = import_string(row.classpath)(**row.kwargs)
        return trigger_id, trigger

    def poll(self, asset_name: str, timeout: float = 30.0) -> Any:
        """Run the watcher's trigger until its first event (one poll of the queue) and return it."""
        _, trigger = self.watcher_trigger(asset_name)

        async def first() -> Any:
            async for event in trigger.run():
                return event
            return None

        return asyncio.run(asyncio.wait_for(first(), timeout))

    def submit(self, asset_name: str, event: Any) -> None:
        from airflow.models.trigger import Trigger
        from airflow.utils.session import create_session

        trigger_id, _ = self.watcher_trigger(asset_name)
        with create_session() as session:
            Trigger.submit_event(trigger_id=trigger_id, event=event, session=session)

    # -- the scheduler's part ------------------------------------------------------------------------------
    def create_asset_triggered_run(self, dag_id: str) -> str | None:
        """The scheduler's asset-triggered run creation for ``dag_id``; the new run id (None: nothing queued)."""
        from airflow.jobs.job import Job
        from airflow.jobs.scheduler_job_runner import SchedulerJobRunner
        from airflow.models.dag import DagModel
        from airflow.models.dagrun import DagRun
        from airflow.utils.session import create_session
        from sqlalchemy import select

        runner = SchedulerJobRunner(job=Job(), executors=[])
        with create_session() as session:
            before = set(session.scalars(select(DagRun.run_id).where(DagRun.dag_id == dag_id)))
            model = session.get(DagModel, dag_id)
            runner._create_dag_runs_asset_triggered(dag_models=[model], session=session)
            session.commit()
            after = set(session.scalars(select(DagRun.run_id).where(DagRun.dag_id == dag_id)))
        new = after - before
        return new.pop() if new else None

    def run(self, dag_id: str, run_id: str) -> RunResult:
        """Run the tasks of an existing DAG run in-process (as ``dag.test()`` does): its state, the
        XComs and the errors of its tasks."""
        from airflow.models.dagrun import DagRun
        from airflow.models.serialized_dag import SerializedDagModel
        from airflow.models.xcom import XComModel
        from airflow.sdk.definitions.dag import _run_task
        from airflow.utils.session import create_session
        from airflow.utils.state import DagRunState, TaskInstanceState
        from sqlalchemy import select

        dag = self.bag.dags[dag_id]
        errors: dict[str, str] = {}
        with create_session() as session:
            dr = session.scalars(select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id)).one()
            dr.state = DagRunState.RUNNING
            session.commit()
            serialized = SerializedDagModel.get(dag_id=dag_id, session=session)
            assert serialized is not None
            dr.dag = serialized.dag  # as the scheduler sets it
            for _ in range(50):
                session.expire_all()
                schedulable, _ = dr.update_state(session=session, execute_callbacks=False)
                for ti in schedulable:
                    ti.try_number += 1
                    ti.state = TaskInstanceState.SCHEDULED
                session.commit()
                scheduled = [
                    t for t in dr.get_task_instances(session=session) if t.state == TaskInstanceState.SCHEDULED
                ]
                if not scheduled:
                    if dr.state != DagRunState.RUNNING:
                        break
                    continue
                for ti in scheduled:
                    try:
                        outcome = _run_task(ti=ti, task=dag.task_dict[ti.task_id])
                    except Exception as exc:  # the task's failure is its state; the loop goes on
                        errors[ti.task_id] = str(exc)
                        continue
                    if outcome is not None and outcome.error is not None:
                        errors[ti.task_id] = str(outcome.error)
            session.expire_all()
            dr = session.scalars(select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id)).one()
            xcoms = {
                (row.task_id, row.key): row.value
                for row in session.scalars(
                    select(XComModel).where(XComModel.dag_id == dag_id, XComModel.run_id == run_id)
                )
            }
            return RunResult(str(dr.state), xcoms, errors)

    def runs_of(self, dag_id: str) -> dict[str, dict[str, Any]]:
        """run id -> conf of every run of ``dag_id``."""
        from airflow.models.dagrun import DagRun
        from airflow.utils.session import create_session
        from sqlalchemy import select

        with create_session() as session:
            return {
                dr.run_id: dict(dr.conf or {}) for dr in session.scalars(select(DagRun).where(DagRun.dag_id == dag_id))
            }

    def cleanup(self) -> None:
        for path in self.files:
            path.unlink(missing_ok=True)


@contextmanager
def harness(dags_folder: Path) -> Iterator[Harness]:
    h = Harness(dags_folder)
    try:
        yield h
    finally:
        h.cleanup()
