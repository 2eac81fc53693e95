"""Prometheus, Alertmanager, Grafana and prometheus-operator configs stay consistent.

The promtool / amtool checks run when the tools are installed (Debian packages
`prometheus` and `prometheus-alertmanager`) and are skipped with the reason otherwise.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from {{ cookiecutter.package_name }}.errors import UserError
from {{ cookiecutter.package_name }}.monitoring.alerting import render_alertmanager_config
from {{ cookiecutter.package_name }}.settings import MonitoringSettings, RetrainSettings

ROOT = Path(__file__).resolve().parents[1]
MONITORING = ROOT / "monitoring"
RULES = MONITORING / "prometheus/rules/model_rules.yml"
RULE_TESTS = MONITORING / "prometheus/tests/model_rules_test.yml"
ALERTMANAGER = MONITORING / "alertmanager/alertmanager.yml"
DASHBOARD = MONITORING / "grafana/dashboards/model-overview.json"

ALERTS = {
    "ModelServerDown",
    "ModelServerMissing",
    "ModelHighErrorRate",
    "ModelHighLatencyP99",
    "ModelConfidenceDrop",
    "ModelPredictionDrift",
    "ModelFeatureDrift",
    "ModelOnlineAccuracyLow",
    "ModelOnlineMaeHigh",
    "ModelNoTraffic",
    "ModelPredictionLogFailing",
    "ModelPredictionsNotStored",
}
# The metrics the model server exports (serving/metrics.py): classification and regression
# series side by side (contract: a series a task does not export never alerts).
SERVER_METRICS = {
    "model_prediction_value_bucket",
    "model_prediction_value_sum",
    "model_prediction_value_count",
    "model_feedback_absolute_error_total",
    "model_feedback_squared_error_total",
    "model_offline_metric",
    "model_requests_total",
    "model_request_latency_seconds_bucket",
    "model_prediction_confidence_sum",
    "model_prediction_confidence_count",
    "model_predictions_total",
    "model_routed_requests_total",
    "model_feedback_total",
    "model_feedback_correct_total",
    "model_probe_requests_total",
    "model_prediction_log_rows_stored_total",
    "model_prediction_log_rows_not_stored_total",
    "model_prediction_log_healthy",
    "model_feature_drift_score",
    "model_prediction_drift_score",
    "up",
}


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def rules() -> list[dict[str, Any]]:
    return [rule for group in load(RULES)["groups"] for rule in group["rules"]]


def names_in(expr: str) -> set[str]:
    without_strings = re.sub(r'"[^"]*"', "", expr)
    without_labels = re.sub(r"\{[^}]*\}|\b(?:by|on|ignoring)\s*\([^)]*\)", "", without_strings)
    return {
        token
        for token in re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", without_labels)
        if token.startswith(("model", "up"))
    }


def test_prometheus_config_scrapes_every_15s_and_alerts_alertmanager() -> None:
    config = load(MONITORING / "prometheus/prometheus.yml")
    assert config["global"]["scrape_interval"] == "15s"
    assert config["rule_files"] == ["rules/model_rules.yml"]
    targets = config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert targets == ["alertmanager:9093"]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert jobs["model-server"]["metrics_path"] == "/metrics"


def test_every_alert_is_documented_and_tested_both_ways() -> None:
    alerts = {rule["alert"]: rule for rule in rules() if "alert" in rule}
    assert set(alerts) == ALERTS
    for name, rule in alerts.items():
        assert rule["labels"]["severity"] in {"warning", "critical"}, name
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], name
        text = rule["annotations"]["summary"] + rule["annotations"]["description"]
        assert "$labels." in text or "$value" in text, name
    cases = [case for test in load(RULE_TESTS)["tests"] for case in test.get("alert_rule_test", [])]
    for name in ALERTS:
        assert any(c["alertname"] == name and c["exp_alerts"] for c in cases), f"{name} never fires"
        assert any(c["alertname"] == name and not c["exp_alerts"] for c in cases), (
            f"{name} never quiet"
        )


def test_rules_and_dashboard_use_only_exported_or_recorded_metrics() -> None:
    recorded = {rule["record"] for rule in rules() if "record" in rule}
    known = SERVER_METRICS | recorded
    expressions = [rule["expr"] for rule in rules()]
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    expressions += [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    for expr in expressions:
        unknown = names_in(expr) - known
        assert not unknown, f"{expr}: unknown metrics {unknown}"
    titles = {panel["title"] for panel in dashboard["panels"]}
    for needed in ("Request rate", "Error rate (5xx)", "Latency percentiles", "Online accuracy",
                   "Feature drift (PSI)", "Mean prediction confidence",
                   "Traffic split by model version", "Online MAE and RMSE", "Predicted value",
                   "Offline test metrics"):  # fmt: skip
        assert needed in titles


def test_grafana_provisioning_points_at_the_dashboard_and_datasource() -> None:
    datasource = load(MONITORING / "grafana/provisioning/datasources/prometheus.yml")
    assert datasource["datasources"][0]["type"] == "prometheus"
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    # No hard-coded datasource uid: every panel and query uses the `datasource` variable,
    # and a `model_version` variable filters the model series.
    variables = {item["name"]: item for item in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert "label_values(model_requests_total, model_version)" in json.dumps(
        variables["model_version"]["query"]
    )
    targets = [target for panel in dashboard["panels"] for target in panel["targets"]]
    uids = {panel["datasource"]["uid"] for panel in dashboard["panels"]}
    assert uids | {target["datasource"]["uid"] for target in targets} == {"${datasource}"}
    for target in targets:
        if "model_version" in target["expr"] or "model_request" in target["expr"]:
            assert 'model_version=~"$model_version"' in target["expr"], target["expr"]
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    provider = load(MONITORING / "grafana/provisioning/dashboards/dashboards.yml")
    assert provider["providers"][0]["type"] == "file"


def test_drift_alert_threshold_matches_settings() -> None:
    exprs = {rule["alert"]: rule["expr"] for rule in rules() if "alert" in rule}
    threshold = MonitoringSettings().psi_threshold
    assert exprs["ModelFeatureDrift"].endswith(f"> {threshold}")
    assert exprs["ModelPredictionDrift"].endswith(f"> {threshold}")


def test_online_quality_is_recorded_for_every_task() -> None:
    recorded = {rule["record"] for rule in rules() if "record" in rule}
    assert {"model_version:model_online_accuracy:ratio_1h", "model_version:model_online_mae:1h",
            "model_version:model_online_rmse:1h"} <= recorded  # fmt: skip


def test_mae_alert_ratio_matches_settings() -> None:
    """The alert and `retrain-check` judge the online MAE against the same multiple."""
    exprs = {rule["alert"]: rule["expr"] for rule in rules() if "alert" in rule}
    ratio = RetrainSettings().max_online_mae_ratio
    offline = 'max by (model_version) (model_offline_metric{metric="mae"})'
    assert f"({ratio} * {offline})" in exprs["ModelOnlineMaeHigh"]


def test_prometheus_operator_rule_mirrors_the_rule_file() -> None:
    operator_rule = load(ROOT / "k8s/monitoring/prometheusrule.yaml")
    assert operator_rule["kind"] == "PrometheusRule"
    assert operator_rule["spec"] == load(RULES)
    monitor = load(ROOT / "k8s/monitoring/servicemonitor.yaml")
    assert monitor["spec"]["endpoints"][0]["interval"] == "15s"


def test_service_monitor_sets_the_job_the_rules_select() -> None:
    """prometheus-operator names the job after the Service unless relabelled: the rules'
    `job="model-server"` must be the job the ServiceMonitor's targets get."""
    jobs = set(re.findall(r'job="([^"]+)"', RULES.read_text(encoding="utf-8")))
    assert jobs == {"model-server"}
    monitor = load(ROOT / "k8s/monitoring/servicemonitor.yaml")
    for endpoint in monitor["spec"]["endpoints"]:
        relabel = [item for item in endpoint["relabelings"] if item["targetLabel"] == "job"]
        assert relabel == [
            {"action": "replace", "targetLabel": "job", "replacement": "model-server"}
        ]
    scrape = load(MONITORING / "prometheus/prometheus.yml")["scrape_configs"]
    assert "model-server" in {job["job_name"] for job in scrape}


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} not installed (apt-get install prometheus prometheus-alertmanager)")
    return path


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, check=False, timeout=120
    )


