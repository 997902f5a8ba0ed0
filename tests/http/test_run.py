"""HTTP steps run through real Airflow (``dag.test()``) against a real server on 127.0.0.1."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

import pytest

from airflow_argo_provider.operators.http import ArgoHttpOperator
from tests.conftest import nodes_by_name
from tests.http_server import TestServer, free_port, post


def manifest(server: TestServer, text: str) -> str:
    return text.replace("SERVER", server.url)


def children(result: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [n for n in result["nodes"] if n["displayName"].startswith(name + "(")]


def xcom_text() -> str:
    """Every XCom value of this test process's Airflow database, as one string."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        return "\n".join(json.dumps(value) for value in session.scalars(select(XComModel.value)))


CONDITIONS = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: conditions-}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - name: condition-true
        template: posts
        arguments: {parameters: [{name: url, value: SERVER/posts/7}]}
      - name: condition-false-on-200
        template: posts
        continueOn: {failed: true}
        arguments: {parameters: [{name: url, value: SERVER/status/200}]}
      - name: no-condition-201
        template: plain
        arguments: {parameters: [{name: url, value: SERVER/status/201}]}
      - name: no-condition-404
        template: plain
        continueOn: {failed: true}
        arguments: {parameters: [{name: url, value: SERVER/status/404}]}
      - name: headers
        template: headers
      - name: request-fields
        template: request-fields
      - name: bad-condition
        template: bad-condition
        continueOn: {failed: true}
  - name: posts
    retryStrategy: {limit: 2, retryPolicy: OnTransientError, backoff: {duration: "0.1s"}}
    inputs: {parameters: [{name: url}]}
    http:
      url: "{{inputs.parameters.url}}"
      successCondition: 'response.statusCode == 200 && response.body contains "userId" && response.body contains "id"'
  - name: plain
    retryStrategy: {limit: 2, retryPolicy: OnTransientError, backoff: {duration: "0.1s"}}
    inputs: {parameters: [{name: url}]}
    http: {url: "{{inputs.parameters.url}}"}
  - name: headers
    http:
      url: SERVER/headers
      successCondition: >-
        response.headers["X-Multi"] == ["a", "b"] && response.headers["Content-Type"][0] == "application/json"
        && response.headers["Content-Length"] == ["2"]
  - name: request-fields
    http:
      url: SERVER/collect
      method: PUT
      body: '{"hello": "world"}'
      headers: [{name: x-test, value: "yes"}]
      successCondition: >-
        request.method == "PUT" && request.url == "SERVER/collect" && request.body == '{"hello": "world"}'
        && request.headers["x-test"] == ["yes"] && response.body == "ok"
  - name: bad-condition
    http:
      url: SERVER/collect
      successCondition: 'response.statusCode + "x"'
"""


def test_success_conditions(run_workflow, server: TestServer) -> None:
    result = run_workflow(manifest(server, CONDITIONS))
    nodes = nodes_by_name(result)
    assert result["phase"] == "Succeeded", result["message"]
    assert nodes["condition-true"]["phase"] == "Succeeded"
    assert json.loads(nodes["condition-true"]["outputs"]["result"]) == post(7)
    assert nodes["condition-true"]["type"] == "HTTP"

    false = nodes["condition-false-on-200"]
    assert false["phase"] == "Failed"
    assert false["message"].startswith("successCondition 'response.statusCode == 200 && response.body contains")
    assert "evaluated false; response 200 OK; body: 'status 200'" in false["message"]
    assert false["retries"] == 0  # a false condition on a 2xx is not transient
    assert len(server.seen("/status/200")) == 1
    assert false["outputs"]["result"] == "status 200"

    assert nodes["no-condition-201"]["phase"] == "Succeeded"
    assert nodes["no-condition-201"]["outputs"]["result"] == "status 201"
    not_found = nodes["no-condition-404"]
    assert not_found["phase"] == "Failed"
    assert not_found["message"] == "received non-2xx response code: 404 Not Found; body: 'status 404'"
    assert not_found["retries"] == 0 and len(server.seen("/status/404")) == 1

    assert nodes["headers"]["phase"] == "Succeeded", nodes["headers"]["message"]
    assert nodes["request-fields"]["phase"] == "Succeeded", nodes["request-fields"]["message"]
    put = [r for r in server.seen("/collect") if r.method == "PUT"]
    assert put and put[0].body == b'{"hello": "world"}' and put[0].headers["x-test"] == "yes"

    bad = nodes["bad-condition"]
    assert bad["phase"] == "Failed"
    assert "could not be evaluated" in bad["message"]


TRANSIENT = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: transient-}
spec:
  entrypoint: main
  templates:
  - name: main
    dag:
      tasks:
      - name: flaky
        template: call
        withItems: ["408", "429", "500", "502", "503", "504", drop, slow]
        arguments: {parameters: [{name: url, value: "SERVER/flaky/{{item}}?fail=2&kind={{item}}&delay=2.5"}]}
      - name: refused
        template: call
        continueOn: {failed: true}
        withItems: [a, b]
        arguments: {parameters: [{name: url, value: "http://127.0.0.1:REFUSED/{{item}}"}]}
  - name: call
    retryStrategy: {limit: 3, retryPolicy: OnTransientError, backoff: {duration: "0.2s", factor: 2}}
    inputs: {parameters: [{name: url}]}
    http:
      url: "{{inputs.parameters.url}}"
      timeoutSeconds: 1
      successCondition: 'response.statusCode == 200 && response.body contains "userId"'
"""


