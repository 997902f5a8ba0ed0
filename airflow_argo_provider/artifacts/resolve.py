"""Resolve the artifacts of an invocation when it is prepared: where each input comes from,
where each output goes.

Inputs follow Argo: the invocation's ``arguments.artifacts`` (by name) override the
template's ``inputs.artifacts``; a source is ``from: "{{steps.X.outputs.artifacts.Y}}"``
(also ``tasks.``, ``inputs.artifacts.`` of the enclosing template and
``workflow.outputs.artifacts.`` of a ``globalName``), ``fromExpression`` (expr-lang over the
same scope), or a location (``s3``, ``http``, ``raw``) whose ``{{...}}`` are substituted in
the caller's scope; ``subPath`` selects a path inside a directory artifact. A key-only S3
location (no bucket) is completed from the artifact repository
(:mod:`.repository`). Missing sources are an error unless the artifact is ``optional``; an
argument that refers to a skipped step's artifact counts as missing.

Outputs get their destination here too (``{{...}}`` in ``path`` and ``s3.key`` substituted
in the invocation's scope; without a key, the repository's ``keyFormat`` and Argo's file
name), so that a misconfiguration is the node's Error before anything runs.

Steps/DAG templates' ``outputs.artifacts`` (``from``/``fromExpression`` over their children)
are resolved on demand by :func:`group_output_artifacts`.
"""

from __future__ import annotations

import copy
import functools
import posixpath
import re
import weakref
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from airflow_argo_provider.artifacts import repository
from airflow_argo_provider.artifacts.archive import NONE, ArchiveError, strategy_of
from airflow_argo_provider.artifacts.model import (
    OUTPUT_STORES,
    ArtifactError,
    InputArtifact,
    OutputArtifact,
    StepArtifacts,
    store_of,
)
from airflow_argo_provider.expressions import ExpressionError, evaluate, substitute, template_variables
from airflow_argo_provider.expressions.template import build_env, templated_strings
from airflow_argo_provider.runtime.view import NOT_LOADED
from airflow_argo_provider.settings import setting

if TYPE_CHECKING:
    from airflow_argo_provider.plan.model import Node, Plan
    from airflow_argo_provider.runtime.view import RunView

SOURCES = ("from", "fromExpression", "s3", "gcs", "azure", "http", "artifactory", "git", "raw")
# The field of an object store's location that holds the object's key.
KEY_FIELDS = {"s3": "key", "gcs": "key", "azure": "blob"}
_REF = re.compile(r"^(steps|tasks)\.([^.\[\]]+)")


# -- S3 locations --------------------------------------------------------------------------------
_CONNECTION_DEFAULTS: dict[str, tuple[str | None, str | None]] = {}


def _connection_defaults(conn_id: str) -> tuple[str | None, str | None]:
    """(endpoint URL, region) of an Airflow AWS connection, for locations that name it."""
    cached = _CONNECTION_DEFAULTS.get(conn_id)
    if cached is None:
        try:
            from airflow.sdk import Connection

            conn = Connection.get(conn_id)
            extra = conn.extra_dejson
            cached = (extra.get("endpoint_url") or None, extra.get("region_name") or None)
        except Exception:
            cached = (None, None)
        _CONNECTION_DEFAULTS[conn_id] = cached
    return cached


def finish_s3(spec: Mapping[str, Any], repo: Mapping[str, Any] | None, what: str) -> dict[str, Any]:
    """A complete S3 location: a key-only one takes the repository's bucket and settings;
    ``[argo] artifact_endpoint_override`` replaces the endpoint; the endpoint and region of
    the location's Airflow connection (``connId``) are filled in when missing."""
    out = {k: copy.deepcopy(v) for k, v in spec.items() if v not in (None, "")}
    if not out.get("bucket"):
        if repo is None:
            raise ArtifactError(
                f"{what}: the S3 location has no bucket and no artifact repository is configured "
                "(set [argo] artifact_repository, or spec.artifactRepositoryRef)"
            )
        out = {**copy.deepcopy(dict(repo["s3"])), **out}
    override = setting("artifact_endpoint_override")
    if override:
        out["endpoint"] = override
        out.pop("insecure", None)
    if out.get("connId") and (not out.get("endpoint") or not out.get("region")):
        endpoint, region = _connection_defaults(str(out["connId"]))
        if endpoint and not out.get("endpoint"):
            out["endpoint"] = endpoint
        if region and not out.get("region"):
            out["region"] = region
    return out


