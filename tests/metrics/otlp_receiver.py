"""A small OTLP/HTTP metrics receiver on 127.0.0.1: what a collector does with what it receives.

It decodes ``ExportMetricsServiceRequest`` protobufs (opentelemetry-proto) and keeps, per metric
name and label set, the value a collector's Prometheus exporter would show: delta sums and
histograms are added up, cumulative ones and gauges replace the previous value. Every gauge point
is kept too (``history``), to see realtime gauges move.
"""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Series = tuple[str, tuple[tuple[str, str], ...]]


@dataclass
class Received:
    url: str = ""
    values: dict[Series, float] = field(default_factory=dict)
    histograms: dict[Series, dict[str, Any]] = field(default_factory=dict)
    history: dict[Series, list[float]] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)
    scopes: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def value(self, name: str, **labels: str) -> float | None:
        with self.lock:
            return self.values.get((name, tuple(sorted(labels.items()))))

    def series(self, name: str) -> dict[tuple[tuple[str, str], ...], float]:
        with self.lock:
            return {labels: v for (n, labels), v in self.values.items() if n == name}


def _labels(attributes: Any) -> tuple[tuple[str, str], ...]:
    out = []
    for kv in attributes:
        value = kv.value
        which = value.WhichOneof("value")
        out.append((kv.key, str(getattr(value, which)) if which else ""))
    return tuple(sorted(out))


def _number(point: Any) -> float:
    return float(point.as_double if point.WhichOneof("value") == "as_double" else point.as_int)


def _ingest(state: Received, body: bytes) -> None:
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
    from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality

    request = ExportMetricsServiceRequest()
    request.ParseFromString(body)
    delta = AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA
    with state.lock:
        for resource in request.resource_metrics:
            for scope in resource.scope_metrics:
                state.scopes.add(scope.scope.name)
                for metric in scope.metrics:
                    kind = metric.WhichOneof("data")
                    state.kinds[metric.name] = kind
                    if kind == "sum":
                        for point in metric.sum.data_points:
                            key = (metric.name, _labels(point.attributes))
                            value = _number(point)
                            if metric.sum.aggregation_temporality == delta:
                                value += state.values.get(key, 0.0)
                            state.values[key] = value
                    elif kind == "gauge":
                        for point in metric.gauge.data_points:
                            key = (metric.name, _labels(point.attributes))
                            state.values[key] = _number(point)
                            state.history.setdefault(key, []).append(_number(point))
                    elif kind == "histogram":
                        for point in metric.histogram.data_points:
                            key = (metric.name, _labels(point.attributes))
                            found = state.histograms.setdefault(
                                key, {"count": 0, "sum": 0.0, "bounds": list(point.explicit_bounds), "buckets": []}
                            )
                            if metric.histogram.aggregation_temporality != delta:
                                found.update(count=0, sum=0.0, buckets=[])
                            found["count"] += point.count
                            found["sum"] += point.sum
                            counts = list(point.bucket_counts)
                            old = found["buckets"] or [0] * len(counts)
                            found["buckets"] = [a + b for a, b in zip(old, counts)]
                            state.values[key] = float(found["count"])


@contextmanager
def otlp_receiver() -> Iterator[Received]:
    state = Received()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            if self.path.rstrip("/") == "/v1/metrics":
                _ingest(state, body)
                code = 200
            else:
                code = 404  # traces and logs are not collected here
            self.send_response(code)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
