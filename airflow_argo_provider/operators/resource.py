"""Argo ``resource`` templates: act on one Kubernetes object, wait for its conditions, read outputs.

Both backends follow Argo's executor (``argoexec resource``):

1. the manifest (``{{...}}`` substituted like every template field, or read from the input
   artifact ``manifestFrom.artifact`` names) and the ``flags`` become a request
   (:mod:`airflow_argo_provider.kubernetes.objects`);
2. the action runs: ``create``, ``apply``, ``delete`` (a missing object is not an error, as
   with Argo's ``--ignore-not-found``; flags may name the object or a ``--selector``), ``get``,
   ``patch`` (``mergeStrategy`` strategic, merge or json; flags may name the object), ``replace``;
3. with a ``successCondition`` or ``failureCondition`` the object is read again every
   ``[argo] resource_poll_interval`` seconds (5 by default, Argo's interval) until a failure
   requirement holds (Failed, "failure condition '...' evaluated true") or every success
   requirement holds, or the step's deadline passes;
4. ``outputs.parameters`` with ``valueFrom.jsonPath`` / ``jqFilter`` are read from the object.

:class:`ArgoKubectlResourceOperator` (local backend) runs ``kubectl ACTION ... -f - -o json`` with
the manifest on stdin (the kubeconfig of the worker decides the cluster);
:class:`ArgoKubernetesResourceOperator` (kubernetes backend) uses the Kubernetes object API
(``kubernetes.dynamic``) over the cncf.kubernetes provider's ``KubernetesHook`` client: ``apply`` is
a server-side apply (field manager ``airflow-argo-provider``). Waiting happens in the worker (these
tasks are not deferrable). ``setOwnerReference`` cannot point at a Workflow object, since none
exists: the object is labelled with the run's ``dag_id`` and ``run_id`` instead.

The manifest is never logged (it may hold a Secret): only the action and the object's name are.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airflow_argo_provider.kubernetes.objects import (
    FIELD_MANAGER,
    PATCH_CONTENT_TYPES,
    Requirement,
    ResourceError,
    ResourceRequest,
    evaluate_conditions,
    kubectl_arguments,
    object_reference,
    output_values,
    parse_flags,
    parse_request,
)
from airflow_argo_provider.manifest.resource_syntax import parse_conditions
from airflow_argo_provider.operators.base import ArgoNodeOperator
from airflow_argo_provider.runtime.step import Invocation, RawOutcome, now_iso

log = logging.getLogger(__name__)

DEFAULT_POLL_INTERVAL = 5.0
DEFAULT_CONN_ID = "kubernetes_default"
KUBECTL_TIMEOUT = 120.0
# Consecutive failed reads of the object (API hiccups) before the step gives up.
MAX_READ_FAILURES = 5


class ActionFailed(Exception):
    """The action or a read of the object failed (``transient``: worth retrying later)."""

    def __init__(self, message: str, transient: bool = False, missing: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.transient = transient
        self.missing = missing


@dataclass
class Acted:
    """What the action returned: the object (None after a delete) and how to read it again."""

    obj: dict[str, Any] | None
    ref: Any = None


class ObjectClient:
    """How a backend acts on objects."""

    def act(self, request: ResourceRequest) -> Acted:
        raise NotImplementedError

    def fetch(self, ref: Any) -> dict[str, Any]:
        raise NotImplementedError


def poll_interval() -> float:
    from airflow_argo_provider.kubernetes.settings import setting

    value = setting("resource_poll_interval")
    try:
        return max(0.05, float(value)) if value else DEFAULT_POLL_INTERVAL
    except ValueError:
        return DEFAULT_POLL_INTERVAL


def label_for_run(request: ResourceRequest, labels: dict[str, str]) -> None:
    """``setOwnerReference``: mark the object as the run's (there is no Workflow object to own it)."""
    if not request.set_owner_reference or request.action not in ("create", "apply", "replace"):
        return
    obj = request.obj
    if not obj:
        return
    metadata = obj.setdefault("metadata", {})
    metadata.setdefault("labels", {}).update(labels)
    request.manifest = json.dumps(obj)


