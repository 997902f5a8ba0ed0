"""Argo ``http`` templates: one request per node, and many at once for a fan-out.

A single node sends its request and is judged by ``successCondition`` (no condition: any 2xx
status succeeds); ``outputs.result`` is the response body. A fanned-out ``http`` step runs its
items inside one task (:attr:`ArgoHttpOperator.items_per_task` items per task instance): the
requests go out concurrently on one asyncio connection pool, at most ``parallelism`` at a
time, each item retried on its own with the template's ``retryStrategy`` and backoff, and each
item still reported as its own node (``fetch-all(3:4)``).

Failures are classified for ``retryPolicy: OnTransientError``: connection errors, timeouts and
the statuses 408, 429, 500, 502, 503 and 504 are transient; every other status, a false
``successCondition`` on any other response, and a condition that cannot be evaluated are not.
See ``docs/http.md``.

Header values from ``valueFrom.secretKeyRef`` are read by :meth:`ArgoHttpOperator.read_secret`
(an Airflow Variable in the local backend, the cluster's Secret in the kubernetes backend);
they are sent, registered with the secrets masker, and never logged, shown to the success
condition, or written to XCom.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from airflow_argo_provider.expressions import ExpressionError, evaluate
from airflow_argo_provider.hooks.secrets import SecretNotFound, kubernetes_secret, local_secret
from airflow_argo_provider.operators.base import ArgoNodeOperator
from airflow_argo_provider.runtime.records import NodeRecord
from airflow_argo_provider.runtime.retry import RetrySettings
from airflow_argo_provider.runtime.step import Invocation, RawOutcome, now_iso

if TYPE_CHECKING:
    import aiohttp

log = logging.getLogger(__name__)

T = TypeVar("T")

TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
# Argo documents 30 s as the default of ``timeoutSeconds``.
DEFAULT_TIMEOUT_SECONDS = 30.0
# Template annotation naming an Airflow HTTP connection (base URL, auth, extra headers).
CONNECTION_ANNOTATION = "airflow-argo-provider/http-conn-id"
EXCERPT_CHARS = 200


class RequestError(Exception):
    """The request cannot be built from the template (bad body, missing secret, bad timeout)."""


@dataclass
class HttpRequest:
    """One prepared request. ``headers`` holds secret values: never log or store it."""

    method: str
    url: str
    body: bytes
    headers: list[tuple[str, str]] = field(repr=False)
    # The template's literal headers, as Argo shows them to ``successCondition`` (no secrets).
    visible_headers: dict[str, list[str]]
    body_text: str
    timeout: float
    verify: bool
    condition: str
    connection: str | None = None


def canonical_header(name: str) -> str:
    """Go's ``CanonicalMIMEHeaderKey``: ``content-type`` -> ``Content-Type``."""
    if not name or any(c == " " or ord(c) > 127 for c in name):
        return name
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))


def _excerpt(text: str) -> str:
    flat = " ".join(text.split())
    if len(flat) > EXCERPT_CHARS:
        flat = flat[: EXCERPT_CHARS - 3] + "..."
    return repr(flat) if flat else "(empty)"


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)