def test_every_transient_class_is_retried(run_workflow, server: TestServer) -> None:
    refused = free_port()
    result = run_workflow(manifest(server, TRANSIENT).replace("REFUSED", str(refused)))
    nodes = nodes_by_name(result)
    assert result["phase"] == "Succeeded", result["message"]
    flaky = children(result, "flaky")
    assert [n["displayName"] for n in flaky] == [
        "flaky(0:408)",
        "flaky(1:429)",
        "flaky(2:500)",
        "flaky(3:502)",
        "flaky(4:503)",
        "flaky(5:504)",
        "flaky(6:drop)",
        "flaky(7:slow)",
    ]
    for node in flaky:
        kind = node["displayName"].split(":")[1].rstrip(")")
        assert node["phase"] == "Succeeded", node
        # Two failed requests, then success: the third request answers.
        assert len(server.seen(f"/flaky/{kind}?")) == 3, kind
        assert json.loads(node["outputs"]["result"])["id"] == 3
        if kind == "drop":
            # aiohttp resends an idempotent request once on a dropped connection by itself,
            # so the two drops cost one attempt or two.
            assert node["retries"] in (1, 2)
        else:
            assert node["retries"] == 2, kind
    # Connection refused: transient, so retried until the limit.
    for node in children(result, "refused"):
        assert node["phase"] == "Failed"
        assert node["retries"] == 3
        assert "connection failed" in node["message"] and str(refused) in node["message"]
    assert nodes["refused"]["phase"] == "Failed"


NOT_TRANSIENT = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: permanent-}
spec:
  entrypoint: main
  templates:
  - name: main
    dag:
      tasks:
      - name: fetch
        template: call
        continueOn: {failed: true}
        withItems: [status/404, status/401, status/400, status/200, status/418, nowhere]
        arguments: {parameters: [{name: url, value: "SERVER/{{item}}"}]}
  - name: call
    retryStrategy: {limit: 3, retryPolicy: OnTransientError, backoff: {duration: "0.1s"}}
    inputs: {parameters: [{name: url}]}
    http:
      url: "{{inputs.parameters.url}}"
      successCondition: 'response.statusCode == 200 && response.body contains "userId"'
"""


def test_non_transient_failures_are_not_retried(run_workflow, server: TestServer) -> None:
    result = run_workflow(manifest(server, NOT_TRANSIENT))
    fetched = children(result, "fetch")
    assert len(fetched) == 6
    for node in fetched:
        assert node["phase"] == "Failed", node
        assert node["retries"] == 0, node
        assert "evaluated false" in node["message"]
    for path in ("/status/404", "/status/401", "/status/400", "/status/200", "/status/418", "/nowhere"):
        assert len(server.seen(path)) == 1, path
    # continueOn failed: the fan-out failed, the workflow did not.
    assert nodes_by_name(result)["fetch"]["phase"] == "Failed"
    assert result["phase"] == "Succeeded"


BACKOFF = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: backoff-}
spec:
  entrypoint: main
  templates:
  - name: main
    dag:
      tasks:
      - name: batch
        template: call
        withItems: [a, b]
        arguments: {parameters: [{name: url, value: "SERVER/flaky/{{item}}?fail=3&kind=503"}]}
      - name: single
        template: call
        arguments: {parameters: [{name: url, value: "SERVER/flaky/single?fail=2&kind=503"}]}
  - name: call
    retryStrategy: {limit: 4, retryPolicy: OnTransientError, backoff: {duration: "0.3s", factor: 2, cap: "1s"}}
    inputs: {parameters: [{name: url}]}
    http: {url: "{{inputs.parameters.url}}"}
"""


