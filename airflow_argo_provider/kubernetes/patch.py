"""``podSpecPatch``: a strategic-merge patch of a pod spec, as Kubernetes applies it.

A patch is a JSON or YAML mapping. Maps merge key by key, ``null`` removes a key, and lists
follow the Kubernetes API's merge rules: lists of containers, volumes, env, volume mounts,
ports, image pull secrets and host aliases merge element by element on their merge key
(``name``, ``mountPath``, ``containerPort``, ``ip``); every other list is replaced whole.
The directives ``$patch: replace`` and ``$patch: delete`` (on a map or a list element) and
``$deleteFromPrimitiveList/FIELD`` are honoured.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

import yaml

# Merge keys of the lists of a PodSpec and of a Container (k8s.io/api/core/v1 patchMergeKey).
_POD_SPEC_LISTS: dict[str, tuple[str, str | None]] = {
    "containers": ("name", "container"),
    "initContainers": ("name", "container"),
    "ephemeralContainers": ("name", "container"),
    "volumes": ("name", None),
    "imagePullSecrets": ("name", None),
    "hostAliases": ("ip", None),
    "topologySpreadConstraints": ("topologyKey", None),
    "resourceClaims": ("name", None),
    "schedulingGates": ("name", None),
}
_CONTAINER_LISTS: dict[str, tuple[str, str | None]] = {
    "env": ("name", None),
    "volumeMounts": ("mountPath", None),
    "ports": ("containerPort", None),
    "volumeDevices": ("devicePath", None),
    "resizePolicy": ("resourceName", None),
}
_LISTS = {"podspec": _POD_SPEC_LISTS, "container": _CONTAINER_LISTS}
_DELETE = object()


class PatchError(ValueError):
    pass


def parse_patch(text: Any, where: str = "podSpecPatch") -> dict[str, Any]:
    """A patch from its JSON or YAML text (a mapping is taken as it is)."""
    if isinstance(text, Mapping):
        return dict(text)
    if not isinstance(text, str):
        raise PatchError(f"invalid {where}: expected a JSON or YAML mapping, got {type(text).__name__}")
    try:
        data = json.loads(text)
    except ValueError:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise PatchError(f"invalid {where}: not JSON or YAML ({exc})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise PatchError(f"invalid {where}: expected a mapping of pod spec fields, got {type(data).__name__}")
    return data


def apply_patch(spec: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """``spec`` with the strategic-merge ``patch`` applied (neither argument is changed)."""
    merged = _merge_map(dict(spec), patch, "podspec")
    return merged if isinstance(merged, dict) else {}


def _clean(value: Any) -> Any:
    """A patch value without directives, as it is stored when nothing is merged into."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items() if not k.startswith("$") and v is not None}
    if isinstance(value, list):
        return [_clean(v) for v in value if not (isinstance(v, dict) and v.get("$patch") == "delete")]
    return copy.deepcopy(value)


def _merge_map(original: Any, patch: Mapping[str, Any], kind: str | None) -> Any:
    directive = patch.get("$patch")
    if directive == "delete":
        return _DELETE
    if directive == "replace" or not isinstance(original, dict):
        return _clean(patch)
    result = copy.deepcopy(original)
    lists = _LISTS.get(kind or "", {})
    for key, value in patch.items():
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            if isinstance(result.get(field), list) and isinstance(value, list):
                result[field] = [v for v in result[field] if v not in value]
            continue
        if key.startswith("$"):
            continue  # $retainKeys, $setElementOrder: ordering hints
        if value is None:
            result.pop(key, None)
            continue
        if isinstance(value, list) and key in lists:
            merge_key, child = lists[key]
            result[key] = _merge_list(result.get(key), value, merge_key, child)
        elif isinstance(value, dict):
            merged = _merge_map(result.get(key), value, None)
            if merged is _DELETE:
                result.pop(key, None)
            else:
                result[key] = merged
        else:
            result[key] = _clean(value)
    return result


def _merge_list(original: Any, patch: list[Any], merge_key: str, child: str | None) -> list[Any]:
    if any(isinstance(item, dict) and item.get("$patch") == "replace" for item in patch):
        return [_clean(item) for item in patch if not (isinstance(item, dict) and item.get("$patch") == "replace")]
    result = copy.deepcopy(original) if isinstance(original, list) else []
    for item in patch:
        if not isinstance(item, dict) or merge_key not in item:
            result.append(_clean(item))
            continue
        position = next(
            (i for i, e in enumerate(result) if isinstance(e, dict) and e.get(merge_key) == item[merge_key]), None
        )
        if item.get("$patch") == "delete":
            if position is not None:
                del result[position]
            continue
        if position is None:
            result.append(_clean(item))
        else:
            merged = _merge_map(result[position], item, child)
            if merged is _DELETE:
                del result[position]
            else:
                result[position] = merged
    return result