def carry_out(
    request: ResourceRequest,
    client: ObjectClient,
    outputs: Any,
    *,
    name: str,
    deadline: float | None,
    interval: float,
    sleep: Callable[[float], None] = time.sleep,
) -> RawOutcome:
    """Run the action, wait for the conditions, read the outputs (both backends)."""
    started = now_iso()
    try:
        success: Sequence[Requirement] = parse_conditions(request.success)
        failure: Sequence[Requirement] = parse_conditions(request.failure)
    except ResourceError as exc:
        return RawOutcome(exit_code=None, error=True, message=str(exc), started_at=started)
    log.info("%s: %s %s", name, request.action, request.describe())
    try:
        acted = client.act(request)
    except ActionFailed as exc:
        return RawOutcome(exit_code=None, failed=True, message=exc.message, transient=exc.transient, started_at=started)
    obj = acted.obj
    if obj is not None:
        log.info("%s: %s %s", name, request.action, object_reference(obj))
    if request.waits and obj is not None:
        failures = 0
        while True:
            state = evaluate_conditions(obj, success, failure)
            if state.failed:
                log.info("%s: %s", name, state.message)
                return RawOutcome(exit_code=None, failed=True, message=state.message, started_at=started)
            if state.succeeded:
                break
            if deadline is not None and time.monotonic() >= deadline:
                return RawOutcome(exit_code=None, timed_out=True, started_at=started)
            wait = interval if deadline is None else max(0.0, min(interval, deadline - time.monotonic()))
            sleep(wait)
            try:
                obj = client.fetch(acted.ref)
                failures = 0
            except ActionFailed as exc:
                failures += 1
                if exc.missing or not exc.transient or failures >= MAX_READ_FAILURES:
                    return RawOutcome(
                        exit_code=None,
                        failed=True,
                        message=exc.message,
                        transient=exc.transient,
                        started_at=started,
                    )
                log.warning("%s: %s (reading it again)", name, exc.message)
        log.info("%s: success condition '%s' holds", name, request.success or "none")
    parameters: dict[str, str] = {}
    if obj is not None:
        parameters, problems = output_values(outputs, obj)
        if problems:
            param, message = next(iter(problems.items()))
            return RawOutcome(
                exit_code=None,
                error=True,
                message=f"output parameter {param!r}: {message}",
                started_at=started,
            )
    return RawOutcome(exit_code=None, parameters=parameters, started_at=started)


class _ResourceOperator(ArgoNodeOperator):
    ui_color = "#f0e6ff"

    def client_for(self, invocation: Invocation, context: Any, request: ResourceRequest) -> ObjectClient:
        raise NotImplementedError

    def run_invocation(self, invocation: Invocation, context: Any, timeout: float | None) -> RawOutcome:
        body = invocation.template.get("resource")
        if not isinstance(body, dict):
            return RawOutcome(exit_code=None, error=True, message="not a resource template")
        deadline = time.monotonic() + timeout if timeout is not None else None
        try:
            manifest = self.manifest_from(invocation)
            request = parse_request(body, manifest)
            client = self.client_for(invocation, context, request)
        except ResourceError as exc:
            return RawOutcome(exit_code=None, error=True, message=f"{invocation.display_name}: {exc}")
        ti = context.get("ti")
        if ti is not None:
            from airflow_argo_provider.kubernetes.resources import run_labels

            label_for_run(request, run_labels(str(ti.dag_id), str(context.get("run_id", ""))))
        return carry_out(
            request,
            client,
            invocation.template.get("outputs"),
            name=invocation.display_name,
            deadline=deadline,
            interval=poll_interval(),
        )

    def manifest_from(self, invocation: Invocation) -> str | None:
        """The text of the input artifact ``manifestFrom.artifact`` names (None: no manifestFrom)."""
        source = invocation.template["resource"].get("manifestFrom")
        if not source:
            return None
        wanted = (source.get("artifact") or {}).get("name")
        artifacts = invocation.artifacts
        chosen = [a for a in (artifacts.inputs if artifacts else []) if a.name == wanted]
        if not chosen:
            raise ResourceError(f"manifestFrom: input artifact {wanted!r} is not available")
        from airflow_argo_provider.artifacts.clients import airflow_sessions
        from airflow_argo_provider.artifacts.staging import LoadError, load_inputs
        from airflow_argo_provider.artifacts.stores import Stores
        from airflow_argo_provider.hooks.secrets import local_secret

        with tempfile.TemporaryDirectory(prefix="argo-manifest-") as folder:
            target = Path(folder) / "manifest"
            try:
                load_inputs(chosen, Stores(local_secret, airflow_sessions), lambda a: target)
            except LoadError as exc:
                raise ResourceError(f"manifestFrom: {exc}") from None
            if target.is_dir():
                raise ResourceError(f"manifestFrom: input artifact {wanted!r} is a folder, not a manifest file")
            return target.read_text(encoding="utf-8")