def build_request(template: dict[str, Any], read_secret: Callable[[str, str], str]) -> HttpRequest:
    """The request an ``http`` template describes (its ``{{...}}`` already substituted)."""
    spec = template.get("http") or {}
    url = str(spec.get("url") or "")
    if not url:
        raise RequestError("http.url is empty")
    method = str(spec.get("method") or "GET").upper()
    body_from = spec.get("bodyFrom") or {}
    if body_from.get("bytes") not in (None, ""):
        try:
            body = base64.b64decode(str(body_from["bytes"]), validate=True)
        except (binascii.Error, ValueError):
            raise RequestError("http.bodyFrom.bytes is not base64 (Argo's encoding of a byte string)") from None
    else:
        body = str(spec.get("body") or "").encode()
    headers: list[tuple[str, str]] = []
    visible: dict[str, list[str]] = {}
    for header in spec.get("headers") or []:
        name = str(header.get("name") or "")
        ref = (header.get("valueFrom") or {}).get("secretKeyRef")
        if ref:
            try:
                value = read_secret(str(ref.get("name") or ""), str(ref.get("key") or ""))
            except SecretNotFound as exc:
                if ref.get("optional"):
                    continue
                raise RequestError(f"header {name!r}: {exc}") from None
        else:
            value = str(header.get("value") if header.get("value") is not None else "")
            visible[name] = [value]
        headers.append((name, value))
    raw_timeout = spec.get("timeoutSeconds")
    try:
        timeout = float(raw_timeout) if raw_timeout not in (None, "") else DEFAULT_TIMEOUT_SECONDS
    except (TypeError, ValueError):
        raise RequestError(f"http.timeoutSeconds must be a number, got {raw_timeout!r}") from None
    annotations = (template.get("metadata") or {}).get("annotations") or {}
    return HttpRequest(
        method=method,
        url=url,
        body=body,
        headers=headers,
        visible_headers=visible,
        body_text=body.decode("utf-8", "replace"),
        timeout=timeout,
        verify=not _truthy(spec.get("insecureSkipVerify")),
        condition=str(spec.get("successCondition") or ""),
        connection=annotations.get(CONNECTION_ANNOTATION) or None,
    )


def judge(request: HttpRequest, status: int, reason: str, body: str, headers: dict[str, list[str]]) -> RawOutcome:
    """Argo's verdict on a response: ``successCondition``, else any 2xx status."""
    response = f"{status} {reason}".strip()
    detail = f"response {response}; body: {_excerpt(body)}"
    transient = status in TRANSIENT_STATUSES
    if not request.condition:
        if 200 <= status < 300:
            return RawOutcome(exit_code=None, result=body)
        message = f"received non-2xx response code: {response}; body: {_excerpt(body)}"
        return RawOutcome(exit_code=None, result=body, failed=True, message=message, transient=transient)
    scope: dict[str, Any] = {
        "request": {
            "method": request.method,
            "url": request.url,
            "body": request.body_text,
            "headers": request.visible_headers,
        },
        "response": {"statusCode": status, "body": body, "headers": headers},
    }
    if "bodyBytes" in request.condition:
        scope["request"]["bodyBytes"] = list(request.body)
    try:
        verdict = evaluate(request.condition, scope)
    except ExpressionError as exc:
        message = f"successCondition '{request.condition}' could not be evaluated: {exc}; {detail}"
        return RawOutcome(exit_code=None, result=body, failed=True, message=message, transient=False)
    if not isinstance(verdict, bool):
        message = f"successCondition '{request.condition}' gave {verdict!r}, not a boolean; {detail}"
        return RawOutcome(exit_code=None, result=body, failed=True, message=message, transient=False)
    if verdict:
        return RawOutcome(exit_code=None, result=body)
    message = f"successCondition '{request.condition}' evaluated false; {detail}"
    return RawOutcome(exit_code=None, result=body, failed=True, message=message, transient=transient)


def _failed(message: str, transient: bool) -> RawOutcome:
    return RawOutcome(exit_code=None, failed=True, message=message, transient=transient)


