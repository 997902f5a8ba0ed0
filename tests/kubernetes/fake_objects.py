"""A stand-in for the Kubernetes object API (``kubernetes.dynamic.DynamicClient``).

The resource operator builds its client from the cncf.kubernetes provider's ``KubernetesHook``
(``dynamic_client``); the tests replace that client with this one, which keeps objects in memory,
serves discovery for a few kinds, fills in ``generateName``, ``uid`` and ``resourceVersion``, applies
merge patches, answers label-selector deletes, and records every call. A kind's ``status`` on the
n-th read comes from ``statuses[(kind, name-prefix)]``.
"""

from __future__ import annotations

import copy
import itertools
import json
from dataclasses import dataclass, field
from typing import Any

from kubernetes.client.exceptions import ApiException


@dataclass
class FakeResource:
    api_version: str
    kind: str
    name: str
    namespaced: bool = True
    short_names: list[str] = field(default_factory=list)
    preferred: bool = True
    subresource: Any = None

    @property
    def group(self) -> str:
        return self.api_version.split("/", 1)[0] if "/" in self.api_version else ""

    @property
    def singular_name(self) -> str:
        return self.name[:-1]


KINDS = [
    FakeResource("v1", "Pod", "pods", short_names=["po"]),
    FakeResource("v1", "ConfigMap", "configmaps", short_names=["cm"]),
    FakeResource("batch/v1", "Job", "jobs"),
    FakeResource("argoproj.io/v1alpha1", "Workflow", "workflows", short_names=["wf"]),
    FakeResource("v1", "Namespace", "namespaces", namespaced=False, short_names=["ns"]),
]


class _Instance:
    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    def to_dict(self) -> dict[str, Any]:
        return copy.deepcopy(self.data)


def _error(status: int, reason: str, message: str) -> ApiException:
    exc = ApiException(status=status, reason=reason)
    exc.body = json.dumps({"message": message})
    return exc


class _Registry:
    def __init__(self, owner: FakeObjectApi) -> None:
        self.owner = owner

    def get(self, api_version: str, kind: str) -> FakeResource:
        for resource in KINDS:
            if resource.api_version == api_version and resource.kind == kind:
                return resource
        from kubernetes.dynamic.exceptions import ResourceNotFoundError

        raise ResourceNotFoundError(f"No matches found for {{'api_version': '{api_version}', 'kind': '{kind}'}}")

    def search(self, **kwargs: Any) -> list[FakeResource]:
        return [r for r in KINDS if all(getattr(r, k) == v for k, v in kwargs.items())]


