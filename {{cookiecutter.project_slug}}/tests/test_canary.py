"""Canary analysis: the checks, the verdicts, the promotion, and Prometheus over HTTP."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlparse

import pytest

from {{ cookiecutter.package_name }}.errors import UserError
from {{ cookiecutter.package_name }}.monitoring import canary
from {{ cookiecutter.package_name }}.monitoring.canary import (
    CanaryAnalysis,
    CanaryOptions,
    Prometheus,
    analyse,
    bucket_counts,
    load_analysis,
    psi,
)
from {{ cookiecutter.package_name }}.settings import Settings

from factories import PROJECT_ROOT

STABLE, CANARY = "model-v1", "model-v2"
Series = list[tuple[dict[str, str], float]]


def series(values: dict[str, float], **labels: str) -> Series:
    return [({"model_version": version, **labels}, value) for version, value in values.items()]


def mixed(values: dict[str, dict[str, float]], label: str) -> Series:
    return [
        ({"model_version": version, label: key}, value)
        for version, counts in values.items()
        for key, value in counts.items()
    ]


def answers(**changes: Series) -> dict[str, Series]:
    """A healthy pair of classifiers, with `changes` over it (keys: the names below). The
    first key found in a query answers it, so the 5xx selector comes before all requests."""
    healthy = {
        "5xx": series({STABLE: 1, CANARY: 1}),
        "requests": series({STABLE: 1000, CANARY: 500}),
        "p99": series({STABLE: 0.004, CANARY: 0.0045}),
        "classes": mixed({STABLE: {"no": 600, "yes": 400}, CANARY: {"no": 290, "yes": 210}},
                         "predicted_class"),
        "confidence_sum": series({STABLE: 800, CANARY: 405}),
        "confidence_count": series({STABLE: 1000, CANARY: 500}),
        "correct": series({STABLE: 80, CANARY: 49}),
        "feedback": series({STABLE: 100, CANARY: 60}),
    }  # fmt: skip
    return healthy | changes


QUERY_KEYS = {  # recorded answer -> a fragment only its query contains
    "5xx": 'status=~"5.."',
    "p99": "histogram_quantile",
    "requests": "model_requests_total",
    "classes": "model_predictions_total",
    "values": "model_prediction_value_bucket",
    "confidence_sum": "model_prediction_confidence_sum",
    "confidence_count": "model_prediction_confidence_count",
    "correct": "model_feedback_correct_total",
    "absolute_error": "model_feedback_absolute_error_total",
    "feedback": "model_feedback_total",
}


def answer(recorded: dict[str, Series], query: str) -> Series:
    for name, fragment in QUERY_KEYS.items():
        if fragment in query:
            return recorded.get(name, [])
    raise AssertionError(f"unexpected query {query}")


class Recorded(Prometheus):
    """Prometheus answering from recorded series."""

    def __init__(self, recorded: dict[str, Series]) -> None:
        super().__init__("http://recorded.invalid")
        self.recorded = recorded

    def vector(self, query: str) -> Series:
        return answer(self.recorded, query)


def verdict_of(
    recorded: dict[str, Series], classification: bool = True
) -> tuple[str, dict[str, Any]]:
    verdict, rows = analyse(Recorded(recorded), CanaryAnalysis(), classification, STABLE, CANARY)
    return verdict, {row.name: row for row in rows}


def test_the_shipped_spec_is_valid_and_a_bad_key_is_one_line(tmp_path: Path) -> None:
    assert load_analysis(PROJECT_ROOT / "configs/canary_analysis.yaml") == CanaryAnalysis()
    wrong = tmp_path / "spec.yaml"
    wrong.write_text("window: 10m\nchecks:\n  max_psi: 0.2\n")
    with pytest.raises(UserError, match=r"invalid 'checks.max_psi': Extra inputs") as raised:
        load_analysis(wrong)
    assert "\n" not in str(raised.value)


def test_psi_is_zero_for_the_same_mix_and_grows_with_the_shift() -> None:
    assert psi({"a": 60, "b": 40}, {"a": 30, "b": 20}) == pytest.approx(0.0)
    small, large = (
        psi({"a": 60, "b": 40}, {"a": 55, "b": 45}),
        psi({"a": 60, "b": 40}, {"a": 5, "b": 95}),
    )
    assert 0 < small < 0.1 < large
    assert math.isnan(psi({}, {"a": 1}))
    assert bucket_counts({"+Inf": 10, "1": 2, "5": 7}) == {"1": 2, "5": 5, "+Inf": 3}


def test_a_healthy_canary_passes_every_check() -> None:
    verdict, rows = verdict_of(answers())
    assert verdict == "pass", rows
    assert {name: row.passed for name, row in rows.items()} == {
        "requests": True, "5xx rate": True, "p99 latency s": True, "prediction PSI": True,
        "mean confidence": True, "online accuracy": True,
    }  # fmt: skip


def test_a_canary_answering_200_with_garbage_fails_on_what_it_predicts() -> None:
    inverted = mixed({STABLE: {"no": 600, "yes": 400}, CANARY: {"no": 40, "yes": 460}},
                     "predicted_class")  # fmt: skip
    verdict, rows = verdict_of(
        answers(classes=inverted, confidence_sum=series({STABLE: 800, CANARY: 300}))
    )
    assert verdict == "fail"
    failed = sorted(name for name, row in rows.items() if row.passed is False)
    assert failed == ["mean confidence", "prediction PSI"]


def test_errors_latency_and_online_accuracy_each_fail_alone() -> None:
    for change, name in [
        ({"5xx": series({STABLE: 1, CANARY: 10})}, "5xx rate"),
        ({"p99": series({STABLE: 0.004, CANARY: 0.006})}, "p99 latency s"),
        ({"correct": series({STABLE: 80, CANARY: 40})}, "online accuracy"),
    ]:
        verdict, rows = verdict_of(answers(**change))
        assert verdict == "fail" and [n for n, r in rows.items() if r.passed is False] == [name]


def test_too_little_traffic_is_no_verdict_and_thin_feedback_is_not_judged() -> None:
    verdict, rows = verdict_of(answers(requests=series({STABLE: 1000, CANARY: 50})))
    assert verdict == "no verdict" and rows["requests"].passed is False
    verdict, rows = verdict_of(answers(feedback=series({STABLE: 100, CANARY: 10})))
    assert verdict == "pass" and rows["online accuracy"].passed is None
    verdict, rows = verdict_of(answers(p99=[]))  # no latency series yet: not judged
    assert verdict == "pass" and rows["p99 latency s"].passed is None


def test_regression_compares_the_value_histogram_and_mae() -> None:
    values = mixed({STABLE: {"1": 100, "5": 600, "+Inf": 1000},
                    CANARY: {"1": 50, "5": 300, "+Inf": 500}}, "le")  # fmt: skip
    recorded = answers(values=values, absolute_error=series({STABLE: 50, CANARY: 30}))
    verdict, rows = verdict_of(recorded, classification=False)
    assert verdict == "pass" and "mean confidence" not in rows
    assert rows["online MAE"].passed is True and rows["prediction PSI"].canary == pytest.approx(0)
    shifted = mixed({STABLE: {"1": 100, "5": 600, "+Inf": 1000},
                     CANARY: {"1": 400, "5": 450, "+Inf": 500}}, "le")  # fmt: skip
    verdict, rows = verdict_of(recorded | {"values": shifted}, classification=False)
    assert verdict == "fail" and rows["prediction PSI"].passed is False


def test_a_pass_promotes_only_when_asked_and_a_fail_never(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    settings = Settings(project_root=PROJECT_ROOT)
    promoted: list[bool] = []
    monkeypatch.setattr(
        canary, "registry_version", lambda alias, _: {"champion": STABLE}.get(alias, CANARY)
    )
    monkeypatch.setattr(canary, "promote", lambda _: promoted.append(True))
    spec = Path("configs/canary_analysis.yaml")
    for recorded, promote, code in [
        (answers(), False, 0),
        (answers(), True, 0),
        (answers(**{"5xx": series({STABLE: 1, CANARY: 50})}), True, 1),
        (answers(requests=series({STABLE: 1000, CANARY: 5})), True, 3),
    ]:
        monkeypatch.setattr(canary, "Prometheus", lambda _url, r=recorded: Recorded(r))
        done, report = canary.run(
            settings, CanaryOptions("http://p.invalid", spec, promote=promote)
        )
        assert done == code, report
    assert promoted == [True]  # the pass with --promote, never the fail or the no verdict
    with pytest.raises(UserError, match="--promote moves the challenger"):
        canary.run(
            settings, CanaryOptions("http://p.invalid", spec, canary="other-v9", promote=True)
        )


class FakePrometheus(BaseHTTPRequestHandler):
    """`/api/v1/query` answering from `recorded`, as Prometheus' HTTP API does."""

    recorded: ClassVar[dict[str, Series]] = {}

    def do_GET(self) -> None:
        query = parse_qs(urlparse(self.path).query)["query"][0]
        result = [{"metric": labels, "value": [0, str(value)]}
                  for labels, value in answer(self.recorded, query)]  # fmt: skip
        body = json.dumps({"status": "success", "data": {"resultType": "vector", "result": result}})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def prometheus() -> Iterator[str]:
    # A failing 5xx rate: the project's task (the user's data decides it) does not matter.
    FakePrometheus.recorded = answers(**{"5xx": series({STABLE: 1, CANARY: 50})})
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakePrometheus)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_cli_prints_the_table_and_exits_1_on_a_fail_over_http(prometheus: str) -> None:
    command = [sys.executable, "-m", "{{ cookiecutter.package_name }}", "canary-analysis"]
    command += ["--stable", STABLE, "--canary", CANARY, "--prometheus"]
    done = subprocess.run(
        [*command, prometheus], cwd=PROJECT_ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 1, done.stderr
    assert "| 5xx rate" in done.stdout and "FAIL" in done.stdout
    assert done.stdout.strip().endswith(f"canary {CANARY} vs stable {STABLE} over 10m: fail")
    gone = subprocess.run(
        [*command, "http://127.0.0.1:9"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert gone.returncode == 2
    assert gone.stderr.startswith("error: Prometheus at http://127.0.0.1:9 is not reachable")
    assert gone.stderr.count("\n") == 1