def test_backoff_delays_are_kept(run_workflow, server: TestServer) -> None:
    result = run_workflow(manifest(server, BACKOFF))
    assert result["phase"] == "Succeeded", result["message"]
    for key in ("a", "b"):
        times = [r.at for r in server.seen(f"/flaky/{key}?")]
        assert len(times) == 4
        gaps = [b - a for a, b in zip(times, times[1:])]
        # duration * factor**(n-1), capped: 0.3 s, 0.6 s, then 1 s instead of 1.2 s.
        for gap, delay in zip(gaps, (0.3, 0.6, 1.0)):
            assert gap >= delay, (key, gaps)
        assert gaps[2] < 1.2 + 0.5, gaps  # the cap applied
    # A single node is retried by Airflow (ArgoRetryPolicy) with the same delays.
    times = [r.at for r in server.seen("/flaky/single?")]
    assert len(times) == 3
    assert times[1] - times[0] >= 0.3 and times[2] - times[1] >= 0.6
    assert nodes_by_name(result)["single"]["retries"] == 2


AGGREGATE = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: aggregate-}
spec:
  entrypoint: main
  parallelism: 5
  templates:
  - name: main
    dag:
      tasks:
      - name: fetch-all
        template: call
        continueOn: {failed: true}
        withSequence: {count: "40", start: "1"}
        arguments: {parameters: [{name: url, value: "SERVER/flaky/{{item}}?fail=FAIL&kind=KIND"}]}
      - name: save
        dependencies: [fetch-all]
        template: collect
        arguments: {parameters: [{name: results, value: "{{tasks.fetch-all.outputs.result}}"}]}
  - name: call
    retryStrategy: {limit: 2, retryPolicy: OnTransientError, backoff: {duration: "0.05s", factor: 2}}
    inputs: {parameters: [{name: url}]}
    http:
      url: "{{inputs.parameters.url}}"
      successCondition: 'response.statusCode == 200 && response.body contains "userId"'
  - name: collect
    inputs: {parameters: [{name: results}]}
    http: {url: SERVER/collect, method: POST, body: "{{inputs.parameters.results}}"}
"""


class MixedServer(TestServer):
    """``/flaky/ID``: by ID, a 503, a dropped connection, a permanent 404 or success."""

    async def respond(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Any:
        if not target.startswith("/flaky/"):
            return await super().respond(method, target, headers, body)
        ident = int(target.split("/")[2].split("?")[0])
        self._counts[str(ident)] += 1
        attempt = self._counts[str(ident)]
        if ident % 5 == 0:
            return 404, [], b"gone"
        if ident % 5 == 1 and attempt == 1:
            return 503, [], b"busy"
        if ident % 5 == 2 and attempt <= 2:
            return None
        if ident % 5 == 3 and attempt <= 3:
            return 500, [], b"always failing (3 tries)"
        return 200, [("Content-Type", "application/json")], json.dumps(post(ident)).encode()


@pytest.mark.parametrize("per_task", [1000, 7])
def test_aggregation_is_exact_under_failures(run_workflow, monkeypatch, per_task: int) -> None:
    """Every item once, in loop-index order; failed items left out; chunks make no difference."""
    monkeypatch.setattr(ArgoHttpOperator, "items_per_task", per_task)
    server = MixedServer().start()
    try:
        result = run_workflow(manifest(server, AGGREGATE).replace("FAIL", "0").replace("KIND", "503"))
        fetched = children(result, "fetch-all")
        assert [n["displayName"] for n in fetched] == [f"fetch-all({i}:{i + 1})" for i in range(40)]
        expected_ok = [i for i in range(1, 41) if i % 5 in (1, 2, 4)]
        for node, ident in zip(fetched, range(1, 41)):
            if ident in expected_ok:
                assert node["phase"] == "Succeeded", node
            else:  # 404 (not transient) or three 500s with two retries
                assert node["phase"] == "Failed", node
                assert node["retries"] == (0 if ident % 5 == 0 else 2)
        collected = server.seen("/collect")
        assert len(collected) == 1
        results = json.loads(collected[0].body)
        assert [r["id"] for r in results] == expected_ok
        assert results == [post(i) for i in expected_ok]
        assert result["phase"] == "Succeeded"
        # Items never exceeded the workflow's parallelism.
        assert server.max_in_flight <= 5
    finally:
        server.stop()


PARALLELISM = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: parallelism-}
spec:
  entrypoint: main
  templates:
  - name: main
    parallelism: 3
    steps:
    - - name: limited
        template: slow
        withSequence: {count: "12"}
  - name: slow
    http: {url: "SERVER/slow?delay=0.3"}
"""


