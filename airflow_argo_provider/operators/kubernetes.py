"""Container and script templates as Kubernetes pods (the ``kubernetes`` backend).

:class:`ArgoKubernetesPodOperator` is an :class:`~airflow_argo_provider.operators.base.ArgoNodeOperator`
(Argo's flow: gates, ``when``, inputs, outputs, phases) and a ``KubernetesPodOperator`` (the
cncf.kubernetes provider's connection handling, pod labels and reattachment, pod manager,
log following and deferrable trigger). For each invocation it builds the pod with
:mod:`airflow_argo_provider.kubernetes.pod`, creates it, waits for its main container (in the
worker, or in the triggerer when deferrable), reads the outputs document the pod's wrapper
wrote (:mod:`airflow_argo_provider.kubernetes.capture`), turns the pod's end into Argo's phase
(:mod:`airflow_argo_provider.kubernetes.status`) and applies ``podGC``.

The pods' namespace is the manifest's ``metadata.namespace``, else the connection's, else
``default``. Fan-out items wait in the triggerer (deferrable) by default, single steps in the
worker; ``[argo] kubernetes_deferrable`` or the workflow annotation ``airflow-argo/deferrable``
changes that. Settings: :mod:`airflow_argo_provider.kubernetes.settings`.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar

from airflow.providers.cncf.kubernetes.kubernetes_helper_functions import PodLaunchFailedException
from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from airflow.providers.cncf.kubernetes.utils.pod_manager import EMPTY_XCOM_RESULT, PodLaunchTimeoutException
from airflow.sdk import BaseOperator
from kubernetes.client import models as k8s
from kubernetes.client.exceptions import ApiException

from airflow_argo_provider.artifacts.model import SaveReport
from airflow_argo_provider.artifacts.staging import settle
from airflow_argo_provider.expressions import ExpressionError
from airflow_argo_provider.expressions.template import substitute_tree
from airflow_argo_provider.kubernetes import status as pod_status
from airflow_argo_provider.kubernetes.artifacts import WAIT_CONTAINER
from airflow_argo_provider.kubernetes.capture import XCOM_SIDECAR
from airflow_argo_provider.kubernetes.pod import MAIN_CONTAINER, PodBuildError, PodTarget, build_pod, to_v1pod
from airflow_argo_provider.kubernetes.resources import (
    CHECKED_LABEL,
    PHASE_LABEL,
    PodGC,
    ResourceError,
    claim_gc,
    claim_manifests,
    claim_names,
    claim_templates,
    run_labels,
    run_workflow_name,
    selector_matches,
    selector_string,
)
from airflow_argo_provider.kubernetes.settings import pod_settings, setting
from airflow_argo_provider.operators.base import ArgoNodeOperator
from airflow_argo_provider.plan.model import WORKFLOW_PHASE_ID, Node, Plan
from airflow_argo_provider.runtime.records import ERROR, FAILED, SUCCEEDED
from airflow_argo_provider.runtime.step import Invocation, RawOutcome, attempt_pod_name, output_paths

log = logging.getLogger(__name__)

DEFERRABLE_ANNOTATION = "airflow-argo/deferrable"
DEFAULT_CONN_ID = "kubernetes_default"
DEFAULT_STARTUP_TIMEOUT = 600
MAX_REDEFER = 3
TERMINAL = ("Succeeded", "Failed")


def in_fanout(plan: Plan, node: Node) -> bool:
    """Whether the node runs as one of many mapped task instances (a fan-out item)."""
    if node.loop is not None and not node.inline_loop:
        return True
    return any(a.loop is not None and a.is_group and a.id for a in plan.ancestors(node.id))


def wants_deferral(plan: Plan, node: Node) -> bool:
    choice = (plan.annotations.get(DEFERRABLE_ANNOTATION) or setting("kubernetes_deferrable") or "fanout").lower()
    if choice in ("always", "true", "yes", "1", "on"):
        return True
    if choice in ("never", "false", "no", "0", "off"):
        return False
    return in_fanout(plan, node)


def _ref(name: str, namespace: str) -> k8s.V1Pod:
    return k8s.V1Pod(metadata=k8s.V1ObjectMeta(name=name, namespace=namespace))


class _PodEnded(Exception):
    """The provider's defer method found the pod already finished (no deferral happened)."""

    def __init__(self, event: dict[str, Any]) -> None:
        super().__init__("pod ended")
        self.event = event


