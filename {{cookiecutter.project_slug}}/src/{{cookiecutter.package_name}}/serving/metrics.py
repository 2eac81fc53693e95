"""Prometheus metrics of the model server (names shared with the monitoring rules/dashboards).

Every model series carries `model_version`. Each app gets its own registry, so tests can
build several apps in one process. Probe and scrape traffic (/health, /ready, /ping,
/metrics, the OpenAPI pages) is counted apart in `model_probe_requests_total`, so
`model_requests_total` is client traffic only (ModelNoTraffic can fire, probes do not
dilute the error ratio or the latency percentiles). Online accuracy is two counters,
`model_feedback_total` and `model_feedback_correct_total`, that sum across replicas; the
recording rules compute the ratio. The prediction log's own counters are read from it at
scrape time (`PredictionLogCollector`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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

LATENCY_BUCKETS = (
    0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
)  # fmt: skip
CONFIDENCE_BUCKETS = (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 0.99, 1.0)


class ServingMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        r = self.registry
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
        self.feedback = Counter(
            "model_feedback", "Labels received on /feedback.", ["model_version"], registry=r
        )
        self.feedback_correct = Counter(
            "model_feedback_correct",
            "Labels on /feedback that matched the logged prediction (accuracy numerator).",
            ["model_version"],
            registry=r,
        )
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
        self._drift_mtime = 0.0
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}

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