def test_concurrency_is_bounded_by_parallelism(run_workflow, server: TestServer, tmp_path) -> None:
    result = run_workflow(manifest(server, PARALLELISM))
    assert result["phase"] == "Succeeded", result["message"]
    assert len(server.seen("/slow")) == 12
    assert server.max_in_flight == 3
    server.max_in_flight = 0
    unbounded = tmp_path / "unbounded.yaml"
    unbounded.write_text(
        manifest(server, PARALLELISM.replace("    parallelism: 3\n", "").replace("parallelism-", "unbounded-"))
    )
    result = run_workflow(unbounded)
    assert result["phase"] == "Succeeded"
    assert server.max_in_flight > 3  # unbounded: all twelve at once


SECRETS = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: secrets-, namespace: argo}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - name: fan
        template: call
        withItems: [a, b, c]
      - name: single
        template: call
      - name: wrong
        template: wrong-key
        continueOn: {failed: true}
      - name: missing
        template: missing
        continueOn: {error: true}
  - name: call
    http:
      url: SERVER/secret
      headers:
      - name: X-Api-Key
        valueFrom: {secretKeyRef: {name: apicreds, key: apiKey}}
      successCondition: 'response.statusCode == 200 && len(request.headers) == 0'
  - name: wrong-key
    http:
      url: SERVER/secret
      headers:
      - name: X-Api-Key
        valueFrom: {secretKeyRef: {name: apicreds, key: other}}
  - name: missing
    http:
      url: SERVER/secret
      headers:
      - name: X-Api-Key
        valueFrom: {secretKeyRef: {name: apicreds, key: absent}}
"""


def test_secret_headers_reach_the_server_and_nothing_else(
    run_workflow, server: TestServer, monkeypatch, caplog, capfd
) -> None:
    server.secret = f"secret-{uuid.uuid4().hex}"
    monkeypatch.setenv("AIRFLOW_VAR_APICREDS", json.dumps({"apiKey": server.secret, "other": "not-the-key-1234"}))
    caplog.set_level(logging.INFO)
    result = run_workflow(manifest(server, SECRETS))
    nodes = nodes_by_name(result)
    for name in ("fan(0:a)", "fan(1:b)", "fan(2:c)", "single"):
        assert nodes[name]["phase"] == "Succeeded", nodes[name]
    assert nodes["wrong"]["phase"] == "Failed"
    assert nodes["wrong"]["message"].startswith("received non-2xx response code: 401")
    assert nodes["missing"]["phase"] == "Error"
    assert "secret 'apicreds' has no key 'absent'" in nodes["missing"]["message"]
    assert [r.headers.get("x-api-key") for r in server.seen("/secret")].count(server.secret) == 4
    # The log of the run was captured (the fan-out's per-item lines are in it) ...
    logs = caplog.text + "\n".join(capfd.readouterr())
    assert "fan(1:b) Succeeded" in logs
    # ... and neither it, the report, nor any XCom holds the secret.
    assert server.secret not in logs
    assert server.secret not in json.dumps(result)
    assert server.secret not in xcom_text()
    assert "not-the-key-1234" not in xcom_text()


CLUSTER_SECRETS = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: cluster-secrets-, namespace: argo}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - name: fan
        template: call
        withItems: [a, b, c]
      - name: single
        template: call
      - name: forbidden
        template: forbidden
        continueOn: {error: true}
  - name: call
    http:
      url: SERVER/secret
      headers:
      - name: X-Api-Key
        valueFrom: {secretKeyRef: {name: apicreds, key: apiKey}}
  - name: forbidden
    http:
      url: SERVER/secret
      headers:
      - name: X-Api-Key
        valueFrom: {secretKeyRef: {name: not-for-us, key: apiKey}}
"""