class FakeObjectApi:
    def __init__(self) -> None:
        self.resources = _Registry(self)
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}  # (kind, namespace, name)
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.statuses: dict[str, list[dict[str, Any]]] = {}  # kind -> status per read
        self.reads: dict[tuple[str, str, str], int] = {}
        self.refuse: ApiException | None = None
        self.counter = itertools.count(1)

    def _record(self, verb: str, **kwargs: Any) -> None:
        kwargs = {k: (v.kind if isinstance(v, FakeResource) else copy.deepcopy(v)) for k, v in kwargs.items()}
        self.calls.append((verb, kwargs))
        if self.refuse is not None:
            raise self.refuse

    def _key(self, resource: FakeResource, name: str, namespace: str | None) -> tuple[str, str, str]:
        return (resource.kind, namespace or "", name)

    def create(self, resource: FakeResource, body: dict[str, Any], namespace: str | None = None, **kw: Any) -> Any:
        self._record("create", resource=resource, body=body, namespace=namespace, **kw)
        obj = copy.deepcopy(body)
        meta = obj.setdefault("metadata", {})
        if not meta.get("name"):
            meta["name"] = f"{meta.pop('generateName')}{next(self.counter):05d}"
        if resource.namespaced:
            meta["namespace"] = namespace
        key = self._key(resource, meta["name"], namespace)
        if key in self.objects:
            raise _error(409, "Conflict", f'{resource.name} "{meta["name"]}" already exists')
        meta["uid"] = f"uid-{meta['name']}"
        meta["resourceVersion"] = "1"
        states = self.statuses.get(resource.kind)
        if states:
            obj["status"] = states[0]
        self.objects[key] = obj
        return _Instance(obj)

    def get(self, resource: FakeResource, name: str | None = None, namespace: str | None = None, **kw: Any) -> Any:
        self._record("get", resource=resource, name=name, namespace=namespace)
        key = self._key(resource, name or "", namespace)
        if key not in self.objects:
            raise _error(404, "Not Found", f'{resource.name} "{name}" not found')
        obj = self.objects[key]
        self.reads[key] = self.reads.get(key, 0) + 1
        states = self.statuses.get(resource.kind)
        if states:
            obj["status"] = states[min(self.reads[key], len(states) - 1)]
        return _Instance(obj)

    def patch(self, resource: FakeResource, body: Any, name: str, namespace: str | None = None, **kw: Any) -> Any:
        self._record("patch", resource=resource, body=body, name=name, namespace=namespace, **kw)
        key = self._key(resource, name, namespace)
        if key not in self.objects:
            raise _error(404, "Not Found", f'{resource.name} "{name}" not found')
        obj = self.objects[key]
        if kw.get("content_type") == "application/json-patch+json":
            for op in body:
                parts = [p for p in op["path"].split("/") if p]
                target = obj
                for part in parts[:-1]:
                    target = target.setdefault(part, {})
                target[parts[-1]] = op["value"]
        else:
            _merge(obj, body)
        return _Instance(obj)

    def replace(
        self, resource: FakeResource, body: dict[str, Any], name: str, namespace: str | None = None, **kw: Any
    ) -> Any:
        self._record("replace", resource=resource, body=body, name=name, namespace=namespace, **kw)
        obj = copy.deepcopy(body)
        obj.setdefault("metadata", {})["namespace"] = namespace
        self.objects[self._key(resource, name, namespace)] = obj
        return _Instance(obj)

    def server_side_apply(
        self, resource: FakeResource, body: dict[str, Any], name: str, namespace: str | None = None, **kw: Any
    ) -> Any:
        self._record("apply", resource=resource, body=body, name=name, namespace=namespace, **kw)
        key = self._key(resource, name, namespace)
        obj = self.objects.get(key) or {}
        _merge(obj, copy.deepcopy(body))
        obj.setdefault("metadata", {})["namespace"] = namespace
        self.objects[key] = obj
        return _Instance(obj)

    def delete(
        self,
        resource: FakeResource,
        name: str | None = None,
        namespace: str | None = None,
        label_selector: str | None = None,
        **kw: Any,
    ) -> Any:
        self._record("delete", resource=resource, name=name, namespace=namespace, label_selector=label_selector, **kw)
        if name:
            key = self._key(resource, name, namespace)
            if key not in self.objects:
                raise _error(404, "Not Found", f'{resource.name} "{name}" not found')
            self.objects.pop(key)
            return None
        wanted = dict(part.split("=", 1) for part in (label_selector or "").split(",") if part)
        for key in [k for k, o in self.objects.items() if k[0] == resource.kind and k[1] == (namespace or "")]:
            labels = (self.objects[key].get("metadata") or {}).get("labels") or {}
            if all(labels.get(k) == v for k, v in wanted.items()):
                self.objects.pop(key)
        return None


def _merge(target: dict[str, Any], patch: dict[str, Any]) -> None:
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = value


def patch_object_api(monkeypatch: Any, api: FakeObjectApi) -> None:
    """The resource operator's client, from the KubernetesHook of the connection, is ``api``."""
    from airflow_argo_provider.operators import resource

    def client(conn_id: str) -> tuple[Any, Any]:
        from airflow.providers.cncf.kubernetes.hooks.kubernetes import KubernetesHook

        return api, KubernetesHook(conn_id=conn_id)

    monkeypatch.setattr(resource, "dynamic_client", client)