class HttpClient:
    """One connection pool (``aiohttp.ClientSession``) for the requests of one task."""

    def __init__(self, limit: int) -> None:
        self.limit = max(1, limit)
        self._session: aiohttp.ClientSession | None = None
        self._connections: dict[str, Any] = {}

    async def __aenter__(self) -> HttpClient:
        import aiohttp

        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self.limit, limit_per_host=0),
            cookie_jar=aiohttp.DummyCookieJar(),
            trust_env=True,
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()

    async def _connection(self, conn_id: str) -> Any:
        """The Airflow HTTP connection's session settings, resolved by the http provider's hook."""
        config = self._connections.get(conn_id)
        if config is None:
            from airflow.providers.http.hooks.http import HttpAsyncHook

            config = await HttpAsyncHook(method="GET", http_conn_id=conn_id).config()
            self._connections[conn_id] = config
        return config

    async def send(self, request: HttpRequest, deadline: float | None) -> RawOutcome:
        """Send one request. ``deadline``: seconds left before the step's own deadline."""
        import aiohttp

        assert self._session is not None
        url = request.url
        headers: list[tuple[str, str]] = []
        options: dict[str, Any] = {}
        if request.connection:
            try:
                config = await self._connection(request.connection)
            except Exception as exc:
                message = f"HTTP connection {request.connection!r}: {exc}"
                return RawOutcome(exit_code=None, error=True, message=message, transient=False)
            if "://" not in url:
                url = config.base_url.rstrip("/") + "/" + url.lstrip("/")
            headers = [(str(name), str(value)) for name, value in (config.headers or {}).items()]
            if config.auth is not None:
                options["auth"] = config.auth
            extra = config.extra_options or {}
            if extra.get("proxy"):
                options["proxy"] = extra["proxy"]
            if extra.get("verify_ssl") is not None and not _truthy(extra["verify_ssl"]):
                options["ssl"] = False
        # The template's headers replace the connection's headers of the same name.
        mine = {name.lower() for name, _ in request.headers}
        headers = [(name, value) for name, value in headers if name.lower() not in mine] + request.headers
        if "auth" in options and any(name.lower() == "authorization" for name, _ in headers):
            del options["auth"]
        if not request.verify:
            options["ssl"] = False
        limit, by_deadline = request.timeout, False
        if deadline is not None and deadline < limit:
            limit, by_deadline = max(deadline, 0.001), True
        what = f"{request.method} {url}"
        try:
            async with self._session.request(
                request.method,
                url,
                data=request.body or None,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=limit),
                **options,
            ) as response:
                data = await response.read()
                status, reason = response.status, response.reason or ""
                received: dict[str, list[str]] = {}
                for name, value in response.headers.items():
                    received.setdefault(canonical_header(name), []).append(value)
        except asyncio.TimeoutError:
            if by_deadline:
                return RawOutcome(exit_code=None, failed=True, timed_out=True, message="timeout")
            return _failed(f"{what}: no complete response within timeoutSeconds ({limit:g}s)", True)
        except (aiohttp.ClientConnectorCertificateError, aiohttp.ClientSSLError) as exc:
            return _failed(f"{what}: TLS error: {exc}", False)
        except (aiohttp.InvalidURL, aiohttp.TooManyRedirects) as exc:
            return _failed(f"{what}: {type(exc).__name__}: {exc}", False)
        except aiohttp.ClientConnectorError as exc:
            return _failed(f"{what}: connection failed: {exc}", True)
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError, aiohttp.ClientPayloadError) as exc:
            return _failed(f"{what}: connection dropped: {exc or type(exc).__name__}", True)
        except aiohttp.ClientConnectionError as exc:
            return _failed(f"{what}: connection error: {exc or type(exc).__name__}", True)
        except aiohttp.ClientError as exc:
            return _failed(f"{what}: {type(exc).__name__}: {exc}", False)
        except OSError as exc:
            return _failed(f"{what}: connection failed: {exc}", True)
        return judge(request, status, reason, data.decode("utf-8", "replace"), received)