def _with_sub_path(location: dict[str, Any], sub_path: str, name: str) -> dict[str, Any]:
    if not sub_path:
        return location
    store = store_of(location)
    hint = location.get("archive") or {}
    if store not in KEY_FIELDS:
        raise ArtifactError(f"inputs.artifacts.{name}: subPath needs an S3, GCS or Azure artifact")
    if isinstance(hint, dict) and hint and "none" not in hint:
        raise ArtifactError(
            f"inputs.artifacts.{name}: subPath selects a path inside an artifact stored without archiving "
            "(archive: none); this one is an archive"
        )
    out = copy.deepcopy(location)
    field = KEY_FIELDS[store]
    key = str(out[store].get(field) or "").rstrip("/")
    out[store][field] = posixpath.join(key, sub_path.strip("/")) if key else sub_path.strip("/")
    return out


class MissingReference(ArtifactError):
    """A ``from`` names an artifact that was not produced (fine for an optional artifact)."""


# -- inputs --------------------------------------------------------------------------------------
_GROUP_INPUTS: weakref.WeakKeyDictionary[Any, dict[str, dict[str, dict[str, Any] | None]]] = weakref.WeakKeyDictionary()


def _lookup(scope: Mapping[str, Any], name: str) -> Any:
    if name in scope:
        return scope[name]
    return None


def _single_reference(text: str, what: str) -> str:
    names = template_variables(text)
    if len(names) != 1 or text.strip().replace(" ", "") != "{{" + names[0].replace(" ", "") + "}}":
        raise ArtifactError(f"{what}: `from` must be one reference such as {{{{steps.NAME.outputs.artifacts.ART}}}}")
    return names[0]


def _absent(view: RunView, node: Node, name: str) -> bool:
    """Whether ``name`` refers to an output of a sibling that was skipped or omitted."""
    from airflow_argo_provider.runtime.records import OMITTED, SKIPPED

    parent = view.scope_parent(node)
    match = _REF.match(name)
    if parent is None or match is None:
        return False
    sibling = next((c for c in parent.children if c.name == match.group(2)), None)
    return sibling is not None and view.phase(sibling) in (SKIPPED, OMITTED, None)


def reference(view: RunView, node: Node, text: str, item: Any, what: str) -> dict[str, Any] | None:
    """The location a ``from`` reference names (None: the producing step did not run)."""
    name = _single_reference(text, what)
    if name.startswith("inputs.artifacts."):
        parent = view.scope_parent(node)
        key = name[len("inputs.artifacts.") :]
        if parent is None:
            raise ArtifactError(f"{what}: {text} refers to inputs of no enclosing template")
        inputs = group_input_artifacts(view, parent)
        if key not in inputs:
            raise ArtifactError(f"{what}: template {parent.name!r} has no input artifact {key!r}")
        return inputs[key]
    if name.startswith("workflow.outputs.artifacts."):
        return global_artifact(view, name[len("workflow.outputs.artifacts.") :])
    scope = view.caller_scope(node, [name], item)
    value = _lookup(scope, name)
    if isinstance(value, dict):
        return copy.deepcopy(value)
    if _absent(view, node, name):
        return None
    raise MissingReference(f"{what}: unable to resolve {text}: no such artifact")


def expression_location(view: RunView, node: Node, expression: str, item: Any, what: str) -> dict[str, Any] | None:
    names = template_variables("{{=" + expression + "}}")
    scope = view.caller_scope(node, names, item)
    try:
        value = evaluate(expression, build_env(scope))
    except ExpressionError as exc:
        raise ArtifactError(f"{what}: fromExpression: {exc}") from None
    if value is None:
        return None
    if not isinstance(value, dict) or store_of(value) is None:
        raise ArtifactError(f"{what}: fromExpression must give an artifact, not {value!r}"[:300])
    return copy.deepcopy(value)


def _argument_source(
    view: RunView, node: Node, spec: Mapping[str, Any], item: Any, what: str, own_scope: Mapping[str, Any] | None
) -> tuple[bool, dict[str, Any] | None]:
    """(given, location) of an artifact source: ``from``, ``fromExpression`` or a location.

    ``own_scope`` is set for a template's own default (substituted in the invocation's scope),
    None for an argument (substituted in the caller's scope).
    """
    if spec.get("from"):
        return True, reference(view, node, str(spec["from"]), item, what)
    if spec.get("fromExpression"):
        return True, expression_location(view, node, str(spec["fromExpression"]), item, what)
    store = store_of(dict(spec))
    if store is None:
        return False, None

    def sub(text: str) -> str:
        try:
            if own_scope is not None:
                return substitute(text, own_scope)
            return view.substitute(text, node, item=item)
        except ExpressionError as exc:
            raise ArtifactError(f"{what}: {exc}") from None

    location = {store: templated_strings(copy.deepcopy(spec[store]), sub)}
    return True, location