# -- local backend: kubectl ---------------------------------------------------------------------------
class KubectlClient(ObjectClient):
    """``kubectl`` on the worker (its kubeconfig decides the cluster and the default namespace)."""

    def __init__(self, kubectl: str, template: str, timeout: float = KUBECTL_TIMEOUT) -> None:
        self.kubectl = kubectl
        self.template = template
        self.timeout = timeout

    def _run(self, args: list[str], stdin: str | None) -> str:
        try:
            done = subprocess.run(
                [self.kubectl, *args],
                input=(stdin or "").encode(),
                capture_output=True,
                timeout=self.timeout,
                env=dict(os.environ),
            )
        except subprocess.TimeoutExpired:
            raise ActionFailed(f"kubectl {args[0]} did not answer within {self.timeout:g}s", transient=True) from None
        except OSError as exc:
            raise ActionFailed(f"cannot run kubectl ({self.kubectl}): {exc}") from None
        if done.returncode != 0:
            error = done.stderr.decode("utf-8", "replace").strip() or done.stdout.decode("utf-8", "replace").strip()
            lines = [line for line in error.splitlines() if line.strip()]
            text = " ".join(lines[-3:]) if lines else "no message"
            missing = "NotFound" in text or "not found" in text
            transient = any(word in text for word in ("connection refused", "i/o timeout", "TLS handshake", "503"))
            raise ActionFailed(
                f"kubectl {args[0]} failed (exit code {done.returncode}): {text}", transient=transient, missing=missing
            )
        return done.stdout.decode("utf-8", "replace")

    def act(self, request: ResourceRequest) -> Acted:
        args, stdin = kubectl_arguments(request)
        out = self._run(args, stdin)
        if request.action == "delete":
            return Acted(None)
        try:
            obj = json.loads(out)
        except ValueError:
            raise ActionFailed(f"kubectl {request.action} printed no JSON object: {out[:200]!r}") from None
        if isinstance(obj, dict) and obj.get("kind") == "List":
            items = obj.get("items") or []
            if len(items) != 1:
                raise ActionFailed(f"kubectl {request.action} returned {len(items)} objects; expected one")
            obj = items[0]
        if not isinstance(obj, dict):
            raise ActionFailed(f"kubectl {request.action} printed no JSON object")
        namespace = str((obj.get("metadata") or {}).get("namespace") or "")
        return Acted(obj, (object_reference(obj), namespace))

    def fetch(self, ref: Any) -> dict[str, Any]:
        name, namespace = ref
        args = ["get", name, "-o", "json"]
        if namespace:
            args[2:2] = ["-n", namespace]
        out = self._run(args, None)
        try:
            obj = json.loads(out)
        except ValueError:
            raise ActionFailed(f"kubectl get {name} printed no JSON object", transient=True) from None
        if not isinstance(obj, dict):
            raise ActionFailed(f"kubectl get {name} printed no JSON object", transient=True)
        return obj


def kubectl_command() -> str | None:
    """The ``kubectl`` the local backend runs (``[argo] local_kubectl``, else the one on PATH)."""
    from airflow_argo_provider.kubernetes.settings import setting

    configured = os.environ.get("AIRFLOW__ARGO__LOCAL_KUBECTL") or setting("local_kubectl") or "kubectl"
    return shutil.which(configured)


class ArgoKubectlResourceOperator(_ResourceOperator):
    """Runs Argo ``resource`` templates with ``kubectl`` on the worker (the local backend)."""

    def client_for(self, invocation: Invocation, context: Any, request: ResourceRequest) -> ObjectClient:
        kubectl = kubectl_command()
        if kubectl is None:
            raise ResourceError(
                f"template {invocation.template.get('name', '')!r} is a resource template: the local backend runs "
                "it with kubectl, which is not installed on this machine (install kubectl with a kubeconfig, or "
                "run with the kubernetes backend)"
            )
        return KubectlClient(kubectl, str(invocation.template.get("name", "")))


