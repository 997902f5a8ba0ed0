"""HTTP and Artifactory artifacts: ``http: {url, headers, auth}`` downloaded as a stream or
uploaded with ``PUT``; ``artifactory: {url, usernameSecret, passwordSecret}`` the same with
basic auth.

As Argo allows: plain ``headers`` (``name``/``value``), and ``auth`` with ``basicAuth``
(``usernameSecret``/``passwordSecret``), ``oauth2`` (client credentials: ``clientIDSecret``,
``clientSecretSecret``, ``tokenURLSecret``, ``scopes``, ``endpointParams``) or
``clientCert`` (``clientCertSecret``/``clientKeySecret``). Secrets are read through the
backend's secret reader, never logged. A 404 is "not found" (fine for ``optional``).
Standard library only.
"""

from __future__ import annotations

import base64
import json
import os
import ssl
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import IO, Any

from airflow_argo_provider.artifacts.archive import ArchiveError, place
from airflow_argo_provider.artifacts.model import ArtifactNotFound, StoreError

SecretReader = Callable[[str, str], str]
TIMEOUT = 60


def _secret(ref: Any, secret: SecretReader, what: str) -> str:
    if not isinstance(ref, dict) or not ref.get("name") or not ref.get("key"):
        raise StoreError(f"http artifact: {what} must name a secret and its key")
    try:
        return secret(str(ref["name"]), str(ref["key"]))
    except Exception as exc:
        raise StoreError(f"http artifact {what}: {exc}") from None


def _token(oauth: dict[str, Any], secret: SecretReader, context: ssl.SSLContext | None) -> str:
    token_url = _secret(oauth.get("tokenURLSecret"), secret, "auth.oauth2.tokenURLSecret")
    form = {
        "grant_type": "client_credentials",
        "client_id": _secret(oauth.get("clientIDSecret"), secret, "auth.oauth2.clientIDSecret"),
        "client_secret": _secret(oauth.get("clientSecretSecret"), secret, "auth.oauth2.clientSecretSecret"),
    }
    if oauth.get("scopes"):
        form["scope"] = " ".join(str(s) for s in oauth["scopes"])
    for param in oauth.get("endpointParams") or []:
        form[str(param.get("key"))] = str(param.get("value", ""))
    request = urllib.request.Request(
        token_url, data=urllib.parse.urlencode(form).encode(), headers={"Accept": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT, context=context) as response:
            data = json.loads(response.read(1024 * 1024))
    except (urllib.error.URLError, ValueError, OSError) as exc:
        raise StoreError(f"http artifact: the OAuth2 token request failed: {exc}") from None
    token = data.get("access_token") if isinstance(data, dict) else None
    if not token:
        raise StoreError("http artifact: the OAuth2 token response has no access_token")
    return str(token)


@contextmanager
def _client_context(auth: dict[str, Any], secret: SecretReader) -> Iterator[ssl.SSLContext | None]:
    cert = auth.get("clientCert")
    if not isinstance(cert, dict):
        yield None
        return
    context = ssl.create_default_context()
    with tempfile.TemporaryDirectory(prefix="argo-http-cert-") as folder:
        cert_file = os.path.join(folder, "cert.pem")
        key_file = os.path.join(folder, "key.pem")
        Path(cert_file).write_text(_secret(cert.get("clientCertSecret"), secret, "auth.clientCert.clientCertSecret"))
        Path(key_file).write_text(_secret(cert.get("clientKeySecret"), secret, "auth.clientCert.clientKeySecret"))
        os.chmod(key_file, 0o600)
        context.load_cert_chain(cert_file, key_file)
        yield context


def artifactory_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """An ``artifactory`` location as an ``http`` one: its URL with basic auth from its secrets."""
    basic = {k: spec[k] for k in ("usernameSecret", "passwordSecret") if spec.get(k) is not None}
    return {"url": spec.get("url"), "auth": {"basicAuth": basic} if basic else {}}


def _check_url(url: str, what: str) -> None:
    if not url.startswith(("http://", "https://")):
        raise StoreError(f"{what} artifact: url must start with http:// or https://, not {url[:80]!r}")


def _headers(spec: dict[str, Any], secret: SecretReader, context: ssl.SSLContext | None) -> dict[str, str]:
    headers = {str(h.get("name")): str(h.get("value", "")) for h in spec.get("headers") or [] if h.get("name")}
    auth = spec.get("auth") or {}
    basic = auth.get("basicAuth")
    if isinstance(basic, dict):
        user = _secret(basic.get("usernameSecret"), secret, "auth.basicAuth.usernameSecret")
        password = _secret(basic.get("passwordSecret"), secret, "auth.basicAuth.passwordSecret")
        headers["Authorization"] = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    oauth = auth.get("oauth2")
    if isinstance(oauth, dict):
        headers["Authorization"] = "Bearer " + _token(oauth, secret, context)
    return headers


def download(spec: dict[str, Any], dest: Path, archive: str | None, secret: SecretReader) -> None:
    """Stream ``spec['url']`` to ``dest`` (unpacked per ``archive``)."""
    url = str(spec.get("url") or "")
    _check_url(url, "http")
    with _client_context(spec.get("auth") or {}, secret) as context:
        request = urllib.request.Request(url, headers=_headers(spec, secret, context))
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT, context=context) as response:
                place(response, dest, archive)
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                raise ArtifactNotFound(f"{url}: 404 Not Found") from None
            raise StoreError(f"failed to download {url}: HTTP {exc.code} {exc.reason}") from None
        except ArchiveError as exc:
            raise StoreError(f"{url}: {exc}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise StoreError(f"failed to download {url}: {reason}") from None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a PUT's redirect is followed by :func:`upload` with a fresh body


Opener = Callable[[], AbstractContextManager[tuple[IO[bytes], int | None, Callable[[], None] | None]]]


def upload(spec: dict[str, Any], opener: Opener, secret: SecretReader) -> None:
    """PUT the body ``opener`` yields to ``spec['url']`` (Argo's HTTP and Artifactory save).

    ``opener`` gives (stream, length or None, check); the body is streamed (chunked when its
    length is unknown) and ``check`` runs before the response is accepted. A 307/308 redirect
    (webHDFS) is followed with a fresh body, at most three times.
    """
    url = str(spec.get("url") or "")
    _check_url(url, "http")
    with _client_context(spec.get("auth") or {}, secret) as context:
        headers = _headers(spec, secret, context)
        handlers: list[Any] = [_NoRedirect()]
        if context is not None:
            handlers.append(urllib.request.HTTPSHandler(context=context))
        send = urllib.request.build_opener(*handlers)
        target = url
        for _ in range(4):
            with opener() as (body, length, check):
                request_headers = dict(headers)
                if length is not None:
                    request_headers["Content-Length"] = str(length)
                request = urllib.request.Request(target, data=body, headers=request_headers, method="PUT")
                try:
                    with send.open(request, timeout=TIMEOUT) as response:
                        response.read(1024 * 1024)
                        if check is not None:
                            check()
                        return
                except urllib.error.HTTPError as exc:
                    location = exc.headers.get("Location") if exc.code in (307, 308) else None
                    if location:
                        target = urllib.parse.urljoin(target, location)
                        continue
                    raise StoreError(f"failed to upload to {url}: HTTP {exc.code} {exc.reason}") from None
                except (ArchiveError, StoreError):
                    raise
                except (urllib.error.URLError, OSError) as exc:
                    reason = getattr(exc, "reason", exc)
                    raise StoreError(f"failed to upload to {url}: {reason}") from None
        raise StoreError(f"failed to upload to {url}: too many redirects")
