"""Metric samples out through OpenTelemetry, configured the way Airflow's own metrics are.

On when Airflow's ``[metrics] otel_on`` is true. The collector is the one Airflow sends to: the
standard ``OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_ENDPOINT`` variables, else
``[metrics] otel_host``, ``otel_port`` and ``otel_ssl_active`` (OTLP over HTTP, ``/v1/metrics``);
the export interval is ``OTEL_METRIC_EXPORT_INTERVAL`` or ``[metrics] otel_interval_milliseconds``;
the service name ``OTEL_SERVICE_NAME`` or ``[metrics] otel_service``.

Each task process that emits has its own meter provider (meter ``argo-workflows``), so
counters and histograms use delta temporality: a collector adds up what every process sends
(an OpenTelemetry collector's Prometheus exporter does), where cumulative streams of
short-lived processes would overwrite each other. Gauges carry their last value; a realtime
gauge is observed at every export while its node runs. Names get ``[argo] metrics_prefix``
(default ``argo_workflows_``, the names Argo's Prometheus endpoint and dashboards use; ``none``
for the bare names Argo sends over OTLP).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from typing import Any

from airflow_argo_provider.metrics.spec import Sample
from airflow_argo_provider.settings import setting

log = logging.getLogger(__name__)
METER = "argo-workflows"
DEFAULT_PREFIX = "argo_workflows_"


def _conf(key: str) -> str | None:
    value = os.environ.get(f"AIRFLOW__METRICS__{key.upper()}")
    if value is not None:
        return value
    try:
        from airflow.configuration import conf

        return conf.get("metrics", key, fallback=None)
    except Exception:
        return None


def enabled() -> bool:
    """Airflow's ``[metrics] otel_on``."""
    return str(_conf("otel_on") or "").strip().lower() in ("true", "1", "yes", "on")


def prefix() -> str:
    """``[argo] metrics_prefix``; ``none`` (or an empty variable) for no prefix."""
    value = os.environ.get("AIRFLOW__ARGO__METRICS_PREFIX")
    if value is None:
        value = setting("metrics_prefix", DEFAULT_PREFIX) or ""
    return "" if value.strip().lower() in ("", "none") else value.strip()


def endpoint() -> str:
    explicit = os.environ.get("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT")
    if explicit:
        return explicit
    base = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    if base:
        return base.rstrip("/") + "/v1/metrics"
    scheme = "https" if str(_conf("otel_ssl_active") or "").lower() in ("true", "1") else "http"
    host = _conf("otel_host") or "localhost"
    port = _conf("otel_port") or "4318"
    return f"{scheme}://{host}:{port}/v1/metrics"


class Recorder:
    """A meter provider of this process, exporting to the configured collector."""

    def __init__(self, exporter: Any = None) -> None:
        from opentelemetry.sdk.metrics import (
            Counter,
            Histogram,
            MeterProvider,
            ObservableCounter,
            ObservableGauge,
            ObservableUpDownCounter,
            UpDownCounter,
        )
        from opentelemetry.sdk.metrics.export import AggregationTemporality, PeriodicExportingMetricReader
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource

        if exporter is None:
            from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

            delta = AggregationTemporality.DELTA
            cumulative = AggregationTemporality.CUMULATIVE
            exporter = OTLPMetricExporter(
                endpoint=endpoint(),
                preferred_temporality={
                    Counter: delta,
                    Histogram: delta,
                    UpDownCounter: delta,
                    ObservableCounter: delta,
                    ObservableUpDownCounter: delta,
                    ObservableGauge: cumulative,
                },
            )
        interval = os.environ.get("OTEL_METRIC_EXPORT_INTERVAL") or _conf("otel_interval_milliseconds") or "60000"
        self.reader = PeriodicExportingMetricReader(exporter, export_interval_millis=float(interval))
        service = os.environ.get("OTEL_SERVICE_NAME") or _conf("otel_service") or "airflow"
        self.provider = MeterProvider(
            resource=Resource.create({SERVICE_NAME: service}), metric_readers=[self.reader], shutdown_on_exit=False
        )
        self.meter = self.provider.get_meter(METER)
        self.prefix = prefix()
        self._instruments: dict[tuple[str, str], Any] = {}
        self._observed: dict[str, dict[tuple[tuple[str, str], ...], Callable[[], float]]] = {}
        self._lock = threading.Lock()

    def _instrument(self, sample: Sample) -> Any:
        name = self.prefix + sample.name
        kind = sample.kind
        if kind == "gauge" and sample.realtime:
            kind = "realtime"
        elif kind == "gauge" and sample.operation in ("Add", "Sub"):
            kind = "updown"
        key = (name, kind)
        with self._lock:
            found = self._instruments.get(key)
            if found is not None:
                return found
            if kind == "counter":
                found = self.meter.create_counter(name, unit="{item}", description=sample.help)
            elif kind == "histogram":
                found = self.meter.create_histogram(
                    name,
                    unit="{item}",
                    description=sample.help,
                    explicit_bucket_boundaries_advisory=list(sample.buckets),
                )
            elif kind == "updown":
                found = self.meter.create_up_down_counter(name, unit="{item}", description=sample.help)
            elif kind == "realtime":
                series = self._observed.setdefault(name, {})
                found = self.meter.create_observable_gauge(
                    name, callbacks=[self._observe(series)], unit="{item}", description=sample.help
                )
            else:
                found = self.meter.create_gauge(name, unit="{item}", description=sample.help)
            self._instruments[key] = found
            return found

    @staticmethod
    def _observe(series: dict[tuple[tuple[str, str], ...], Callable[[], float]]) -> Callable[[Any], Any]:
        from opentelemetry.metrics import Observation

        def callback(_options: Any) -> Any:
            return [Observation(value(), dict(labels)) for labels, value in list(series.items())]

        return callback

    def record(self, sample: Sample, realtime: Callable[[], float] | None = None) -> None:
        """Emit one sample (a realtime gauge: observe ``realtime`` until it is recorded again)."""
        instrument = self._instrument(sample)
        labels = dict(sample.labels)
        if sample.kind == "counter":
            if sample.value < 0:
                log.warning("metric %s: a counter cannot go down (value %s): not emitted", sample.name, sample.value)
                return
            instrument.add(sample.value, labels)
        elif sample.kind == "histogram":
            instrument.record(sample.value, labels)
        elif sample.realtime:
            series = self._observed[self.prefix + sample.name]
            value = sample.value
            series[tuple(sorted(labels.items()))] = realtime or (lambda: value)
        elif sample.operation in ("Add", "Sub"):
            instrument.add(sample.value if sample.operation == "Add" else -sample.value, labels)
        else:
            instrument.set(sample.value, labels)

    def flush(self) -> None:
        try:
            self.provider.force_flush(timeout_millis=10_000)
        except Exception as exc:  # the collector being away must never fail a step
            log.warning("could not send metrics: %s", exc)

    def shutdown(self) -> None:
        try:
            self.provider.shutdown(timeout_millis=10_000)
        except Exception as exc:
            log.warning("could not send metrics: %s", exc)


_RECORDER: list[Recorder] = []
_PID: list[int] = []


def recorder() -> Recorder | None:
    """This process's recorder (None when ``[metrics] otel_on`` is off)."""
    if not enabled():
        return None
    if _RECORDER and _PID and _PID[0] == os.getpid():
        return _RECORDER[0]
    _RECORDER.clear()
    _PID.clear()
    try:
        _RECORDER.append(Recorder())
    except Exception as exc:
        log.warning("metrics are not emitted: %s", exc)
        return None
    _PID.append(os.getpid())
    return _RECORDER[0]