def test_secret_headers_from_the_cluster_in_the_kubernetes_backend(
    run_workflow, server: TestServer, monkeypatch
) -> None:
    """The kubernetes backend reads the Secret through the cncf.kubernetes hook (the API client is faked)."""
    import base64

    from airflow.providers.cncf.kubernetes.hooks.kubernetes import KubernetesHook
    from kubernetes.client import V1ObjectMeta, V1Secret
    from kubernetes.client.exceptions import ApiException

    server.secret = f"cluster-{uuid.uuid4().hex}"
    reads: list[tuple[str, str]] = []

    class CoreV1:
        def read_namespaced_secret(self, name: str, namespace: str) -> V1Secret:
            reads.append((name, namespace))
            if name == "not-for-us":
                raise ApiException(status=403, reason="Forbidden")
            data = {"apiKey": base64.b64encode(server.secret.encode()).decode()}
            return V1Secret(metadata=V1ObjectMeta(name=name, namespace=namespace), data=data)

    monkeypatch.setattr(KubernetesHook, "core_v1_client", property(lambda self: CoreV1()))
    result = run_workflow(manifest(server, CLUSTER_SECRETS), backend="kubernetes")
    assert result["phase"] == "Succeeded", result["message"]
    assert [r.headers.get("x-api-key") for r in server.seen("/secret")].count(server.secret) == 4
    assert len(server.seen("/secret")) == 4  # no request without its secret
    assert set(reads) == {("apicreds", "argo"), ("not-for-us", "argo")}
    forbidden = nodes_by_name(result)["forbidden"]
    assert forbidden["phase"] == "Error"
    assert forbidden["message"].startswith("reading a header's secret failed: ApiException: (403)")
    assert server.secret not in xcom_text()


CONNECTION = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: connection-}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - name: with-connection
        template: call
      - name: unknown-connection
        template: unknown
        continueOn: {error: true}
  - name: call
    metadata:
      annotations: {airflow-argo-provider/http-conn-id: test_api}
    http:
      url: /secret
  - name: unknown
    metadata:
      annotations: {airflow-argo-provider/http-conn-id: no_such_connection}
    http:
      url: /secret
"""


def test_airflow_http_connection_gives_base_url_auth_and_headers(run_workflow, server: TestServer, monkeypatch) -> None:
    server.secret = f"conn-{uuid.uuid4().hex}"
    conn = {
        "conn_type": "http",
        "host": "127.0.0.1",
        "port": server.port,
        "schema": "http",
        "login": "user",
        "password": "pa55-word-xyz",
        "extra": {"X-Api-Key": server.secret},
    }
    monkeypatch.setenv("AIRFLOW_CONN_TEST_API", json.dumps(conn))
    result = run_workflow(CONNECTION)
    assert result["phase"] == "Succeeded", result["message"]
    unknown = nodes_by_name(result)["unknown-connection"]
    assert unknown["phase"] == "Error"
    assert unknown["message"].startswith("HTTP connection 'no_such_connection': ")
    seen = server.seen("/secret")
    assert len(seen) == 1
    assert seen[0].headers["x-api-key"] == server.secret
    assert seen[0].headers["authorization"] == "Basic " + __import__("base64").b64encode(b"user:pa55-word-xyz").decode()
    assert server.secret not in xcom_text() and "pa55-word-xyz" not in xcom_text()


TLS = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: tls-}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - name: insecure
        template: insecure
      - name: verified
        template: verified
        continueOn: {failed: true}
  - name: insecure
    retryStrategy: {limit: 2, retryPolicy: OnTransientError}
    http: {url: "TLS/posts/1", insecureSkipVerify: true}
  - name: verified
    retryStrategy: {limit: 2, retryPolicy: OnTransientError}
    http: {url: "TLS/posts/1"}
"""


def _self_signed(tmp_path: Any) -> Any:
    import datetime
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    return context


def test_insecure_skip_verify(run_workflow, tmp_path) -> None:
    server = TestServer(ssl_context=_self_signed(tmp_path)).start()
    try:
        result = run_workflow(TLS.replace("TLS", f"https://127.0.0.1:{server.port}"))
    finally:
        server.stop()
    nodes = nodes_by_name(result)
    assert nodes["insecure"]["phase"] == "Succeeded", nodes["insecure"]["message"]
    assert json.loads(nodes["insecure"]["outputs"]["result"]) == post(1)
    assert nodes["verified"]["phase"] == "Failed"
    assert "TLS error" in nodes["verified"]["message"] and "certificate" in nodes["verified"]["message"]
    assert nodes["verified"]["retries"] == 0  # a certificate problem does not go away by retrying
