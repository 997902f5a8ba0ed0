"""Pod construction: Argo's precedence (template over workflow over defaults), volumes, patches."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_argo_provider.kubernetes import capture
from airflow_argo_provider.kubernetes.patch import PatchError, apply_patch, parse_patch
from airflow_argo_provider.kubernetes.pod import (
    PodBuildError,
    PodSettings,
    PodTarget,
    build_pod,
    label_value,
    to_v1pod,
)

TARGET = PodTarget(name="wf-abcde-t-123", workflow_name="wf-abcde", node_name="wf-abcde.step")


def template(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"name": "t", "container": {"image": "busybox", "command": ["echo"], "args": ["hi"]}}
    base.update(fields)
    return base


def spec(pod: dict[str, Any]) -> dict[str, Any]:
    return pod["spec"]


def main(pod: dict[str, Any]) -> dict[str, Any]:
    return pod["spec"]["containers"][0]


def test_defaults_and_layout() -> None:
    pod = build_pod(template(), {}, TARGET)
    to_v1pod(pod)
    assert pod["metadata"] == {
        "name": "wf-abcde-t-123",
        "labels": {"workflows.argoproj.io/workflow": "wf-abcde"},
        "annotations": {"workflows.argoproj.io/node-name": "wf-abcde.step"},
    }
    assert spec(pod)["restartPolicy"] == "Never"
    assert [c["name"] for c in spec(pod)["initContainers"]] == ["argo-init"]
    assert [c["name"] for c in spec(pod)["containers"]] == ["main", "airflow-xcom-sidecar"]
    assert main(pod)["command"] == capture.wrap_command(["echo"], [])
    assert main(pod)["args"] == ["hi"]
    assert {v["name"] for v in spec(pod)["volumes"]} == {"var-run-argo", "xcom"}
    for key in ("nodeSelector", "affinity", "tolerations", "serviceAccountName", "activeDeadlineSeconds"):
        assert key not in spec(pod)


@pytest.mark.parametrize(
    ("key", "wf_key", "tmpl_value", "wf_value"),
    [
        ("nodeSelector", None, {"disk": "ssd"}, {"zone": "a"}),
        ("affinity", None, {"nodeAffinity": {"x": 1}}, {"podAffinity": {"y": 2}}),
        ("tolerations", None, [{"key": "t", "operator": "Exists"}], [{"key": "w", "operator": "Exists"}]),
        ("serviceAccountName", None, "tmpl-sa", "wf-sa"),
        ("schedulerName", None, "tmpl-scheduler", "wf-scheduler"),
        ("priorityClassName", "podPriorityClassName", "high", "low"),
        ("securityContext", None, {"runAsUser": 1000}, {"runAsUser": 2000}),
    ],
)
def test_template_wins_over_workflow(key: str, wf_key: str | None, tmpl_value: Any, wf_value: Any) -> None:
    workflow = {wf_key or key: wf_value}
    assert spec(build_pod(template(**{key: tmpl_value}), workflow, TARGET))[key] == tmpl_value
    assert spec(build_pod(template(), workflow, TARGET))[key] == wf_value


def test_workflow_only_fields_and_lists_that_add_up() -> None:
    workflow = {
        "imagePullSecrets": [{"name": "registry"}],
        "dnsPolicy": "None",
        "dnsConfig": {"nameservers": ["1.2.3.4"]},
        "hostAliases": [{"ip": "10.0.0.1", "hostnames": ["wf"]}],
        "automountServiceAccountToken": False,
        "podMetadata": {"labels": {"team": "data", "tier": "wf"}, "annotations": {"a": "wf"}},
    }
    tmpl = template(
        hostAliases=[{"ip": "10.0.0.2", "hostnames": ["tmpl"]}],
        metadata={"labels": {"tier": "tmpl"}, "annotations": {"b": "tmpl"}},
    )
    pod = build_pod(tmpl, workflow, TARGET)
    to_v1pod(pod)
    assert spec(pod)["imagePullSecrets"] == [{"name": "registry"}]
    assert (spec(pod)["dnsPolicy"], spec(pod)["dnsConfig"]) == ("None", {"nameservers": ["1.2.3.4"]})
    assert [a["ip"] for a in spec(pod)["hostAliases"]] == ["10.0.0.1", "10.0.0.2"]
    assert spec(pod)["automountServiceAccountToken"] is False
    assert pod["metadata"]["labels"] == {"workflows.argoproj.io/workflow": "wf-abcde", "team": "data", "tier": "tmpl"}
    assert pod["metadata"]["annotations"]["a"] == "wf" and pod["metadata"]["annotations"]["b"] == "tmpl"
    tmpl_false = build_pod(template(automountServiceAccountToken=True), workflow, TARGET)
    assert spec(tmpl_false)["automountServiceAccountToken"] is True


def test_volumes_the_workflow_offers_are_added_only_when_mounted() -> None:
    workflow = {
        "volumes": [{"name": "used", "emptyDir": {}}, {"name": "unused", "emptyDir": {}}],
        "volumeClaimTemplates": [{"metadata": {"name": "work"}, "spec": {}}],
    }
    tmpl = template(
        container={
            "image": "busybox",
            "command": ["ls"],
            "volumeMounts": [{"name": "used", "mountPath": "/u"}, {"name": "work", "mountPath": "/w"}],
        },
        volumes=[{"name": "own", "configMap": {"name": "cm"}}],
    )
    target = PodTarget(name="p", workflow_name="wf", node_name="wf.n", claims={"work": "wf-run-work"})
    pod = build_pod(tmpl, workflow, target)
    volumes = {v["name"]: v for v in spec(pod)["volumes"]}
    assert list(volumes) == ["own", "used", "work", "var-run-argo", "xcom"]
    assert volumes["work"] == {"name": "work", "persistentVolumeClaim": {"claimName": "wf-run-work"}}
    missing = template(
        container={"image": "busybox", "command": ["ls"], "volumeMounts": [{"name": "x", "mountPath": "/x"}]}
    )
    with pytest.raises(PodBuildError, match="volume 'x' not found in workflow spec"):
        build_pod(missing, workflow, target)


def test_init_containers_and_sidecars_mirror_mounts() -> None:
    tmpl = template(
        container={"image": "busybox", "command": ["ls"], "volumeMounts": [{"name": "v", "mountPath": "/v"}]},
        volumes=[{"name": "v", "emptyDir": {}}],
        initContainers=[{"name": "prep", "image": "alpine", "command": ["true"], "mirrorVolumeMounts": True}],
        sidecars=[{"name": "side", "image": "nginx"}],
    )
    pod = build_pod(tmpl, {}, TARGET)
    to_v1pod(pod)
    inits = spec(pod)["initContainers"]
    assert [c["name"] for c in inits] == ["argo-init", "prep"]
    assert inits[1]["volumeMounts"] == [{"name": "v", "mountPath": "/v"}]
    assert "mirrorVolumeMounts" not in inits[1]
    assert [c["name"] for c in spec(pod)["containers"]] == ["main", "side", "airflow-xcom-sidecar"]
    assert "volumeMounts" not in spec(pod)["containers"][1]


def test_script_source_is_staged_by_the_init_container() -> None:
    tmpl = {"name": "s", "script": {"image": "python:3", "command": ["python"], "source": "print(1)\n"}}
    pod = build_pod(tmpl, {}, TARGET)
    init = spec(pod)["initContainers"][0]
    assert {"name": capture.SCRIPT_ENV, "value": "print(1)\n"} in init["env"]
    assert main(pod)["args"] == [capture.SCRIPT_PATH]
    assert "source" not in main(pod)
    assert {"name": "argo-staging", "mountPath": "/argo/staging"} in main(pod)["volumeMounts"]
    assert {"name": "argo-staging", "emptyDir": {}} in spec(pod)["volumes"]


def test_commands_of_known_images_and_unknown_ones() -> None:
    argosay = build_pod(template(container={"image": "argoproj/argosay:v2", "args": ["echo", "x"]}), {}, TARGET)
    assert main(argosay)["command"][-1] == "/argosay"
    custom = PodSettings(image_commands={"my/image": ["/entry"]})
    assert main(build_pod(template(container={"image": "my/image:latest"}), {}, TARGET, custom))["command"][-1] == (
        "/entry"
    )
    with pytest.raises(PodBuildError, match="the command of image 'my/other' is not known"):
        build_pod(template(container={"image": "my/other"}), {}, TARGET)


def test_output_paths_reach_the_wrapper() -> None:
    tmpl = template(
        outputs={"parameters": [{"name": "a", "valueFrom": {"path": "/tmp/a"}}, {"name": "b", "value": "x"}]}
    )
    command = main(build_pod(tmpl, {}, TARGET))["command"]
    assert command == capture.wrap_command(["echo"], ["/tmp/a"])
    assert command[6:9] == ["1", "/tmp/a", "echo"]


def test_active_deadline_is_the_smaller_of_template_and_run() -> None:
    assert spec(build_pod(template(activeDeadlineSeconds="30"), {}, TARGET))["activeDeadlineSeconds"] == 30
    near = PodTarget(name="p", workflow_name="wf", node_name="n", deadline_seconds=4.2)
    assert spec(build_pod(template(activeDeadlineSeconds=30), {}, near))["activeDeadlineSeconds"] == 5
    assert spec(build_pod(template(), {}, near))["activeDeadlineSeconds"] == 5
    with pytest.raises(PodBuildError, match="activeDeadlineSeconds"):
        build_pod(template(activeDeadlineSeconds="soon"), {}, TARGET)


def test_pod_spec_patch_workflow_first_then_template() -> None:
    workflow = {"podSpecPatch": '{"containers":[{"name":"main","resources":{"limits":{"cpu":"1","memory":"1Gi"}}}]}'}
    tmpl = template(podSpecPatch="containers:\n- name: main\n  resources:\n    limits:\n      cpu: 250m\n")
    pod = build_pod(tmpl, workflow, TARGET)
    assert main(pod)["resources"] == {"limits": {"cpu": "250m", "memory": "1Gi"}}
    assert main(pod)["command"][0] == capture.BUSYBOX  # merged by name, nothing else replaced
    with pytest.raises(PodBuildError, match="invalid podSpecPatch"):
        build_pod(template(podSpecPatch="[1, 2]"), {}, TARGET)


def test_invalid_fields_are_caught_by_the_client_models() -> None:
    bad = template(container={"image": "busybox", "command": ["echo"], "resourcez": {"limits": {"cpu": "1"}}})
    with pytest.raises(PodBuildError, match="resourcez: unknown field"):
        to_v1pod(build_pod(bad, {}, TARGET))
    wrong_type = template(podSpecPatch='{"containers":[{"name":"main","ports":[{"containerPort":"eighty"}]}]}')
    with pytest.raises(PodBuildError, match="not a valid pod"):
        to_v1pod(build_pod(wrong_type, {}, TARGET))


def test_label_values() -> None:
    assert label_value("hello-world-abcde") == "hello-world-abcde"
    long = "x" * 70
    assert label_value(long) == "x" * 63
    assert label_value("a b/c") == "a-b-c"


# -- strategic merge -----------------------------------------------------------------------------
BASE = {
    "containers": [
        {
            "name": "main",
            "image": "a",
            "env": [{"name": "A", "value": "1"}],
            "volumeMounts": [{"name": "v", "mountPath": "/v"}],
        },
        {"name": "side", "image": "s"},
    ],
    "volumes": [{"name": "v", "emptyDir": {}}],
    "tolerations": [{"key": "old"}],
    "nodeSelector": {"a": "1", "b": "2"},
}


def test_patch_merges_lists_by_their_keys() -> None:
    patch = {
        "containers": [
            {"name": "main", "env": [{"name": "A", "value": "2"}, {"name": "B", "value": "3"}]},
            {"name": "extra", "image": "e"},
        ],
        "volumes": [{"name": "w", "emptyDir": {}}],
        "tolerations": [{"key": "new"}],
        "nodeSelector": {"b": None, "c": "3"},
    }
    merged = apply_patch(BASE, patch)
    assert [c["name"] for c in merged["containers"]] == ["main", "side", "extra"]
    assert merged["containers"][0]["env"] == [{"name": "A", "value": "2"}, {"name": "B", "value": "3"}]
    assert merged["containers"][0]["image"] == "a"
    assert [v["name"] for v in merged["volumes"]] == ["v", "w"]
    assert merged["tolerations"] == [{"key": "new"}]  # no merge key: replaced
    assert merged["nodeSelector"] == {"a": "1", "c": "3"}  # null removes a key
    assert BASE["containers"][0]["env"] == [{"name": "A", "value": "1"}]  # inputs untouched


def test_patch_directives() -> None:
    merged = apply_patch(BASE, {"containers": [{"name": "side", "$patch": "delete"}]})
    assert [c["name"] for c in merged["containers"]] == ["main"]
    merged = apply_patch(BASE, {"volumes": [{"$patch": "replace"}, {"name": "only", "emptyDir": {}}]})
    assert merged["volumes"] == [{"name": "only", "emptyDir": {}}]
    merged = apply_patch(BASE, {"nodeSelector": {"$patch": "replace", "z": "9"}})
    assert merged["nodeSelector"] == {"z": "9"}
    merged = apply_patch(
        BASE, {"containers": [{"name": "main", "volumeMounts": [{"mountPath": "/v", "$patch": "delete"}]}]}
    )
    assert merged["containers"][0]["volumeMounts"] == []


def test_parse_patch() -> None:
    assert parse_patch('{"a": 1}') == {"a": 1}
    assert parse_patch("a: 1\nb: [x]\n") == {"a": 1, "b": ["x"]}
    assert parse_patch("") == {}
    for bad in ("- a\n- b", "{unclosed", 5):
        with pytest.raises(PatchError):
            parse_patch(bad)