# -- kubernetes backend: the object API --------------------------------------------------------------
def dynamic_client(conn_id: str) -> tuple[Any, Any]:
    """``(DynamicClient, KubernetesHook)`` of an Airflow Kubernetes connection."""
    from airflow.providers.cncf.kubernetes.hooks.kubernetes import KubernetesHook
    from kubernetes.dynamic import DynamicClient

    hook = KubernetesHook(conn_id=conn_id)
    return DynamicClient(hook.api_client), hook


def _api_failure(exc: Exception, what: str) -> ActionFailed:
    from kubernetes.client.exceptions import ApiException
    from kubernetes.dynamic.exceptions import DynamicApiError, ResourceNotFoundError

    if isinstance(exc, ResourceNotFoundError):
        return ActionFailed(f"{what}: the cluster does not serve this kind of object ({exc})")
    status = getattr(exc, "status", None)
    if isinstance(exc, (ApiException, DynamicApiError)) and status is not None:
        text = ""
        body = getattr(exc, "body", None)
        try:
            text = str(json.loads(body).get("message") or "") if body else ""
        except (ValueError, AttributeError, TypeError):
            text = ""
        reason = getattr(exc, "reason", "") or ""
        message = f"{what}: {status} {reason}".rstrip() + (f": {text}" if text else "")
        return ActionFailed(message, transient=int(status) >= 500 or int(status) == 429, missing=int(status) == 404)
    return ActionFailed(f"{what}: {type(exc).__name__}: {exc}", transient=True)