def input_artifacts(
    view: RunView,
    node: Node,
    item: Any = NOT_LOADED,
    own_scope: Mapping[str, Any] | None = None,
) -> list[InputArtifact]:
    """The input artifacts ``node``'s template runs with (see the module's rules)."""
    template = view.plan.template(node.template)
    declared = (template.get("inputs") or {}).get("artifacts") or []
    if not declared:
        return []
    arguments = {a.get("name"): a for a in (node.arguments.get("artifacts") or []) if isinstance(a, dict)}
    repo: list[Any] = []

    def repo_for() -> Any:
        if not repo:
            try:
                repo.append(repository.effective(view.plan.artifact_repository, template))
            except repository.RepositoryError as exc:
                raise ArtifactError(str(exc)) from None
        return repo[0]

    out: list[InputArtifact] = []
    for spec in declared:
        name = str(spec.get("name"))
        what = f"inputs.artifacts.{name}"
        argument = arguments.get(name) or {}
        optional = bool(spec.get("optional") or argument.get("optional"))
        try:
            given, location = _argument_source(view, node, argument, item, what, None)
            if not given:
                scope = own_scope or view.workflow_scope(node)
                given, location = _argument_source(view, node, spec, item, what, scope)
        except MissingReference:
            if not optional:
                raise
            location = None
        if location is None:
            if not optional:
                raise ArtifactError(f"required artifact {name!r} not supplied")
            out.append(InputArtifact(name=name, path=str(spec.get("path") or ""), source=None, optional=True))
            continue
        local_root = getattr(view, "local_artifact_root", None)
        if store_of(location) == "s3" and not location["s3"].get("bucket") and local_root and repo_for() is None:
            # A key-only input with no repository: the local backend's own store.
            location = {"local": {"root": local_root, "key": str(location["s3"].get("key") or "")}}
        if store_of(location) == "s3":
            location["s3"] = finish_s3(location["s3"], repo_for() if not location["s3"].get("bucket") else None, what)
        location = _with_sub_path(location, str(argument.get("subPath") or spec.get("subPath") or ""), name)
        archive = None
        if spec.get("archive"):
            try:
                strategy = strategy_of(spec.get("archive"), default=None)
            except ArchiveError as exc:
                raise ArtifactError(f"{what}: {exc}") from None
            archive = strategy.mode if strategy else None
        elif argument.get("subPath") or spec.get("subPath"):
            archive = NONE
        mode = spec.get("mode")
        out.append(
            InputArtifact(
                name=name,
                path=str(spec.get("path") or ""),
                source=location,
                archive=archive,
                mode=int(mode) if mode is not None else None,
                recurse_mode=bool(spec.get("recurseMode")),
                optional=optional,
            )
        )
    return out


def group_input_artifacts(view: RunView, group: Node) -> dict[str, dict[str, Any] | None]:
    """The input artifacts of a steps/DAG template invocation, by name (memoised per view)."""
    cache = _GROUP_INPUTS.setdefault(view, {})
    found = cache.get(group.id)
    if found is None:
        item: Any = NOT_LOADED
        if group.loop is not None and group.is_group and view.mapped_index is not None:
            item = view.mapped_item(group)
        found = {a.name: a.source for a in input_artifacts(view, group, item)}
        cache[group.id] = found
    return found


def global_artifact(view: RunView, key: str) -> dict[str, Any] | None:
    """``workflow.outputs.artifacts.KEY``: the last node whose output artifact has that ``globalName``."""
    value = None
    for node in view.plan.nodes():
        if node.is_group:
            continue
        template = view.plan.template(node.template)
        names = [
            a.get("name") for a in (template.get("outputs") or {}).get("artifacts") or [] if a.get("globalName") == key
        ]
        if not names:
            continue
        status = view.status(node)
        records = status.children if status.children else ([status.record] if status.record else [])
        for record in records:
            for name in names:
                if name in record.artifacts:
                    value = copy.deepcopy(record.artifacts[name])
    return value


def group_output_artifacts(view: RunView, group: Node) -> dict[str, dict[str, Any]]:
    """``outputs.artifacts`` of a steps/DAG template (``from``/``fromExpression`` over its children)."""
    from airflow_argo_provider.runtime.scope import input_vars

    template = view.plan.template(group.template)
    declared = (template.get("outputs") or {}).get("artifacts") or []
    out: dict[str, dict[str, Any]] = {}
    if not declared:
        return out
    scope = view.workflow_scope(group)
    scope.update(input_vars(view.group_inputs(group)))
    prefix = "steps" if group.kind == "steps" else "tasks"
    for child in group.children:
        scope.update(view.output_vars(prefix, child))
    for spec in declared:
        value: Any = None
        try:
            if spec.get("from"):
                value = scope.get(_single_reference(str(spec["from"]), "outputs.artifacts"))
            elif spec.get("fromExpression"):
                value = evaluate(str(spec["fromExpression"]), build_env(scope))
        except (ExpressionError, ArtifactError):
            value = None
        if isinstance(value, dict) and store_of(value):
            out[str(spec.get("name"))] = copy.deepcopy(value)
    return out


