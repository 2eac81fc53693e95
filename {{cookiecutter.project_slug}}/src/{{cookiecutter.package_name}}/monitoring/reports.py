"""The drift report's files: JSON, one self-contained HTML page (no scripts, no external
assets) and the Prometheus textfile the alert rules and dashboard read."""

from __future__ import annotations

import json
from html import escape
from pathlib import Path

from prometheus_client import CollectorRegistry, Gauge, write_to_textfile

from {{ cookiecutter.package_name }}.monitoring.drift import DriftReport

REPORT_JSON = "drift_report.json"
REPORT_HTML = "drift_report.html"
REPORT_PROM = "drift.prom"

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; }
table { border-collapse: collapse; margin-top: 1rem; }
th, td { border: 1px solid #ccc; padding: 0.3rem 0.6rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
tr.drift td { background: #fde2e2; }
.verdict { font-size: 1.2rem; font-weight: bold; }
.bad { color: #b00020; } .good { color: #1b5e20; }
"""


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.4g}"


def render_html(report: DriftReport) -> str:
    verdict = "DRIFT DETECTED" if report.dataset_drift else "no drift"
    css = "bad" if report.dataset_drift else "good"
    limits = report.thresholds
    rows = []
    for item in sorted(report.features, key=lambda f: -f.scores.get("psi", 0.0)):
        test = "ks" if item.kind == "numerical" else "chi2"
        rows.append(
            f'<tr class="{"drift" if item.drifted else ""}"><td>{escape(item.feature)}</td>'
            f"<td>{escape(item.kind)}</td><td>{_number(item.scores.get('psi'))}</td>"
            f"<td>{escape(test)} {_number(item.scores.get(test))}</td>"
            f"<td>{_number(item.p_value)}</td><td>{'yes' if item.drifted else 'no'}</td></tr>"
        )
    prediction = ", ".join(
        f"{escape(k)} = {_number(v)}" for k, v in sorted(report.prediction.items())
    )
    drifted, total = len(report.drifted_features), len(report.features)
    created = escape(report.created_at)
    predictions_state = "drifted" if report.prediction_drifted else "stable"
    header = "".join(
        f"<th>{name}</th>"
        for name in ("feature", "kind", "PSI", "test statistic", "p-value", "drifted")
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Drift report {created}</title>
<style>{STYLE}</style></head>
<body>
<h1>Drift report</h1>
<p class="verdict {css}">{verdict}: {drifted} of {total} features drifted
({report.drift_share * 100:.0f}%, threshold {limits.drift_share * 100:.0f}%);
predictions {predictions_state}.</p>
<p>Reference: {escape(report.reference)} ({report.reference_rows} rows).
Current: {escape(report.current)} ({report.current_rows} rows). Created {created}.</p>
<p>Thresholds: PSI &ge; {limits.psi}, KS alpha {limits.ks_alpha},
chi-square alpha {limits.chi2_alpha} (Bonferroni-corrected over the features).</p>
<h2>Predictions</h2>
<p>{prediction or "no prediction scores"}</p>
<h2>Features</h2>
<table>
<thead><tr>{header}</tr></thead>
<tbody>
{chr(10).join(rows)}
</tbody>
</table>
</body>
</html>
"""


def write_reports(report: DriftReport, directory: Path) -> dict[str, Path]:
    """Write the JSON report, the HTML report and the Prometheus textfile."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": directory / REPORT_JSON,
        "html": directory / REPORT_HTML,
        "prometheus": directory / REPORT_PROM,
    }
    paths["json"].write_text(json.dumps(report.to_dict(), indent=2) + "\n", encoding="utf-8")
    paths["html"].write_text(render_html(report), encoding="utf-8")
    write_to_textfile(str(paths["prometheus"]), drift_registry(report))
    return paths


def drift_registry(report: DriftReport) -> CollectorRegistry:
    """The report's scores as the gauges the alert rules and dashboard read."""
    registry = CollectorRegistry()
    features = Gauge(
        "model_feature_drift_score",
        "Per-feature drift score from the latest drift report.",
        ["feature", "method"],
        registry=registry,
    )
    prediction = Gauge(
        "model_prediction_drift_score",
        "Prediction drift score from the latest drift report.",
        ["method"],
        registry=registry,
    )
    for item in report.features:
        for method, score in item.scores.items():
            features.labels(item.feature, method).set(score)
    for method, score in report.prediction.items():
        prediction.labels(method).set(score)
    return registry