def node_phase(outcome: RawOutcome) -> str:
    if outcome.error:
        return ERROR
    if outcome.failed or outcome.timed_out or outcome.exit_code not in (0, None):
        return FAILED
    return SUCCEEDED


class ArgoKubernetesPodOperator(ArgoNodeOperator, KubernetesPodOperator):
    """Runs an Argo container or script template as a Kubernetes pod."""

    template_fields: Sequence[str] = ()
    template_fields_renderers: ClassVar[dict[str, str]] = {}
    ui_color = "#dce9fb"
    BASE_CONTAINER_NAME = MAIN_CONTAINER

    def __init__(
        self,
        *,
        plan: Plan,
        argo_node_id: str,
        batch: Any = None,
        mapped_item: Any = None,
        kubernetes_conn_id: str | None = None,
        deferrable: bool | None = None,
        **kwargs: Any,
    ) -> None:
        node = plan.node(argo_node_id)
        startup = int(setting("kubernetes_startup_timeout") or DEFAULT_STARTUP_TIMEOUT)
        kwargs.setdefault("startup_timeout_seconds", startup)
        kwargs.setdefault("schedule_timeout_seconds", startup)
        kwargs.setdefault("get_logs", True)
        super().__init__(
            plan=plan,
            argo_node_id=argo_node_id,
            batch=batch,
            mapped_item=mapped_item,
            kubernetes_conn_id=kubernetes_conn_id or setting("kubernetes_conn_id") or DEFAULT_CONN_ID,
            namespace=plan.namespace,
            do_xcom_push=False,
            random_name_suffix=False,
            on_finish_action="keep_pod",
            base_container_name=MAIN_CONTAINER,
            deferrable=wants_deferral(plan, node) if deferrable is None else deferrable,
            **kwargs,
        )
        self._resume_event: dict[str, Any] | None = None
        self._in_batch = False
        self._in_flow = False

    # -- the flow ---------------------------------------------------------------------------------
    def execute(self, context: Any) -> Any:
        self._in_flow = True
        try:
            return ArgoNodeOperator.execute(self, context)
        finally:
            self._in_flow = False

    def trigger_reentry(self, context: Any, event: dict[str, Any]) -> Any:
        """Back from the triggerer: run Argo's flow again; the invocation collects its pod."""
        if self._in_flow:
            raise _PodEnded(dict(event))
        self._resume_event = dict(event)
        return self.execute(context)

    def run_invocations(
        self, invocations: list[Invocation], context: Any, concurrency: int, timeout: float | None
    ) -> list[Any]:
        self._in_batch = True  # several pods in one task: wait in the worker, no reattachment
        return super().run_invocations(invocations, context, concurrency, timeout)

    def run_invocation(self, invocation: Invocation, context: Any, timeout: float | None) -> RawOutcome:
        event, self._resume_event = self._resume_event, None
        if event is not None:
            return self._resume(invocation, context, event)
        try:
            request = self.pod_request(invocation, context, timeout)
        except (PodBuildError, ResourceError, ExpressionError) as exc:
            return RawOutcome(exit_code=None, message=str(exc), error=True)
        pod = self._start(request, context)
        if self.deferrable and not self._in_batch:
            try:
                self._defer(pod, context, 0)
            except _PodEnded as ended:
                return self._resume(invocation, context, ended.event)
        try:
            return self._wait(pod, invocation)
        finally:
            self._forget(pod)

    # -- building -------------------------------------------------------------------------------
    def pod_document(self, invocation: Invocation, run_id: str, timeout: float | None) -> dict[str, Any]:
        """The pod of an invocation (Kubernetes JSON) before the provider adds its labels."""
        workflow = substitute_tree(self.plan.pod_spec, invocation.scope)
        workflow_name = str(invocation.workflow.get("workflow.name", self.plan.workflow_name))
        # Pod names are Argo's, with the run's suffix also for a workflow with a fixed name, so
        # that two runs of one DAG never share a pod name.
        base = run_workflow_name(self.plan, run_id)
        target = PodTarget(
            name=attempt_pod_name(base, invocation.template, invocation.node_name, invocation.retries),
            workflow_name=workflow_name,
            node_name=invocation.node_name,
            namespace=self.plan.namespace,
            claims=claim_names(self.plan, run_id),
            deadline_seconds=timeout,
        )
        return build_pod(invocation.template, workflow, target, pod_settings(), invocation.artifacts)

    def pod_request(self, invocation: Invocation, context: Any, timeout: float | None) -> k8s.V1Pod:
        """The pod as it is sent: the provider's labels, namespace and pod mutation hook applied."""
        document = self.pod_document(invocation, str(context["run_id"]), timeout)
        with self._lock():
            self.full_pod_spec = to_v1pod(document)
            try:
                request: k8s.V1Pod = self.build_pod_request_obj(context)
            finally:
                self.full_pod_spec = None
        return request

    def _lock(self) -> threading.Lock:
        lock = self.__dict__.get("_argo_lock")
        if lock is None:
            lock = self.__dict__.setdefault("_argo_lock", threading.Lock())
        return lock

    # -- creating --------------------------------------------------------------------------------
    def _start(self, request: k8s.V1Pod, context: Any) -> k8s.V1Pod:
        self._clear_the_name(request)
        if self._in_batch:
            self.pod_manager.create_pod(request)
            pod = request
        else:
            pod = self.get_or_create_pod(request, context)  # reattaches to this task's live pod
            self.pod = pod
        with self._lock():
            self.__dict__.setdefault("_argo_pods", {})[pod.metadata.name] = pod
        return pod

    def _clear_the_name(self, request: k8s.V1Pod) -> None:
        """A kept pod of an earlier attempt with the same name (a cleared task) is deleted first."""
        try:
            existing = self.pod_manager.read_pod(request)
        except ApiException as exc:
            if exc.status == 404:
                return
            raise
        labels = existing.metadata.labels or {}
        if labels.get(CHECKED_LABEL) != "True":
            if not self._in_batch:
                return  # maybe this task's own pod, still running: the provider reattaches to it
            raise PodBuildError(
                f"a pod named {request.metadata.name} already exists in namespace "
                f"{request.metadata.namespace} and is not a finished attempt of this step"
            )
        log.info("deleting pod %s of an earlier attempt", request.metadata.name)
        self.pod_manager.delete_pod(existing)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                self.pod_manager.read_pod(request)
            except ApiException as exc:
                if exc.status == 404:
                    return
                raise
            time.sleep(1)

    def _forget(self, pod: k8s.V1Pod) -> None:
        with self._lock():
            self.__dict__.get("_argo_pods", {}).pop(pod.metadata.name, None)

    def on_kill(self) -> None:
        super().on_kill()
        for pod in list(self.__dict__.get("_argo_pods", {}).values()):
            if self.pod is not None and pod.metadata.name == self.pod.metadata.name:
                continue
            try:
                self.pod_manager.delete_pod(pod)
            except Exception:
                log.exception("could not delete pod %s", pod.metadata.name)

    # -- waiting --------------------------------------------------------------------------------
    def _defer(self, pod: k8s.V1Pod, context: Any, redefer: int) -> None:
        """Wait in the triggerer (the provider's trigger); raises TaskDeferred."""
        self.pod = pod
        self.trigger_kwargs = {"_redefer_count": redefer}
        self.invoke_defer_method(context=context)

    def _wait(self, pod: k8s.V1Pod, invocation: Invocation) -> RawOutcome:
        try:
            try:
                self.await_pod_start(pod=pod)
            except (PodLaunchFailedException, PodLaunchTimeoutException) as exc:
                return self._give_up(pod, str(exc), invocation)
            self.await_pod_completion(pod=pod)
            remote = self.pod_manager.read_pod(pod)
        except ApiException as exc:
            if exc.status == 404:
                return pod_status.deleted()
            raise
        return self._collect(remote, invocation)

    def _resume(self, invocation: Invocation, context: Any, event: Mapping[str, Any]) -> RawOutcome:
        name, namespace = str(event.get("name")), str(event.get("namespace"))
        try:
            remote = self.pod_manager.read_pod(_ref(name, namespace))
        except ApiException as exc:
            if exc.status == 404:
                return pod_status.deleted()
            raise
        main = pod_status.main_container(remote, MAIN_CONTAINER)
        main_done = main is not None and main.exit_code is not None
        phase = remote.status.phase if remote.status else None
        kind = event.get("status")
        if not main_done and phase not in TERMINAL:
            redefer = int(event.get("_redefer_count") or 0)
            if kind == "error" and redefer < MAX_REDEFER:
                log.warning("the trigger stopped early (%s); waiting again", event.get("message"))
                try:
                    self._defer(remote, context, redefer + 1)
                except _PodEnded as ended:
                    return self._resume(invocation, context, ended.event)
            return self._give_up(remote, str(event.get("message") or f"pod {kind}"), invocation)
        if self.get_logs:
            try:
                self._write_logs(remote)
            except Exception as exc:
                log.warning("could not read the logs of pod %s: %s", name, exc)
        return self._collect(remote, invocation)

    def _give_up(self, pod: k8s.V1Pod, message: str, invocation: Invocation) -> RawOutcome:
        """The pod did not run its step: Error, unless it failed with a message of its own."""
        try:
            remote = self.pod_manager.read_pod(pod)
        except ApiException as exc:
            if exc.status == 404:
                return pod_status.deleted()
            raise
        if remote.status is not None and remote.status.phase == "Failed":
            return self._collect(remote, invocation)
        outcome = pod_status.launch_failed(message)
        self._delete(remote, "it never ran its step")
        return outcome

    # -- outputs and clean-up ------------------------------------------------------------------------
    def read_document(self, pod: k8s.V1Pod) -> dict[str, Any] | None:
        """The wrapper's JSON document, read through the XCom sidecar (which then stops)."""
        phase = pod.status.phase if pod.status else None
        if phase in TERMINAL:
            return None
        try:
            text = self.pod_manager.extract_xcom(pod)
        except Exception as exc:
            log.warning("could not read the outputs of pod %s: %s", pod.metadata.name, exc)
            return None
        if not text or text.strip() == EMPTY_XCOM_RESULT:
            return None
        try:
            data = json.loads(text)
        except ValueError:
            log.warning("pod %s wrote an unreadable outputs document", pod.metadata.name)
            return None
        return data if isinstance(data, dict) else None

    def _collect(self, remote: k8s.V1Pod, invocation: Invocation) -> RawOutcome:
        main = pod_status.main_container(remote, MAIN_CONTAINER)
        document = self.read_document(remote) if main is not None and main.exit_code is not None else None
        outcome = pod_status.outcome_of(remote, document, output_paths(invocation.template), main=MAIN_CONTAINER)
        failed_container = (document or {}).get("failedContainer")
        if failed_container and outcome.exit_code not in (0, None) and not outcome.message:
            # A containerSet: the first container of the set that failed.
            outcome.message = f"container {failed_container}: Error (exit code {outcome.exit_code})"
        if invocation.artifacts and invocation.artifacts.outputs and document is not None:
            # The artifact agent's report, added to the document by the pod's wrapper.
            settle(outcome, SaveReport.from_json(document.get("artifacts")), invocation.artifacts.outputs)
        try:
            self.collect_pod(remote, node_phase(outcome))
        except Exception:
            log.exception("could not clean up pod %s", remote.metadata.name)
        return outcome

    def collect_pod(self, remote: k8s.V1Pod, phase: str) -> None:
        """``podGC`` at the end of a step: delete the pod, or label it and stop its sidecars."""
        try:
            gc = PodGC.of(self.plan)
        except ResourceError as exc:
            log.error("%s: pods are kept", exc)
            gc = PodGC()
        labels = remote.metadata.labels or {}
        if gc.delete_at_pod_end(phase == SUCCEEDED) and selector_matches(gc.selector, labels):
            self._delete(remote, f"podGC {gc.strategy}")
            return
        self.client.patch_namespaced_pod(
            name=remote.metadata.name,
            namespace=remote.metadata.namespace,
            body={
                "metadata": {
                    "labels": {CHECKED_LABEL: "True", PHASE_LABEL: phase, "workflows.argoproj.io/completed": "true"}
                }
            },
        )
        if self._has_running_sidecars(remote):
            self._stop(remote)

    def _has_running_sidecars(self, pod: k8s.V1Pod) -> bool:
        for end in pod_status.container_ends(pod.status.container_statuses if pod.status else None):
            if (
                end.name not in (MAIN_CONTAINER, XCOM_SIDECAR, WAIT_CONTAINER)
                and end.exit_code is None
                and not end.waiting
            ):
                return True
        return False

    def _stop(self, pod: k8s.V1Pod) -> None:
        """Stop the template's sidecars (Argo kills them when main ends): the pod reaches its deadline now."""
        started = pod.status.start_time if pod.status else None
        elapsed = (datetime.now(timezone.utc) - started).total_seconds() if started else 1
        self.client.patch_namespaced_pod(
            name=pod.metadata.name,
            namespace=pod.metadata.namespace,
            body={"spec": {"activeDeadlineSeconds": max(1, int(elapsed))}},
        )

    def _delete(self, pod: k8s.V1Pod, why: str) -> None:
        log.info("deleting pod %s (%s)", pod.metadata.name, why)
        try:
            self.pod_manager.delete_pod(pod)
        except Exception:
            log.exception("could not delete pod %s", pod.metadata.name)