# -- outputs ---------------------------------------------------------------------------------------
def output_artifacts(
    plan: Plan, template: Mapping[str, Any], scope: Mapping[str, Any], local_root: str | None = None
) -> list[OutputArtifact]:
    """Where each output artifact of a leaf template goes (see the module's rules).

    ``local_root``: the local backend's own store, used when no repository is configured.
    """
    declared = (template.get("outputs") or {}).get("artifacts") or []
    out: list[OutputArtifact] = []
    repo: list[Any] = []

    def repo_for() -> Any:
        if not repo:
            try:
                repo.append(repository.effective(plan.artifact_repository, template))
            except repository.RepositoryError as exc:
                raise ArtifactError(str(exc)) from None
        return repo[0]

    def sub(text: str, what: str) -> str:
        try:
            return substitute(text, scope) if "{{" in text else text
        except ExpressionError as exc:
            raise ArtifactError(f"{what}: {exc}") from None

    for spec in declared:
        name = str(spec.get("name"))
        what = f"outputs.artifacts.{name}"
        path = sub(str(spec.get("path") or ""), what)
        try:
            strategy = strategy_of(spec.get("archive"))
        except ArchiveError as exc:
            raise ArtifactError(f"{what}: {exc}") from None
        assert strategy is not None
        store = store_of(dict(spec))
        if store is not None and store not in OUTPUT_STORES:
            raise ArtifactError(f"{what}: output artifacts cannot be stored in {store}")
        if store not in (None, "s3"):
            assert store is not None
            out.append(_other_output(spec, store, name, path, strategy, sub))
            continue
        s3 = spec.get("s3")
        location = templated_strings(copy.deepcopy(s3 or {}), functools.partial(sub, what=what))
        needs_repo = not location.get("bucket") or not location.get("key")
        repo_value = repo_for() if needs_repo else None
        if not location.get("bucket") and repo_value is None and local_root:
            # No repository: the local backend keeps the artifact in its own store.
            file_name = f"{name}{strategy.suffix}" if strategy.mode != NONE else posixpath.basename(path.rstrip("/"))
            key = location.get("key") or posixpath.join(
                sub(repository.DEFAULT_KEY_FORMAT, f"{what}: keyFormat"), file_name or name
            )
            out.append(
                OutputArtifact(
                    name=name,
                    path=path,
                    destination={"local": {"root": local_root, "key": key}},
                    strategy=strategy,
                    optional=bool(spec.get("optional")),
                    global_name=spec.get("globalName"),
                )
            )
            continue
        if not location.get("key"):
            if repo_value is None:
                raise ArtifactError(
                    f"{what}: no S3 location and no artifact repository is configured "
                    "(set [argo] artifact_repository, or spec.artifactRepositoryRef)"
                )
            prefix = sub(str(repo_value["keyFormat"]), f"{what}: keyFormat")
            file_name = f"{name}{strategy.suffix}" if strategy.mode != NONE else (posixpath.basename(path.rstrip("/")))
            location["key"] = posixpath.join(prefix, file_name or name)
        destination = {"s3": finish_s3(location, repo_value, what)}
        out.append(
            OutputArtifact(
                name=name,
                path=path,
                destination=destination,
                strategy=strategy,
                optional=bool(spec.get("optional")),
                global_name=spec.get("globalName"),
            )
        )
    return out


def _other_output(
    spec: Mapping[str, Any], store: str, name: str, path: str, strategy: Any, sub: Callable[..., str]
) -> OutputArtifact:
    """An output artifact stored in GCS, Azure, HTTP or Artifactory: its location as written,
    substituted; a GCS/Azure location without a key gets Argo's default key."""
    what = f"outputs.artifacts.{name}"
    location = templated_strings(copy.deepcopy(dict(spec[store])), functools.partial(sub, what=what))
    field = KEY_FIELDS.get(store)
    if field is not None and not location.get(field):
        file_name = f"{name}{strategy.suffix}" if strategy.mode != NONE else posixpath.basename(path.rstrip("/"))
        location[field] = posixpath.join(sub(repository.DEFAULT_KEY_FORMAT, f"{what}: keyFormat"), file_name or name)
    if store in ("http", "artifactory") and not location.get("url"):
        raise ArtifactError(f"{what}: the {store} location has no url")
    return OutputArtifact(
        name=name,
        path=path,
        destination={store: location},
        strategy=strategy,
        optional=bool(spec.get("optional")),
        global_name=spec.get("globalName"),
    )


