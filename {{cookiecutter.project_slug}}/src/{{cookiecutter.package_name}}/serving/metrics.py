"""Prometheus metrics of the model server (names shared with the monitoring rules/dashboards).

Every model series carries `model_version`. Each app gets its own registry, so tests can
build several apps in one process. Probe and scrape traffic (/health, /ready, /ping,
/metrics, the OpenAPI pages) is counted apart in `model_probe_requests_total`, so
`model_requests_total` is client traffic only (ModelNoTraffic can fire, probes do not
dilute the error ratio or the latency percentiles). Online metrics are counters that sum
across replicas, the recording rules compute the ratios: classification
`model_feedback_total` and `model_feedback_correct_total` (accuracy); regression
`model_feedback_total`, `model_feedback_absolute_error_total` and
`model_feedback_squared_error_total` (MAE, RMSE). Predictions: by class
(`model_predictions_total{predicted_class}`, `str(label)`) and the confidence histogram, or
for regression the `model_prediction_value` histogram whose buckets are the training
target's quantiles (the bundle's `target_quantiles`; a decade scale when it has none).
`model_offline_metric{metric}` is the bundle's test metrics, for alerts comparing online
with offline figures. The prediction log's own counters are read from it at
scrape time (`PredictionLogCollector`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from {{ cookiecutter.package_name }}.serving.model import LoadedModel

LATENCY_BUCKETS = (
    0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
)  # fmt: skip
# From 0.1: a multiclass model's top probability can be below 0.5.
CONFIDENCE_BUCKETS = (
    0.1, 0.2, 0.3, 0.4, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 0.99, 1.0,
)  # fmt: skip
# Regression values without recorded target quantiles: 0 and +-10^k, k = -2..6.
DEFAULT_VALUE_BUCKETS = tuple(
    sorted({0.0, *(sign * 10.0**k for k in range(-2, 7) for sign in (-1.0, 1.0))})
)


class ServingMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        r = self.registry
        self._traffic(r)
        self._feedback(r)
        self._health(r)
        self._value: Histogram | None = None
        self._drift_mtime = 0.0
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}

    def _traffic(self, r: CollectorRegistry) -> None:
        """Requests, latency and what the models answered."""
        self.requests = Counter(
            "model_requests",
            "HTTP requests by route and status.",
            ["route", "status", "model_version"],
            registry=r,
        )
        self.latency = Histogram(
            "model_request_latency_seconds",
            "Request latency in seconds (millisecond-scale buckets).",
            ["route", "model_version"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.confidence = Histogram(
            "model_prediction_confidence",
            "Probability of the predicted class.",
            ["model_version"],
            buckets=CONFIDENCE_BUCKETS,
            registry=r,
        )
        self.predictions = Counter(
            "model_predictions",
            "Predictions by predicted class.",
            ["model_version", "predicted_class"],
            registry=r,
        )
        self.routed = Counter(
            "model_routed_requests",
            "Requests routed to each model, by role and routing strategy.",
            ["model_version", "role", "strategy"],
            registry=r,
        )

    def _feedback(self, r: CollectorRegistry) -> None:
        """Labels on /feedback: accuracy and error numerators, offline metrics."""
        self.feedback = Counter(
            "model_feedback", "Labels received on /feedback.", ["model_version"], registry=r
        )
        self.feedback_correct = Counter(
            "model_feedback_correct",
            "Labels on /feedback that matched the logged prediction (accuracy numerator).",
            ["model_version"],
            registry=r,
        )
        self.feedback_absolute_error = Counter(
            "model_feedback_absolute_error",
            "Sum of |label - prediction| over regression labels on /feedback (MAE numerator).",
            ["model_version"],
            registry=r,
        )
        self.feedback_squared_error = Counter(
            "model_feedback_squared_error",
            "Sum of (label - prediction)^2 over regression labels on /feedback (for RMSE).",
            ["model_version"],
            registry=r,
        )
        self.offline_metric = Gauge(
            "model_offline_metric",
            "The model's test-set metrics recorded in its bundle.",
            ["model_version", "metric"],
            registry=r,
        )

    def _health(self, r: CollectorRegistry) -> None:
        """Probes, drift scores, the log queue and shadow drops."""
        self.probes = Counter(
            "model_probe_requests",
            "Probe and scrape requests (/health, /ready, /ping, /metrics, docs) by status.",
            ["route", "status"],
            registry=r,
        )
        self.up = Gauge(
            "model_up", "1 when the model is loaded and warm.", ["model_version"], registry=r
        )
        self.feature_drift = Gauge(
            "model_feature_drift_score",
            "Per-feature drift score from the latest drift report.",
            ["feature", "method"],
            registry=r,
        )
        self.prediction_drift = Gauge(
            "model_prediction_drift_score",
            "Prediction drift score from the latest drift report.",
            ["method"],
            registry=r,
        )
        self.log_queue_depth = Gauge(
            "model_prediction_log_queue_depth",
            "Prediction-log writes waiting for the background writer.",
            registry=r,
        )
        self.shadow_dropped = Counter(
            "model_shadow_dropped",
            "Shadow copies dropped because the shadow queue was full.",
            ["model_version"],
            registry=r,
        )

    def describe_models(self, models: Sequence[LoadedModel]) -> None:
        """At start-up: export the models' offline metrics, and for regression register the
        predicted-value histogram with the champion's target quantiles as buckets (one
        histogram has one set of buckets)."""
        for model in models:
            for metric, value in model.task.offline_metrics.items():
                self.offline_metric.labels(model.version, metric).set(value)
        regression = [model for model in models if not model.task.is_classification]
        if regression and self._value is None:
            self._value = self._value_histogram(regression[0].task.target_quantiles)

    def prediction_value(self) -> Histogram:
        if self._value is None:  # a regression model not described at start-up
            self._value = self._value_histogram(())
        return self._value

    def _value_histogram(self, quantiles: Sequence[float]) -> Histogram:
        return Histogram(
            "model_prediction_value",
            "Predicted regression values (buckets: the training target's quantiles).",
            ["model_version"],
            buckets=tuple(quantiles) or DEFAULT_VALUE_BUCKETS,
            registry=self.registry,
        )

    def child(self, metric: Any, *labels: str) -> Any:
        """`metric.labels(*labels)`, cached: the hot path skips prometheus_client's lock."""
        key = (id(metric), labels)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*labels)
        return found

    def record_feedback(self, model_version: str, correct: bool) -> None:
        self.child(self.feedback, model_version).inc()
        correct_count = self.child(self.feedback_correct, model_version)
        correct_count.inc(int(correct))  # 0 still creates the series: the ratio is defined

    def record_error(self, model_version: str, error: float) -> None:
        """A regression label: `error` = label - prediction."""
        self.child(self.feedback, model_version).inc()
        self.child(self.feedback_absolute_error, model_version).inc(abs(error))
        self.child(self.feedback_squared_error, model_version).inc(error * error)

    def watch_log(self, read: Callable[[], LogCounts | None]) -> None:
        """Export the prediction log's counters (read at each scrape)."""
        self.registry.register(PredictionLogCollector(read))

    def refresh_drift(self, path: Path) -> None:
        """Export the latest drift report's scores (re-read when the file changes).

        Reads the monitoring stage's `drift_report.json`:
        `{"features": {name: {method: score}}, "prediction": {method: score}, ...}`.
        """
        try:
            mtime = path.stat().st_mtime
        except OSError:
            return
        if mtime == self._drift_mtime:
            return
        self._drift_mtime = mtime
        try:
            report = json.loads(path.read_text(encoding="utf-8"))
            for feature, scores in (report.get("features") or {}).items():
                for method, score in scores.items():
                    self.feature_drift.labels(feature, method).set(float(score))
            for method, score in (report.get("prediction") or {}).items():
                self.prediction_drift.labels(method).set(float(score))
        except (ValueError, TypeError, AttributeError, OSError):
            return


@dataclass(frozen=True)
class LogCounts:
    stored: int
    not_stored: int
    commit_failures: int
    restarts: int
    healthy: bool


class PredictionLogCollector(Collector):
    """The prediction log's counters, exported as counters at scrape time."""

    def __init__(self, read: Callable[[], LogCounts | None]) -> None:
        self.read = read

    def collect(self) -> Iterator[Any]:
        counts = self.read()
        if counts is None:
            return
        for name, text, value in (
            ("model_prediction_log_rows_stored", "Prediction rows committed.", counts.stored),
            (
                "model_prediction_log_rows_not_stored",
                "Acknowledged prediction rows that could not be stored (refused or lost).",
                counts.not_stored,
            ),
            (
                "model_prediction_log_commit_failures",
                "Group commits that failed and were retried.",
                counts.commit_failures,
            ),
            ("model_prediction_log_writer_restarts", "Writer process restarts.", counts.restarts),
        ):
            yield CounterMetricFamily(name, text, value=value)
        yield GaugeMetricFamily(
            "model_prediction_log_healthy",
            "1 while the prediction log commits (0: /predict answers 503 and /ready fails).",
            value=int(counts.healthy),
        )
