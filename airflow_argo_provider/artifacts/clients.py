"""S3 clients for artifact locations, and where their credentials come from.

An S3 location carries Argo's fields: ``endpoint`` (``host:port``, ``https`` unless
``insecure``), ``region``, ``accessKeySecret``/``secretKeySecret``/``sessionTokenSecret``
(references to Kubernetes Secrets), ``useSDKCreds``, ``roleARN``, ``caSecret`` and
``encryptionOptions``. The secret references are read through a *secret reader*: the
local backend reads Airflow Variables (see :mod:`airflow_argo_provider.hooks.secrets`),
the in-pod agent reads the environment variables its pod maps the Secrets to.

Without secret references the credentials come from a *session factory*: in the local
backend the amazon provider's ``S3Hook`` for the location's Airflow connection (``connId``,
default ``aws_default``), which also supplies the endpoint and region when the location has
none; in a pod boto3's default chain (IRSA, instance profiles). This module imports boto3
lazily and Airflow not at all.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import tempfile
import threading
from collections.abc import Callable
from typing import Any

from airflow_argo_provider.artifacts.model import StoreError

SecretReader = Callable[[str, str], str]
# (s3 location) -> (boto3 Session, default endpoint URL or None, default region or None)
SessionFactory = Callable[[dict[str, Any]], tuple[Any, str | None, str | None]]
DEFAULT_CONN_ID = "aws_default"


def endpoint_url(s3: dict[str, Any]) -> str | None:
    endpoint = str(s3.get("endpoint") or "").strip()
    if not endpoint:
        return None
    if "://" in endpoint:
        return endpoint
    return ("http://" if s3.get("insecure") else "https://") + endpoint


def _ref(s3: dict[str, Any], field: str) -> tuple[str, str] | None:
    ref = s3.get(field)
    if isinstance(ref, dict) and ref.get("name") and ref.get("key"):
        return str(ref["name"]), str(ref["key"])
    return None


def secret_refs(location: dict[str, Any]) -> list[tuple[str, str]]:
    """Every Secret reference of a location (name, key): what a pod must map to its env."""
    out: list[tuple[str, str]] = []

    def visit(value: Any) -> None:
        if isinstance(value, dict):
            if set(value) >= {"name", "key"} and isinstance(value.get("name"), str) and len(value) <= 3:
                ref = (str(value["name"]), str(value["key"]))
                if ref not in out:
                    out.append(ref)
                return
            for item in value.values():
                visit(item)
        elif isinstance(value, list):
            for item in value:
                visit(item)

    visit(location)
    return out


def encryption_args(s3: dict[str, Any], secret: SecretReader) -> tuple[dict[str, Any], dict[str, Any]]:
    """(arguments of PutObject/CreateMultipartUpload, arguments of UploadPart/GetObject)."""
    options = s3.get("encryptionOptions") or {}
    put: dict[str, Any] = {}
    every: dict[str, Any] = {}
    secret = _reading(secret)
    if options.get("enableEncryption"):
        put["ServerSideEncryption"] = "aws:kms"
        if options.get("kmsKeyId"):
            put["SSEKMSKeyId"] = str(options["kmsKeyId"])
        if options.get("kmsEncryptionContext"):
            put["SSEKMSEncryptionContext"] = base64.b64encode(str(options["kmsEncryptionContext"]).encode()).decode()
    ref = options.get("serverSideCustomerKeySecret")
    if isinstance(ref, dict) and ref.get("name"):
        key = secret(str(ref["name"]), str(ref.get("key", "")))
        every = {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": key}
        put.update(every)
    return put, every


_CA_FILES: dict[str, str] = {}
_LOCK = threading.Lock()


def _ca_file(pem: str) -> str:
    digest = hashlib.sha256(pem.encode()).hexdigest()[:16]
    with _LOCK:
        path = _CA_FILES.get(digest)
        if path is None or not os.path.exists(path):
            handle, path = tempfile.mkstemp(prefix="argo-ca-", suffix=".pem")
            with os.fdopen(handle, "w") as out:
                out.write(pem)
            _CA_FILES[digest] = path
    return path


def _reading(secret: SecretReader) -> SecretReader:
    def read(name: str, key: str) -> str:
        try:
            return secret(name, key)
        except Exception as exc:
            raise StoreError(f"s3 artifact credentials: {exc}") from None

    return read


def make_client(s3: dict[str, Any], secret: SecretReader, sessions: SessionFactory) -> Any:
    """A boto3 S3 client for the location ``s3``."""
    import boto3
    from botocore.config import Config

    secret = _reading(secret)

    access = _ref(s3, "accessKeySecret")
    secret_key = _ref(s3, "secretKeySecret")
    region = s3.get("region") or None
    default_endpoint: str | None = None
    if access and secret_key and not s3.get("useSDKCreds"):
        token = _ref(s3, "sessionTokenSecret")
        session = boto3.session.Session(
            aws_access_key_id=secret(*access),
            aws_secret_access_key=secret(*secret_key),
            aws_session_token=secret(*token) if token else None,
            region_name=region,
        )
    elif access or secret_key:
        raise StoreError("s3 artifact: accessKeySecret and secretKeySecret go together; one of them is missing")
    else:
        session, default_endpoint, default_region = sessions(s3)
        region = region or default_region
    if s3.get("roleARN"):
        sts = session.client("sts", region_name=region)
        try:
            creds = sts.assume_role(RoleArn=str(s3["roleARN"]), RoleSessionName="airflow-argo-artifacts")["Credentials"]
        except Exception as exc:
            raise StoreError(f"s3 artifact: cannot assume role {s3['roleARN']}: {exc}") from None
        session = boto3.session.Session(
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
            region_name=region,
        )
    url = endpoint_url(s3) or default_endpoint
    options: dict[str, Any] = {"retries": {"max_attempts": 5, "mode": "standard"}}
    if url:
        options["s3"] = {"addressing_style": "path"}  # MinIO and other S3-compatible stores
    verify: Any = None
    ca = _ref(s3, "caSecret")
    if ca:
        verify = _ca_file(secret(*ca))
    return session.client(
        "s3", endpoint_url=url, region_name=region or "us-east-1", config=Config(**options), verify=verify
    )


def default_sessions(s3: dict[str, Any]) -> tuple[Any, str | None, str | None]:
    """boto3's default credential chain (the in-pod agent: IRSA, instance profiles, env)."""
    import boto3

    return boto3.session.Session(region_name=s3.get("region") or None), None, None


def airflow_sessions(s3: dict[str, Any]) -> tuple[Any, str | None, str | None]:
    """The Airflow AWS connection ``connId`` (default ``aws_default``) through ``S3Hook``."""
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    hook = S3Hook(aws_conn_id=str(s3.get("connId") or DEFAULT_CONN_ID), region_name=s3.get("region") or None)
    config = hook.conn_config
    session = hook.get_session(region_name=s3.get("region") or config.region_name)
    return session, config.endpoint_url, config.region_name


class ClientCache:
    """One client per distinct location settings within a step (clients are thread-safe)."""

    def __init__(self, secret: SecretReader, sessions: SessionFactory) -> None:
        self.secret = secret
        self.sessions = sessions
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def client(self, s3: dict[str, Any]) -> Any:
        settings = {k: v for k, v in s3.items() if k not in ("key", "bucket", "createBucketIfNotPresent")}
        marker = json.dumps(settings, sort_keys=True, default=str)
        with self._lock:
            found = self._clients.get(marker)
            if found is None:
                found = make_client(s3, self.secret, self.sessions)
                self._clients[marker] = found
            return found