def run_coroutine(make: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to completion from synchronous code (in a worker thread if a loop already runs here)."""

    async def main() -> T:
        return await make()

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(main())
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, main()).result()


class ArgoHttpOperator(ArgoNodeOperator):
    """Runs Argo ``http`` templates; a fan-out's items run concurrently inside one task.

    Secrets of ``valueFrom.secretKeyRef`` headers come from Airflow Variables (the local
    backend's convention, see :func:`~airflow_argo_provider.hooks.secrets.local_secret`).
    """

    ui_color = "#fdf2d0"
    # One task instance runs up to this many items (more when Airflow's max_map_length needs it).
    items_per_task = 1000
    # Concurrent requests of a fan-out when no ``parallelism`` limits them.
    default_batch_concurrency = 64

    def read_secret(self, name: str, key: str) -> str:
        return local_secret(name, key)

    def _secret_reader(self) -> Callable[[str, str], str]:
        """``read_secret`` once per Secret key for the whole task (failures included)."""
        cache: dict[tuple[str, str], str | Exception] = {}

        def read(name: str, key: str) -> str:
            if (name, key) not in cache:
                try:
                    cache[(name, key)] = self.read_secret(name, key)
                except Exception as exc:
                    cache[(name, key)] = exc
            value = cache[(name, key)]
            if isinstance(value, Exception):
                raise value
            return value

        return read

    def _request_for(self, invocation: Invocation, read: Callable[[str, str], str]) -> HttpRequest | RawOutcome:
        try:
            return build_request(invocation.template, read)
        except RequestError as exc:
            return RawOutcome(exit_code=None, error=True, message=str(exc), transient=False)
        except Exception as exc:  # the Secret could not be read (cluster unreachable, forbidden)
            message = f"reading a header's secret failed: {type(exc).__name__}: {exc}"
            return RawOutcome(exit_code=None, error=True, message=message, transient=False)

    # -- one node -------------------------------------------------------------------------------
    def run_invocation(self, invocation: Invocation, context: Any, timeout: float | None) -> RawOutcome:
        request = self._request_for(invocation, self._secret_reader())
        if isinstance(request, RawOutcome):
            return request

        async def go() -> RawOutcome:
            async with HttpClient(1) as client:
                return await client.send(request, timeout)

        outcome = run_coroutine(go)
        log.info("%s %s: %s", request.method, request.url, outcome.message or "succeeded")
        return outcome

    # -- a fan-out's items ---------------------------------------------------------------------
    def run_invocations(
        self, invocations: list[Invocation], context: Any, concurrency: int, timeout: float | None
    ) -> list[NodeRecord]:
        settings = self.retry_settings()
        read = self._secret_reader()
        requests = [self._request_for(invocation, read) for invocation in invocations]
        log.info("%d requests, at most %d at a time", len(invocations), concurrency)

        async def go() -> list[NodeRecord]:
            gate = asyncio.Semaphore(max(1, concurrency))
            async with HttpClient(concurrency) as client:
                return list(
                    await asyncio.gather(
                        *(
                            self._item(client, gate, invocation, request, context, settings)
                            for invocation, request in zip(invocations, requests)
                        )
                    )
                )

        return run_coroutine(go)

    async def _item(
        self,
        client: HttpClient,
        gate: asyncio.Semaphore,
        invocation: Invocation,
        request: HttpRequest | RawOutcome,
        context: Any,
        settings: RetrySettings | None,
    ) -> NodeRecord:
        """One item with its retries: each attempt takes a slot of the pool, backoff waits do not."""
        first = time.monotonic()
        retries = 0
        while True:
            async with gate:
                record = await self._attempt_async(client, invocation, request, context)
            retry = self.next_retry(record, invocation, settings, retries, first)
            if retry is None:
                return record
            delay, reason = retry
            log.info("%s: %s (%s)", invocation.display_name, reason, record.message)
            await asyncio.sleep(delay)
            retries += 1
            invocation.retries = retries

    async def _attempt_async(
        self, client: HttpClient, invocation: Invocation, request: HttpRequest | RawOutcome, context: Any
    ) -> NodeRecord:
        timeout, message = self.timeout_for(invocation, context)
        if timeout is not None and timeout <= 0:
            return self.deadline_record(invocation, message)
        started = now_iso()
        if isinstance(request, RawOutcome):
            raw = RawOutcome(exit_code=None, error=True, message=request.message, transient=False)
        else:
            try:
                raw = await client.send(request, timeout)
            except Exception as exc:  # a bug, not the server: the item is an Error, the others go on
                log.exception("%s: the request failed to run", invocation.display_name)
                raw = RawOutcome(exit_code=None, error=True, message=f"{type(exc).__name__}: {exc}")
        raw.finished_at = now_iso()
        return self.attempt_record(invocation, raw, started, message)


class ArgoKubernetesHttpOperator(ArgoHttpOperator):
    """``http`` templates in the kubernetes backend: secret headers come from the cluster's Secrets."""

    def read_secret(self, name: str, key: str) -> str:
        return kubernetes_secret(name, key, namespace=self.plan.namespace)
