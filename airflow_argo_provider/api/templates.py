"""Argo templates written in Python: ``Container``, ``Script`` and ``Http``.

Each produces the Argo template it stands for (Argo's JSON field names), which goes through the
same strict checks, plan and operators as a manifest. Fields are plain strings with ``{{...}}``
tags: ``{{workflow.parameters.x}}``, ``{{inputs.parameters.x}}``, and in a fan-out ``{{item}}`` /
``{{item.key}}`` (passed to the template as input parameters, as Argo does it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

_ITEM = re.compile(r"\{\{\s*(item(?:\.[A-Za-z0-9_-]+)*)\s*\}\}")


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


@dataclass
class _Template:
    inputs: dict[str, str | None] = field(default_factory=dict)
    outputs: dict[str, Any] | None = None
    retry_strategy: Any = None
    timeout: str | None = None
    active_deadline_seconds: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def body(self) -> dict[str, Any]:  # pragma: no cover - overridden
        raise NotImplementedError

    def to_template(self, name: str) -> dict[str, Any]:
        """The Argo template (``{{item...}}`` still in place; see :func:`item_inputs`)."""
        template: dict[str, Any] = {"name": name, **self.body()}
        if self.inputs:
            template["inputs"] = {
                "parameters": [{"name": k} if v is None else {"name": k, "value": v} for k, v in self.inputs.items()]
            }
        if self.outputs:
            template["outputs"] = self.outputs
        if self.retry_strategy is not None:
            template["retryStrategy"] = self.retry_strategy.to_argo()
        if self.timeout is not None:
            template["timeout"] = self.timeout
        if self.active_deadline_seconds is not None:
            template["activeDeadlineSeconds"] = self.active_deadline_seconds
        template.update({_camel(k): v for k, v in self.extra.items()})
        return template


def _container_fields(obj: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"image": obj.image}
    if obj.command is not None:
        out["command"] = list(obj.command)
    if obj.args is not None:
        out["args"] = list(obj.args)
    if obj.env:
        out["env"] = [{"name": k, "value": str(v)} for k, v in obj.env.items()]
    if obj.working_dir:
        out["workingDir"] = obj.working_dir
    if obj.resources:
        out["resources"] = obj.resources
    if obj.volume_mounts:
        out["volumeMounts"] = obj.volume_mounts
    return out


@dataclass
class Container(_Template):
    """An Argo ``container`` template: ``Container(image="busybox", command=["echo", "{{item}}"])``."""

    image: str = "busybox"
    command: list[str] | None = None
    args: list[str] | None = None
    env: dict[str, str] | None = None
    working_dir: str | None = None
    resources: dict[str, Any] | None = None
    volume_mounts: list[dict[str, Any]] | None = None

    def body(self) -> dict[str, Any]:
        return {"container": _container_fields(self)}


@dataclass
class Script(Container):
    """An Argo ``script`` template: ``source`` runs with ``command`` (default ``python``)."""

    source: str = ""

    def body(self) -> dict[str, Any]:
        fields = _container_fields(self)
        fields.setdefault("command", ["python"])
        fields["source"] = self.source
        return {"script": fields}


@dataclass
class Http(_Template):
    """An Argo ``http`` template: ``Http(url=..., success_condition='response.statusCode == 200')``."""

    url: str = ""
    method: str = "GET"
    headers: dict[str, str] | None = None
    body_text: str | None = None
    success_condition: str | None = None
    timeout_seconds: int | None = None
    insecure_skip_verify: bool | None = None

    def body(self) -> dict[str, Any]:
        http: dict[str, Any] = {"url": self.url, "method": self.method}
        if self.headers:
            http["headers"] = [{"name": k, "value": v} for k, v in self.headers.items()]
        if self.body_text is not None:
            http["body"] = self.body_text
        if self.success_condition:
            http["successCondition"] = self.success_condition
        if self.timeout_seconds is not None:
            http["timeoutSeconds"] = self.timeout_seconds
        if self.insecure_skip_verify is not None:
            http["insecureSkipVerify"] = self.insecure_skip_verify
        return {"http": http}


def item_inputs(template: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """Replace ``{{item}}`` / ``{{item.key}}`` in a template by input parameters.

    Returns the rewritten template and the arguments that pass the item in, as Argo requires:
    the item lives in the invocation, the template sees it as ``inputs.parameters.item...``.
    """
    names: dict[str, str] = {}

    def rewrite(value: Any) -> Any:
        if isinstance(value, str):
            return _ITEM.sub(
                lambda m: "{{inputs.parameters." + names.setdefault(m.group(1), _param(m.group(1))) + "}}", value
            )
        if isinstance(value, dict):
            return {k: rewrite(v) for k, v in value.items()}
        if isinstance(value, list):
            return [rewrite(v) for v in value]
        return value

    rewritten = {k: (rewrite(v) if k not in ("name", "inputs") else v) for k, v in template.items()}
    if names:
        params = list((rewritten.get("inputs") or {}).get("parameters") or [])
        params += [{"name": param} for param in names.values()]
        rewritten["inputs"] = {**(rewritten.get("inputs") or {}), "parameters": params}
    arguments = [{"name": param, "value": "{{" + ref + "}}"} for ref, param in names.items()]
    return rewritten, arguments


def _param(ref: str) -> str:
    return ref.replace(".", "-")