def test_promtool_checks_config_and_rules_and_runs_unit_tests() -> None:
    promtool = _tool("promtool")
    for command in (
        ("check", "config", "monitoring/prometheus/prometheus.yml"),
        ("check", "rules", "monitoring/prometheus/rules/model_rules.yml"),
        ("test", "rules", "monitoring/prometheus/tests/model_rules_test.yml"),
    ):
        result = _run(promtool, *command)
        assert result.returncode == 0, result.stdout + result.stderr


def test_alertmanager_config_is_valid_and_routes_by_severity(tmp_path: Path) -> None:
    amtool = _tool("amtool")
    check = _run(amtool, "check-config", str(ALERTMANAGER))
    assert check.returncode == 0, check.stdout + check.stderr
    for severity, receiver in (("critical", "critical"), ("warning", "default")):
        route = _run(amtool, "config", "routes", "test", f"--config.file={ALERTMANAGER}",
                     f"--verify.receivers={receiver}", f"severity={severity}")  # fmt: skip
        assert route.returncode == 0, route.stdout + route.stderr
    rendered = tmp_path / "alertmanager.yml"
    assert render_alertmanager_config(ALERTMANAGER, rendered, "https://hooks.example.com/x") == 2
    check = _run(amtool, "check-config", str(rendered))
    assert check.returncode == 0, check.stdout + check.stderr


def test_alertmanager_webhook_comes_from_the_environment(tmp_path: Path) -> None:
    target = tmp_path / "alertmanager.yml"
    render_alertmanager_config(ALERTMANAGER, target, "https://hooks.example.com/alerts")
    config = load(target)
    urls = {hook["url"] for r in config["receivers"] for hook in r.get("webhook_configs", [])}
    assert urls == {"https://hooks.example.com/alerts"}
    assert config["route"] == load(ALERTMANAGER)["route"]
    with pytest.raises(UserError, match="ALERT_WEBHOOK_URL"):
        render_alertmanager_config(ALERTMANAGER, target, "not a url")
