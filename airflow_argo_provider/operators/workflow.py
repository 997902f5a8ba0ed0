"""The last task of every compiled workflow: the Argo workflow phase becomes the run's state.

It reads the phases of the entrypoint node and the exit handler, computes the workflow's
phase as Argo does, reports it (with ``workflow.outputs.parameters``) and fails when the
workflow Failed or Errored, so the DAG run ends in the state Argo would give the workflow.
Being the only leaf, it alone decides the DAG run's state: a step that failed under
``continueOn`` does not fail the run.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator

from airflow_argo_provider.metrics.emit import workflow_end
from airflow_argo_provider.operators.base import fail
from airflow_argo_provider.plan.model import Plan
from airflow_argo_provider.runtime.context import run_started, workflow_vars
from airflow_argo_provider.runtime.phases import workflow_phase
from airflow_argo_provider.runtime.records import SUCCEEDED, XCOM_KEY, NodeRecord, Payload
from airflow_argo_provider.runtime.store import XComStore
from airflow_argo_provider.runtime.view import RunView

log = logging.getLogger(__name__)


class ArgoWorkflowPhaseOperator(BaseOperator):
    template_fields: Sequence[str] = ()
    ui_color = "#ececec"

    def __init__(self, *, plan: Plan, cleanup: Any = None, result: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.plan = plan
        self.cleanup = cleanup
        # What the task returns (its XCom ``return_value``, a Python API group's ``.output``):
        # "outputs" (the workflow's output parameters) or "result:NODE_ID" (a node's outputs.result).
        self.result = result

    def execute(self, context: Any) -> Any:
        ti = context["ti"]
        view = RunView(self.plan, XComStore(ti), workflow_vars(self.plan, context))
        main = view.status(self.plan.root)
        exit_status = view.status(self.plan.on_exit) if self.plan.on_exit is not None else None
        phase = workflow_phase(main.phase, exit_status.phase if exit_status else None)
        message = main.message
        if phase != main.phase and exit_status is not None:
            message = exit_status.message or f"exit handler {exit_status.phase}"
        outputs = dict(main.record.parameters) if main.record is not None else {}
        if self.plan.root.is_group and main.phase is not None:
            outputs.update(view.group_outputs(self.plan.root))
        outputs.update(
            {key: value for key in self.plan.global_outputs if (value := view.global_output(key)) is not None}
        )
        record = NodeRecord(phase, message, parameters=outputs, display_name=view.workflow["workflow.name"])
        ti.xcom_push(key=XCOM_KEY, value=Payload(node=record).to_json())
        workflow_end(self.plan, view, phase, run_started(context), context)
        if self.cleanup is not None:
            try:
                self.cleanup(self.plan, str(context["run_id"]))
            except Exception:
                log.exception("could not clean up the run's local files")
        log.info("workflow %s %s %s", record.display_name, phase, message)
        if phase != SUCCEEDED:
            fail(f"workflow {phase}: {message}" if message else f"workflow {phase}")
        if self.result == "outputs":
            return outputs
        if self.result and self.result.startswith("result:"):
            return self._node_result(view, self.result.split(":", 1)[1])
        return None

    def _node_result(self, view: RunView, node_id: str) -> Any:
        """A node's ``outputs.result`` as a Python value (JSON parsed when it is JSON)."""
        import json

        node = self.plan.node(node_id)
        prefix = "tasks" if (self.plan.parent_of(node_id) or node).kind == "dag" else "steps"
        text = view.output_vars(prefix, node).get(f"{prefix}.{node.name}.outputs.result")
        if text is None:
            return None
        try:
            return json.loads(text)
        except ValueError:
            return text
