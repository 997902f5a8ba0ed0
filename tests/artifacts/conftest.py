"""Fixtures of the artifact tests: buckets on the session's moto server, a configured
repository, and a folder the steps can read (outside /tmp, which each local step gets
privately)."""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture
def s3(moto_server: str) -> Any:
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=moto_server,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )


@pytest.fixture
def bucket(s3: Any) -> str:
    name = f"artifacts-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture
def repository(bucket: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """``[argo] artifact_repository`` pointing at a fresh bucket (credentials: ``aws_default``)."""
    monkeypatch.setenv(
        "AIRFLOW__ARGO__ARTIFACT_REPOSITORY",
        json.dumps({"s3": {"bucket": bucket, "keyFormat": "{{workflow.name}}/{{pod.name}}"}}),
    )
    return bucket


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A folder steps see at the same path (local steps get a private /tmp, /var/tmp is shared)."""
    path = Path("/var/tmp") / f"argo-artifact-tests-{uuid.uuid4().hex[:12]}"
    path.mkdir(parents=True)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def keys(s3: Any, bucket: str, prefix: str = "") -> list[str]:
    paginator = s3.get_paginator("list_objects_v2")
    out: list[str] = []
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        out.extend(o["Key"] for o in page.get("Contents") or [])
    return sorted(out)