class ObjectApiClient(ObjectClient):
    """The Kubernetes object API (``kubernetes.dynamic``) for any kind of object."""

    def __init__(self, client: Any, default_namespace: str) -> None:
        self.client = client
        self.default_namespace = default_namespace

    def _resource(self, api_version: str, kind: str) -> Any:
        try:
            return self.client.resources.get(api_version=api_version, kind=kind)
        except Exception as exc:
            raise _api_failure(exc, f"{kind} ({api_version})") from None

    def _resource_type(self, type_name: str) -> Any:
        """The resource a kubectl type names (``pod``, ``pods``, ``cm``, ``jobs.batch``, ``Workflow``)."""
        name, _, group = type_name.partition(".")
        lowered = name.lower()
        try:
            candidates = [r for r in self.client.resources.search() if not getattr(r, "subresource", None)]
        except Exception as exc:
            raise _api_failure(exc, f"resource type {type_name!r}") from None
        matches = [
            r
            for r in candidates
            if lowered
            in {
                str(getattr(r, "name", "") or "").lower(),
                str(getattr(r, "singular_name", "") or "").lower(),
                str(getattr(r, "kind", "") or "").lower(),
                *[str(s).lower() for s in getattr(r, "short_names", None) or []],
            }
            and (not group or str(getattr(r, "group", "") or "") == group or group.startswith(str(r.group) + "."))
            and "/" not in str(getattr(r, "name", ""))
        ]
        if not matches:
            raise ActionFailed(f"the cluster has no resource type {type_name!r}")
        preferred = [r for r in matches if getattr(r, "preferred", False)]
        return (preferred or matches)[0]

    def _namespace(self, resource: Any, *candidates: str | None) -> str | None:
        if not getattr(resource, "namespaced", True):
            return None
        return next((c for c in candidates if c), None) or self.default_namespace

    def act(self, request: ResourceRequest) -> Acted:
        flags = parse_flags(request.flags) if request.flags else None
        obj = request.obj
        if flags is not None and flags.type_name:
            resource = self._resource_type(flags.type_name)
            name = flags.name or (request.name if request.action != "patch" else "")
        else:
            if not obj.get("apiVersion") or not obj.get("kind"):
                raise ActionFailed("the manifest has no apiVersion/kind and no flags name the object")
            resource = self._resource(request.api_version, request.kind)
            name = request.name
        namespace = self._namespace(resource, request.namespace, flags.namespace if flags else None)
        what = f"{request.action} {getattr(resource, 'kind', '')}/{name or '(new)'}"
        kwargs: dict[str, Any] = {}
        if flags is not None and flags.options.get("validate") in ("false", "ignore"):
            kwargs["query_params"] = [("fieldValidation", "Ignore")]
        try:
            if request.action == "create":
                created = self.client.create(resource, body=obj, namespace=namespace, **kwargs)
                return self._acted(created, resource, namespace)
            if request.action == "apply":
                if not name:
                    raise ActionFailed("apply needs metadata.name in the manifest")
                manager = (flags.options.get("field_manager") if flags else None) or FIELD_MANAGER
                applied = self.client.server_side_apply(
                    resource, body=obj, name=name, namespace=namespace, field_manager=manager, force_conflicts=True
                )
                return self._acted(applied, resource, namespace)
            if request.action == "replace":
                replaced = self.client.replace(resource, body=obj, name=name, namespace=namespace, **kwargs)
                return self._acted(replaced, resource, namespace)
            if request.action == "get":
                if not name:
                    raise ActionFailed("get needs the object's name (metadata.name or flags)")
                return self._acted(self.client.get(resource, name=name, namespace=namespace), resource, namespace)
            if request.action == "patch":
                if not name:
                    raise ActionFailed("patch needs the object's name (metadata.name or flags)")
                patched = self.client.patch(
                    resource,
                    body=request.document,
                    name=name,
                    namespace=namespace,
                    content_type=PATCH_CONTENT_TYPES[request.merge_strategy],
                )
                return self._acted(patched, resource, namespace)
            # delete
            options: dict[str, Any] = {}
            if flags is not None:
                if flags.options.get("cascade") in ("background", "foreground", "orphan"):
                    options["propagation_policy"] = flags.options["cascade"].capitalize()
                if flags.options.get("grace_period") not in (None, "", "-1"):
                    options["grace_period_seconds"] = int(flags.options["grace_period"])
            selector = flags.selector if flags is not None else None
            if name:
                self.client.delete(resource, name=name, namespace=namespace, **options)
            elif selector:
                self.client.delete(resource, namespace=namespace, label_selector=selector, **options)
            else:
                raise ActionFailed("delete needs the object's name or a --selector")
            return Acted(None)
        except ActionFailed:
            raise
        except ValueError as exc:
            raise ActionFailed(f"{what}: {exc}") from None
        except Exception as exc:
            failure = _api_failure(exc, what)
            if request.action == "delete" and failure.missing:
                log.info("%s: not found (nothing to delete)", what)
                return Acted(None)
            raise failure from None

    @staticmethod
    def _as_dict(instance: Any) -> dict[str, Any]:
        to_dict = getattr(instance, "to_dict", None)
        data = to_dict() if callable(to_dict) else instance
        if not isinstance(data, dict):
            raise ActionFailed("the API returned no object")
        return data

    def _acted(self, instance: Any, resource: Any, namespace: str | None) -> Acted:
        obj = self._as_dict(instance)
        name = str((obj.get("metadata") or {}).get("name") or "")
        return Acted(obj, (resource, name, (obj.get("metadata") or {}).get("namespace") or namespace))

    def fetch(self, ref: Any) -> dict[str, Any]:
        resource, name, namespace = ref
        try:
            return self._as_dict(self.client.get(resource, name=name, namespace=namespace))
        except ActionFailed:
            raise
        except Exception as exc:
            raise _api_failure(exc, f"get {getattr(resource, 'kind', '')}/{name}") from None


class ArgoKubernetesResourceOperator(_ResourceOperator):
    """Runs Argo ``resource`` templates through the Kubernetes object API (the kubernetes backend)."""

    def __init__(self, *, kubernetes_conn_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.kubernetes_conn_id = kubernetes_conn_id

    def client_for(self, invocation: Invocation, context: Any, request: ResourceRequest) -> ObjectClient:
        from airflow_argo_provider.kubernetes.settings import setting
        from airflow_argo_provider.operators.kubernetes import run_namespace

        conn_id = self.kubernetes_conn_id or setting("kubernetes_conn_id") or DEFAULT_CONN_ID
        client, hook = dynamic_client(conn_id)
        return ObjectApiClient(client, run_namespace(self.plan, hook))