# -- run-level tasks -----------------------------------------------------------------------------
def run_namespace(plan: Plan, hook: Any) -> str:
    """The namespace of a run's pods and claims: the manifest's, the connection's, or ``default``."""
    if plan.namespace:
        return plan.namespace
    try:
        namespace = hook.get_namespace()
    except Exception:
        namespace = None
    return namespace or "default"


def _hook(conn_id: str | None) -> Any:
    from airflow.providers.cncf.kubernetes.hooks.kubernetes import KubernetesHook

    return KubernetesHook(conn_id=conn_id or setting("kubernetes_conn_id") or DEFAULT_CONN_ID)


class _RunResourcesOperator(BaseOperator):
    """A task that manages the run's own Kubernetes objects (claims, pods) around its steps."""

    template_fields: Sequence[str] = ()
    ui_color = "#f3e6c9"

    def __init__(self, *, plan: Plan, kubernetes_conn_id: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("retries", 2)  # a flaky API server should not fail the run
        kwargs.setdefault("retry_delay", timedelta(seconds=10))
        super().__init__(**kwargs)
        self.plan = plan
        self.kubernetes_conn_id = kubernetes_conn_id


class ArgoVolumeClaimsOperator(_RunResourcesOperator):
    """Setup task: creates the run's ``volumeClaimTemplates`` claims before its first step."""

    def execute(self, context: Any) -> Any:
        hook = _hook(self.kubernetes_conn_id)
        client = hook.core_v1_client
        namespace = run_namespace(self.plan, hook)
        run_id = str(context["run_id"])
        dag_id = str(context["ti"].dag_id)
        mine = run_labels(dag_id, run_id)
        for claim in claim_manifests(self.plan, dag_id, run_id, run_workflow_name(self.plan, run_id)):
            name = claim["metadata"]["name"]
            try:
                client.create_namespaced_persistent_volume_claim(namespace=namespace, body=claim)
                log.info("created volume claim %s/%s", namespace, name)
            except ApiException as exc:
                if exc.status != 409:
                    raise
                existing = client.read_namespaced_persistent_volume_claim(name=name, namespace=namespace)
                labels = existing.metadata.labels or {}
                if any(labels.get(k) != v for k, v in mine.items()):
                    from airflow.sdk.exceptions import AirflowFailException

                    raise AirflowFailException(
                        f"volume claim {namespace}/{name} already exists and does not belong to this run"
                    ) from None
                log.info("volume claim %s/%s exists already (this run's): reusing it", namespace, name)
        return None


class ArgoKubernetesCleanupOperator(_RunResourcesOperator):
    """Teardown task: deletes the run's claims (``volumeClaimGC``) and pods (``podGC``) at its end."""

    def workflow_succeeded(self, context: Any) -> bool:
        from airflow_argo_provider.runtime.store import XComStore

        payloads = XComStore(context["ti"]).payloads(WORKFLOW_PHASE_ID)
        return any(p.node is not None and p.node.phase == SUCCEEDED for p in payloads)

    def execute(self, context: Any) -> Any:
        gc = PodGC.of(self.plan)
        if gc.at_run_end and gc.delay > 0:
            from airflow.providers.standard.triggers.temporal import DateTimeTrigger

            moment = datetime.now(timezone.utc) + timedelta(seconds=gc.delay)
            log.info("deleting the run's pods after deleteDelayDuration, at %s", moment.isoformat())
            self.defer(trigger=DateTimeTrigger(moment=moment), method_name="after_delay")
        return self.clean(context)

    def after_delay(self, context: Any, event: Any = None) -> Any:
        return self.clean(context)

    def clean(self, context: Any) -> Any:
        hook = _hook(self.kubernetes_conn_id)
        client = hook.core_v1_client
        namespace = run_namespace(self.plan, hook)
        run_id = str(context["run_id"])
        dag_id = str(context["ti"].dag_id)
        succeeded = self.workflow_succeeded(context)
        labels = run_labels(dag_id, run_id)
        gc = PodGC.of(self.plan)
        if gc.at_run_end:
            selector = ",".join(f"{k}={v}" for k, v in labels.items())
            extra = selector_string(gc.selector)
            if extra:
                selector += "," + extra
            for pod in client.list_namespaced_pod(namespace=namespace, label_selector=selector).items:
                phase = (pod.metadata.labels or {}).get(PHASE_LABEL)
                if gc.delete_at_run_end(phase, succeeded):
                    log.info("deleting pod %s (podGC %s)", pod.metadata.name, gc.strategy)
                    try:
                        client.delete_namespaced_pod(name=pod.metadata.name, namespace=namespace)
                    except ApiException as exc:
                        if exc.status != 404:
                            raise
        if claim_templates(self.plan):
            strategy = claim_gc(self.plan)
            if strategy == "OnWorkflowCompletion" or succeeded:
                for name in claim_names(self.plan, run_id).values():
                    log.info("deleting volume claim %s/%s", namespace, name)
                    try:
                        client.delete_namespaced_persistent_volume_claim(name=name, namespace=namespace)
                    except ApiException as exc:
                        if exc.status != 404:
                            raise
            else:
                log.info("the workflow did not succeed: volume claims are kept (volumeClaimGC %s)", strategy)
        return None


def add_run_resources(dag: Any, plan: Plan, last: Any) -> None:
    """Setup/teardown tasks around the run: volume claims first, claims and pods cleaned up last."""
    try:
        gc_at_end = PodGC.of(plan).at_run_end
    except ResourceError:
        gc_at_end = False  # each step reports the invalid podGC
    claims = claim_templates(plan)
    if not claims and not gc_at_end:
        return
    setup = None
    if claims:
        from airflow.sdk import TriggerRule

        roots = [t for t in dag.tasks if not t.upstream_task_ids]
        setup = ArgoVolumeClaimsOperator(task_id="argo_volume_claims", plan=plan, dag=dag)
        for root in roots:
            # Airflow wants work right after a setup to need it; a root had no upstream before,
            # and when the claims cannot be created every task of the run is upstream_failed.
            root.trigger_rule = TriggerRule.ALL_SUCCESS
            setup >> root
    cleanup = ArgoKubernetesCleanupOperator(task_id="argo_cleanup", plan=plan, dag=dag)
    last >> cleanup
    if setup is not None:
        cleanup.as_teardown(setups=setup)
    else:
        cleanup.as_teardown()