def step_artifacts(
    view: RunView, node: Node, template: Mapping[str, Any], scope: Mapping[str, Any], item: Any
) -> StepArtifacts | None:
    """The artifacts of one leaf invocation; None when it has none. Raises ArtifactError."""
    has_inputs = bool((template.get("inputs") or {}).get("artifacts"))
    has_outputs = bool((template.get("outputs") or {}).get("artifacts"))
    if not (has_inputs or has_outputs):
        return None
    inputs = input_artifacts(view, node, item, scope) if has_inputs else []
    fallback = getattr(view, "local_artifact_root", None)
    outputs = output_artifacts(view.plan, template, scope, fallback) if has_outputs else []
    return StepArtifacts(inputs=inputs, outputs=outputs)


def preview_artifacts(
    plan: Plan, node: Node, template: Mapping[str, Any], scope: Mapping[str, Any], lenient: Callable[[Any], Any]
) -> StepArtifacts | None:
    """The artifacts of a leaf as ``airflow-argo render`` shows them, before any run: what only
    a run knows (another step's artifact) stays a ``{"from": "{{...}}"}`` placeholder; the
    repository comes from the manifests or the environment only (Airflow is not imported)."""
    inputs_declared = (template.get("inputs") or {}).get("artifacts") or []
    outputs_declared = (template.get("outputs") or {}).get("artifacts") or []
    if not (inputs_declared or outputs_declared):
        return None
    try:
        repo = repository.effective(plan.artifact_repository, template, airflow_config=False)
    except repository.RepositoryError:
        repo = None
    arguments = {a.get("name"): a for a in (node.arguments.get("artifacts") or []) if isinstance(a, dict)}
    inputs: list[InputArtifact] = []
    for spec in inputs_declared:
        name = str(spec.get("name"))
        source_spec = arguments.get(name) if _has_source(arguments.get(name)) else spec
        source: dict[str, Any] | None = None
        if source_spec and (source_spec.get("from") or source_spec.get("fromExpression")):
            text = source_spec.get("from") or "{{=" + str(source_spec.get("fromExpression")) + "}}"
            source = {"from": str(text)}
        elif source_spec and store_of(dict(source_spec)):
            store = store_of(dict(source_spec))
            assert store is not None
            source = {store: lenient(copy.deepcopy(source_spec[store]))}
            if store == "s3" and not source["s3"].get("bucket") and repo:
                source["s3"] = {**copy.deepcopy(repo["s3"]), **source["s3"]}
        inputs.append(
            InputArtifact(
                name=name,
                path=str(spec.get("path") or ""),
                source=source,
                mode=spec.get("mode"),
                optional=bool(spec.get("optional")),
            )
        )
    outputs: list[OutputArtifact] = []
    for spec in outputs_declared:
        name = str(spec.get("name"))
        strategy = strategy_of(spec.get("archive") if isinstance(spec.get("archive"), dict) else None)
        assert strategy is not None
        other = store_of(dict(spec))
        if other not in (None, "s3"):
            assert other is not None
            outputs.append(
                OutputArtifact(
                    name=name,
                    path=lenient(str(spec.get("path") or "")),
                    destination={other: lenient(copy.deepcopy(spec[other]))},
                    strategy=strategy,
                    optional=bool(spec.get("optional")),
                )
            )
            continue
        s3 = lenient(copy.deepcopy(spec.get("s3") or {}))
        if repo and not s3.get("bucket"):
            s3 = {**copy.deepcopy(repo["s3"]), **s3}
        if not s3.get("key"):
            file_name = name + strategy.suffix if strategy.mode != NONE else posixpath.basename(str(spec.get("path")))
            prefix = lenient(str(repo["keyFormat"])) if repo else repository.DEFAULT_KEY_FORMAT
            s3["key"] = posixpath.join(prefix, file_name)
        outputs.append(
            OutputArtifact(
                name=name,
                path=lenient(str(spec.get("path") or "")),
                destination={"s3": s3},
                strategy=strategy,
                optional=bool(spec.get("optional")),
            )
        )
    return StepArtifacts(inputs=inputs, outputs=outputs)


def _has_source(spec: Any) -> bool:
    return isinstance(spec, dict) and any(spec.get(k) for k in SOURCES)
