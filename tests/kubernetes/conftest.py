"""Fixtures of the Kubernetes backend's tests: a fake Kubernetes API for real Airflow runs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.kubernetes.fake_cluster import FakeCluster, patch_cluster


@pytest.fixture
def fake_cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeCluster:
    """A fake cluster behind the cncf.kubernetes provider, and a `kubernetes_default` connection."""
    if shutil.which("dash") is None:
        pytest.fail("the fake kubelet runs pods' wrapper scripts with dash (a POSIX shell like BusyBox's)")
    cluster = FakeCluster(tmp_path / "kubelet", secrets={"my-secret": {"mypassword": "S00perS3cretPa55word"}})
    cluster.work.mkdir(parents=True, exist_ok=True)
    patch_cluster(monkeypatch, cluster)
    monkeypatch.setenv(
        "AIRFLOW_CONN_KUBERNETES_DEFAULT",
        json.dumps({"conn_type": "kubernetes", "extra": {"namespace": "argo-test"}}),
    )
    monkeypatch.delenv("KUBECONFIG", raising=False)
    return cluster


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Real-cluster tests are opt-in: they run only when `-m kubernetes` selects them."""
    if "kubernetes" in (config.getoption("markexpr", "") or ""):
        return
    reason = "needs a real cluster: opt in with `pytest -m kubernetes` and KUBECONFIG (see docs/kubernetes.md)"
    for item in items:
        if item.get_closest_marker("kubernetes") is not None:
            item.add_marker(pytest.mark.skip(reason=reason))
